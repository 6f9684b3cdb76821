//! What the mock is told to do: the chain it signs UIDs for, the seed of every random draw,
//! the added latency, the error mix, the rate limit and the deadline after which an event
//! counts as lost.
//!
//! The runner builds a [`Config`] from the scenario's `orderbook:` section and the binary builds
//! one from its flags; both call [`Config::validate`] before serving, so a typo in an errorType
//! or a mix that sums past 1 is refused up front instead of silently injecting nothing.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use crate::latency::{Latency, LatencyError};

/// The orderbook `errorType`s the mock can inject. Each is a real value of the CoW orderbook
/// API that engines react to differently (retry, back off, drop).
pub const KNOWN_ERROR_TYPES: &[&str] = &[
    "InsufficientFee",
    "InvalidSignature",
    "DuplicatedOrder",
    "TooManyLimitOrders",
    "QuoteNotFound",
    "InvalidAppData",
    "ExcessiveValidTo",
    "InsufficientBalance",
    "InsufficientAllowance",
    "InvalidQuote",
    "UnsupportedToken",
    "SellAmountOverflow",
    "TransferSimulationFailed",
    "WrongOwner",
    "InvalidEip1271Signature",
];

/// Transport faults the error mix can also inject: `Http429` (429 with `Retry-After: 1`),
/// `Http500`, `Http503`, `ConnectionReset` (the connection is dropped before any response
/// byte) and `SlowResponse` (the answer, a 504, is held for [`Config::slow_response`], longer
/// than a client's timeout). They are keys of [`Config::errors`] like the errorTypes.
pub const TRANSPORT_FAULTS: &[&str] = &[
    "Http429",
    "Http500",
    "Http503",
    "ConnectionReset",
    "SlowResponse",
];

/// True when `name` can be a key of [`Config::errors`].
pub fn is_known_fault(name: &str) -> bool {
    crate::faults::Fault::parse(name).is_some()
}

/// Sepolia: the chain the local fixture replays and the default of the binary.
pub const DEFAULT_CHAIN_ID: u64 = 11_155_111;

/// Blocks an event may wait for its first accepted order before it counts as lost.
pub const DEFAULT_ORDER_DEADLINE_BLOCKS: u64 = 10;

/// How long a `SlowResponse` holds its answer unless told otherwise: longer than the usual
/// HTTP client timeouts (10–30 s).
pub const DEFAULT_SLOW_RESPONSE: Duration = Duration::from_secs(60);

/// The longest hold of a `SlowResponse`, so a forgotten setting cannot hang a run.
pub const MAX_SLOW_RESPONSE: Duration = Duration::from_secs(600);

/// Tolerance when checking that the error fractions sum to at most 1 (float rounding of
/// values such as 0.1 + 0.2).
const SUM_TOLERANCE: f64 = 1e-9;

/// How the mock behaves. Every random choice derives from `seed`, so two runs with the same
/// config and the same request sequence answer the same way.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Chain id of the settlement EIP-712 domain the UIDs are computed under.
    pub chain_id: u64,
    /// Seed of the error-mix and latency draws.
    pub seed: u64,
    /// Delay added before every `/api/…` request is handled, per endpoint.
    pub latency: Latency,
    /// errorType (or transport fault, see [`TRANSPORT_FAULTS`]) → fraction of
    /// `POST /api/v1/orders` answered with it (each in `[0, 1]`, together at most 1).
    pub errors: BTreeMap<String, f64>,
    /// How long a `SlowResponse` fault holds its answer (above 0, at most
    /// [`MAX_SLOW_RESPONSE`]).
    pub slow_response: Duration,
    /// A token bucket per `/api/…` route; `None` never limits.
    pub rate_limit: Option<RateLimit>,
    /// An event with no accepted order once the head is past `block + order_deadline_blocks`
    /// is lost.
    pub order_deadline_blocks: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            chain_id: DEFAULT_CHAIN_ID,
            seed: 0,
            latency: Latency::default(),
            errors: BTreeMap::new(),
            slow_response: DEFAULT_SLOW_RESPONSE,
            rate_limit: None,
            order_deadline_blocks: DEFAULT_ORDER_DEADLINE_BLOCKS,
        }
    }
}

/// A token bucket: each `/api/…` route (`POST /api/v1/orders`, `GET /api/v1/orders/{uid}`,
/// `GET /api/v1/app_data/{hash}`) has its own, holding up to `burst` requests and refilled
/// at `per_second`. A request finding it empty gets 429 with `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second per route.
    pub per_second: NonZeroU32,
    /// Requests a route accepts at once after being idle.
    pub burst: NonZeroU32,
}

/// Why a [`Config`] was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// The error mix names an errorType the mock does not know.
    #[error(
        "unknown errorType `{name}` in the error mix; known: {}, {}",
        KNOWN_ERROR_TYPES.join(", "),
        TRANSPORT_FAULTS.join(", ")
    )]
    UnknownErrorType {
        /// The name as given.
        name: String,
    },
    /// A fraction is not a number in `[0, 1]`.
    #[error("error fraction for `{name}` is {value}; give a number between 0 and 1")]
    FractionOutOfRange {
        /// The errorType.
        name: String,
        /// The value as given.
        value: f64,
    },
    /// The fractions together exceed 1.
    #[error("error fractions sum to {sum}; lower them so they sum to at most 1")]
    FractionsExceedOne {
        /// The sum of all fractions.
        sum: f64,
    },
    /// A latency distribution or spike setting is impossible.
    #[error(transparent)]
    Latency(#[from] LatencyError),
    /// The `SlowResponse` hold is 0 or longer than [`MAX_SLOW_RESPONSE`].
    #[error("slow response hold is {value:?}; give a duration above 0 and at most {MAX_SLOW_RESPONSE:?}")]
    SlowResponseOutOfRange {
        /// The hold as given.
        value: Duration,
    },
}

impl Config {
    /// Checks the error mix (every name is in [`KNOWN_ERROR_TYPES`] or [`TRANSPORT_FAULTS`],
    /// every fraction lies in `[0, 1]` and all of them sum to at most 1), the latency (see
    /// [`Latency::validate`]) and the slow-response hold.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.latency.validate()?;
        if self.slow_response.is_zero() || self.slow_response > MAX_SLOW_RESPONSE {
            return Err(ConfigError::SlowResponseOutOfRange {
                value: self.slow_response,
            });
        }
        let mut sum = 0.0;
        for (name, &value) in &self.errors {
            if !is_known_fault(name) {
                return Err(ConfigError::UnknownErrorType { name: name.clone() });
            }
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::FractionOutOfRange {
                    name: name.clone(),
                    value,
                });
            }
            sum += value;
        }
        if sum > 1.0 + SUM_TOLERANCE {
            return Err(ConfigError::FractionsExceedOne { sum });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_errors(pairs: &[(&str, f64)]) -> Config {
        Config {
            errors: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..Config::default()
        }
    }

    #[test]
    fn validate_table() {
        type Expect = fn(&Result<(), ConfigError>) -> bool;
        let cases: &[(&[(&str, f64)], Expect)] = &[
            (&[], |r| r.is_ok()),
            (
                &[("InsufficientFee", 0.1), ("InvalidSignature", 0.05)],
                |r| r.is_ok(),
            ),
            (&[("InsufficientFee", 1.0)], |r| r.is_ok()),
            (&[("InsufficientFee", 0.0)], |r| r.is_ok()),
            (&[("InsufficientFee", 0.7), ("WrongOwner", 0.3)], |r| {
                r.is_ok()
            }),
            (
                &[("NoSuchError", 0.1)],
                |r| matches!(r, Err(ConfigError::UnknownErrorType { name }) if name == "NoSuchError"),
            ),
            (&[("InsufficientFee", -0.1)], |r| {
                matches!(r, Err(ConfigError::FractionOutOfRange { .. }))
            }),
            (&[("InsufficientFee", 1.5)], |r| {
                matches!(r, Err(ConfigError::FractionOutOfRange { .. }))
            }),
            (&[("InsufficientFee", f64::NAN)], |r| {
                matches!(r, Err(ConfigError::FractionOutOfRange { .. }))
            }),
            (
                &[("InsufficientFee", 0.6), ("InvalidSignature", 0.5)],
                |r| matches!(r, Err(ConfigError::FractionsExceedOne { .. })),
            ),
        ];
        for (pairs, expect) in cases {
            let result = with_errors(pairs).validate();
            assert!(expect(&result), "{pairs:?} gave {result:?}");
        }
    }

    #[test]
    fn latency_and_slow_response_are_checked() {
        let reversed = Config {
            latency: Latency::same(crate::latency::Delay::Uniform {
                min: Duration::from_millis(9),
                max: Duration::from_millis(1),
            }),
            ..Config::default()
        };
        assert!(matches!(reversed.validate(), Err(ConfigError::Latency(_))));
        for value in [Duration::ZERO, MAX_SLOW_RESPONSE + Duration::from_secs(1)] {
            let config = Config {
                slow_response: value,
                ..Config::default()
            };
            assert_eq!(
                config.validate(),
                Err(ConfigError::SlowResponseOutOfRange { value })
            );
        }
        let bounded = Config {
            slow_response: MAX_SLOW_RESPONSE,
            ..Config::default()
        };
        assert_eq!(bounded.validate(), Ok(()));
    }

    #[test]
    fn every_known_error_type_and_transport_fault_is_accepted() {
        for name in KNOWN_ERROR_TYPES.iter().chain(TRANSPORT_FAULTS) {
            assert!(with_errors(&[(name, 0.01)]).validate().is_ok(), "{name}");
        }
    }

    #[test]
    fn error_messages_name_the_field_and_the_fix() {
        let msg = with_errors(&[("Typo", 0.1)])
            .validate()
            .expect_err("unknown name")
            .to_string();
        assert!(
            msg.contains("Typo") && msg.contains("InsufficientFee"),
            "{msg}"
        );
    }
}
