//! Response latency as a scenario describes it: a delay distribution per endpoint plus
//! periodic spikes, and the checks a valid one passes. The mock draws from it.
//!
//! Real orderbook latency is neither fixed nor the same for every route: order creation does
//! more work than a lookup, and the tail is long. A scenario describes the delay of
//! `POST /api/v1/orders` and of the GETs separately ([`Latency`]), each as a [`Delay`]
//! distribution, plus optional [`Spikes`]: an extra delay for a window that recurs every period.
//!

use std::time::Duration;

/// The largest delay any draw yields: a cap on the log-normal's and the normal's tails so a
/// single unlucky draw cannot stall a run.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// How long one request is delayed: a fixed value or a distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Delay {
    /// Always the same delay.
    Fixed(Duration),
    /// Uniform between `min` and `max` (both included).
    Uniform {
        /// Shortest delay.
        min: Duration,
        /// Longest delay.
        max: Duration,
    },
    /// Normal with this mean and standard deviation; negative draws become 0.
    Normal {
        /// Mean delay.
        mean: Duration,
        /// Standard deviation.
        std_dev: Duration,
    },
    /// Log-normal with this median and 0.99 quantile: the long tail real services show.
    LogNormal {
        /// Median delay; must be above 0.
        p50: Duration,
        /// 0.99 quantile; at least `p50`.
        p99: Duration,
    },
}

impl Default for Delay {
    fn default() -> Self {
        Delay::Fixed(Duration::ZERO)
    }
}

impl From<Duration> for Delay {
    fn from(value: Duration) -> Self {
        Delay::Fixed(value)
    }
}

/// An extra delay for `duration` at the start of every `every`, counted from when the mock
/// started: `every: 60s, duration: 5s, extra: 1s` delays every request arriving in the first
/// five seconds of each minute by one more second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spikes {
    /// Period between the starts of two spikes; above 0.
    pub every: Duration,
    /// Length of each spike; above 0 and at most `every`.
    pub duration: Duration,
    /// Delay added to every request arriving during a spike.
    pub extra: Duration,
}

/// The latency the mock adds to `/api/…` requests, per endpoint. The default adds none.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    /// Delay of `POST /api/v1/orders`.
    pub post_orders: Delay,
    /// Delay of `GET /api/v1/orders/{uid}` and `GET /api/v1/app_data/{hash}`.
    pub get: Delay,
    /// Periodic extra delay on every `/api/…` request.
    pub spikes: Option<Spikes>,
}

impl Latency {
    /// The same fixed delay on every endpoint, no spikes.
    pub fn fixed(delay: Duration) -> Self {
        Self::same(Delay::Fixed(delay))
    }

    /// The same distribution on every endpoint, no spikes.
    pub fn same(delay: Delay) -> Self {
        Self {
            post_orders: delay,
            get: delay,
            spikes: None,
        }
    }

    /// Checks every distribution and the spikes; see [`LatencyError`].
    pub fn validate(&self) -> Result<(), LatencyError> {
        check_delay("post_orders", &self.post_orders)?;
        check_delay("get", &self.get)?;
        if let Some(spikes) = &self.spikes {
            if spikes.every.is_zero() || spikes.duration.is_zero() {
                return Err(LatencyError::EmptySpikes);
            }
            if spikes.duration > spikes.every {
                return Err(LatencyError::SpikeLongerThanPeriod {
                    duration: spikes.duration,
                    every: spikes.every,
                });
            }
        }
        Ok(())
    }
}

/// Why a [`Latency`] was refused. `endpoint` is `post_orders` or `get`.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LatencyError {
    /// A uniform range with `min > max`.
    #[error("latency of {endpoint}: uniform min {min:?} is above max {max:?}; swap them")]
    UniformReversed {
        /// Which endpoint.
        endpoint: &'static str,
        /// The minimum as given.
        min: Duration,
        /// The maximum as given.
        max: Duration,
    },
    /// A log-normal with p50 = 0 or p99 < p50.
    #[error("latency of {endpoint}: lognormal needs 0 < p50 <= p99, got p50 {p50:?}, p99 {p99:?}")]
    LogNormalQuantiles {
        /// Which endpoint.
        endpoint: &'static str,
        /// The median as given.
        p50: Duration,
        /// The 0.99 quantile as given.
        p99: Duration,
    },
    /// A value above [`MAX_DELAY`].
    #[error("latency of {endpoint}: {value:?} is above the {MAX_DELAY:?} cap; lower it")]
    TooLong {
        /// Which endpoint.
        endpoint: &'static str,
        /// The value as given.
        value: Duration,
    },
    /// Spikes with a zero period or a zero length.
    #[error("latency spikes: `every` and `duration` must both be above 0")]
    EmptySpikes,
    /// Spikes longer than their period.
    #[error("latency spikes: duration {duration:?} is longer than the period {every:?}")]
    SpikeLongerThanPeriod {
        /// Length of a spike.
        duration: Duration,
        /// Period.
        every: Duration,
    },
}

fn check_delay(endpoint: &'static str, delay: &Delay) -> Result<(), LatencyError> {
    let too_long = |value: Duration| {
        (value > MAX_DELAY)
            .then_some(LatencyError::TooLong { endpoint, value })
            .map_or(Ok(()), Err)
    };
    match *delay {
        Delay::Fixed(value) => too_long(value),
        Delay::Uniform { min, max } => {
            if min > max {
                return Err(LatencyError::UniformReversed { endpoint, min, max });
            }
            too_long(max)
        }
        Delay::Normal { mean, std_dev } => too_long(mean).and(too_long(std_dev)),
        Delay::LogNormal { p50, p99 } => {
            if p50.is_zero() || p99 < p50 {
                return Err(LatencyError::LogNormalQuantiles { endpoint, p50, p99 });
            }
            too_long(p99)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn validate_table() {
        let spikes = |every, duration| Latency {
            spikes: Some(Spikes {
                every: ms(every),
                duration: ms(duration),
                extra: ms(1),
            }),
            ..Latency::default()
        };
        let cases: &[(Latency, Option<&str>)] = &[
            (Latency::default(), None),
            (Latency::fixed(ms(10)), None),
            (
                Latency::same(Delay::Uniform {
                    min: ms(5),
                    max: ms(5),
                }),
                None,
            ),
            (
                Latency::same(Delay::LogNormal {
                    p50: ms(20),
                    p99: ms(20),
                }),
                None,
            ),
            (spikes(1_000, 1_000), None),
            (
                Latency::same(Delay::Uniform {
                    min: ms(6),
                    max: ms(5),
                }),
                Some("swap"),
            ),
            (
                Latency::same(Delay::LogNormal {
                    p50: ms(0),
                    p99: ms(5),
                }),
                Some("0 < p50"),
            ),
            (
                Latency::same(Delay::LogNormal {
                    p50: ms(9),
                    p99: ms(5),
                }),
                Some("p50 <= p99"),
            ),
            (Latency::fixed(Duration::from_secs(61)), Some("cap")),
            (spikes(0, 0), Some("above 0")),
            (spikes(100, 200), Some("longer than the period")),
        ];
        for (latency, want) in cases {
            let got = latency.validate().map_err(|e| e.to_string());
            match (want, &got) {
                (None, Ok(())) => {}
                (Some(text), Err(msg)) if msg.contains(text) => {}
                _ => panic!("{latency:?}: want {want:?}, got {got:?}"),
            }
        }
    }
}
