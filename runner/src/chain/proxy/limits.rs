//! A hosted provider's limits on the engine's requests (`chain.rpc_limits`, the `rpc_limits`
//! fault): the largest `eth_getLogs` block range, requests per second, the largest answer.
//!
//! In: each request (single or batch) before it is forwarded, each answer before it is sent
//! back. Out: the calls refused and why (a range too wide, a rate exceeded), and answers too
//! large replaced by an error, each in the shape providers use (JSON-RPC `-32005`; a refused
//! rate over HTTP is a 429).
//!
//! Why in the proxy: an engine meets these limits only in production, where a fixed page
//! size that worked on a local node exits during start-up sync or skips a range for good.

use std::num::NonZeroU32;

use cowload_spec::scenario::faults::RpcLimits;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::{json, Value};

use super::anvil::AnvilHttp;
use super::jsonrpc::calls_of;

/// The JSON-RPC code providers answer a limit with.
const LIMIT_EXCEEDED: i64 = -32005;

/// The limits in force, with the rate's token bucket.
pub(crate) struct Limiter {
    limits: RpcLimits,
    rate: Option<DefaultDirectRateLimiter>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("limits", &self.limits)
            .finish()
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Refusal {
    /// Over the rate: the whole request (HTTP 429).
    Rate,
    /// These calls asked `eth_getLogs` for too many blocks (id, blocks asked).
    Range(Vec<(Value, u64)>),
}

impl Limiter {
    /// The limiter of `limits` (a bucket of one second's requests, refilled evenly).
    pub(crate) fn new(limits: RpcLimits) -> Self {
        let rate = limits
            .requests_per_second
            .and_then(NonZeroU32::new)
            .map(|per_second| RateLimiter::direct(Quota::per_second(per_second)));
        Self { limits, rate }
    }

    /// What to refuse of `request`, if anything: the rate first (one token per request, as
    /// providers count a batch), then each `eth_getLogs` whose range is too wide.
    pub(super) async fn check(&self, anvil: &AnvilHttp, request: &Value) -> Option<Refusal> {
        if let Some(rate) = &self.rate {
            if rate.check().is_err() {
                return Some(Refusal::Rate);
            }
        }
        let max = self.limits.max_block_range?;
        let mut head = None;
        let mut wide = Vec::new();
        for (method, id) in calls_of(request) {
            if method != "eth_getLogs" {
                continue;
            }
            let Some(filter) = call_with(request, &id).and_then(|c| c.pointer("/params/0")) else {
                continue;
            };
            let blocks = match blocks_asked(filter, anvil, &mut head).await {
                Some(blocks) => blocks,
                None => continue,
            };
            if blocks > max {
                wide.push((id, blocks));
            }
        }
        (!wide.is_empty()).then_some(Refusal::Range(wide))
    }

    /// The error answer to a call `id` asking for `blocks` blocks.
    pub(super) fn range_error(&self, id: &Value, blocks: u64) -> Value {
        let max = self.limits.max_block_range.unwrap_or_default();
        error(
            id,
            &format!("query exceeds the block range limit: {blocks} blocks asked, at most {max}"),
        )
    }

    /// `answer` (Anvil's bytes for `request`), or an error in its place when it is larger than
    /// `max_response_bytes`: one per call of the request.
    pub(super) fn cap(&self, request: &Value, answer: &[u8]) -> Option<Value> {
        let max = self.limits.max_response_bytes?;
        let size = answer.len() as u64;
        if size <= max {
            return None;
        }
        let message = format!("response size exceeded: {size} bytes, at most {max}");
        let id = |call: &Value| call.get("id").cloned().unwrap_or(Value::Null);
        Some(match request {
            Value::Array(calls) => calls.iter().map(|c| error(&id(c), &message)).collect(),
            call => error(&id(call), &message),
        })
    }
}

/// The rate refusal's JSON-RPC error for `id` (the WebSocket form of HTTP 429).
pub(super) fn rate_error(id: &Value) -> Value {
    error(id, "429 Too Many Requests: rate limit exceeded")
}

fn error(id: &Value, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": LIMIT_EXCEEDED, "message": message}})
}

/// The call with `id` in `request`.
fn call_with<'a>(request: &'a Value, id: &Value) -> Option<&'a Value> {
    match request {
        Value::Array(calls) => calls.iter().find(|c| c.get("id") == Some(id)),
        call => Some(call),
    }
}

/// How many blocks a log filter spans (`latest`, `pending`, `safe`, `finalized` and a missing
/// bound are the head, asked of Anvil once per request); `None` when it cannot say.
async fn blocks_asked(filter: &Value, anvil: &AnvilHttp, head: &mut Option<u64>) -> Option<u64> {
    if filter.get("blockHash").is_some() {
        return Some(1);
    }
    let bound = |key: &str| {
        let text = filter
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("latest")
            .to_owned();
        text
    };
    let (from, to) = (bound("fromBlock"), bound("toBlock"));
    let number = |text: &str| -> Option<Option<u64>> {
        match text {
            "earliest" => Some(Some(0)),
            "latest" | "pending" | "safe" | "finalized" => Some(None),
            hex => u64::from_str_radix(hex.strip_prefix("0x")?, 16)
                .ok()
                .map(Some),
        }
    };
    let (from, to) = (number(&from)?, number(&to)?);
    if (from.is_none() || to.is_none()) && head.is_none() {
        *head = anvil.head().await;
    }
    let from = from.or(*head)?;
    let to = to.or(*head)?;
    Some(if to < from { 0 } else { to - from + 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream() -> AnvilHttp {
        AnvilHttp {
            // Nothing listens here: a filter that needs the head gets none.
            url: "http://127.0.0.1:9".to_owned(),
            client: reqwest::Client::new(),
        }
    }

    fn logs(id: u64, from: &str, to: &str) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "method": "eth_getLogs",
               "params": [{"fromBlock": from, "toBlock": to}]})
    }

    #[tokio::test]
    async fn a_log_query_over_the_range_is_refused_call_by_call() {
        let limiter = Limiter::new(RpcLimits {
            max_block_range: Some(2),
            ..RpcLimits::default()
        });
        let up = upstream();
        assert_eq!(limiter.check(&up, &logs(1, "0x10", "0x11")).await, None);
        assert_eq!(
            limiter.check(&up, &logs(1, "0x10", "0x14")).await,
            Some(Refusal::Range(vec![(json!(1), 5)]))
        );
        let batch = json!([logs(1, "0x10", "0x10"), logs(2, "0x1", "0x3"),
            {"jsonrpc": "2.0", "id": 3, "method": "eth_getLogs", "params": [{"blockHash": "0xab"}]}]);
        assert_eq!(
            limiter.check(&up, &batch).await,
            Some(Refusal::Range(vec![(json!(2), 3)]))
        );
        let answer = limiter.range_error(&json!(2), 3);
        assert_eq!(answer["error"]["code"], LIMIT_EXCEEDED);
        assert_eq!(answer["id"], 2);
    }

    #[tokio::test]
    async fn requests_beyond_the_rate_are_refused_whole() {
        let limiter = Limiter::new(RpcLimits {
            requests_per_second: Some(3),
            ..RpcLimits::default()
        });
        let up = upstream();
        let call = json!({"id": 1, "method": "eth_blockNumber"});
        let mut refused = 0;
        for _ in 0..10 {
            if limiter.check(&up, &call).await == Some(Refusal::Rate) {
                refused += 1;
            }
        }
        assert_eq!(refused, 7, "a burst of one second's worth passes");
        assert_eq!(rate_error(&json!(1))["error"]["code"], LIMIT_EXCEEDED);
    }

    #[test]
    fn an_answer_over_the_size_is_replaced_for_each_call() {
        let limiter = Limiter::new(RpcLimits {
            max_response_bytes: Some(10),
            ..RpcLimits::default()
        });
        let single = json!({"id": 7, "method": "eth_getLogs"});
        assert_eq!(limiter.cap(&single, b"[]"), None);
        let capped = limiter.cap(&single, &[b'x'; 11]).expect("over the size");
        assert_eq!(capped["id"], 7);
        assert_eq!(capped["error"]["code"], LIMIT_EXCEEDED);
        let batch = json!([{"id": 1, "method": "a"}, {"id": 2, "method": "b"}]);
        let capped = limiter.cap(&batch, &[b'x'; 11]).expect("over the size");
        assert_eq!(capped.as_array().map(Vec::len), Some(2));
    }
}
