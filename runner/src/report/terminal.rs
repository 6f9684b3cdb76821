//! The final table printed when a run ends.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use super::markdown::value;
use super::Outcome;

/// Prints the verdict and one row per bar to stderr.
pub fn print_summary(outcome: &Outcome) {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(["", "bar", "observed", "limit"]);
    for bar in &outcome.bars {
        let observed = match (bar.observed, &bar.reason) {
            (Some(x), _) => value(x, &bar.unit),
            (None, Some(reason)) => format!("no data: {reason}"),
            (None, None) => "no data".to_owned(),
        };
        table.add_row([
            if bar.holds { "✓" } else { "✗" }.to_owned(),
            bar.bar.clone(),
            observed,
            format!("{} {}", bar.op, value(bar.limit, &bar.unit)),
        ]);
    }
    let t = &outcome.totals;
    eprintln!("{table}");
    eprintln!(
        "delivered: twap {}/{} ethflow {}/{} · status {:?} · exit {}",
        t.delivered.twap,
        t.requested.twap,
        t.delivered.ethflow,
        t.requested.ethflow,
        outcome.status,
        outcome.exit_code
    );
}
