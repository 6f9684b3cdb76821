//! Seeded response latency: draws each request's delay from the scenario's [`Latency`] (a
//! delay distribution per endpoint plus periodic spikes).
//!
//! Draws come from ChaCha8 streams seeded by the config's seed, one stream per endpoint and
//! each separate from the error mix's, so the n-th POST gets the same delay for the same seed
//! however many GETs the engine makes. [`LatencySampler::draw`] only computes the delay; the
//! server sleeps it. That split keeps the distribution testable without timing anything.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use cowload_spec::latency::{Delay, Latency, Spikes, MAX_DELAY};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal, Uniform};

/// The 0.99 quantile of the standard normal distribution, used to turn a p99 into a σ.
const Z_P99: f64 = 2.326_347_874_040_841;

/// ChaCha stream of the error mix; the latency streams use the ones after it.
const POST_STREAM: u64 = 1;
const GET_STREAM: u64 = 2;

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
}
