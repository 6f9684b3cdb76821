//! The mock's own HTTP request counters, by route and status.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::prom::{self, Buckets};

/// Routes whose series exist from the first scrape.
const KNOWN_ROUTES: &[(&str, &str)] = &[
    ("/api/v1/orders", "201"),
    ("/api/v1/orders/{uid}", "200"),
    ("/api/v1/app_data/{hash}", "200"),
];

/// HTTP request counters of the mock itself.
pub(super) struct Requests {
    /// route → status → requests (nested so a request looks its route up by `&str`).
    pub(super) counts: BTreeMap<String, BTreeMap<u16, u64>>,
    /// route → duration histogram (seconds, injected latency included).
    pub(super) durations: BTreeMap<String, Buckets>,
}

impl Requests {
    pub(super) fn new() -> Self {
        let mut counts = BTreeMap::new();
        let mut durations = BTreeMap::new();
        for (route, status) in KNOWN_ROUTES {
            let status: u16 = status.parse().expect("static status codes parse");
            counts
                .entry((*route).to_owned())
                .or_insert_with(BTreeMap::new)
                .insert(status, 0);
            durations.insert(
                (*route).to_owned(),
                Buckets::new(prom::REQUEST_SECONDS_BUCKETS),
            );
        }
        Self { counts, durations }
    }

    /// Looks the route up by `&str`: no allocation for a route seen before (every request).
    pub(super) fn observe(&mut self, route: &str, status: u16, elapsed: Duration) {
        match self.counts.get_mut(route) {
            Some(by_status) => *by_status.entry(status).or_default() += 1,
            None => {
                self.counts
                    .insert(route.to_owned(), BTreeMap::from([(status, 1)]));
            }
        }
        match self.durations.get_mut(route) {
            Some(h) => h.observe(elapsed.as_secs_f64()),
            None => {
                let mut h = Buckets::new(prom::REQUEST_SECONDS_BUCKETS);
                h.observe(elapsed.as_secs_f64());
                self.durations.insert(route.to_owned(), h);
            }
        }
    }

    pub(super) fn stats(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (route, by_status) in &self.counts {
            let entry = out.entry(route.clone()).or_default();
            for (status, count) in by_status {
                entry.insert(status.to_string(), *count);
            }
        }
        out
    }
}
