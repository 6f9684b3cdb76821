//! The chain side: one WebSocket provider per chain, the new-heads stream, and the RPCs the
//! modules make, each counted in `shepherd_chain_request_total`.
//!
//! In: a chain id and a `ws://` URL. Out: [`Head`]s stamped with the instant the engine
//! received them (the start of every event's latency), pushed into a channel in block order,
//! plus [`Rpc`] calls for logs and `eth_call`. The subscription is re-established with backoff
//! when its stream ends (counted in `shepherd_stream_reconnects_total{kind="block"}`), and
//! blocks missed while it was down are fetched by number so no block's events are lost.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use alloy::eips::BlockId;
use alloy::primitives::{Address, Bytes, B256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder, WsConnect};
use alloy::rpc::json_rpc::ErrorPayload;
use alloy::rpc::types::{Filter, Log, TransactionRequest};
use alloy::transports::TransportError;
use anyhow::Context as _;
use tokio::sync::mpsc::UnboundedSender;

use crate::telemetry::{self, STREAM_KIND_BLOCK, STREAM_RECONNECTS};

/// Consecutive failed (re)subscriptions after which the engine gives up (about five minutes of
/// backoff); a load test whose RPC is gone that long has failed anyway.
const MAX_SUBSCRIBE_FAILURES: u32 = 60;
/// Largest gap of missed blocks that is fetched by number after a reconnect.
const MAX_BACKFILL: u64 = 256;
/// Channel depth of the alloy subscription; heads are drained at once, so it never fills.
const SUBSCRIPTION_CHANNEL: usize = 1024;

/// A block header as the engine saw it.
#[derive(Clone, Copy, Debug)]
pub struct Head {
    /// Block number.
    pub number: u64,
    /// Block hash: logs are fetched and calls are made at exactly this block.
    pub hash: B256,
    /// Block timestamp (seconds), for `PollTryAtEpoch`.
    pub timestamp: u64,
    /// When the engine received the header: the start of every latency sample of this block.
    pub received_at: Instant,
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

    fn provider(&self) -> DynProvider {
        self.provider
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn reopen(&self) -> anyhow::Result<()> {
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
        let filter = Filter::new()
            .at_block_hash(block)
            .address(addresses)
            .event_signature(topics);
        let result = self.provider().get_logs(&filter).await;
        telemetry::chain_request(
            self.chain_id,
            "eth_getLogs",
            if result.is_ok() { "ok" } else { "err" },
        );
        result
    }

    /// `eth_call` of `data` on `to` at block `block`.
    pub async fn call(&self, to: Address, data: Bytes, block: B256) -> CallOutcome {
        let tx = TransactionRequest::default().to(to).input(data.into());
        let outcome = match self.provider().call(tx).block(BlockId::hash(block)).await {
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

    async fn head_by_number(&self, number: u64) -> anyhow::Result<Head> {
        let result = self.provider().get_block_by_number(number.into()).await;
        telemetry::chain_request(
            self.chain_id,
            "eth_getBlockByNumber",
            if result.is_ok() { "ok" } else { "err" },
        );
        let block = result?.with_context(|| format!("block {number} not found"))?;
        Ok(Head {
            number,
            hash: block.header.hash,
            timestamp: block.header.inner.timestamp,
            received_at: Instant::now(),
        })
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

/// Follow new heads forever, sending each (and any missed ones) to `tx` in block order.
/// Returns only when the receiver is gone (`Ok`) or subscribing kept failing (`Err`).
pub async fn follow_heads(rpc: Rpc, tx: UnboundedSender<Head>) -> anyhow::Result<()> {
    let chain = rpc.chain_id.to_string();
    let mut last: Option<u64> = None;
    let mut failures = 0u32;
    loop {
        match subscribe_and_forward(&rpc, &tx, &mut last, &mut failures).await {
            Forwarded::ReceiverGone => return Ok(()),
            Forwarded::StreamEnded(why) => {
                failures += 1;
                metrics::counter!(STREAM_RECONNECTS, "kind" => STREAM_KIND_BLOCK, "chain_id" => chain.clone())
                    .increment(1);
                if failures > MAX_SUBSCRIBE_FAILURES {
                    anyhow::bail!("new-heads subscription on chain {chain} failed {failures} times in a row: {why}");
                }
                tracing::warn!(chain_id = rpc.chain_id, failures, %why, "new-heads stream ended; reconnecting");
                tokio::time::sleep(backoff(failures)).await;
                if let Err(err) = rpc.reopen().await {
                    tracing::warn!(chain_id = rpc.chain_id, %err, "reopening the WebSocket failed");
                }
            }
        }
    }
}

enum Forwarded {
    ReceiverGone,
    StreamEnded(String),
}

async fn subscribe_and_forward(
    rpc: &Rpc,
    tx: &UnboundedSender<Head>,
    last: &mut Option<u64>,
    failures: &mut u32,
) -> Forwarded {
    let provider = rpc.provider();
    let subscribed = provider
        .subscribe_blocks()
        .channel_size(SUBSCRIPTION_CHANNEL)
        .await;
    telemetry::chain_request(
        rpc.chain_id,
        "eth_subscribe",
        if subscribed.is_ok() { "ok" } else { "err" },
    );
    let mut sub = match subscribed {
        Ok(sub) => sub,
        Err(err) => return Forwarded::StreamEnded(err.to_string()),
    };
    tracing::info!(chain_id = rpc.chain_id, "subscribed to new heads");
    loop {
        let header = match sub.recv().await {
            Ok(header) => header,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    chain_id = rpc.chain_id,
                    missed = n,
                    "head subscription lagged; backfilling"
                );
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                return Forwarded::StreamEnded("subscription closed".to_owned())
            }
        };
        *failures = 0;
        let head = Head {
            number: header.inner.number,
            hash: header.hash,
            timestamp: header.inner.timestamp,
            received_at: Instant::now(),
        };
        if !backfill(rpc, tx, *last, head.number).await || tx.send(head).is_err() {
            return Forwarded::ReceiverGone;
        }
        *last = Some(last.map_or(head.number, |l| l.max(head.number)));
    }
}

/// Send the heads between `last` and `next` (exclusive) that the subscription skipped.
/// Returns false when the receiver is gone.
async fn backfill(rpc: &Rpc, tx: &UnboundedSender<Head>, last: Option<u64>, next: u64) -> bool {
    let Some(last) = last else { return true };
    let missing = next.saturating_sub(last + 1);
    if missing == 0 {
        return true;
    }
    if missing > MAX_BACKFILL {
        tracing::error!(
            chain_id = rpc.chain_id,
            missing,
            "too many missed blocks to backfill; skipping them"
        );
        return true;
    }
    for number in last + 1..next {
        match rpc.head_by_number(number).await {
            Ok(head) => {
                if tx.send(head).is_err() {
                    return false;
                }
            }
            Err(err) => {
                tracing::error!(chain_id = rpc.chain_id, number, %err, "cannot backfill block")
            }
        }
    }
    true
}

/// 100 ms, doubling, capped at 5 s.
fn backoff(attempt: u32) -> Duration {
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
