//! A loopback relay between Anvil and the fork's RPC endpoint. Anvil is told to
//! fork `http://127.0.0.1:PORT/`, and the relay forwards each request body to
//! the real URL. So the URL (and the API key in it) never reaches Anvil: not
//! its command line, not its log, not its error messages. Failures are
//! answered as JSON-RPC errors whose text is redacted.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::json;

use super::upstream::Upstream;
use super::ChainError;

/// A running relay; dropping it stops it.
pub struct Relay {
    /// Where Anvil forks from: `http://127.0.0.1:PORT/`.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts relaying 127.0.0.1:0 to `upstream`.
pub async fn start(upstream: Upstream) -> Result<Relay, ChainError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(ChainError::Io)?;
    let port = listener.local_addr().map_err(ChainError::Io)?.port();
    let router = Router::new()
        .route("/", post(forward))
        .with_state(Arc::new(upstream));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!("fork relay stopped: {e}");
        }
    });
    Ok(Relay {
        url: format!("http://127.0.0.1:{port}/"),
        task,
    })
}

async fn forward(State(upstream): State<Arc<Upstream>>, body: Bytes) -> Response {
    match upstream.forward(body.to_vec()).await {
        Ok((status, bytes)) if (200..300).contains(&status) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Ok((status, bytes)) => {
            // Error pages sometimes echo the request URL back; never pass it on.
            let text = upstream.scrub(&String::from_utf8_lossy(&bytes));
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, text).into_response()
        }
        Err(reason) => {
            let message = format!("fork RPC {}: {reason}", upstream.shown);
            tracing::warn!("{message}");
            let answer = json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {"code": -32000, "message": message},
            });
            (StatusCode::BAD_GATEWAY, axum::Json(answer)).into_response()
        }
    }
}
