//! The proxy's own questions to Anvil, over HTTP: its head and the number of a block by hash,
//! for the faults and limits that depend on where the chain is (`state_lag`, a log range
//! ending at `latest`).

use serde_json::{json, Value};

/// Anvil's HTTP JSON-RPC, as the proxy forwards to it and asks it.
pub(super) struct AnvilHttp {
    pub(super) url: String,
    pub(super) client: reqwest::Client,
}

impl AnvilHttp {
    /// Anvil's head.
    pub(super) async fn head(&self) -> Option<u64> {
        let answer = self.ask("eth_blockNumber", json!([])).await?;
        parse_quantity(answer.as_str()?)
    }

    /// The number of the block with `hash`, when Anvil has it.
    pub(super) async fn block_of_hash(&self, hash: &str) -> Option<u64> {
        let block = self.ask("eth_getBlockByHash", json!([hash, false])).await?;
        parse_quantity(block.get("number")?.as_str()?)
    }

    /// One call; its `result`, when there is one.
    async fn ask(&self, method: &str, params: Value) -> Option<Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let answer: Value = self
            .client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        answer.get("result").cloned().filter(|r| !r.is_null())
    }
}

/// A JSON-RPC quantity (`0x1f`).
pub(super) fn parse_quantity(text: &str) -> Option<u64> {
    u64::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}
