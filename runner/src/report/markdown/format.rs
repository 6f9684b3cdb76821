//! How `report.md` (and the terminal summary) write a value: units, bucket bounds, windows
//! and table cells.

use crate::bars::{Bucket, Measure};
use crate::report::{BarResult, LoadWindow};

/// A number with its unit, in the unit's natural scale.
pub fn value(x: f64, unit: Measure) -> String {
    match unit {
        Measure::Seconds if x == 0.0 => "0 s".to_owned(),
        Measure::Seconds if x.abs() < 1.0 => format!("{:.1} ms", x * 1000.0),
        Measure::Seconds => format!("{x:.3} s"),
        Measure::Bytes => bytes(x),
        Measure::BytesPerSecond => format!("{}/h", bytes(x * 3600.0)),
        Measure::PerSecond => format!("{}/h", short_number(x * 3600.0)),
        _ if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        _ => format!("{x:.4}"),
    }
}

/// A size in decimal units, as limits are written: `512 B`, `20.5 MB`.
fn bytes(x: f64) -> String {
    const STEPS: [(f64, &str); 3] = [(1e9, "GB"), (1e6, "MB"), (1e3, "KB")];
    match STEPS.iter().find(|(size, _)| x.abs() >= *size) {
        Some((size, name)) => format!("{:.1} {name}", x / size),
        None => format!("{x:.0} B"),
    }
}

/// Which scrapes the bars judged, in one sentence.
pub fn window(window: Option<&LoadWindow>) -> String {
    let Some(w) = window else {
        return "No load window: the run never mined a loaded block, so no bar has data."
            .to_owned();
    };
    let blocks = match (w.first_block, w.last_block) {
        (Some(first), Some(last)) => format!("blocks {first}–{last}, "),
        _ => String::new(),
    };
    format!(
        "Bars judge the load window: scrapes `{}` → `{}` ({blocks}{} scrapes); warm-up is left out.",
        w.from, w.to, w.scrapes
    )
}

/// A bar's observed value as every report prints it: `no data: why`, a
/// plain value, a histogram quantile with its bucket (`55.200 s (30–60 s
/// bucket)`), or `> 10 s` when the rank fell in the `+Inf` bucket; a reason
/// that left the bar undecided follows after a semicolon.
pub fn observed(bar: &BarResult) -> String {
    let Some(x) = bar.observed else {
        return match &bar.reason {
            Some(reason) => format!("no data: {reason}"),
            None => "no data".to_owned(),
        };
    };
    let text = match bar.bucket {
        Some(Bucket { lower, upper: None }) => format!("> {}", bound(lower, bar.unit)),
        Some(Bucket {
            lower,
            upper: Some(upper),
        }) => format!(
            "{} ({} bucket)",
            value(x, bar.unit),
            bucket_range(lower, upper, bar.unit)
        ),
        None => value(x, bar.unit),
    };
    match &bar.reason {
        Some(reason) => format!("{text}; {reason}"),
        None => text,
    }
}

/// A bucket bound, as short as it is exact: `10 s`, `250 ms`, `2.5`.
pub(super) fn bound(x: f64, unit: Measure) -> String {
    match unit {
        Measure::Seconds if x != 0.0 && x.abs() < 1.0 => {
            format!("{} ms", short_number(x * 1000.0))
        }
        Measure::Seconds => format!("{} s", short_number(x)),
        _ => short_number(x),
    }
}

/// `30–60 s`, `100–250 ms`, `0–5 ms`; bounds on different scales each keep
/// their own unit (`500 ms–1 s`).
pub(super) fn bucket_range(lower: f64, upper: f64, unit: Measure) -> String {
    let hi = bound(upper, unit);
    if lower == 0.0 {
        return format!("0–{hi}");
    }
    let lo = bound(lower, unit);
    match (lo.split_once(' '), hi.split_once(' ')) {
        (Some((number, lo_unit)), Some((_, hi_unit))) if lo_unit == hi_unit => {
            format!("{number}–{hi}")
        }
        _ => format!("{lo}–{hi}"),
    }
}

/// A number rounded to six decimals and printed without trailing zeros.
pub(super) fn short_number(x: f64) -> String {
    format!("{}", (x * 1e6).round() / 1e6 + 0.0)
}

/// Text safe inside a table cell.
pub(super) fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub(super) fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
