//! Seeded fault injection: which `POST /api/v1/orders` is answered with which errorType.
//!
//! Each POST draws exactly one uniform number from a ChaCha stream seeded by the config, and
//! the number picks an errorType from the cumulative fractions (in the BTreeMap's name order)
//! or none. One draw per POST keeps the sequence independent of what the orders contain, so
//! the same seed gives the same sequence of answers for the same number of POSTs.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A weighted error mix with its own random stream.
#[derive(Debug)]
pub struct ErrorMix {
    /// (upper bound of the cumulative fraction, errorType), ascending.
    thresholds: Vec<(f64, String)>,
    rng: Mutex<ChaCha8Rng>,
}

impl ErrorMix {
    /// Builds the mix from a validated fraction map (see [`crate::Config::validate`]).
    pub fn new(errors: &BTreeMap<String, f64>, seed: u64) -> Self {
        let mut cumulative = 0.0;
        let thresholds = errors
            .iter()
            .filter(|(_, &fraction)| fraction > 0.0)
            .map(|(name, &fraction)| {
                cumulative += fraction;
                (cumulative, name.clone())
            })
            .collect();
        Self {
            thresholds,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        }
    }

    /// Draws once and returns the errorType to inject, or `None` when the order should be
    /// handled normally.
    pub fn draw(&self) -> Option<&str> {
        if self.thresholds.is_empty() {
            return None;
        }
        let u: f64 = {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            rng.random()
        };
        self.thresholds
            .iter()
            .find(|(bound, _)| u < *bound)
            .map(|(_, name)| name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(pairs: &[(&str, f64)], seed: u64) -> ErrorMix {
        let errors = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        ErrorMix::new(&errors, seed)
    }

    fn sequence(m: &ErrorMix, n: usize) -> Vec<Option<String>> {
        (0..n).map(|_| m.draw().map(str::to_owned)).collect()
    }

    #[test]
    fn ten_thousand_draws_realise_each_fraction_within_one_point() {
        let pairs = [("InsufficientFee", 0.1), ("InvalidSignature", 0.05)];
        for seed in [0, 1, 42, 0xdead_beef] {
            let draws = sequence(&mix(&pairs, seed), 10_000);
            for (name, fraction) in pairs {
                let hits = draws.iter().filter(|d| d.as_deref() == Some(name)).count();
                let realised = hits as f64 / 10_000.0;
                assert!(
                    (realised - fraction).abs() <= 0.01,
                    "seed {seed}: {name} realised {realised}, configured {fraction}"
                );
            }
            let none = draws.iter().filter(|d| d.is_none()).count() as f64 / 10_000.0;
            assert!((none - 0.85).abs() <= 0.01, "seed {seed}: no error {none}");
        }
    }

    #[test]
    fn same_seed_same_sequence_other_seed_other_sequence() {
        let pairs = [("InsufficientFee", 0.1), ("InvalidSignature", 0.05)];
        let a = sequence(&mix(&pairs, 7), 1_000);
        let b = sequence(&mix(&pairs, 7), 1_000);
        let c = sequence(&mix(&pairs, 8), 1_000);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn empty_and_zero_mixes_never_inject() {
        assert!(sequence(&mix(&[], 1), 100).iter().all(Option::is_none));
        let zero = mix(&[("InsufficientFee", 0.0)], 1);
        assert!(sequence(&zero, 100).iter().all(Option::is_none));
    }

    #[test]
    fn full_mix_always_injects() {
        let m = mix(&[("WrongOwner", 1.0)], 3);
        assert!(sequence(&m, 100)
            .iter()
            .all(|d| d.as_deref() == Some("WrongOwner")));
    }
}
