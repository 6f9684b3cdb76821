//! The bar grammar (see the module above): a hand-written recursive-descent
//! parser over characters, so that every error can name its column.

use super::{Arith, Bar, BarError, Binary, Func, Matcher, Op, Selector, Unit};

/// Parses one bar, such as `increase(cowload_orders_received_total{outcome="ok"}) >= 100`
/// or `quantile(0.99, cowload_event_to_order_seconds) < 2s`. Errors carry the
/// 1-based character column of the problem.
pub fn parse(text: &str) -> Result<Bar, BarError> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
    };
    let (func, selector, binary) = p.expression()?;
    let op = p.op()?;
    let (limit, unit) = p.limit(func)?;
    p.end()?;
    Ok(Bar {
        text: text.to_owned(),
        func,
        selector,
        binary,
        op,
        limit,
        unit,
    })
}

const FUNCTIONS: &[(&str, Func)] = &[
    ("increase", Func::Increase),
    ("last", Func::Last),
    ("max", Func::Max),
    ("min", Func::Min),
    ("deriv", Func::Deriv),
];

const OPS: &[(&str, Op)] = &[
    ("<=", Op::Le),
    (">=", Op::Ge),
    ("==", Op::Eq),
    ("!=", Op::Ne),
    ("<", Op::Lt),
    (">", Op::Gt),
];

/// Units as `numerator / denominator` of the base unit (dividing keeps
/// `200ms` exactly equal to `0.2`); the bare `us` and both micro signs work.
const UNITS: &[(&str, f64, f64, Unit)] = &[
    ("s", 1.0, 1.0, Unit::Time),
    ("ms", 1.0, 1e3, Unit::Time),
    ("us", 1.0, 1e6, Unit::Time),
    ("µs", 1.0, 1e6, Unit::Time),
    ("μs", 1.0, 1e6, Unit::Time),
    ("m", 60.0, 1.0, Unit::Time),
    ("h", 3600.0, 1.0, Unit::Time),
    ("%", 1.0, 100.0, Unit::Percent),
    ("B", 1.0, 1.0, Unit::Bytes),
    ("KB", 1e3, 1.0, Unit::Bytes),
    ("MB", 1e6, 1.0, Unit::Bytes),
    ("GB", 1e9, 1.0, Unit::Bytes),
    ("KiB", 1024.0, 1.0, Unit::Bytes),
    ("MiB", 1048576.0, 1.0, Unit::Bytes),
    ("GiB", 1073741824.0, 1.0, Unit::Bytes),
];

/// The time after the `/` of a rate, in seconds.
const PER: &[(&str, f64)] = &[("s", 1.0), ("m", 60.0), ("h", 3600.0), ("d", 86400.0)];

/// A unit as `numerator / denominator` of its base unit, and its kind: one of [`UNITS`], or
/// `[size]/time` for a rate.
fn scale(unit: &str) -> Option<(f64, f64, Unit)> {
    let Some((size, per)) = unit.split_once('/') else {
        let (_, numerator, denominator, kind) = UNITS.iter().find(|(name, ..)| *name == unit)?;
        return Some((*numerator, *denominator, *kind));
    };
    let (_, seconds) = PER.iter().find(|(name, _)| *name == per)?;
    if size.is_empty() {
        return Some((1.0, *seconds, Unit::Rate));
    }
    match UNITS.iter().find(|(name, ..)| *name == size)? {
        (_, bytes, _, Unit::Bytes) => Some((*bytes, *seconds, Unit::ByteRate)),
        _ => None,
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.chars.get(self.pos + i) == Some(&c))
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Consumes characters while `keep` holds and returns them.
    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// An [`BarError::Expected`] at the current position.
    fn expected(&self, expected: &'static str) -> BarError {
        let rest: String = self.chars[self.pos..]
            .iter()
            .take_while(|c| !c.is_whitespace())
            .take(12)
            .collect();
        let found = if rest.is_empty() {
            "end of input".to_owned()
        } else {
            format!("`{rest}`")
        };
        BarError::Expected {
            column: self.pos + 1,
            expected,
            found,
        }
    }

    fn expect(&mut self, c: char, expected: &'static str) -> Result<(), BarError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.expected(expected))
        }
    }

    fn expression(&mut self) -> Result<(Func, Selector, Option<Binary>), BarError> {
        self.skip_ws();
        let start = self.pos;
        let name = self.metric_name("a metric name or a function such as increase(")?;
        self.skip_ws();
        if self.peek() != Some('(') {
            let selector = self.matchers_after(name)?;
            return Ok((Func::Last, self.or_zero(selector)?, None));
        }
        self.pos += 1;
        let func = if name == "quantile" {
            Func::Quantile(self.quantile_argument()?)
        } else {
            match FUNCTIONS.iter().find(|(n, _)| *n == name) {
                Some((_, func)) => *func,
                None => {
                    return Err(BarError::UnknownFunction {
                        column: start + 1,
                        name,
                    })
                }
            }
        };
        let (selector, binary) = match func {
            Func::Quantile(_) => {
                self.skip_ws();
                let name = self.metric_name("a metric name")?;
                (self.matchers_after(name)?, None)
            }
            Func::Increase | Func::Deriv => (self.series()?, None),
            Func::Last | Func::Max | Func::Min => self.arithmetic()?,
        };
        self.expect(')', "`)`")?;
        Ok((func, selector, binary))
    }

    /// `series`, or `left - right` / `left / right` where both sides are
    /// plain series or both are `increase(series)`.
    fn arithmetic(&mut self) -> Result<(Selector, Option<Binary>), BarError> {
        let (over_window, left) = self.operand()?;
        self.skip_ws();
        let op = match self.peek() {
            Some('-') => Arith::Sub,
            Some('/') => Arith::Div,
            _ if over_window => {
                return Err(self.expected(
                    "`-` or `/`: increase() inside last, max or min is one side of arithmetic",
                ))
            }
            _ => return Ok((left, None)),
        };
        self.pos += 1;
        self.skip_ws();
        let right_column = self.pos + 1;
        let (right_over_window, right) = self.operand()?;
        if right_over_window != over_window {
            return Err(BarError::Expected {
                column: right_column,
                expected: "both sides as plain selectors or both as increase(…)",
                found: if right_over_window {
                    "`increase(`".to_owned()
                } else {
                    format!("`{}`", right.name)
                },
            });
        }
        let binary = Binary {
            over_window,
            op,
            right,
        };
        Ok((left, Some(binary)))
    }

    /// `series` or `increase(series)`; true for the latter.
    fn operand(&mut self) -> Result<(bool, Selector), BarError> {
        self.skip_ws();
        let mark = self.pos;
        let name = self.metric_name("a metric name")?;
        self.skip_ws();
        if name == "increase" && self.peek() == Some('(') {
            self.pos += 1;
            let selector = self.series()?;
            self.expect(')', "`)`")?;
            return Ok((true, selector));
        }
        self.pos = mark;
        Ok((false, self.series()?))
    }

    /// `selector ["or" "0"]`.
    fn series(&mut self) -> Result<Selector, BarError> {
        self.skip_ws();
        let name = self.metric_name("a metric name")?;
        let selector = self.matchers_after(name)?;
        self.or_zero(selector)
    }

    /// The optional `or 0` after a selector: nothing matched reads 0. Only
    /// the literal 0 is accepted; any other fallback would invent data.
    fn or_zero(&mut self, mut selector: Selector) -> Result<Selector, BarError> {
        self.skip_ws();
        let word_ends = !self
            .chars
            .get(self.pos + 2)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_');
        if !(self.starts_with("or") && word_ends) {
            return Ok(selector);
        }
        self.pos += 2;
        self.skip_ws();
        let start = self.pos;
        let zero = self.number("`0` after `or` (absent counts as 0)")?;
        if zero != 0.0 {
            self.pos = start;
            return Err(
                self.expected("`0` after `or`: only `or 0` (absent counts as 0) is supported")
            );
        }
        selector.absent_is_zero = true;
        Ok(selector)
    }

    /// `q ,` inside `quantile(`.
    fn quantile_argument(&mut self) -> Result<f64, BarError> {
        self.skip_ws();
        let column = self.pos + 1;
        let q = self.number("the quantile, a number such as 0.99")?;
        if !(0.0..=1.0).contains(&q) {
            return Err(BarError::QuantileRange { column, value: q });
        }
        self.expect(',', "`,` after the quantile")?;
        Ok(q)
    }

    fn metric_name(&mut self, expected: &'static str) -> Result<String, BarError> {
        if !self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        {
            return Err(self.expected(expected));
        }
        Ok(self.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'))
    }

    /// The optional `{…}` after a metric name.
    fn matchers_after(&mut self, name: String) -> Result<Selector, BarError> {
        self.skip_ws();
        let mut matchers = Vec::new();
        if self.peek() != Some('{') {
            return Ok(Selector {
                name,
                matchers,
                absent_is_zero: false,
            });
        }
        self.pos += 1;
        loop {
            self.skip_ws();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(Selector {
                    name,
                    matchers,
                    absent_is_zero: false,
                });
            }
            matchers.push(self.matcher()?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                _ => return Err(self.expected("`,` or `}`")),
            }
        }
    }

    fn matcher(&mut self) -> Result<Matcher, BarError> {
        if !self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        {
            return Err(self.expected("a label name or `}`"));
        }
        let label = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
        self.skip_ws();
        if self.starts_with("=~") || self.starts_with("!~") {
            return Err(BarError::Regex {
                column: self.pos + 1,
            });
        }
        let equal = if self.starts_with("!=") {
            self.pos += 2;
            false
        } else if self.starts_with("=") {
            self.pos += 1;
            true
        } else {
            return Err(self.expected("`=` or `!=`"));
        };
        self.skip_ws();
        let value = self.quoted()?;
        Ok(Matcher {
            label,
            equal,
            value,
        })
    }

    /// `"…"` or `'…'` with backslash escapes (`\n`, `\t`, and any other
    /// character standing for itself).
    fn quoted(&mut self) -> Result<String, BarError> {
        let quote = match self.peek() {
            Some(q @ ('"' | '\'')) => q,
            _ => return Err(self.expected("a quoted label value")),
        };
        let column = self.pos + 1;
        self.pos += 1;
        let mut value = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                c if c == quote => return Ok(value),
                '\\' => {
                    let Some(escaped) = self.peek() else { break };
                    self.pos += 1;
                    value.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
                other => value.push(other),
            }
        }
        Err(BarError::Unterminated { column, quote })
    }

    fn op(&mut self) -> Result<Op, BarError> {
        self.skip_ws();
        for (symbol, op) in OPS {
            if self.starts_with(symbol) {
                self.pos += symbol.chars().count();
                return Ok(*op);
            }
        }
        Err(self.expected("one of < <= > >= == !="))
    }

    /// A decimal number: optional sign, digits with an optional fraction, an
    /// optional exponent.
    fn number(&mut self, expected: &'static str) -> Result<f64, BarError> {
        let start = self.pos;
        if matches!(self.peek(), Some('+' | '-')) {
            self.pos += 1;
        }
        let whole = self.take_while(|c| c.is_ascii_digit());
        let mut fraction = String::new();
        if self.peek() == Some('.') {
            self.pos += 1;
            fraction = self.take_while(|c| c.is_ascii_digit());
        }
        if whole.is_empty() && fraction.is_empty() {
            self.pos = start;
            return Err(self.expected(expected));
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let mark = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some('+' | '-')) {
                self.pos += 1;
            }
            if self.take_while(|c| c.is_ascii_digit()).is_empty() {
                self.pos = mark;
            }
        }
        let literal: String = self.chars[start..self.pos].iter().collect();
        match literal.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(value),
            Ok(_) => {
                self.pos = start;
                Err(self.expected("a finite number"))
            }
            Err(_) => {
                self.pos = start;
                Err(self.expected(expected))
            }
        }
    }

    /// The number after the comparison and its optional unit, in base units.
    /// `func` decides whether the unit must be a rate: `deriv()` compares with a rate and
    /// nothing else does.
    fn limit(&mut self, func: Func) -> Result<(f64, Unit), BarError> {
        self.skip_ws();
        let number = self.number("a number")?;
        self.skip_ws();
        let column = self.pos + 1;
        let unit = if self.peek() == Some('%') {
            self.pos += 1;
            "%".to_owned()
        } else {
            let mut unit = self.take_while(char::is_alphabetic);
            if self.peek() == Some('/') {
                self.pos += 1;
                unit.push('/');
                unit.push_str(&self.take_while(char::is_alphabetic));
            }
            unit
        };
        let (numerator, denominator, kind) = if unit.is_empty() {
            (1.0, 1.0, Unit::None)
        } else {
            scale(&unit).ok_or_else(|| BarError::UnknownUnit {
                column,
                unit: unit.clone(),
            })?
        };
        if (func == Func::Deriv) != kind.is_rate() {
            return Err(BarError::Expected {
                column,
                expected: if func == Func::Deriv {
                    "a rate after a deriv() limit, such as 20MB/h or 1/h"
                } else {
                    "a unit that is not a rate (only deriv() compares with one)"
                },
                found: if unit.is_empty() {
                    "no unit".to_owned()
                } else {
                    format!("`{unit}`")
                },
            });
        }
        let scaled = number * numerator / denominator;
        if !scaled.is_finite() {
            return Err(BarError::Expected {
                column,
                expected: "a limit that stays finite in base units",
                found: format!("`{unit}`"),
            });
        }
        Ok((scaled, kind))
    }

    fn end(&mut self) -> Result<(), BarError> {
        self.skip_ws();
        if self.pos < self.chars.len() {
            return Err(self.expected("the end of the bar"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn or_zero(mut selector: Selector) -> Selector {
        selector.absent_is_zero = true;
        selector
    }

    fn sel(name: &str, matchers: &[(&str, bool, &str)]) -> Selector {
        Selector {
            absent_is_zero: false,
            name: name.to_owned(),
            matchers: matchers
                .iter()
                .map(|(label, equal, value)| Matcher {
                    label: (*label).to_owned(),
                    equal: *equal,
                    value: (*value).to_owned(),
                })
                .collect(),
        }
    }

    #[test]
    fn parses_good_bars() {
        type Case<'a> = (&'a str, Func, Selector, Op, f64, Unit);
        let cases: Vec<Case> = vec![
            ("x > 1", Func::Last, sel("x", &[]), Op::Gt, 1.0, Unit::None),
            (
                "last(x)<=0",
                Func::Last,
                sel("x", &[]),
                Op::Le,
                0.0,
                Unit::None,
            ),
            (
                "increase(cowload_orders_received_total{kind=\"twap\", outcome!=\"ok\"}) == 0",
                Func::Increase,
                sel(
                    "cowload_orders_received_total",
                    &[("kind", true, "twap"), ("outcome", false, "ok")],
                ),
                Op::Eq,
                0.0,
                Unit::None,
            ),
            (
                "  quantile( 0.99 ,lat_seconds { kind = 'eth\\'flow' , } )  <  2s  ",
                Func::Quantile(0.99),
                sel("lat_seconds", &[("kind", true, "eth'flow")]),
                Op::Lt,
                2.0,
                Unit::Time,
            ),
            (
                "max(g) >= 500ms",
                Func::Max,
                sel("g", &[]),
                Op::Ge,
                0.5,
                Unit::Time,
            ),
            (
                "min(g) != 250 us",
                Func::Min,
                sel("g", &[]),
                Op::Ne,
                250e-6,
                Unit::Time,
            ),
            (
                "g < 3µs",
                Func::Last,
                sel("g", &[]),
                Op::Lt,
                3e-6,
                Unit::Time,
            ),
            (
                "g < 2m",
                Func::Last,
                sel("g", &[]),
                Op::Lt,
                120.0,
                Unit::Time,
            ),
            (
                "g < 1.5h",
                Func::Last,
                sel("g", &[]),
                Op::Lt,
                5400.0,
                Unit::Time,
            ),
            (
                "ratio >= 100%",
                Func::Last,
                sel("ratio", &[]),
                Op::Ge,
                1.0,
                Unit::Percent,
            ),
            (
                "ratio >= 99.5 %",
                Func::Last,
                sel("ratio", &[]),
                Op::Ge,
                0.995,
                Unit::Percent,
            ),
            (
                "g > -1.5e3",
                Func::Last,
                sel("g", &[]),
                Op::Gt,
                -1500.0,
                Unit::None,
            ),
            ("g > .5", Func::Last, sel("g", &[]), Op::Gt, 0.5, Unit::None),
            (
                "quantile(1, g) < 1",
                Func::Quantile(1.0),
                sel("g", &[]),
                Op::Lt,
                1.0,
                Unit::None,
            ),
            (
                "ns:rule_total{} > 0",
                Func::Last,
                sel("ns:rule_total", &[]),
                Op::Gt,
                0.0,
                Unit::None,
            ),
            (
                "increase(x_errors_total or 0) == 0",
                Func::Increase,
                or_zero(sel("x_errors_total", &[])),
                Op::Eq,
                0.0,
                Unit::None,
            ),
            (
                "max( e_total{kind=\"a\"}   or   0.0 ) < 1",
                Func::Max,
                or_zero(sel("e_total", &[("kind", true, "a")])),
                Op::Lt,
                1.0,
                Unit::None,
            ),
            (
                "g or 0 > 1",
                Func::Last,
                or_zero(sel("g", &[])),
                Op::Gt,
                1.0,
                Unit::None,
            ),
            // A metric may be named like a function when no `(` follows.
            (
                "max > 1",
                Func::Last,
                sel("max", &[]),
                Op::Gt,
                1.0,
                Unit::None,
            ),
        ];
        for (text, func, selector, op, limit, unit) in cases {
            let bar = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(bar.text(), text);
            assert_eq!(bar.func, func, "{text}");
            assert_eq!(bar.selector, selector, "{text}");
            assert_eq!(bar.op, op, "{text}");
            assert!(
                (bar.limit - limit).abs() <= 1e-12 * limit.abs(),
                "{text}: {}",
                bar.limit
            );
            assert_eq!(bar.unit, unit, "{text}");
        }
    }

    #[test]
    fn rejects_bad_bars_with_the_column() {
        let cases = [
            ("", "at column 1: expected a metric name or a function such as increase(, found end of input"),
            ("x", "at column 2: expected one of < <= > >= == !=, found end of input"),
            ("increase(x) = 1", "at column 13: expected one of < <= > >= == !=, found `=`"),
            ("rate(x) > 1", "at column 1: unknown function `rate`; expected one of increase, last, max, min, quantile, deriv"),
            ("increase(x > 1", "at column 12: expected `)`, found `>`"),
            ("increase() > 1", "at column 10: expected a metric name, found `)`"),
            ("x > ", "at column 5: expected a number, found end of input"),
            ("x > fast", "at column 5: expected a number, found `fast`"),
            ("x > 2sec", "at column 6: unknown unit `sec`; expected one of s ms us µs m h %, a size (B KB MB GB KiB MiB GiB) or a rate such as MB/h or /h"),
            ("x > 2 s s", "at column 9: expected the end of the bar, found `s`"),
            ("x > 1 2", "at column 7: expected the end of the bar, found `2`"),
            ("x < 1e999", "at column 5: expected a finite number, found `1e999`"),
            ("quantile(99, x) < 1", "at column 10: quantile 99 is outside 0..1; write 0.99 for the 99th percentile"),
            ("quantile(x) < 1", "at column 10: expected the quantile, a number such as 0.99, found `x)`"),
            ("quantile(0.9 x) < 1", "at column 14: expected `,` after the quantile, found `x)`"),
            ("x{kind=twap} > 1", "at column 8: expected a quoted label value, found `twap}`"),
            ("x{kind=~\"t.*\"} > 1", "at column 7: regex matchers (=~, !~) are not supported; use = or !="),
            ("x{kind==\"t\"} > 1", "at column 8: expected a quoted label value, found `=\"t\"}`"),
            ("x{kind} > 1", "at column 7: expected `=` or `!=`, found `}`"),
            ("x{kind!} > 1", "at column 7: expected `=` or `!=`, found `!}`"),
            ("x{kind!=twap} > 1", "at column 9: expected a quoted label value, found `twap}`"),
            ("x{kind=\"t\" a=\"b\"} > 1", "at column 12: expected `,` or `}`, found `a=\"b\"}`"),
            ("x{kind=\"twap} > 1", "at column 8: label value is never closed; end it with \""),
            ("x{1=\"a\"} > 1", "at column 3: expected a label name or `}`, found `1=\"a\"}`"),
            ("increase(x or 1) == 0", "at column 15: expected `0` after `or`: only `or 0` (absent counts as 0) is supported, found `1)`"),
            ("increase(x or) == 0", "at column 14: expected `0` after `or` (absent counts as 0), found `)`"),
            ("increase(x order) == 0", "at column 12: expected `)`, found `order)`"),
            ("quantile(0.9, x or 0) < 1", "at column 17: expected `)`, found `or`"),
            ("max(a - ) < 1", "at column 9: expected a metric name, found `)`"),
            ("max(a - 1) < 1", "at column 9: expected a metric name, found `1)`"),
            ("max(a * b) < 1", "at column 7: expected `)`, found `*`"),
            ("max(increase(a)) < 1", "at column 16: expected `-` or `/`: increase() inside last, max or min is one side of arithmetic, found `)`"),
            ("max(increase(a) / b) < 1", "at column 19: expected both sides as plain selectors or both as increase(…), found `b`"),
            ("max(a / increase(b)) < 1", "at column 9: expected both sides as plain selectors or both as increase(…), found `increase(`"),
            ("increase(a - b) < 1", "at column 12: expected `)`, found `-`"),
            ("quantile(0.5, a / b) < 1", "at column 17: expected `)`, found `/`"),
            ("a - b < 1", "at column 3: expected one of < <= > >= == !=, found `-`"),
            // Columns count characters, not bytes: µ is two bytes.
            ("µs > 1", "at column 1: expected a metric name or a function such as increase(, found `µs`"),
            ("x{k=\"µµ\"} > 1 )", "at column 15: expected the end of the bar, found `)`"),
        ];
        for (text, want) in cases {
            let err = parse(text).expect_err(text);
            assert_eq!(err.to_string(), want, "{text:?}");
            let column: usize = want["at column ".len()..want.find(':').unwrap()]
                .parse()
                .unwrap();
            assert_eq!(err.column(), column, "{text:?}");
        }
    }

    #[test]
    fn parses_arithmetic_between_two_selectors() {
        let bar =
            parse("max(cowload_chain_head_block - engine_block_height{chain=\"1\"}) <= 2").unwrap();
        assert_eq!(bar.func, Func::Max);
        assert_eq!(bar.selector, sel("cowload_chain_head_block", &[]));
        assert_eq!(
            bar.binary,
            Some(Binary {
                over_window: false,
                op: Arith::Sub,
                right: sel("engine_block_height", &[("chain", true, "1")]),
            })
        );
        let bar =
            parse("min( increase( x_errors_total or 0 )/increase(x_requests_total{a!='b'}) ) < 1%")
                .unwrap();
        assert_eq!(bar.func, Func::Min);
        assert_eq!(bar.selector, or_zero(sel("x_errors_total", &[])));
        assert_eq!(
            bar.binary,
            Some(Binary {
                over_window: true,
                op: Arith::Div,
                right: sel("x_requests_total", &[("a", false, "b")]),
            })
        );
        assert_eq!((bar.op, bar.limit), (Op::Lt, 0.01));
        // A metric may be called `increase` when no `(` follows.
        let bar = parse("last(increase - b) == 0").unwrap();
        assert_eq!(bar.selector, sel("increase", &[]));
        assert!(bar.binary.is_some_and(|b| !b.over_window));
        // No arithmetic: no binary.
        assert_eq!(parse("max(a) < 1").unwrap().binary, None);
    }

    #[test]
    fn sizes_and_rates_convert_to_bytes_and_per_second() {
        let cases = [
            ("max(rss_bytes) < 512MB", 512e6, Unit::Bytes),
            ("max(rss_bytes) < 1GiB", 1073741824.0, Unit::Bytes),
            ("deriv(rss_bytes) < 36MB/h", 1e4, Unit::ByteRate),
            ("deriv(fds) < 1/h", 1.0 / 3600.0, Unit::Rate),
            ("deriv(fds) < 6/m", 0.1, Unit::Rate),
            ("deriv(x) <= 0/s", 0.0, Unit::Rate),
            ("deriv(state_bytes) < 864KB/d", 10.0, Unit::ByteRate),
        ];
        for (text, limit, unit) in cases {
            let bar = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!((bar.limit - limit).abs() < 1e-12, "{text}: {}", bar.limit);
            assert_eq!(bar.unit, unit, "{text}");
        }
        assert_eq!(parse("deriv(x) < 1/h").unwrap().func, Func::Deriv);
        let errors = [
            ("deriv(x) < 20MB", "at column 14: expected a rate after a deriv() limit, such as 20MB/h or 1/h, found `MB`"),
            ("deriv(x) < 20", "at column 14: expected a rate after a deriv() limit, such as 20MB/h or 1/h, found no unit"),
            ("max(x) < 1/h", "at column 11: expected a unit that is not a rate (only deriv() compares with one), found `/h`"),
            ("deriv(x) < 1MB/week", "at column 13: unknown unit `MB/week`"),
            ("deriv(x) < 1s/h", "at column 13: unknown unit `s/h`"),
        ];
        for (text, want) in errors {
            let got = parse(text).unwrap_err().to_string();
            assert!(got.starts_with(want), "{text}: {got}");
        }
    }

    #[test]
    fn from_str_and_display_round_trip_the_text() {
        let bar: Bar = "increase(x_total) >= 1".parse().unwrap();
        assert_eq!(bar.to_string(), "increase(x_total) >= 1");
        assert_eq!(bar.metric(), "x_total");
        assert_eq!(bar, parse("increase(x_total) >= 1").unwrap());
        assert_ne!(bar, parse("increase(x_total) >= 2").unwrap());
        let bar: Bar = "x{a != 'b' ,c=\"d\"} > 0".parse().unwrap();
        assert_eq!(bar.selector.to_string(), "x{a!=\"b\",c=\"d\"}");
        let bar: Bar = "increase(x_total{a=\"b\"} or 0) == 0".parse().unwrap();
        assert_eq!(bar.selector.to_string(), "x_total{a=\"b\"} or 0");
        assert_ne!(bar, parse("increase(x_total{a=\"b\"}) == 0").unwrap());
    }
}
