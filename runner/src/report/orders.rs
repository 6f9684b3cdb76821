//! `orders.jsonl`: one line per owed order (every event, every TWAP part whose window opened)
//! with what became of it and the requests the engine made for it, and the short form the
//! outcome keeps: the first orders that failed, and requests per order as exact per-order
//! quantiles rather than a ratio of totals.
//!
//! In: the mock's truth once its books are closed. Out: the file, streamed line by line
//! (one order in memory at a time, fine at 4,000 events per block), and an
//! [`OrdersSummary`]. Why: when 145 events are lost, a user wants the transactions, owners,
//! parts and answers, not only the count.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use cowload_spec::{OrderLine, OrderOutcome, Route};

use cowload_spec::outcome::{OrdersSummary, PerOrderRequests};
use mock_orderbook::Truth;

use super::ReportError;
use crate::metrics::exact;

/// The file's name in the run directory.
pub const FILE: &str = "orders.jsonl";

/// Failed lines the outcome (and report.md) keep; `orders.jsonl` has them all.
pub const FAILED_KEPT: usize = 20;

/// Streams every line of `truth` into `path` and returns the summary.
pub fn write(truth: &Truth, path: &Path) -> Result<OrdersSummary, ReportError> {
    let failed = |source| ReportError::Write {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::create(path).map_err(failed)?;
    let mut out = BufWriter::new(file);
    let mut collector = Collector::default();
    let mut error = None;
    truth.each_order_line(|line| {
        if error.is_some() {
            return;
        }
        let written = serde_json::to_writer(&mut out, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        match written {
            Ok(()) => collector.add(line),
            Err(e) => error = Some(e),
        }
    });
    if let Some(e) = error {
        return Err(failed(e));
    }
    out.flush().map_err(failed)?;
    Ok(collector.finish())
}

/// Builds an [`OrdersSummary`] one line at a time.
#[derive(Default)]
pub struct Collector {
    lines: u64,
    by_outcome: BTreeMap<String, u64>,
    failed: Vec<OrderLine>,
    failed_total: u64,
    /// Judged orders so far.
    judged: u64,
    /// (route, status) → the count of each judged order that had one, in order.
    counts: BTreeMap<(Route, Option<u16>), Vec<u64>>,
}

impl Collector {
    /// Takes one line in.
    pub fn add(&mut self, line: OrderLine) {
        self.lines += 1;
        if line.outcome.is_failure() {
            self.failed_total += 1;
            if self.failed.len() < FAILED_KEPT {
                self.failed.push(line.clone());
            }
        }
        if !line.is_order() {
            return;
        }
        *self
            .by_outcome
            .entry(line.outcome.label().to_owned())
            .or_default() += 1;
        if matches!(line.outcome, OrderOutcome::Reorged | OrderOutcome::Unjudged) {
            return;
        }
        self.judged += 1;
        for count in &line.request_counts {
            self.counts
                .entry((count.route, count.status))
                .or_default()
                .push(count.requests);
        }
    }

    /// The summary of every line taken in.
    pub fn finish(self) -> OrdersSummary {
        let judged = self.judged;
        let requests_per_order = self
            .counts
            .into_iter()
            .map(|((route, status), with)| {
                let mut all: Vec<f64> = with.iter().map(|n| *n as f64).collect();
                // Judged orders without such a request count 0.
                all.resize(judged as usize, 0.0);
                PerOrderRequests {
                    route,
                    status,
                    orders_with: with.len() as u64,
                    requests: with.iter().sum(),
                    p50: exact::quantile(&all, 0.5).unwrap_or(0.0),
                    p99: exact::quantile(&all, 0.99).unwrap_or(0.0),
                    max: exact::quantile(&all, 1.0).unwrap_or(0.0),
                }
            })
            .collect();
        OrdersSummary {
            lines: self.lines,
            by_outcome: self.by_outcome,
            failed: self.failed,
            failed_total: self.failed_total,
            requests_per_order,
        }
    }
}
