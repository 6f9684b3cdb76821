//! Acceptance bars: small PromQL-flavoured expressions such as
//! `quantile(0.99, cowload_event_to_order_seconds) < 2s` that decide whether a
//! run passed.
//!
//! In: bar texts from the scenario ([`parse`], at validation time, so a typo
//! is a scenario error with a column) and, after the run, the
//! [`Series`](crate::metrics::Series) of scrapes. Out: one [`Verdict`] per
//! bar ([`evaluate`], pure, no I/O).
//!
//! Why this shape: the engine, the mock and the harness all publish in the
//! same flat Prometheus model, so one expression language covers all three,
//! evaluated over the run window (first scrape = before the load, last =
//! end). Counters are read as increases with reset handling, histogram
//! quantiles use PromQL's bucket interpolation on bucket increases, and
//! summary quantiles are read as published, never subtracted. A bar whose
//! metric is missing, NaN or has no observations fails with a reason: no
//! data is never a pass.
//!
//! Grammar (whitespace between tokens is free):
//!
//! ```text
//! bar      = expr op number [unit]
//! expr     = ("increase" | "last" | "max" | "min") "(" selector ")"
//!          | "quantile" "(" number "," selector ")"
//!          | selector                                  (same as last)
//! selector = metric_name ["{" [matcher {"," matcher} [","]] "}"]
//! matcher  = label_name ("=" | "!=") quoted_string     ("…" or '…')
//! op       = "<" | "<=" | ">" | ">=" | "==" | "!="
//! unit     = "s" | "ms" | "us" | "µs" | "m" | "h"     (converted to seconds)
//!          | "%"                                       (divided by 100)
//! ```

mod evaluate;
mod parse;

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

pub use evaluate::evaluate;
pub use parse::parse;

/// A parsed acceptance bar. Compare with `==` on the parsed form; the
/// original text is kept for reports ([`Bar::text`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    text: String,
    func: Func,
    selector: Selector,
    op: Op,
    limit: f64,
    unit: Unit,
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

/// How the selected samples are reduced over the run window.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Func {
    Last,
    Increase,
    Max,
    Min,
    Quantile(f64),
}

/// `name{label="value", other!="value"}`.
#[derive(Clone, Debug, PartialEq)]
struct Selector {
    name: String,
    matchers: Vec<Matcher>,
}

/// One label matcher; an absent label matches as the empty string (as in PromQL).
#[derive(Clone, Debug, PartialEq)]
struct Matcher {
    label: String,
    equal: bool,
    value: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    fn holds(self, observed: f64, limit: f64) -> bool {
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

/// The unit written after the limit (already applied to the limit).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Unit {
    None,
    Time,
    Percent,
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.matchers.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            let op = if m.equal { "=" } else { "!=" };
            let sep = if i > 0 { "," } else { "" };
            write!(f, "{sep}{}{op}{:?}", m.label, m.value)?;
        }
        f.write_str("}")
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
        "at column {column}: unknown function `{name}`; expected one of increase, last, max, min, quantile"
    )]
    UnknownFunction {
        /// 1-based character column.
        column: usize,
        /// The function name written.
        name: String,
    },
    /// A unit after the limit that is not supported.
    #[error("at column {column}: unknown unit `{unit}`; expected one of s ms us µs m h %")]
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
    /// The comparison: `<`, `<=`, `>`, `>=`, `==` or `!=`.
    pub op: String,
    /// `"s"` when the bar's limit had a time unit or the metric name ends in
    /// `_seconds`, else `""`; for display only.
    pub unit: String,
    /// True exactly when there was data and `observed op limit` is true.
    pub holds: bool,
    /// Why there was no data; `None` whenever `observed` is set.
    pub reason: Option<String>,
}
