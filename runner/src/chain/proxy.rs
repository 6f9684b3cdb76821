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
//! docs/performance.md).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use cowload_spec::scenario::faults::RpcErrorKind;
use futures_util::{SinkExt, StreamExt};
use mock_orderbook::{Endpoint, LatencySampler};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
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
    /// The JSON-RPC fault in force, if any (errors, latency, a stale head).
    rpc: RwLock<Option<Arc<RpcFault>>>,
    /// While `true`, nothing is answered (requests and frames wait, sockets stay open).
    hang: watch::Sender<bool>,
    /// Bumped whenever `rpc` changes, so WebSocket sessions release held heads.
    rpc_changed: watch::Sender<u64>,
    /// Requests answered by a fault instead of Anvil, and requests delayed.
    pub rpc_errors_sent: AtomicU64,
    pub rpc_delayed: AtomicU64,
    /// A reorg in progress, and the logs the last one removed.
    reorg: watch::Sender<ReorgNotice>,
    /// `removed: true` log notifications sent to subscribers.
    pub removed_logs_sent: AtomicU64,
}

/// What WebSocket sessions learn of a reorg: while `holding`, what Anvil sends
/// waits; each finished reorg bumps `generation` with the logs it removed.
#[derive(Debug, Clone, Default)]
struct ReorgNotice {
    holding: bool,
    generation: u64,
    removed: Arc<Vec<Value>>,
}

/// A JSON-RPC fault the proxy applies to the engine's requests.
#[derive(Debug)]
pub enum RpcFault {
    /// A `fraction` of the requests for `methods` (every method when empty)
    /// is answered with `error` instead of being forwarded.
    Errors {
        methods: Vec<String>,
        fraction: f64,
        error: RpcErrorKind,
        rng: Box<Mutex<ChaCha8Rng>>,
    },
    /// Requests for `methods` (every method when empty) wait a drawn delay first.
    Latency {
        methods: Vec<String>,
        sampler: Box<LatencySampler>,
    },
    /// `eth_blockNumber` answers and `newHeads` notifications lag `behind` blocks.
    StaleHead { behind: u64 },
}

/// The HTTP status an `rpc_errors` answer comes with, when it is not a JSON-RPC error.
fn http_status(error: RpcErrorKind) -> Option<StatusCode> {
    error
        .http_status()
        .and_then(|code| StatusCode::from_u16(code).ok())
}

/// The JSON-RPC error object of an `rpc_errors` answer (also the WebSocket form of the HTTP
/// ones).
fn error_object(error: RpcErrorKind) -> Value {
    let (code, message) = error.json_rpc_error();
    json!({"code": code, "message": message})
}

impl RpcFault {
    fn applies_to(methods: &[String], method: &str) -> bool {
        methods.is_empty() || methods.iter().any(|m| m == method)
    }

    /// The error to answer a request for `method` with, when this fault draws one.
    fn error_for(&self, method: &str) -> Option<RpcErrorKind> {
        let RpcFault::Errors {
            methods,
            fraction,
            error,
            rng,
        } = self
        else {
            return None;
        };
        if !Self::applies_to(methods, method) {
            return None;
        }
        let mut rng = rng.lock().unwrap_or_else(|p| p.into_inner());
        (rng.random::<f64>() < *fraction).then_some(*error)
    }

    /// How long a request for `method` waits first.
    fn delay_for(&self, method: &str) -> Duration {
        match self {
            RpcFault::Latency { methods, sampler } if Self::applies_to(methods, method) => {
                sampler.draw(Endpoint::Get, Instant::now())
            }
            _ => Duration::ZERO,
        }
    }

    fn behind(&self) -> u64 {
        match self {
            RpcFault::StaleHead { behind } => *behind,
            _ => 0,
        }
    }
}

impl ProxyControl {
    fn new() -> Self {
        Self {
            refuse_ws: AtomicBool::new(false),
            cut: watch::Sender::new(0),
            ws_opened: AtomicU64::new(0),
            ws_refused: AtomicU64::new(0),
            ws_open: AtomicU64::new(0),
            rpc: RwLock::new(None),
            hang: watch::Sender::new(false),
            rpc_changed: watch::Sender::new(0),
            rpc_errors_sent: AtomicU64::new(0),
            rpc_delayed: AtomicU64::new(0),
            reorg: watch::Sender::new(ReorgNotice::default()),
            removed_logs_sent: AtomicU64::new(0),
        }
    }

    /// A reorg starts: what Anvil sends subscribers from now on waits until
    /// [`Self::reorged`], so the removed logs reach them first.
    pub fn hold_for_reorg(&self) {
        self.reorg.send_modify(|notice| notice.holding = true);
    }

    /// The reorg is done: every `logs` subscriber gets each of `removed` that
    /// its filter matches with `removed: true` (Anvil sends none), then what
    /// was held.
    pub fn reorged(&self, removed: Vec<Value>) {
        self.reorg.send_modify(|notice| {
            notice.holding = false;
            notice.generation += 1;
            notice.removed = Arc::new(removed);
        });
    }

    /// Puts `fault` in force (`None`: passes everything through again).
    pub fn set_rpc(&self, fault: Option<RpcFault>) {
        *self.rpc.write().unwrap_or_else(|p| p.into_inner()) = fault.map(Arc::new);
        self.rpc_changed.send_modify(|generation| *generation += 1);
    }

    /// Stops (`true`) or resumes (`false`) answering anything.
    pub fn set_hang(&self, hang: bool) {
        self.hang.send_replace(hang);
    }

    fn rpc(&self) -> Option<Arc<RpcFault>> {
        self.rpc.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Returns once no hang is in force.
    async fn unhung(&self) {
        if !*self.hang.borrow() {
            return;
        }
        let mut hang = self.hang.subscribe();
        let _ = hang.wait_for(|hung| !hung).await;
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
        control: Arc::clone(&control),
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
    control: Arc<ProxyControl>,
    url: String,
    client: reqwest::Client,
}

/// One JSON-RPC POST (single or batch), body in and body out; with a fault
/// in force, held (hang), delayed (latency), answered with an error instead
/// (errors) or given a head that lags (stale head).
async fn forward_http(State(upstream): State<Arc<HttpUpstream>>, body: Bytes) -> Response {
    let control = &upstream.control;
    control.unhung().await;
    let Some(fault) = control.rpc() else {
        return pass_http(&upstream, body).await;
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return pass_http(&upstream, body).await;
    };
    let calls = calls_of(&request);
    let delay = calls
        .iter()
        .map(|(method, _)| fault.delay_for(method))
        .max()
        .unwrap_or_default();
    if !delay.is_zero() {
        control.rpc_delayed.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(delay).await;
    }
    let errors: Vec<(Value, RpcErrorKind)> = calls
        .iter()
        .filter_map(|(method, id)| fault.error_for(method).map(|e| (id.clone(), e)))
        .collect();
    if let Some(status) = errors.iter().find_map(|(_, e)| http_status(*e)) {
        control.rpc_errors_sent.fetch_add(1, Ordering::Relaxed);
        return (status, "cowload fault: rpc_errors").into_response();
    }
    if !request.is_array() && !errors.is_empty() {
        control.rpc_errors_sent.fetch_add(1, Ordering::Relaxed);
        let (id, error) = &errors[0];
        return json_response(&rpc_error(id, *error));
    }
    let stale_ids: Vec<Value> = calls
        .iter()
        .filter(|(method, _)| method == "eth_blockNumber")
        .map(|(_, id)| id.clone())
        .collect();
    let behind = fault.behind();
    if errors.is_empty() && (behind == 0 || stale_ids.is_empty()) {
        return pass_http(&upstream, body).await;
    }
    let (status, bytes) = match send_http(&upstream, body).await {
        Ok(answer) => answer,
        Err(response) => return response,
    };
    let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes) else {
        return (status, bytes).into_response();
    };
    for item in answers_mut(&mut answer) {
        let id = item.get("id").cloned().unwrap_or(Value::Null);
        if let Some((_, error)) = errors.iter().find(|(e, _)| *e == id) {
            control.rpc_errors_sent.fetch_add(1, Ordering::Relaxed);
            *item = rpc_error(&id, *error);
        } else if stale_ids.contains(&id) {
            lag_block_number(item, behind);
        }
    }
    json_response(&answer)
}

/// `(method, id)` of each call of a single or batch request.
fn calls_of(request: &Value) -> Vec<(String, Value)> {
    let one = |call: &Value| {
        let method = call.get("method")?.as_str()?.to_owned();
        Some((method, call.get("id").cloned().unwrap_or(Value::Null)))
    };
    match request {
        Value::Array(calls) => calls.iter().filter_map(one).collect(),
        call => one(call).into_iter().collect(),
    }
}

/// Each answer object of a single or batch response.
fn answers_mut(answer: &mut Value) -> Vec<&mut Value> {
    match answer {
        Value::Array(items) => items.iter_mut().collect(),
        item => vec![item],
    }
}

fn rpc_error(id: &Value, error: RpcErrorKind) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": error_object(error)})
}

/// An `eth_blockNumber` answer moved `behind` blocks back (not below 0).
fn lag_block_number(answer: &mut Value, behind: u64) {
    let Some(result) = answer.get_mut("result") else {
        return;
    };
    let lagged = result
        .as_str()
        .and_then(|hex| u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok())
        .map(|n| format!("0x{:x}", n.saturating_sub(behind)));
    if let Some(lagged) = lagged {
        *result = Value::String(lagged);
    }
}

fn json_response(answer: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}

async fn pass_http(upstream: &HttpUpstream, body: Bytes) -> Response {
    match send_http(upstream, body).await {
        Ok((status, bytes)) => {
            (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
        }
        Err(response) => response,
    }
}

/// Anvil's status and body for `body`, or the answer to give when Anvil is unreachable.
async fn send_http(upstream: &HttpUpstream, body: Bytes) -> Result<(StatusCode, Bytes), Response> {
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
        Ok((status, bytes)) => Ok((
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            bytes,
        )),
        Err(e) => {
            let answer = json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {"code": -32603, "message": format!("cowload proxy: anvil unreachable: {e}")},
            });
            Err((StatusCode::BAD_GATEWAY, axum::Json(answer)).into_response())
        }
    }
}

/// Pause after a failed `accept` before the next one.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Accepts WebSocket clients until the proxy is dropped; each gets its own upstream session.
async fn accept_ws(listener: TcpListener, upstream: String, control: Arc<ProxyControl>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of
                // spinning on the same error.
                tracing::warn!("RPC proxy: accepting a WebSocket client failed: {e}");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
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
        let control = Arc::clone(&control);
        let upstream = upstream.clone();
        tokio::spawn(async move {
            control.ws_open.fetch_add(1, Ordering::SeqCst);
            ws_session(stream, upstream, Arc::clone(&control)).await;
            control.ws_open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Relays one client's frames to its own Anvil connection and back, until
/// either side closes or a fault cuts every session. RPC faults apply to the
/// client's requests as over HTTP; a stale head holds `newHeads` back.
async fn ws_session(stream: TcpStream, upstream: String, control: Arc<ProxyControl>) {
    let mut cut = control.cut.subscribe();
    let mut rpc_changed = control.rpc_changed.subscribe();
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
    let mut heads = Heads::default();
    let mut reorg = control.reorg.subscribe();
    let mut reorg_seen = reorg.borrow_and_update().generation;
    let mut reorg_held: Vec<Message> = Vec::new();
    cut.mark_unchanged();
    rpc_changed.mark_unchanged();
    loop {
        tokio::select! {
            from_client = client_rx.next() => match from_client {
                Some(Ok(message)) if is_data(&message) => {
                    control.unhung().await;
                    let sent = match heads.request(control.rpc().as_deref(), &message) {
                        ToClient::Forward(delay) => {
                            if !delay.is_zero() {
                                control.rpc_delayed.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(delay).await;
                            }
                            anvil_tx.send(message).await
                        }
                        ToClient::Answer(answer) => {
                            control.rpc_errors_sent.fetch_add(1, Ordering::Relaxed);
                            client_tx.send(Message::text(answer)).await
                        }
                    };
                    if sent.is_err() { break; }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {} // ping/pong: each side answers its own peer
            },
            from_anvil = anvil_rx.next() => match from_anvil {
                Some(Ok(message)) if is_data(&message) => {
                    control.unhung().await;
                    if reorg.borrow().holding {
                        reorg_held.push(message);
                        continue;
                    }
                    let behind = control.rpc().map_or(0, |f| f.behind());
                    let mut out = heads.after_reorg(&reorg.borrow_and_update(), &mut reorg_seen);
                    control.removed_logs_sent.fetch_add(out.len() as u64, Ordering::Relaxed);
                    out.extend(heads.answer(message, behind));
                    let mut failed = false;
                    for out in out {
                        failed |= client_tx.send(out).await.is_err();
                    }
                    if failed { break; }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    let _ = client_tx.send(close(CloseCode::Away, "anvil closed")).await;
                    break;
                }
                Some(Ok(_)) => {}
            },
            _ = rpc_changed.changed() => {
                // A stale head that ended releases the heads it held.
                if control.rpc().is_none_or(|f| f.behind() == 0) {
                    let mut failed = false;
                    for out in heads.held.drain(..) {
                        failed |= client_tx.send(out).await.is_err();
                    }
                    if failed { break; }
                }
            }
            _ = reorg.changed() => {
                let notice = reorg.borrow_and_update().clone();
                if notice.holding {
                    continue;
                }
                // The removed logs first, then what Anvil sent meanwhile.
                let mut out = heads.after_reorg(&notice, &mut reorg_seen);
                control.removed_logs_sent.fetch_add(out.len() as u64, Ordering::Relaxed);
                let behind = control.rpc().map_or(0, |f| f.behind());
                for message in reorg_held.drain(..) {
                    out.extend(heads.answer(message, behind));
                }
                let mut failed = false;
                for out in out {
                    failed |= client_tx.send(out).await.is_err();
                }
                if failed { break; }
            }
            _ = cut.changed() => {
                let _ = client_tx.send(close(CloseCode::Away, "cowload fault: ws_disconnect")).await;
                break;
            }
        }
    }
    let _ = anvil_tx.close().await;
    let _ = client_tx.close().await;
}

/// What to do with a client's frame.
enum ToClient {
    /// Forward it to Anvil after this delay.
    Forward(Duration),
    /// Answer the client with this text instead.
    Answer(String),
}

/// What one WebSocket session must remember for a stale head: which request
/// ids ask for the block number or a `newHeads` subscription, which
/// subscriptions are `newHeads`, and the heads held back.
#[derive(Default)]
struct Heads {
    block_number_ids: HashSet<String>,
    subscribe_ids: HashSet<String>,
    new_heads: HashSet<String>,
    held: VecDeque<Message>,
    /// Request id → filter of `logs` subscriptions not yet answered.
    log_subscribe_ids: HashMap<String, Value>,
    /// `logs` subscriptions (id as Anvil gave it) and their filters.
    logs: Vec<(Value, Value)>,
}

impl Heads {
    /// Notes what the client asks for and decides its fate under `fault`.
    fn request(&mut self, fault: Option<&RpcFault>, message: &Message) -> ToClient {
        // The pass-through path parses only subscriptions (to know `newHeads` later).
        if fault.is_none() && !message_text(message).is_some_and(|t| t.contains("eth_subscribe")) {
            return ToClient::Forward(Duration::ZERO);
        }
        let Some(request) = message_json(message) else {
            return ToClient::Forward(Duration::ZERO);
        };
        let calls = calls_of(&request);
        for (method, id) in &calls {
            match method.as_str() {
                "eth_blockNumber" => {
                    self.block_number_ids.insert(id.to_string());
                }
                "eth_subscribe" if is_new_heads(&request, id) => {
                    self.subscribe_ids.insert(id.to_string());
                }
                "eth_subscribe" => {
                    if let Some(filter) = logs_filter(&request, id) {
                        self.log_subscribe_ids.insert(id.to_string(), filter);
                    }
                }
                _ => {}
            }
        }
        let Some(fault) = fault else {
            return ToClient::Forward(Duration::ZERO);
        };
        if let (false, Some((method, id))) = (request.is_array(), calls.first()) {
            if let Some(error) = fault.error_for(method) {
                self.block_number_ids.remove(&id.to_string());
                self.subscribe_ids.remove(&id.to_string());
                self.log_subscribe_ids.remove(&id.to_string());
                return ToClient::Answer(rpc_error(id, error).to_string());
            }
        }
        let delay = calls
            .iter()
            .map(|(method, _)| fault.delay_for(method))
            .max()
            .unwrap_or_default();
        ToClient::Forward(delay)
    }

    /// The frames to send the client for Anvil's `message`, `behind` blocks stale.
    fn answer(&mut self, message: Message, behind: u64) -> Vec<Message> {
        let waiting = !(self.subscribe_ids.is_empty()
            && self.block_number_ids.is_empty()
            && self.log_subscribe_ids.is_empty());
        if behind == 0 && self.held.is_empty() && !waiting {
            // The pass-through path: nothing to note, nothing to hold.
            return vec![message];
        }
        let mut out: Vec<Message> = if behind == 0 {
            self.held.drain(..).collect()
        } else {
            Vec::new()
        };
        let Some(mut answer) = message_json(&message) else {
            out.push(message);
            return out;
        };
        let id = answer.get("id").map(Value::to_string);
        if let Some(id) = id.filter(|id| id != "null") {
            if self.subscribe_ids.remove(&id) {
                if let Some(sub) = answer.get("result") {
                    self.new_heads.insert(sub.to_string());
                }
            }
            if let Some(filter) = self.log_subscribe_ids.remove(&id) {
                if let Some(sub) = answer.get("result") {
                    self.logs.push((sub.clone(), filter));
                }
            }
            if self.block_number_ids.remove(&id) && behind > 0 {
                lag_block_number(&mut answer, behind);
                out.push(Message::text(answer.to_string()));
                return out;
            }
            out.push(message);
            return out;
        }
        let is_head = answer
            .pointer("/params/subscription")
            .is_some_and(|sub| self.new_heads.contains(&sub.to_string()));
        if is_head && behind > 0 {
            self.held.push_back(message);
            while self.held.len() as u64 > behind {
                out.extend(self.held.pop_front());
            }
            return out;
        }
        out.push(message);
        out
    }
}

impl Heads {
    /// Once per finished reorg (`notice.generation` past `seen`): the removed
    /// logs each `logs` subscription's filter matches, as notifications with
    /// `removed: true`.
    fn after_reorg(&self, notice: &ReorgNotice, seen: &mut u64) -> Vec<Message> {
        if notice.generation == *seen {
            return Vec::new();
        }
        *seen = notice.generation;
        let mut out = Vec::new();
        for (sub, filter) in &self.logs {
            for log in notice.removed.iter().filter(|log| log_matches(filter, log)) {
                let mut log = log.clone();
                log["removed"] = Value::Bool(true);
                let notification = json!({
                    "jsonrpc": "2.0",
                    "method": "eth_subscription",
                    "params": {"subscription": sub, "result": log},
                });
                out.push(Message::text(notification.to_string()));
            }
        }
        out
    }
}

/// The filter of the `eth_subscribe` call with `id` in `request` when it asks
/// for `logs` (`{}` when it gives none).
fn logs_filter(request: &Value, id: &Value) -> Option<Value> {
    let call = call_with_id(request, id)?;
    (call.pointer("/params/0").and_then(Value::as_str) == Some("logs")).then(|| {
        call.pointer("/params/1")
            .cloned()
            .unwrap_or_else(|| json!({}))
    })
}

/// Whether `log` passes a `logs` subscription's `filter`: its address among
/// the filter's, and each topic position null, equal, or one of a list.
fn log_matches(filter: &Value, log: &Value) -> bool {
    let same = |a: &Value, b: Option<&Value>| {
        a.as_str()
            .zip(b.and_then(Value::as_str))
            .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
    };
    let one_of = |wanted: &Value, got: Option<&Value>| match wanted {
        Value::Null => true,
        Value::Array(options) => options.is_empty() || options.iter().any(|o| same(o, got)),
        one => same(one, got),
    };
    let address_ok = filter
        .get("address")
        .is_none_or(|wanted| one_of(wanted, log.get("address")));
    let topics = log.get("topics").and_then(Value::as_array);
    let topics_ok = filter
        .get("topics")
        .and_then(Value::as_array)
        .is_none_or(|wanted| {
            wanted
                .iter()
                .enumerate()
                .all(|(i, w)| w.is_null() || one_of(w, topics.and_then(|t| t.get(i))))
        });
    address_ok && topics_ok
}

/// Whether the `eth_subscribe` call with `id` in `request` asks for `newHeads`.
fn is_new_heads(request: &Value, id: &Value) -> bool {
    call_with_id(request, id)
        .and_then(|c| c.pointer("/params/0"))
        .and_then(Value::as_str)
        == Some("newHeads")
}

/// The call with `id` in `request` (a single call, or one of a batch).
fn call_with_id<'a>(request: &'a Value, id: &Value) -> Option<&'a Value> {
    match request {
        Value::Array(calls) => calls.iter().find(|c| c.get("id") == Some(id)),
        call => Some(call),
    }
}

fn message_text(message: &Message) -> Option<&str> {
    match message {
        Message::Text(text) => Some(text.as_str()),
        Message::Binary(bytes) => std::str::from_utf8(bytes).ok(),
        _ => None,
    }
}

fn message_json(message: &Message) -> Option<Value> {
    match message {
        Message::Text(text) => serde_json::from_str(text.as_str()).ok(),
        Message::Binary(bytes) => serde_json::from_slice(bytes).ok(),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn text(value: Value) -> Message {
        Message::text(value.to_string())
    }

    fn errors(methods: &[&str], fraction: f64, error: RpcErrorKind) -> RpcFault {
        RpcFault::Errors {
            methods: methods.iter().map(|m| m.to_string()).collect(),
            fraction,
            error,
            rng: Box::new(Mutex::new(ChaCha8Rng::seed_from_u64(1))),
        }
    }

    #[test]
    fn errors_hit_only_their_methods_and_their_fraction() {
        let all = errors(&["eth_getLogs"], 1.0, RpcErrorKind::RangeTooLarge);
        assert_eq!(
            all.error_for("eth_getLogs"),
            Some(RpcErrorKind::RangeTooLarge)
        );
        assert_eq!(all.error_for("eth_call"), None);
        let none = errors(&[], 0.0, RpcErrorKind::LimitExceeded);
        assert_eq!(none.error_for("eth_call"), None);
        let half = errors(&[], 0.5, RpcErrorKind::HeaderNotFound);
        let hits = (0..1000)
            .filter(|_| half.error_for("eth_call").is_some())
            .count();
        assert!((400..600).contains(&hits), "{hits} of 1000");
        assert_eq!(
            rpc_error(&json!(7), RpcErrorKind::HeaderNotFound),
            json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32000, "message": "header not found"}})
        );
        assert_eq!(
            http_status(RpcErrorKind::Http503),
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
    }

    #[test]
    fn a_ws_request_hit_by_an_error_is_answered_by_the_proxy() {
        let fault = errors(&["eth_call"], 1.0, RpcErrorKind::LimitExceeded);
        let mut heads = Heads::default();
        let call = text(json!({"jsonrpc": "2.0", "id": 3, "method": "eth_call", "params": []}));
        let ToClient::Answer(answer) = heads.request(Some(&fault), &call) else {
            panic!("the proxy answers");
        };
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["id"], 3);
        assert_eq!(answer["error"]["code"], -32005);
        let other = text(json!({"jsonrpc": "2.0", "id": 4, "method": "eth_chainId"}));
        assert!(matches!(heads.request(Some(&fault), &other), ToClient::Forward(d) if d.is_zero()));
    }

    /// A stale head: the block number lags, and `newHeads` notifications are
    /// held back `behind` blocks, then released when the fault ends.
    #[test]
    fn log_subscribers_get_the_removed_logs_their_filters_match_once_per_reorg() {
        let mut heads = Heads::default();
        let ethflow = "0x40a50cf069e992aa4536211b23f286ef88752187";
        let subscribe = |id: u64, filter: Value| {
            text(
                json!({"jsonrpc": "2.0", "id": id, "method": "eth_subscribe", "params": ["logs", filter]}),
            )
        };
        // One filter on the EthFlow contract and a topic, one on another address, one on nothing.
        let topic = "0xcf5f9de2984132265203b5c335b25727702ca77262ff622e136baa7362bf1da9";
        heads.request(
            None,
            &subscribe(1, json!({"address": [ethflow], "topics": [[topic]]})),
        );
        heads.request(
            None,
            &subscribe(
                2,
                json!({"address": "0x0000000000000000000000000000000000000001"}),
            ),
        );
        heads.request(
            None,
            &text(
                json!({"jsonrpc": "2.0", "id": 3, "method": "eth_subscribe", "params": ["logs"]}),
            ),
        );
        for (id, sub) in [(1, "0xa1"), (2, "0xa2"), (3, "0xa3")] {
            let answer = heads.answer(text(json!({"jsonrpc": "2.0", "id": id, "result": sub})), 0);
            assert_eq!(answer.len(), 1, "the answer itself goes through");
        }
        let log = |address: &str, topic: &str| json!({"address": address, "topics": [topic], "blockNumber": "0xf", "removed": false});
        let removed = vec![
            log(&ethflow.to_uppercase().replace("0X", "0x"), topic),
            log("0x2222222222222222222222222222222222222222", topic),
        ];
        let notice = ReorgNotice {
            holding: false,
            generation: 1,
            removed: Arc::new(removed),
        };
        let mut seen = 0;
        let sent: Vec<(Value, Value)> = heads
            .after_reorg(&notice, &mut seen)
            .iter()
            .map(|m| {
                let v = message_json(m).unwrap();
                (
                    v["params"]["subscription"].clone(),
                    v["params"]["result"].clone(),
                )
            })
            .collect();
        let subs: Vec<&Value> = sent.iter().map(|(sub, _)| sub).collect();
        assert_eq!(subs, [&json!("0xa1"), &json!("0xa3"), &json!("0xa3")]);
        assert!(sent.iter().all(|(_, log)| log["removed"] == json!(true)));
        // The same reorg is announced once.
        assert!(heads.after_reorg(&notice, &mut seen).is_empty());
    }

    #[test]
    fn a_stale_head_lags_the_block_number_and_holds_new_heads_back() {
        let mut heads = Heads::default();
        let subscribe =
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]});
        heads.request(None, &text(subscribe));
        assert_eq!(
            heads
                .answer(
                    text(json!({"jsonrpc": "2.0", "id": 1, "result": "0xab"})),
                    2
                )
                .len(),
            1
        );
        let stale = RpcFault::StaleHead { behind: 2 };
        heads.request(
            Some(&stale),
            &text(json!({"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber"})),
        );
        let number = heads.answer(
            text(json!({"jsonrpc": "2.0", "id": 2, "result": "0x10"})),
            2,
        );
        assert_eq!(message_json(&number[0]).unwrap()["result"], "0xe");
        let head = |n: u64| {
            text(json!({"jsonrpc": "2.0", "method": "eth_subscription",
                "params": {"subscription": "0xab", "result": {"number": format!("0x{n:x}")}}}))
        };
        assert!(heads.answer(head(17), 2).is_empty());
        assert!(heads.answer(head(18), 2).is_empty());
        let released = heads.answer(head(19), 2);
        assert_eq!(
            message_json(&released[0]).unwrap()["params"]["result"]["number"],
            "0x11"
        );
        // Fault over: the held heads come first, then the new one.
        let caught_up = heads.answer(head(20), 0);
        let numbers: Vec<Value> = caught_up
            .iter()
            .map(|m| message_json(m).unwrap()["params"]["result"]["number"].clone())
            .collect();
        assert_eq!(numbers, [json!("0x12"), json!("0x13"), json!("0x14")]);
    }
}
