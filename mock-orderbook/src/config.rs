//! What the mock is told to do: the chain it signs UIDs for, the seed of every random draw,
//! the added latency, the error mix, the rate limit and the deadline after which an event
//! counts as lost.
//!
//! The settings people write are an [`OrderbookSpec`] (the scenario's `orderbook:` section, or
//! the binary's `--config` file or flags); [`Config`] adds the chain and the seed a run fixes.
//! [`Config::validate`] runs before serving, so a typo in an errorType or a mix that sums past 1
//! is refused up front instead of silently injecting nothing.

use cowload_spec::orderbook::{
    OrderbookSpec, Problem, DEFAULT_CHAIN_ID, KNOWN_ERROR_TYPES, TRANSPORT_FAULTS,
};

/// How the mock behaves. Every random choice derives from `seed`, so two runs with the same
/// config and the same request sequence answer the same way.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Chain id of the settlement EIP-712 domain the UIDs are computed under.
    pub chain_id: u64,
    /// Seed of the error-mix and latency draws.
    pub seed: u64,
    /// Latency, error mix, slow-response hold, rate limit and order deadline.
    pub orderbook: OrderbookSpec,
}

impl Default for Config {
    /// Sepolia, seed 0, the default settings.
    fn default() -> Self {
        Self::new(DEFAULT_CHAIN_ID, 0, OrderbookSpec::default())
    }
}

impl Config {
    /// The mock on `chain_id` with every draw seeded by `seed`, behaving as `orderbook` says.
    pub fn new(chain_id: u64, seed: u64, orderbook: OrderbookSpec) -> Self {
        Self {
            chain_id,
            seed,
            orderbook,
        }
    }

    /// Refuses a config with any [`Problem`] (see [`OrderbookSpec::problems`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.orderbook.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

/// Why a [`Config`] was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// The settings have these problems (one per line).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use cowload_spec::orderbook::{DelaySpec, Dur, LatencySpec, MAX_SLOW_RESPONSE};

    fn with_errors(pairs: &[(&str, f64)]) -> Config {
        Config {
            orderbook: OrderbookSpec {
                errors: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                ..OrderbookSpec::default()
            },
            ..Config::default()
        }
    }

    /// The paths of the problems `config` has.
    fn paths(config: &Config) -> Vec<String> {
        config
            .orderbook
            .problems()
            .iter()
            .map(|p| p.path.join("."))
            .collect()
    }

    #[test]
    fn validate_table() {
        /// (error mix, paths of the problems it has).
        type Case<'a> = (&'a [(&'a str, f64)], &'a [&'a str]);
        let cases: &[Case] = &[
            (&[], &[]),
            (&[("InsufficientFee", 0.1), ("InvalidSignature", 0.05)], &[]),
            (&[("InsufficientFee", 1.0)], &[]),
            (&[("InsufficientFee", 0.0)], &[]),
            (&[("InsufficientFee", 0.7), ("WrongOwner", 0.3)], &[]),
            (&[("NoSuchError", 0.1)], &["errors.NoSuchError"]),
            (&[("InsufficientFee", -0.1)], &["errors.InsufficientFee"]),
            (&[("InsufficientFee", 1.5)], &["errors.InsufficientFee"]),
            (
                &[("InsufficientFee", f64::NAN)],
                &["errors.InsufficientFee"],
            ),
            (
                &[("InsufficientFee", 0.6), ("InvalidSignature", 0.5)],
                &["errors"],
            ),
        ];
        for (pairs, want) in cases {
            let config = with_errors(pairs);
            assert_eq!(paths(&config), *want, "{pairs:?}");
            assert_eq!(config.validate().is_ok(), want.is_empty(), "{pairs:?}");
        }
    }

    #[test]
    fn latency_slow_response_deadline_and_rate_limit_are_checked() {
        let mut reversed = Config::default();
        reversed.orderbook.latency = LatencySpec::All(DelaySpec::Uniform {
            min: Dur(Duration::from_millis(9)),
            max: Dur(Duration::from_millis(1)),
        });
        assert_eq!(paths(&reversed), ["latency"]);
        for value in [Duration::ZERO, MAX_SLOW_RESPONSE + Duration::from_secs(1)] {
            let mut config = Config::default();
            config.orderbook.slow_response = Dur(value);
            assert_eq!(paths(&config), ["slow_response"]);
        }
        let mut bounded = Config::default();
        bounded.orderbook.slow_response = Dur(MAX_SLOW_RESPONSE);
        assert_eq!(bounded.validate(), Ok(()));
        for (deadline, ok) in [(0, false), (1, true), (1_000, true), (1_001, false)] {
            let mut config = Config::default();
            config.orderbook.order_deadline_blocks = deadline;
            assert_eq!(config.validate().is_ok(), ok, "{deadline}");
        }
        let mut limited = Config::default();
        limited.orderbook.rate_limit = Some(cowload_spec::orderbook::RateLimitSpec {
            per_second: 0,
            burst: Some(0),
        });
        assert_eq!(
            paths(&limited),
            ["rate_limit.per_second", "rate_limit.burst"]
        );
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
            msg.contains("orderbook.errors")
                && msg.contains("Typo")
                && msg.contains("InsufficientFee"),
            "{msg}"
        );
    }
}
