//! The proxy's faults, forwarding and WebSocket bookkeeping, without Anvil where a
//! canned upstream does.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use cowload_spec::scenario::faults::RpcErrorKind;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::control::{ReorgNotice, RpcFault};
use super::http::http_status;
use super::jsonrpc::rpc_error;
use super::ws::{message_json, Heads, ToClient};

fn text(value: Value) -> Message {
    Message::text(value.to_string())
}

fn errors(methods: &[&str], fraction: f64, error: RpcErrorKind) -> RpcFault {
    RpcFault::Errors {
        methods: methods.iter().map(|m| m.to_string()).collect(),
        fraction,
        error,
        rng: Box::new(Mutex::new(ChaCha8Rng::seed_from_u64(1))),
    }
}

#[test]
fn errors_hit_only_their_methods_and_their_fraction() {
    let all = errors(&["eth_getLogs"], 1.0, RpcErrorKind::RangeTooLarge);
    assert_eq!(
        all.error_for("eth_getLogs"),
        Some(RpcErrorKind::RangeTooLarge)
    );
    assert_eq!(all.error_for("eth_call"), None);
    let none = errors(&[], 0.0, RpcErrorKind::LimitExceeded);
    assert_eq!(none.error_for("eth_call"), None);
    let half = errors(&[], 0.5, RpcErrorKind::HeaderNotFound);
    let hits = (0..1000)
        .filter(|_| half.error_for("eth_call").is_some())
        .count();
    assert!((400..600).contains(&hits), "{hits} of 1000");
    assert_eq!(
        rpc_error(&json!(7), RpcErrorKind::HeaderNotFound),
        json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32000, "message": "header not found"}})
    );
    assert_eq!(
        http_status(RpcErrorKind::Http503),
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
}

#[test]
fn a_ws_request_hit_by_an_error_is_answered_by_the_proxy() {
    let fault = errors(&["eth_call"], 1.0, RpcErrorKind::LimitExceeded);
    let mut heads = Heads::default();
    let call = text(json!({"jsonrpc": "2.0", "id": 3, "method": "eth_call", "params": []}));
    let ToClient::Answer(answer) = heads.request(Some(&fault), &call) else {
        panic!("the proxy answers");
    };
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["id"], 3);
    assert_eq!(answer["error"]["code"], -32005);
    let other = text(json!({"jsonrpc": "2.0", "id": 4, "method": "eth_chainId"}));
    assert!(matches!(heads.request(Some(&fault), &other), ToClient::Forward(d) if d.is_zero()));
}

/// A stale head: the block number lags, and `newHeads` notifications are
/// held back `behind` blocks, then released when the fault ends.
#[test]
fn log_subscribers_get_the_removed_logs_their_filters_match_once_per_reorg() {
    let mut heads = Heads::default();
    let ethflow = "0x40a50cf069e992aa4536211b23f286ef88752187";
    let subscribe = |id: u64, filter: Value| {
        text(
            json!({"jsonrpc": "2.0", "id": id, "method": "eth_subscribe", "params": ["logs", filter]}),
        )
    };
    // One filter on the EthFlow contract and a topic, one on another address, one on nothing.
    let topic = "0xcf5f9de2984132265203b5c335b25727702ca77262ff622e136baa7362bf1da9";
    heads.request(
        None,
        &subscribe(1, json!({"address": [ethflow], "topics": [[topic]]})),
    );
    heads.request(
        None,
        &subscribe(
            2,
            json!({"address": "0x0000000000000000000000000000000000000001"}),
        ),
    );
    heads.request(
        None,
        &text(json!({"jsonrpc": "2.0", "id": 3, "method": "eth_subscribe", "params": ["logs"]})),
    );
    for (id, sub) in [(1, "0xa1"), (2, "0xa2"), (3, "0xa3")] {
        let answer = heads.answer(text(json!({"jsonrpc": "2.0", "id": id, "result": sub})), 0);
        assert_eq!(answer.len(), 1, "the answer itself goes through");
    }
    let log = |address: &str, topic: &str| json!({"address": address, "topics": [topic], "blockNumber": "0xf", "removed": false});
    let removed = vec![
        log(&ethflow.to_uppercase().replace("0X", "0x"), topic),
        log("0x2222222222222222222222222222222222222222", topic),
    ];
    let notice = ReorgNotice {
        holding: false,
        generation: 1,
        removed: Arc::new(removed),
    };
    let mut seen = 0;
    let sent: Vec<(Value, Value)> = heads
        .after_reorg(&notice, &mut seen)
        .iter()
        .map(|m| {
            let v = message_json(m).unwrap();
            (
                v["params"]["subscription"].clone(),
                v["params"]["result"].clone(),
            )
        })
        .collect();
    let subs: Vec<&Value> = sent.iter().map(|(sub, _)| sub).collect();
    assert_eq!(subs, [&json!("0xa1"), &json!("0xa3"), &json!("0xa3")]);
    assert!(sent.iter().all(|(_, log)| log["removed"] == json!(true)));
    // The same reorg is announced once.
    assert!(heads.after_reorg(&notice, &mut seen).is_empty());
}

#[test]
fn a_stale_head_lags_the_block_number_and_holds_new_heads_back() {
    let mut heads = Heads::default();
    let subscribe =
        json!({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]});
    heads.request(None, &text(subscribe));
    assert_eq!(
        heads
            .answer(
                text(json!({"jsonrpc": "2.0", "id": 1, "result": "0xab"})),
                2
            )
            .len(),
        1
    );
    let stale = RpcFault::StaleHead { behind: 2 };
    heads.request(
        Some(&stale),
        &text(json!({"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber"})),
    );
    let number = heads.answer(
        text(json!({"jsonrpc": "2.0", "id": 2, "result": "0x10"})),
        2,
    );
    assert_eq!(message_json(&number[0]).unwrap()["result"], "0xe");
    let head = |n: u64| {
        text(json!({"jsonrpc": "2.0", "method": "eth_subscription",
            "params": {"subscription": "0xab", "result": {"number": format!("0x{n:x}")}}}))
    };
    assert!(heads.answer(head(17), 2).is_empty());
    assert!(heads.answer(head(18), 2).is_empty());
    let released = heads.answer(head(19), 2);
    assert_eq!(
        message_json(&released[0]).unwrap()["params"]["result"]["number"],
        "0x11"
    );
    // Fault over: the held heads come first, then the new one.
    let caught_up = heads.answer(head(20), 0);
    let numbers: Vec<Value> = caught_up
        .iter()
        .map(|m| message_json(m).unwrap()["params"]["result"]["number"].clone())
        .collect();
    assert_eq!(numbers, [json!("0x12"), json!("0x13"), json!("0x14")]);
}
