//! Seeded fault injection: which `POST /api/v1/orders` is answered with which errorType.
//!
//! Each POST draws exactly one uniform number from a ChaCha stream seeded by the config, and
//! the number picks an errorType from the cumulative fractions (in the BTreeMap's name order)
//! or none. One draw per POST keeps the sequence independent of what the orders contain, so
//! the same seed gives the same sequence of answers for the same number of POSTs.
//!
//! Every name a config may use is parsed into a [`Fault`] when the mix is built, so the server
//! answers each variant by an exhaustive `match`: a fault nobody wired is a compile error, not
//! a silent 400.

use std::collections::BTreeMap;
use std::sync::Mutex;

use cowprotocol::OrderbookApiErrorType;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::ConfigError;
use cowload_spec::orderbook::KNOWN_ERROR_TYPES;

/// One answer the error mix can inject into a `POST /api/v1/orders`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 400 with this orderbook `errorType` (one of [`KNOWN_ERROR_TYPES`]).
    Rejected(OrderbookApiErrorType),
    /// 429 with `Retry-After: 1`.
    Http429,
    /// 500 `InternalServerError`.
    Http500,
    /// 503 `ServiceUnavailable`.
    Http503,
    /// The connection is dropped before any response byte.
    ConnectionReset,
    /// A 504 held for `Config::slow_response`, longer than a client's timeout.
    SlowResponse,
}

impl Fault {
    /// The fault a config key names, or `None` for a name the mock cannot inject.
    pub fn parse(name: &str) -> Option<Fault> {
        Some(match name {
            "Http429" => Fault::Http429,
            "Http500" => Fault::Http500,
            "Http503" => Fault::Http503,
            "ConnectionReset" => Fault::ConnectionReset,
            "SlowResponse" => Fault::SlowResponse,
            error_type if KNOWN_ERROR_TYPES.contains(&error_type) => {
                Fault::Rejected(OrderbookApiErrorType::from(error_type))
            }
            _ => return None,
        })
    }

    /// The config key and `outcome` label: the errorType or the transport fault's name.
    pub fn name(&self) -> &str {
        match self {
            Fault::Rejected(error_type) => error_type.as_str(),
            Fault::Http429 => "Http429",
            Fault::Http500 => "Http500",
            Fault::Http503 => "Http503",
            Fault::ConnectionReset => "ConnectionReset",
            Fault::SlowResponse => "SlowResponse",
        }
    }

    /// The HTTP status the mock answers it with; `None` for a reset connection, which never
    /// sends one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Fault::Rejected(_) => Some(400),
            Fault::Http429 => Some(429),
            Fault::Http500 => Some(500),
            Fault::Http503 => Some(503),
            Fault::ConnectionReset => None,
            Fault::SlowResponse => Some(504),
        }
    }

    /// Whether an engine should try the same order again: every transport fault is; an
    /// errorType is a verdict on the order.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Fault::Rejected(_))
    }
}

/// A weighted error mix with its own random stream.
#[derive(Debug)]
pub struct ErrorMix {
    /// (upper bound of the cumulative fraction, fault), ascending.
    thresholds: Vec<(f64, Fault)>,
    rng: Mutex<ChaCha8Rng>,
}

impl ErrorMix {
    /// Builds the mix from a fraction map; a name that is no [`Fault`] is refused.
    pub fn new(errors: &BTreeMap<String, f64>, seed: u64) -> Result<Self, ConfigError> {
        let mut cumulative = 0.0;
        let mut thresholds = Vec::new();
        for (name, &fraction) in errors {
            let fault = Fault::parse(name)
                .ok_or_else(|| ConfigError::UnknownErrorType { name: name.clone() })?;
            if fraction > 0.0 {
                cumulative += fraction;
                thresholds.push((cumulative, fault));
            }
        }
        Ok(Self {
            thresholds,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        })
    }

    /// Draws once and returns the fault to inject, or `None` when the order should be
    /// handled normally.
    pub fn draw(&self) -> Option<&Fault> {
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
            .map(|(_, fault)| fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(pairs: &[(&str, f64)], seed: u64) -> ErrorMix {
        let errors = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        ErrorMix::new(&errors, seed).unwrap()
    }

    fn sequence(m: &ErrorMix, n: usize) -> Vec<Option<String>> {
        (0..n)
            .map(|_| m.draw().map(|f| f.name().to_owned()))
            .collect()
    }

    #[test]
    fn every_known_name_parses_to_a_fault_of_that_name_and_others_do_not() {
        for name in KNOWN_ERROR_TYPES
            .iter()
            .chain(cowload_spec::orderbook::TRANSPORT_FAULTS)
        {
            let fault = Fault::parse(name).unwrap_or_else(|| panic!("{name} does not parse"));
            assert_eq!(fault.name(), *name);
            assert_eq!(
                fault.is_retryable(),
                cowload_spec::orderbook::TRANSPORT_FAULTS.contains(name)
            );
        }
        assert_eq!(Fault::parse("NoSuchError"), None);
        assert_eq!(Fault::parse("http429"), None);
        assert!(matches!(
            ErrorMix::new(&[("Nope".to_owned(), 0.1)].into_iter().collect(), 1),
            Err(ConfigError::UnknownErrorType { .. })
        ));
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
