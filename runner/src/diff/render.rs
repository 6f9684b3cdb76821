//! The three renderings of a [`Comparison`]: markdown for a PR comment, an
//! aligned text table for logs, JSON for tools. Rows that moved come first
//! in the table; rows inside the noise band are folded away (markdown) or
//! counted (text), and all are in the JSON.

use std::fmt::Write;

use comfy_table::{presets::ASCII_BORDERS_ONLY_CONDENSED, ContentArrangement, Table};

use super::{Change, Comparison, Direction, Format, Row};
use crate::report::format_value;

/// Renders `comparison` in `format` (ends with a newline).
pub fn render(comparison: &Comparison, format: Format) -> String {
    match format {
        Format::Md => markdown(comparison),
        Format::Text => text(comparison),
        Format::Json => {
            serde_json::to_string_pretty(comparison).expect("a comparison always serialises") + "\n"
        }
    }
}

fn counts(c: &Comparison) -> String {
    let count = |f: fn(Change) -> bool| c.rows.iter().filter(|r| f(r.change)).count();
    let regressions = c.regressions;
    let improvements = count(|x| matches!(x, Change::Better | Change::NowHolds));
    let other = count(|x| matches!(x, Change::Changed | Change::New | Change::Removed));
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}, {}",
        plural(regressions, "regression"),
        plural(improvements, "improvement"),
        plural(other, "other change")
    )
}

fn header_lines(c: &Comparison) -> Vec<String> {
    let mut lines = vec![format!(
        "base {} → head {} · noise band ±{}% · {}",
        status(c.base.status),
        status(c.head.status),
        c.noise_percent,
        counts(c)
    )];
    if c.base.hash != c.head.hash {
        lines.push(format!(
            "warning: different scenarios compared (--force): base `{}` {}, head `{}` {}",
            c.base.scenario,
            short(&c.base.hash),
            c.head.scenario,
            short(&c.head.hash)
        ));
    }
    lines
}

fn status(s: crate::report::Status) -> &'static str {
    match s {
        crate::report::Status::Pass => "pass",
        crate::report::Status::Fail => "fail",
        crate::report::Status::Interrupted => "interrupted",
        crate::report::Status::Error => "error",
    }
}

fn markdown(c: &Comparison) -> String {
    let mut md = format!("## cowload diff: {}\n\n", c.head.scenario);
    for line in header_lines(c) {
        let _ = writeln!(md, "{line}\n");
    }
    let (moved, still): (Vec<&Row>, Vec<&Row>) =
        c.rows.iter().partition(|r| r.change != Change::Unchanged);
    if moved.is_empty() {
        let _ = writeln!(
            md,
            "**No change** beyond the ±{}% noise band ({} readings compared).\n",
            c.noise_percent,
            c.rows.len()
        );
    } else {
        md_table(&mut md, &moved);
    }
    if !still.is_empty() {
        let _ = writeln!(
            md,
            "<details><summary>{} readings unchanged within ±{}%</summary>\n",
            still.len(),
            c.noise_percent
        );
        md_table(&mut md, &still);
        md.push_str("</details>\n\n");
    }
    md.push_str("↓ lower is better · ↑ higher is better\n");
    md
}

fn md_table(md: &mut String, rows: &[&Row]) {
    md.push_str("| metric | base | head | Δ | Δ% | verdict |\n|---|---|---|---|---|---|\n");
    for r in rows {
        let [metric, base, head, delta, percent, verdict] = cells(r, true);
        let _ = writeln!(
            md,
            "| `{}`{} | {base} | {head} | {delta} | {percent} | {verdict} |",
            metric.replace('|', "\\|").replace('`', "'"),
            arrow(r.direction)
        );
    }
    md.push('\n');
}

fn text(c: &Comparison) -> String {
    let mut out = format!("cowload diff: {}\n", c.head.scenario);
    for line in header_lines(c) {
        let _ = writeln!(out, "{line}");
    }
    let moved: Vec<&Row> = c
        .rows
        .iter()
        .filter(|r| r.change != Change::Unchanged)
        .collect();
    if moved.is_empty() {
        let _ = writeln!(
            out,
            "no change beyond the ±{}% noise band ({} readings compared)",
            c.noise_percent,
            c.rows.len()
        );
        return out;
    }
    let mut table = Table::new();
    table
        .load_preset(ASCII_BORDERS_ONLY_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(["metric", "base", "head", "Δ", "Δ%", "verdict"]);
    for r in &moved {
        let [metric, base, head, delta, percent, verdict] = cells(r, false);
        table.add_row([
            format!("{metric}{}", arrow(r.direction)),
            base,
            head,
            delta,
            percent,
            verdict,
        ]);
    }
    let _ = writeln!(out, "{table}");
    let _ = writeln!(
        out,
        "{} more readings unchanged within ±{}% (↓ lower is better, ↑ higher is better)",
        c.rows.len() - moved.len(),
        c.noise_percent
    );
    out
}

fn arrow(direction: Direction) -> &'static str {
    match direction {
        Direction::Lower => " ↓",
        Direction::Higher => " ↑",
        Direction::Neutral => "",
    }
}

/// metric, base, head, Δ, Δ%, verdict.
fn cells(r: &Row, emoji: bool) -> [String; 6] {
    let number = |x: Option<f64>| x.map_or("–".to_owned(), |x| format_value(x, &r.unit));
    let delta = r.delta.map_or("–".to_owned(), |d| {
        let sign = if d > 0.0 { "+" } else { "" };
        format!("{sign}{}", format_value(d, &r.unit))
    });
    let percent = r
        .delta_percent
        .map_or("–".to_owned(), |p| format!("{p:+.1}%"));
    [
        r.metric.clone(),
        number(r.base),
        number(r.head),
        delta,
        percent,
        verdict(r.change, emoji).to_owned(),
    ]
}

fn verdict(change: Change, emoji: bool) -> &'static str {
    match (change, emoji) {
        (Change::NowFails, true) => "❌ now fails",
        (Change::NowFails, false) => "NOW FAILS",
        (Change::NowHolds, true) => "✅ now holds",
        (Change::NowHolds, false) => "now holds",
        (Change::Worse, true) => "🔴 worse",
        (Change::Worse, false) => "WORSE",
        (Change::Better, true) => "🟢 better",
        (Change::Better, false) => "better",
        (Change::Changed, _) => "changed",
        (Change::New, _) => "new",
        (Change::Removed, _) => "removed",
        (Change::Unchanged, _) => "unchanged",
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
