//! JSON-RPC shapes the proxy reads and writes: the calls of a single or batch request,
//! error answers, a lagged block number, and `eth_subscribe` filters.

use cowload_spec::scenario::faults::RpcErrorKind;
use serde_json::{json, Value};

/// The JSON-RPC error object of an `rpc_errors` answer (also the WebSocket form of the HTTP
/// ones).
pub(super) fn error_object(error: RpcErrorKind) -> Value {
    let (code, message) = error.json_rpc_error();
    json!({"code": code, "message": message})
}

/// `(method, id)` of each call of a single or batch request.
pub(super) fn calls_of(request: &Value) -> Vec<(String, Value)> {
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
pub(super) fn answers_mut(answer: &mut Value) -> Vec<&mut Value> {
    match answer {
        Value::Array(items) => items.iter_mut().collect(),
        item => vec![item],
    }
}

pub(super) fn rpc_error(id: &Value, error: RpcErrorKind) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": error_object(error)})
}

/// An `eth_blockNumber` answer moved `behind` blocks back (not below 0).
pub(super) fn lag_block_number(answer: &mut Value, behind: u64) {
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

/// The filter of the `eth_subscribe` call with `id` in `request` when it asks
/// for `logs` (`{}` when it gives none).
pub(super) fn logs_filter(request: &Value, id: &Value) -> Option<Value> {
    let call = call_with_id(request, id)?;
    (call.pointer("/params/0").and_then(Value::as_str) == Some("logs")).then(|| {
        call.pointer("/params/1")
            .cloned()
            .unwrap_or_else(|| json!({}))
    })
}

/// Whether `log` passes a `logs` subscription's `filter`: its address among
/// the filter's, and each topic position null, equal, or one of a list.
pub(super) fn log_matches(filter: &Value, log: &Value) -> bool {
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
pub(super) fn is_new_heads(request: &Value, id: &Value) -> bool {
    call_with_id(request, id)
        .and_then(|c| c.pointer("/params/0"))
        .and_then(Value::as_str)
        == Some("newHeads")
}

/// The call with `id` in `request` (a single call, or one of a batch).
pub(super) fn call_with_id<'a>(request: &'a Value, id: &Value) -> Option<&'a Value> {
    match request {
        Value::Array(calls) => calls.iter().find(|c| c.get("id") == Some(id)),
        call => Some(call),
    }
}
