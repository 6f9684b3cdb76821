//! One line of `orders.jsonl`: an owed order of a run (every event, every TWAP part whose
//! window opened), with the transaction that emitted it, the order it requires, what became of
//! it and why, and the requests the engine made for it. The mock writes it; the runner streams
//! it to the run directory and the report reads it.

use alloy_primitives::{Address, FixedBytes, B256};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kind::EventKind;
use crate::labels::{LossReason, OrderOutcome};

/// An order's 56-byte UID (digest, owner, `validTo`).
pub type OrderUid = FixedBytes<56>;

/// One owed order of a run: a line of `orders.jsonl` (`runner schema --orders`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderLine {
    /// The event's kind.
    pub kind: EventKind,
    /// The TWAP part this line is for; absent on an event's line. A TWAP event's own line is
    /// judged by its part 0, as the event counters are, and its parts follow as lines of
    /// their own (each part is one order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u64>,
    /// The transaction that emitted the event.
    #[schemars(with = "String")]
    pub tx: B256,
    /// The block that holds it.
    pub block: u64,
    /// The event's log index in that block.
    pub log_index: u64,
    /// The order's owner.
    #[schemars(with = "String")]
    pub owner: Address,
    /// A part's window in chain seconds (`validTo` is its last second); parts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<PartWindow>,
    /// The head at which the mock saw a part's window open (its deadline counts from it);
    /// parts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_block: Option<u64>,
    /// The last head at which its order was still in time: the event's (or the part's
    /// opening) block plus `order_deadline_blocks`.
    pub deadline_block: u64,
    /// The UID of the order it requires, when the event fixes the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub uid: Option<OrderUid>,
    /// What became of it.
    pub outcome: OrderOutcome,
    /// Why it was lost (from the last answer before giving up), or `late`; absent when it was
    /// not lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<LossReason>,
    /// Its first accepted order; absent when none came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_accepted: Option<FirstAccepted>,
    /// The requests the engine made for it, oldest first (at most 32; see `requests_total`).
    pub requests: Vec<RequestLine>,
    /// Every request made for it, also those not listed.
    pub requests_total: u64,
    /// Every request made for it by route and status, complete even where `requests` is cut.
    pub request_counts: Vec<RequestCount>,
}

/// How many requests of one route got one status, for one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RequestCount {
    /// Which route.
    pub route: Route,
    /// The HTTP status; absent for a reset connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How many.
    pub requests: u64,
}

impl OrderLine {
    /// True for a line that is one order: an EthFlow event, a TWAP part. A TWAP event's own
    /// line repeats its part 0 and is not counted twice.
    pub fn is_order(&self) -> bool {
        self.part.is_some() || self.kind != EventKind::Twap
    }
}

/// A TWAP part's window, chain seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PartWindow {
    /// When it opens.
    pub start: u64,
    /// Its last second: the part order's `validTo`.
    pub valid_to: u64,
}

/// The first accepted order of a line.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FirstAccepted {
    /// The head block when it arrived.
    pub head_block: u64,
    /// Seconds from the event's block being mined to its arrival (the event→order latency,
    /// for an event's line).
    pub seconds_after_event: f64,
}

/// The routes a request for one order can take.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Route {
    /// Posting the order.
    #[serde(rename = "POST /api/v1/orders")]
    PostOrder,
    /// Looking it up by UID.
    #[serde(rename = "GET /api/v1/orders/{uid}")]
    GetOrder,
}

impl Route {
    /// As the line writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::PostOrder => "POST /api/v1/orders",
            Route::GetOrder => "GET /api/v1/orders/{uid}",
        }
    }
}

/// One request made for an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestLine {
    /// Which route.
    pub route: Route,
    /// How the mock answered: for a POST `accepted`, `duplicate`, `rate_limited`,
    /// `mismatched` (accepted, but not the order owed) or an injected fault (`Http503`,
    /// `ConnectionReset`, `InsufficientFee`…); for a GET `found` or `not_found`.
    pub answer: String,
    /// The HTTP status; absent for a reset connection, which never gets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Seconds from the event's block being mined to the request's arrival.
    pub seconds_after_event: f64,
    /// The head block when it arrived.
    pub head_block: u64,
    /// The UID posted, when it is not the one owed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub uid: Option<OrderUid>,
}

/// The JSON Schema of one `orders.jsonl` line, pretty, with a trailing newline.
pub fn order_line_schema() -> String {
    let schema = schemars::schema_for!(OrderLine);
    serde_json::to_string_pretty(&schema).expect("a JSON schema always serialises") + "\n"
}
