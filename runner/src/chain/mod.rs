//! Stage 2, chain: a fresh Anvil on loopback with the real CoW contracts at their
//! canonical addresses, automine off, and a deterministic clock so the same
//! scenario and seed mine the same chain.
//!
//! In: the plan's chain section. Out: [`Chain`], which owns Anvil through a guard
//! (dropping it ends Anvil) and mines blocks on the runner's command.

mod anvil;
mod fixture;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::BlockNumberOrTag;
use serde_json::json;

pub use anvil::{find as find_anvil, free_port, NPM_PACKAGE};
pub use fixture::Deployed;

use crate::process::{ChildGuard, ProcessError};
use crate::scenario::Plan;

/// Genesis time of every local chain: fixed so calldata that embeds block times
/// (TWAP start, EthFlow validTo) is the same in every run of a scenario.
pub const GENESIS_TIMESTAMP: u64 = 1_800_000_000;

/// Why the chain could not be set up. All of these are infrastructure failures (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("anvil not found (tried {tried}); install it with `npm install {NPM_PACKAGE}` in the project directory, or pass --anvil PATH")]
    AnvilNotFound { tried: String },
    #[error("anvil exited during start-up ({status}); its last output:\n{tail}")]
    AnvilExited { status: String, tail: String },
    #[error("anvil did not answer within {after:?}; its last output:\n{tail}")]
    AnvilNotReady { after: Duration, tail: String },
    #[error("contract fixture {path} is missing or unreadable: {reason}; set chain.fixtures or $COW_FIXTURES to the cow-contracts fixture directory")]
    FixtureMissing { path: PathBuf, reason: String },
    #[error("contract fixture {path} is invalid: {reason}")]
    FixtureInvalid { path: PathBuf, reason: String },
    #[error(
        "{name} at {address} does not hold the expected code after replaying {fixture}: {detail}"
    )]
    CodeMismatch {
        fixture: PathBuf,
        name: String,
        address: Address,
        detail: String,
    },
    #[error("anvil RPC {method} failed: {message}")]
    Rpc { method: String, message: String },
    #[error("{0}")]
    Unexpected(String),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("i/o error: {0}")]
    Io(#[source] std::io::Error),
}

/// Canonical addresses the load and the engine talk to.
#[derive(Debug, Clone, Copy)]
pub struct Contracts {
    pub composable_cow: Address,
    pub twap_handler: Address,
    pub fallback_handler: Address,
    pub eth_flow: Address,
    pub weth: Address,
    pub settlement: Address,
}

/// A block the runner mined.
#[derive(Debug, Clone, Copy)]
pub struct MinedBlock {
    pub number: u64,
    pub hash: B256,
    pub timestamp: u64,
    pub transactions: usize,
    /// When `evm_mine` returned: the instant the block existed for the engine.
    pub mined_at: Instant,
}

/// A running local chain holding the CoW contracts.
pub struct Chain {
    anvil: ChildGuard,
    pub provider: RootProvider,
    pub http_url: String,
    pub ws_url: String,
    pub chain_id: u64,
    pub contracts: Contracts,
    pub deployed: Vec<Deployed>,
    pub anvil_version: String,
    /// Anvil start plus fixture replay.
    pub setup_time: Duration,
    block_interval_secs: u64,
    next_timestamp: u64,
}

/// Starts Anvil, replays the contract fixture and verifies it.
pub async fn start(plan: &Plan, anvil_binary: &Path, run_dir: &Path) -> Result<Chain, ChainError> {
    let started = Instant::now();
    let spec = &plan.scenario.chain;
    let args = anvil::AnvilArgs {
        chain_id: spec.id,
        gas_limit: spec.gas_limit,
        genesis_timestamp: GENESIS_TIMESTAMP,
    };
    let spawned = anvil::spawn(anvil_binary, &args, &run_dir.join("anvil.log")).await?;
    let mut next_timestamp = GENESIS_TIMESTAMP + 1;
    let mut clock = || {
        let t = next_timestamp;
        next_timestamp += 1;
        t
    };
    let deployed =
        fixture::replay(&spawned.provider, &plan.fixtures_dir, spec.id, &mut clock).await?;
    let contracts = contracts_for(spec.id, &deployed)?;
    Ok(Chain {
        provider: spawned.provider,
        http_url: format!("http://127.0.0.1:{}", spawned.port),
        ws_url: format!("ws://127.0.0.1:{}", spawned.port),
        chain_id: spec.id,
        contracts,
        deployed,
        anvil_version: spawned.version,
        setup_time: started.elapsed(),
        block_interval_secs: spec.block_time.0.as_secs().max(1),
        next_timestamp,
        anvil: spawned.guard,
    })
}

fn contracts_for(chain_id: u64, deployed: &[Deployed]) -> Result<Contracts, ChainError> {
    let find = |name: &str| {
        deployed
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.address)
            .ok_or_else(|| {
                ChainError::Unexpected(format!("fixture for chain {chain_id} has no {name}"))
            })
    };
    Ok(Contracts {
        composable_cow: find("ComposableCoW")?,
        twap_handler: find("TWAP")?,
        fallback_handler: find("ExtensibleFallbackHandler")?,
        eth_flow: find("CoWSwapEthFlow")?,
        weth: find("WETH9")?,
        settlement: find("GPv2Settlement")?,
    })
}

impl Chain {
    /// The timestamp the next mined block will carry.
    pub fn next_timestamp(&self) -> u64 {
        self.next_timestamp
    }

    /// Process id of Anvil, for tests that prove it is gone afterwards.
    pub fn anvil_pid(&self) -> u32 {
        self.anvil.pid()
    }

    /// `Some` once Anvil has died on its own.
    pub fn anvil_exit(&mut self) -> Option<String> {
        self.anvil.try_exit_status().map(|s| s.to_string())
    }

    /// Last lines of Anvil's log.
    pub fn anvil_log_tail(&self) -> String {
        self.anvil.log_tail(20)
    }

    /// Mines exactly one block holding whatever is in the pool, at the next
    /// deterministic timestamp.
    pub async fn mine(&mut self) -> Result<MinedBlock, ChainError> {
        let timestamp = self.next_timestamp;
        rpc::<serde_json::Value>(&self.provider, "evm_mine", json!([timestamp])).await?;
        let mined_at = Instant::now();
        self.next_timestamp += self.block_interval_secs;
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|e| rpc_error("eth_getBlockByNumber", e))?
            .ok_or_else(|| ChainError::Unexpected("anvil has no latest block".into()))?;
        Ok(MinedBlock {
            number: block.header.number,
            hash: block.header.hash,
            timestamp: block.header.timestamp,
            transactions: block.transactions.len(),
            mined_at,
        })
    }

    /// Ends Anvil now (the same happens when the chain is dropped).
    pub fn stop(self) {
        self.anvil.stop();
    }
}

/// One JSON-RPC call by method name, for the `anvil_*`/`evm_*` methods the typed
/// provider does not cover.
pub async fn rpc<
    T: serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static,
>(
    provider: &RootProvider,
    method: &'static str,
    params: serde_json::Value,
) -> Result<T, ChainError> {
    provider
        .raw_request::<_, T>(method.into(), params)
        .await
        .map_err(|e| rpc_error(method, e))
}

fn rpc_error(method: &str, e: impl std::fmt::Display) -> ChainError {
    ChainError::Rpc {
        method: method.to_owned(),
        message: e.to_string(),
    }
}
