//! TWAP owners must have code: with the default owner kind (EIP-7702 delegation
//! to the ExtensibleFallbackHandler) `getTradeableOrderWithSignature` returns an
//! order with a Safe-style signature; with revert-only code the forwarder form;
//! with a plain EOA it reverts.

use alloy::primitives::{Bytes, TxKind};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::sol_types::SolEvent;
use cowprotocol::composable::{ComposableCoW, GetTradeableOrderWithSignatureCall};
use runner::load::{self, BlockDelivery, OnBlock};
use runner::scenario::OwnerKind;
use runner::shutdown::Cancel;

use crate::common::*;

struct Ignore;
impl OnBlock for Ignore {
    async fn on_block(&mut self, _: &BlockDelivery) {}
}

/// Creates two TWAPs with `owner` kind and polls each; returns the poll results.
async fn poll_created_twaps(owner: OwnerKind) -> Vec<Result<Bytes, String>> {
    require_anvil();
    let dir = tempfile::tempdir().unwrap();
    let file = ScenarioBuilder::new("owners")
        .block_time(ms(100))
        .warmup_blocks(0)
        .drain_blocks(1)
        .blocks(1)
        .per_block(2, 0)
        .twap_owners(owner, 2)
        .engine_disabled()
        .bar("cowload_events_delivered_ratio == 1")
        .write(dir.path(), "owners.yaml");
    std::env::set_current_dir(project_root()).unwrap();
    let plan = runner::scenario::load(&file).unwrap();
    let anvil = runner::chain::find_anvil(None).unwrap();
    let mut chain = runner::chain::start(&plan, &anvil, dir.path())
        .await
        .unwrap();
    let delivery = load::run(&plan, &mut chain, &mut Ignore, &Cancel::new())
        .await
        .unwrap();
    assert_eq!(delivery.delivered()[cowload_spec::EventKind::Twap], 2);
    let filter = Filter::new()
        .from_block(0)
        .address(chain.contracts.composable_cow)
        .event_signature(ComposableCoW::ConditionalOrderCreated::SIGNATURE_HASH);
    let logs = chain.provider.get_logs(&filter).await.unwrap();
    assert_eq!(logs.len(), 2);
    let mut results = Vec::new();
    for log in logs {
        let created = ComposableCoW::ConditionalOrderCreated::decode_log(&log.inner).unwrap();
        let call = GetTradeableOrderWithSignatureCall {
            owner: created.owner,
            params: created.params.clone(),
            offchain_input: Bytes::new(),
            proof: vec![],
        };
        let request = TransactionRequest {
            to: Some(TxKind::Call(chain.contracts.composable_cow)),
            input: Bytes::from(call.abi_encode()).into(),
            ..Default::default()
        };
        results.push(
            chain
                .provider
                .call(request)
                .await
                .map_err(|e| e.to_string()),
        );
    }
    chain.stop();
    results
}

/// Polls with the shared lock held (no other Anvil run at the same time).
fn poll(owner: OwnerKind) -> Vec<Result<Bytes, String>> {
    let _machine = shared();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(poll_created_twaps(owner))
}

#[test]
fn default_owner_kind_makes_twaps_tradeable_with_a_safe_signature() {
    for result in poll(OwnerKind::Eip7702) {
        let returned = result.expect("a delegated owner's TWAP is tradeable");
        let tradeable = GetTradeableOrderWithSignatureCall::abi_decode_returns(&returned).unwrap();
        // safeSignature(bytes32,bytes32,bytes,bytes): the ExtensibleFallbackHandler form.
        assert_eq!(&tradeable.signature[..4], &[0x5f, 0xd7, 0xe9, 0x7d]);
        assert!(tradeable.order.sellAmount > alloy::primitives::U256::ZERO);
    }
}

#[test]
fn revert_code_owners_get_the_forwarder_signature() {
    for result in poll(OwnerKind::RevertCode) {
        let returned = result.expect("a revert-code owner's TWAP is tradeable");
        let tradeable = GetTradeableOrderWithSignatureCall::abi_decode_returns(&returned).unwrap();
        assert_ne!(&tradeable.signature[..4], &[0x5f, 0xd7, 0xe9, 0x7d]);
    }
}

#[test]
fn eoa_owners_make_every_poll_revert() {
    for result in poll(OwnerKind::Eoa) {
        let error = result.expect_err("an EOA owner's poll reverts");
        assert!(error.contains("revert"), "{error}");
    }
}
