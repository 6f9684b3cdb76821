//! The fork's RPC endpoint, spoken to directly: the pre-flight questions asked
//! before Anvil starts (chain id, the block to pin), and the requests the relay
//! forwards. The URL may carry an API key, so it is kept here and every error
//! leaving this module shows it redacted.

use std::time::Duration;

use alloy::primitives::{Bytes, B256, U256};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::ChainError;
use cowload_spec::redact;

/// How long connecting to the fork's endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A JSON-RPC endpoint that may hold a secret in its URL.
#[derive(Clone)]
pub struct Upstream {
    client: reqwest::Client,
    url: String,
    /// The URL as it may be shown: `scheme://host/…`.
    pub shown: String,
}

/// A block of the fork: the one the chain is pinned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    pub number: u64,
    pub timestamp: u64,
    pub hash: B256,
}

impl Upstream {
    /// An endpoint whose every request (connect included) ends within `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, ChainError> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .build()
            .map_err(|e| ChainError::Unexpected(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self {
            client,
            url: url.to_owned(),
            shown: redact::url(url),
        })
    }

    /// Sends `body` as is and returns the status and body of the answer; the
    /// error text never holds the URL.
    pub async fn forward(&self, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| self.describe(e))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| self.describe(e))?;
        Ok((status, bytes.to_vec()))
    }

    /// One JSON-RPC call; a transport failure, an HTTP error status, a body
    /// that is not JSON-RPC and an error answer each get their own message.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        params: Value,
    ) -> Result<T, ChainError> {
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let body = serde_json::to_vec(&request).expect("a JSON value serialises");
        let (status, bytes) =
            self.forward(body)
                .await
                .map_err(|reason| ChainError::ForkUnreachable {
                    url: self.shown.clone(),
                    reason,
                })?;
        let bad = |reason: String| ChainError::ForkBadAnswer {
            url: self.shown.clone(),
            method: method.to_owned(),
            reason: redact::scrub(&reason, &self.url),
        };
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&bytes);
            return Err(bad(format!(
                "HTTP {status}{}{}",
                if text.trim().is_empty() { "" } else { ": " },
                text.chars().take(200).collect::<String>()
            )));
        }
        let answer: Value = serde_json::from_slice(&bytes).map_err(|e| {
            bad(format!(
                "the answer is not JSON ({e}); is this a JSON-RPC URL?"
            ))
        })?;
        if let Some(error) = answer.get("error") {
            return Err(bad(format!("error answer {error}")));
        }
        let result = answer
            .get("result")
            .cloned()
            .ok_or_else(|| bad("the answer has no result; is this a JSON-RPC URL?".into()))?;
        serde_json::from_value(result).map_err(|e| bad(format!("unexpected result: {e}")))
    }

    /// `eth_chainId`.
    pub async fn chain_id(&self) -> Result<u64, ChainError> {
        let id: U256 = self.call("eth_chainId", json!([])).await?;
        u64::try_from(id).map_err(|_| ChainError::ForkBadAnswer {
            url: self.shown.clone(),
            method: "eth_chainId".into(),
            reason: format!("chain id {id} does not fit 64 bits"),
        })
    }

    /// Block `number`, or the latest block when `None`. A block past the
    /// chain's head is an error naming the head.
    pub async fn block(&self, number: Option<u64>) -> Result<BlockInfo, ChainError> {
        let tag = match number {
            Some(n) => json!(format!("0x{n:x}")),
            None => json!("latest"),
        };
        let block: Option<Value> = self
            .call("eth_getBlockByNumber", json!([tag, false]))
            .await?;
        let Some(block) = block else {
            let head: U256 = self.call("eth_blockNumber", json!([])).await?;
            return Err(ChainError::ForkBlockAhead {
                url: self.shown.clone(),
                block: number.unwrap_or_default(),
                head: head.saturating_to(),
            });
        };
        let field = |name: &str| -> Result<U256, ChainError> {
            block
                .get(name)
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .ok_or_else(|| ChainError::ForkBadAnswer {
                    url: self.shown.clone(),
                    method: "eth_getBlockByNumber".into(),
                    reason: format!("the block has no {name}"),
                })
        };
        Ok(BlockInfo {
            number: field("number")?.saturating_to(),
            timestamp: field("timestamp")?.saturating_to(),
            hash: B256::from(field("hash")?),
        })
    }

    /// `eth_getCode` at `block`.
    pub async fn code_at(
        &self,
        address: alloy::primitives::Address,
        block: u64,
    ) -> Result<Bytes, ChainError> {
        self.call("eth_getCode", json!([address, format!("0x{block:x}")]))
            .await
    }

    /// `eth_getStorageAt` at `block`.
    pub async fn storage_at(
        &self,
        address: alloy::primitives::Address,
        slot: B256,
        block: u64,
    ) -> Result<B256, ChainError> {
        self.call(
            "eth_getStorageAt",
            json!([address, slot, format!("0x{block:x}")]),
        )
        .await
    }

    /// `text` with anything of this endpoint's URL redacted.
    pub fn scrub(&self, text: &str) -> String {
        redact::scrub(text, &self.url)
    }

    /// A reqwest error as text without the URL (and anything of it that slipped into a cause).
    fn describe(&self, error: reqwest::Error) -> String {
        let kind = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "cannot connect"
        } else {
            "request failed"
        };
        let error = error.without_url();
        let mut text = format!("{kind}: {error}");
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        redact::scrub(&text, &self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_fails_fast_without_the_key() {
        let port = super::super::free_port().unwrap();
        let url = format!("http://127.0.0.1:{port}/?apikey=SECRETKEY123abc");
        let upstream = Upstream::new(&url, Duration::from_secs(5)).unwrap();
        let err = upstream.chain_id().await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ChainError::ForkUnreachable { .. }), "{text}");
        assert!(
            text.contains(&format!("http://127.0.0.1:{port}/…")),
            "{text}"
        );
        assert!(!text.contains("SECRETKEY123abc"), "{text}");
    }
}
