//! The per-block timeline and the bottleneck hint.
//!
//! In: the load's blocks and the [`Series`] scraped after each of them. Out:
//! per block, the orders the mock received and the latencies of each stage in
//! that block's interval (deltas between the block's scrape and the one
//! before), and from those the hint a reviewer reads first: which bar failed
//! first, and which stage's latency grew most from the start of the load to
//! its end.

use cowload_spec::outcome::{
    round6, BlockMetrics, Bottleneck, FirstFailure, Stage, StageGrowth, Stall,
};

use super::probe;
use crate::bars::{self, Bar};
use crate::metrics::{Point, Series};
use cowload_spec::names::{
    label, ENGINE_LATENCY, ENGINE_LATENCY_HISTOGRAM, ENGINE_RSS_BYTES, EVENTS_AWAITING_ORDER,
    EVENTS_LOST_TOTAL, EVENT_TO_ORDER_SECONDS, ORDERS_RECEIVED_TOTAL,
};
use cowload_spec::PostResult;

/// Blocks in a row with events waiting and no order POST at all before the
/// report calls the engine stalled.
pub const STALL_BLOCKS: usize = 3;
/// The mock's own answer time for order POSTs:
/// [`cowload_spec::names::MOCK_REQUEST_DURATION_SECONDS`]
/// on the orders route.
pub const MOCK_REQUEST: &str = "cowload_mock_request_duration_seconds{route=\"/api/v1/orders\"}";

/// At most this many prefixes are evaluated when looking for the first bar
/// to fail, so long runs stay cheap.
const MAX_PREFIXES: usize = 200;

/// Reads one block's interval: `after` is the block's scrape, `before` the one before.
pub fn block_metrics(before: &Point, after: &Point) -> BlockMetrics {
    let delta = |f: &dyn Fn(&Point) -> f64| (f(after) - f(before)).max(0.0).round() as u64;
    let quantile = |q: f64, name: &str| {
        probe::between(&format!("quantile({q}, {name})"), before, after).map(round6)
    };
    let engine = if has_family(after, ENGINE_LATENCY_HISTOGRAM) {
        quantile(0.99, ENGINE_LATENCY_HISTOGRAM)
    } else {
        quantile(0.99, ENGINE_LATENCY)
    };
    BlockMetrics {
        orders_received: delta(&|p| probe::sum(p, ORDERS_RECEIVED_TOTAL)),
        orders_accepted: delta(&|p| {
            probe::sum_where(
                p,
                ORDERS_RECEIVED_TOTAL,
                label::OUTCOME,
                PostResult::Accepted.label(),
            )
        }),
        events_lost: delta(&|p| probe::sum(p, EVENTS_LOST_TOTAL)),
        event_to_order_p50_seconds: quantile(0.5, EVENT_TO_ORDER_SECONDS),
        event_to_order_p99_seconds: quantile(0.99, EVENT_TO_ORDER_SECONDS),
        engine_latency_p99_seconds: engine,
        mock_request_p99_seconds: quantile(0.99, MOCK_REQUEST),
        events_awaiting: probe::sum(after, EVENTS_AWAITING_ORDER).max(0.0).round() as u64,
        engine_rss_bytes: after.snapshot.value(ENGINE_RSS_BYTES, &[]),
    }
}

/// The first stall in `blocks` (rows in block order), if any.
pub fn stall(blocks: &[(u64, &BlockMetrics)]) -> Option<Stall> {
    let stalled = |stall: &Stall| stall.blocks as usize >= STALL_BLOCKS && stall.events_lost > 0;
    let mut run: Option<Stall> = None;
    for &(number, metrics) in blocks {
        let silent = metrics.orders_received == 0 && metrics.events_awaiting > 0;
        run = match (run, silent) {
            (Some(mut stall), true) => {
                stall.blocks += 1;
                stall.events_waiting = metrics.events_awaiting;
                stall.events_lost += metrics.events_lost;
                Some(stall)
            }
            (None, true) => Some(Stall {
                from_block: number,
                blocks: 1,
                events_waiting: metrics.events_awaiting,
                events_lost: metrics.events_lost,
            }),
            (Some(stall), false) if stalled(&stall) => return Some(stall),
            (_, false) => None,
        };
    }
    run.filter(stalled)
}

fn has_family(point: &Point, base: &str) -> bool {
    let bucket = format!("{base}_bucket");
    point.snapshot.samples.iter().any(|s| *s.name == *bucket)
}

/// The point scraped after block `number`, and the one before it.
pub fn interval(series: &Series, number: u64) -> Option<(&Point, &Point)> {
    let index = series.points.iter().position(|p| p.block == Some(number))?;
    let before = series.points.get(index.checked_sub(1)?)?;
    Some((before, &series.points[index]))
}

/// Finds, for each bar that fails over the load window, the first scrape at
/// which it already failed with a value on the window's data so far (prefixes
/// keep the series' window, so warm-up scrapes never count); the earliest of those (scenario
/// order on ties) is the first failure. A bar that never fails with a value
/// (no data) fails `at: "end"`.
pub fn first_failure(
    bars: &[Bar],
    series: &Series,
    finals: &[bars::Verdict],
) -> Option<FirstFailure> {
    let failing: Vec<usize> = finals
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.holds)
        .map(|(i, _)| i)
        .collect();
    let first = *failing.first()?;
    let step = series.points.len().div_ceil(MAX_PREFIXES).max(1);
    let mut prefix = Series::new();
    prefix.window_start = series.window_start;
    for (index, point) in series.points.iter().enumerate() {
        prefix.points.push(point.clone());
        if index % step != 0 && index + 1 != series.points.len() {
            continue;
        }
        for &i in &failing {
            let Some(bar) = bars.get(i) else { continue };
            let verdict = bars::evaluate(std::slice::from_ref(bar), &prefix).pop();
            if verdict.is_some_and(|v| v.observed.is_some() && !v.holds) {
                return Some(failure_at(&finals[i].bar, point));
            }
        }
    }
    Some(FirstFailure {
        bar: finals[first].bar.clone(),
        at: "end".to_owned(),
        block: None,
    })
}

fn failure_at(bar: &str, point: &Point) -> FirstFailure {
    FirstFailure {
        bar: bar.to_owned(),
        at: point.label.clone(),
        block: point.block,
    }
}

/// Growth of each stage over the loaded blocks, from per-block readings
/// (`None` where a block had no data). Stages with fewer than two readings
/// are left out.
pub fn growth(stages: &[(Stage, Vec<Option<f64>>)]) -> Bottleneck {
    let mut out: Vec<StageGrowth> = stages
        .iter()
        .filter_map(|(stage, values)| {
            let values: Vec<f64> = values.iter().flatten().copied().collect();
            if values.len() < 2 {
                return None;
            }
            let third = values.len().div_ceil(3);
            let early = median(&values[..third]);
            let late = median(&values[values.len() - third..]);
            Some(StageGrowth {
                stage: *stage,
                early_seconds: round6(early),
                late_seconds: round6(late),
                growth_seconds: round6(late - early),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.growth_seconds
            .total_cmp(&a.growth_seconds)
            .then_with(|| a.stage.name().cmp(b.stage.name()))
    });
    let grew_most = out
        .first()
        .filter(|s| s.growth_seconds > significant(s.early_seconds))
        .map(|s| s.stage);
    Bottleneck {
        first_failed_bar: None,
        stages: out,
        grew_most,
        stalled: None,
    }
}

/// Growth below this is noise, not a bottleneck: 1 ms, or 10% of the early value.
fn significant(early: f64) -> f64 {
    (early * 0.1).max(0.001)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mock_request_selector_reads_the_mocks_series() {
        let bar = bars::parse(&format!("max({MOCK_REQUEST}) < 1s")).unwrap();
        assert_eq!(
            bar.metric(),
            cowload_spec::names::MOCK_REQUEST_DURATION_SECONDS
        );
    }
    use crate::metrics::Snapshot;

    fn point(label: &str, received: f64, accepted: f64, buckets: [f64; 3]) -> Point {
        let mut snapshot = Snapshot::default();
        snapshot.push(
            ORDERS_RECEIVED_TOTAL,
            &[("kind", "twap"), ("outcome", "accepted")],
            accepted,
        );
        snapshot.push(
            ORDERS_RECEIVED_TOTAL,
            &[("kind", "twap"), ("outcome", "InsufficientFee")],
            received - accepted,
        );
        for (le, count) in ["0.5", "1", "+Inf"].iter().zip(buckets) {
            snapshot.push(
                format!("{EVENT_TO_ORDER_SECONDS}_bucket"),
                &[("kind", "twap"), ("le", le)],
                count,
            );
        }
        Point {
            label: label.to_owned(),
            block: label.strip_prefix("block ").and_then(|n| n.parse().ok()),
            snapshot,
            exact: None,
        }
    }

    #[test]
    fn a_block_interval_is_the_difference_of_two_scrapes() {
        let before = point("block 1", 10.0, 8.0, [8.0, 8.0, 8.0]);
        let after = point("block 2", 14.0, 11.0, [8.0, 11.0, 11.0]);
        let m = block_metrics(&before, &after);
        assert_eq!((m.orders_received, m.orders_accepted), (4, 3));
        // All three new observations landed in (0.5, 1].
        assert_eq!(m.event_to_order_p50_seconds, Some(0.75));
        assert_eq!(m.event_to_order_p99_seconds, Some(0.995));
        assert_eq!(m.engine_latency_p99_seconds, None);
        assert_eq!(m.events_lost, 0);
    }

    #[test]
    fn intervals_are_found_by_block_label() {
        let mut series = Series::new();
        for label in ["start", "block 7", "block 8", "end"] {
            series.push_labelled(label, Snapshot::default());
        }
        let (before, after) = interval(&series, 8).unwrap();
        assert_eq!(
            (before.label.as_str(), after.label.as_str()),
            ("block 7", "block 8")
        );
        assert!(interval(&series, 9).is_none());
    }

    #[test]
    fn growth_ranks_stages_by_how_much_their_latency_rose() {
        let b = growth(&[
            (Stage::MockRequest, vec![Some(0.1), Some(0.1), Some(0.1)]),
            (
                Stage::EventToOrder,
                vec![Some(0.1), None, Some(0.2), Some(0.9)],
            ),
            (Stage::EngineLatency, vec![Some(5.0), None]),
        ]);
        let stages: Vec<Stage> = b.stages.iter().map(|s| s.stage).collect();
        assert_eq!(stages, [Stage::EventToOrder, Stage::MockRequest]);
        assert_eq!(b.stages[0].growth_seconds, 0.8);
        assert_eq!(b.grew_most, Some(Stage::EventToOrder));
        assert_eq!(
            growth(&[(Stage::MockRequest, vec![Some(1.0), Some(1.0)])]).grew_most,
            None
        );
        // +5% is noise, not a bottleneck.
        let wobble = growth(&[(Stage::EngineLatency, vec![Some(1.0), Some(1.05)])]);
        assert_eq!(wobble.grew_most, None);
    }

    #[test]
    fn the_first_failure_is_the_earliest_scrape_where_a_bar_failed() {
        let mut series = Series::new();
        for (label, lost, errors) in [
            ("start", 0.0, 0.0),
            ("block 5", 0.0, 1.0),
            ("block 6", 2.0, 1.0),
            ("end", 2.0, 1.0),
        ] {
            let mut s = Snapshot::default();
            s.push(EVENTS_LOST_TOTAL, &[], lost);
            s.push("errors_total", &[], errors);
            series.push_labelled(label, s);
        }
        let bars: Vec<Bar> = [
            "increase(cowload_events_lost_total) == 0",
            "increase(errors_total) == 0",
            "holds_total > 0",
        ]
        .iter()
        .map(|t| bars::parse(t).unwrap())
        .collect();
        let finals = bars::evaluate(&bars, &series);
        let first = first_failure(&bars, &series, &finals).unwrap();
        assert_eq!(first.bar, "increase(errors_total) == 0");
        assert_eq!((first.at.as_str(), first.block), ("block 5", Some(5)));

        // Only a no-data bar fails: it fails at the end.
        let first = first_failure(&bars[2..], &series, &finals[2..]).unwrap();
        assert_eq!((first.at.as_str(), first.block), ("end", None));
        assert!(first_failure(&[], &series, &[]).is_none());
    }

    /// A bar that would have failed on warm-up data alone fails where the
    /// load window first shows it, never at a warm-up block.
    #[test]
    fn the_first_failure_is_searched_inside_the_load_window() {
        let mut series = Series::new();
        for (label, errors) in [("start", 0.0), ("block 1", 1.0), ("block 2", 1.0)] {
            let mut s = Snapshot::default();
            s.push("errors_total", &[], errors);
            series.push_labelled(label, s);
        }
        series.open_window();
        for (label, errors) in [("block 3", 1.0), ("block 4", 2.0), ("end", 2.0)] {
            let mut s = Snapshot::default();
            s.push("errors_total", &[], errors);
            series.push_labelled(label, s);
        }
        let bars = vec![bars::parse("increase(errors_total) == 0").unwrap()];
        let finals = bars::evaluate(&bars, &series);
        assert_eq!(finals[0].observed, Some(1.0));
        let first = first_failure(&bars, &series, &finals).unwrap();
        assert_eq!((first.at.as_str(), first.block), ("block 4", Some(4)));
    }
}
