//! The EthFlow module: post the order an `OrderPlacement` event announces.
//!
//! In: an `OrderPlacement(sender, order, signature, data)` log of the EthFlow contract. Out: the
//! GPv2 order exactly as the event carries it (sell token = WETH, `validTo = u32::MAX`, …)
//! posted with `from` = the EthFlow contract and its EIP-1271 signature (the contract's own
//! address bytes), and, when the orderbook asks for a retry, a [`Placement`] to try again next
//! block — until the user's expiry (in the event's `data`) passes or [`MAX_ATTEMPTS`] is hit.

use alloy::primitives::Address;
use cowprotocol::{CoWSwapOnchainOrders, OnchainSigningScheme, Signature};
use thiserror::Error;

use crate::chain::Head;
use crate::submit::{order_data_from_chain, Ctx, Discrete, Submission, UnknownMarker};
use crate::telemetry::Module;

/// Attempts per order before the engine gives up on a retrying orderbook (about an hour of
/// 4-second blocks); the user's own expiry usually ends it first.
pub const MAX_ATTEMPTS: u32 = 1_000;

/// An EthFlow order to post.
#[derive(Clone, Debug)]
pub struct Placement {
    /// Order, owner (the EthFlow contract) and signature.
    pub discrete: Discrete,
    /// The user-facing expiry from the event's `data` (`abi.encodePacked(int64 quoteId,
    /// uint32 validTo)`), when it has that shape.
    pub user_valid_to: Option<u32>,
    /// Posts attempted so far.
    pub attempts: u32,
    /// The block whose event announced it (set by the block loop): a restart while it waits
    /// for a retry resumes at this block.
    pub origin_block: u64,
}

/// Why an `OrderPlacement` event cannot become an order.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PlacementError {
    /// A `bytes32` marker is not a known kind or balance.
    #[error(transparent)]
    Marker(#[from] UnknownMarker),
    /// The signature data is too long to be an EIP-1271 signature.
    #[error("signature data of {0} bytes is not a usable EIP-1271 signature")]
    Signature(usize),
}

/// Build the order an EthFlow `OrderPlacement` announces; `contract` is the log's address (the
/// order owner).
pub fn placement_from_event(
    contract: Address,
    event: &CoWSwapOnchainOrders::OrderPlacement,
) -> Result<Placement, PlacementError> {
    let mut order = order_data_from_chain(&event.order)?;
    order.valid_to = crate::mutant::ethflow_valid_to(order.valid_to);
    let signature = match event.signature.scheme {
        OnchainSigningScheme::PreSign => Signature::pre_sign(),
        _ => Signature::eip1271(event.signature.data.to_vec())
            .map_err(|_| PlacementError::Signature(event.signature.data.len()))?,
    };
    Ok(Placement {
        discrete: Discrete {
            order,
            owner: contract,
            signature,
        },
        user_valid_to: user_valid_to(&event.data),
        attempts: 0,
        origin_block: 0,
    })
}

/// `abi.encodePacked(int64 quoteId, uint32 validTo)`: the last four of twelve bytes.
fn user_valid_to(data: &[u8]) -> Option<u32> {
    let bytes: [u8; 4] = data
        .get(8..12)
        .filter(|_| data.len() == 12)?
        .try_into()
        .ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// Post `placement` at `head`. Returns it back when it should be tried again next block.
pub async fn place(ctx: &Ctx, mut placement: Placement, head: &Head) -> Option<Placement> {
    placement.attempts += 1;
    match ctx.submit(Module::EthFlow, &placement.discrete).await {
        Submission::Retry if worth_retrying(&placement, head) => Some(placement),
        Submission::Retry => {
            tracing::warn!(
                attempts = placement.attempts,
                "EthFlow order expired while the orderbook kept asking to retry"
            );
            None
        }
        Submission::Submitted | Submission::AlreadyKnown | Submission::Dropped => None,
    }
}

fn worth_retrying(placement: &Placement, head: &Head) -> bool {
    placement.attempts < MAX_ATTEMPTS
        && placement
            .user_valid_to
            .is_none_or(|valid_to| head.timestamp <= u64::from(valid_to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{address, keccak256, Bytes, B256, U256};
    use alloy::sol_types::SolValue;
    use cowprotocol::{
        settlement_domain, CoWSwapEthFlow, EthFlowOrder, EthFlowOrderData, GPv2OrderData,
        OnchainSignature, OrderKind, SellTokenSource, EMPTY_APP_DATA_HASH, ETH_FLOW_PRODUCTION,
        GPV2_SETTLEMENT,
    };
    use std::time::Instant;

    const WETH_SEPOLIA: Address = address!("fFf9976782d46CC05630D1f6eBAb18b2324d6B14");

    /// The user's order from `calldata-examples.json` (`CoWSwapEthFlow.createOrder`).
    fn user_order() -> EthFlowOrderData {
        EthFlowOrderData {
            buyToken: address!("0625aFB445C3B6B7B929342a04A22599fd5dBB59"),
            receiver: address!("90F79bf6EB2c4f870365E785982E1f101E93b906"),
            sellAmount: U256::from(1_000_000_000_000_000_000u128),
            buyAmount: U256::from(1u64),
            appData: EMPTY_APP_DATA_HASH,
            feeAmount: U256::from(10_000_000_000_000_000u128),
            validTo: 1_795_727_400,
            partiallyFillable: false,
            quoteId: 42,
        }
    }

    /// What `CoWSwapEthFlow.createOrder` emits for `user_order()` (EthFlowOrder.toCoWSwapOrder:
    /// sell WETH, validTo max, kind sell, erc20 balances; signature = the contract address).
    fn emitted(user: &EthFlowOrderData) -> CoWSwapOnchainOrders::OrderPlacement {
        let mut data = user.quoteId.to_be_bytes().to_vec();
        data.extend_from_slice(&user.validTo.to_be_bytes());
        CoWSwapOnchainOrders::OrderPlacement {
            sender: address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            order: GPv2OrderData {
                sellToken: WETH_SEPOLIA,
                buyToken: user.buyToken,
                receiver: user.receiver,
                sellAmount: user.sellAmount,
                buyAmount: user.buyAmount,
                validTo: u32::MAX,
                appData: user.appData,
                feeAmount: user.feeAmount,
                kind: OrderKind::SELL,
                partiallyFillable: user.partiallyFillable,
                sellTokenBalance: SellTokenSource::ERC20,
                buyTokenBalance: SellTokenSource::ERC20,
            },
            signature: OnchainSignature {
                scheme: OnchainSigningScheme::Eip1271,
                data: Bytes::copy_from_slice(ETH_FLOW_PRODUCTION.as_slice()),
            },
            data: Bytes::from(data),
        }
    }

    /// EIP-712 by hand: keccak of the type string, the 12 encoded fields, the domain, 0x1901.
    fn uid_by_hand(chain_id: u64, owner: Address, order: &GPv2OrderData) -> Vec<u8> {
        let type_hash = keccak256(
            "Order(address sellToken,address buyToken,address receiver,uint256 sellAmount,uint256 buyAmount,\
             uint32 validTo,bytes32 appData,uint256 feeAmount,string kind,bool partiallyFillable,\
             string sellTokenBalance,string buyTokenBalance)",
        );
        let struct_hash = keccak256(
            (
                type_hash,
                order.sellToken,
                order.buyToken,
                order.receiver,
                order.sellAmount,
                order.buyAmount,
                U256::from(order.validTo),
                order.appData,
                order.feeAmount,
                keccak256("sell"),
                order.partiallyFillable,
                keccak256("erc20"),
                keccak256("erc20"),
            )
                .abi_encode(),
        );
        let domain_type = keccak256(
            "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
        );
        let separator = keccak256(
            (
                domain_type,
                keccak256("Gnosis Protocol"),
                keccak256("v2"),
                U256::from(chain_id),
                GPV2_SETTLEMENT,
            )
                .abi_encode(),
        );
        let mut digest_input = vec![0x19, 0x01];
        digest_input.extend_from_slice(separator.as_slice());
        digest_input.extend_from_slice(struct_hash.as_slice());
        let mut uid = keccak256(&digest_input).to_vec();
        uid.extend_from_slice(owner.as_slice());
        uid.extend_from_slice(&order.validTo.to_be_bytes());
        uid
    }

    #[test]
    fn placement_becomes_the_emitted_order_owned_by_the_contract() {
        let user = user_order();
        let event = emitted(&user);
        let placement = placement_from_event(ETH_FLOW_PRODUCTION, &event).expect("valid event");
        let discrete = &placement.discrete;
        assert_eq!(discrete.owner, ETH_FLOW_PRODUCTION);
        assert_eq!(discrete.signature.to_bytes(), ETH_FLOW_PRODUCTION.to_vec());
        assert_eq!(discrete.order.sell_token, WETH_SEPOLIA);
        assert_eq!(discrete.order.valid_to, u32::MAX);
        assert_eq!(placement.user_valid_to, Some(1_795_727_400));

        let chain_id = 11_155_111;
        let uid = discrete.order.uid(
            &settlement_domain(chain_id, GPV2_SETTLEMENT),
            discrete.owner,
        );
        assert_eq!(
            uid.to_vec(),
            uid_by_hand(chain_id, ETH_FLOW_PRODUCTION, &event.order),
            "hand-made EIP-712"
        );

        // And the SDK's own projection of the user's order agrees.
        let sdk = EthFlowOrder {
            buy_token: user.buyToken,
            receiver: user.receiver,
            sell_amount: user.sellAmount,
            buy_amount: user.buyAmount,
            app_data: user.appData,
            fee_amount: user.feeAmount,
            valid_to: user.validTo,
            partially_fillable: user.partiallyFillable,
            quote_id: user.quoteId,
        }
        .try_into_order_data(WETH_SEPOLIA)
        .expect("receiver set");
        assert_eq!(sdk, discrete.order);
    }

    #[test]
    fn placement_decodes_from_a_raw_log() {
        let event = emitted(&user_order());
        let log = alloy::rpc::types::Log {
            inner: alloy::primitives::Log {
                address: ETH_FLOW_PRODUCTION,
                data: alloy::sol_types::SolEvent::encode_log_data(&event),
            },
            ..Default::default()
        };
        let decoded = log.log_decode::<CoWSwapOnchainOrders::OrderPlacement>();
        let decoded = decoded
            .expect("our sol! binding decodes its own encoding")
            .inner
            .data;
        let placement = placement_from_event(log.address(), &decoded).expect("valid event");
        assert_eq!(placement.discrete.order.buy_token, event.order.buyToken);
        assert_eq!(placement.discrete.order.buy_amount, event.order.buyAmount);
        // The createOrder selector from calldata-examples.json pins the binding we rely on.
        assert_eq!(
            alloy::hex::encode(
                <CoWSwapEthFlow::createOrderCall as alloy::sol_types::SolCall>::SELECTOR
            ),
            "322bba21"
        );
    }

    #[test]
    fn user_expiry_is_read_from_packed_data() {
        let mut packed = (-7i64).to_be_bytes().to_vec();
        packed.extend_from_slice(&123u32.to_be_bytes());
        // (data, expiry)
        let cases: [(&[u8], Option<u32>); 4] = [
            (&packed, Some(123)),
            (&[], None),
            (&packed[..11], None),
            (&[0u8; 13], None),
        ];
        for (data, expected) in cases {
            assert_eq!(user_valid_to(data), expected, "{data:?}");
        }
    }

    #[test]
    fn retries_stop_at_the_user_expiry_or_the_attempt_cap() {
        let placement = |user_valid_to, attempts| Placement {
            discrete: placement_from_event(ETH_FLOW_PRODUCTION, &emitted(&user_order()))
                .expect("valid")
                .discrete,
            user_valid_to,
            attempts,
            origin_block: 1,
        };
        let head = Head {
            number: 1,
            hash: B256::ZERO,
            timestamp: 1_000,
            received_at: Instant::now(),
            catch_up_to: None,
        };
        // (expiry, attempts so far, retry?)
        let cases = [
            (Some(1_000), 1, true),
            (Some(999), 1, false),
            (None, 1, true),
            (None, MAX_ATTEMPTS, false),
            (Some(u32::MAX), MAX_ATTEMPTS - 1, true),
        ];
        for (expiry, attempts, expected) in cases {
            assert_eq!(
                worth_retrying(&placement(expiry, attempts), &head),
                expected,
                "{expiry:?} {attempts}"
            );
        }
    }

    #[test]
    fn oversized_signatures_are_refused() {
        let mut event = emitted(&user_order());
        event.signature.data = Bytes::from(vec![0u8; 40 * 1024]);
        let err = placement_from_event(ETH_FLOW_PRODUCTION, &event).expect_err("too long");
        assert_eq!(err, PlacementError::Signature(40 * 1024));
    }
}
