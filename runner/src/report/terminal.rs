//! The terminal: a progress line per block while the run goes (a redrawn bar
//! on a TTY, plain lines otherwise, so CI logs stay readable), and the final
//! table when it ends.

use crate::bars::Measure;
use std::io::{IsTerminal, Write};

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use super::markdown::{observed, value, window};
use super::{probe, Kinds, Outcome};
use crate::load::{BlockDelivery, Phase};
use cowload_spec::names::{self, label};
use cowload_spec::PostResult;

use crate::metrics::Series;

/// Transactions without their event named on a progress line; the rest are counted.
const LISTED_FAILURES: usize = 3;

/// Width of the drawn bar, in characters.
const BAR_WIDTH: usize = 24;

/// What one block's progress line shows.
#[derive(Debug, Clone, Default)]
pub struct BlockLine {
    /// `warmup`, `load` or `drain`.
    pub phase: &'static str,
    /// Loaded blocks so far and in all (load phase only).
    pub position: Option<(u32, u32)>,
    /// Block number.
    pub number: u64,
    /// Events asked for in this block.
    pub requested: Kinds,
    /// Events on chain in this block.
    pub delivered: Kinds,
    /// TWAPs active at this block.
    pub active_twaps: u64,
    /// Accepted orders at the mock so far.
    pub orders_accepted: f64,
    /// Order POSTs received in this block's interval.
    pub orders_received: u64,
    /// Events lost so far, per kind (an engine meant for one kind shows the
    /// other as lost by design, and the line must not hide which is which).
    pub lost: Kinds,
    /// Event→order p99 over this block's interval.
    pub latency_p99: Option<f64>,
    /// How late the block was mined.
    pub late_ms: f64,
    /// The chain head minus the engine's last processed block (`engine.progress`).
    pub engine_lag: Option<u64>,
    /// Transactions without their event, already formatted (a few at most).
    pub failures: Vec<String>,
    /// Failures not listed.
    pub more_failures: usize,
}

impl BlockLine {
    /// The line for `block`, read from the series scraped after it (the
    /// report's own sums and exact latencies, so the line and the report agree).
    /// `position`: loaded blocks so far and in all.
    pub fn new(block: &BlockDelivery, series: &Series, position: Option<(u32, u32)>) -> BlockLine {
        let number = block.block.number;
        let last = series.points.last();
        let sum_where = |name: &str, label: &str, value: &str| {
            last.map_or(0.0, |p| probe::sum_where(p, name, label, value))
        };
        let metrics = super::block_metrics(series, number).unwrap_or_default();
        BlockLine {
            phase: match block.phase {
                Phase::Warmup => "warmup",
                Phase::Load => "load",
                Phase::Drain => "drain",
            },
            position: position.filter(|_| block.phase == Phase::Load),
            number,
            requested: block.requested,
            delivered: block.delivered,
            active_twaps: block.active_twaps,
            orders_accepted: sum_where(
                names::ORDERS_RECEIVED_TOTAL,
                label::OUTCOME,
                PostResult::Accepted.label(),
            ),
            orders_received: metrics.orders_received,
            lost: Kinds::from_fn(|kind| {
                sum_where(names::EVENTS_LOST_TOTAL, label::KIND, kind.label()) as u64
            }),
            latency_p99: super::block_latency(series, number, 0.99),
            late_ms: block.timing.late_ms,
            failures: block
                .failures
                .iter()
                .take(LISTED_FAILURES)
                .map(|f| {
                    format!(
                        "{} tx {} (sender {} nonce {}): {}",
                        f.kind, f.tx, f.sender, f.nonce, f.reason
                    )
                })
                .collect(),
            more_failures: block.failures.len().saturating_sub(LISTED_FAILURES),
            engine_lag: None,
        }
    }
}

/// Prints one line per block: redrawn in place on a TTY, appended otherwise.
#[derive(Debug)]
pub struct Progress {
    tty: bool,
    drawn: bool,
}

impl Progress {
    /// Progress on stderr; a bar when stderr is a terminal.
    pub fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// Shows one block.
    pub fn block(&mut self, line: &BlockLine) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            // Clear the bar, print what must stay, then redraw the bar.
            let _ = write!(err, "\r\x1b[2K");
            write_failures(&mut err, line);
            let _ = write!(err, "{}", bar_text(line));
            let _ = err.flush();
            self.drawn = true;
        } else {
            let _ = writeln!(err, "{}", plain_text(line));
            write_failures(&mut err, line);
        }
    }

    /// Ends the bar's line so the next output starts on its own.
    pub fn finish(&mut self) {
        if self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn latency(line: &BlockLine) -> String {
    line.latency_p99
        .map_or("–".to_owned(), |x| value(x, Measure::Seconds))
}

/// `twap 0 ethflow 2`: one count per kind.
fn each(counts: &Kinds) -> String {
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    parts.join(" ")
}

/// `twap 5/5 ethflow 4/5`: `done` of `all`, per kind.
fn of_each(done: &Kinds, all: &Kinds) -> String {
    let parts: Vec<String> = done
        .iter()
        .map(|(k, n)| format!("{k} {n}/{}", all[k]))
        .collect();
    parts.join(" ")
}

/// The plain line (CI logs, pipes).
pub fn plain_text(line: &BlockLine) -> String {
    let position = line
        .position
        .map_or(String::new(), |(done, all)| format!("{done}/{all}"));
    format!(
        "[{:>6} {position:>7}] block {:>5}: {} | active twaps {} | orders received {} accepted {} | lost {} | p99 {} | late {:.0} ms{}",
        line.phase,
        line.number,
        of_each(&line.delivered, &line.requested),
        line.active_twaps,
        line.orders_received,
        line.orders_accepted,
        each(&line.lost),
        latency(line),
        line.late_ms,
        lag(line, " | "),
    )
}

/// `<sep>engine lag N` when the engine's progress is known, else nothing.
fn lag(line: &BlockLine, separator: &str) -> String {
    line.engine_lag
        .map_or(String::new(), |n| format!("{separator}engine lag {n}"))
}

/// The block's transactions without their event, a few by name and the rest counted.
fn write_failures(err: &mut impl Write, line: &BlockLine) {
    for failure in &line.failures {
        let _ = writeln!(err, "    {failure}");
    }
    if line.more_failures > 0 {
        let _ = writeln!(
            err,
            "    … and {} more without their event",
            line.more_failures
        );
    }
}

/// The redrawn bar (TTY).
pub fn bar_text(line: &BlockLine) -> String {
    let (done, all) = line.position.unwrap_or((0, 0));
    let filled = match (line.phase, all) {
        ("drain", _) => BAR_WIDTH,
        (_, 0) => 0,
        _ => (done as usize * BAR_WIDTH / all as usize).min(BAR_WIDTH),
    };
    format!(
        "{:>6} [{}{}] {done}/{all} block {} · delivered {}/{} · received {} · accepted {} · lost {} · p99 {} · late {:.0} ms{}",
        line.phase,
        "█".repeat(filled),
        "░".repeat(BAR_WIDTH - filled),
        line.number,
        line.delivered.total(),
        line.requested.total(),
        line.orders_received,
        line.orders_accepted,
        each(&line.lost),
        latency(line),
        line.late_ms,
        lag(line, " · "),
    )
}

/// Prints the verdict and one row per bar to stderr.
pub fn print_summary(outcome: &Outcome) {
    eprintln!("{}", summary_text(outcome));
}

/// The final table and totals line.
pub fn summary_text(outcome: &Outcome) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(["", "bar", "observed", "limit"]);
    for bar in &outcome.bars {
        table.add_row([
            if bar.holds { "✓" } else { "✗" }.to_owned(),
            bar.bar.clone(),
            observed(bar),
            format!("{} {}", bar.op, value(bar.limit, bar.unit)),
        ]);
    }
    let t = &outcome.totals;
    let mut text = format!(
        "{table}\n{}\ndelivered: {} · status {:?} · exit {}",
        window(outcome.window.as_ref()).replace('`', ""),
        of_each(&t.delivered, &t.requested),
        outcome.status,
        outcome.exit_code
    );
    if let Some(first) = &outcome.bottleneck.first_failed_bar {
        text.push_str(&format!(
            "\nfirst bar to fail: {} ({})",
            first.bar, first.at
        ));
    }
    if let Some(stage) = &outcome.bottleneck.grew_most {
        text.push_str(&format!("\ngrew most: {stage}"));
    }
    if let Some(unjudged) = unjudged(outcome) {
        text.push_str(&format!("\n{unjudged}"));
    }
    if let Some(stall) = &outcome.bottleneck.stalled {
        text.push_str(&format!(
            "\nengine stalled: no order POST from block {} on for {} blocks ({} events waiting, {} lost to their deadline)",
            stall.from_block, stall.blocks, stall.events_waiting, stall.events_lost
        ));
    }
    if !outcome.faults.is_empty() {
        let mut faults = Table::new();
        faults
            .load_preset(UTF8_FULL_CONDENSED)
            .set_header(super::faults::HEADERS);
        for row in super::faults::rows(&outcome.faults) {
            faults.add_row(row);
        }
        text.push_str(&format!("\nfaults:\n{faults}"));
    }
    text
}

/// `unjudged (deadline after the last block): twap 2 + 3 parts, ethflow 0`, when any order
/// was left unjudged.
fn unjudged(outcome: &Outcome) -> Option<String> {
    let mock = outcome.mock.as_ref()?;
    let parts: Vec<String> = mock
        .events
        .iter()
        .map(|(kind, e)| match e.parts_unjudged {
            0 => format!("{kind} {}", e.unjudged),
            parts => format!("{kind} {} + {parts} parts", e.unjudged),
        })
        .collect();
    let any = mock
        .events
        .values()
        .any(|e| e.unjudged + e.parts_unjudged > 0);
    any.then(|| {
        format!(
            "unjudged (their deadline lay after the last block; not due, not lost): {}",
            parts.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cowload_spec::EventKind;

    fn kinds(twap: u64, ethflow: u64) -> Kinds {
        Kinds::from_fn(|kind| match kind {
            EventKind::Twap => twap,
            EventKind::EthFlow => ethflow,
        })
    }

    fn line(phase: &'static str, position: Option<(u32, u32)>) -> BlockLine {
        BlockLine {
            phase,
            position,
            number: 12,
            requested: kinds(5, 5),
            delivered: kinds(5, 4),
            active_twaps: 10,
            orders_accepted: 18.0,
            orders_received: 9,
            lost: kinds(0, 2),
            latency_p99: Some(0.25),
            late_ms: 3.0,
            ..BlockLine::default()
        }
    }

    #[test]
    fn plain_lines_carry_every_figure() {
        let mut line = line("load", Some((3, 30)));
        let text = plain_text(&line);
        assert_eq!(
            text,
            "[  load    3/30] block    12: twap 5/5 ethflow 4/5 | active twaps 10 | orders received 9 accepted 18 | lost twap 0 ethflow 2 | p99 250.0 ms | late 3 ms"
        );
        line.engine_lag = Some(3);
        assert!(plain_text(&line).ends_with("| late 3 ms | engine lag 3"));
        assert!(bar_text(&line).ends_with("· late 3 ms · engine lag 3"));
    }

    #[test]
    fn the_bar_fills_with_loaded_blocks_and_is_full_in_drain() {
        let half = bar_text(&line("load", Some((15, 30))));
        assert!(
            half.contains(&format!("[{}{}]", "█".repeat(12), "░".repeat(12))),
            "{half}"
        );
        assert!(half.contains("delivered 9/10"), "{half}");
        assert!(half.contains("lost twap 0 ethflow 2"), "{half}");
        let drain = bar_text(&line("drain", None));
        assert!(drain.contains(&"█".repeat(BAR_WIDTH)), "{drain}");
        let warmup = bar_text(&line("warmup", None));
        assert!(warmup.contains(&"░".repeat(BAR_WIDTH)), "{warmup}");
    }
}
