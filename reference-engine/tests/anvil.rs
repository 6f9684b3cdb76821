//! End to end against a real Anvil holding the replayed CoW contracts: the engine sees an
//! EthFlow order and two TWAPs, posts each order that can be posted exactly once after the
//! orderbook's retry, counts the EOA-owned TWAP as `poll_reverted`, and exits 0 on SIGTERM.
//!
//! Needs the Anvil binary (`npm install` at the workspace root, or `$ANVIL`) and the contract
//! fixture (`$COW_FIXTURES`, default the runner's copy in `runner/fixtures/cow-contracts`); it fails loudly, naming
//! the fix, when either is missing.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::{address, Address, Bytes, B256, U256};
use alloy::sol_types::SolCall;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Json;
use cowprotocol::{
    CoWSwapEthFlow, ComposableCoW, EthFlowOrderData, TwapData, TwapDuration, TwapStart,
    COMPOSABLE_COW, EMPTY_APP_DATA_HASH, ETH_FLOW_PRODUCTION,
};
use serde_json::{json, Value};

const CHAIN_ID: u64 = 11_155_111;
const WETH: Address = address!("fFf9976782d46CC05630D1f6eBAb18b2324d6B14");
const BUY_TOKEN: Address = address!("0625aFB445C3B6B7B929342a04A22599fd5dBB59");
const DEADLINE: Duration = Duration::from_secs(60);

/// Kills and reaps a child on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn anvil_path() -> PathBuf {
    let path = std::env::var_os("ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            workspace().join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
        });
    assert!(
        path.exists(),
        "anvil not found at {}: run `npm install` in the workspace root or set ANVIL",
        path.display()
    );
    path
}

fn fixtures() -> PathBuf {
    let dir = std::env::var_os("COW_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("runner/fixtures/cow-contracts"));
    assert!(
        dir.join("replay.11155111.json").exists(),
        "contract fixture not found in {}: set COW_FIXTURES",
        dir.display()
    );
    dir
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

struct Chain {
    http: reqwest::Client,
    url: String,
}

impl Chain {
    async fn rpc(&self, method: &str, params: Value) -> Value {
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
    async fn send(&self, tx: Value) {
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

    async fn mine(&self) {
        self.rpc("evm_mine", json!([])).await;
    }

    async fn timestamp(&self) -> u64 {
        let block = self
            .rpc("eth_getBlockByNumber", json!(["latest", false]))
            .await;
        let hex = block["timestamp"].as_str().expect("timestamp");
        u64::from_str_radix(hex.trim_start_matches("0x"), 16).expect("hex timestamp")
    }
}

async fn start_anvil() -> (Killed, Chain) {
    let port = free_port();
    let child = Command::new(anvil_path())
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--chain-id",
            &CHAIN_ID.to_string(),
            "--silent",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn anvil");
    let guard = Killed(child);
    let chain = Chain {
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client"),
        url: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    loop {
        let probe = chain
            .http
            .post(&chain.url)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}))
            .send()
            .await;
        if probe.is_ok() {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "anvil did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (guard, chain)
}

/// Apply `replay.11155111.json` (see the fixture README).
async fn replay(chain: &Chain) {
    let dir = fixtures();
    let read = |name: &str| -> Value {
        let text = std::fs::read_to_string(dir.join(name)).expect("fixture file");
        serde_json::from_str(&text).expect("fixture json")
    };
    let steps = read("replay.11155111.json");
    let weth = read("weth9.json");
    let accounts = chain.rpc("eth_accounts", json!([])).await;
    for step in steps["steps"].as_array().expect("steps") {
        let method = step["method"].as_str().expect("method");
        if method.starts_with("anvil_setCode") {
            chain
                .rpc(
                    "anvil_setCode",
                    json!([step["address"], weth["runtimeCode"]]),
                )
                .await;
            for (slot, value) in weth["storage"].as_object().expect("storage") {
                chain
                    .rpc("anvil_setStorageAt", json!([step["address"], slot, value]))
                    .await;
            }
        } else if method == "eth_sendTransaction" {
            let mut tx = step["tx"].clone();
            tx["from"] = accounts[0].clone();
            chain.send(tx).await;
        } else if method.starts_with("anvil_impersonateAccount") {
            let mut tx = step["tx"].clone();
            let from = tx["from"].clone();
            chain.rpc("anvil_impersonateAccount", json!([from])).await;
            chain
                .rpc("anvil_setBalance", json!([from, "0x56bc75e2d63100000"]))
                .await;
            chain
                .rpc("anvil_setNonce", json!([from, tx["nonce"]]))
                .await;
            tx.as_object_mut().expect("tx object").remove("nonce");
            chain.send(tx).await;
        }
    }
    for contract in [COMPOSABLE_COW, ETH_FLOW_PRODUCTION] {
        let code = chain.rpc("eth_getCode", json!([contract, "latest"])).await;
        assert!(
            code.as_str().is_some_and(|c| c.len() > 2),
            "{contract} not deployed by the replay"
        );
    }
}

/// Orderbook double: the first post of each owner's order answers `InsufficientFee`, later ones
/// 201; every body is kept. appData lookups answer 404 (the test only uses the empty document).
#[derive(Clone, Default)]
struct Orderbook {
    posts: Arc<Mutex<Vec<Value>>>,
}

async fn start_orderbook(book: Orderbook) -> String {
    let posts = Arc::clone(&book.posts);
    let app = axum::Router::new()
        .route(
            "/api/v1/orders",
            post(move |Json(body): Json<Value>| {
                let posts = Arc::clone(&posts);
                async move {
                    let mut posts = posts.lock().expect("lock");
                    let seen = posts.iter().any(|p| p["from"] == body["from"]);
                    posts.push(body);
                    if seen {
                        (
                            StatusCode::CREATED,
                            Json(json!(format!("0x{}", "11".repeat(56)))),
                        )
                    } else {
                        let error =
                            json!({"errorType": "InsufficientFee", "description": "try again"});
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

fn start_engine(
    dir: &Path,
    rpc_port: &str,
    orderbook: &str,
    metrics: &str,
    dispatch: &str,
) -> Killed {
    let config = format!(
        "[engine]\nstate_dir = \"{state}\"\nlog_level = \"info,reference_engine=debug\"\n\n\
         [engine.metrics]\nenabled = true\nbind_addr = \"{metrics}\"\n\n\
         [chains.{CHAIN_ID}]\nrpc_url = \"ws://127.0.0.1:{rpc_port}\"\norderbook_url = \"{orderbook}\"\n\n\
         [reference]\ndispatch = \"sequential\"\nper_event_cost = \"0ms\"\nconcurrency = 8\n",
        state = dir.join("state").display(),
    );
    let path = dir.join("engine.toml");
    std::fs::write(&path, config).expect("write config");
    let log = std::fs::File::create(dir.join("engine.log")).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_reference-engine"))
        .arg("--config")
        .arg(&path)
        .env("REFERENCE_PER_EVENT_COST", "1ms")
        .env("REFERENCE_DISPATCH", dispatch)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn engine");
    Killed(child)
}

/// Parse the Prometheus text into `series → value` (enough for exact-label look-ups).
async fn scrape(http: &reqwest::Client, metrics: &str) -> Option<BTreeMap<String, f64>> {
    let text = http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                Some((series.to_owned(), value.parse().ok()?))
            })
            .collect(),
    )
}

fn value(metrics: &BTreeMap<String, f64>, series: &str) -> f64 {
    *metrics
        .get(series)
        .unwrap_or_else(|| panic!("no series {series}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_engine_posts_each_order_once_and_stops_on_sigterm() {
    posts_each_order_once_and_stops_on_sigterm("sequential").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_engine_posts_each_order_once_and_stops_on_sigterm() {
    posts_each_order_once_and_stops_on_sigterm("concurrent").await;
}

async fn posts_each_order_once_and_stops_on_sigterm(dispatch: &str) {
    let (_anvil, chain) = start_anvil().await;
    replay(&chain).await;
    let book = Orderbook::default();
    let orderbook = start_orderbook(book.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = format!("127.0.0.1:{}", free_port());
    let rpc_port = chain.url.rsplit(':').next().expect("port").to_owned();
    let mut engine = start_engine(dir.path(), &rpc_port, &orderbook, &metrics, dispatch);
    let engine_log = dir.path().join("engine.log");
    let log = || std::fs::read_to_string(&engine_log).unwrap_or_default();
    let probe = Probe {
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client"),
        metrics: metrics.clone(),
    };

    // Ready once the head subscription is up.
    let subscribed = format!(
        "shepherd_chain_request_total{{chain_id=\"{CHAIN_ID}\",method=\"eth_subscribe\",outcome=\"ok\"}}"
    );
    let started = Instant::now();
    while probe.get(&subscribed).await < 1.0 {
        assert!(
            started.elapsed() < DEADLINE,
            "engine never subscribed:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    chain.rpc("evm_setAutomine", json!([false])).await;
    let accounts = chain.rpc("eth_accounts", json!([])).await;
    let account = |i: usize| -> Address {
        accounts[i]
            .as_str()
            .expect("account")
            .parse()
            .expect("address")
    };
    let now = chain.timestamp().await;

    // One block holding: an EthFlow order, a TWAP whose owner has (revert-only) code, so it is
    // tradeable at once with a forwarder signature, and the same TWAP owned by a plain EOA, whose
    // every poll reverts without data.
    let sell = U256::from(10u64).pow(U256::from(17u64));
    let fee = U256::from(1_000u64);
    let user_order = EthFlowOrderData {
        buyToken: BUY_TOKEN,
        receiver: account(1),
        sellAmount: sell,
        buyAmount: U256::from(1u64),
        appData: EMPTY_APP_DATA_HASH,
        feeAmount: fee,
        validTo: u32::try_from(now + 3_600).expect("fits"),
        partiallyFillable: false,
        quoteId: 7,
    };
    let create_order = CoWSwapEthFlow::createOrderCall { order: user_order }.abi_encode();
    let owner = account(2);
    let twap = TwapData {
        sell_token: WETH,
        buy_token: BUY_TOKEN,
        receiver: owner,
        sell_amount: U256::from(2_000u64),
        buy_amount: U256::from(2u64),
        time_between_parts: 3_600,
        number_of_parts: 2,
        start: TwapStart::AtEpoch(u32::try_from(now - 60).expect("fits")),
        duration: TwapDuration::Auto,
        app_data: EMPTY_APP_DATA_HASH,
    };
    let params = twap.to_params(B256::repeat_byte(0x42)).expect("valid TWAP");
    let create = Bytes::from(
        ComposableCoW::createCall {
            params,
            dispatch: true,
        }
        .abi_encode(),
    );
    chain
        .rpc("anvil_setCode", json!([owner, "0x60006000fd"]))
        .await;
    chain.rpc("anvil_impersonateAccount", json!([owner])).await;
    let txs = [
        json!({"from": accounts[1], "to": ETH_FLOW_PRODUCTION, "value": format!("{:#x}", sell + fee),
               "data": Bytes::from(create_order)}),
        json!({"from": owner, "to": COMPOSABLE_COW, "data": create}),
        json!({"from": accounts[3], "to": COMPOSABLE_COW, "data": create}),
    ];
    let mut hashes = Vec::new();
    for tx in txs {
        hashes.push(chain.rpc("eth_sendTransaction", json!([tx])).await);
    }

    let processed = format!("reference_blocks_processed_total{{chain_id=\"{CHAIN_ID}\"}}");
    let before = probe.get(&processed).await;
    chain.mine().await;
    for hash in hashes {
        let receipt = chain.rpc("eth_getTransactionReceipt", json!([hash])).await;
        assert_eq!(receipt["status"], "0x1", "transaction failed: {receipt}");
    }
    probe.wait_for(&processed, before + 1.0, &log).await;
    let from = |who: Address| {
        let posts = book.posts.lock().expect("lock");
        posts
            .iter()
            .filter(|p| p["from"] == json!(format!("{who:#x}")))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        from(ETH_FLOW_PRODUCTION).len(),
        1,
        "posted once in the event's block, asked to retry"
    );
    assert_eq!(
        from(owner).len(),
        1,
        "first poll in the creation block posts, asked to retry"
    );

    chain.mine().await;
    probe.wait_for(&processed, before + 2.0, &log).await;
    assert_eq!(
        from(ETH_FLOW_PRODUCTION).len(),
        2,
        "retried in the next block"
    );
    assert_eq!(from(owner).len(), 2, "re-posted by the next block's poll");

    for n in 3..=5 {
        chain.mine().await;
        probe
            .wait_for(&processed, before + f64::from(n), &log)
            .await;
    }
    let posts = book.posts.lock().expect("lock").clone();
    assert_eq!(
        posts.len(),
        4,
        "nothing posted after acceptance, nothing for the EOA TWAP:\n{posts:#?}"
    );

    let e = &from(ETH_FLOW_PRODUCTION)[1];
    assert_eq!(e["signingScheme"], "eip1271");
    assert_eq!(e["signature"], json!(format!("{ETH_FLOW_PRODUCTION:#x}")));
    assert_eq!(e["sellToken"], json!(format!("{WETH:#x}")));
    assert_eq!(e["validTo"], json!(u32::MAX));
    assert_eq!(e["sellAmount"], json!(sell.to_string()));
    assert_eq!(e["appData"], "{}");

    let t = &from(owner)[1];
    assert_eq!(t["signingScheme"], "eip1271");
    assert_eq!(t["sellToken"], json!(format!("{WETH:#x}")));
    assert_eq!(t["sellAmount"], "1000", "one of two parts");
    assert!(
        t["signature"].as_str().is_some_and(|s| s.len() > 2 + 64),
        "forwarder signature: {t}"
    );

    let m = probe.scrape().await.expect("metrics answer");
    let series = |name: &str| value(&m, name);
    let chain_series =
        |name: &str, rest: &str| series(&format!("{name}{{chain_id=\"{CHAIN_ID}\"{rest}}}"));
    assert_eq!(
        series("shepherd_module_errors_total{module=\"twap\",error_kind=\"poll_reverted\"}"),
        1.0
    );
    assert_eq!(
        chain_series("shepherd_cow_api_submit_total", ",outcome=\"accepted\""),
        2.0
    );
    assert_eq!(
        chain_series("shepherd_cow_api_submit_total", ",outcome=\"retry\""),
        2.0
    );
    assert_eq!(
        chain_series(
            "shepherd_chain_request_total",
            ",method=\"eth_call\",outcome=\"err\""
        ),
        0.0
    );
    assert_eq!(
        chain_series("reference_twap_active_orders", ""),
        1.0,
        "the EOA one was dropped"
    );
    let count = |kind: &str| {
        series(&format!(
            "shepherd_event_latency_seconds_count{{module=\"{kind}"
        ))
    };
    assert_eq!(count("ethflow\",event_kind=\"order_placement\"}"), 1.0);
    assert_eq!(
        count("twap\",event_kind=\"conditional_order_created\"}"),
        2.0
    );
    assert_eq!(
        count("twap\",event_kind=\"poll\"}"),
        4.0,
        "one poll in each of the four later blocks"
    );
    assert_eq!(
        series(
            "shepherd_event_latency_seconds_histogram_count{module=\"twap\",event_kind=\"poll\"}"
        ),
        4.0
    );
    let mode = if dispatch == "sequential" {
        "Sequential"
    } else {
        "Concurrent"
    };
    assert!(log().contains(&format!("dispatch={mode}")), "{}", log());

    // SIGTERM: exit 0, promptly.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(engine.0.id()).expect("pid fits"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal the engine");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = engine.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "engine ignored SIGTERM:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}:\n{}", log());
}

/// Reads the engine's `/metrics`.
struct Probe {
    http: reqwest::Client,
    metrics: String,
}

impl Probe {
    async fn scrape(&self) -> Option<BTreeMap<String, f64>> {
        scrape(&self.http, &self.metrics).await
    }

    /// The series' value, 0 when it (or the endpoint) is not there yet.
    async fn get(&self, series: &str) -> f64 {
        self.scrape()
            .await
            .and_then(|m| m.get(series).copied())
            .unwrap_or(0.0)
    }

    /// Wait (bounded) until `series` reaches `target`.
    async fn wait_for(&self, series: &str, target: f64, log: &impl Fn() -> String) {
        let started = Instant::now();
        while self.get(series).await < target {
            assert!(
                started.elapsed() < DEADLINE,
                "{series} never reached {target}:\n{}",
                log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[test]
fn a_bad_config_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("engine.toml");
    let text = "[engine.metrics]\nenabled = true\nbind_addr = \"127.0.0.1:1\"\n\n\
                [chains.1]\nrpc_url = \"ws://127.0.0.1:2\"\norderbook_url = \"http://127.0.0.1:3\"\n\n\
                [reference]\ndispatch = \"sequential\"\nper_event_cots = \"1ms\"\n";
    std::fs::write(&path, text).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_reference-engine"))
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run engine");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("per_event_cots"), "{stderr}");

    let missing = Command::new(env!("CARGO_BIN_EXE_reference-engine"))
        .args(["--config", "/nonexistent/engine.toml"])
        .output()
        .expect("run engine");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/engine.toml"));
}
