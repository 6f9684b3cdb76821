//! Proving delivery: one `eth_getLogs` by block hash, matched to the sent
//! transactions; receipts and a replayed `eth_call` only for the few that have
//! no event, to say why.

use std::collections::{HashMap, HashSet};

use alloy::consensus::{Transaction, TxEnvelope};
use alloy::eips::eip2718::Decodable2718;
use alloy::primitives::{Address, Bytes, B256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::sol_types::{SolError, SolEvent, SolInterface};
use cowload_spec::EventKind;
use cowprotocol::composable::ComposableCoW;
use cowprotocol::contracts::{CoWSwapEthFlow, CoWSwapOnchainOrders};

use super::calldata::SignedLoadTx;
use super::{raw_of, DeliveredEvent, LoadError, TxFailure};
use crate::chain::{rpc_error, Chain, ChainError, MinedBlock};

/// What one block proved.
pub struct Checked {
    pub events: Vec<DeliveredEvent>,
    pub failures: Vec<TxFailure>,
    /// Some transactions were not included and still sit in the pool.
    pub left_in_pool: bool,
}

/// Matches the block's logs to `txs`; every transaction without its event becomes a failure.
pub async fn block(
    chain: &Chain,
    block: &MinedBlock,
    txs: &[SignedLoadTx],
    rejected: Vec<(B256, String)>,
) -> Result<Checked, LoadError> {
    let mut checked = Checked {
        events: Vec::with_capacity(txs.len()),
        failures: Vec::new(),
        left_in_pool: false,
    };
    if txs.is_empty() {
        return Ok(checked);
    }
    let emitted = emitted_events(chain, block).await?;
    let rejected: HashMap<B256, String> = rejected.into_iter().collect();
    let mut diagnosed = 0;
    let mut included: Option<HashSet<B256>> = None;
    for tx in txs {
        if let Some(&(_, log_index)) = emitted.get(&tx.hash).filter(|(kind, _)| *kind == tx.kind) {
            checked.events.push(DeliveredEvent {
                kind: tx.kind,
                tx: tx.hash,
                log_index,
                order: tx.order.clone(),
                exact: tx.exact.clone(),
                twap: tx.twap,
            });
            continue;
        }
        let reason = match rejected.get(&tx.hash) {
            Some(answer) => format!("refused by the pool: {answer}"),
            None if diagnosed < MAX_DIAGNOSED => {
                diagnosed += 1;
                why_no_event(chain, block, txs, tx).await?
            }
            None => {
                // Past the first few, only inclusion is checked: one call for the whole block.
                if included.is_none() {
                    included = Some(block_transactions(chain, block).await?);
                }
                if included.as_ref().is_some_and(|set| set.contains(&tx.hash)) {
                    format!("reverted or emitted no event (not diagnosed: more than {MAX_DIAGNOSED} in this block)")
                } else {
                    not_included(block)
                }
            }
        };
        checked.left_in_pool |= reason.starts_with("not included");
        checked.failures.push(TxFailure {
            kind: tx.kind.label(),
            tx: tx.hash,
            sender: tx.sender,
            nonce: tx.nonce,
            reason,
        });
    }
    // A refused transaction leaves a nonce gap that strands its sender's later ones.
    checked.left_in_pool |= !rejected.is_empty();
    Ok(checked)
}

/// Transactions without their event that get a receipt and a replayed call each;
/// per-receipt calls are slow in Anvil, so the rest of a bad block is only counted.
const MAX_DIAGNOSED: usize = 20;

/// Hashes of the transactions the block holds.
async fn block_transactions(chain: &Chain, block: &MinedBlock) -> Result<HashSet<B256>, LoadError> {
    let full = chain
        .provider
        .get_block_by_hash(block.hash)
        .await
        .map_err(|e| rpc_error("eth_getBlockByHash", e))?
        .ok_or_else(|| ChainError::Unexpected(format!("block {} vanished", block.hash)))?;
    Ok(full.transactions.hashes().collect())
}

fn not_included(block: &MinedBlock) -> String {
    format!(
        "not included in block {} (block gas limit or pool ordering)",
        block.number
    )
}

/// Transaction hash → kind and log index of the load event it emitted in this block.
async fn emitted_events(
    chain: &Chain,
    block: &MinedBlock,
) -> Result<HashMap<B256, (EventKind, u64)>, LoadError> {
    let filter = Filter::new()
        .at_block_hash(block.hash)
        .address(vec![
            chain.contracts.composable_cow,
            chain.contracts.eth_flow,
        ])
        .event_signature(vec![
            ComposableCoW::ConditionalOrderCreated::SIGNATURE_HASH,
            CoWSwapOnchainOrders::OrderPlacement::SIGNATURE_HASH,
        ]);
    let logs = chain
        .provider
        .get_logs(&filter)
        .await
        .map_err(|e| rpc_error("eth_getLogs", e))?;
    let mut emitted = HashMap::with_capacity(logs.len());
    for log in logs {
        let (Some(tx), Some(topic)) = (log.transaction_hash, log.topic0()) else {
            continue;
        };
        let kind = if *topic == ComposableCoW::ConditionalOrderCreated::SIGNATURE_HASH
            && log.address() == chain.contracts.composable_cow
        {
            EventKind::Twap
        } else if *topic == CoWSwapOnchainOrders::OrderPlacement::SIGNATURE_HASH
            && log.address() == chain.contracts.eth_flow
        {
            EventKind::EthFlow
        } else {
            continue;
        };
        emitted.insert(tx, (kind, log.log_index.unwrap_or_default()));
    }
    Ok(emitted)
}

/// Says why `tx` has no event: not included, or reverted (with the decoded reason).
async fn why_no_event(
    chain: &Chain,
    block: &MinedBlock,
    txs: &[SignedLoadTx],
    tx: &SignedLoadTx,
) -> Result<String, LoadError> {
    let receipt = chain
        .provider
        .get_transaction_receipt(tx.hash)
        .await
        .map_err(|e| rpc_error("eth_getTransactionReceipt", e))?;
    let Some(receipt) = receipt else {
        return Ok(not_included(block));
    };
    if receipt.status() {
        return Ok(format!(
            "succeeded in block {:?} but emitted no {} event",
            receipt.block_number,
            tx.kind.label()
        ));
    }
    let reason = match raw_of(txs, tx.hash) {
        Some(raw) => revert_reason(chain, tx.sender, raw, block.number).await,
        None => "unknown".to_owned(),
    };
    Ok(format!(
        "reverted (gas used {}): {reason}",
        receipt.gas_used
    ))
}

/// Replays the transaction with `eth_call` at its block and decodes the revert data.
async fn revert_reason(chain: &Chain, from: Address, raw: &Bytes, block_number: u64) -> String {
    let Ok(envelope) = TxEnvelope::decode_2718(&mut raw.as_ref()) else {
        return "cannot decode the transaction".to_owned();
    };
    let request = TransactionRequest::default()
        .from(from)
        .to(envelope.to().unwrap_or_default())
        .value(envelope.value())
        .input(envelope.input().clone().into())
        .gas_limit(envelope.gas_limit());
    match chain.provider.call(request).block(block_number.saturating_sub(1).into()).await {
        Ok(_) => "the replay succeeds at the parent block (the block's own order made it fail, e.g. a duplicate)".to_owned(),
        Err(e) => match e.as_error_resp().and_then(|r| r.as_revert_data()) {
            Some(data) => decode_revert(&data),
            None => e.to_string(),
        },
    }
}

/// Names a revert by the EthFlow errors we know, `Error(string)`, or its selector.
pub fn decode_revert(data: &[u8]) -> String {
    if let Ok(error) = CoWSwapEthFlow::CoWSwapEthFlowErrors::abi_decode(data) {
        return format!("{error:?}");
    }
    if let Ok(message) = alloy::sol_types::Revert::abi_decode(data) {
        return format!("Error({:?})", message.reason);
    }
    match data.get(..4) {
        Some(selector) => format!(
            "revert 0x{} ({} bytes)",
            alloy::primitives::hex::encode(selector),
            data.len()
        ),
        None if data.is_empty() => "revert without data".to_owned(),
        None => format!("revert 0x{}", alloy::primitives::hex::encode(data)),
    }
}

/// The account's nonce in the latest block.
pub async fn nonce(chain: &Chain, address: Address) -> Result<u64, LoadError> {
    Ok(chain
        .provider
        .get_transaction_count(address)
        .await
        .map_err(|e| rpc_error("eth_getTransactionCount", e))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverts_are_named() {
        let data = CoWSwapEthFlow::OrderIsAlreadyOwned {
            orderHash: B256::repeat_byte(1),
        }
        .abi_encode();
        assert!(
            decode_revert(&data).contains("OrderIsAlreadyOwned"),
            "{}",
            decode_revert(&data)
        );
        assert_eq!(decode_revert(&[]), "revert without data");
        assert!(decode_revert(&[0xde, 0xad, 0xbe, 0xef]).starts_with("revert 0xdeadbeef"));
    }
}
