//! `report.md`: verdict first, then the bars, what saturated first, delivery and
//! orders per kind, where the time went, engine and mock figures, failed
//! transactions, the engine's last words and links to the raw files. Rendered
//! from the [`Outcome`] alone, so it can be regenerated from `outcome.json`.

use crate::bars::Measure;
use std::fmt::Write;

mod format;
mod metrics;
mod orders;

use format::{cell, short};
pub use format::{observed, value, window};
use metrics::{metrics, mock};
use orders::{lost_and_missing, lost_reasons, orders, requests, twap_parts};

use super::{Outcome, Source, Status};
use cowload_spec::EventKind;

/// Most transaction failures listed; the rest are counted.
const MAX_FAILURES_LISTED: usize = 20;

/// The whole report.
pub fn render(outcome: &Outcome) -> String {
    let mut md = String::new();
    headline(&mut md, outcome);
    hint(&mut md, outcome);
    bars(&mut md, outcome);
    faults(&mut md, outcome);
    delivery(&mut md, outcome);
    orders(&mut md, outcome);
    lost_and_missing(&mut md, outcome);
    requests(&mut md, outcome);
    time(&mut md, outcome);
    metrics(&mut md, outcome, Source::Engine, "Engine metrics");
    mock(&mut md, outcome);
    failures(&mut md, outcome);
    engine_log(&mut md, outcome);
    files(&mut md, outcome);
    md
}

/// The short form for `$GITHUB_STEP_SUMMARY`: verdict, hint and bars.
pub fn render_summary(outcome: &Outcome) -> String {
    let mut md = String::new();
    headline(&mut md, outcome);
    hint(&mut md, outcome);
    bars(&mut md, outcome);
    md
}

fn verdict_text(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅ PASS: every bar held",
        Status::Fail => "❌ FAIL: a bar did not hold",
        Status::Interrupted => "⏹ INTERRUPTED: partial results",
        Status::Error => "💥 ERROR: the run could not finish",
    }
}

fn headline(md: &mut String, outcome: &Outcome) {
    let _ = writeln!(
        md,
        "# cowload: {}\n\n**{}** (exit {})\n",
        outcome.scenario.name,
        verdict_text(outcome.status),
        outcome.exit_code
    );
    if let Some(error) = &outcome.error {
        let _ = writeln!(md, "```\n{error}\n```\n");
    }
    if let Some(end) = &outcome.ended_early {
        let _ = writeln!(
            md,
            "The load ended early, after block {}: `{}` had failed in a way no later block could undo.\n",
            end.block, end.bar
        );
    }
    let chain = match &outcome.chain.fork_url {
        Some(url) => format!(
            "fork of {url}{}",
            outcome
                .chain
                .fork_block
                .map_or(String::new(), |b| format!(" at block {b}"))
        ),
        None => "local Anvil".to_owned(),
    };
    let engine = match &outcome.versions.engine_command {
        Some(command) => format!("`{}`", command.join(" ")),
        None => "none (harness only)".to_owned(),
    };
    let _ = writeln!(
        md,
        "Scenario `{}` (hash `{}`, seed {}), {} blocks on {chain} (chain {}, {}), \
         runner {}, engine {engine}.\n",
        outcome.scenario.file.display(),
        short(&outcome.scenario.hash),
        outcome.scenario.seed,
        outcome.blocks.len(),
        outcome.chain.chain_id,
        outcome.versions.anvil,
        outcome.versions.runner,
    );
    if let Some(note) = time_compression(outcome.chain.chain_id, outcome.chain.block_time_seconds) {
        let _ = writeln!(md, "{note}\n");
    }
    if let Some(genesis) = outcome.run.chain_genesis_timestamp {
        let shown = i64::try_from(genesis)
            .ok()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| genesis.to_string());
        let _ = writeln!(md, "Chain time starts at {shown} (genesis block).\n");
    }
}

/// How long the chain takes per block in production, for the time-compression
/// note; `None` for chains this table does not know.
fn production_block_seconds(chain_id: u64) -> Option<f64> {
    match chain_id {
        1 | 11_155_111 => Some(12.0),
        100 => Some(5.0),
        137 | 8453 => Some(2.0),
        42_161 => Some(0.25),
        _ => None,
    }
}

/// What `block_time` does to the engine's budget: 1 s blocks on a 12 s chain
/// give it a twelfth of the time per block it has in production.
pub(crate) fn time_compression(chain_id: u64, block_time_seconds: f64) -> Option<String> {
    let real = production_block_seconds(chain_id)?;
    if block_time_seconds <= 0.0 {
        return None;
    }
    let factor = real / block_time_seconds;
    let text = if factor > 1.05 {
        format!(
            "**Time compression:** a block every {block_time_seconds} s here; chain {chain_id} makes one every {real} s in production, \
             so the engine's per-block budget is {factor:.1}× tighter than in production \
             (a rate-limited engine is judged {factor:.1}× harder)."
        )
    } else if factor < 0.95 {
        format!(
            "**Time dilation:** a block every {block_time_seconds} s here; chain {chain_id} makes one every {real} s in production, \
             so the engine has {:.1}× more time per block than in production.",
            1.0 / factor
        )
    } else {
        format!("Blocks come at chain {chain_id}'s production cadence ({real} s).")
    };
    Some(text)
}

/// The bottleneck hint: what failed first and which stage slowed down most.
fn hint(md: &mut String, outcome: &Outcome) {
    let b = &outcome.bottleneck;
    if let Some(first) = &b.first_failed_bar {
        let observed = outcome
            .bars
            .iter()
            .find(|bar| bar.bar == first.bar)
            .map(|bar| match bar.observed {
                Some(_) => format!(", observed {} at the end", observed(bar)),
                None => format!(" ({})", observed(bar)),
            })
            .unwrap_or_default();
        let when = match first.block {
            Some(block) => format!(", failing from block {block} on"),
            None => ", failing at the end of the run".to_owned(),
        };
        let _ = writeln!(
            md,
            "- **First bar to fail:** `{}`{when}{observed}.",
            first.bar
        );
    }
    match b
        .grew_most
        .as_ref()
        .and_then(|grew| b.stages.iter().find(|s| s.stage == *grew))
    {
        Some(stage) => {
            let _ = writeln!(
                md,
                "- **Grew most:** {} (p99 {} early in the load → {} late, +{}).",
                stage.stage,
                value(stage.early_seconds, Measure::Seconds),
                value(stage.late_seconds, Measure::Seconds),
                value(stage.growth_seconds, Measure::Seconds),
            );
        }
        None if !b.stages.is_empty() => {
            md.push_str("- **Grew most:** no stage's latency grew during the load.\n");
        }
        None => {}
    }
    if let Some(stall) = &b.stalled {
        let _ = writeln!(
            md,
            "- **Engine stalled:** no order POST from block {} on for {} blocks while events waited ({} at the last silent block, {} lost to their deadline).",
            stall.from_block, stall.blocks, stall.events_waiting, stall.events_lost
        );
    }
    if b.first_failed_bar.is_some() || !b.stages.is_empty() || b.stalled.is_some() {
        md.push('\n');
    }
}

fn bars(md: &mut String, outcome: &Outcome) {
    let _ = writeln!(md, "## Bars\n\n{}\n", window(outcome.window.as_ref()));
    md.push_str("| | bar | observed | limit |\n|---|---|---|---|\n");
    if outcome.bars.is_empty() {
        md.push_str("| ✗ | (no bars: a run without bars cannot pass) | | |\n");
    }
    for bar in &outcome.bars {
        let mark = if bar.holds { "✓" } else { "✗" };
        let _ = writeln!(
            md,
            "| {mark} | `{}` | {} | {} {} |",
            cell(&bar.bar),
            cell(&observed(bar)),
            bar.op,
            value(bar.limit, bar.unit)
        );
    }
    md.push('\n');
}

fn delivery(md: &mut String, outcome: &Outcome) {
    let t = &outcome.totals;
    md.push_str("## Delivery and orders per kind\n\n");
    md.push_str(
        "| kind | requested | on chain | orders matched | lost | late | unjudged | event→order p50 | event→order p99 |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for event_kind in EventKind::ALL {
        let (kind, label) = (event_kind.label(), event_kind.title());
        let (requested, delivered) = (t.requested[event_kind], t.delivered[event_kind]);
        let events = outcome.mock.as_ref().and_then(|m| m.events.get(kind));
        let n = |f: fn(&super::MockEvents) -> u64| {
            events.map_or("–".to_owned(), |e| f(e).to_string())
        };
        // The exact samples of the load window: what a bar on the latency reads.
        let latency = &outcome.event_to_order_seconds[event_kind];
        let q = |x: f64| {
            if latency.count > 0 {
                value(x, Measure::Seconds)
            } else {
                "–".to_owned()
            }
        };
        let _ = writeln!(
            md,
            "| {label} | {requested} | {delivered} | {} | {} | {} | {} | {} | {} |",
            n(|e| e.matched),
            n(|e| e.lost),
            n(|e| e.late),
            n(|e| e.unjudged),
            q(latency.p50),
            q(latency.p99),
        );
    }
    unjudged_note(md, outcome);
    twap_parts(md, outcome);
    lost_reasons(md, outcome);
    let ratio = t
        .delivered_ratio
        .map_or("n/a".to_owned(), |r| format!("{r:.4}"));
    let _ = writeln!(
        md,
        "\nDelivered ratio (on chain / requested): {ratio}. Peak active TWAPs: {}.\n",
        outcome
            .blocks
            .iter()
            .map(|b| b.active_twaps)
            .max()
            .unwrap_or(0)
    );
}

/// The fault table, when the scenario has a `faults:` timeline.
fn faults(md: &mut String, outcome: &Outcome) {
    if outcome.faults.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Faults\n\nA fault is charged with the events of the chain blocks mined while it held and of \
         the blocks before it that the engine had not read when it began (its `engine.progress`; \
         without it, the block mined just before); lost ones never got their order in time; \
         duplicates are counted from its start to the next fault's; recovery is from its end to \
         the first accepted order.\n"
    );
    let _ = writeln!(md, "| {} |", super::faults::HEADERS.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(super::faults::HEADERS.len()));
    for row in super::faults::rows(&outcome.faults) {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
    md.push('\n');
}

/// Why some orders are neither matched nor lost, when any is.
fn unjudged_note(md: &mut String, outcome: &Outcome) {
    let Some(mock) = outcome.mock.as_ref() else {
        return;
    };
    let events: u64 = mock.events.values().map(|e| e.unjudged).sum();
    let parts: u64 = mock.events.values().map(|e| e.parts_unjudged).sum();
    if events + parts == 0 {
        return;
    }
    let _ = writeln!(
        md,
        "\nUnjudged: {events} event(s) and {parts} TWAP part(s) whose deadline ({} blocks after \
         their block, or after a part's window opened) lay after the run's last block had no \
         order yet when the run ended. They were not due: neither matched nor lost, and no failure.",
        mock.order_deadline_blocks
    );
}

/// Where the time went: per-stage growth, harness timings and the plot.
fn time(md: &mut String, outcome: &Outcome) {
    md.push_str("## Where the time went\n\n");
    if !outcome.blocks.is_empty() {
        md.push_str(
            "![per block: events delivered, orders received, event→order p99](plot.svg)\n\n",
        );
    }
    if !outcome.bottleneck.stages.is_empty() {
        md.push_str(
            "p99 per block, median over the first and the last third of the loaded blocks:\n\n\
             | stage | early | late | growth |\n|---|---|---|---|\n",
        );
        for s in &outcome.bottleneck.stages {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {}{} |",
                s.stage,
                value(s.early_seconds, Measure::Seconds),
                value(s.late_seconds, Measure::Seconds),
                if s.growth_seconds > 0.0 { "+" } else { "" },
                value(s.growth_seconds, Measure::Seconds),
            );
        }
        md.push('\n');
    }
    let timings = &outcome.run.blocks;
    if !timings.is_empty() {
        let mean = |f: fn(&super::BlockTimingRow) -> f64| {
            timings.iter().map(f).sum::<f64>() / timings.len() as f64
        };
        let worst = timings.iter().map(|t| t.late_ms).fold(0.0, f64::max);
        let _ = writeln!(
            md,
            "Harness per block (mean): build {:.1} ms, send {:.1} ms, verify {:.1} ms; \
             latest block {:.0} ms behind its slot. Runner start → first loaded block: {}.\n",
            mean(|t| t.build_ms),
            mean(|t| t.send_ms),
            mean(|t| t.verify_ms),
            worst,
            outcome
                .run
                .time_to_first_load_block_seconds
                .map_or("n/a".to_owned(), |s| value(s, Measure::Seconds)),
        );
    }
}

fn failures(md: &mut String, outcome: &Outcome) {
    let all: Vec<_> = outcome
        .blocks
        .iter()
        .flat_map(|b| b.failures.iter().map(move |f| (b.number, f)))
        .collect();
    if all.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Transactions without their event ({})\n", all.len());
    md.push_str("| block | kind | tx | reason |\n|---|---|---|---|\n");
    for (block, f) in all.iter().take(MAX_FAILURES_LISTED) {
        let _ = writeln!(
            md,
            "| {block} | {} | `{}` | {} |",
            f.kind,
            f.tx,
            cell(&f.reason)
        );
    }
    if all.len() > MAX_FAILURES_LISTED {
        let _ = writeln!(
            md,
            "\n… and {} more in outcome.json.",
            all.len() - MAX_FAILURES_LISTED
        );
    }
    md.push('\n');
}

fn engine_log(md: &mut String, outcome: &Outcome) {
    let tail = outcome.run.engine_log_tail.join("\n");
    let tail = tail.trim();
    if tail.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Engine log (last lines)\n\n```\n{tail}\n```\n");
}

fn files(md: &mut String, outcome: &Outcome) {
    md.push_str(
        "## Files\n\n- [outcome.json](outcome.json)\n- [plot.svg](plot.svg)\n- [anvil.log](anvil.log)\n",
    );
    if outcome.versions.engine_command.is_some() {
        md.push_str(
            "- [engine.log](engine.log)\n- [engine metrics scrapes](metrics/engine.prom)\n",
        );
    }
    md.push_str("- [mock metrics scrapes](metrics/mock.prom)\n");
}
