//! From a discrete order to an orderbook answer, shared by both modules.
//!
//! In: the 12 signed fields, the owner and the EIP-1271 signature. Out: what the engine should
//! do next ([`Submission`]). This is where "never post the same UID twice" lives: a UID is
//! claimed before it is posted and stays claimed once the orderbook took it (or rejected it), so
//! neither a later poll nor a concurrent handler posts it again; only a retryable answer
//! releases the claim.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use alloy::primitives::{Address, B256};
use cowprotocol::{
    settlement_domain, BuyTokenDestination, DomainSeparator, GPv2OrderData, OrderCreation,
    OrderData, OrderKind, OrderUid, SellTokenSource, Signature, EMPTY_APP_DATA_HASH,
    EMPTY_APP_DATA_JSON, GPV2_SETTLEMENT,
};
use thiserror::Error;

use crate::chain::Rpc;
use crate::orderbook::{Answer, AppDataError, Orderbook};
use crate::state::Store;
use crate::telemetry::{self, ErrorKind, Module};

/// Everything a handler needs for one chain. Shared (behind an `Arc`) by concurrent handlers.
pub struct Ctx {
    /// The chain id (metric label and EIP-712 domain).
    pub chain_id: u64,
    /// The settlement domain UIDs are computed in.
    pub domain: DomainSeparator,
    /// Chain RPCs.
    pub rpc: Rpc,
    /// Orderbook API.
    pub orderbook: Orderbook,
    uids: Uids,
    app_data: Mutex<HashMap<B256, String>>,
}

/// Which UIDs are being posted, were posted, or were dropped; with a store, every UID settled
/// for good is journaled so a restarted engine does not post it again.
#[derive(Debug, Default)]
pub struct Uids {
    states: Mutex<HashMap<OrderUid, UidState>>,
    store: Option<Arc<Store>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UidState {
    /// A handler is posting it right now.
    InFlight,
    /// The orderbook has it (accepted or duplicate).
    Submitted,
    /// Dropped for good (rejected or unbuildable).
    Dropped,
}

/// What became of one discrete order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submission {
    /// The orderbook has the order now.
    Submitted,
    /// The UID was already posted, dropped, or is being posted by another handler.
    AlreadyKnown,
    /// Not done: try again next block.
    Retry,
    /// Dropped for good.
    Dropped,
}

/// A discrete order ready to be posted.
#[derive(Clone, Debug)]
pub struct Discrete {
    /// The signed fields.
    pub order: OrderData,
    /// The order owner (`from`): the TWAP owner or the EthFlow contract.
    pub owner: Address,
    /// The signature sent with the order.
    pub signature: Signature,
}

/// A `bytes32` marker in an on-chain order that names no known kind or balance.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown {field} marker {value}")]
pub struct UnknownMarker {
    /// Which field.
    pub field: &'static str,
    /// The marker found.
    pub value: B256,
}

impl Ctx {
    /// Context for `chain_id`, computing UIDs in the canonical settlement's domain.
    pub fn new(chain_id: u64, rpc: Rpc, orderbook: Orderbook, uids: Uids) -> Self {
        Self {
            chain_id,
            domain: settlement_domain(chain_id, GPV2_SETTLEMENT),
            rpc,
            orderbook,
            uids,
            app_data: Mutex::new(HashMap::new()),
        }
    }

    /// Post `discrete` unless its UID is already known; count the outcome.
    pub async fn submit(&self, module: Module, discrete: &Discrete) -> Submission {
        let uid = discrete.order.uid(&self.domain, discrete.owner);
        if !self.uids.claim(uid) {
            return Submission::AlreadyKnown;
        }
        let app_data = match self.resolve_app_data(discrete.order.app_data).await {
            Ok(doc) => doc,
            Err(err) => {
                tracing::warn!(module = module.as_str(), %uid, %err, "appData unavailable; retrying next block");
                telemetry::module_error(module, ErrorKind::AppDataUnavailable.as_str());
                self.uids.release(uid);
                return Submission::Retry;
            }
        };
        let creation = match build_creation(discrete, app_data) {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(module = module.as_str(), %uid, %err, "order cannot be submitted; dropping it");
                telemetry::module_error(module, ErrorKind::InvalidOrder.as_str());
                self.uids.settle(uid, UidState::Dropped);
                return Submission::Dropped;
            }
        };
        let answer = self.orderbook.post_order(&creation).await;
        telemetry::submit(self.chain_id, answer.outcome());
        if crate::mutant::active() == Some(crate::mutant::Mutant::DoublePost) {
            let again = self.orderbook.post_order(&creation).await;
            telemetry::submit(self.chain_id, again.outcome());
        }
        self.uids.apply(module, uid, answer)
    }

    /// The empty document needs no lookup; others are fetched once and cached.
    async fn resolve_app_data(&self, hash: B256) -> Result<String, AppDataError> {
        if hash == EMPTY_APP_DATA_HASH {
            return Ok(EMPTY_APP_DATA_JSON.to_owned());
        }
        if let Some(doc) = self
            .app_data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
        {
            return Ok(doc.clone());
        }
        let doc = self.orderbook.app_data(hash).await?;
        self.app_data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, doc.clone());
        Ok(doc)
    }
}

impl Uids {
    /// UIDs journaled to `store`, starting with those a previous run was done with (never
    /// posted again).
    pub fn journaled(store: Arc<Store>, done: Vec<OrderUid>) -> Self {
        let states = done
            .into_iter()
            .map(|uid| (uid, UidState::Submitted))
            .collect();
        Self {
            states: Mutex::new(states),
            store: Some(store),
        }
    }

    /// True when this caller now owns posting `uid` (it was unknown and is now in flight).
    pub fn claim(&self, uid: OrderUid) -> bool {
        let mut uids = self.states.lock().unwrap_or_else(|e| e.into_inner());
        if uids.contains_key(&uid) {
            return false;
        }
        uids.insert(uid, UidState::InFlight);
        true
    }

    fn release(&self, uid: OrderUid) {
        self.states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&uid);
    }

    /// Settle `uid` for good, journaling it first when there is a store.
    fn settle(&self, uid: OrderUid, state: UidState) {
        if let Some(store) = &self.store {
            if let Err(err) = store.record(&uid) {
                tracing::error!(%uid, %err, "cannot journal a posted order; a restart may post it again");
            }
        }
        self.states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uid, state);
    }

    /// Record the orderbook's answer for a claimed `uid` and say what comes next.
    pub fn apply(&self, module: Module, uid: OrderUid, answer: Answer) -> Submission {
        match answer {
            Answer::Accepted | Answer::Duplicate => {
                tracing::debug!(module = module.as_str(), %uid, outcome = answer.outcome(), "order submitted");
                self.settle(uid, UidState::Submitted);
                Submission::Submitted
            }
            Answer::Retry(reason) => {
                tracing::info!(module = module.as_str(), %uid, %reason, "orderbook asked to retry");
                self.release(uid);
                Submission::Retry
            }
            Answer::Rejected(error_type) => {
                tracing::warn!(module = module.as_str(), %uid, %error_type, "orderbook rejected the order");
                telemetry::module_error(module, &error_type);
                self.settle(uid, UidState::Dropped);
                Submission::Dropped
            }
        }
    }
}

/// The submission body: EIP-1271 (or pre-sign) signature, `from` = owner. The valid-to horizon
/// check of the SDK is off: EthFlow orders carry `validTo = u32::MAX` by design.
fn build_creation(discrete: &Discrete, app_data: String) -> cowprotocol::Result<OrderCreation> {
    OrderCreation::builder(
        &discrete.order,
        discrete.signature.clone(),
        discrete.owner,
        app_data,
    )
    .with_valid_to_max_horizon_secs(u64::MAX)
    .build()
}

/// The signing-side view of an on-chain `GPv2Order.Data` (receiver zero means "the owner").
pub fn order_data_from_chain(order: &GPv2OrderData) -> Result<OrderData, UnknownMarker> {
    let marker = |field: &'static str, value: B256| UnknownMarker { field, value };
    Ok(OrderData {
        sell_token: order.sellToken,
        buy_token: order.buyToken,
        receiver: (order.receiver != Address::ZERO).then_some(order.receiver),
        sell_amount: order.sellAmount,
        buy_amount: order.buyAmount,
        valid_to: order.validTo,
        app_data: order.appData,
        fee_amount: order.feeAmount,
        kind: OrderKind::from_contract_bytes(order.kind)
            .ok_or_else(|| marker("kind", order.kind))?,
        partially_fillable: order.partiallyFillable,
        sell_token_balance: SellTokenSource::from_contract_bytes(order.sellTokenBalance)
            .ok_or_else(|| marker("sellTokenBalance", order.sellTokenBalance))?,
        buy_token_balance: BuyTokenDestination::from_contract_bytes(order.buyTokenBalance)
            .ok_or_else(|| marker("buyTokenBalance", order.buyTokenBalance))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{address, U256};

    fn chain_order() -> GPv2OrderData {
        GPv2OrderData {
            sellToken: address!("fFf9976782d46CC05630D1f6eBAb18b2324d6B14"),
            buyToken: address!("0625aFB445C3B6B7B929342a04A22599fd5dBB59"),
            receiver: Address::ZERO,
            sellAmount: U256::from(10u64),
            buyAmount: U256::from(1u64),
            validTo: 1_795_727_400,
            appData: EMPTY_APP_DATA_HASH,
            feeAmount: U256::ZERO,
            kind: OrderKind::SELL,
            partiallyFillable: true,
            sellTokenBalance: SellTokenSource::EXTERNAL,
            buyTokenBalance: BuyTokenDestination::INTERNAL,
        }
    }

    #[test]
    fn chain_orders_convert_field_by_field() {
        let order = order_data_from_chain(&chain_order()).expect("known markers");
        assert_eq!(order.receiver, None);
        assert_eq!(order.kind, OrderKind::Sell);
        assert_eq!(order.sell_token_balance, SellTokenSource::External);
        assert_eq!(order.buy_token_balance, BuyTokenDestination::Internal);
        assert!(order.partially_fillable);
        assert_eq!(order.valid_to, 1_795_727_400);

        let mut with_receiver = chain_order();
        with_receiver.receiver = address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");
        let order = order_data_from_chain(&with_receiver).expect("known markers");
        assert_eq!(order.receiver, Some(with_receiver.receiver));
    }

    #[test]
    fn unknown_markers_are_refused() {
        type Spoil = fn(&mut GPv2OrderData);
        let cases: [(&str, Spoil); 3] = [
            ("kind", |o| o.kind = B256::repeat_byte(1)),
            ("sellTokenBalance", |o| {
                o.sellTokenBalance = B256::repeat_byte(2)
            }),
            ("buyTokenBalance", |o| {
                o.buyTokenBalance = SellTokenSource::EXTERNAL
            }),
        ];
        for (field, spoil) in cases {
            let mut order = chain_order();
            spoil(&mut order);
            let err = order_data_from_chain(&order).expect_err(field);
            assert_eq!(err.field, field);
        }
    }

    #[test]
    fn a_uid_is_posted_again_only_after_a_retryable_answer() {
        // (answer to the first post, expected submission, may the UID be claimed again?)
        let cases = [
            (Answer::Accepted, Submission::Submitted, false),
            (Answer::Duplicate, Submission::Submitted, false),
            (
                Answer::Retry("InsufficientFee".into()),
                Submission::Retry,
                true,
            ),
            (
                Answer::Rejected("InvalidSignature".into()),
                Submission::Dropped,
                false,
            ),
        ];
        for (i, (answer, expected, reclaimable)) in cases.into_iter().enumerate() {
            let uids = Uids::default();
            let uid = OrderUid::repeat_byte(u8::try_from(i).expect("few cases"));
            assert!(uids.claim(uid), "first claim");
            assert!(
                !uids.claim(uid),
                "in flight: a concurrent handler must not post it"
            );
            assert_eq!(
                uids.apply(Module::Twap, uid, answer.clone()),
                expected,
                "{answer:?}"
            );
            assert_eq!(uids.claim(uid), reclaimable, "{answer:?}");
        }
    }

    #[test]
    fn creation_bodies_carry_eip1271_and_the_owner() {
        let owner = address!("bA3cB449bD2B4ADddBc894D8697F5170800EAdeC");
        let discrete = Discrete {
            order: OrderData {
                valid_to: u32::MAX,
                ..order_data_from_chain(&chain_order()).expect("known markers")
            },
            owner,
            signature: Signature::eip1271(owner.to_vec()).expect("short signature"),
        };
        let creation = build_creation(&discrete, EMPTY_APP_DATA_JSON.to_owned()).expect("valid");
        let json = serde_json::to_value(&creation).expect("serialises");
        assert_eq!(json["signingScheme"], "eip1271");
        assert_eq!(json["from"], format!("{owner:#x}"));
        assert_eq!(json["signature"], format!("{owner:#x}"));
        assert_eq!(json["appData"], "{}");
        assert_eq!(json["validTo"], u32::MAX);

        let mismatched = build_creation(&discrete, r#"{"other":1}"#.to_owned());
        assert!(
            mismatched.is_err(),
            "appData must hash to the signed digest"
        );
    }
}
