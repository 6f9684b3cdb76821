//! What the engine asked the orderbook: per accepted order as a ratio of totals, and per owed
//! order from `orders.jsonl` (with the first orders that failed).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::orders::{OrderLine, Route};

/// Requests of one route and status over the load window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RouteRequests {
    /// The API route (`/api/v1/orders` is the POST, `/api/v1/orders/{uid}` the GET).
    pub route: String,
    /// The HTTP status the mock answered.
    pub status: String,
    /// Requests in the load window.
    pub requests: f64,
    /// Requests per accepted order; `None` when no order was accepted.
    pub per_accepted_order: Option<f64>,
}

/// What `orders.jsonl` says, in short.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrdersSummary {
    /// Lines written: every event and every TWAP part whose window opened.
    pub lines: u64,
    /// Owed orders by outcome (`matched`, `lost`, `late`, `mismatched`, `reorged`,
    /// `unjudged`); a TWAP event's own line is not counted, its parts are.
    pub by_outcome: BTreeMap<String, u64>,
    /// The first lines that were due and did not get their order in time (lost, late,
    /// mismatched), in file order; at most [`FAILED_KEPT`].
    pub failed: Vec<OrderLine>,
    /// Such lines in all.
    pub failed_total: u64,
    /// Requests the engine made per owed order, by route and status, over every judged
    /// order (matched, lost, late, mismatched): exact quantiles of the per-order counts,
    /// an order without such a request counting 0.
    pub requests_per_order: Vec<PerOrderRequests>,
}

/// The distribution over orders of one route and status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PerOrderRequests {
    /// The route.
    pub route: Route,
    /// The HTTP status; absent for a reset connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Orders with at least one such request.
    pub orders_with: u64,
    /// Such requests in all.
    pub requests: u64,
    /// Median per order.
    pub p50: f64,
    /// 99th percentile per order.
    pub p99: f64,
    /// Most for one order.
    pub max: f64,
}
