//! The truth's accounting, rule by rule.

use alloy::primitives::{Address, B256, U256};
use cowprotocol::{OrderData, OrderUid};

use super::*;
use crate::faults::Fault;
use cowload_spec::names;
use cowload_spec::EventKind;

fn key(n: u8) -> OrderKey {
    OrderKey {
        owner: Address::repeat_byte(n),
        sell_token: Address::repeat_byte(0xaa),
        buy_token: Address::repeat_byte(0xbb),
        receiver: Address::ZERO,
        sell_amount: U256::from(1000),
        buy_amount: U256::from(900),
        app_data: cowprotocol::EMPTY_APP_DATA_HASH,
    }
}

fn event(kind: EventKind, block: u64, mined_at: Instant, n: u8) -> ExpectedOrder {
    ExpectedOrder {
        kind,
        block,
        mined_at,
        key: key(n),
        exact: None,
        twap: None,
        tx_hash: B256::repeat_byte(n),
        log_index: 0,
    }
}

fn post(truth: &Truth, n: u8, outcome: PostOutcome, received_at: Instant) {
    truth.observe(Observation {
        key: key(n),
        uid: OrderUid::repeat_byte(n),
        valid_to: 0,
        outcome,
        received_at,
        head: truth.head(),
    });
}

fn received(stats: &Stats, kind: &str, outcome: &str) -> u64 {
    stats.orders_received[kind][outcome]
}

fn invariant_holds(stats: &Stats) {
    for (kind, e) in &stats.events {
        assert_eq!(
            e.registered,
            e.matched + e.lost + e.reorged + e.unjudged + e.awaiting,
            "{kind}: {e:?}"
        );
    }
}

#[test]
fn a_reorg_takes_its_events_back_and_counts_every_order_for_them() {
    let truth = Truth::new(3, &[]);
    let t0 = Instant::now();
    truth.register(vec![
        event(EventKind::EthFlow, 10, t0, 1),
        event(EventKind::EthFlow, 11, t0, 2),
        event(EventKind::EthFlow, 12, t0, 3),
    ]);
    truth.set_head(11);
    // The engine acted at once: event 1 (block 10) has its order before the reorg.
    post(&truth, 1, PostOutcome::Accepted, t0);
    assert_eq!(
        truth.reorg_out(10, 11),
        2,
        "blocks 10 and 11 held two events"
    );
    let s = truth.stats();
    let e = &s.events["ethflow"];
    assert_eq!((e.matched, e.reorged, e.orders_for_reorged), (0, 2, 1));
    invariant_holds(&s);
    // An order for a reorged event after the reorg counts too; a rejected POST does not.
    post(&truth, 2, PostOutcome::Injected(Fault::Http503), t0);
    post(&truth, 2, PostOutcome::Accepted, t0);
    truth.set_head(30);
    truth.finish();
    let s = truth.stats();
    let e = &s.events["ethflow"];
    assert_eq!(
        (
            e.registered,
            e.matched,
            e.lost,
            e.reorged,
            e.orders_for_reorged
        ),
        (3, 0, 1, 2, 2),
        "only the event outside the reorg (block 12) is lost: {e:?}"
    );
    invariant_holds(&s);
    assert_eq!(received(&s, "ethflow", "accepted"), 2);
    let text = truth.render_metrics();
    assert!(text.contains(&format!(
        "{}{{kind=\"ethflow\"}} 2",
        names::ORDERS_FOR_REORGED_EVENTS_TOTAL
    )));
    assert!(text.contains(&format!(
        "{}{{kind=\"ethflow\"}} 2",
        names::EVENTS_REORGED_TOTAL
    )));
    // Taking the same blocks back twice changes nothing.
    assert_eq!(truth.reorg_out(10, 11), 0);
}

#[test]
fn a_reorged_twap_expects_no_more_parts_and_counts_orders_per_part() {
    let truth = Truth::new(3, &[]);
    truth.register(vec![twap_event(Instant::now(), 7)]);
    truth.set_head_at(10, 99);
    post_part(&truth, 7, 1, 100, PostOutcome::Accepted);
    assert_eq!(truth.reorg_out(10, 10), 1);
    assert_eq!(parts(&truth.stats()), (0, 0, 0, 0, 0, 0));
    // Later windows open nothing; a part posted anyway is an order for a reorged event.
    truth.set_head_at(11, 101);
    post_part(&truth, 7, 2, 102, PostOutcome::Accepted);
    truth.set_head_at(20, 120);
    truth.finish();
    let s = truth.stats();
    assert_eq!(parts(&s), (0, 0, 0, 0, 0, 0));
    let t = &s.events["twap"];
    assert_eq!((t.reorged, t.orders_for_reorged, t.lost), (1, 2, 0));
    invariant_holds(&s);
}

#[test]
fn a_span_counts_reorged_events_apart_from_lost_ones() {
    let truth = Truth::new(3, &[]);
    let t0 = Instant::now();
    truth.register(vec![
        event(EventKind::EthFlow, 10, t0, 1),
        event(EventKind::EthFlow, 10, t0, 2),
    ]);
    post(&truth, 1, PostOutcome::Accepted, t0);
    truth.reorg_out(10, 10);
    truth.finish();
    let span = truth.span((10, 10), t0, None, None);
    assert_eq!(
        (
            span.events,
            span.lost,
            span.reorged,
            span.orders_for_reorged
        ),
        (2, 0, 2, 1)
    );
}

/// A fault's span: its blocks' events (lost ones counted), the
/// duplicates received in its window, the first acceptance after its end.
#[test]
fn a_span_reports_its_events_losses_duplicates_and_recovery() {
    let truth = Truth::new(2, &[]);
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    for (block, n) in [(10, 1), (11, 2), (12, 3)] {
        truth.register(vec![event(EventKind::EthFlow, block, t0, n)]);
        truth.set_head(block);
    }
    post(&truth, 1, PostOutcome::Accepted, at(500));
    post(&truth, 2, PostOutcome::Accepted, at(3000));
    post(&truth, 2, PostOutcome::Duplicate, at(4000));
    post(&truth, 1, PostOutcome::Duplicate, at(900));
    // Block 12's deadline (14) is the run's last block: due, and lost at the end.
    truth.set_head(14);
    truth.finish();
    let span = truth.span((11, 12), at(1000), None, Some(at(2000)));
    assert_eq!(
        span,
        SpanTruth {
            events: 2,
            lost: 1,
            duplicates: 1,
            recovery_seconds: Some(1.0),
            ..SpanTruth::default()
        }
    );
    // The window ends where the next fault starts; no acceptance after the end: no recovery.
    let early = truth.span((10, 10), at(0), Some(at(1000)), Some(at(5000)));
    assert_eq!((early.events, early.lost, early.duplicates), (1, 0, 1));
    assert_eq!(early.recovery_seconds, None);
}

#[test]
fn first_accepted_order_matches_and_records_latency_and_blocks() {
    let truth = Truth::new(2, &[]);
    let t0 = Instant::now();
    truth.register(vec![event(EventKind::Twap, 10, t0, 1)]);
    truth.set_head(10);
    truth.set_head(11);
    post(
        &truth,
        1,
        PostOutcome::Injected(Fault::parse("InsufficientFee").unwrap()),
        t0,
    );
    post(
        &truth,
        1,
        PostOutcome::Accepted,
        t0 + Duration::from_millis(1500),
    );
    let s = truth.stats();
    let twap = &s.events["twap"];
    assert_eq!(
        (twap.registered, twap.matched, twap.lost, twap.awaiting),
        (1, 1, 0, 0)
    );
    assert_eq!(twap.latency_seconds.count, 1);
    assert!(
        (twap.latency_seconds.p50 - 1.5).abs() < 0.01,
        "{:?}",
        twap.latency_seconds
    );
    assert_eq!(twap.blocks.max, 1.0);
    assert_eq!(twap.posts_per_event.max, 2.0);
    assert_eq!(received(&s, "twap", "accepted"), 1);
    assert_eq!(received(&s, "twap", "InsufficientFee"), 1);
    assert_eq!(s.posts, 2);
    invariant_holds(&s);
}

/// A TWAP created in block 10 (mined at time 100): t0 = 99, 3 parts of 2 s, so part i
/// runs from 99 + 2i to 100 + 2i and carries validTo 100 + 2i.
/// A complete order as an event could require it.
fn exact_order() -> ExactOrder {
    ExactOrder {
        order: OrderData {
            sell_token: Address::repeat_byte(1),
            buy_token: Address::repeat_byte(2),
            receiver: Some(Address::repeat_byte(3)),
            sell_amount: U256::from(10u64),
            buy_amount: U256::from(1u64),
            valid_to: u32::MAX,
            app_data: B256::ZERO,
            fee_amount: U256::ZERO,
            kind: cowprotocol::OrderKind::Sell,
            partially_fillable: false,
            sell_token_balance: cowprotocol::SellTokenSource::Erc20,
            buy_token_balance: cowprotocol::BuyTokenDestination::Erc20,
        },
        owner: Address::repeat_byte(4),
        domain: cowprotocol::settlement_domain(11_155_111, cowprotocol::GPV2_SETTLEMENT),
    }
}

#[test]
fn a_twap_part_must_be_the_exact_order_of_that_part() {
    let truth = Truth::new(3, &[]);
    let mut e = twap_event(Instant::now(), 1);
    let required = exact_order();
    let part_1 = required.uid(Some(102));
    e.exact = Some(required);
    truth.register(vec![e]);
    truth.set_head_at(10, 101);
    // Part 1's window, but not part 1's order (say a fee the handler never sets).
    truth.observe(Observation {
        key: key(1),
        uid: OrderUid::repeat_byte(9),
        valid_to: 102,
        outcome: PostOutcome::Accepted,
        received_at: Instant::now(),
        head: truth.head(),
    });
    truth.observe(Observation {
        key: key(1),
        uid: part_1,
        valid_to: 102,
        outcome: PostOutcome::Accepted,
        received_at: Instant::now(),
        head: truth.head(),
    });
    let s = truth.stats();
    assert_eq!(received(&s, "twap", "mismatched"), 1);
    assert_eq!(received(&s, "twap", "accepted"), 1);
}

fn twap_event(t0: Instant, n: u8) -> ExpectedOrder {
    let mut e = event(EventKind::Twap, 10, t0, n);
    e.twap = Some(TwapSchedule { t0: 99, n: 3, t: 2 });
    e
}

fn post_part(truth: &Truth, n: u8, uid: u8, valid_to: u64, outcome: PostOutcome) {
    truth.observe(Observation {
        key: key(n),
        uid: OrderUid::repeat_byte(uid),
        valid_to,
        outcome,
        received_at: Instant::now(),
        head: truth.head(),
    });
}

fn parts(s: &Stats) -> (u64, u64, u64, u64, u64, u64) {
    let t = &s.events["twap"];
    (
        t.parts_expected,
        t.parts_matched,
        t.parts_missing,
        t.parts_late,
        t.parts_duplicate,
        t.parts_awaiting,
    )
}

#[test]
fn schedule_attributes_valid_to_to_its_part_window() {
    let s = TwapSchedule { t0: 99, n: 3, t: 2 };
    assert_eq!(
        (0..3).map(|i| s.part_valid_to(i)).collect::<Vec<_>>(),
        [100, 102, 104]
    );
    assert_eq!(s.part_of(98), None);
    assert_eq!(s.part_of(99), Some(0));
    assert_eq!(s.part_of(100), Some(0));
    assert_eq!(s.part_of(101), Some(1));
    assert_eq!(s.part_of(104), Some(2));
    assert_eq!(s.part_of(105), None, "after the last part");
}

#[test]
fn every_twap_part_that_opens_needs_its_own_order() {
    let truth = Truth::new(1, &[]);
    let t0 = Instant::now();
    truth.register(vec![twap_event(t0, 1)]);
    truth.set_head_at(10, 100);
    assert_eq!(parts(&truth.stats()), (1, 0, 0, 0, 0, 1), "part 0 opens");
    post_part(&truth, 1, 0xa0, 100, PostOutcome::Accepted);
    truth.set_head_at(11, 101);
    // Part 1 (validTo 102): a rejected POST, then the accepted one.
    post_part(
        &truth,
        1,
        0xa1,
        102,
        PostOutcome::Injected(Fault::parse("Http500").unwrap()),
    );
    post_part(&truth, 1, 0xa1, 102, PostOutcome::Accepted);
    let s = truth.stats();
    assert_eq!(parts(&s), (2, 2, 0, 0, 0, 0));
    let twap = &s.events["twap"];
    assert_eq!(twap.matched, 1, "the event is matched once, by part 0");
    assert_eq!(
        twap.latency_seconds.count, 1,
        "later parts are not the first"
    );
    assert_eq!(twap.posts_per_event.count, 2, "posts are counted per part");
    assert_eq!(twap.posts_per_event.max, 2.0);
    // Part 2 opens at 103 and gets no order: missing once the head passes 12 + 1.
    truth.set_head_at(12, 102);
    truth.set_head_at(13, 103);
    assert_eq!(parts(&truth.stats()), (3, 2, 0, 0, 0, 1));
    truth.set_head_at(14, 104);
    assert_eq!(
        parts(&truth.stats()),
        (3, 2, 0, 0, 0, 1),
        "deadline not past"
    );
    truth.set_head_at(15, 105);
    assert_eq!(parts(&truth.stats()), (3, 2, 1, 0, 0, 0));
    // Its order after the deadline: late, still missing.
    post_part(&truth, 1, 0xa2, 104, PostOutcome::Accepted);
    let s = truth.stats();
    assert_eq!(parts(&s), (3, 2, 1, 1, 0, 0));
    assert_eq!(received(&s, "twap", "accepted"), 3);
    assert_eq!(s.events["twap"].lost, 0);
    let text = truth.render_metrics();
    for line in [
        "cowload_twap_parts_total{outcome=\"expected\"} 3",
        "cowload_twap_parts_total{outcome=\"matched\"} 2",
        "cowload_twap_parts_total{outcome=\"missing\"} 1",
        "cowload_twap_parts_total{outcome=\"late\"} 1",
        "cowload_twap_parts_total{outcome=\"duplicate\"} 0",
        "cowload_twap_parts_awaiting_order 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }
}

#[test]
fn a_second_order_for_a_part_is_a_duplicate_part_and_the_same_uid_is_not() {
    let truth = Truth::new(5, &[]);
    let t0 = Instant::now();
    truth.register(vec![twap_event(t0, 1)]);
    truth.set_head_at(10, 100);
    post_part(&truth, 1, 0xa0, 100, PostOutcome::Accepted);
    // The same UID again is refused by the API (DuplicatedOrder): not a second order.
    post_part(&truth, 1, 0xa0, 100, PostOutcome::Duplicate);
    assert_eq!(parts(&truth.stats()), (1, 1, 0, 0, 0, 0));
    // Another UID in the same window (validTo − 1): a second order for part 0.
    post_part(&truth, 1, 0xb0, 99, PostOutcome::Accepted);
    let s = truth.stats();
    assert_eq!(parts(&s), (1, 1, 0, 0, 1, 0));
    assert_eq!(s.events["twap"].matched, 1);
    assert_eq!(received(&s, "twap", "accepted"), 2);
    assert_eq!(received(&s, "twap", "duplicate"), 1);
}

#[test]
fn a_twap_order_outside_every_part_window_is_mismatched() {
    let truth = Truth::new(1, &[]);
    let t0 = Instant::now();
    truth.register(vec![twap_event(t0, 1)]);
    truth.set_head_at(10, 100);
    post_part(&truth, 1, 0xa0, 105, PostOutcome::Accepted);
    post_part(&truth, 1, 0xa1, 98, PostOutcome::Accepted);
    truth.set_head_at(12, 102);
    let s = truth.stats();
    assert_eq!(received(&s, "twap", "mismatched"), 2);
    assert_eq!(received(&s, "twap", "accepted"), 0);
    assert_eq!(s.events["twap"].lost, 1);
    // Part 0 missing; part 1 opened at head 12.
    assert_eq!(parts(&s), (2, 0, 1, 0, 0, 1));
}

#[test]
fn an_order_for_a_part_the_mock_has_not_opened_yet_opens_it() {
    let truth = Truth::new(1, &[]);
    let t0 = Instant::now();
    truth.register(vec![twap_event(t0, 1)]);
    truth.set_head_at(10, 100);
    // The engine saw block 11 (time 101) before the runner told the mock.
    post_part(&truth, 1, 0xa1, 102, PostOutcome::Accepted);
    assert_eq!(parts(&truth.stats()), (2, 1, 0, 0, 0, 1));
    truth.set_head_at(11, 101);
    truth.set_head_at(13, 103);
    // Part 1 is not opened twice; part 2 opened at 13; part 0 missed its deadline.
    assert_eq!(parts(&truth.stats()), (3, 1, 1, 0, 0, 1));
    truth.finish();
    let s = truth.stats();
    // Part 2's deadline (14) lies after the last block (13): not due, unjudged.
    assert_eq!(s.events["twap"].parts_unjudged, 1);
    assert_eq!(
        parts(&s),
        (3, 1, 1, 0, 0, 0),
        "finish judges what was due and leaves the rest unjudged"
    );
    assert_eq!(s.events["twap"].lost, 1, "part 0 is the event's order");
}

#[test]
fn parts_opening_after_the_run_are_not_expected() {
    let truth = Truth::new(1, &[]);
    let t0 = Instant::now();
    let mut e = twap_event(t0, 1);
    e.twap = Some(TwapSchedule {
        t0: 99,
        n: 10,
        t: 60,
    });
    truth.register(vec![e]);
    truth.set_head_at(10, 100);
    post_part(&truth, 1, 0xa0, 158, PostOutcome::Accepted);
    truth.set_head_at(11, 101);
    truth.finish();
    assert_eq!(parts(&truth.stats()), (1, 1, 0, 0, 0, 0));
}

#[test]
fn identical_twap_keys_share_parts_in_registration_order() {
    let truth = Truth::new(5, &[]);
    let t0 = Instant::now();
    truth.register(vec![twap_event(t0, 1), twap_event(t0, 1)]);
    truth.set_head_at(10, 100);
    post_part(&truth, 1, 0xa0, 100, PostOutcome::Accepted);
    post_part(&truth, 1, 0xa1, 100, PostOutcome::Accepted);
    let s = truth.stats();
    assert_eq!(s.events["twap"].matched, 2);
    assert_eq!(parts(&s), (2, 2, 0, 0, 0, 0));
    post_part(&truth, 1, 0xa2, 100, PostOutcome::Accepted);
    assert_eq!(parts(&truth.stats()), (2, 2, 0, 0, 1, 0));
}

#[test]
fn every_lost_event_and_missing_part_gets_its_reason_when_final() {
    let truth = Truth::new(0, &["InsufficientFee".to_owned()]);
    let t0 = Instant::now();
    truth.register(vec![
        event(EventKind::EthFlow, 1, t0, 1), // never posted
        event(EventKind::EthFlow, 1, t0, 2), // 5xx, then gave up
        event(EventKind::EthFlow, 1, t0, 3), // retried a 429 into a permanent rejection
        event(EventKind::EthFlow, 1, t0, 4), // rate-limited, gave up
        event(EventKind::EthFlow, 1, t0, 5), // order after the deadline
        twap_event(t0, 6),                   // part 0 rejected; parts 1, 2 never posted
    ]);
    truth.set_head_at(1, 100);
    post(
        &truth,
        2,
        PostOutcome::Injected(Fault::parse("Http500").unwrap()),
        t0,
    );
    post(
        &truth,
        3,
        PostOutcome::Injected(Fault::parse("Http429").unwrap()),
        t0,
    );
    post(
        &truth,
        3,
        PostOutcome::Injected(Fault::parse("InsufficientFee").unwrap()),
        t0,
    );
    post(&truth, 4, PostOutcome::RateLimited, t0);
    post_part(
        &truth,
        6,
        0xc0,
        100,
        PostOutcome::Injected(Fault::parse("InvalidSignature").unwrap()),
    );
    truth.set_head_at(3, 104);
    let s = truth.stats();
    assert_eq!(s.events["ethflow"].lost, 5);
    assert_eq!(
        s.events["ethflow"].lost_reasons.values().sum::<u64>(),
        0,
        "reasons are final only at arrival or at the end"
    );
    post(&truth, 5, PostOutcome::Accepted, t0);
    assert_eq!(truth.stats().events["ethflow"].lost_reasons["late"], 1);
    // The run ends at block 10, the deadline of the TWAP (block 10) and of its part 0.
    truth.set_head_at(10, 110);
    truth.finish();
    let s = truth.stats();
    let reasons = &s.events["ethflow"].lost_reasons;
    for (reason, count) in [
        ("never_posted", 1),
        ("gave_up_on_retryable", 2),
        ("rejected", 1),
        ("mismatched", 0),
        ("late", 1),
    ] {
        assert_eq!(reasons[reason], count, "{reason}: {reasons:?}");
    }
    assert_eq!(reasons.values().sum::<u64>(), s.events["ethflow"].lost);
    let twap = &s.events["twap"];
    assert_eq!(twap.lost_reasons["rejected"], 1, "{twap:?}");
    assert_eq!(twap.parts_missing, 3);
    assert_eq!(twap.parts_missing_reasons["rejected"], 1);
    assert_eq!(twap.parts_missing_reasons["never_posted"], 2);
    let text = truth.render_metrics();
    for line in [
        "cowload_events_lost_reason_total{kind=\"ethflow\",reason=\"gave_up_on_retryable\"} 2",
        "cowload_events_lost_reason_total{kind=\"ethflow\",reason=\"late\"} 1",
        "cowload_events_lost_reason_total{kind=\"twap\",reason=\"rejected\"} 1",
        "cowload_twap_parts_missing_reason_total{reason=\"never_posted\"} 2",
        "cowload_events_lost_total{kind=\"ethflow\"} 5",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }
}

#[test]
fn events_without_orders_are_lost_after_the_deadline_and_late_orders_still_count() {
    let truth = Truth::new(2, &[]);
    let t0 = Instant::now();
    truth.register(vec![
        event(EventKind::EthFlow, 5, t0, 1),
        event(EventKind::EthFlow, 5, t0, 2),
    ]);
    truth.set_head(5);
    truth.set_head(7); // 5 + 2 is not yet behind the head
    assert_eq!(truth.stats().events["ethflow"].lost, 0);
    post(
        &truth,
        1,
        PostOutcome::Accepted,
        t0 + Duration::from_secs(2),
    );
    truth.set_head(8);
    let s = truth.stats();
    let e = &s.events["ethflow"];
    assert_eq!(
        (e.registered, e.matched, e.lost, e.awaiting, e.late),
        (2, 1, 1, 0, 0)
    );
    post(
        &truth,
        2,
        PostOutcome::Accepted,
        t0 + Duration::from_secs(9),
    );
    let s = truth.stats();
    let e = &s.events["ethflow"];
    assert_eq!((e.matched, e.lost, e.late), (1, 1, 1));
    assert_eq!(e.latency_seconds.count, 2, "late latency is recorded");
    assert_eq!(e.blocks.max, 3.0);
    invariant_holds(&s);
}

/// An orderbook outage judges nothing while it holds; what still awaits its order when it
/// ends gets the full deadline from the outage's last block, and its line says so.
#[test]
fn an_outage_holds_every_deadline_and_restarts_the_unmet_ones_from_its_end() {
    let truth = Truth::new(2, &[]);
    let t0 = Instant::now();
    truth.register(vec![
        event(EventKind::EthFlow, 5, t0, 1),
        event(EventKind::EthFlow, 6, t0, 2),
        event(EventKind::EthFlow, 6, t0, 3),
    ]);
    truth.register(vec![twap_event(t0, 4)]);
    truth.set_head_at(6, 100);
    truth.hold_deadlines();
    // Far past every deadline (5 + 2, 6 + 2, part 0's 10 + 2), and nothing is lost.
    truth.set_head_at(12, 106);
    let s = truth.stats();
    assert_eq!(s.events["ethflow"].lost, 0);
    assert_eq!(parts(&s).2, 0, "no part missing");
    post(&truth, 1, PostOutcome::Accepted, t0);
    truth.release_deadlines(12);
    truth.set_head_at(14, 108);
    let s = truth.stats();
    assert_eq!(
        (s.events["ethflow"].matched, s.events["ethflow"].lost),
        (1, 0),
        "12 + 2 is not behind 14"
    );
    truth.set_head_at(15, 109);
    let s = truth.stats();
    assert_eq!(s.events["ethflow"].lost, 2, "the unmet ones, from 12 + 2");
    assert_eq!(s.events["twap"].lost, 1);
    invariant_holds(&s);
    truth.finish();
    let mut deadlines = Vec::new();
    truth.each_order_line(|line| deadlines.push((line.block, line.deadline_block)));
    assert!(
        deadlines.contains(&(5, 7)),
        "matched before the end keeps its own: {deadlines:?}"
    );
    assert!(deadlines.contains(&(6, 14)), "{deadlines:?}");
}

#[test]
fn posts_before_registration_match_when_the_event_arrives() {
    let truth = Truth::new(3, &[]);
    let t0 = Instant::now();
    truth.set_head(9);
    // The engine saw block 10 before the runner registered it.
    post(
        &truth,
        1,
        PostOutcome::Accepted,
        t0 + Duration::from_millis(5),
    );
    assert_eq!(truth.stats().pending_posts, 1);
    truth.register(vec![event(EventKind::Twap, 10, t0, 1)]);
    truth.set_head(10);
    let s = truth.stats();
    assert_eq!(s.pending_posts, 0);
    assert_eq!(s.unmatched_orders, 0);
    assert_eq!(s.events["twap"].matched, 1);
    assert_eq!(s.events["twap"].blocks.max, 0.0);
    assert_eq!(received(&s, "twap", "accepted"), 1);
}

#[test]
fn posts_waiting_on_one_key_are_classified_in_receipt_order() {
    let truth = Truth::new(3, &[]);
    let t0 = Instant::now();
    truth.set_head(9);
    let at = |ms| t0 + Duration::from_millis(ms);
    post(&truth, 1, PostOutcome::Injected(Fault::Http500), at(5));
    post(&truth, 1, PostOutcome::Injected(Fault::Http503), at(6));
    post(&truth, 1, PostOutcome::Accepted, at(7));
    assert_eq!(truth.stats().pending_posts, 3);
    truth.register(vec![event(EventKind::EthFlow, 10, t0, 1)]);
    truth.set_head(10);
    let s = truth.stats();
    assert_eq!(s.pending_posts, 0);
    assert_eq!(s.events["ethflow"].matched, 1);
    // Taken in receipt order, the accepted POST is the third the event took, 7 ms after
    // the block was mined.
    assert_eq!(s.events["ethflow"].posts_per_event.max, 3.0);
    let latency = s.events["ethflow"].latency_seconds.max;
    assert!((latency - 0.007).abs() < 1e-4, "{latency}");
    for outcome in ["Http500", "Http503", "accepted"] {
        assert_eq!(received(&s, "ethflow", outcome), 1, "{outcome}");
    }
    invariant_holds(&s);
}

#[test]
fn posts_matching_nothing_become_unmatched_at_the_next_head() {
    let truth = Truth::new(3, &[]);
    let t0 = Instant::now();
    truth.set_head(4);
    post(&truth, 9, PostOutcome::Accepted, t0);
    post(
        &truth,
        9,
        PostOutcome::Injected(Fault::parse("WrongOwner").unwrap()),
        t0,
    );
    truth.observe_invalid();
    let s = truth.stats();
    assert_eq!(s.unmatched_orders, 0, "still pending");
    assert_eq!(received(&s, UNMATCHED, "invalid"), 1);
    truth.set_head(5);
    let s = truth.stats();
    assert_eq!(s.unmatched_orders, 1);
    assert_eq!(s.pending_posts, 0);
    assert_eq!(received(&s, UNMATCHED, "accepted"), 1);
    assert_eq!(received(&s, UNMATCHED, "WrongOwner"), 1);
    assert_eq!(s.posts, 3);
}

#[test]
fn identical_keys_match_events_in_registration_order() {
    let truth = Truth::new(10, &[]);
    let t0 = Instant::now();
    truth.register(vec![
        event(EventKind::Twap, 1, t0, 1),
        event(EventKind::Twap, 1, t0, 1),
    ]);
    truth.set_head(1);
    post(&truth, 1, PostOutcome::Accepted, t0);
    assert_eq!(truth.stats().events["twap"].matched, 1);
    post(&truth, 1, PostOutcome::Accepted, t0);
    let s = truth.stats();
    assert_eq!(s.events["twap"].matched, 2);
    assert_eq!(s.events["twap"].awaiting, 0);
}

/// Nothing is judged before its deadline. The run's last block is 3; an event
/// due by then is lost at the end, one whose deadline lies after it is unjudged, and POSTs
/// after the end are traced but change no verdict.
#[test]
fn finish_judges_what_was_due_and_leaves_the_rest_unjudged() {
    let truth = Truth::new(2, &[]);
    let t0 = Instant::now();
    truth.register(vec![event(EventKind::EthFlow, 1, t0, 1)]);
    truth.set_head(1);
    truth.register(vec![event(EventKind::EthFlow, 3, t0, 3)]);
    truth.set_head(3);
    post(&truth, 9, PostOutcome::Accepted, t0);
    truth.finish();
    let s = truth.stats();
    let ethflow = &s.events["ethflow"];
    assert_eq!(
        (ethflow.lost, ethflow.unjudged, ethflow.awaiting),
        (1, 1, 0)
    );
    assert_eq!(ethflow.lost_reasons["never_posted"], 1, "only the due one");
    assert_eq!(
        s.unmatched_orders, 1,
        "a pending POST is unmatched at the end"
    );
    assert_eq!(s.head, 3, "the head stays the last block");
    post(&truth, 3, PostOutcome::Accepted, t0);
    post(&truth, 1, PostOutcome::Accepted, t0);
    let after = truth.stats();
    assert_eq!(
        after.events["ethflow"], *ethflow,
        "nothing judged after the end"
    );
    let text = truth.render_metrics();
    assert!(
        text.contains("cowload_events_unjudged_total{kind=\"ethflow\"} 1"),
        "{text}"
    );
    invariant_holds(&after);
}

/// The unjudged parts of a TWAP are counted as such, never as missing.
#[test]
fn twap_parts_not_yet_due_at_the_end_are_unjudged_not_missing() {
    let truth = Truth::new(2, &[]);
    let t0 = Instant::now();
    truth.register(vec![twap_event(t0, 1)]);
    // Part 0 opened at 10 (deadline 12) and is posted; part 1 opens at 11 (deadline 13),
    // part 2 at 13 (deadline 15). The run ends at 13.
    truth.set_head_at(10, 100);
    post_part(&truth, 1, 0xa0, 100, PostOutcome::Accepted);
    truth.set_head_at(11, 101);
    truth.set_head_at(13, 103);
    truth.finish();
    let s = truth.stats();
    let twap = &s.events["twap"];
    assert_eq!(
        (twap.parts_matched, twap.parts_missing, twap.parts_unjudged),
        (1, 1, 1),
        "part 1 was due by the last block; part 2 was not: {twap:?}"
    );
    let text = truth.render_metrics();
    for line in [
        "cowload_twap_parts_total{outcome=\"unjudged\"} 1",
        "cowload_twap_parts_total{outcome=\"missing\"} 1",
        "cowload_twap_parts_awaiting_order 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }
}

#[test]
fn app_data_registry_serves_empty_and_registered_documents() {
    let truth = Truth::new(1, &[]);
    assert_eq!(
        truth.app_data(&cowprotocol::EMPTY_APP_DATA_HASH).as_deref(),
        Some("{}")
    );
    let doc = r#"{"appCode":"cowload"}"#.to_owned();
    let hash = truth.register_app_data(doc.clone());
    assert_eq!(hash, keccak256(doc.as_bytes()));
    assert_eq!(truth.app_data(&hash), Some(doc));
    assert_eq!(truth.app_data(&B256::repeat_byte(7)), None);
}

#[test]
fn an_accepted_post_of_the_wrong_order_is_mismatched_never_matched() {
    let truth = Truth::new(1, &[]);
    let t0 = Instant::now();
    let mut exact = event(EventKind::EthFlow, 3, t0, 1);
    let required = exact_order();
    let uid = required.uid(None);
    exact.exact = Some(required);
    truth.register(vec![exact]);
    truth.set_head(3);
    // Same key, another UID (say validTo off by one): accepted by the API, not the order.
    post(&truth, 1, PostOutcome::Accepted, t0);
    truth.set_head(5);
    let s = truth.stats();
    assert_eq!(received(&s, "ethflow", "mismatched"), 1);
    assert_eq!(received(&s, "ethflow", "accepted"), 0);
    assert_eq!(s.events["ethflow"].matched, 0);
    assert_eq!(s.events["ethflow"].lost, 1);
    let text = truth.render_metrics();
    assert!(
        text.lines()
            .any(|l| l == "cowload_orders_mismatched_total{kind=\"ethflow\"} 1"),
        "{text}"
    );
    // The exact order still counts, late.
    truth.observe(Observation {
        key: key(1),
        uid,
        valid_to: 0,
        outcome: PostOutcome::Accepted,
        received_at: t0,
        head: truth.head(),
    });
    let s = truth.stats();
    assert_eq!(received(&s, "ethflow", "accepted"), 1);
    assert_eq!(s.events["ethflow"].late, 1);
    invariant_holds(&s);
}

#[test]
fn metrics_exist_for_both_kinds_before_any_event() {
    let truth = Truth::new(1, &["InsufficientFee".to_owned()]);
    let text = truth.render_metrics();
    for line in [
        "cowload_orders_received_total{kind=\"twap\",outcome=\"accepted\"} 0",
        "cowload_orders_received_total{kind=\"ethflow\",outcome=\"InsufficientFee\"} 0",
        "cowload_orders_received_total{kind=\"unmatched\",outcome=\"invalid\"} 0",
        "cowload_orders_accepted_total 0",
        "cowload_events_registered_total{kind=\"twap\"} 0",
        "cowload_events_matched_total{kind=\"ethflow\"} 0",
        "cowload_events_lost_total{kind=\"twap\"} 0",
        "cowload_events_awaiting_order{kind=\"ethflow\"} 0",
        "cowload_event_to_order_seconds_bucket{kind=\"twap\",le=\"0.005\"} 0",
        "cowload_event_to_order_blocks_bucket{kind=\"ethflow\",le=\"50\"} 0",
        "cowload_order_posts_per_event_count{kind=\"twap\"} 0",
        "cowload_mock_requests_total{route=\"/api/v1/orders\",status=\"201\"} 0",
        "cowload_mock_request_duration_seconds_count{route=\"/api/v1/orders\"} 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }
}

/// A truth with a TWAP (key 1) and an EthFlow (key 2) event in block 3, head at 3.
fn two_events_in_block_3(deadline: u64) -> (Truth, Instant) {
    let truth = Truth::new(deadline, &[]);
    let t0 = Instant::now();
    truth.register(vec![
        event(EventKind::Twap, 3, t0, 1),
        event(EventKind::EthFlow, 3, t0, 2),
    ]);
    truth.set_head(3);
    (truth, t0)
}

#[test]
fn exact_samples_are_handed_over_per_kind_exactly_once() {
    let (truth, t0) = two_events_in_block_3(3);
    post(
        &truth,
        1,
        PostOutcome::Accepted,
        t0 + Duration::from_millis(123),
    );
    post(
        &truth,
        1,
        PostOutcome::Duplicate,
        t0 + Duration::from_millis(500),
    );
    post(
        &truth,
        2,
        PostOutcome::Accepted,
        t0 + Duration::from_millis(40),
    );
    let taken = truth.take_exact_samples();
    let seconds = |kind| {
        taken[kind]
            .get(ExactHistogram::EventToOrderSeconds)
            .to_vec()
    };
    assert_eq!(seconds(EventKind::Twap), vec![0.123]);
    assert_eq!(seconds(EventKind::EthFlow), vec![0.04]);
    for kind in EventKind::ALL {
        // One POST each up to the first acceptance, in the event's own block.
        assert_eq!(taken[kind].get(ExactHistogram::OrderPostsPerEvent), [1.0]);
        assert_eq!(taken[kind].get(ExactHistogram::EventToOrderBlocks), [0.0]);
    }
    let again = truth.take_exact_samples();
    assert!(again.values().all(ExactSamples::is_empty));
}

#[test]
fn metrics_follow_the_accounting() {
    let (truth, t0) = two_events_in_block_3(0);
    post(
        &truth,
        1,
        PostOutcome::Accepted,
        t0 + Duration::from_millis(300),
    );
    post(&truth, 9, PostOutcome::Accepted, t0);
    post(&truth, 1, PostOutcome::Duplicate, t0);
    truth.set_head(4);
    let text = truth.render_metrics();
    for line in [
        // Both accepted posts (one matches no event), not the duplicate.
        "cowload_orders_accepted_total 2",
        "cowload_events_registered_total{kind=\"twap\"} 1",
        "cowload_events_matched_total{kind=\"twap\"} 1",
        "cowload_events_lost_total{kind=\"ethflow\"} 1",
        "cowload_event_to_order_seconds_bucket{kind=\"twap\",le=\"0.25\"} 0",
        "cowload_event_to_order_seconds_bucket{kind=\"twap\",le=\"0.5\"} 1",
        "cowload_event_to_order_blocks_bucket{kind=\"twap\",le=\"0\"} 1",
        "cowload_order_posts_per_event_bucket{kind=\"twap\",le=\"1\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }
}

fn lines(truth: &Truth) -> Vec<OrderLine> {
    let mut all = Vec::new();
    truth.each_order_line(|line| all.push(line));
    all
}

fn exact_event(block: u64, mined_at: Instant, n: u8) -> (ExpectedOrder, OrderUid) {
    let mut e = event(EventKind::EthFlow, block, mined_at, n);
    let required = exact_order();
    let uid = required.uid(None);
    e.exact = Some(required);
    e.log_index = 7;
    (e, uid)
}

/// A lost order's line names its transaction, says why it was lost and lists what
/// the engine asked for it, in order: here two 503s, a lookup of its UID, then nothing.
#[test]
fn a_lost_orders_line_lists_the_answers_it_got_in_order() {
    let truth = Truth::new(1, &["InsufficientFee".to_owned()]);
    let t0 = Instant::now();
    let (e, uid) = exact_event(3, t0, 1);
    truth.register(vec![e]);
    truth.set_head(3);
    let at = |ms| t0 + Duration::from_millis(ms);
    let post_exact = |outcome, received_at| {
        truth.observe(Observation {
            key: key(1),
            uid,
            valid_to: 0,
            outcome,
            received_at,
            head: truth.head(),
        })
    };
    post_exact(PostOutcome::Injected(Fault::Http503), at(100));
    post_exact(PostOutcome::Injected(Fault::Http503), at(300));
    truth.observe_get(&uid, false, at(200));
    truth.observe_get(&OrderUid::repeat_byte(0xee), false, at(250));
    truth.set_head(5);
    truth.finish();
    let all = lines(&truth);
    assert_eq!(all.len(), 1);
    let line = &all[0];
    assert_eq!(line.tx, B256::repeat_byte(1));
    assert_eq!((line.block, line.log_index), (3, 7));
    assert_eq!(line.owner, key(1).owner);
    assert_eq!(line.uid, Some(uid));
    assert_eq!(line.deadline_block, 4);
    assert_eq!(line.outcome, OrderOutcome::Lost);
    assert_eq!(line.reason, Some(LossReason::GaveUpOnRetryable));
    assert_eq!(line.first_accepted, None);
    let answers: Vec<(Route, &str, Option<u16>, f64)> = line
        .requests
        .iter()
        .map(|r| (r.route, r.answer.as_str(), r.status, r.seconds_after_event))
        .collect();
    assert_eq!(
        answers,
        [
            (Route::PostOrder, "Http503", Some(503), 0.1),
            (Route::GetOrder, "not_found", Some(404), 0.2),
            (Route::PostOrder, "Http503", Some(503), 0.3),
        ],
        "a GET of another UID is no request for this order"
    );
    assert_eq!(line.requests_total, 3);
    assert!(line.is_order());
}

/// A line per event and per opened part; the TWAP event's line is its part 0's order, and an
/// accepted order with another UID makes a mismatched line naming the UID posted.
#[test]
fn every_event_and_every_opened_part_gets_a_line() {
    let truth = Truth::new(2, &[]);
    let t0 = Instant::now();
    let mut twap = twap_event(t0, 1);
    twap.exact = Some(exact_order());
    let (ethflow, _) = exact_event(10, t0, 2);
    truth.register(vec![twap, ethflow]);
    truth.set_head_at(10, 100);
    let part0 = exact_order().uid(Some(100));
    truth.observe(Observation {
        key: key(1),
        uid: part0,
        valid_to: 100,
        outcome: PostOutcome::Accepted,
        received_at: t0 + Duration::from_millis(400),
        head: 10,
    });
    // EthFlow: accepted, but not the order owed.
    post(
        &truth,
        2,
        PostOutcome::Accepted,
        t0 + Duration::from_millis(50),
    );
    truth.set_head_at(11, 101);
    truth.set_head_at(14, 103);
    truth.finish();
    let all = lines(&truth);
    let shape: Vec<(EventKind, Option<u64>, OrderOutcome)> =
        all.iter().map(|l| (l.kind, l.part, l.outcome)).collect();
    assert_eq!(
        shape,
        [
            (EventKind::Twap, None, OrderOutcome::Matched),
            (EventKind::Twap, Some(0), OrderOutcome::Matched),
            (EventKind::Twap, Some(1), OrderOutcome::Lost),
            (EventKind::Twap, Some(2), OrderOutcome::Unjudged),
            (EventKind::EthFlow, None, OrderOutcome::Mismatched),
        ]
    );
    let (event, p0, p1, p2, eth) = (&all[0], &all[1], &all[2], &all[3], &all[4]);
    assert_eq!(
        event.uid,
        Some(part0),
        "the event is owed its part 0's order"
    );
    assert_eq!(event.requests, p0.requests);
    assert_eq!(
        event.first_accepted,
        Some(FirstAccepted {
            head_block: 10,
            seconds_after_event: 0.4
        })
    );
    assert!(!event.is_order() && p0.is_order());
    assert_eq!(
        p1.window,
        Some(PartWindow {
            start: 101,
            valid_to: 102
        })
    );
    assert_eq!((p1.opened_block, p1.deadline_block), (Some(11), 13));
    assert_eq!(p1.reason, Some(LossReason::NeverPosted));
    assert_eq!((p2.deadline_block, p2.reason), (16, None));
    assert_eq!(eth.reason, Some(LossReason::Mismatched));
    assert_eq!(eth.requests[0].answer, "mismatched");
    assert_eq!(eth.requests[0].uid, Some(OrderUid::repeat_byte(2)));
}

/// An engine that hammers one order costs a counter: the trace keeps the first requests.
#[test]
fn a_trace_keeps_its_first_requests_and_counts_the_rest() {
    let truth = Truth::new(1, &[]);
    let t0 = Instant::now();
    let (e, uid) = exact_event(3, t0, 1);
    truth.register(vec![e]);
    truth.set_head(3);
    for _ in 0..100 {
        truth.observe_get(&uid, false, t0);
    }
    truth.finish();
    let line = &lines(&truth)[0];
    assert_eq!(line.requests.len(), 32);
    assert_eq!(line.requests_total, 100);
    assert_eq!(
        line.request_counts,
        [RequestCount {
            route: Route::GetOrder,
            status: Some(404),
            requests: 100
        }]
    );
}

/// The schema of a line is the one `runner schema --orders` prints.
#[test]
fn an_order_line_round_trips_through_json() {
    let truth = Truth::new(1, &[]);
    let t0 = Instant::now();
    let (e, _) = exact_event(3, t0, 1);
    truth.register(vec![e]);
    truth.set_head(3);
    truth.finish();
    let line = lines(&truth).remove(0);
    let text = serde_json::to_string(&line).unwrap();
    assert!(!text.contains('\n'));
    let back: OrderLine = serde_json::from_str(&text).unwrap();
    assert_eq!(back, line);
    assert!(text.contains("\"outcome\":\"unjudged\""), "{text}");
    assert!(order_line_schema().contains("\"requests_total\""));
}
