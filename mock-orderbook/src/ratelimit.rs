//! Per-route rate limiting: one governor token bucket per `/api/…` route.
//!
//! The real orderbook sits behind a rate limiter, and engines that burst after a slow block
//! must back off when told to. Each route gets its own bucket so a flood of `GET`s cannot
//! starve order creation (and the other way round). A request that finds its bucket empty is
//! answered 429 with `Retry-After` set to the whole seconds until a token is back.

use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use cowload_spec::orderbook::RateLimit;

/// One bucket per route, in a short list (three routes: a scan beats hashing).
pub(crate) struct RouteLimits {
    buckets: Vec<(&'static str, DefaultDirectRateLimiter)>,
    clock: DefaultClock,
}

impl RouteLimits {
    /// Full buckets for `routes` with the quota of `limit`.
    pub(crate) fn new(limit: RateLimit, routes: &[&'static str]) -> Self {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        let clock = DefaultClock::default();
        let buckets = routes
            .iter()
            .map(|&route| {
                let bucket = RateLimiter::direct_with_clock(quota, clock.clone());
                (route, bucket)
            })
            .collect();
        Self { buckets, clock }
    }

    /// Takes a token from `route`'s bucket. `None` when the request may go on (also for a
    /// route without a bucket); otherwise the `Retry-After` value in whole seconds (at least 1).
    pub(crate) fn check(&self, route: &str) -> Option<u64> {
        let (_, bucket) = self.buckets.iter().find(|(r, _)| *r == route)?;
        match bucket.check() {
            Ok(()) => None,
            Err(not_until) => Some(retry_after_seconds(
                not_until.wait_time_from(self.clock.now()),
            )),
        }
    }
}

/// `wait` rounded up to whole seconds, at least 1 (`Retry-After` has no fractions, and 0
/// would invite an immediate retry into an empty bucket).
fn retry_after_seconds(wait: Duration) -> u64 {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.max(1)
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn limits(per_second: u32, burst: u32) -> RouteLimits {
        let nz = |n| NonZeroU32::new(n).expect("test quota above 0");
        let limit = RateLimit {
            per_second: nz(per_second),
            burst: nz(burst),
        };
        RouteLimits::new(limit, &["/a", "/b"])
    }

    #[test]
    fn burst_passes_then_the_route_is_limited_and_other_routes_are_not() {
        let l = limits(1, 3);
        for _ in 0..3 {
            assert_eq!(l.check("/a"), None);
        }
        let retry = l
            .check("/a")
            .expect("a fourth request right after the burst is limited");
        assert_eq!(
            retry, 1,
            "at one token per second, one is back within a second"
        );
        assert_eq!(l.check("/b"), None, "each route has its own bucket");
        assert_eq!(l.check("/not-limited"), None);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let cases = [
            (Duration::ZERO, 1),
            (Duration::from_millis(1), 1),
            (Duration::from_secs(1), 1),
            (Duration::from_millis(1_001), 2),
            (Duration::from_secs(7), 7),
        ];
        for (wait, want) in cases {
            assert_eq!(retry_after_seconds(wait), want, "{wait:?}");
        }
    }
}
