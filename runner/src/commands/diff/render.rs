//! The three renderings of a [`Comparison`]: markdown for a PR comment, an
//! aligned text table for logs, JSON for tools.
//!
//! In: a comparison. Out: text ending with a newline.
//!
//! Why this order: a reviewer reads the top of a comment and stops. Bars that
//! flipped change the verdict, so they come first, then significant
//! regressions, then improvements, then other moves; at most
//! [`MAX_ROWS`] rows are shown, the rest fold into `<details>`, and so do the
//! readings that did not move or could not be judged. When nothing moved the
//! comment is two lines. Every row says what decided it.

use std::fmt::Write;

use comfy_table::{presets::ASCII_BORDERS_ONLY_CONDENSED, ContentArrangement, Table};

use super::{Change, Comparison, Direction, Format, Row, Test};
use crate::report::format_value;

/// Rows shown before the rest is folded away (markdown).
pub const MAX_ROWS: usize = 15;

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

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn count(c: &Comparison, f: fn(Change) -> bool) -> usize {
    c.rows.iter().filter(|r| f(r.change)).count()
}

fn counts(c: &Comparison) -> String {
    let other = count(c, |x| {
        matches!(x, Change::Changed | Change::New | Change::Removed)
    });
    let undecided = count(c, |x| x == Change::NotEnoughData);
    let insignificant = match count(c, |x| x == Change::NotSignificant) {
        0 => String::new(),
        n => format!(
            ", {n} not significant at {} vs {} runs",
            c.base.runs, c.head.runs
        ),
    };
    format!(
        "{}, {}, {}{insignificant}, {} without enough data to judge",
        plural(c.regressions, "regression"),
        plural(c.improvements, "improvement"),
        plural(other, "other change"),
        undecided
    )
}

/// How readings are judged, in one phrase.
fn rule(c: &Comparison) -> String {
    format!(
        "changed = exact counts differ, or a move > max({}%, 1 ms / 1 event) significant by {}, Benjamini–Hochberg at {} (event→order) and {} (the rest)",
        c.noise_percent,
        if c.paired {
            "the paired t-test over run pairs"
        } else {
            "Welch over runs"
        },
        c.fdr_primary,
        ((c.fdr - c.fdr_primary) * 1e6).round() / 1e6
    )
}

fn sides(c: &Comparison) -> String {
    let side = |s: &super::Side| {
        let left_out = if s.left_out > 0 {
            format!(", {} interrupted or broken left out", s.left_out)
        } else {
            String::new()
        };
        format!("{} ({}{left_out})", s.status.label(), plural(s.runs, "run"))
    };
    format!("base {} → head {}", side(&c.base), side(&c.head))
}

fn warning(c: &Comparison) -> Option<String> {
    (c.base.hash != c.head.hash).then(|| {
        format!(
            "warning: different scenarios compared (--force): base `{}` {}, head `{}` {}",
            c.base.scenario,
            short(&c.base.hash),
            c.head.scenario,
            short(&c.head.hash)
        )
    })
}

/// Flipped bars, regressions, improvements, other moves.
fn rank(change: Change) -> u8 {
    match change {
        Change::NowFails | Change::NowHolds => 0,
        Change::Worse => 1,
        Change::Better => 2,
        _ => 3,
    }
}

fn moved(c: &Comparison) -> Vec<&Row> {
    let mut rows: Vec<&Row> = c.rows.iter().filter(|r| r.change.moved()).collect();
    rows.sort_by_key(|r| rank(r.change));
    rows
}

/// What to do about readings that moved past the threshold without a verdict.
fn undecided_hint(c: &Comparison) -> String {
    if c.base.runs < 2 || c.head.runs < 2 {
        "a side has one run: run both with `--repeat 3` or more to judge them".to_owned()
    } else if c.rows.iter().any(|r| r.change == Change::NotSignificant) {
        format!(
            "not significant at {} vs {} runs: more repeats can decide them",
            c.base.runs, c.head.runs
        )
    } else {
        "too few values on a side".to_owned()
    }
}

fn markdown(c: &Comparison) -> String {
    let moved = moved(c);
    let undecided: Vec<&Row> = c.rows.iter().filter(|r| r.change.undecided()).collect();
    let still: Vec<&Row> = c
        .rows
        .iter()
        .filter(|r| r.change == Change::Unchanged)
        .collect();
    if moved.is_empty() && warning(c).is_none() {
        // Two lines: nothing to review.
        return format!(
            "## cowload diff: {}: no change\n{} · {} readings compared, none changed ({}){}.\n",
            c.head.scenario,
            sides(c),
            c.rows.len(),
            rule(c),
            if undecided.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} moved past the threshold without a verdict ({})",
                    undecided.len(),
                    undecided_hint(c)
                )
            }
        );
    }
    let mut md = format!("## cowload diff: {}\n\n", c.head.scenario);
    let _ = writeln!(md, "{} · {}\n", sides(c), counts(c));
    if let Some(w) = warning(c) {
        let _ = writeln!(md, "{w}\n");
    }
    if moved.is_empty() {
        let _ = writeln!(md, "**No change** ({}).\n", rule(c));
    } else {
        let (shown, rest) = moved.split_at(moved.len().min(MAX_ROWS));
        md_table(&mut md, shown);
        if !rest.is_empty() {
            let _ = writeln!(
                md,
                "<details><summary>{} more {} changed</summary>\n",
                rest.len(),
                if rest.len() == 1 {
                    "reading"
                } else {
                    "readings"
                }
            );
            md_table(&mut md, rest);
            md.push_str("</details>\n\n");
        }
    }
    if !undecided.is_empty() {
        let _ = writeln!(
            md,
            "<details><summary>{} moved past the threshold without a verdict ({})</summary>\n",
            plural(undecided.len(), "reading"),
            undecided_hint(c)
        );
        md_table(&mut md, &undecided);
        md.push_str("</details>\n\n");
    }
    if !still.is_empty() {
        let _ = writeln!(
            md,
            "<details><summary>{} unchanged</summary>\n",
            plural(still.len(), "reading")
        );
        md_table(&mut md, &still);
        md.push_str("</details>\n\n");
    }
    let _ = writeln!(md, "{} · ↓ lower is better · ↑ higher is better", rule(c));
    md
}

fn md_table(md: &mut String, rows: &[&Row]) {
    md.push_str(
        "| metric | base | head | Δ | Δ% | decided by | verdict |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let [metric, base, head, delta, percent, test, verdict] = cells(r, true);
        let _ = writeln!(
            md,
            "| `{}`{} | {base} | {head} | {delta} | {percent} | {} | {verdict} |",
            metric.replace('|', "\\|").replace('`', "'"),
            arrow(r.direction),
            test.replace('|', "\\|")
        );
    }
    md.push('\n');
}

fn text(c: &Comparison) -> String {
    let mut out = format!("cowload diff: {}\n", c.head.scenario);
    let _ = writeln!(out, "{} · {}", sides(c), counts(c));
    if let Some(w) = warning(c) {
        let _ = writeln!(out, "{w}");
    }
    // Moved rows, then the undecided ones: a log has room for both.
    let mut shown = moved(c);
    shown.extend(c.rows.iter().filter(|r| r.change.undecided()));
    if shown.is_empty() {
        let _ = writeln!(
            out,
            "no change ({} readings compared; {})",
            c.rows.len(),
            rule(c)
        );
        return out;
    }
    let mut table = Table::new();
    table
        .load_preset(ASCII_BORDERS_ONLY_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(["metric", "base", "head", "Δ", "Δ%", "decided by", "verdict"]);
    for r in &shown {
        let [metric, base, head, delta, percent, test, verdict] = cells(r, false);
        table.add_row([
            format!("{metric}{}", arrow(r.direction)),
            base,
            head,
            delta,
            percent,
            test,
            verdict,
        ]);
    }
    let _ = writeln!(out, "{table}");
    let _ = writeln!(
        out,
        "{} unchanged ({}; ↓ lower is better, ↑ higher is better)",
        plural(c.rows.len() - shown.len(), "more reading"),
        rule(c)
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

/// metric, base, head, Δ, Δ%, decided by, verdict.
fn cells(r: &Row, emoji: bool) -> [String; 7] {
    let number = |x: Option<f64>| x.map_or("–".to_owned(), |x| format_value(x, r.unit));
    let signed = |d: f64| {
        let sign = if d > 0.0 { "+" } else { "" };
        format!("{sign}{}", format_value(d, r.unit))
    };
    let delta = r.delta.map_or("–".to_owned(), signed);
    let percent = r
        .delta_percent
        .map_or("–".to_owned(), |p| format!("{p:+.1}%"));
    [
        r.metric.clone(),
        number(r.base),
        number(r.head),
        delta,
        percent,
        decided_by(r, &signed),
        match r.change {
            Change::NotSignificant => format!(
                "not significant at {} vs {} runs",
                r.base_runs.len(),
                r.head_runs.len()
            ),
            change => verdict(change, emoji).to_owned(),
        },
    ]
}

/// The test and its numbers, in one cell.
fn decided_by(r: &Row, signed: &dyn Fn(f64) -> String) -> String {
    let p = |p: f64| {
        if p < 1e-4 {
            "<0.0001".to_owned()
        } else {
            format!("{p:.4}")
        }
    };
    let t_test = |name: &str| {
        let raw = r.p_value.map_or("–".to_owned(), p);
        let sign = if raw.starts_with('<') { "" } else { "=" };
        let mut s = format!("{name} p{sign}{raw}");
        if let (Some(adjusted), Some(level)) = (r.p_adjusted, r.level) {
            let family = if r.primary { "primary" } else { "other" };
            let _ = write!(s, " (adj {} vs {level}, {family})", p(adjusted));
        }
        if let Some([low, high]) = r.interval {
            let _ = write!(s, ", 95% CI {} … {}", signed(low), signed(high));
        }
        s
    };
    let threshold = || {
        let t = r
            .threshold
            .map_or("–".to_owned(), |t| format_value(t, r.unit));
        match r.bucket_width {
            Some(w) => format!("{t} (a bucket {} wide)", format_value(w, r.unit)),
            None => t,
        }
    };
    match r.test {
        Test::BarVerdict => "bar verdict".to_owned(),
        Test::Exact if !r.base_runs.is_empty() || !r.head_runs.is_empty() => {
            "exact (worst run)".to_owned()
        }
        Test::Exact => "exact".to_owned(),
        Test::Welch => t_test("Welch"),
        Test::Paired => t_test("paired t"),
        Test::Threshold => format!("|Δ| ≤ {}", threshold()),
        Test::NoiseBand => format!("band ±{}", threshold()),
        Test::Presence if r.base.is_none() && r.head.is_none() => {
            "no value on either side".to_owned()
        }
        Test::Presence => "one side only".to_owned(),
        Test::None => format!("|Δ| > {}, one run on a side", threshold()),
    }
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
        (Change::NotEnoughData, _) => "not enough data to judge",
        (Change::NotSignificant, _) => "not significant",
        (Change::Unchanged, _) => "unchanged",
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// A suite comparison: one comment led by the bars that flipped in any scenario, at most
/// [`MAX_ROWS`] rows over every scenario, each scenario's own comparison folded below, and the
/// scenarios on one side only.
pub fn suites(c: &super::suites::SuiteComparison, format: Format) -> String {
    if format == Format::Json {
        return serde_json::to_string_pretty(c).expect("a comparison always serialises") + "\n";
    }
    let mut rows: Vec<(&str, &Row)> = c
        .scenarios
        .iter()
        .flat_map(|s| {
            moved(&s.comparison)
                .into_iter()
                .map(|r| (s.scenario.as_str(), r))
        })
        .collect();
    rows.sort_by_key(|(_, r)| rank(r.change));
    let mut md = format!(
        "## cowload diff: suite of {} scenarios\n\n{} compared, {}",
        c.scenarios.len() + c.only_base.len() + c.only_head.len() + c.changed.len(),
        c.scenarios.len(),
        plural(c.regressions, "regression")
    );
    for (label, names) in [
        ("only on base", &c.only_base),
        ("only on head", &c.only_head),
        ("scenario changed, not compared", &c.changed),
    ] {
        if !names.is_empty() {
            let _ = write!(md, "; {label}: {}", names.join(", "));
        }
    }
    md.push_str(".\n\n");
    if rows.is_empty() {
        md.push_str("**No change** in any scenario.\n\n");
    } else {
        md.push_str(
            "| scenario | metric | base | head | Δ | verdict |\n|---|---|---|---|---|---|\n",
        );
        for (scenario, r) in rows.iter().take(MAX_ROWS) {
            let [metric, base, head, delta, _, _, verdict] = cells(r, format == Format::Md);
            let _ = writeln!(
                md,
                "| {scenario} | `{}` | {base} | {head} | {delta} | {verdict} |",
                metric.replace('|', "\\|").replace('`', "'")
            );
        }
        if rows.len() > MAX_ROWS {
            let _ = writeln!(
                md,
                "\n{} more changed readings below.",
                rows.len() - MAX_ROWS
            );
        }
        md.push('\n');
    }
    for s in &c.scenarios {
        let _ = writeln!(
            md,
            "<details><summary>{}</summary>\n\n{}\n</details>\n",
            s.scenario,
            markdown(&s.comparison)
        );
    }
    md
}
