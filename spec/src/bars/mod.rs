//! Acceptance bars: small PromQL-flavoured expressions such as
//! `quantile(0.99, cowload_event_to_order_seconds) < 2s` that decide whether a
//! run passed.
//!
//! In: bar texts from the scenario ([`parse`], at validation time, so a typo
//! is a scenario error with a column). Out: a [`Bar`], whose syntax tree the
//! runner evaluates over the scrapes of a run, and the [`Verdict`] that
//! evaluation gives.
//!
//! Why this shape: the engine, the mock and the harness all publish in the
//! same flat Prometheus model, so one expression language covers all three,
//! evaluated over the load window (the runner's `Series::window`:
//! from the last scrape before the first loaded block was mined to the end
//! of drain, so warm-up never counts; a quantile or increase with no
//! observations in it is no data). Counters are read as increases with reset handling, histogram
//! quantiles use PromQL's bucket interpolation on bucket increases (and carry
//! the bucket they fell in, because an interpolated value is only known to
//! lie inside it), and summary quantiles are read as published, never
//! subtracted. A histogram quantile whose rank falls in the `+Inf` bucket is
//! only known to be above the top finite bound: `<`/`<=` fail, `>`/`>=`
//! hold when the limit is at or below that bound, anything else is
//! undecided and fails with a reason. A bar whose
//! metric is missing, NaN or has no observations fails with a reason: no
//! data is never a pass. Two exceptions, both explicit: a counter family
//! declared by a `# TYPE` line but without samples reads 0 (client libraries
//! print a labelled counter only after its first increment), and a selector
//! written `x or 0` reads 0 where nothing matches; a name never seen without
//! `or 0` still fails, so a typo cannot pass.
//!
//! Arithmetic (`max(head - height)`, `max(increase(errors) / increase(requests))`)
//! pairs the two sides series by series, PromQL-style (identical label sets;
//! a side whose only series has no labels pairs with every series), within
//! each scrape for plain selectors and once over the window for `increase()`;
//! the function then reduces every paired value (the runner's `bars::evaluate`). A division
//! by 0 gives that pair no value.
//!
//! Grammar (whitespace between tokens is free):
//!
//! ```text
//! bar      = expr op number [unit]
//! expr     = ("increase" | "deriv") "(" series ")"
//!          | ("last" | "max" | "min") "(" series [arith series] ")"
//!          | ("last" | "max" | "min") "(" increase arith increase ")"
//!          | "quantile" "(" number "," selector ")"
//!          | series                                    (same as last)
//! increase = "increase" "(" series ")"
//! arith    = "-" | "/"
//! series   = selector ["or" "0"]                       (nothing matched reads 0)
//! selector = metric_name ["{" [matcher {"," matcher} [","]] "}"]
//! matcher  = label_name ("=" | "!=") quoted_string     ("…" or '…')
//! op       = "<" | "<=" | ">" | ">=" | "==" | "!="
//! unit     = "s" | "ms" | "us" | "µs" | "m" | "h"     (converted to seconds)
//!          | "%"                                       (divided by 100)
//!          | size                                      (converted to bytes)
//!          | [size] "/" ("s" | "m" | "h" | "d")        (a rate, per second; deriv only)
//! size     = "B" | "KB" | "MB" | "GB" | "KiB" | "MiB" | "GiB"
//! ```
//!
//! `deriv(series)` is the least-squares slope of each series against the run's wall clock
//! (`cowload_run_elapsed_seconds`) over the window, the steepest series taken: growth per
//! second, written per hour (`deriv(cowload_engine_rss_bytes) < 20MB/h`). Its limit must be
//! a rate and only its limit may be one.

mod parse;

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use parse::parse;

/// A parsed acceptance bar. Compare with `==` on the parsed form; the
/// original text is kept for reports ([`Bar::text`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// The bar as written (see [`Bar::text`]).
    pub text: String,
    /// How the selected samples are reduced.
    pub func: Func,
    /// The selector read (the left side of any arithmetic).
    pub selector: Selector,
    /// `- right` or `/ right`, inside `last`, `max` or `min`.
    pub binary: Option<Binary>,
    /// The comparison.
    pub op: Op,
    /// The limit in base units (seconds, ratio).
    pub limit: f64,
    /// The unit written after the limit (already applied to it).
    pub unit: Unit,
}

impl Bar {
    /// The bar exactly as written in the scenario.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The metric the bar reads (for a quantile, the histogram or summary name).
    pub fn metric(&self) -> &str {
        &self.selector.name
    }

    /// True when `verdict`, this bar's reading on the load window so far,
    /// already fails in a way more scrapes cannot undo: an `increase()`
    /// (resets are added, so it never falls) or a `max()` past an upper
    /// limit, a `min()` past a lower one. `runner search` ends a probe on
    /// such a bar; a quantile or a `last()` can still recover, so it never
    /// ends a probe.
    pub fn failed_for_good(&self, verdict: &Verdict) -> bool {
        let Some(observed) = verdict.observed else {
            return false;
        };
        if verdict.holds || verdict.bucket.is_some() {
            return false;
        }
        // A ratio or difference of increases is one value over the whole
        // window and can fall back; a max over scrapes cannot.
        let per_scrape = self.binary.as_ref().is_none_or(|b| !b.over_window);
        let only_grows = matches!(self.func, Func::Increase if self.binary.is_none())
            || (self.func == Func::Max && per_scrape);
        let upper = match self.op {
            Op::Lt => observed >= self.limit,
            Op::Le | Op::Eq => observed > self.limit,
            _ => false,
        };
        let lower = match self.op {
            Op::Gt => observed <= self.limit,
            Op::Ge | Op::Eq => observed < self.limit,
            _ => false,
        };
        (only_grows && upper) || (self.func == Func::Min && per_scrape && lower)
    }
}

impl fmt::Display for Bar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Bar {
    type Err = BarError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text)
    }
}

/// How the selected samples are reduced over the load window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Func {
    /// The value at the last scrape.
    Last,
    /// How much a counter grew.
    Increase,
    /// The largest value at any scrape.
    Max,
    /// The smallest value at any scrape.
    Min,
    /// The `q` quantile of a histogram or summary.
    Quantile(f64),
    /// The steepest least-squares slope over the window, per second of wall-clock time.
    Deriv,
}

/// The right-hand side of `left - right` or `left / right`.
#[derive(Clone, Debug, PartialEq)]
pub struct Binary {
    /// Both sides are `increase(…)`: one value per series over the window,
    /// rather than one per series per scrape.
    pub over_window: bool,
    /// `-` or `/`.
    pub op: Arith,
    /// The right-hand selector.
    pub right: Selector,
}

/// Arithmetic between two selectors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arith {
    /// `-`
    Sub,
    /// `/`
    Div,
}

impl Arith {
    /// `l op r`; `None` for a division by 0 (or a NaN result).
    pub fn apply(self, l: f64, r: f64) -> Option<f64> {
        let value = match self {
            Arith::Sub => l - r,
            Arith::Div if r == 0.0 => return None,
            Arith::Div => l / r,
        };
        (!value.is_nan()).then_some(value)
    }

    /// The symbol as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Arith::Sub => "-",
            Arith::Div => "/",
        }
    }
}

/// `name{label="value", other!="value"}`, optionally followed by `or 0`.
#[derive(Clone, Debug, PartialEq)]
pub struct Selector {
    /// The metric name.
    pub name: String,
    /// The label matchers, all of which must hold.
    pub matchers: Vec<Matcher>,
    /// Written with `or 0`: where nothing matches, the selector reads 0
    /// instead of no data (for engines that print a counter only after its
    /// first increment).
    pub absent_is_zero: bool,
}

/// One label matcher; an absent label matches as the empty string (as in PromQL).
#[derive(Clone, Debug, PartialEq)]
pub struct Matcher {
    /// The label's name.
    pub label: String,
    /// `=` (else `!=`).
    pub equal: bool,
    /// The value compared with.
    pub value: String,
}

impl Matcher {
    /// Whether a series with `labels` passes this matcher (an absent label reads as `""`).
    pub fn matches(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.label).map_or("", String::as_str);
        (value == self.value) == self.equal
    }
}

impl Selector {
    /// Same matchers, another metric name (for a histogram's `_bucket`), without `or 0`.
    pub fn renamed(&self, name: String) -> Selector {
        Selector {
            name,
            matchers: self.matchers.clone(),
            absent_is_zero: false,
        }
    }
}

/// A bar's comparison, written (and serialised) as its symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Op {
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `==`
    #[serde(rename = "==")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl Op {
    /// Which way a bar with this comparison wants its value to move: `Some(true)` when a
    /// smaller value is better (`<`, `<=`), `Some(false)` when a larger one is (`>`, `>=`),
    /// `None` for `==` and `!=`.
    pub fn lower_is_better(self) -> Option<bool> {
        match self {
            Op::Lt | Op::Le => Some(true),
            Op::Gt | Op::Ge => Some(false),
            Op::Eq | Op::Ne => None,
        }
    }

    /// The symbol as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    /// Whether `value op limit` holds when the value is only known to be
    /// above `bound` (a quantile whose rank fell in the `+Inf` bucket):
    /// `Some` when every value above the bound answers the same, `None`
    /// when the answer depends on the unknown value. `==` and `!=` are
    /// never decided on a value that is not known.
    pub fn holds_above(self, bound: f64, limit: f64) -> Option<bool> {
        match self {
            Op::Lt | Op::Le => Some(false),
            Op::Gt | Op::Ge if limit <= bound => Some(true),
            Op::Gt | Op::Ge | Op::Eq | Op::Ne => None,
        }
    }

    /// Whether `observed op limit`.
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
            Op::Eq => observed == limit,
            Op::Ne => observed != limit,
        }
    }
}

/// What a bar's value is measured in, for display: seconds (serialised `"s"`) or a plain
/// number (`""`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Measure {
    /// A plain number: a count, a ratio.
    #[default]
    #[serde(rename = "")]
    Plain,
    /// Seconds.
    #[serde(rename = "s")]
    Seconds,
    /// Bytes.
    #[serde(rename = "B")]
    Bytes,
    /// A rate per second, shown per hour.
    #[serde(rename = "/s")]
    PerSecond,
    /// Bytes per second, shown per hour.
    #[serde(rename = "B/s")]
    BytesPerSecond,
}

/// The unit written after the limit (already applied to the limit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    /// No unit.
    None,
    /// A time unit: the limit is in seconds.
    Time,
    /// `%`: the limit was divided by 100.
    Percent,
    /// A size: the limit is in bytes.
    Bytes,
    /// A count per time (`1/h`): the limit is per second.
    Rate,
    /// A size per time (`20MB/h`): the limit is in bytes per second.
    ByteRate,
}

impl Unit {
    /// Whether the limit is a rate (what `deriv()` compares with).
    pub fn is_rate(self) -> bool {
        matches!(self, Unit::Rate | Unit::ByteRate)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.matchers.is_empty() {
            return f.write_str(if self.absent_is_zero { " or 0" } else { "" });
        }
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            let op = if m.equal { "=" } else { "!=" };
            let sep = if i > 0 { "," } else { "" };
            write!(f, "{sep}{}{op}{:?}", m.label, m.value)?;
        }
        f.write_str("}")?;
        if self.absent_is_zero {
            f.write_str(" or 0")?;
        }
        Ok(())
    }
}

/// A bar that does not parse. Every variant knows the 1-based character
/// column of the problem; the message starts with `at column N: `.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BarError {
    /// Something other than what the grammar allows at this point.
    #[error("at column {column}: expected {expected}, found {found}")]
    Expected {
        /// 1-based character column.
        column: usize,
        /// What the grammar allows here.
        expected: &'static str,
        /// What was there instead (quoted), or `end of input`.
        found: String,
    },
    /// `name(` where name is not a supported function.
    #[error(
        "at column {column}: unknown function `{name}`; expected one of increase, last, max, min, quantile, deriv"
    )]
    UnknownFunction {
        /// 1-based character column.
        column: usize,
        /// The function name written.
        name: String,
    },
    /// A unit after the limit that is not supported.
    #[error(
        "at column {column}: unknown unit `{unit}`; expected one of s ms us µs m h %, a size \
         (B KB MB GB KiB MiB GiB) or a rate such as MB/h or /h"
    )]
    UnknownUnit {
        /// 1-based character column.
        column: usize,
        /// The unit written.
        unit: String,
    },
    /// `quantile(q, …)` with q outside 0..=1.
    #[error(
        "at column {column}: quantile {value} is outside 0..1; write 0.99 for the 99th percentile"
    )]
    QuantileRange {
        /// 1-based character column.
        column: usize,
        /// The quantile written.
        value: f64,
    },
    /// `=~` or `!~`.
    #[error("at column {column}: regex matchers (=~, !~) are not supported; use = or !=")]
    Regex {
        /// 1-based character column.
        column: usize,
    },
    /// A label value whose closing quote is missing.
    #[error("at column {column}: label value is never closed; end it with {quote}")]
    Unterminated {
        /// 1-based character column of the opening quote.
        column: usize,
        /// The quote character that opened it.
        quote: char,
    },
}

impl BarError {
    /// 1-based character column of the problem in the bar text.
    pub fn column(&self) -> usize {
        match self {
            BarError::Expected { column, .. }
            | BarError::UnknownFunction { column, .. }
            | BarError::UnknownUnit { column, .. }
            | BarError::QuantileRange { column, .. }
            | BarError::Regex { column }
            | BarError::Unterminated { column, .. } => *column,
        }
    }
}

/// The histogram bucket a quantile's rank fell in: the observed value is
/// interpolated inside it, so the true quantile is only known to lie
/// between its bounds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Bucket {
    /// The bucket's lower bound (the previous `le`, or 0 for the lowest bucket).
    pub lower: f64,
    /// The bucket's upper bound (`le`); `None` for the `+Inf` bucket, where
    /// the quantile is only known to be above `lower`, the top finite bound.
    pub upper: Option<f64>,
}

impl Bucket {
    /// True when the rank fell in the `+Inf` bucket: the value is "> lower".
    pub fn is_above_top(&self) -> bool {
        self.upper.is_none()
    }

    /// How wide it is: how far the interpolated value may be from the true one; `None` for
    /// the `+Inf` bucket.
    pub fn width(&self) -> Option<f64> {
        self.upper.map(|upper| upper - self.lower)
    }
}

/// The outcome of one bar over one run.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// The bar as written.
    pub bar: String,
    /// The observed value in base units (seconds, ratio); `None` when there
    /// was no data, in which case the bar fails and `reason` says why.
    pub observed: Option<f64>,
    /// The limit in base units (`2s` → 2, `500ms` → 0.5, `100%` → 1).
    pub limit: f64,
    /// The comparison.
    pub op: Op,
    /// Seconds when the bar's limit had a time unit or the metric name ends in
    /// `_seconds`; for display only.
    pub unit: Measure,
    /// True exactly when there was data and `observed op limit` is known
    /// to be true (see [`Bucket::upper`] for a value only known as a bound).
    pub holds: bool,
    /// Why there was no data, or why a value known only as a bound (above
    /// the top bucket) could not decide the bar; `None` otherwise.
    pub reason: Option<String>,
    /// For a histogram quantile, the bucket its rank fell in; when its
    /// `upper` is `None`, `observed` is the top finite bound and the true
    /// value is above it. `None` for every other kind of bar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<Bucket>,
}

#[cfg(test)]
mod settled_tests {
    use super::*;

    fn reading(text: &str, observed: f64) -> (Bar, Verdict) {
        let bar = parse(text).unwrap();
        let verdict = Verdict {
            bar: text.to_owned(),
            observed: Some(observed),
            limit: bar.limit,
            op: bar.op,
            unit: Measure::Plain,
            holds: bar.op.holds(observed, bar.limit),
            reason: None,
            bucket: None,
        };
        (bar, verdict)
    }

    #[test]
    fn only_readings_that_cannot_come_back_fail_for_good() {
        for (text, observed, settled) in [
            ("increase(cowload_events_lost_total) == 0", 3.0, true),
            ("increase(cowload_events_lost_total) == 0", 0.0, false),
            ("increase(x_total) == 5", 3.0, false),
            ("increase(x_total) < 5", 5.0, true),
            ("increase(x_total) <= 5", 5.0, false),
            ("increase(x_total) >= 5", 3.0, false),
            (
                "max(cowload_chain_head_block - engine_height) <= 2",
                3.0,
                true,
            ),
            ("min(cowload_engine_up) == 1", 0.0, true),
            ("min(x) >= 1", 2.0, false),
            ("last(x) < 1", 2.0, false),
            ("quantile(0.99, x_seconds) < 1s", 2.0, false),
            (
                "max(increase(a_total) / increase(b_total)) < 0.1",
                0.5,
                false,
            ),
            ("max(a - b) < 1", 1.0, true),
        ] {
            let (bar, verdict) = reading(text, observed);
            assert_eq!(
                bar.failed_for_good(&verdict),
                settled,
                "{text} at {observed}"
            );
        }
        let (bar, mut verdict) = reading("increase(x_total) == 0", 1.0);
        verdict.observed = None;
        assert!(!bar.failed_for_good(&verdict), "no data is never final");
    }
}
