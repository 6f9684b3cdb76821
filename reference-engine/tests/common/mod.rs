//! What the end-to-end tests share: a real Anvil holding the replayed CoW contracts, an
//! orderbook double, the engine as a child process, and its `/metrics` read back with the
//! runner's parser.
//!
//! Needs the Anvil binary (`npm install` at the workspace root, or `$ANVIL`) and the contract
//! fixture (`$COW_FIXTURES`, default the runner's copy in `runner/fixtures/cow-contracts`); it
//! fails loudly, naming the fix, when either is missing.

// Each test crate uses a different part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::{address, Address, Bytes, U256};
use alloy::sol_types::SolCall;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Json;
use cowprotocol::{
    CoWSwapEthFlow, EthFlowOrderData, COMPOSABLE_COW, EMPTY_APP_DATA_HASH, ETH_FLOW_PRODUCTION,
};
use runner::process::ChildGuard;
use runner::Snapshot;
use serde_json::{json, Value};

pub const CHAIN_ID: u64 = 11_155_111;
pub const WETH: Address = address!("fFf9976782d46CC05630D1f6eBAb18b2324d6B14");
pub const BUY_TOKEN: Address = address!("0625aFB445C3B6B7B929342a04A22599fd5dBB59");
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Anvil as the runner finds it (`$ANVIL`, PATH, `~/.foundry/bin`, the workspace's npm
/// install), or a failure naming the fix.
pub fn anvil_path() -> PathBuf {
    runner::chain::find_anvil(None).unwrap_or_else(|e| panic!("{e}"))
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    runner::chain::free_port().expect("an ephemeral loopback port")
}

pub struct Chain {
    pub http: reqwest::Client,
    pub url: String,
}

impl Chain {
    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let answer: Value = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        assert!(answer.get("error").is_none(), "{method} failed: {answer}");
        answer["result"].clone()
    }

    /// Send and wait (bounded) for the automined receipt; the transaction must succeed.
    pub async fn send(&self, tx: Value) {
        let hash = self.rpc("eth_sendTransaction", json!([tx])).await;
        let started = Instant::now();
        loop {
            let receipt = self.rpc("eth_getTransactionReceipt", json!([hash])).await;
            if !receipt.is_null() {
                assert_eq!(receipt["status"], "0x1", "transaction reverted: {receipt}");
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "transaction {hash} never mined"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn mine(&self) {
        self.rpc("evm_mine", json!([])).await;
    }

    pub async fn timestamp(&self) -> u64 {
        let block = self
            .rpc("eth_getBlockByNumber", json!(["latest", false]))
            .await;
        let hex = block["timestamp"].as_str().expect("timestamp");
        u64::from_str_radix(hex.trim_start_matches("0x"), 16).expect("hex timestamp")
    }
}

/// Anvil with the CoW contracts, started by the runner's own library (the
/// embedded fixture replayed, automine off, chain time from the wall clock), so
/// these tests exercise the engine against exactly the chain a run gives it.
/// The returned guard stops Anvil when dropped; the directory holds its log.
pub async fn start_chain() -> (runner::chain::Chain, Chain, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("chain.yaml");
    std::fs::write(
        &file,
        format!(
            "version: 1\nname: reference-engine-test\nchain: {{ id: {CHAIN_ID} }}\n\
             load: {{ blocks: 1, per_block: {{ ethflow: 1 }} }}\nengine: {{ enabled: false }}\n"
        ),
    )
    .expect("write the scenario");
    let plan = runner::scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let guard = runner::chain::start(&plan, &anvil_path(), dir.path())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for contract in [COMPOSABLE_COW, ETH_FLOW_PRODUCTION] {
        assert!(
            guard.deployed.iter().any(|d| d.address == contract),
            "{contract} not deployed by the runner's chain"
        );
    }
    let chain = Chain {
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client"),
        url: guard.http_url.clone(),
    };
    (guard, chain, dir)
}

/// How the orderbook double answers a POST.
#[derive(Clone, Copy, Debug)]
pub enum Answers {
    /// The first post of each owner's order answers `InsufficientFee` (retry), later ones 201.
    RetryFirst,
    /// 201 for a new body; `DuplicatedOrder` for a body posted before (the real orderbook's
    /// answer to the same UID).
    AcceptOnce,
}

/// Orderbook double; every body is kept. appData lookups answer 404 (the tests only use the
/// empty document).
///
/// Why not the mock orderbook: these tests script the answer to each POST (the first one of
/// each owner refused, whatever the order of the engine's posts) and check the bodies exactly
/// as the engine sent them. The mock answers from a seeded error mix and keeps orders as it
/// parsed them; its own answers are tested in its crate.
#[derive(Clone)]
pub struct Orderbook {
    pub posts: Arc<Mutex<Vec<Value>>>,
    pub answers: Answers,
}

impl Orderbook {
    pub fn new(answers: Answers) -> Self {
        Self {
            posts: Arc::default(),
            answers,
        }
    }

    /// The bodies posted with `from` = `who`.
    pub fn from(&self, who: Address) -> Vec<Value> {
        let posts = self.posts.lock().expect("lock");
        posts
            .iter()
            .filter(|p| p["from"] == json!(format!("{who:#x}")))
            .cloned()
            .collect()
    }
}

pub async fn start_orderbook(book: Orderbook) -> String {
    let posts = Arc::clone(&book.posts);
    let answers = book.answers;
    let app = axum::Router::new()
        .route(
            "/api/v1/orders",
            post(move |Json(body): Json<Value>| {
                let posts = Arc::clone(&posts);
                async move {
                    let mut posts = posts.lock().expect("lock");
                    let accept = match answers {
                        Answers::RetryFirst => posts.iter().any(|p| p["from"] == body["from"]),
                        Answers::AcceptOnce => !posts.contains(&body),
                    };
                    posts.push(body);
                    let refusal = match answers {
                        Answers::RetryFirst => "InsufficientFee",
                        Answers::AcceptOnce => "DuplicatedOrder",
                    };
                    if accept {
                        (
                            StatusCode::CREATED,
                            Json(json!(format!("0x{}", "11".repeat(56)))),
                        )
                    } else {
                        let error =
                            json!({"errorType": refusal, "description": "as the test says"});
                        (StatusCode::BAD_REQUEST, Json(error))
                    }
                }
            }),
        )
        .route(
            "/api/v1/app_data/{hash}",
            get(|| async { StatusCode::NOT_FOUND }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Start the engine with its config in `dir` and its state in `dir/state`, appending to
/// `dir/engine.log` (a restarted engine keeps the log), with `env` on top of a 1 ms event cost,
/// owned by the runner's own guard (SIGTERM on drop; [`ChildGuard::stop_with`] for a crash).
pub fn start_engine(
    dir: &Path,
    ws_url: &str,
    orderbook: &str,
    metrics: &str,
    env: &[(&str, &str)],
) -> ChildGuard {
    let config = format!(
        "[engine]\nstate_dir = \"{state}\"\nlog_level = \"info,reference_engine=debug\"\n\n\
         [engine.metrics]\nenabled = true\nbind_addr = \"{metrics}\"\n\n\
         [chains.{CHAIN_ID}]\nrpc_url = \"{ws_url}\"\norderbook_url = \"{orderbook}\"\n\n\
         [reference]\ndispatch = \"sequential\"\nper_event_cost = \"0ms\"\nconcurrency = 8\n",
        state = dir.join("state").display(),
    );
    let path = dir.join("engine.toml");
    std::fs::write(&path, config).expect("write config");
    let env: Vec<(String, String)> = [("REFERENCE_PER_EVENT_COST", "1ms")]
        .iter()
        .chain(env)
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    ChildGuard::spawn(
        "reference engine",
        Path::new(env!("CARGO_BIN_EXE_reference-engine")),
        &["--config".to_owned(), path.display().to_string()],
        &env,
        &dir.join("engine.log"),
    )
    .expect("spawn engine")
}

/// One series of the engine's `/metrics`: a name and its exact label set.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: &'static str,
    pub labels: Vec<(&'static str, String)>,
}

impl Series {
    /// `name` with exactly `labels`.
    pub fn new(name: &'static str, labels: &[(&'static str, &str)]) -> Self {
        Self {
            name,
            labels: labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        }
    }

    /// `name` of the test chain: `chain_id` plus `labels`.
    pub fn on_chain(name: &'static str, labels: &[(&'static str, &str)]) -> Self {
        let mut series = Self::new(name, labels);
        series.labels.push(("chain_id", CHAIN_ID.to_string()));
        series
    }

    /// Its value in `snapshot`, if it is there.
    pub fn find(&self, snapshot: &Snapshot) -> Option<f64> {
        let labels: Vec<(&str, &str)> = self.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        snapshot.value(self.name, &labels)
    }

    /// Its value in `snapshot`; a missing series fails the test.
    pub fn read(&self, snapshot: &Snapshot) -> f64 {
        self.find(snapshot)
            .unwrap_or_else(|| panic!("no series {self:?} in the scrape"))
    }
}

/// Reads the engine's `/metrics` with the runner's parser.
pub struct Probe {
    pub http: reqwest::Client,
    pub url: String,
}

impl Probe {
    pub fn new(metrics: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
            url: format!("http://{metrics}/metrics"),
        }
    }

    /// One scrape, `None` while the endpoint is not up (or not answering).
    pub async fn scrape(&self) -> Option<Snapshot> {
        runner::scrape(&self.http, &self.url, SCRAPE_TIMEOUT)
            .await
            .ok()
            .map(|(_, snapshot)| snapshot)
    }

    /// The series' value, 0 when it (or the endpoint) is not there yet.
    pub async fn get(&self, series: &Series) -> f64 {
        self.scrape()
            .await
            .and_then(|m| series.find(&m))
            .unwrap_or(0.0)
    }

    /// Wait (bounded) until `series` reaches `target`.
    pub async fn wait_for(&self, series: &Series, target: f64, log: &impl Fn() -> String) {
        let started = Instant::now();
        while self.get(series).await < target {
            assert!(
                started.elapsed() < DEADLINE,
                "{series:?} never reached {target}:\n{}",
                log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait (bounded) until the engine has subscribed `n` times in all.
    pub async fn wait_subscribed(&self, n: f64, log: &impl Fn() -> String) {
        self.wait_for(&subscribed(), n, log).await;
    }

    /// The engine's `reference_blocks_processed_total`.
    pub async fn processed(&self) -> f64 {
        self.get(&processed()).await
    }
}

/// How long one scrape of the engine may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Successful `eth_subscribe` calls: the engine is following the chain.
fn subscribed() -> Series {
    Series::on_chain(
        "shepherd_chain_request_total",
        &[("method", "eth_subscribe"), ("outcome", "ok")],
    )
}

/// Blocks the engine has handled.
pub fn processed() -> Series {
    Series::on_chain("reference_blocks_processed_total", &[])
}

/// The wei [`ethflow_order_tx`] sells for `quote_id` (0.1 ETH plus the id, so orders differ).
pub fn ethflow_sell(quote_id: i64) -> U256 {
    U256::from(10u64).pow(U256::from(17u64)) + U256::from(quote_id as u64)
}

/// A `CoWSwapEthFlow.createOrder` transaction from `from` selling [`ethflow_sell`] wei;
/// `quote_id` makes each order distinct.
pub fn ethflow_order_tx(from: &Value, now: u64, receiver: Address, quote_id: i64) -> Value {
    let sell = ethflow_sell(quote_id);
    let fee = U256::from(1_000u64);
    let user_order = EthFlowOrderData {
        buyToken: BUY_TOKEN,
        receiver,
        sellAmount: sell,
        buyAmount: U256::from(1u64),
        appData: EMPTY_APP_DATA_HASH,
        feeAmount: fee,
        validTo: u32::try_from(now + 3_600).expect("fits"),
        partiallyFillable: false,
        quoteId: quote_id,
    };
    let data = CoWSwapEthFlow::createOrderCall { order: user_order }.abi_encode();
    json!({"from": from, "to": ETH_FLOW_PRODUCTION, "value": format!("{:#x}", sell + fee),
           "data": Bytes::from(data)})
}

/// The test's engine and everything around it.
pub struct Rig {
    pub anvil: runner::chain::Chain,
    pub chain_dir: tempfile::TempDir,
    pub chain: Chain,
    pub book: Orderbook,
    pub orderbook_url: String,
    pub dir: tempfile::TempDir,
    pub metrics: String,
    pub probe: Probe,
}

impl Rig {
    /// Anvil with the contracts, automine off, an orderbook double answering `answers`.
    pub async fn start(answers: Answers) -> Self {
        let (anvil, chain, chain_dir) = start_chain().await;
        let book = Orderbook::new(answers);
        let orderbook_url = start_orderbook(book.clone()).await;
        let metrics = format!("127.0.0.1:{}", free_port());
        Self {
            anvil,
            chain_dir,
            chain,
            book,
            orderbook_url,
            dir: tempfile::tempdir().expect("tempdir"),
            probe: Probe::new(&metrics),
            metrics,
        }
    }

    /// Anvil's WebSocket URL.
    pub fn ws_url(&self) -> String {
        self.chain.url.replace("http://", "ws://")
    }

    /// Start the engine on `ws_url` with `env`.
    pub fn engine(&self, ws_url: &str, env: &[(&str, &str)]) -> ChildGuard {
        start_engine(
            self.dir.path(),
            ws_url,
            &self.orderbook_url,
            &self.metrics,
            env,
        )
    }

    /// The engine's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("engine.log")).unwrap_or_default()
    }

    /// Send a distinct EthFlow order (not mined yet).
    pub async fn send_ethflow(&self, quote_id: i64) {
        let accounts = self.chain.rpc("eth_accounts", json!([])).await;
        let receiver: Address = accounts[2]
            .as_str()
            .expect("account")
            .parse()
            .expect("address");
        let now = self.chain.timestamp().await;
        let tx = ethflow_order_tx(&accounts[1], now, receiver, quote_id);
        self.chain.rpc("eth_sendTransaction", json!([tx])).await;
    }

    /// The EthFlow orders posted so far.
    pub fn ethflow_posts(&self) -> Vec<Value> {
        self.book.from(ETH_FLOW_PRODUCTION)
    }
}
