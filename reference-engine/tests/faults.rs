//! The engine against chain faults on a real Anvil, each defence on and off, so each fault has a
//! known answer both ways:
//!
//! - a WebSocket drop while blocks are mined: backfilled (the event gets its order) or, with
//!   `reconnect_backfill = false`, skipped (no order);
//! - a SIGKILL and restart with the same state directory: resumed from the cursor (the missed
//!   event gets its order, the earlier one is not posted again) or, with
//!   `persist_cursor = false`, started at the head (the missed event gets none);
//! - a reorg removing an event's block: with `reorg_aware` and one confirmation no order, without
//!   it an order for an event the chain no longer has.
//!
//! The drop goes through a small TCP relay in this file (close every connection, refuse new
//! ones until restored), since Anvil cannot drop its own WebSockets.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use common::{processed, Answers, Rig, Series, DEADLINE};

/// Wait (bounded) until `check` holds, re-evaluating it every 50 ms.
async fn until<F, Fut>(what: &str, rig: &Rig, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < DEADLINE,
            "timed out waiting for {what}:\n{}",
            rig.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP relay in front of Anvil that can cut every connection and refuse new ones.
struct Relay {
    url: String,
    refusing: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let url = format!("ws://{}", listener.local_addr().expect("addr"));
        let refusing = Arc::new(AtomicBool::new(false));
        let (cuts, _) = watch::channel(0u64);
        let (refuse, cut) = (Arc::clone(&refusing), cuts.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if refuse.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut = cut.subscribe();
                tokio::spawn(async move {
                    let Ok(mut upstream) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self {
            url,
            refusing,
            cuts,
        }
    }

    /// Close every open connection and refuse new ones.
    fn cut(&self) {
        self.refusing.store(true, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Accept connections again.
    fn restore(&self) {
        self.refusing.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_drop_is_backfilled() {
    websocket_drop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_drop_loses_the_missed_blocks_without_backfill() {
    websocket_drop(false).await;
}

async fn websocket_drop(backfill: bool) {
    let rig = Rig::start(Answers::AcceptOnce).await;
    let target: SocketAddr = rig
        .chain
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("anvil address");
    let relay = Relay::start(target).await;
    let knob = backfill.to_string();
    let _engine = rig.engine(&relay.url, &[("REFERENCE_RECONNECT_BACKFILL", &knob)]);
    let log = || rig.log();
    rig.probe.wait_subscribed(1.0, &log).await;
    rig.chain.mine().await;
    rig.probe.wait_for(&processed(), 1.0, &log).await;

    relay.cut();
    rig.send_ethflow(1).await;
    rig.chain.mine().await;
    rig.chain.mine().await;
    let reconnects = Series::on_chain("shepherd_stream_reconnects_total", &[("kind", "block")]);
    rig.probe.wait_for(&reconnects, 1.0, &log).await;
    relay.restore();
    rig.probe.wait_subscribed(2.0, &log).await;
    let processed = rig.probe.processed().await;
    rig.chain.mine().await;

    let m = |name: &'static str| Series::on_chain(name, &[]);
    if backfill {
        until("the missed order", &rig, || async {
            rig.ethflow_posts().len() == 1
        })
        .await;
        rig.probe
            .wait_for(
                &m("reference_blocks_processed_total"),
                processed + 3.0,
                &log,
            )
            .await;
        assert_eq!(
            rig.probe.get(&m("reference_backfilled_blocks_total")).await,
            2.0
        );
        assert_eq!(
            rig.probe.get(&m("reference_skipped_blocks_total")).await,
            0.0
        );
    } else {
        rig.probe
            .wait_for(
                &m("reference_blocks_processed_total"),
                processed + 1.0,
                &log,
            )
            .await;
        assert_eq!(
            rig.probe.get(&m("reference_skipped_blocks_total")).await,
            2.0
        );
        assert_eq!(
            rig.probe.processed().await,
            processed + 1.0,
            "only the new head"
        );
        assert!(
            rig.ethflow_posts().is_empty(),
            "the event's block was skipped"
        );
    }
    assert_eq!(
        rig.probe.get(&m("reference_backfilled_blocks_total")).await,
        if backfill { 2.0 } else { 0.0 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_cursor_without_reposting() {
    restart(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_without_the_cursor_loses_what_happened_while_down() {
    restart(false).await;
}

async fn restart(persist: bool) {
    let rig = Rig::start(Answers::AcceptOnce).await;
    let knob = persist.to_string();
    let env = [("REFERENCE_PERSIST_CURSOR", knob.as_str())];
    let engine = rig.engine(&rig.ws_url(), &env);
    let log = || rig.log();
    rig.probe.wait_subscribed(1.0, &log).await;
    rig.send_ethflow(1).await;
    rig.chain.mine().await;
    // Handled (and, with the knob, saved) before the kill.
    rig.probe.wait_for(&processed(), 1.0, &log).await;
    assert_eq!(rig.ethflow_posts().len(), 1);

    engine.stop_with(nix::sys::signal::Signal::SIGKILL);
    rig.send_ethflow(2).await;
    rig.chain.mine().await;
    rig.chain.mine().await;

    let _engine = rig.engine(&rig.ws_url(), &env);
    rig.probe.wait_subscribed(1.0, &log).await;
    rig.chain.mine().await;
    let blocks = processed();
    let resumed = rig
        .probe
        .get(&Series::on_chain("reference_resumed_from_block", &[]))
        .await;
    if persist {
        rig.probe.wait_for(&blocks, 3.0, &log).await;
        assert!(resumed > 0.0, "resumed from the cursor");
        let posts = rig.ethflow_posts();
        assert_eq!(
            posts.len(),
            2,
            "the missed order once, the earlier one not again: {posts:#?}"
        );
        assert_ne!(posts[0], posts[1]);
    } else {
        rig.probe.wait_for(&blocks, 1.0, &log).await;
        assert_eq!(resumed, 0.0);
        assert_eq!(rig.probe.processed().await, 1.0, "started at the head");
        assert_eq!(
            rig.ethflow_posts().len(),
            1,
            "the order of the event while down is lost"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_aware_engine_posts_nothing_for_a_removed_event() {
    reorg(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_acting_at_once_posts_for_a_removed_event() {
    reorg(false).await;
}

async fn reorg(aware: bool) {
    let rig = Rig::start(Answers::AcceptOnce).await;
    let knob = aware.to_string();
    let _engine = rig.engine(
        &rig.ws_url(),
        &[
            ("REFERENCE_REORG_AWARE", &knob),
            ("REFERENCE_CONFIRMATIONS", "1"),
        ],
    );
    let log = || rig.log();
    rig.probe.wait_subscribed(1.0, &log).await;
    rig.chain.mine().await;
    rig.chain.mine().await;
    rig.probe.wait_for(&processed(), 1.0, &log).await;

    rig.send_ethflow(1).await;
    rig.chain.mine().await;
    let number = |v: serde_json::Value| {
        u64::from_str_radix(v.as_str().expect("hex").trim_start_matches("0x"), 16).expect("number")
    };
    let event_block = number(rig.chain.rpc("eth_blockNumber", json!([])).await);
    if !aware {
        until("the order at the head", &rig, || async {
            rig.ethflow_posts().len() == 1
        })
        .await;
    }
    // Replace the event's block with an empty one; Anvil drops the transaction.
    rig.chain.rpc("anvil_reorg", json!([1, []])).await;
    let block = rig
        .chain
        .rpc(
            "eth_getBlockByNumber",
            json!([format!("{event_block:#x}"), false]),
        )
        .await;
    assert_eq!(
        block["transactions"],
        json!([]),
        "the event is gone from the chain"
    );
    rig.chain.mine().await;
    rig.chain.mine().await;
    let handled = Series::on_chain("reference_head_block", &[]);
    rig.probe
        .wait_for(&handled, (event_block + 1) as f64, &log)
        .await;

    let posts = rig.ethflow_posts();
    if aware {
        assert!(posts.is_empty(), "no order for a removed event: {posts:#?}");
    } else {
        assert_eq!(
            posts.len(),
            1,
            "the known wrong answer: an order for a removed event"
        );
    }
}
