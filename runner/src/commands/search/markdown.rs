//! `search.md` and the one progress line per probe, both rendered from the
//! [`Search`] alone so a summary can be regenerated from `search.json`.

use std::fmt::Write;
use std::time::Duration;

use super::model::{DecidingBar, Probe, Search, SearchStatus, StopReason};
use crate::report::{format_value, Kinds, Status};
use cowload_spec::EventKind;

/// `search: probe 3/8  40 events/block  fail  first failed: BAR at block 7  14.2 s (total 41.0 s)`.
pub fn progress_line(probe: &Probe, max_probes: u32, elapsed: Duration) -> String {
    format!(
        "search: probe {}/{max_probes}  {} events/block  {}  {}  {:.1} s (total {:.1} s)",
        probe.index,
        probe.events_per_block,
        verdict(probe.status),
        decision(probe),
        probe.duration_seconds,
        elapsed.as_secs_f64()
    )
}

fn verdict(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Fail => "FAIL",
        Status::Interrupted => "interrupted",
        Status::Error => "ERROR",
    }
}

/// What decided the probe, in a few words.
fn decision(probe: &Probe) -> String {
    let decided = match (probe.status, &probe.decided_by) {
        (Status::Pass, _) => "every bar held".to_owned(),
        (_, Some(bar)) => format!("first failed: {}", bar_at(bar)),
        (_, None) => probe
            .error
            .clone()
            .unwrap_or_else(|| "no bar named".to_owned()),
    };
    match &probe.ended_early {
        Some(end) => format!(
            "{decided}; ended early at block {} by `{}`",
            end.block, end.bar
        ),
        None => decided,
    }
}

/// `` `bar` (observed 1.4 s) at block 7 ``.
fn bar_at(bar: &DecidingBar) -> String {
    let observed = match bar.observed {
        Some(v) => format!(" (observed {})", format_value(v, bar.unit)),
        None => " (no data)".to_owned(),
    };
    let at = match bar.block {
        Some(block) => format!("block {block}"),
        None => bar.at.clone(),
    };
    format!("`{}`{observed} at {at}", bar.bar)
}

fn stop_reason(reason: Option<StopReason>) -> &'static str {
    match reason {
        None => "still running",
        Some(StopReason::Precision) => "the bracket is within the precision",
        Some(StopReason::MaxPassed) => "--max passed",
        Some(StopReason::MinFailed) => "--min failed",
        Some(StopReason::ProbeBudget) => "--max-probes spent",
        Some(StopReason::TimeBudget) => "--budget spent",
        Some(StopReason::Error) => "a probe failed on infrastructure",
        Some(StopReason::Interrupted) => "interrupted",
    }
}

/// The headline: the capacity (or why there is none) and the bracket behind it.
fn headline(s: &Search) -> (String, String) {
    let bracket = match (s.capacity, s.first_failing) {
        (Some(pass), Some(fail)) => format!(
            "every bar held at {pass} events per block and one failed at {fail} (bracket {pass}–{fail}, {:.0} %)",
            f64::from(fail - pass) / f64::from(pass) * 100.0
        ),
        (Some(pass), None) => {
            format!("every bar held at {pass} events per block; no probe failed, so the capacity is at least {pass}")
        }
        (None, Some(fail)) => format!("a bar failed already at {fail} events per block"),
        (None, None) => "no probe finished".to_owned(),
    };
    let head = match (s.status, s.capacity) {
        (SearchStatus::Found, Some(c)) => format!("Capacity: {c} events per block"),
        (SearchStatus::BelowMin, _) => format!(
            "No capacity in range: even {} events per block failed",
            s.settings.min
        ),
        (SearchStatus::Running, _) => "Search running".to_owned(),
        (SearchStatus::Interrupted, _) => "Search interrupted".to_owned(),
        (SearchStatus::Error, _) => "Search stopped by an infrastructure failure".to_owned(),
        (SearchStatus::Found, None) => "No capacity".to_owned(),
    };
    (head, bracket)
}

/// The headline as `search.md` opens with it, the head in bold.
fn answer(s: &Search) -> String {
    let (head, bracket) = headline(s);
    format!("**{head}**: {bracket}.")
}

/// The headline as one plain line, for the terminal.
pub fn summary_line(s: &Search) -> String {
    let (head, bracket) = headline(s);
    format!("{head}: {bracket}.")
}

/// `search.md`.
pub fn render(s: &Search) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# cowload search: {}\n", s.scenario.name);
    let _ = writeln!(out, "{}\n", answer(s));
    if let Some(b) = &s.breaking {
        let bar = b
            .bar
            .as_ref()
            .map_or_else(|| "no bar was named".to_owned(), bar_at);
        let grew = b.grew_most.as_ref().map_or_else(
            || "no stage grew notably".to_owned(),
            |g| format!("the stage that grew most was {g}"),
        );
        let _ = writeln!(
            out,
            "Just above it, at {} events per block, the first bar to fail was {bar}; {grew}.\n",
            b.events_per_block
        );
    }
    let _ = writeln!(
        out,
        "{} probes in {:.1} s; stopped because {}. Range {}–{} events per block, precision {} %, \
         ramp ×{}, at most {} probes in {:.0} s. Mix per block: {}, {} loaded \
         blocks of {} s, seed {}.\n",
        s.probes.len(),
        s.duration_seconds,
        stop_reason(s.stopped),
        s.settings.min,
        s.settings.max,
        s.settings.precision_percent,
        s.settings.growth,
        s.settings.max_probes,
        s.settings.budget_seconds,
        kinds_joined(&s.scenario.mix, |k, n| format!("{n} {}", k.title()), " : "),
        s.scenario.load_blocks,
        s.scenario.block_time_seconds,
        s.scenario.seed
    );
    out.push_str("![events per block against the failing bar and lost events](search.svg)\n\n");
    let _ = writeln!(
        out,
        "| probe | events/block | {} | verdict | decided by | lost | time | run directory |",
        EventKind::LABELS.join(" + ")
    );
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for p in &s.probes {
        let dir = p
            .run_dir
            .strip_prefix(&s.out_dir)
            .unwrap_or(&p.run_dir)
            .display()
            .to_string();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.1} s | {} |",
            p.index,
            p.events_per_block,
            kinds_joined(&p.per_block, |_, n| n.to_string(), " + "),
            verdict(p.status),
            decision(p).replace('|', "\\|"),
            p.lost.map_or_else(|| "–".to_owned(), |l| l.to_string()),
            p.duration_seconds,
            dir
        );
    }
    out
}

/// One text per kind, joined in [`EventKind::ALL`] order.
fn kinds_joined(kinds: &Kinds, f: impl Fn(EventKind, u64) -> String, sep: &str) -> String {
    let parts: Vec<String> = kinds.iter().map(|(k, n)| f(k, *n)).collect();
    parts.join(sep)
}
