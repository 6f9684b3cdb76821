//! The engine's view of the chain: a loopback JSON-RPC (HTTP) and WebSocket
//! proxy in front of Anvil. `${RPC_HTTP_URL}` and `${RPC_WS_URL}` point here;
//! the runner's own load path talks to Anvil directly, so a fault injected for
//! the engine never slows or breaks the load.
//!
//! In: Anvil's HTTP and WebSocket URLs. Out: [`Proxy`] (two loopback URLs, one
//! per protocol, and a [`ProxyControl`] the fault timeline drives); dropping it
//! stops both listeners and every open session.
//!
//! Why a proxy of our own: faults an engine meets in production are JSON-RPC
//! shaped (a dropped subscription, an error answer, a lagging head), which a
//! TCP-level tool cannot produce. With no fault active it passes every request
//! and every frame through untouched (its added latency is in
//! docs/benchmarks.md).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::ChainError;

/// A running proxy; dropping it stops it.
pub struct Proxy {
    /// `http://127.0.0.1:PORT` for `${RPC_HTTP_URL}`.
    pub http_url: String,
    /// `ws://127.0.0.1:PORT` for `${RPC_WS_URL}`.
    pub ws_url: String,
    control: Arc<ProxyControl>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Sessions end with their listener's cut signal; aborting the accept
        // loops stops new ones.
        self.control.cut.send_modify(|generation| *generation += 1);
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Proxy {
    /// The handle the fault timeline uses to act on the engine's connections.
    pub fn control(&self) -> Arc<ProxyControl> {
        Arc::clone(&self.control)
    }
}

/// What a fault may do to the engine's connections, and what happened to them.
#[derive(Debug)]
pub struct ProxyControl {
    /// While set, a new WebSocket connection is closed before its handshake.
    refuse_ws: AtomicBool,
    /// Bumped to close every open WebSocket session at once.
    cut: watch::Sender<u64>,
    /// WebSocket sessions opened through the proxy.
    pub ws_opened: AtomicU64,
    /// WebSocket connections refused while a fault held them off.
    pub ws_refused: AtomicU64,
    /// WebSocket sessions open now.
    ws_open: AtomicU64,
}

impl ProxyControl {
    fn new() -> Self {
        Self {
            refuse_ws: AtomicBool::new(false),
            cut: watch::Sender::new(0),
            ws_opened: AtomicU64::new(0),
            ws_refused: AtomicU64::new(0),
            ws_open: AtomicU64::new(0),
        }
    }

    /// WebSocket sessions open now.
    pub fn open_sessions(&self) -> u64 {
        self.ws_open.load(Ordering::SeqCst)
    }

    /// WebSocket connections refused so far.
    pub fn refused(&self) -> u64 {
        self.ws_refused.load(Ordering::Relaxed)
    }

    /// Closes every open WebSocket and refuses new ones until [`Self::allow_ws`].
    pub fn drop_ws(&self) {
        self.refuse_ws.store(true, Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
    }

    /// Accepts WebSocket connections again.
    pub fn allow_ws(&self) {
        self.refuse_ws.store(false, Ordering::SeqCst);
    }
}

/// Starts both listeners on loopback, forwarding to Anvil at `anvil_http` and `anvil_ws`.
pub async fn start(anvil_http: &str, anvil_ws: &str) -> Result<Proxy, ChainError> {
    let control = Arc::new(ProxyControl::new());
    let http_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(ChainError::Io)?;
    let ws_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(ChainError::Io)?;
    let http_port = http_listener.local_addr().map_err(ChainError::Io)?.port();
    let ws_port = ws_listener.local_addr().map_err(ChainError::Io)?.port();
    let upstream = Arc::new(HttpUpstream {
        url: anvil_http.to_owned(),
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| ChainError::Unexpected(format!("proxy HTTP client: {e}")))?,
    });
    let router = Router::new().fallback(forward_http).with_state(upstream);
    let http_task = tokio::spawn(async move {
        if let Err(e) = axum::serve(http_listener, router).await {
            tracing::warn!("RPC proxy (HTTP) stopped: {e}");
        }
    });
    let ws_task = tokio::spawn(accept_ws(
        ws_listener,
        anvil_ws.to_owned(),
        Arc::clone(&control),
    ));
    Ok(Proxy {
        http_url: format!("http://127.0.0.1:{http_port}"),
        ws_url: format!("ws://127.0.0.1:{ws_port}"),
        control,
        tasks: vec![http_task, ws_task],
    })
}

struct HttpUpstream {
    url: String,
    client: reqwest::Client,
}

/// One JSON-RPC POST (single or batch), body in and body out.
async fn forward_http(State(upstream): State<Arc<HttpUpstream>>, body: Bytes) -> Response {
    let sent = upstream
        .client
        .post(&upstream.url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            response.bytes().await.map(|bytes| (status, bytes))
        }
        Err(e) => Err(e),
    };
    match answer {
        Ok((status, bytes)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            [(header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Err(e) => {
            let answer = serde_json::json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {"code": -32603, "message": format!("cowload proxy: anvil unreachable: {e}")},
            });
            (StatusCode::BAD_GATEWAY, axum::Json(answer)).into_response()
        }
    }
}

/// Accepts WebSocket clients until the proxy is dropped; each gets its own upstream session.
async fn accept_ws(listener: TcpListener, upstream: String, control: Arc<ProxyControl>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if control.refuse_ws.load(Ordering::SeqCst) {
            // Closing before the handshake: the client's connect fails, as
            // against a node that is down.
            control.ws_refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        control.ws_opened.fetch_add(1, Ordering::Relaxed);
        let cut = control.cut.subscribe();
        let control = Arc::clone(&control);
        let upstream = upstream.clone();
        tokio::spawn(async move {
            control.ws_open.fetch_add(1, Ordering::SeqCst);
            ws_session(stream, upstream, cut).await;
            control.ws_open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Relays one client's frames to its own Anvil connection and back, until
/// either side closes or a fault cuts every session.
async fn ws_session(stream: TcpStream, upstream: String, mut cut: watch::Receiver<u64>) {
    let Ok(client) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut client_tx, mut client_rx) = client.split();
    let anvil = match tokio_tungstenite::connect_async(upstream.as_str()).await {
        Ok((anvil, _)) => anvil,
        Err(e) => {
            tracing::warn!("RPC proxy: cannot open Anvil's WebSocket: {e}");
            let _ = client_tx
                .send(close(CloseCode::Error, "anvil unreachable"))
                .await;
            return;
        }
    };
    let (mut anvil_tx, mut anvil_rx) = anvil.split();
    cut.mark_unchanged();
    loop {
        tokio::select! {
            from_client = client_rx.next() => match from_client {
                Some(Ok(message)) if is_data(&message) => {
                    if anvil_tx.send(message).await.is_err() { break; }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {} // ping/pong: each side answers its own peer
            },
            from_anvil = anvil_rx.next() => match from_anvil {
                Some(Ok(message)) if is_data(&message) => {
                    if client_tx.send(message).await.is_err() { break; }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    let _ = client_tx.send(close(CloseCode::Away, "anvil closed")).await;
                    break;
                }
                Some(Ok(_)) => {}
            },
            _ = cut.changed() => {
                let _ = client_tx.send(close(CloseCode::Away, "cowload fault: ws_disconnect")).await;
                break;
            }
        }
    }
    let _ = anvil_tx.close().await;
    let _ = client_tx.close().await;
}

fn is_data(message: &Message) -> bool {
    matches!(message, Message::Text(_) | Message::Binary(_))
}

fn close(code: CloseCode, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
