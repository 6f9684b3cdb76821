//! The chain side: one WebSocket provider per chain, the new-heads stream, and the RPCs the
//! modules make, each counted in `shepherd_chain_request_total`.
//!
//! In: a chain id and a `ws://` URL. Out: [`Rpc`] calls for the new-heads subscription, blocks
//! by number, logs and `eth_call`, and [`Head`], the block a handler works at. Which blocks are
//! handed to the engine, and when (reconnects, backfill, confirmations, reorgs), is
//! `follow.rs`'s business; this module only talks to the node.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use alloy::eips::BlockId;
use alloy::primitives::{Address, Bytes, B256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder, WsConnect};
use alloy::pubsub::Subscription;
use alloy::rpc::json_rpc::ErrorPayload;
use alloy::rpc::types::Header;
use alloy::rpc::types::{Filter, Log, TransactionRequest};
use alloy::transports::TransportError;
use anyhow::Context as _;

use crate::telemetry;

/// Consecutive failed (re)subscriptions after which the engine gives up (about five minutes of
/// backoff); a load test whose RPC is gone that long has failed anyway.
pub const MAX_SUBSCRIBE_FAILURES: u32 = 60;
/// Channel depth of the alloy subscription; heads are drained at once, so it never fills.
const SUBSCRIPTION_CHANNEL: usize = 1024;

/// A block header as the engine saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Block number.
    pub number: u64,
    /// Block hash: logs are fetched and calls are made at exactly this block.
    pub hash: B256,
    /// Block timestamp (seconds), for `PollTryAtEpoch`.
    pub timestamp: u64,
    /// When the engine could first know of the block: its header arrived, or (a block fetched
    /// because it was missed) the first later header arrived. The start of every latency
    /// sample of this block; see `follow.rs` for why.
    pub received_at: Instant,
    /// For a block the stream skipped (a disconnect, a restart): the head that revealed the
    /// gap. The blocks from this one up to it can be read together, by range.
    pub catch_up_to: Option<u64>,
}

/// A block header as the node gave it: what the follower needs to order blocks and check that
/// each one extends the last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRef {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// The hash of the block it extends.
    pub parent_hash: B256,
    /// Block timestamp (seconds).
    pub timestamp: u64,
}

impl BlockRef {
    /// The header's fields the follower uses.
    pub fn from_header(header: &Header) -> Self {
        Self {
            number: header.inner.number,
            hash: header.hash,
            parent_hash: header.inner.parent_hash,
            timestamp: header.inner.timestamp,
        }
    }
}

/// The answer to an `eth_call`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// The call returned.
    Success(Bytes),
    /// The call reverted with this data (possibly empty).
    Reverted(Bytes),
    /// The request failed for another reason (transport, node error).
    Failed(String),
}

/// RPC access for one chain. Cheap to clone; every clone shares the provider, which is replaced
/// when the WebSocket has to be re-established.
#[derive(Clone)]
pub struct Rpc {
    chain_id: u64,
    url: String,
    provider: Arc<RwLock<DynProvider>>,
    /// `eth_call` at the block's hash (off: at `latest`).
    pin_calls: bool,
}

impl Rpc {
    /// Connect to `url`, retrying with backoff (bounded) while the node is not up yet.
    pub async fn connect(chain_id: u64, url: &str) -> anyhow::Result<Self> {
        let mut attempt = 0u32;
        loop {
            match open(url).await {
                Ok(provider) => {
                    return Ok(Self {
                        chain_id,
                        url: url.to_owned(),
                        provider: Arc::new(RwLock::new(provider)),
                        pin_calls: true,
                    })
                }
                Err(err) if attempt < MAX_SUBSCRIBE_FAILURES => {
                    attempt += 1;
                    tracing::warn!(chain_id, %err, attempt, "cannot connect to the chain yet");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("connecting to chain {chain_id} at {url}"))
                }
            }
        }
    }

    /// `pin`: every `eth_call` at the hash of the block it is made for, so a node that has
    /// not got that block yet says so instead of answering from an older state; off: at
    /// `latest`, whatever block the answering node is at.
    pub fn pinning_calls(mut self, pin: bool) -> Self {
        self.pin_calls = pin;
        self
    }

    fn provider(&self) -> DynProvider {
        self.provider
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The chain id (metric label).
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Replace the WebSocket after its stream ended.
    pub async fn reopen(&self) -> anyhow::Result<()> {
        let fresh = open(&self.url).await?;
        *self.provider.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// `eth_getLogs` for one block hash, the given contracts and event signatures.
    pub async fn get_logs(
        &self,
        block: B256,
        addresses: Vec<Address>,
        topics: Vec<B256>,
    ) -> Result<Vec<Log>, TransportError> {
        let filter = Filter::new().at_block_hash(block);
        self.logs(filter.address(addresses).event_signature(topics))
            .await
    }

    /// `eth_getLogs` over blocks `from..=to`, the given contracts and event signatures.
    pub async fn get_logs_range(
        &self,
        (from, to): (u64, u64),
        addresses: Vec<Address>,
        topics: Vec<B256>,
    ) -> Result<Vec<Log>, TransportError> {
        let filter = Filter::new().from_block(from).to_block(to);
        self.logs(filter.address(addresses).event_signature(topics))
            .await
    }

    /// `eth_getLogs` of `filter`, counted.
    async fn logs(&self, filter: Filter) -> Result<Vec<Log>, TransportError> {
        let result = self.provider().get_logs(&filter).await;
        telemetry::chain_request(
            self.chain_id,
            "eth_getLogs",
            if result.is_ok() { "ok" } else { "err" },
        );
        result
    }

    /// `eth_call` of `data` on `to` for block `block` (at its hash, or at `latest` without
    /// `pin_calls`).
    pub async fn call(&self, to: Address, data: Bytes, block: B256) -> CallOutcome {
        let tx = TransactionRequest::default().to(to).input(data.into());
        let at = if self.pin_calls {
            BlockId::hash(block)
        } else {
            BlockId::latest()
        };
        let outcome = match self.provider().call(tx).block(at).await {
            Ok(bytes) => CallOutcome::Success(bytes),
            Err(err) => classify_call_error(&err),
        };
        let label = match outcome {
            CallOutcome::Success(_) => "ok",
            CallOutcome::Reverted(_) => "revert",
            CallOutcome::Failed(_) => "err",
        };
        telemetry::chain_request(self.chain_id, "eth_call", label);
        outcome
    }

    /// The canonical block at `number` now; an error when the node does not have it (yet).
    pub async fn block_by_number(&self, number: u64) -> anyhow::Result<BlockRef> {
        let result = self.provider().get_block_by_number(number.into()).await;
        telemetry::chain_request(
            self.chain_id,
            "eth_getBlockByNumber",
            if result.is_ok() { "ok" } else { "err" },
        );
        let block = result?.with_context(|| format!("block {number} not found"))?;
        Ok(BlockRef::from_header(&block.header))
    }

    /// The node's head number.
    pub async fn block_number(&self) -> anyhow::Result<u64> {
        let result = self.provider().get_block_number().await;
        telemetry::chain_request(
            self.chain_id,
            "eth_blockNumber",
            if result.is_ok() { "ok" } else { "err" },
        );
        Ok(result?)
    }

    /// Subscribe to new heads (counted as `eth_subscribe`).
    pub async fn subscribe_heads(&self) -> Result<Subscription<Header>, TransportError> {
        let subscribed = self
            .provider()
            .subscribe_blocks()
            .channel_size(SUBSCRIPTION_CHANNEL)
            .await;
        telemetry::chain_request(
            self.chain_id,
            "eth_subscribe",
            if subscribed.is_ok() { "ok" } else { "err" },
        );
        subscribed
    }
}

async fn open(url: &str) -> anyhow::Result<DynProvider> {
    let ws = WsConnect::new(url)
        .with_max_retries(3)
        .with_retry_interval(Duration::from_millis(500));
    let provider = ProviderBuilder::new().connect_ws(ws).await?;
    Ok(provider.erased())
}

/// Tell a revert (with or without data) from any other failed `eth_call`.
fn classify_call_error(err: &TransportError) -> CallOutcome {
    match err.as_error_resp() {
        Some(payload) => classify_error_payload(payload),
        None => CallOutcome::Failed(err.to_string()),
    }
}

/// Nodes answer a revert with an error whose message mentions "revert" and whose `data` holds
/// the revert bytes; an EOA owner makes the call revert with no data at all.
fn classify_error_payload(payload: &ErrorPayload) -> CallOutcome {
    if !payload.message.to_ascii_lowercase().contains("revert") {
        return CallOutcome::Failed(payload.to_string());
    }
    CallOutcome::Reverted(payload.as_revert_data().unwrap_or_default())
}

/// 100 ms, doubling, capped at 5 s.
pub fn backoff(attempt: u32) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << attempt.min(6));
    Duration::from_millis(ms.min(5_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(json: &str) -> ErrorPayload {
        serde_json::from_str(json).expect("valid error payload")
    }

    #[test]
    fn error_payloads_are_split_into_reverts_and_failures() {
        // (node answer, expected outcome)
        let cases = [
            (
                r#"{"code":3,"message":"execution reverted","data":"0xdeadbeef"}"#,
                CallOutcome::Reverted(Bytes::from(vec![0xde, 0xad, 0xbe, 0xef])),
            ),
            (
                r#"{"code":3,"message":"execution reverted","data":"0x"}"#,
                CallOutcome::Reverted(Bytes::new()),
            ),
            (
                r#"{"code":-32000,"message":"execution reverted"}"#,
                CallOutcome::Reverted(Bytes::new()),
            ),
            (
                r#"{"code":-32000,"message":"Execution Reverted: nope"}"#,
                CallOutcome::Reverted(Bytes::new()),
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(classify_error_payload(&payload(json)), expected, "{json}");
        }
        let failed =
            classify_error_payload(&payload(r#"{"code":-32602,"message":"unknown block"}"#));
        assert!(
            matches!(failed, CallOutcome::Failed(ref m) if m.contains("unknown block")),
            "{failed:?}"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(30), Duration::from_secs(5));
    }
}
