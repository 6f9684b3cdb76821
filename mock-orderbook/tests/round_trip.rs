//! One real socket round trip: start the mock on 127.0.0.1:0 through the library API, talk
//! to it with reqwest like an engine would, and check that the truth saw it.

use std::net::SocketAddr;
use std::time::Instant;

use alloy::primitives::{Address, B256, U256};
use mock_orderbook::{Config, EventKind, ExpectedOrder, OrderKey, Stats};
use serde_json::{json, Value};

fn order() -> Value {
    json!({
        "sellToken": "0x0101010101010101010101010101010101010101",
        "buyToken": "0x0202020202020202020202020202020202020202",
        "sellAmount": "1000",
        "buyAmount": "900",
        "validTo": 1_900_000_000u32,
        "appData": "{}",
        "appDataHash": cowprotocol::EMPTY_APP_DATA_HASH,
        "feeAmount": "0",
        "kind": "sell",
        "partiallyFillable": false,
        "signingScheme": "eip1271",
        "signature": "0x1234",
        "from": "0x4444444444444444444444444444444444444444",
    })
}

#[tokio::test]
async fn real_round_trip_through_a_socket() -> anyhow::Result<()> {
    let bind: SocketAddr = "127.0.0.1:0".parse()?;
    let server = mock_orderbook::start(Config::default(), bind).await?;
    assert_ne!(server.addr().port(), 0);
    assert_eq!(
        server.url(),
        format!("http://127.0.0.1:{}", server.addr().port())
    );

    let truth = server.truth();
    truth.register(vec![ExpectedOrder {
        kind: EventKind::Twap,
        block: 3,
        mined_at: Instant::now(),
        key: OrderKey {
            owner: Address::repeat_byte(0x44),
            sell_token: Address::repeat_byte(1),
            buy_token: Address::repeat_byte(2),
            receiver: Address::ZERO,
            sell_amount: U256::from(1000),
            buy_amount: U256::from(900),
            app_data: cowprotocol::EMPTY_APP_DATA_HASH,
        },
        exact: None,
        twap: None,
        tx_hash: B256::repeat_byte(3),
        log_index: 0,
    }]);
    truth.set_head(3);

    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let resp = client
        .post(format!("{}/api/v1/orders", server.url()))
        .json(&order())
        .send()
        .await?;
    assert_eq!(resp.status(), 201);
    let uid: String = resp.json().await?;
    assert_eq!(uid.len(), 2 + 2 * 56);

    let stored: Value = client
        .get(format!("{}/api/v1/orders/{uid}", server.url()))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(stored["uid"], uid);
    assert_eq!(stored["fullAppData"], "{}");

    let again = client
        .post(format!("{}/api/v1/orders", server.url()))
        .json(&order())
        .send()
        .await?;
    assert_eq!(again.status(), 400);
    let err: Value = again.json().await?;
    assert_eq!(err["errorType"], "DuplicatedOrder");

    let stats: Stats = client
        .get(format!("{}/_stats", server.url()))
        .send()
        .await?
        .json()
        .await?;
    // Counts must agree exactly; floats may differ in the last bit after a JSON round trip.
    let direct = truth.stats();
    assert_eq!(stats.orders_received, direct.orders_received);
    for (kind, e) in &direct.events {
        let served = &stats.events[kind];
        let counts = |e: &mock_orderbook::EventStats| {
            (
                e.registered,
                e.matched,
                e.lost,
                e.late,
                e.awaiting,
                e.latency_seconds.count,
            )
        };
        assert_eq!(counts(served), counts(e), "{kind}");
    }
    assert_eq!(stats.events["twap"].matched, 1);
    assert_eq!(stats.orders_received["twap"]["accepted"], 1);
    assert_eq!(stats.orders_received["twap"]["duplicate"], 1);

    let metrics = client
        .get(format!("{}/metrics", server.url()))
        .send()
        .await?
        .text()
        .await?;
    assert!(metrics.contains("cowload_events_matched_total{kind=\"twap\"} 1"));

    let url = server.url();
    server.shutdown().await;
    let after = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("{url}/healthz"))
        .send()
        .await;
    assert!(after.is_err(), "server still answering after shutdown");
    Ok(())
}

#[tokio::test]
async fn invalid_config_is_refused_before_binding() {
    let mut config = Config::default();
    config.orderbook.errors = [("NotAnError".to_owned(), 0.1)].into_iter().collect();
    let bind: SocketAddr = "127.0.0.1:0".parse().expect("literal");
    let err = mock_orderbook::start(config, bind)
        .await
        .err()
        .expect("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("NotAnError"));
}

#[tokio::test]
async fn injected_connection_reset_reaches_the_client_as_a_transport_error() -> anyhow::Result<()> {
    let mut config = Config::default();
    config.orderbook.errors = [("ConnectionReset".to_owned(), 1.0)].into_iter().collect();
    let server = mock_orderbook::start(config, "127.0.0.1:0".parse()?).await?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let sent = client
        .post(format!("{}/api/v1/orders", server.url()))
        .json(&order())
        .send()
        .await;
    let failed = match sent {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "the client received a complete answer");
    let healthy = client
        .get(format!("{}/healthz", server.url()))
        .send()
        .await?;
    assert_eq!(
        healthy.status(),
        200,
        "the server keeps serving other connections"
    );
    server.shutdown().await;
    Ok(())
}

/// An outage answers every order POST with its answer, in the orderbook's error shape, counts
/// it by that name, and ends when told.
#[tokio::test]
async fn an_outage_answers_every_post_until_it_ends() -> anyhow::Result<()> {
    let server = mock_orderbook::start(Config::default(), "127.0.0.1:0".parse()?).await?;
    let client = reqwest::Client::builder().no_proxy().build()?;
    let post = || {
        client
            .post(format!("{}/api/v1/orders", server.url()))
            .json(&order())
            .send()
    };
    server.control().start_outage("QuoteNotFound", 1.0, 7)?;
    for _ in 0..3 {
        let resp = post().await?;
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await?;
        assert_eq!(body["errorType"], "QuoteNotFound");
        assert!(body["description"]
            .as_str()
            .is_some_and(|d| d.contains("orderbook_outage")));
    }
    assert!(server.control().start_outage("Http504", 1.0, 7).is_err());
    server.control().end_outage(0);
    assert_eq!(post().await?.status(), 201);
    let truth = server.truth();
    truth.set_head(1);
    let stats: Stats = truth.stats();
    assert_eq!(stats.orders_received["unmatched"]["QuoteNotFound"], 3);
    assert_eq!(stats.orders_received["unmatched"]["accepted"], 1);
    Ok(())
}
