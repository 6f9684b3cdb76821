//! Arithmetic between two selectors: `max(a - b)`, `max(increase(a) / increase(b))`.
//!
//! In: a bar whose expression is `left op right` and the scrapes. Out: one
//! value (or why there is none), reduced by the bar's function.
//!
//! Why this shape: the two sides are matched series by series, as PromQL's
//! one-to-one vector matching does — identical label sets pair up, and a side
//! whose only series has no labels (a chain head, a total) pairs with every
//! series of the other side. With plain selectors the pairing happens inside
//! each scrape (`max(head - height)` is the worst lag seen at any scrape);
//! with `increase()` on both sides it happens once over the window. A series
//! divided by 0 has no value: it is dropped, never turned into an infinity
//! that would pass a `>` bar or a NaN that fails with no explanation.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    absent, braces, declared_empty_counter, increases, seen_anywhere, Labels, NoData, Select,
};
use crate::bars::{Arith, Bar, Binary, Func, Selector};
use crate::metrics::Point;

/// One value per label set.
type Vector = BTreeMap<Labels, f64>;

/// What combining two vectors gave: the paired values, and how many pairs
/// were dropped because the right side was 0 in a division.
#[derive(Default)]
struct Combined {
    values: Vector,
    divided_by_zero: usize,
}

/// The bar's value for `func(left op right)`.
pub(super) fn observe(bar: &Bar, binary: &Binary, series: &[Point]) -> Result<f64, NoData> {
    let (left, right) = (&bar.selector, &binary.right);
    for side in [left, right] {
        if !seen_anywhere(side, series) {
            absent(side, series)?;
        }
    }
    let steps: Vec<(&str, Combined)> = if binary.over_window {
        let l = increases(left, series)?;
        let r = increases(right, series)?;
        let last = series.last().map_or("end", |p| p.label.as_str());
        vec![(last, combine(binary.op, &l, &r))]
    } else {
        let points: &[Point] = match bar.func {
            Func::Last => series.last().map(std::slice::from_ref).unwrap_or(&[]),
            _ => series,
        };
        points
            .iter()
            .map(|p| {
                let l = vector_at(left, p, series);
                let r = vector_at(right, p, series);
                (p.label.as_str(), combine(binary.op, &l, &r))
            })
            .collect()
    };
    reduce(bar, binary, &steps, series)
}

/// The selected samples of one scrape, per label set (NaN left out); a side
/// that matches nothing reads as one unlabelled 0 when it may (`or 0`, or a
/// declared counter without samples: see [`absent`]).
fn vector_at(sel: &Selector, point: &Point, series: &[Point]) -> Vector {
    let mut out = Vector::new();
    for sample in sel.select(&point.snapshot).filter(|s| !s.value.is_nan()) {
        *out.entry((*sample.labels).clone()).or_insert(0.0) += sample.value;
    }
    if out.is_empty() && (sel.absent_is_zero || declared_empty_counter(&sel.name, series)) {
        out.insert(Labels::new(), 0.0);
    }
    out
}

/// Pairs the two sides: a side whose only series has no labels pairs with
/// every series of the other (keeping the other's labels); otherwise
/// identical label sets pair and the rest is dropped.
fn combine(op: Arith, left: &Vector, right: &Vector) -> Combined {
    let lone = |v: &Vector| match v.iter().next() {
        Some((labels, value)) if v.len() == 1 && labels.is_empty() => Some(*value),
        _ => None,
    };
    let pairs: Vec<(Labels, f64, f64)> = match (lone(left), lone(right)) {
        (_, Some(r)) => left.iter().map(|(k, l)| (k.clone(), *l, r)).collect(),
        (Some(l), None) => right.iter().map(|(k, r)| (k.clone(), l, *r)).collect(),
        (None, None) => left
            .iter()
            .filter_map(|(k, l)| right.get(k).map(|r| (k.clone(), *l, *r)))
            .collect(),
    };
    let mut out = Combined::default();
    for (labels, l, r) in pairs {
        match op.apply(l, r) {
            Some(value) => {
                out.values.insert(labels, value);
            }
            None => out.divided_by_zero += 1,
        }
    }
    out
}

/// `max`/`min` over every value of every step; `last` needs exactly one
/// series at the last step.
fn reduce(
    bar: &Bar,
    binary: &Binary,
    steps: &[(&str, Combined)],
    series: &[Point],
) -> Result<f64, NoData> {
    let values = steps.iter().flat_map(|(_, c)| c.values.values().copied());
    let picked = match bar.func {
        Func::Max => values.reduce(f64::max),
        Func::Min => values.reduce(f64::min),
        _ => {
            let Some((label, last)) = steps.last() else {
                return Err("no scrapes to evaluate".to_owned());
            };
            match last.values.len() {
                0 => None,
                1 => last.values.values().next().copied(),
                n => {
                    return Err(format!(
                        "{} gives {n} series at the last scrape ({label}); narrow it with label \
                         matchers, or use max() or min()",
                        expression(bar, binary)
                    ))
                }
            }
        }
    };
    picked.ok_or_else(|| no_pairs(bar, binary, steps, series))
}

/// Why no value came out: every pair divided by 0, or no label sets paired.
fn no_pairs(bar: &Bar, binary: &Binary, steps: &[(&str, Combined)], series: &[Point]) -> NoData {
    let expr = expression(bar, binary);
    if steps.iter().any(|(_, c)| c.divided_by_zero > 0) {
        return format!(
            "{expr} has no value: `{}` was 0 wherever the two sides paired (division by zero)",
            binary.right
        );
    }
    let sides = [&bar.selector, &binary.right]
        .map(|sel| format!("`{sel}` has {}", label_sets(sel, series)))
        .join("; ");
    format!(
        "in {expr}, no series of the two sides paired (identical label sets pair; a side \
         whose only series has no labels pairs with every series): {sides}"
    )
}

/// `a - b` or `increase(a) / increase(b)`, for messages.
fn expression(bar: &Bar, binary: &Binary) -> String {
    let side = |sel: &Selector| {
        if binary.over_window {
            format!("increase({sel})")
        } else {
            sel.to_string()
        }
    };
    format!(
        "{} {} {}",
        side(&bar.selector),
        binary.op.symbol(),
        side(&binary.right)
    )
}

/// The label sets a selector matched in any scrape, a few of them.
fn label_sets(sel: &Selector, series: &[Point]) -> String {
    const SHOWN: usize = 5;
    let sets: BTreeSet<String> = series
        .iter()
        .flat_map(|p| sel.select(&p.snapshot))
        .map(|s| braces(&s.labels))
        .collect();
    let mut shown: Vec<String> = sets.iter().take(SHOWN).cloned().collect();
    if sets.len() > SHOWN {
        shown.push(format!("… {} more", sets.len() - SHOWN));
    }
    shown.join(" ")
}
