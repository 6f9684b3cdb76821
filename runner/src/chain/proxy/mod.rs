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

mod anvil;
mod control;
mod http;
mod jsonrpc;
mod lag;
mod limits;
mod ws;

use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use super::ChainError;
pub use control::{ProxyControl, RpcFault};

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
    let anvil = Arc::new(anvil::AnvilHttp {
        url: anvil_http.to_owned(),
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| ChainError::Unexpected(format!("proxy HTTP client: {e}")))?,
    });
    let upstream = Arc::new(http::Upstream {
        control: Arc::clone(&control),
        anvil: Arc::clone(&anvil),
    });
    let router = Router::new()
        .fallback(http::forward)
        .with_state(Arc::clone(&upstream));
    let http_task = tokio::spawn(async move {
        if let Err(e) = axum::serve(http_listener, router).await {
            tracing::warn!("RPC proxy (HTTP) stopped: {e}");
        }
    });
    let ws_task = tokio::spawn(ws::accept(
        ws_listener,
        anvil_ws.to_owned(),
        anvil,
        Arc::clone(&control),
    ));
    Ok(Proxy {
        http_url: format!("http://127.0.0.1:{http_port}"),
        ws_url: format!("ws://127.0.0.1:{ws_port}"),
        control,
        tasks: vec![http_task, ws_task],
    })
}

#[cfg(test)]
mod tests;
