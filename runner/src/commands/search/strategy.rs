//! Which load to probe next, from what the probes so far said, and how a
//! load of N events per block keeps the scenario's mix. Pure: every path of
//! the search is unit-tested without a chain.

use cowload_spec::EventKind;

use crate::scenario::PerBlock;

/// The ramp multiplies the last passing load by this until a probe fails.
/// Doubling reaches any capacity up to `max` in log2(max / min) probes and
/// leaves a bracket whose bisection takes log2(1 / precision) more.
pub const GROWTH: u32 = 2;

/// The range searched and when a bracket is narrow enough.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// The first load probed (events per block).
    pub min: u32,
    /// The largest load probed.
    pub max: u32,
    /// A bracket `pass..fail` is narrow enough when `fail − pass` is at most
    /// this fraction of `pass` (0.1 for `--precision 10%`).
    pub precision: f64,
}

/// The highest load that passed and the lowest that failed, so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bracket {
    /// Highest events per block at which every bar held.
    pub pass: Option<u32>,
    /// Lowest events per block at which a bar failed.
    pub fail: Option<u32>,
}

impl Bracket {
    /// Takes one probe's verdict into the bracket.
    pub fn record(&mut self, events: u32, passed: bool) {
        if passed {
            self.pass = Some(self.pass.map_or(events, |p| p.max(events)));
        } else {
            self.fail = Some(self.fail.map_or(events, |f| f.min(events)));
        }
    }
}

/// Why the search needs no further probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Even `min` failed: the capacity is below the range.
    MinFailed,
    /// `max` passed: the capacity is at least `max`.
    MaxPassed,
    /// The bracket is within the precision (or one event wide).
    Precise,
}

/// The search's next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Probe this many events per block.
    Probe(u32),
    /// Stop: the answer is as good as asked.
    Settled(Settled),
}

/// Ramp from `min` by [`GROWTH`] (capped at `max`) while probes pass; once
/// one failed, bisect between the last pass and the first fail. Every probe
/// lies strictly inside the bracket, so the bracket never contradicts itself.
pub fn next(bracket: Bracket, limits: Limits) -> Next {
    match (bracket.pass, bracket.fail) {
        (None, None) => Next::Probe(limits.min),
        (None, Some(_)) => Next::Settled(Settled::MinFailed),
        (Some(pass), None) if pass >= limits.max => Next::Settled(Settled::MaxPassed),
        (Some(pass), None) => Next::Probe(pass.saturating_mul(GROWTH).min(limits.max)),
        (Some(pass), Some(fail)) if narrow(pass, fail, limits.precision) => {
            Next::Settled(Settled::Precise)
        }
        (Some(pass), Some(fail)) => Next::Probe(pass + (fail - pass) / 2),
    }
}

/// True when no integer lies between the two, or their gap is within
/// `precision` of the passing load.
fn narrow(pass: u32, fail: u32, precision: f64) -> bool {
    fail <= pass.saturating_add(1) || f64::from(fail - pass) <= f64::from(pass) * precision
}

/// `events` per block split between the kinds in the scenario's proportion.
/// Every used kind but the last (in [`EventKind::ALL`] order) gets
/// `round(events × its share)` (halves round up) and the last the rest, so the
/// total is exact. A kind the scenario uses keeps at least one event whenever
/// there are enough events to go round, so a mixed scenario never degenerates
/// into a single-kind probe.
pub fn scale(mix: PerBlock, events: u32) -> PerBlock {
    let total = mix.total();
    let used: Vec<EventKind> = mix
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, _)| k)
        .collect();
    let mut out = PerBlock::default();
    let Some((&last, rest)) = used.split_last() else {
        return out;
    };
    let spread = events as usize >= used.len();
    let mut left = events;
    for (i, &kind) in rest.iter().enumerate() {
        let share = (u64::from(events) * u64::from(mix[kind]) * 2 + total) / (total * 2);
        let mut n = u32::try_from(share).unwrap_or(left).min(left);
        if spread {
            // Leave one for each used kind after this one.
            let after = (rest.len() - i) as u32;
            n = n.clamp(1, left - after);
        }
        out[kind] = n;
        left -= n;
    }
    out[last] = left;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        min: 10,
        max: 160,
        precision: 0.1,
    };

    /// Runs the whole search against an engine that passes exactly up to
    /// `capacity`; returns the probes made and the final bracket.
    fn simulate(capacity: u32, limits: Limits) -> (Vec<u32>, Bracket, Settled) {
        let mut bracket = Bracket::default();
        let mut probes = Vec::new();
        for _ in 0..64 {
            match next(bracket, limits) {
                Next::Probe(n) => {
                    assert!(!probes.contains(&n), "{n} probed twice: {probes:?}");
                    probes.push(n);
                    bracket.record(n, n <= capacity);
                }
                Next::Settled(why) => return (probes, bracket, why),
            }
        }
        panic!("the search did not settle: {probes:?}");
    }

    #[test]
    fn ramps_by_doubling_then_bisects_to_the_precision() {
        let (probes, bracket, why) = simulate(20, LIMITS);
        assert_eq!(probes, [10, 20, 40, 30, 25, 22]);
        assert_eq!(bracket.pass, Some(20));
        assert_eq!(bracket.fail, Some(22));
        assert_eq!(why, Settled::Precise);
    }

    #[test]
    fn every_capacity_in_range_is_found_within_precision_in_few_probes() {
        for capacity in LIMITS.min..LIMITS.max {
            let (probes, bracket, why) = simulate(capacity, LIMITS);
            assert_eq!(why, Settled::Precise, "capacity {capacity}");
            let (pass, fail) = (bracket.pass.unwrap(), bracket.fail.unwrap());
            assert!(pass <= capacity && capacity < fail, "capacity {capacity}");
            assert!(narrow(pass, fail, 0.1), "{pass}..{fail}");
            assert!(probes.len() <= 10, "capacity {capacity}: {probes:?}");
        }
    }

    #[test]
    fn below_min_and_above_max_settle_at_once() {
        let (probes, bracket, why) = simulate(5, LIMITS);
        assert_eq!((probes, why), (vec![10], Settled::MinFailed));
        assert_eq!(bracket.pass, None);
        let (probes, _, why) = simulate(1000, LIMITS);
        assert_eq!(
            (probes, why),
            (vec![10, 20, 40, 80, 160], Settled::MaxPassed)
        );
        // A max off the doubling grid is probed itself.
        let limits = Limits { max: 100, ..LIMITS };
        assert_eq!(simulate(1000, limits).0, [10, 20, 40, 80, 100]);
    }

    #[test]
    fn a_bracket_one_event_wide_is_settled_whatever_the_precision() {
        let limits = Limits {
            min: 1,
            max: 8,
            precision: 0.0,
        };
        let (probes, bracket, why) = simulate(3, limits);
        assert_eq!(probes, [1, 2, 4, 3]);
        assert_eq!((bracket.pass, bracket.fail), (Some(3), Some(4)));
        assert_eq!(why, Settled::Precise);
    }

    #[test]
    fn scaling_keeps_the_mix_and_the_total() {
        let pb = |twap, ethflow| PerBlock::from([twap, ethflow]);
        assert_eq!(scale(pb(0, 40), 22), pb(0, 22));
        assert_eq!(scale(pb(40, 0), 22), pb(22, 0));
        assert_eq!(scale(pb(1, 1), 21), pb(11, 10), "halves round up");
        assert_eq!(scale(pb(1, 3), 20), pb(5, 15));
        assert_eq!(scale(pb(1, 9), 4), pb(1, 3), "a used kind keeps one event");
        assert_eq!(scale(pb(9, 1), 4), pb(3, 1));
        assert_eq!(scale(pb(1, 1), 1), pb(1, 0), "one event cannot be shared");
        for n in 1..300 {
            let got = scale(pb(3, 7), n);
            assert_eq!(got.total(), u64::from(n));
        }
    }
}
