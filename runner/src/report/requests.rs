//! Requests per accepted order: what the engine asked the orderbook for,
//! by route and HTTP status, divided by the orders the orderbook accepted
//! over the load window. "5 GETs per order" or "1.4 POSTs per order (429s)"
//! shows here without reading engine logs.
//!
//! In: the series (the mock's `cowload_mock_requests_total{route,status}` and
//! `cowload_orders_accepted_total`). Out: one row per route and status the
//! engine used. The harness's own traffic (`/metrics`, `/_stats`,
//! `/healthz`) is left out. It is a ratio of totals, not a per-order trace.

use cowload_spec::outcome::{round6, RouteRequests};

use super::probe;
use cowload_spec::names::{self, label};

use crate::metrics::Series;

/// Routes the harness itself calls; not the engine's requests.
const HARNESS_ROUTES: [&str; 3] = ["/metrics", "/_stats", "/healthz"];

/// One row per route and status the engine used, busiest first.
pub fn per_accepted_order(series: &Series) -> Vec<RouteRequests> {
    let Some(last) = series.points.last() else {
        return Vec::new();
    };
    let accepted = probe::observe(
        &format!("increase({})", names::ORDERS_ACCEPTED_TOTAL),
        series,
    )
    .filter(|n| *n > 0.0);
    let mut rows: Vec<RouteRequests> = last
        .snapshot
        .samples
        .iter()
        .filter(|s| &*s.name == names::MOCK_REQUESTS_TOTAL)
        .filter_map(|s| Some((s.labels.get(label::ROUTE)?, s.labels.get(label::STATUS)?)))
        .filter(|(route, _)| !HARNESS_ROUTES.contains(&route.as_str()))
        .filter_map(|(route, status)| {
            let selector = format!(
                "{}{{route=\"{route}\",status=\"{status}\"}}",
                names::MOCK_REQUESTS_TOTAL
            );
            let requests = probe::observe(&format!("increase({selector})"), series)?;
            (requests > 0.0).then(|| RouteRequests {
                route: route.clone(),
                status: status.clone(),
                requests: round6(requests),
                per_accepted_order: accepted.map(|n| round6(requests / n)),
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        b.requests
            .total_cmp(&a.requests)
            .then_with(|| (&a.route, &a.status).cmp(&(&b.route, &b.status)))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Snapshot;

    fn point(
        posts_201: f64,
        posts_429: f64,
        gets_404: f64,
        scrapes: f64,
        accepted: f64,
    ) -> Snapshot {
        let (requests, accepted_total) = (names::MOCK_REQUESTS_TOTAL, names::ORDERS_ACCEPTED_TOTAL);
        let text = format!(
            "# TYPE {requests} counter\n\
             {requests}{{route=\"/api/v1/orders\",status=\"201\"}} {posts_201}\n\
             {requests}{{route=\"/api/v1/orders\",status=\"429\"}} {posts_429}\n\
             {requests}{{route=\"/api/v1/orders/{{uid}}\",status=\"404\"}} {gets_404}\n\
             {requests}{{route=\"/metrics\",status=\"200\"}} {scrapes}\n\
             # TYPE {accepted_total} counter\n\
             {accepted_total} {accepted}\n"
        );
        Snapshot::parse(&text).unwrap()
    }

    #[test]
    fn requests_are_divided_by_accepted_orders_and_harness_traffic_is_left_out() {
        let mut series = Series::new();
        series.push("start", point(0.0, 0.0, 0.0, 1.0, 0.0));
        series.push("block 1", point(5.0, 2.0, 10.0, 2.0, 5.0));
        series.push("end", point(10.0, 4.0, 50.0, 3.0, 10.0));
        let rows = per_accepted_order(&series);
        let shown: Vec<(&str, &str, Option<f64>)> = rows
            .iter()
            .map(|r| (r.route.as_str(), r.status.as_str(), r.per_accepted_order))
            .collect();
        assert_eq!(
            shown,
            [
                ("/api/v1/orders/{uid}", "404", Some(5.0)),
                ("/api/v1/orders", "201", Some(1.0)),
                ("/api/v1/orders", "429", Some(0.4)),
            ]
        );
    }

    #[test]
    fn without_an_accepted_order_there_is_no_ratio() {
        let mut series = Series::new();
        series.push("start", point(0.0, 0.0, 0.0, 0.0, 0.0));
        series.push("end", point(0.0, 3.0, 0.0, 1.0, 0.0));
        let rows = per_accepted_order(&series);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].requests, 3.0);
        assert_eq!(rows[0].per_accepted_order, None);
    }
}
