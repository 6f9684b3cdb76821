//! End to end against a real Anvil holding the replayed CoW contracts: the engine sees an
//! EthFlow order and two TWAPs, posts each order that can be posted exactly once after the
//! orderbook's retry, counts the EOA-owned TWAP as `poll_reverted`, and exits 0 on SIGTERM.
//! Set-up (Anvil, fixture, orderbook double, engine) is in `common/`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::sol_types::SolCall;
use cowprotocol::{
    ComposableCoW, TwapData, TwapDuration, TwapStart, COMPOSABLE_COW, EMPTY_APP_DATA_HASH,
    ETH_FLOW_PRODUCTION,
};
use serde_json::json;

use common::{
    ethflow_order_tx, ethflow_sell, free_port, processed, start_chain, start_engine,
    start_orderbook, Answers, Orderbook, Probe, Series, BUY_TOKEN, WETH,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_engine_posts_each_order_once_and_stops_on_sigterm() {
    posts_each_order_once_and_stops_on_sigterm("sequential").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_engine_posts_each_order_once_and_stops_on_sigterm() {
    posts_each_order_once_and_stops_on_sigterm("concurrent").await;
}

async fn posts_each_order_once_and_stops_on_sigterm(dispatch: &str) {
    let (_anvil, chain, _chain_dir) = start_chain().await;
    let book = Orderbook::new(Answers::RetryFirst);
    let orderbook = start_orderbook(book.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = format!("127.0.0.1:{}", free_port());
    let ws_url = chain.url.replace("http://", "ws://");
    let engine = start_engine(
        dir.path(),
        &ws_url,
        &orderbook,
        &metrics,
        &[("REFERENCE_DISPATCH", dispatch)],
    );
    let engine_log = dir.path().join("engine.log");
    let log = || std::fs::read_to_string(&engine_log).unwrap_or_default();
    let probe = Probe::new(&metrics);

    // Ready once the head subscription is up.
    probe.wait_subscribed(1.0, &log).await;

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
    const QUOTE_ID: i64 = 7;
    let create_order = ethflow_order_tx(&accounts[1], now, account(1), QUOTE_ID);
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
        create_order,
        json!({"from": owner, "to": COMPOSABLE_COW, "data": create}),
        json!({"from": accounts[3], "to": COMPOSABLE_COW, "data": create}),
    ];
    let mut hashes = Vec::new();
    for tx in txs {
        hashes.push(chain.rpc("eth_sendTransaction", json!([tx])).await);
    }

    let processed = processed();
    let before = probe.get(&processed).await;
    chain.mine().await;
    for hash in hashes {
        let receipt = chain.rpc("eth_getTransactionReceipt", json!([hash])).await;
        assert_eq!(receipt["status"], "0x1", "transaction failed: {receipt}");
    }
    probe.wait_for(&processed, before + 1.0, &log).await;
    let from = |who: Address| book.from(who);
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
    assert_eq!(e["sellAmount"], json!(ethflow_sell(QUOTE_ID).to_string()));
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
    let series = |name, labels: &[(&'static str, &str)]| Series::new(name, labels).read(&m);
    let on_chain = |name, labels: &[(&'static str, &str)]| Series::on_chain(name, labels).read(&m);
    assert_eq!(
        series(
            "shepherd_module_errors_total",
            &[("module", "twap"), ("error_kind", "poll_reverted")]
        ),
        1.0
    );
    assert_eq!(
        on_chain("shepherd_cow_api_submit_total", &[("outcome", "accepted")]),
        2.0
    );
    assert_eq!(
        on_chain("shepherd_cow_api_submit_total", &[("outcome", "retry")]),
        2.0
    );
    assert_eq!(
        on_chain(
            "shepherd_chain_request_total",
            &[("method", "eth_call"), ("outcome", "err")]
        ),
        0.0
    );
    assert_eq!(
        on_chain("reference_twap_active_orders", &[]),
        1.0,
        "the EOA one was dropped"
    );
    let count =
        |name, module, event_kind| series(name, &[("module", module), ("event_kind", event_kind)]);
    let summary_count = "shepherd_event_latency_seconds_count";
    assert_eq!(count(summary_count, "ethflow", "order_placement"), 1.0);
    assert_eq!(
        count(summary_count, "twap", "conditional_order_created"),
        2.0
    );
    assert_eq!(
        count(summary_count, "twap", "poll"),
        4.0,
        "one poll in each of the four later blocks"
    );
    assert_eq!(
        count(
            "shepherd_event_latency_seconds_histogram_count",
            "twap",
            "poll"
        ),
        4.0
    );
    let mode = if dispatch == "sequential" {
        "Sequential"
    } else {
        "Concurrent"
    };
    assert!(log().contains(&format!("dispatch={mode}")), "{}", log());

    // SIGTERM: exit 0, promptly (the guard waits a bounded grace, then SIGKILLs).
    let started = Instant::now();
    let status = engine.stop().expect("the engine is reaped");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "engine ignored SIGTERM:\n{}",
        log()
    );
    assert!(status.success(), "exit status {status}:\n{}", log());
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
