//! Stage 2, chain: an Anvil on loopback with the real CoW contracts at their
//! canonical addresses, automine off, and a deterministic clock so the same
//! scenario and seed mine the same chain.
//!
//! Three ways to get the contracts there: replay the contract fixture's
//! deployments (local mode, the default), fork an RPC URL at a block (fork
//! mode: time continues from the fork block), or load a fixture recorded from
//! a fork (`chain.fixture`).
//!
//! In: the plan's chain section. Out: [`Chain`], which owns Anvil through a guard
//! (dropping it ends Anvil) and mines blocks on the runner's command.

mod anvil;
mod fixture;
mod fork;
pub mod proxy;
pub mod recorded;
mod relay;
pub mod upstream;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::BlockNumberOrTag;
use serde_json::json;

pub use anvil::{find as find_anvil, free_port, NPM_PACKAGE};
pub use fixture::Deployed;
pub use fork::required_contracts;

use crate::process::{ChildGuard, ProcessError};
use crate::scenario::Plan;

/// Genesis time of a local chain: `chain.genesis_timestamp` when pinned, else
/// the wall clock now. A fixed date in the future (or past) would make every
/// engine that compares block time with its clock misjudge the chain; times in
/// calldata (TWAP start, EthFlow validTo) follow block times, so a pinned
/// genesis gives the same bytes every run.
fn genesis_timestamp(plan: &Plan) -> u64 {
    plan.scenario.chain.genesis_timestamp.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
    })
}

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
    #[error("{name} at {address} does not hold the code {fixture} expects: {detail}")]
    CodeMismatch {
        fixture: PathBuf,
        name: String,
        address: Address,
        detail: String,
    },
    #[error("cannot reach the fork RPC {url}: {reason}; check chain.fork.url and the network (the URL's key is not shown)")]
    ForkUnreachable { url: String, reason: String },
    #[error("the fork RPC {url} answered {method} badly: {reason}; check that chain.fork.url is an HTTP JSON-RPC endpoint and its key is valid")]
    ForkBadAnswer {
        url: String,
        method: String,
        reason: String,
    },
    #[error("the fork RPC {url} has no block {block} yet (its head is {head}); pin chain.fork.block at or below the head")]
    ForkBlockAhead { url: String, block: u64, head: u64 },
    #[error("chain.id is {written} but {source_name} is chain {found}; remove chain.id or make it {found}")]
    ChainIdMismatch {
        written: u64,
        found: u64,
        source_name: String,
    },
    #[error("chain {chain_id}: {reason}, so the contracts a scenario needs have no known addresses there")]
    UnknownDeployment { chain_id: u64, reason: String },
    #[error("the chain {chain_id} at block {block} lacks contracts the scenario needs (no code): {missing}; fork a chain and block where CoW Protocol is deployed")]
    ContractsMissing {
        chain_id: u64,
        block: u64,
        missing: String,
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
    /// When `evm_mine` returned: the instant the block existed for the engine.
    pub mined_at: Instant,
}

/// Where a chain's contracts came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The contract fixture's deployments, replayed.
    Replay,
    /// A fork of `url` (redacted) at `block`.
    Fork {
        url: String,
        block: u64,
        block_timestamp: u64,
    },
    /// A fixture recorded by `runner fixture record`.
    Recorded { path: PathBuf, block: u64 },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Replay => write!(f, "contracts replayed from the contract fixture"),
            Origin::Fork { url, block, .. } => write!(f, "fork of {url} at block {block}"),
            Origin::Recorded { path, block } => write!(
                f,
                "contracts loaded from {} (recorded at block {block})",
                path.display()
            ),
        }
    }
}

/// A running local chain holding the CoW contracts.
pub struct Chain {
    anvil: ChildGuard,
    /// Fork mode's relay to the real RPC; dropped after Anvil (field order).
    _relay: Option<relay::Relay>,
    /// Where the contracts came from.
    pub origin: Origin,
    pub provider: RootProvider,
    pub http_url: String,
    pub ws_url: String,
    pub chain_id: u64,
    pub contracts: Contracts,
    pub deployed: Vec<Deployed>,
    pub anvil_version: String,
    /// Unix time of the genesis block of a local chain (`None` on a fork).
    pub genesis_timestamp: Option<u64>,
    /// The first block an engine must index: the fork block on a fork, else
    /// the head once the contracts are in place (no CoW event precedes it).
    pub start_block: u64,
    /// Anvil start plus fixture replay.
    pub setup_time: Duration,
    block_interval_secs: u64,
    next_timestamp: u64,
}

/// Starts Anvil in the plan's mode and verifies the contracts are there.
pub async fn start(plan: &Plan, anvil_binary: &Path, run_dir: &Path) -> Result<Chain, ChainError> {
    match (&plan.scenario.chain.fork, &plan.chain_fixture) {
        (Some(fork), _) => fork::start(plan, fork, anvil_binary, run_dir).await,
        (None, Some(path)) => start_recorded(plan, path, anvil_binary, run_dir).await,
        (None, None) => start_replay(plan, anvil_binary, run_dir).await,
    }
}

/// Local mode: a fresh Anvil with the contract fixture's deployments replayed.
async fn start_replay(
    plan: &Plan,
    anvil_binary: &Path,
    run_dir: &Path,
) -> Result<Chain, ChainError> {
    let started = Instant::now();
    let spec = &plan.scenario.chain;
    let chain_id = spec.id;
    let genesis = genesis_timestamp(plan);
    let args = anvil::AnvilArgs {
        chain_id: Some(chain_id),
        gas_limit: spec.gas_limit,
        genesis_timestamp: Some(genesis),
        fork: None,
    };
    let spawned = anvil::spawn(anvil_binary, &args, &run_dir.join("anvil.log")).await?;
    let mut next_timestamp = genesis + 1;
    let mut clock = || {
        let t = next_timestamp;
        next_timestamp += 1;
        t
    };
    let source = match &plan.fixtures_dir {
        Some(dir) => fixture::Source::Dir(dir),
        None => fixture::Source::Embedded,
    };
    let deployed = fixture::replay(&spawned.provider, source, chain_id, &mut clock).await?;
    Chain::assemble(
        spawned,
        None,
        chain_id,
        deployed,
        Origin::Replay,
        started.elapsed(),
        spec.block_time.0.as_secs().max(1),
        next_timestamp,
    )
    .await
    .map(|chain| chain.with_genesis(genesis))
}

/// Fixture mode: a fresh Anvil with a recorded fixture's code and storage.
async fn start_recorded(
    plan: &Plan,
    path: &Path,
    anvil_binary: &Path,
    run_dir: &Path,
) -> Result<Chain, ChainError> {
    let started = Instant::now();
    let spec = &plan.scenario.chain;
    let fixture = recorded::read(path)?;
    let genesis = genesis_timestamp(plan);
    if let Some(written) = plan
        .chain_id_written
        .then_some(spec.id)
        .filter(|written| *written != fixture.chain_id)
    {
        return Err(ChainError::ChainIdMismatch {
            written,
            found: fixture.chain_id,
            source_name: format!("the fixture {}", path.display()),
        });
    }
    let args = anvil::AnvilArgs {
        chain_id: Some(fixture.chain_id),
        gas_limit: spec.gas_limit,
        genesis_timestamp: Some(genesis),
        fork: None,
    };
    let spawned = anvil::spawn(anvil_binary, &args, &run_dir.join("anvil.log")).await?;
    let deployed = recorded::load(&spawned.provider, path, &fixture).await?;
    let origin = Origin::Recorded {
        path: path.to_owned(),
        block: fixture.block.number,
    };
    Chain::assemble(
        spawned,
        None,
        fixture.chain_id,
        deployed,
        origin,
        started.elapsed(),
        spec.block_time.0.as_secs().max(1),
        genesis + 1,
    )
    .await
    .map(|chain| chain.with_genesis(genesis))
}

fn contracts_for(chain_id: u64, deployed: &[Deployed]) -> Result<Contracts, ChainError> {
    let find = |name: &str| {
        deployed
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.address)
            .ok_or_else(|| {
                ChainError::Unexpected(format!(
                    "the contracts placed on chain {chain_id} include no {name}"
                ))
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
    /// A chain from a started Anvil whose contracts are in place.
    #[allow(clippy::too_many_arguments)]
    async fn assemble(
        spawned: anvil::Anvil,
        relay: Option<relay::Relay>,
        chain_id: u64,
        deployed: Vec<Deployed>,
        origin: Origin,
        setup_time: Duration,
        block_interval_secs: u64,
        next_timestamp: u64,
    ) -> Result<Chain, ChainError> {
        let contracts = contracts_for(chain_id, &deployed)?;
        let start_block =
            match &origin {
                Origin::Fork { block, .. } => *block,
                Origin::Replay | Origin::Recorded { .. } => spawned
                    .provider
                    .get_block_number()
                    .await
                    .map_err(|e| rpc_error("eth_blockNumber", e))?,
            };
        Ok(Chain {
            genesis_timestamp: None,
            start_block,
            provider: spawned.provider,
            http_url: format!("http://127.0.0.1:{}", spawned.port),
            ws_url: format!("ws://127.0.0.1:{}", spawned.port),
            chain_id,
            contracts,
            deployed,
            anvil_version: spawned.version,
            setup_time,
            block_interval_secs,
            next_timestamp,
            anvil: spawned.guard,
            _relay: relay,
            origin,
        })
    }

    /// The chain with its local genesis time recorded.
    fn with_genesis(mut self, genesis: u64) -> Self {
        self.genesis_timestamp = Some(genesis);
        self
    }

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
        let block = self.mine_at(self.next_timestamp).await?;
        self.next_timestamp += self.block_interval_secs;
        Ok(block)
    }

    /// A `chain_pause`: the next block comes `pause` later in chain time too (whole seconds,
    /// rounded up), as after a real halt.
    pub fn pause_time(&mut self, pause: std::time::Duration) {
        let seconds = pause.as_secs() + u64::from(pause.subsec_nanos() > 0);
        self.next_timestamp += seconds;
    }

    /// Takes the newest `depth` blocks off the chain (`anvil_rollback`): their
    /// transactions are gone (not back in the pool) and the senders' nonces
    /// with them. Anvil tells no subscriber; the proxy does (see `proxy`).
    pub async fn rollback(&mut self, depth: u64) -> Result<(), ChainError> {
        rpc::<serde_json::Value>(&self.provider, "anvil_rollback", json!([depth])).await?;
        Ok(())
    }

    /// Mines one block holding the pool at `timestamp`, off the run's clock: a
    /// block that replaces another in a reorg keeps the replaced one's time.
    pub async fn mine_at(&mut self, timestamp: u64) -> Result<MinedBlock, ChainError> {
        rpc::<serde_json::Value>(&self.provider, "evm_mine", json!([timestamp])).await?;
        let mined_at = Instant::now();
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
            mined_at,
        })
    }

    /// The logs of blocks `first..=last`, as Anvil serves them (JSON): what
    /// the engine's log subscriptions saw of blocks a reorg is about to remove.
    pub async fn logs(&self, first: u64, last: u64) -> Result<Vec<serde_json::Value>, ChainError> {
        let filter = json!([{"fromBlock": format!("{first:#x}"), "toBlock": format!("{last:#x}")}]);
        rpc(&self.provider, "eth_getLogs", filter).await
    }

    /// The address the next blocks credit (`eth_coinbase`).
    pub async fn coinbase(&self) -> Result<Address, ChainError> {
        rpc(&self.provider, "eth_coinbase", json!([])).await
    }

    /// Makes the next blocks credit `coinbase`: a block that replaces another
    /// with the same transactions and time needs another miner, or it would be
    /// the same block (the same hash) and no reorg at all.
    pub async fn set_coinbase(&self, coinbase: Address) -> Result<(), ChainError> {
        rpc::<serde_json::Value>(&self.provider, "anvil_setCoinbase", json!([coinbase])).await?;
        Ok(())
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

pub(crate) fn rpc_error(method: &str, e: impl std::fmt::Display) -> ChainError {
    ChainError::Rpc {
        method: method.to_owned(),
        message: e.to_string(),
    }
}
