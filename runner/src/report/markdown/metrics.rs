//! The series sections of `report.md`: the engine's, the mock's and the harness's, the
//! interesting ones first.

use crate::bars::Measure;
use std::fmt::Write;

use super::format::{bound, bucket_range, cell, value};
use crate::bars::Bucket;
use crate::report::{MetricKind, MetricSummary, Outcome, Source};

/// Most metric rows listed per source; the rest are in outcome.json.
const MAX_METRICS_LISTED: usize = 40;

/// Rows of one source's metrics that moved (or have quantiles).
pub(super) fn metrics(md: &mut String, outcome: &Outcome, source: Source, title: &str) {
    let rows: Vec<(&String, &MetricSummary)> = outcome
        .metrics
        .iter()
        .filter(|(_, m)| m.source == source && interesting(m))
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## {title}\n\n| metric | start | end | Δ | p50 | p99 |\n|---|---|---|---|---|---|"
    );
    for (name, m) in rows.iter().take(MAX_METRICS_LISTED) {
        let unit = if name
            .split('{')
            .next()
            .is_some_and(|n| n.contains("_seconds"))
        {
            Measure::Seconds
        } else {
            Measure::Plain
        };
        let number = |x: Option<f64>, u: Measure| x.map_or("–".to_owned(), |x| value(x, u));
        // A histogram quantile shows its bucket; one beyond the top bucket is "> bound".
        let quantile = |key: &str| match (m.quantiles.get(key), m.quantiles_above.get(key)) {
            (Some(x), _) => match m.quantile_buckets.get(key) {
                Some(Bucket {
                    lower,
                    upper: Some(upper),
                }) => format!(
                    "{} ({} bucket)",
                    value(*x, unit),
                    bucket_range(*lower, *upper, unit)
                ),
                _ => value(*x, unit),
            },
            (None, Some(bound_value)) => format!("> {}", bound(*bound_value, unit)),
            (None, None) => "–".to_owned(),
        };
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} | {} |",
            cell(name),
            number(m.start, Measure::Plain),
            number(m.end, Measure::Plain),
            number(m.delta, Measure::Plain),
            quantile("p50"),
            quantile("p99"),
        );
    }
    let more = rows.len().saturating_sub(MAX_METRICS_LISTED);
    if more > 0 {
        let _ = writeln!(md, "\n… and {more} more in outcome.json.");
    }
    md.push_str(
        "\nFor histograms and summaries, start/end/Δ count observations. \
         Series that stayed at zero are left out; outcome.json has them all.\n\n",
    );
}

/// Worth a row: it moved, or it has quantiles, or a gauge ended non-zero.
fn interesting(m: &MetricSummary) -> bool {
    let moved = m.delta.is_some_and(|d| d != 0.0);
    let nonzero_gauge = m.kind == MetricKind::Gauge && m.end.is_some_and(|e| e != 0.0);
    moved || nonzero_gauge || !m.quantiles.is_empty()
}

pub(super) fn mock(md: &mut String, outcome: &Outcome) {
    let Some(mock) = &outcome.mock else { return };
    md.push_str("## Mock orderbook\n\n");
    let _ = writeln!(
        md,
        "An event without an accepted order {} blocks after its own counts as lost.\n",
        mock.order_deadline_blocks
    );
    let has_requests = mock
        .requests
        .values()
        .flat_map(|s| s.values())
        .any(|c| *c > 0);
    if has_requests {
        md.push_str("| route | status | requests |\n|---|---|---|\n");
        for (route, statuses) in &mock.requests {
            for (status, count) in statuses.iter().filter(|(_, c)| **c > 0) {
                let _ = writeln!(md, "| `{}` | {status} | {count} |", cell(route));
            }
        }
        md.push('\n');
    }
    metrics_inline(md, outcome);
}

fn metrics_inline(md: &mut String, outcome: &Outcome) {
    let mut sub = String::new();
    metrics(&mut sub, outcome, Source::Mock, "Mock metrics");
    // One level down: the mock's metrics belong to its section.
    md.push_str(&sub.replacen("## Mock metrics", "### Mock metrics", 1));
}
