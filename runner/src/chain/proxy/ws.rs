//! The WebSocket side: one Anvil session per client, frames relayed both ways, with
//! `newHeads` held back for a stale head and `removed: true` logs sent after a reorg.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use cowload_spec::scenario::faults::RpcErrorKind;

use super::anvil::AnvilHttp;
use super::control::{ProxyControl, ReorgNotice, RpcFault};
use super::jsonrpc::{
    calls_of, is_new_heads, lag_block_number, log_matches, logs_filter, rpc_error,
};
use super::lag;
use super::limits::{self, Refusal};

/// Pause after a failed `accept` before the next one.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Accepts WebSocket clients until the proxy is dropped; each gets its own upstream session.
/// `anvil` is Anvil's HTTP side, which `state_lag` and the limits ask for the head.
pub(super) async fn accept(
    listener: TcpListener,
    upstream: String,
    anvil: Arc<AnvilHttp>,
    control: Arc<ProxyControl>,
) {
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
        let anvil = Arc::clone(&anvil);
        tokio::spawn(async move {
            control.ws_open.fetch_add(1, Ordering::SeqCst);
            ws_session(stream, upstream, anvil, Arc::clone(&control)).await;
            control.ws_open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Relays one client's frames to its own Anvil connection and back, until
/// either side closes or a fault cuts every session. RPC faults apply to the
/// client's requests as over HTTP; a stale head holds `newHeads` back.
async fn ws_session(
    stream: TcpStream,
    upstream: String,
    anvil_http: Arc<AnvilHttp>,
    control: Arc<ProxyControl>,
) {
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
                    if let Some(answer) = refused(&anvil_http, &control, &message).await {
                        if client_tx.send(Message::text(answer)).await.is_err() { break; }
                        continue;
                    }
                    let fault = control.rpc();
                    let message = match fault.as_deref().and_then(RpcFault::state_lag) {
                        Some(behind) => match lagged(&anvil_http, message, behind).await {
                            Ok(message) => message,
                            Err(answer) => {
                                control.rpc_errors_sent.fetch_add(1, Ordering::Relaxed);
                                if client_tx.send(Message::text(answer)).await.is_err() { break; }
                                continue;
                            }
                        },
                        None => message,
                    };
                    let sent = match heads.request(fault.as_deref(), &message) {
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
                    let message = capped(&control, message);
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

/// The answer to give the client instead of forwarding its request, when the provider limits
/// in force refuse it: over the rate, or a single `eth_getLogs` over too many blocks (in a
/// batch, such a call is forwarded as it is).
async fn refused(anvil: &AnvilHttp, control: &ProxyControl, message: &Message) -> Option<String> {
    let limiter = control.limits()?;
    let request = message_json(message)?;
    let answer = match limiter.check(anvil, &request).await? {
        Refusal::Rate => {
            let id = calls_of(&request)
                .first()
                .map_or(Value::Null, |(_, id)| id.clone());
            limits::rate_error(&id)
        }
        Refusal::Range(wide) if !request.is_array() => {
            let (id, blocks) = wide.first()?;
            limiter.range_error(id, *blocks)
        }
        Refusal::Range(_) => return None,
    };
    control.limits_refused.fetch_add(1, Ordering::Relaxed);
    Some(answer.to_string())
}

/// Anvil's `message`, or an error in its place when it answers a request and is larger than
/// the limits in force allow (notifications pass).
fn capped(control: &ProxyControl, message: Message) -> Message {
    let Some(limiter) = control.limits() else {
        return message;
    };
    let Some(text) = message_text(&message) else {
        return message;
    };
    let Some(answer) = serde_json::from_str::<Value>(text)
        .ok()
        .filter(|a| a.get("id").is_some())
    else {
        return message;
    };
    // The answer carries the request's id, all the error needs.
    match limiter.cap(&answer, text.as_bytes()) {
        Some(error) => {
            control.limits_refused.fetch_add(1, Ordering::Relaxed);
            Message::text(error.to_string())
        }
        None => message,
    }
}

/// Under `state_lag`, the client's request moved to the lagging node's head; `Err` with the
/// answer when it is a single call pinned to a block that node does not have. In a batch,
/// such a call is forwarded as it is (Anvil answers it).
async fn lagged(anvil: &AnvilHttp, message: Message, behind: u64) -> Result<Message, String> {
    let Some(mut request) = message_json(&message) else {
        return Ok(message);
    };
    let unknown = lag::lag_state(anvil, &mut request, behind).await;
    match (request.is_array(), unknown.first()) {
        (false, Some(id)) => Err(rpc_error(id, RpcErrorKind::HeaderNotFound).to_string()),
        _ => Ok(Message::text(request.to_string())),
    }
}

/// What to do with a client's frame.
pub(super) enum ToClient {
    /// Forward it to Anvil after this delay.
    Forward(Duration),
    /// Answer the client with this text instead.
    Answer(String),
}

/// What one WebSocket session must remember for a stale head: which request
/// ids ask for the block number or a `newHeads` subscription, which
/// subscriptions are `newHeads`, and the heads held back.
#[derive(Default)]
pub(super) struct Heads {
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
    pub(super) fn request(&mut self, fault: Option<&RpcFault>, message: &Message) -> ToClient {
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
    pub(super) fn answer(&mut self, message: Message, behind: u64) -> Vec<Message> {
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
    pub(super) fn after_reorg(&self, notice: &ReorgNotice, seen: &mut u64) -> Vec<Message> {
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

fn message_text(message: &Message) -> Option<&str> {
    match message {
        Message::Text(text) => Some(text.as_str()),
        Message::Binary(bytes) => std::str::from_utf8(bytes).ok(),
        _ => None,
    }
}

pub(super) fn message_json(message: &Message) -> Option<Value> {
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
