//! `report.md`: verdict first, then the bars, delivery, mock truth, what failed,
//! the engine's last words and links to the raw files.

use std::fmt::Write;

use super::{Outcome, Status};
use crate::bars::Verdict;

/// Most transaction failures listed; the rest are counted.
const MAX_FAILURES_LISTED: usize = 20;

pub fn render(outcome: &Outcome) -> String {
    let mut md = String::new();
    headline(&mut md, outcome);
    bars(&mut md, &outcome.bars);
    delivery(&mut md, outcome);
    mock(&mut md, outcome);
    failures(&mut md, outcome);
    engine_log(&mut md, outcome);
    files(&mut md, outcome);
    md
}

fn headline(md: &mut String, outcome: &Outcome) {
    let verdict = match outcome.status {
        Status::Pass => "✅ PASS: every bar held",
        Status::Fail => "❌ FAIL: a bar did not hold",
        Status::Interrupted => "⏹ INTERRUPTED: partial results",
        Status::Error => "💥 ERROR: the run could not finish",
    };
    let _ = writeln!(
        md,
        "# cowload: {}\n\n**{verdict}** (exit {})\n",
        outcome.scenario.name, outcome.exit_code
    );
    if let Some(error) = &outcome.error {
        let _ = writeln!(md, "```\n{error}\n```\n");
    }
    if let Some(first) = outcome.bars.iter().find(|b| !b.holds) {
        let _ = writeln!(
            md,
            "First bar to fail: `{}`{}\n",
            first.bar,
            observed_note(first)
        );
    }
    let _ = writeln!(
        md,
        "Scenario `{}` (hash `{}`, seed {}), {} blocks, {:.1} s.\n",
        outcome.scenario.file.display(),
        short(&outcome.scenario.hash),
        outcome.scenario.seed,
        outcome.blocks.len(),
        outcome.run.facts.duration.as_secs_f64()
    );
}

fn observed_note(v: &Verdict) -> String {
    match (v.observed, &v.reason) {
        (Some(x), _) => format!(" (observed {})", value(x, &v.unit)),
        (None, Some(reason)) => format!(" ({reason})"),
        (None, None) => " (no data)".to_owned(),
    }
}

fn bars(md: &mut String, bars: &[Verdict]) {
    md.push_str("## Bars\n\n| | bar | observed | limit |\n|---|---|---|---|\n");
    if bars.is_empty() {
        md.push_str("| ✗ | (no bars: a run without bars cannot pass) | | |\n");
    }
    for bar in bars {
        let mark = if bar.holds { "✓" } else { "✗" };
        let observed = match (bar.observed, &bar.reason) {
            (Some(x), _) => value(x, &bar.unit),
            (None, Some(reason)) => format!("no data: {reason}"),
            (None, None) => "no data".to_owned(),
        };
        let _ = writeln!(
            md,
            "| {mark} | `{}` | {observed} | {} {} |",
            bar.bar.replace('|', "\\|"),
            bar.op,
            value(bar.limit, &bar.unit)
        );
    }
    md.push('\n');
}

fn delivery(md: &mut String, outcome: &Outcome) {
    let t = &outcome.totals;
    md.push_str(
        "## Delivery (events on chain)\n\n| kind | requested | delivered |\n|---|---|---|\n",
    );
    let _ = writeln!(md, "| TWAP | {} | {} |", t.requested.twap, t.delivered.twap);
    let _ = writeln!(
        md,
        "| EthFlow | {} | {} |",
        t.requested.ethflow, t.delivered.ethflow
    );
    let ratio = t
        .delivered_ratio
        .map_or("n/a".to_owned(), |r| format!("{:.4}", r));
    let _ = writeln!(
        md,
        "\nDelivered ratio: {ratio}. Peak active TWAPs: {}.\n",
        outcome
            .blocks
            .iter()
            .map(|b| b.active_twaps)
            .max()
            .unwrap_or(0)
    );
}

fn mock(md: &mut String, outcome: &Outcome) {
    if outcome.mock.is_null() {
        return;
    }
    md.push_str("## Orders at the mock orderbook\n\n");
    if let Some(events) = outcome.mock.get("events").and_then(|e| e.as_object()) {
        md.push_str("| kind | registered | matched | lost | latency p50 | latency p99 | blocks p99 |\n|---|---|---|---|---|---|---|\n");
        for (kind, stats) in events {
            let n = |k: &str| stats.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
            let q = |k: &str, p: &str| stats.get(k).and_then(|v| v.get(p)).and_then(|v| v.as_f64());
            let _ = writeln!(
                md,
                "| {kind} | {} | {} | {} | {} | {} | {} |",
                n("registered"),
                n("matched"),
                n("lost"),
                q("latency_seconds", "p50").map_or("–".into(), |x| value(x, "s")),
                q("latency_seconds", "p99").map_or("–".into(), |x| value(x, "s")),
                q("blocks", "p99").map_or("–".into(), |x| format!("{x:.0}")),
            );
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "<details><summary>mock statistics</summary>\n\n```json\n{}\n```\n</details>\n",
        serde_json::to_string_pretty(&outcome.mock).unwrap_or_default()
    );
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
            f.reason.replace('|', "\\|")
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
    let tail = outcome.run.facts.engine_log_tail.trim();
    if tail.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Engine log (last lines)\n\n```\n{tail}\n```\n");
}

fn files(md: &mut String, outcome: &Outcome) {
    md.push_str("## Files\n\n- [outcome.json](outcome.json)\n- [anvil.log](anvil.log)\n");
    if outcome.run.facts.engine_command.is_some() {
        md.push_str(
            "- [engine.log](engine.log)\n- [engine metrics scrapes](metrics/engine.prom)\n",
        );
    }
    md.push_str("- [mock metrics scrapes](metrics/mock.prom)\n");
}

/// A number with its unit, in the unit's natural scale.
pub fn value(x: f64, unit: &str) -> String {
    match unit {
        "s" if x.abs() < 1.0 && x != 0.0 => format!("{:.1} ms", x * 1000.0),
        "s" => format!("{x:.3} s"),
        _ if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        _ => format!("{x:.4}"),
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
