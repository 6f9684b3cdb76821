//! Fork mode: Anvil forking an RPC URL (through the loopback relay, so the URL
//! stays with the runner), pinned to a block, with the chain id taken from the
//! fork and the contracts the load and the engine need checked for code.

use std::path::Path;
use std::time::{Duration, Instant};

use alloy::primitives::{keccak256, Address};
use alloy::providers::Provider;

use super::upstream::{BlockInfo, Upstream};
use super::{anvil, relay, rpc_error, Chain, ChainError, Deployed, Origin};
use crate::scenario::Plan;

/// Pre-flight requests (chain id, block) must answer within this: a wrong or
/// unreachable URL fails here, before Anvil starts, instead of hanging.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(15);
/// Requests Anvil makes through the relay while the run goes on.
const RELAY_TIMEOUT: Duration = Duration::from_secs(45);

/// The contracts a scenario needs, by the names the rest of the runner uses,
/// at their canonical addresses on `chain_id` (from the `cowprotocol` crate).
pub fn required_contracts(chain_id: u64) -> Result<Vec<(&'static str, Address)>, ChainError> {
    use cowprotocol::chain::Chain as CowChain;
    let chain = CowChain::try_from(chain_id).map_err(|_| ChainError::UnknownDeployment {
        chain_id,
        reason: "the cowprotocol crate knows no CoW Protocol deployment on it".into(),
    })?;
    let suite = |name, address: Option<Address>| {
        address.ok_or_else(|| ChainError::UnknownDeployment {
            chain_id,
            reason: format!("{name} is not deployed on it"),
        })
    };
    Ok(vec![
        (
            "ComposableCoW",
            suite("ComposableCoW", chain.composable_cow_address())?,
        ),
        ("TWAP", suite("TWAP", chain.twap_handler_address())?),
        (
            "ExtensibleFallbackHandler",
            suite(
                "ExtensibleFallbackHandler",
                chain.extensible_fallback_handler_address(),
            )?,
        ),
        ("CoWSwapEthFlow", chain.eth_flow_address()),
        ("WETH9", chain.wrapped_native_token()),
        ("GPv2Settlement", chain.settlement()),
    ])
}

/// Checks the fork, starts the relay and Anvil, and checks the contracts.
pub async fn start(
    plan: &Plan,
    fork: &crate::scenario::ForkSpec,
    anvil_binary: &Path,
    run_dir: &Path,
) -> Result<Chain, ChainError> {
    let started = Instant::now();
    let spec = &plan.scenario.chain;
    let preflight = Upstream::new(&fork.url, PREFLIGHT_TIMEOUT)?;
    let chain_id = preflight.chain_id().await?;
    if let Some(written) = plan
        .chain_id_written
        .then_some(spec.id)
        .filter(|written| *written != chain_id)
    {
        return Err(ChainError::ChainIdMismatch {
            written,
            found: chain_id,
            source_name: format!("the fork {}", preflight.shown),
        });
    }
    let required = required_contracts(chain_id)?;
    let block = preflight.block(fork.block).await?;
    let relay = relay::start(Upstream::new(&fork.url, RELAY_TIMEOUT)?).await?;
    let args = anvil::AnvilArgs {
        chain_id: None,
        gas_limit: spec.gas_limit,
        genesis_timestamp: None,
        fork: Some((relay.url.clone(), block.number)),
    };
    let spawned = anvil::spawn(anvil_binary, &args, &run_dir.join("anvil.log")).await?;
    let answered = spawned
        .provider
        .get_chain_id()
        .await
        .map_err(|e| rpc_error("eth_chainId", e))?;
    if answered != chain_id {
        return Err(ChainError::Unexpected(format!(
            "the forked anvil answers chain id {answered}, the fork said {chain_id}"
        )));
    }
    let deployed = check_code(&spawned.provider, &required, chain_id, &block).await?;
    let interval = spec.block_time.0.as_secs().max(1);
    let origin = Origin::Fork {
        url: preflight.shown.clone(),
        block: block.number,
        block_timestamp: block.timestamp,
    };
    Chain::assemble(
        spawned,
        Some(relay),
        chain_id,
        deployed,
        origin,
        started.elapsed(),
        interval,
        block.timestamp + interval,
    )
    .await
}

/// Every required contract must have code at the fork block; all missing ones
/// are named in one error.
async fn check_code(
    provider: &alloy::providers::RootProvider,
    required: &[(&'static str, Address)],
    chain_id: u64,
    block: &BlockInfo,
) -> Result<Vec<Deployed>, ChainError> {
    let mut deployed = Vec::with_capacity(required.len());
    let mut missing = Vec::new();
    for &(name, address) in required {
        let code = provider
            .get_code_at(address)
            .await
            .map_err(|e| rpc_error("eth_getCode", e))?;
        if code.is_empty() {
            missing.push(format!("{name} at {address}"));
        } else {
            deployed.push(Deployed {
                name: name.to_owned(),
                address,
                code_hash: keccak256(&code),
            });
        }
    }
    if missing.is_empty() {
        Ok(deployed)
    } else {
        Err(ChainError::ContractsMissing {
            chain_id,
            block: block.number,
            missing: missing.join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_contracts_are_canonical_per_chain() {
        let sepolia = required_contracts(11_155_111).unwrap();
        let mainnet = required_contracts(1).unwrap();
        let names: Vec<_> = sepolia.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "ComposableCoW",
                "TWAP",
                "ExtensibleFallbackHandler",
                "CoWSwapEthFlow",
                "WETH9",
                "GPv2Settlement"
            ]
        );
        // WETH differs per chain; the CREATE2 suite does not.
        assert_ne!(sepolia[4].1, mainnet[4].1);
        assert_eq!(sepolia[0].1, mainnet[0].1);
        assert_eq!(sepolia[0].1, cowprotocol::COMPOSABLE_COW);
        assert!(matches!(
            required_contracts(31_337),
            Err(ChainError::UnknownDeployment {
                chain_id: 31_337,
                ..
            })
        ));
    }
}
