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

use super::anvil::AnvilHttp;
use super::control::ProxyControl;
use super::jsonrpc::{answers_mut, calls_of, lag_block_number, rpc_error};
use super::lag;
use super::limits::{self, Limiter, Refusal};

/// The HTTP status an `rpc_errors` answer comes with, when it is not a JSON-RPC error.
pub(super) fn http_status(error: RpcErrorKind) -> Option<StatusCode> {
    error
        .http_status()
        .and_then(|code| StatusCode::from_u16(code).ok())
}

/// Where the engine's HTTP requests go, and the switches that may hold or answer them.
pub(super) struct Upstream {
    pub(super) control: Arc<ProxyControl>,
    pub(super) anvil: Arc<AnvilHttp>,
}

/// One JSON-RPC POST (single or batch), body in and body out. Held while a hang is in force;
/// then held to the provider limits in force (a rate refused whole, a log range too wide
/// refused call by call, an answer too large replaced); then, under a fault, delayed
/// (latency), answered with an error instead (errors), given a head that lags (stale head) or
/// state from a node behind (state lag).
pub(super) async fn forward(State(upstream): State<Arc<Upstream>>, body: Bytes) -> Response {
    let control = &upstream.control;
    control.unhung().await;
    let limiter = control.limits();
    let fault = control.rpc();
    if limiter.is_none() && fault.is_none() {
        return pass_http(&upstream, body, None).await;
    }
    let Ok(mut request) = serde_json::from_slice::<Value>(&body) else {
        return pass_http(&upstream, body, limiter.as_deref()).await;
    };
    // Calls answered by the proxy instead of Anvil: (id, answer).
    let mut instead: Vec<(Value, Value)> = Vec::new();
    if let Some(limiter) = &limiter {
        match limiter.check(&upstream.anvil, &request).await {
            Some(Refusal::Rate) => {
                control.limits_refused.fetch_add(1, Ordering::Relaxed);
                return rate_response(&request);
            }
            Some(Refusal::Range(wide)) => {
                control
                    .limits_refused
                    .fetch_add(wide.len() as u64, Ordering::Relaxed);
                instead.extend(
                    wide.iter()
                        .map(|(id, blocks)| (id.clone(), limiter.range_error(id, *blocks))),
                );
            }
            None => {}
        }
    }
    let mut body = body;
    let mut stale = Vec::new();
    let mut behind = 0;
    if let Some(fault) = &fault {
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
        if let Some(lag) = fault.state_lag() {
            let lagging = lag::lag_state(&upstream.anvil, &mut request, lag).await;
            body = Bytes::from(request.to_string());
            instead.extend(
                lagging
                    .into_iter()
                    .map(|id| (id.clone(), rpc_error(&id, RpcErrorKind::HeaderNotFound))),
            );
        }
        let errors: Vec<(Value, RpcErrorKind)> = calls
            .iter()
            .filter_map(|(method, id)| fault.error_for(method).map(|e| (id.clone(), e)))
            .collect();
        if let Some(status) = errors.iter().find_map(|(_, e)| http_status(*e)) {
            control.rpc_errors_sent.fetch_add(1, Ordering::Relaxed);
            return (status, "cowload fault: rpc_errors").into_response();
        }
        control
            .rpc_errors_sent
            .fetch_add(errors.len() as u64, Ordering::Relaxed);
        instead.extend(
            errors
                .iter()
                .map(|(id, error)| (id.clone(), rpc_error(id, *error))),
        );
        behind = fault.behind();
        if behind > 0 {
            stale = calls
                .iter()
                .filter(|(method, _)| method == "eth_blockNumber")
                .map(|(_, id)| id.clone())
                .collect();
        }
    }
    if let (false, Some((_, answer))) = (request.is_array(), instead.first()) {
        return json_response(answer);
    }
    if instead.is_empty() && stale.is_empty() {
        return pass_http(&upstream, body, limiter.as_deref()).await;
    }
    let (status, bytes) = match send_capped(&upstream, body, limiter.as_deref()).await {
        Ok(answer) => answer,
        Err(response) => return response,
    };
    let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes) else {
        return (status, bytes).into_response();
    };
    for item in answers_mut(&mut answer) {
        let id = item.get("id").cloned().unwrap_or(Value::Null);
        if let Some((_, given)) = instead.iter().find(|(i, _)| *i == id) {
            *item = given.clone();
        } else if stale.contains(&id) {
            lag_block_number(item, behind);
        }
    }
    json_response(&answer)
}

/// HTTP 429 with the rate refusal for the request's (first) id.
fn rate_response(request: &Value) -> Response {
    let id = calls_of(request)
        .first()
        .map_or(Value::Null, |(_, id)| id.clone());
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::CONTENT_TYPE, "application/json")],
        limits::rate_error(&id).to_string(),
    )
        .into_response()
}

fn json_response(answer: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}

async fn pass_http(upstream: &Upstream, body: Bytes, limiter: Option<&Limiter>) -> Response {
    match send_capped(upstream, body, limiter).await {
        Ok((status, bytes)) => {
            (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
        }
        Err(response) => response,
    }
}

/// [`send_http`], with an answer larger than the limit in force replaced by an error.
async fn send_capped(
    upstream: &Upstream,
    body: Bytes,
    limiter: Option<&Limiter>,
) -> Result<(StatusCode, Bytes), Response> {
    let request = limiter.map(|_| body.clone());
    let (status, bytes) = send_http(upstream, body).await?;
    let capped = limiter.zip(request).and_then(|(limiter, request)| {
        let request = serde_json::from_slice::<Value>(&request).ok()?;
        limiter.cap(&request, &bytes)
    });
    match capped {
        Some(error) => {
            upstream
                .control
                .limits_refused
                .fetch_add(1, Ordering::Relaxed);
            Ok((StatusCode::OK, Bytes::from(error.to_string())))
        }
        None => Ok((status, bytes)),
    }
}

/// Anvil's status and body for `body`, or the answer to give when Anvil is unreachable.
async fn send_http(upstream: &Upstream, body: Bytes) -> Result<(StatusCode, Bytes), Response> {
    let sent = upstream
        .anvil
        .client
        .post(&upstream.anvil.url)
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
