//! The HTTP side: each JSON-RPC POST passed to Anvil, or held, delayed, answered with an
//! error or given a lagging head while a fault is in force.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use cowload_spec::scenario::faults::RpcErrorKind;
use serde_json::{json, Value};

use super::control::ProxyControl;
use super::jsonrpc::{answers_mut, calls_of, lag_block_number, rpc_error};
use super::lag;

/// The HTTP status an `rpc_errors` answer comes with, when it is not a JSON-RPC error.
pub(super) fn http_status(error: RpcErrorKind) -> Option<StatusCode> {
    error
        .http_status()
        .and_then(|code| StatusCode::from_u16(code).ok())
}

/// Where the engine's HTTP requests go, and the switches that may hold or answer them.
pub(super) struct Upstream {
    pub(super) control: Arc<ProxyControl>,
    pub(super) url: String,
    pub(super) client: reqwest::Client,
}

/// One JSON-RPC POST (single or batch), body in and body out; with a fault
/// in force, held (hang), delayed (latency), answered with an error instead
/// (errors), given a head that lags (stale head) or state from a node behind (state lag).
pub(super) async fn forward(State(upstream): State<Arc<Upstream>>, body: Bytes) -> Response {
    let control = &upstream.control;
    control.unhung().await;
    let Some(fault) = control.rpc() else {
        return pass_http(&upstream, body).await;
    };
    let Ok(mut request) = serde_json::from_slice::<Value>(&body) else {
        return pass_http(&upstream, body).await;
    };
    let mut body = body;
    let mut lagging = Vec::new();
    if let Some(behind) = fault.state_lag() {
        lagging = lag::lag_state(&upstream, &mut request, behind).await;
        body = Bytes::from(request.to_string());
    }
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
        .chain(
            lagging
                .into_iter()
                .map(|id| (id, RpcErrorKind::HeaderNotFound)),
        )
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

fn json_response(answer: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}

async fn pass_http(upstream: &Upstream, body: Bytes) -> Response {
    match send_http(upstream, body).await {
        Ok((status, bytes)) => {
            (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
        }
        Err(response) => response,
    }
}

/// Anvil's status and body for `body`, or the answer to give when Anvil is unreachable.
async fn send_http(upstream: &Upstream, body: Bytes) -> Result<(StatusCode, Bytes), Response> {
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
