//! What became of an order the truth expected, and why it was lost: the label values of the
//! `cowload_*` counters, each spelled once, beside the enum that the ledger counts by.

use super::PostOutcome;

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
}

impl PartOutcome {
    /// Every outcome, in exposition order.
    pub const ALL: [PartOutcome; 5] = [
        PartOutcome::Expected,
        PartOutcome::Matched,
        PartOutcome::Missing,
        PartOutcome::Late,
        PartOutcome::Duplicate,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            PartOutcome::Expected => "expected",
            PartOutcome::Matched => "matched",
            PartOutcome::Missing => "missing",
            PartOutcome::Late => "late",
            PartOutcome::Duplicate => "duplicate",
        }
    }
}

/// Why an event was lost (or a TWAP part missed): the `reason` label of
/// [`crate::names::EVENTS_LOST_REASON_TOTAL`] and
/// [`crate::names::TWAP_PARTS_MISSING_REASON_TOTAL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

    /// Why an order with no accepted POST was lost, from the last answer it got before the
    /// books closed: none, a permanent rejection, a retryable answer, or a wrong order.
    pub(super) fn from_last(last: Option<&PostOutcome>) -> LossReason {
        match last {
            None => LossReason::NeverPosted,
            Some(PostOutcome::RateLimited) => LossReason::GaveUpOnRetryable,
            Some(PostOutcome::Injected(fault)) if fault.is_retryable() => {
                LossReason::GaveUpOnRetryable
            }
            Some(PostOutcome::Mismatched) => LossReason::Mismatched,
            Some(_) => LossReason::Rejected,
        }
    }
}
