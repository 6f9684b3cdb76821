//! Seeded response latency: a delay distribution per endpoint plus periodic spikes.
//!
//! Real orderbook latency is neither fixed nor the same for every route: order creation does
//! more work than a lookup, and the tail is long. A scenario describes the delay of
//! `POST /api/v1/orders` and of the GETs separately ([`Latency`]), each as a [`Delay`]
//! distribution, plus optional [`Spikes`]: an extra delay for a window that recurs every period.
//!
//! Draws come from ChaCha8 streams seeded by the config's seed, one stream per endpoint and
//! each separate from the error mix's, so the n-th POST gets the same delay for the same seed
//! however many GETs the engine makes. [`LatencySampler::draw`] only computes the delay; the
//! server sleeps it. That split keeps the distribution testable without timing anything.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal, Uniform};

/// The largest delay any draw yields: a cap on the log-normal's and the normal's tails so a
/// single unlucky draw cannot stall a run.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// The 0.99 quantile of the standard normal distribution, used to turn a p99 into a σ.
const Z_P99: f64 = 2.326_347_874_040_841;

/// ChaCha stream of the error mix; the latency streams use the ones after it.
const POST_STREAM: u64 = 1;
const GET_STREAM: u64 = 2;

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

/// Which latency applies to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /api/v1/orders`.
    PostOrders,
    /// Any other `/api/…` request.
    Get,
}

/// A [`Delay`] ready to draw from, in seconds.
#[derive(Debug)]
enum Sampler {
    Fixed(Duration),
    Uniform(Uniform<f64>),
    Normal(Normal<f64>),
    LogNormal(LogNormal<f64>),
}

impl Sampler {
    /// Builds the sampler of a validated delay. Parameters that the distribution types refuse
    /// (only possible for values [`Latency::validate`] rejects) fall back to the fixed median.
    fn new(delay: &Delay) -> Self {
        let fixed = |d: Duration| Sampler::Fixed(d.min(MAX_DELAY));
        match *delay {
            Delay::Fixed(d) => fixed(d),
            Delay::Uniform { min, max } if min == max => fixed(min),
            Delay::Uniform { min, max } => {
                Uniform::new_inclusive(min.as_secs_f64(), max.as_secs_f64())
                    .map_or_else(|_| fixed(min), Sampler::Uniform)
            }
            Delay::Normal { mean, std_dev } => {
                Normal::new(mean.as_secs_f64(), std_dev.as_secs_f64())
                    .map_or_else(|_| fixed(mean), Sampler::Normal)
            }
            Delay::LogNormal { p50, p99 } => {
                let (mu, sigma) = lognormal_parameters(p50, p99);
                LogNormal::new(mu, sigma).map_or_else(|_| fixed(p50), Sampler::LogNormal)
            }
        }
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> Duration {
        let seconds = match self {
            Sampler::Fixed(d) => return *d,
            Sampler::Uniform(u) => u.sample(rng),
            Sampler::Normal(n) => n.sample(rng),
            Sampler::LogNormal(l) => l.sample(rng),
        };
        clamp_seconds(seconds)
    }

    fn is_zero(&self) -> bool {
        matches!(self, Sampler::Fixed(d) if d.is_zero())
    }
}

/// μ and σ of the log-normal whose median is `p50` and whose 0.99 quantile is `p99`:
/// ln X ~ N(μ, σ²), so the median is e^μ and the p99 is e^(μ + z₀.₉₉·σ).
fn lognormal_parameters(p50: Duration, p99: Duration) -> (f64, f64) {
    let mu = p50.as_secs_f64().ln();
    let sigma = (p99.as_secs_f64().ln() - mu) / Z_P99;
    (mu, sigma.max(0.0))
}

/// Seconds as a duration in `[0, MAX_DELAY]` (NaN becomes 0).
fn clamp_seconds(seconds: f64) -> Duration {
    if seconds.is_nan() || seconds <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(seconds).map_or(MAX_DELAY, |d| d.min(MAX_DELAY))
}

/// Draws the delay of each request from the configured [`Latency`].
#[derive(Debug)]
pub struct LatencySampler {
    post_orders: Sampler,
    get: Sampler,
    spikes: Option<Spikes>,
    post_rng: Mutex<ChaCha8Rng>,
    get_rng: Mutex<ChaCha8Rng>,
    started: Instant,
}

impl LatencySampler {
    /// A sampler for a validated `latency`, seeded with `seed`; spikes count from now.
    pub fn new(latency: &Latency, seed: u64) -> Self {
        let stream = |n| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(n);
            Mutex::new(rng)
        };
        Self {
            post_orders: Sampler::new(&latency.post_orders),
            get: Sampler::new(&latency.get),
            spikes: latency.spikes,
            post_rng: stream(POST_STREAM),
            get_rng: stream(GET_STREAM),
            started: Instant::now(),
        }
    }

    /// The delay of a request to `endpoint` arriving at `at`: one draw from that endpoint's
    /// distribution plus the spike's extra when `at` falls in a spike window.
    pub fn draw(&self, endpoint: Endpoint, at: Instant) -> Duration {
        let (sampler, rng) = match endpoint {
            Endpoint::PostOrders => (&self.post_orders, &self.post_rng),
            Endpoint::Get => (&self.get, &self.get_rng),
        };
        let base = if sampler.is_zero() {
            Duration::ZERO
        } else {
            let mut rng = rng.lock().unwrap_or_else(|p| p.into_inner());
            sampler.draw(&mut rng)
        };
        base + self.spike_extra(at.saturating_duration_since(self.started))
    }

    /// The extra delay for a request arriving `since_start` after the mock started.
    fn spike_extra(&self, since_start: Duration) -> Duration {
        let Some(spikes) = &self.spikes else {
            return Duration::ZERO;
        };
        let every = spikes.every.as_nanos().max(1);
        let into_period = since_start.as_nanos() % every;
        if into_period < spikes.duration.as_nanos() {
            spikes.extra
        } else {
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DRAWS: usize = 5_000;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// `DRAWS` seeded POST delays, sorted, in seconds.
    fn sorted_draws(delay: Delay, seed: u64) -> Vec<f64> {
        let sampler = LatencySampler::new(&Latency::same(delay), seed);
        let at = Instant::now();
        let mut draws: Vec<f64> = (0..DRAWS)
            .map(|_| sampler.draw(Endpoint::PostOrders, at).as_secs_f64())
            .collect();
        draws.sort_by(f64::total_cmp);
        draws
    }

    fn quantile(sorted: &[f64], q: f64) -> f64 {
        let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted[index]
    }

    #[test]
    fn realised_quantiles_match_the_configured_ones() {
        // (delay, quantile, expected seconds, relative tolerance)
        let cases: &[(Delay, f64, f64, f64)] = &[
            (Delay::Fixed(ms(10)), 0.5, 0.010, 0.0),
            (Delay::Fixed(ms(10)), 0.99, 0.010, 0.0),
            (
                Delay::Uniform {
                    min: ms(5),
                    max: ms(50),
                },
                0.0,
                0.005,
                0.05,
            ),
            (
                Delay::Uniform {
                    min: ms(5),
                    max: ms(50),
                },
                0.5,
                0.0275,
                0.05,
            ),
            (
                Delay::Uniform {
                    min: ms(5),
                    max: ms(50),
                },
                0.9,
                0.0455,
                0.05,
            ),
            (
                Delay::Uniform {
                    min: ms(5),
                    max: ms(50),
                },
                1.0,
                0.050,
                0.05,
            ),
            (
                Delay::Normal {
                    mean: ms(100),
                    std_dev: ms(10),
                },
                0.5,
                0.100,
                0.03,
            ),
            // mean + z(0.99)·σ
            (
                Delay::Normal {
                    mean: ms(100),
                    std_dev: ms(10),
                },
                0.99,
                0.1233,
                0.03,
            ),
            (
                Delay::Normal {
                    mean: ms(100),
                    std_dev: ms(10),
                },
                0.1587,
                0.090,
                0.03,
            ),
            (
                Delay::LogNormal {
                    p50: ms(20),
                    p99: ms(200),
                },
                0.5,
                0.020,
                0.06,
            ),
            (
                Delay::LogNormal {
                    p50: ms(20),
                    p99: ms(200),
                },
                0.99,
                0.200,
                0.15,
            ),
            (
                Delay::LogNormal {
                    p50: ms(5),
                    p99: ms(8),
                },
                0.5,
                0.005,
                0.03,
            ),
            (
                Delay::LogNormal {
                    p50: ms(5),
                    p99: ms(8),
                },
                0.99,
                0.008,
                0.05,
            ),
        ];
        for seed in [0, 1, 42] {
            for &(delay, q, expected, tolerance) in cases {
                let realised = quantile(&sorted_draws(delay, seed), q);
                let error = (realised - expected).abs() / expected;
                assert!(
                    error <= tolerance + 1e-12,
                    "seed {seed}, {delay:?}: q{q} realised {realised}, expected {expected}"
                );
            }
        }
    }

    #[test]
    fn normal_draws_below_zero_become_zero_and_tails_are_capped() {
        let draws = sorted_draws(
            Delay::Normal {
                mean: ms(1),
                std_dev: ms(10),
            },
            5,
        );
        assert_eq!(draws[0], 0.0, "about 46% of draws are negative");
        assert!(draws.iter().filter(|&&d| d == 0.0).count() > DRAWS / 3);
        let wild = Delay::LogNormal {
            p50: Duration::from_secs(50),
            p99: Duration::from_secs(60),
        };
        let capped = sorted_draws(wild, 5);
        assert!(capped.iter().all(|&d| d <= MAX_DELAY.as_secs_f64()));
        assert_eq!(capped[DRAWS - 1], MAX_DELAY.as_secs_f64());
    }

    #[test]
    fn same_seed_same_delays_and_endpoints_draw_independently() {
        let delay = Delay::Uniform {
            min: ms(1),
            max: ms(100),
        };
        assert_eq!(sorted_draws(delay, 3), sorted_draws(delay, 3));
        assert_ne!(sorted_draws(delay, 3), sorted_draws(delay, 4));

        let at = Instant::now();
        let only_posts = LatencySampler::new(&Latency::same(delay), 9);
        let mixed = LatencySampler::new(&Latency::same(delay), 9);
        for _ in 0..20 {
            let expected = only_posts.draw(Endpoint::PostOrders, at);
            mixed.draw(Endpoint::Get, at);
            assert_eq!(mixed.draw(Endpoint::PostOrders, at), expected);
        }
    }

    #[test]
    fn per_endpoint_delays_apply_to_their_endpoint() {
        let latency = Latency {
            post_orders: Delay::Fixed(ms(30)),
            get: Delay::Fixed(ms(2)),
            spikes: None,
        };
        let sampler = LatencySampler::new(&latency, 0);
        let at = Instant::now();
        assert_eq!(sampler.draw(Endpoint::PostOrders, at), ms(30));
        assert_eq!(sampler.draw(Endpoint::Get, at), ms(2));
    }

    #[test]
    fn spikes_add_their_extra_inside_the_window_only() {
        let latency = Latency {
            spikes: Some(Spikes {
                every: ms(1_000),
                duration: ms(100),
                extra: ms(500),
            }),
            ..Latency::fixed(ms(10))
        };
        let sampler = LatencySampler::new(&latency, 0);
        let cases = [
            (0, ms(510)),
            (99, ms(510)),
            (100, ms(10)),
            (999, ms(10)),
            (1_000, ms(510)),
            (5_050, ms(510)),
            (5_150, ms(10)),
        ];
        for (after_ms, expected) in cases {
            let at = sampler.started + ms(after_ms);
            assert_eq!(sampler.draw(Endpoint::Get, at), expected, "{after_ms} ms");
        }
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
