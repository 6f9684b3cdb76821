//! `state_lag`: state reads answered by a node some blocks behind the one that delivered the
//! logs, as behind a load balancer whose nodes disagree.
//!
//! In: one JSON-RPC request (single or batch) and how many blocks the lagging node is behind.
//! Out: the request with every state read moved to that node's head, and the ids of the calls
//! it cannot answer: a call pinned to a block the lagging node does not have yet (by number or
//! by hash) is answered `-32000 header not found`, as a node asked for a block it lacks does.
//!
//! Why ask Anvil for the head on every lagged request: the engine reads a block the moment it
//! is mined, before the runner's own bookkeeping of that block, so only the node knows the head
//! the engine sees.

use serde_json::Value;

use super::anvil::{parse_quantity, AnvilHttp};

/// The state reads a lagging node answers from its own head, and where their block parameter
/// sits.
const STATE_READS: [(&str, usize); 6] = [
    ("eth_call", 1),
    ("eth_estimateGas", 1),
    ("eth_getBalance", 1),
    ("eth_getCode", 1),
    ("eth_getTransactionCount", 1),
    ("eth_getStorageAt", 2),
];

/// Moves every state read of `request` to the lagging node's head (`behind` blocks below
/// Anvil's); returns the ids of the calls pinned to a block that node does not have. A request
/// Anvil cannot be asked about is left as it is.
pub(super) async fn lag_state(anvil: &AnvilHttp, request: &mut Value, behind: u64) -> Vec<Value> {
    if !reads_state(request) {
        return Vec::new();
    }
    let Some(head) = anvil.head().await else {
        return Vec::new();
    };
    let lagged = head.saturating_sub(behind);
    let mut unknown = Vec::new();
    for call in calls_mut(request) {
        let Some(index) = block_param(call) else {
            continue;
        };
        match pinned_block(anvil, call, index).await {
            Pinned::Latest => set_block(call, index, lagged),
            Pinned::At(number) if number > lagged => {
                unknown.push(call.get("id").cloned().unwrap_or(Value::Null));
            }
            Pinned::At(_) | Pinned::Other => {}
        }
    }
    unknown
}

/// Whether any call of `request` is a state read.
fn reads_state(request: &Value) -> bool {
    match request {
        Value::Array(calls) => calls.iter().any(|c| block_param(c).is_some()),
        call => block_param(call).is_some(),
    }
}

/// The index of a state read's block parameter.
fn block_param(call: &Value) -> Option<usize> {
    let method = call.get("method")?.as_str()?;
    STATE_READS
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, index)| *index)
}

fn calls_mut(request: &mut Value) -> Vec<&mut Value> {
    match request {
        Value::Array(calls) => calls.iter_mut().collect(),
        call => vec![call],
    }
}

/// The block a state read asks for.
enum Pinned {
    /// The node's head: `latest`, `pending`, or no block given.
    Latest,
    /// A block by number, or by a hash Anvil knows.
    At(u64),
    /// `earliest`, `safe`, `finalized`, or a hash Anvil does not know.
    Other,
}

async fn pinned_block(anvil: &AnvilHttp, call: &Value, index: usize) -> Pinned {
    let tag = call.pointer(&format!("/params/{index}"));
    let text = match tag {
        None | Some(Value::Null) => return Pinned::Latest,
        Some(Value::String(text)) => text.as_str(),
        // EIP-1898: `{"blockNumber": …}` or `{"blockHash": …}`.
        Some(Value::Object(fields)) => match (fields.get("blockNumber"), fields.get("blockHash")) {
            (Some(Value::String(n)), _) => n.as_str(),
            (_, Some(Value::String(h))) => h.as_str(),
            _ => return Pinned::Other,
        },
        Some(_) => return Pinned::Other,
    };
    match text {
        "latest" | "pending" => Pinned::Latest,
        hash if hash.len() == 66 => match anvil.block_of_hash(hash).await {
            Some(number) => Pinned::At(number),
            None => Pinned::Other,
        },
        number => parse_quantity(number).map_or(Pinned::Other, Pinned::At),
    }
}

/// Replaces the block parameter of `call` by `number` (adding it when the call gave none).
fn set_block(call: &mut Value, index: usize, number: u64) {
    let Some(params) = call.get_mut("params").and_then(Value::as_array_mut) else {
        return;
    };
    let tag = Value::String(format!("{number:#x}"));
    if params.len() > index {
        params[index] = tag;
    } else if params.len() == index {
        params.push(tag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_reads_are_found_by_method_and_their_block_moved() {
        let mut call = json!({"id": 1, "method": "eth_call", "params": [{"to": "0x01"}, "latest"]});
        assert_eq!(block_param(&call), Some(1));
        set_block(&mut call, 1, 0x12);
        assert_eq!(call["params"][1], "0x12");
        let mut implicit = json!({"id": 2, "method": "eth_getCode", "params": ["0x01"]});
        set_block(&mut implicit, 1, 7);
        assert_eq!(implicit["params"], json!(["0x01", "0x7"]));
        let storage = json!({"method": "eth_getStorageAt", "params": ["0x01", "0x0", "latest"]});
        assert_eq!(block_param(&storage), Some(2));
        assert_eq!(block_param(&json!({"method": "eth_getLogs"})), None);
        assert!(reads_state(&json!([{"method": "eth_blockNumber"}, call])));
        assert!(!reads_state(&json!({"method": "eth_blockNumber"})));
        assert_eq!(parse_quantity("0x1f"), Some(31));
        assert_eq!(parse_quantity("31"), None);
    }
}
