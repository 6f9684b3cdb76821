//! What became of an order the mock's truth expected, and why it was lost: the label values of
//! the `cowload_*` counters and of `orders.jsonl`, each spelled once, beside the enum that the
//! truth counts by.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `kind` label of orders that match no registered event.
pub const UNMATCHED: &str = "unmatched";

/// What became of a TWAP part: the `outcome` label of [`crate::names::TWAP_PARTS_TOTAL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PartOutcome {
    /// Its window opened: an order is expected.
    Expected,
    /// Its first accepted order arrived by its deadline.
    Matched,
    /// No accepted order by its deadline.
    Missing,
    /// Missing, then its first accepted order came after the deadline.
    Late,
    /// A second accepted order (another UID) for a part that already had one.
    Duplicate,
    /// Its deadline lay after the run's last block: neither matched nor missing, and no
    /// failure (see [`OrderOutcome::Unjudged`]).
    Unjudged,
}

impl PartOutcome {
    /// Every outcome, in exposition order.
    pub const ALL: [PartOutcome; 6] = [
        PartOutcome::Expected,
        PartOutcome::Matched,
        PartOutcome::Missing,
        PartOutcome::Late,
        PartOutcome::Duplicate,
        PartOutcome::Unjudged,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            PartOutcome::Expected => "expected",
            PartOutcome::Matched => "matched",
            PartOutcome::Missing => "missing",
            PartOutcome::Late => "late",
            PartOutcome::Duplicate => "duplicate",
            PartOutcome::Unjudged => "unjudged",
        }
    }
}

/// Why an event was lost (or a TWAP part missed): the `reason` label of
/// [`crate::names::EVENTS_LOST_REASON_TOTAL`] and
/// [`crate::names::TWAP_PARTS_MISSING_REASON_TOTAL`], and the `reason` of an
/// `orders.jsonl` line.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LossReason {
    /// No POST for it at all.
    NeverPosted,
    /// The last answer was a permanent rejection, a 400 errorType (InsufficientFee,
    /// InvalidSignature, DuplicatedOrder…): giving up was right.
    Rejected,
    /// The last answer was retryable: a 429, a 5xx, a reset or a timeout.
    GaveUpOnRetryable,
    /// The last order posted was accepted but is not the one the event requires.
    Mismatched,
    /// Its order came, after the deadline.
    Late,
}

impl LossReason {
    /// Every reason, in exposition order.
    pub const ALL: [LossReason; 5] = [
        LossReason::NeverPosted,
        LossReason::Rejected,
        LossReason::GaveUpOnRetryable,
        LossReason::Mismatched,
        LossReason::Late,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            LossReason::NeverPosted => "never_posted",
            LossReason::Rejected => "rejected",
            LossReason::GaveUpOnRetryable => "gave_up_on_retryable",
            LossReason::Mismatched => "mismatched",
            LossReason::Late => "late",
        }
    }
}

/// How one order POST ended: the `outcome` label of [`crate::names::ORDERS_RECEIVED_TOTAL`]
/// and the inner key of [`crate::Stats::orders_received`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostResult<'a> {
    /// 201, stored.
    Accepted,
    /// 400 `DuplicatedOrder`: the UID was already stored, or the TWAP part had an order.
    Duplicate,
    /// 400: the body could not be parsed.
    Invalid,
    /// 429: the route's rate-limit bucket was empty.
    RateLimited,
    /// Accepted by the API, but not the order its event requires (another UID).
    Mismatched,
    /// An answer injected by the error mix, labelled by its error type or transport fault.
    Injected(&'a str),
}

impl<'a> PostResult<'a> {
    /// The results every kind counts from the start, at zero until one happens.
    pub const ALWAYS_COUNTED: [PostResult<'static>; 4] = [
        PostResult::Accepted,
        PostResult::Duplicate,
        PostResult::Invalid,
        PostResult::Mismatched,
    ];

    /// The `outcome` label value.
    pub fn label(self) -> &'a str {
        match self {
            PostResult::Accepted => "accepted",
            PostResult::Duplicate => "duplicate",
            PostResult::Invalid => "invalid",
            PostResult::RateLimited => "rate_limited",
            PostResult::Mismatched => "mismatched",
            PostResult::Injected(name) => name,
        }
    }

    /// The result a label value names (an unknown one is an injected answer's).
    pub fn of_label(label: &'a str) -> Self {
        [
            PostResult::Accepted,
            PostResult::Duplicate,
            PostResult::Invalid,
            PostResult::RateLimited,
            PostResult::Mismatched,
        ]
        .into_iter()
        .find(|r| r.label() == label)
        .unwrap_or(PostResult::Injected(label))
    }
}

/// What became of one owed order (an event's, or a TWAP part's), as its `orders.jsonl` line
/// says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderOutcome {
    /// Its first accepted order arrived by its deadline.
    Matched,
    /// No accepted order by its deadline; the `reason` says what the last answer was.
    Lost,
    /// Lost, then its order came after the deadline.
    Late,
    /// Lost, and the orders the orderbook accepted for it were not the one it requires.
    Mismatched,
    /// A reorg took its event off the chain: no order was owed any more.
    Reorged,
    /// Its deadline (block + `order_deadline_blocks`) lay after the run's last block: the run
    /// ended before it was due, so it is neither matched nor lost, and never a failure. An
    /// order for it that did arrive is matched as usual.
    Unjudged,
}

impl OrderOutcome {
    /// Every outcome.
    pub const ALL: [OrderOutcome; 6] = [
        OrderOutcome::Matched,
        OrderOutcome::Lost,
        OrderOutcome::Late,
        OrderOutcome::Mismatched,
        OrderOutcome::Reorged,
        OrderOutcome::Unjudged,
    ];

    /// As `orders.jsonl` writes it.
    pub fn label(self) -> &'static str {
        match self {
            OrderOutcome::Matched => "matched",
            OrderOutcome::Lost => "lost",
            OrderOutcome::Late => "late",
            OrderOutcome::Mismatched => "mismatched",
            OrderOutcome::Reorged => "reorged",
            OrderOutcome::Unjudged => "unjudged",
        }
    }

    /// True for an order that was due and did not get its order in time.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            OrderOutcome::Lost | OrderOutcome::Late | OrderOutcome::Mismatched
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_result_reads_back_from_its_label() {
        for result in [
            PostResult::Accepted,
            PostResult::Duplicate,
            PostResult::Invalid,
            PostResult::RateLimited,
            PostResult::Mismatched,
            PostResult::Injected("InsufficientFee"),
        ] {
            assert_eq!(PostResult::of_label(result.label()), result);
        }
    }

    #[test]
    fn labels_are_what_json_writes() {
        for outcome in OrderOutcome::ALL {
            let json = serde_json::to_value(outcome).unwrap();
            assert_eq!(json.as_str(), Some(outcome.label()));
        }
        for reason in LossReason::ALL {
            let json = serde_json::to_value(reason).unwrap();
            assert_eq!(json.as_str(), Some(reason.label()));
        }
    }
}
