//! What the truth is told: the events the runner found on chain (with the exact order each
//! requires and, for a TWAP, its schedule) and every parsed POST.

use std::time::Instant;

use alloy::primitives::{Address, B256, U256};
use cowprotocol::{DomainSeparator, OrderData, OrderUid};

use crate::faults::Fault;
use cowload_spec::{EventKind, LossReason, PostResult};

/// A TWAP's schedule as its static input fixes it (`t0`, `n`, `t`; chain seconds, `span` 0).
/// Part `i` is tradeable from `t0 + i·t` to `t0 + (i+1)·t − 1`, and that last second is the
/// part order's `validTo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TwapSchedule {
    /// Start of part 0.
    pub t0: u64,
    /// Number of parts.
    pub n: u64,
    /// Seconds per part.
    pub t: u64,
}

impl TwapSchedule {
    /// When part `i`'s window opens.
    pub fn part_start(&self, i: u64) -> u64 {
        self.t0.saturating_add(i.saturating_mul(self.t))
    }

    /// The `validTo` of part `i`: the last second of its window.
    pub fn part_valid_to(&self, i: u64) -> u64 {
        self.part_start(i + 1).saturating_sub(1)
    }

    /// The part whose window holds `valid_to`, if any: a POST is attributed to it.
    pub fn part_of(&self, valid_to: u64) -> Option<u64> {
        if self.t == 0 || valid_to < self.t0 {
            return None;
        }
        let i = (valid_to - self.t0) / self.t;
        (i < self.n).then_some(i)
    }
}

/// The order fields that tie a posted order to the event that caused it. `validTo`, fees and
/// the signature are left out on purpose: TWAP parts differ only in `validTo`, and engines
/// choose fees and signatures.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OrderKey {
    /// The order's owner (`from`, or the recovered ECDSA signer).
    pub owner: Address,
    /// Token sold.
    pub sell_token: Address,
    /// Token bought.
    pub buy_token: Address,
    /// Receiver; an absent receiver is `Address::ZERO`, as in the signed struct.
    pub receiver: Address,
    /// Sell amount, atomic units.
    pub sell_amount: U256,
    /// Buy amount, atomic units.
    pub buy_amount: U256,
    /// keccak256 of the app-data document.
    pub app_data: B256,
}

/// One event the runner found on chain and expects to become an order.
#[derive(Clone, Debug)]
pub struct ExpectedOrder {
    /// What kind of event it was.
    pub kind: EventKind,
    /// The block that holds the event.
    pub block: u64,
    /// When that block was mined (latency starts here).
    pub mined_at: Instant,
    /// The order the event should turn into.
    pub key: OrderKey,
    /// The exact order the event requires, when it fully determines it
    /// (EthFlow: the order itself; TWAP: every part's, but for `validTo`).
    pub exact: Option<ExactOrder>,
    /// The TWAP's parts, for a TWAP event: each part opening before the end is expected to
    /// get its own order. `None` for EthFlow (one order per event).
    pub twap: Option<TwapSchedule>,
    /// The transaction that emitted the event (for reports and debugging).
    pub tx_hash: B256,
    /// The event's log index in its block.
    pub log_index: u64,
}

/// The order an event requires, as its UID is computed: for a TWAP, `order`
/// holds every field but `validTo`, which is its part's.
#[derive(Clone, Debug, PartialEq)]
pub struct ExactOrder {
    /// The signed fields (a TWAP's `valid_to` is replaced per part).
    pub order: OrderData,
    /// The order's owner (`from`).
    pub owner: Address,
    /// The settlement contract's EIP-712 domain.
    pub domain: DomainSeparator,
}

impl ExactOrder {
    /// The UID of the order, with `valid_to` when given (a TWAP part's).
    pub fn uid(&self, valid_to: Option<u32>) -> OrderUid {
        let mut order = self.order;
        if let Some(valid_to) = valid_to {
            order.valid_to = valid_to;
        }
        order.uid(&self.domain, self.owner)
    }
}

/// How one POST ended, as the truth counts it (the `outcome` label).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostOutcome {
    /// 201, stored.
    Accepted,
    /// 400 `DuplicatedOrder` because the UID was already stored.
    Duplicate,
    /// An answer injected by the error mix (an errorType or a transport fault).
    Injected(Fault),
    /// 400 because the body could not be parsed.
    Invalid,
    /// 429 because the route's rate-limit bucket was empty.
    RateLimited,
    /// Accepted by the API, but not the order its event requires (another UID).
    Mismatched,
}

impl PostOutcome {
    /// The `outcome` label value.
    pub fn label(&self) -> &str {
        self.result().label()
    }

    /// As the spec names it.
    pub fn result(&self) -> PostResult<'_> {
        match self {
            PostOutcome::Accepted => PostResult::Accepted,
            PostOutcome::Duplicate => PostResult::Duplicate,
            PostOutcome::Injected(fault) => PostResult::Injected(fault.name()),
            PostOutcome::Invalid => PostResult::Invalid,
            PostOutcome::RateLimited => PostResult::RateLimited,
            PostOutcome::Mismatched => PostResult::Mismatched,
        }
    }

    /// The HTTP status the POST was answered with; `None` for a reset connection.
    pub fn status(&self) -> Option<u16> {
        match self {
            PostOutcome::Accepted | PostOutcome::Mismatched => Some(201),
            PostOutcome::Duplicate | PostOutcome::Invalid => Some(400),
            PostOutcome::RateLimited => Some(429),
            PostOutcome::Injected(fault) => fault.status(),
        }
    }
}

/// A parsed POST as handed to the truth.
#[derive(Clone, Debug)]
pub struct Observation {
    /// The order's key.
    pub key: OrderKey,
    /// The order's UID as posted.
    pub uid: OrderUid,
    /// The order's `validTo` as posted (picks a TWAP's part).
    pub valid_to: u64,
    /// How the POST was answered.
    pub outcome: PostOutcome,
    /// When the request arrived.
    pub received_at: Instant,
    /// The head block at that moment.
    pub head: u64,
}

/// Why an order with no accepted POST was lost, from the last answer it got before the books
/// closed: none, a permanent rejection, a retryable answer, or a wrong order.
pub(super) fn loss_reason(last: Option<&PostOutcome>) -> LossReason {
    match last {
        None => LossReason::NeverPosted,
        Some(PostOutcome::RateLimited) => LossReason::GaveUpOnRetryable,
        Some(PostOutcome::Injected(fault)) if fault.is_retryable() => LossReason::GaveUpOnRetryable,
        Some(PostOutcome::Mismatched) => LossReason::Mismatched,
        Some(_) => LossReason::Rejected,
    }
}
