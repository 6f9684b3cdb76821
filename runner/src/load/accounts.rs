//! Seeded sender accounts: TWAP owners (with the scenario's kind of code) and
//! EthFlow senders, funded through Anvil and tracked with explicit nonces.

use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::signers::local::PrivateKeySigner;
use serde_json::{json, Value};

use cowload_spec::{EventKind, PerKind};

use crate::chain::{rpc, rpc_error, ChainError, Contracts};
use crate::scenario::OwnerKind;

/// EIP-7702 delegation designator prefix: code `0xef0100 ‖ address` makes an
/// account run `address`'s code in its own context.
const DELEGATION_PREFIX: [u8; 3] = [0xef, 0x01, 0x00];
/// `PUSH1 0 PUSH1 0 REVERT`: code that reverts on every call.
const REVERT_CODE: [u8; 5] = [0x60, 0x00, 0x60, 0x00, 0xfd];
/// Balance given to every sender: far more than any scenario spends.
const FUNDING_WEI: u128 = 1_000_000 * 10u128.pow(18);

/// A key the runner signs with, and the next nonce it will use.
pub struct Account {
    pub signer: PrivateKeySigner,
    pub address: Address,
    pub nonce: u64,
}

/// The senders of each kind's transactions: TWAP owners, EthFlow senders.
pub type Accounts = PerKind<Vec<Account>>;

/// The population's part of the key derivation: each kind has its own accounts.
fn tag(kind: EventKind) -> &'static [u8] {
    match kind {
        EventKind::Twap => b"cowload/twap-owner",
        EventKind::EthFlow => b"cowload/ethflow-sender",
    }
}

/// `count` accounts of `kind` derived from the seed: the same seed gives the same keys.
pub fn derive(kind: EventKind, seed: u64, count: u32) -> Vec<Account> {
    (0..count)
        .map(|index| {
            let mut material = tag(kind).to_vec();
            material.extend_from_slice(&seed.to_be_bytes());
            material.extend_from_slice(&index.to_be_bytes());
            let key = derive_key(keccak256(&material));
            let signer = PrivateKeySigner::from_bytes(&key).expect("derived key is a valid scalar");
            Account {
                address: signer.address(),
                signer,
                nonce: 0,
            }
        })
        .collect()
}

/// Re-hashes in the (astronomically unlikely) case a hash is not a valid key.
fn derive_key(mut key: B256) -> B256 {
    while PrivateKeySigner::from_bytes(&key).is_err() {
        key = keccak256(key);
    }
    key
}

/// Funds every account, takes its nonce from the chain, and gives TWAP owners
/// the code their kind needs.
pub async fn prepare(
    provider: &RootProvider,
    contracts: &Contracts,
    accounts: &mut Accounts,
    owner_kind: OwnerKind,
) -> Result<(), ChainError> {
    for account in accounts.values_mut().flatten() {
        rpc::<Value>(
            provider,
            "anvil_setBalance",
            json!([account.address, U256::from(FUNDING_WEI)]),
        )
        .await?;
        // On a fork these public, seed-derived keys may already have history.
        account.nonce = provider
            .get_transaction_count(account.address)
            .await
            .map_err(|e| rpc_error("eth_getTransactionCount", e))?;
    }
    if let Some(code) = owner_code(owner_kind, contracts.fallback_handler) {
        for owner in &accounts[EventKind::Twap] {
            rpc::<Value>(provider, "anvil_setCode", json!([owner.address, code])).await?;
        }
    }
    Ok(())
}

/// The code a TWAP owner of `kind` carries, if any.
pub fn owner_code(kind: OwnerKind, fallback_handler: Address) -> Option<Bytes> {
    match kind {
        OwnerKind::Eip7702 => {
            let mut code = DELEGATION_PREFIX.to_vec();
            code.extend_from_slice(fallback_handler.as_slice());
            Some(code.into())
        }
        OwnerKind::RevertCode => Some(Bytes::from_static(&REVERT_CODE)),
        OwnerKind::Eoa => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_seeded_and_distinct() {
        let a = derive(EventKind::Twap, 7, 3);
        let b = derive(EventKind::Twap, 7, 3);
        let c = derive(EventKind::Twap, 8, 3);
        let d = derive(EventKind::EthFlow, 7, 3);
        let addrs = |v: &[Account]| v.iter().map(|a| a.address).collect::<Vec<_>>();
        assert_eq!(addrs(&a), addrs(&b));
        assert_ne!(addrs(&a), addrs(&c));
        assert_ne!(addrs(&a), addrs(&d));
        let mut unique = addrs(&a);
        unique.dedup();
        assert_eq!(unique.len(), 3);
    }

    #[test]
    fn eip7702_code_is_a_delegation_designator() {
        let handler = Address::repeat_byte(0x2f);
        let code = owner_code(OwnerKind::Eip7702, handler).unwrap();
        assert_eq!(code.len(), 23);
        assert_eq!(&code[..3], &DELEGATION_PREFIX);
        assert_eq!(&code[3..], handler.as_slice());
        assert!(owner_code(OwnerKind::Eoa, handler).is_none());
    }
}
