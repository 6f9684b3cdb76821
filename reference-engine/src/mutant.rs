//! Broken engines on purpose, for cowload's own tests: with `$COWLOAD_REFERENCE_MUTANT` set,
//! the reference engine misbehaves in exactly one named way, so the harness can prove that its
//! shipped bars catch that kind of bug (an engine that posts twice, drops events, stalls,
//! crashes, or lies in its metrics). Unset — always, outside those tests — nothing changes.
//!
//! Why an environment variable and not a config knob: the tests run the shipped scenarios
//! unchanged, with the engine the scenario names; the runner passes its environment on to the
//! engine. The engine says loudly at start that it is a mutant.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable that selects a mutant.
pub const ENV: &str = "COWLOAD_REFERENCE_MUTANT";

/// One way to be broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutant {
    /// Posts every order twice (`double-post`).
    DoublePost,
    /// Ignores every `n`th event it sees (`drop-every-N`).
    DropEvery(u64),
    /// Stops handling blocks after `n` of them but stays up (`stall-after-N`).
    StallAfter(u64),
    /// Exits with code 101 after handling `n` blocks (`crash-after-N`).
    CrashAfter(u64),
    /// Counts every accepted submission twice in its own metrics (`lie-accepted`).
    LieAccepted,
    /// Posts every `n`th EthFlow order with `validTo` one second short (`wrong-order-every-N`).
    WrongOrderEvery(u64),
    /// Posts only each TWAP's first part, never the later ones (`first-part-only`).
    FirstPartOnly,
    /// Posts every TWAP part twice with different UIDs: as returned, and again with `validTo`
    /// one second short, still inside the part's window (`double-part`).
    DoublePart,
    /// Gives a block's events up after its first failed `eth_getLogs` instead of retrying: the
    /// block is skipped for good, as engines in the field have done (`skip-failed-logs`).
    SkipFailedLogs,
}

impl std::str::FromStr for Mutant {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let number =
            |prefix: &str| -> Option<Result<u64, String>> {
                let n = text.strip_prefix(prefix)?;
                Some(n.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("{text}: expected a whole number above 0 after {prefix}")
                }))
            };
        match text {
            "double-post" => Ok(Mutant::DoublePost),
            "lie-accepted" => Ok(Mutant::LieAccepted),
            "first-part-only" => Ok(Mutant::FirstPartOnly),
            "double-part" => Ok(Mutant::DoublePart),
            "skip-failed-logs" => Ok(Mutant::SkipFailedLogs),
            _ => {
                if let Some(n) = number("drop-every-") {
                    n.map(Mutant::DropEvery)
                } else if let Some(n) = number("stall-after-") {
                    n.map(Mutant::StallAfter)
                } else if let Some(n) = number("crash-after-") {
                    n.map(Mutant::CrashAfter)
                } else if let Some(n) = number("wrong-order-every-") {
                    n.map(Mutant::WrongOrderEvery)
                } else {
                    Err(format!(
                        "unknown mutant {text:?} (known: double-post, drop-every-N, stall-after-N, crash-after-N, lie-accepted, wrong-order-every-N, first-part-only, double-part, skip-failed-logs)"
                    ))
                }
            }
        }
    }
}

static ACTIVE: OnceLock<Option<Mutant>> = OnceLock::new();
static EVENTS_SEEN: AtomicU64 = AtomicU64::new(0);
static ETHFLOW_ORDERS: AtomicU64 = AtomicU64::new(0);

/// Reads [`ENV`] once, at start; an unknown name is an error (a typo must not run the real
/// engine in a test that meant a mutant).
pub fn init() -> Result<Option<Mutant>, String> {
    let chosen = match std::env::var(ENV) {
        Ok(name) if !name.trim().is_empty() => Some(name.trim().parse::<Mutant>()?),
        _ => None,
    };
    Ok(*ACTIVE.get_or_init(|| chosen))
}

/// The mutant in force, if any.
pub fn active() -> Option<Mutant> {
    ACTIVE.get().copied().flatten()
}

/// Whether the next event should be ignored.
pub fn drops_next_event() -> bool {
    match active() {
        Some(Mutant::DropEvery(n)) => {
            (EVENTS_SEEN.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(n)
        }
        _ => false,
    }
}

/// How many times a block's `eth_getLogs` is tried before its events are given up on.
pub fn get_logs_attempts(normal: u32) -> u32 {
    match active() {
        Some(Mutant::SkipFailedLogs) => 1,
        _ => normal,
    }
}

/// `valid_to` as the next EthFlow order should carry it.
pub fn ethflow_valid_to(valid_to: u32) -> u32 {
    match active() {
        Some(Mutant::WrongOrderEvery(n))
            if (ETHFLOW_ORDERS.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(n) =>
        {
            valid_to.saturating_sub(1)
        }
        _ => valid_to,
    }
}

/// Whether TWAP part `part` (0 for the first) should be posted at all.
pub fn posts_twap_part(part: u64) -> bool {
    !(active() == Some(Mutant::FirstPartOnly) && part > 0)
}

/// Whether each TWAP part should also be posted a second time, `validTo` one second short.
pub fn doubles_twap_parts() -> bool {
    active() == Some(Mutant::DoublePart)
}

/// What to do after `handled` blocks.
pub fn after_block(handled: u64) -> Flow {
    match active() {
        Some(Mutant::CrashAfter(n)) if handled >= n => Flow::Crash,
        Some(Mutant::StallAfter(n)) if handled >= n => Flow::Stall,
        _ => Flow::Continue,
    }
}

/// The block loop's next step.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stall,
    Crash,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_typos_are_refused() {
        assert_eq!("double-post".parse(), Ok(Mutant::DoublePost));
        assert_eq!("drop-every-5".parse(), Ok(Mutant::DropEvery(5)));
        assert_eq!("skip-failed-logs".parse(), Ok(Mutant::SkipFailedLogs));
        assert_eq!("stall-after-8".parse(), Ok(Mutant::StallAfter(8)));
        assert_eq!("crash-after-3".parse(), Ok(Mutant::CrashAfter(3)));
        assert_eq!("lie-accepted".parse(), Ok(Mutant::LieAccepted));
        assert_eq!(
            "wrong-order-every-5".parse(),
            Ok(Mutant::WrongOrderEvery(5))
        );
        assert_eq!("first-part-only".parse(), Ok(Mutant::FirstPartOnly));
        assert_eq!("double-part".parse(), Ok(Mutant::DoublePart));
        assert!("drop-every-0".parse::<Mutant>().is_err());
        assert!("double-posts".parse::<Mutant>().is_err());
        assert!("crash-after-x".parse::<Mutant>().is_err());
    }
}
