//! The TWAP module: watch `ComposableCoW` conditional orders and post their discrete parts.
//!
//! In: `ConditionalOrderCreated` events and, every block, the set of orders being watched. Out:
//! one `getTradeableOrderWithSignature(owner, params, "", [])` `eth_call` per due order at that
//! block, an order posted whenever the call returns one whose UID is new, and a new schedule
//! (or a drop) from the poll's revert. The revert policy is [`decide_revert`], pure and tested.

use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::sol_types::SolValue;
use cowprotocol::composable::{
    GetTradeableOrderWithSignatureCall, TradeableOrderWithSignature, TwapStaticInput,
};
use cowprotocol::{
    decode_conditional_order_revert, ConditionalOrderParams, ConditionalOrderRevert, Signature,
    COMPOSABLE_COW,
};

use crate::chain::{CallOutcome, Head};
use crate::schedule::Schedule;
use crate::state::SavedWatch;
use crate::submit::{order_data_from_chain, Ctx, Discrete};
use crate::telemetry::{self, ErrorKind, Module};

/// `OrderNotValid` reasons that mean "not yet" rather than "never": the TWAP handler's
/// "before twap start", and "not within span" (a part with `span > 0` between its windows).
const NOT_YET_REASONS: [&str; 2] = ["before twap start", "not within span"];

/// A conditional order being watched.
#[derive(Clone, Debug)]
pub struct Watch {
    /// Who created it (the order owner and `from` of its parts).
    pub owner: Address,
    /// Handler, salt and static input.
    pub params: ConditionalOrderParams,
    /// When to poll it next.
    pub next: Schedule,
    /// The block whose event created it (set by the block loop), so a reorg that removes that
    /// block stops the watch.
    pub created_block: u64,
}

/// Key of a watched order: the owner and `keccak256(abi.encode(params))`, as ComposableCoW
/// keys `singleOrders`. Creating the same order twice watches it once.
pub type WatchKey = (Address, B256);

impl Watch {
    /// A new order, due at once (its first poll is in the block it was created in).
    pub fn new(owner: Address, params: ConditionalOrderParams) -> Self {
        Self {
            owner,
            params,
            next: Schedule::NextBlock,
            created_block: 0,
        }
    }

    /// Its key in the watch set.
    pub fn key(&self) -> WatchKey {
        (self.owner, keccak256(self.params.abi_encode()))
    }
}

/// What a revert of `getTradeableOrderWithSignature` tells the watcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevertDecision {
    /// Keep watching; poll again then.
    Wait(Schedule),
    /// Stop watching; count an error when one is given.
    Drop(Option<ErrorKind>),
}

/// shepherd's reading of a poll revert.
///
/// `PollTryNextBlock`, `PollTryAtBlock`, `PollTryAtEpoch` reschedule; `PollNever` drops;
/// `OrderNotValid` waits a block for the "not yet" reasons ([`NOT_YET_REASONS`]) and drops for
/// any other (e.g. "after twap finish"). An empty revert (the owner has no code) or one that is
/// not an `IConditionalOrder` error counts as `poll_reverted` and drops the order, so a broken
/// order costs one error, not one per block.
pub fn decide_revert(data: &[u8]) -> RevertDecision {
    match decode_conditional_order_revert(data) {
        ConditionalOrderRevert::PollTryNextBlock { .. } => {
            RevertDecision::Wait(Schedule::NextBlock)
        }
        ConditionalOrderRevert::PollTryAtBlock { block_number, .. } => {
            RevertDecision::Wait(Schedule::AtBlock(saturate(block_number)))
        }
        ConditionalOrderRevert::PollTryAtEpoch { timestamp, .. } => {
            RevertDecision::Wait(Schedule::AtEpoch(saturate(timestamp)))
        }
        ConditionalOrderRevert::OrderNotValid { reason }
            if NOT_YET_REASONS.contains(&reason.as_str()) =>
        {
            RevertDecision::Wait(Schedule::NextBlock)
        }
        ConditionalOrderRevert::OrderNotValid { .. } | ConditionalOrderRevert::PollNever { .. } => {
            RevertDecision::Drop(None)
        }
        _ => RevertDecision::Drop(Some(ErrorKind::PollReverted)),
    }
}

fn saturate(value: U256) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// Poll `watch` at `head` and act on the answer. Returns the next schedule, or `None` to stop
/// watching it.
pub async fn poll(ctx: &Ctx, watch: &Watch, head: &Head) -> Option<Schedule> {
    let call = GetTradeableOrderWithSignatureCall {
        owner: watch.owner,
        params: watch.params.clone(),
        offchain_input: Bytes::new(),
        proof: Vec::new(),
    };
    match ctx
        .rpc
        .call(COMPOSABLE_COW, call.abi_encode().into(), head.hash)
        .await
    {
        CallOutcome::Success(data) => {
            post_tradeable(ctx, watch, &data).await;
            Some(Schedule::NextBlock)
        }
        CallOutcome::Reverted(data) => match decide_revert(&data) {
            RevertDecision::Wait(next) => Some(next),
            RevertDecision::Drop(error) => {
                if let Some(kind) = error {
                    telemetry::module_error(Module::Twap, kind.as_str());
                }
                tracing::debug!(owner = %watch.owner, data = %data, "conditional order dropped");
                None
            }
        },
        CallOutcome::Failed(reason) => {
            tracing::warn!(owner = %watch.owner, %reason, "poll failed; retrying next block");
            telemetry::module_error(Module::Twap, ErrorKind::RpcError.as_str());
            Some(Schedule::NextBlock)
        }
    }
}

/// Decode a tradeable answer and submit its order (the UID book skips parts already posted).
/// A part that cannot be decoded or submitted is counted and left; the watch goes on.
async fn post_tradeable(ctx: &Ctx, watch: &Watch, data: &[u8]) {
    let owner = watch.owner;
    let tradeable = match TradeableOrderWithSignature::abi_decode(data) {
        Ok(t) => t,
        Err(err) => {
            tracing::warn!(%owner, %err, "undecodable getTradeableOrderWithSignature answer");
            telemetry::module_error(Module::Twap, ErrorKind::DecodeError.as_str());
            return;
        }
    };
    let order = match order_data_from_chain(&tradeable.order) {
        Ok(o) => o,
        Err(err) => {
            tracing::warn!(%owner, %err, "tradeable order has unknown markers");
            telemetry::module_error(Module::Twap, ErrorKind::InvalidOrder.as_str());
            return;
        }
    };
    let signature = match Signature::eip1271(tradeable.signature.to_vec()) {
        Ok(s) => s,
        Err(err) => {
            tracing::warn!(%owner, %err, "tradeable order signature unusable");
            telemetry::module_error(Module::Twap, ErrorKind::InvalidOrder.as_str());
            return;
        }
    };
    // Test-only mutants (crate::mutant): skip later parts, or post a part twice.
    if !crate::mutant::posts_twap_part(twap_part(watch, order.valid_to)) {
        return;
    }
    let mut discrete = Discrete {
        order,
        owner,
        signature,
    };
    ctx.submit(Module::Twap, &discrete).await;
    if crate::mutant::doubles_twap_parts() {
        discrete.order.valid_to = discrete.order.valid_to.saturating_sub(1);
        ctx.submit(Module::Twap, &discrete).await;
    }
}

/// Which part of a TWAP (span 0) an order with `valid_to` is: `(valid_to − t0) / t`; 0 when
/// the static input does not decode as a TWAP's.
fn twap_part(watch: &Watch, valid_to: u32) -> u64 {
    let Ok(input) = TwapStaticInput::abi_decode(&watch.params.staticInput) else {
        return 0;
    };
    let (t0, t) = (saturate(input.t0), saturate(input.t));
    if t == 0 {
        return 0;
    }
    u64::from(valid_to).saturating_sub(t0) / t
}

/// A watch as the state file keeps it, and back (the state module knows no TWAP types).
impl From<&Watch> for SavedWatch {
    fn from(watch: &Watch) -> Self {
        Self {
            owner: watch.owner,
            handler: watch.params.handler,
            salt: watch.params.salt,
            static_input: watch.params.staticInput.clone(),
            next: watch.next,
            created_block: watch.created_block,
        }
    }
}

impl From<SavedWatch> for Watch {
    fn from(saved: SavedWatch) -> Self {
        let params = ConditionalOrderParams {
            handler: saved.handler,
            salt: saved.salt,
            staticInput: saved.static_input,
        };
        Self {
            next: saved.next,
            created_block: saved.created_block,
            ..Watch::new(saved.owner, params)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::sol_types::SolError;
    use cowprotocol::IConditionalOrder;
    use std::time::Instant;

    #[test]
    fn watches_round_trip_through_their_saved_form() {
        let saved = crate::state::sample_watch();
        let watch = Watch::from(saved.clone());
        assert_eq!(watch.next, Schedule::AtEpoch(1_700_000_000));
        assert_eq!(SavedWatch::from(&watch), saved);
    }

    fn head(number: u64, timestamp: u64) -> Head {
        Head {
            number,
            hash: B256::ZERO,
            timestamp,
            received_at: Instant::now(),
            catch_up_to: None,
        }
    }

    #[test]
    fn reverts_decide_the_next_poll() {
        let reason = |s: &str| s.to_owned();
        // (revert data, decision)
        let cases: Vec<(Vec<u8>, RevertDecision)> = vec![
            (
                Vec::new(),
                RevertDecision::Drop(Some(ErrorKind::PollReverted)),
            ),
            (
                vec![0xde, 0xad, 0xbe, 0xef, 0, 0],
                RevertDecision::Drop(Some(ErrorKind::PollReverted)),
            ),
            (
                IConditionalOrder::PollTryNextBlock {
                    reason: reason("wait"),
                }
                .abi_encode(),
                RevertDecision::Wait(Schedule::NextBlock),
            ),
            (
                IConditionalOrder::PollTryAtBlock {
                    blockNumber: U256::from(42u64),
                    reason: reason("later"),
                }
                .abi_encode(),
                RevertDecision::Wait(Schedule::AtBlock(42)),
            ),
            (
                IConditionalOrder::PollTryAtBlock {
                    blockNumber: U256::MAX,
                    reason: reason("much later"),
                }
                .abi_encode(),
                RevertDecision::Wait(Schedule::AtBlock(u64::MAX)),
            ),
            (
                IConditionalOrder::PollTryAtEpoch {
                    timestamp: U256::from(1_700_000_000u64),
                    reason: reason("t"),
                }
                .abi_encode(),
                RevertDecision::Wait(Schedule::AtEpoch(1_700_000_000)),
            ),
            (
                IConditionalOrder::OrderNotValid {
                    reason: reason("before twap start"),
                }
                .abi_encode(),
                RevertDecision::Wait(Schedule::NextBlock),
            ),
            (
                IConditionalOrder::OrderNotValid {
                    reason: reason("not within span"),
                }
                .abi_encode(),
                RevertDecision::Wait(Schedule::NextBlock),
            ),
            (
                IConditionalOrder::OrderNotValid {
                    reason: reason("after twap finish"),
                }
                .abi_encode(),
                RevertDecision::Drop(None),
            ),
            (
                IConditionalOrder::PollNever {
                    reason: reason("cancelled"),
                }
                .abi_encode(),
                RevertDecision::Drop(None),
            ),
        ];
        for (data, expected) in cases {
            assert_eq!(
                decide_revert(&data),
                expected,
                "revert 0x{}",
                alloy::hex::encode(&data)
            );
        }
    }

    #[test]
    fn schedules_fall_due_by_block_or_time() {
        let h = head(100, 1_000);
        // (schedule, due at block 100 / time 1000?)
        let cases = [
            (Schedule::NextBlock, true),
            (Schedule::AtBlock(99), true),
            (Schedule::AtBlock(100), true),
            (Schedule::AtBlock(101), false),
            (Schedule::AtEpoch(1_000), true),
            (Schedule::AtEpoch(1_001), false),
        ];
        for (schedule, due) in cases {
            assert_eq!(schedule.is_due(&h), due, "{schedule:?}");
        }
    }

    #[test]
    fn parts_are_read_from_valid_to_and_the_static_input() {
        let input = TwapStaticInput {
            sellToken: Address::repeat_byte(1),
            buyToken: Address::repeat_byte(2),
            receiver: Address::ZERO,
            partSellAmount: U256::from(10u64),
            minPartLimit: U256::from(1u64),
            t0: U256::from(99u64),
            n: U256::from(3u64),
            t: U256::from(2u64),
            span: U256::ZERO,
            appData: B256::ZERO,
        };
        let watch = Watch::new(
            Address::repeat_byte(9),
            ConditionalOrderParams {
                handler: Address::repeat_byte(1),
                salt: B256::ZERO,
                staticInput: input.abi_encode().into(),
            },
        );
        assert_eq!(twap_part(&watch, 100), 0);
        assert_eq!(twap_part(&watch, 102), 1);
        assert_eq!(twap_part(&watch, 104), 2);
        let mut broken = watch.clone();
        broken.params.staticInput = Bytes::from(vec![1, 2, 3]);
        assert_eq!(twap_part(&broken, 104), 0);
    }

    #[test]
    fn watch_keys_follow_owner_and_params() {
        let params = |salt: u8| ConditionalOrderParams {
            handler: Address::repeat_byte(1),
            salt: B256::repeat_byte(salt),
            staticInput: Bytes::from(vec![1, 2, 3]),
        };
        let owner = Address::repeat_byte(9);
        let a = Watch::new(owner, params(1));
        assert_eq!(a.key(), Watch::new(owner, params(1)).key());
        assert_ne!(a.key(), Watch::new(owner, params(2)).key());
        assert_ne!(
            a.key(),
            Watch::new(Address::repeat_byte(8), params(1)).key()
        );
        assert_eq!(
            a.key().1,
            keccak256(params(1).abi_encode()),
            "ComposableCoW's singleOrders hash"
        );
        assert_eq!(
            a.next,
            Schedule::NextBlock,
            "first poll in the creation block"
        );
    }
}
