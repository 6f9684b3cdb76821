//! Replaying the real CoW contracts onto a fresh Anvil from
//! `replay.<chainId>.json`, then proving each contract landed by its runtime
//! code hash.
//!
//! The fixture is compiled into the binary (`runner/fixtures/cow-contracts/`,
//! see its PROVENANCE.md), so an installed runner works from any directory; a
//! directory holding the same file names overrides it (`chain.fixtures`,
//! `$COW_FIXTURES`).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::providers::{Provider, RootProvider};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{rpc, rpc_error, ChainError};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Replay {
    chain_id: u64,
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Step {
    name: String,
    address: Address,
    method: String,
    #[serde(default)]
    tx: Option<StepTx>,
    expected_runtime_code_keccak: B256,
    expected_runtime_code_bytes: usize,
}

#[derive(Debug, Deserialize)]
struct StepTx {
    #[serde(default)]
    from: Option<Address>,
    #[serde(default)]
    to: Option<Address>,
    #[serde(default)]
    nonce: Option<String>,
    data: Bytes,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Weth9 {
    runtime_code: Bytes,
    storage: serde_json::Map<String, Value>,
}

/// The files of the embedded fixture, by name.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "replay.11155111.json",
        include_str!("../../fixtures/cow-contracts/replay.11155111.json"),
    ),
    (
        "replay.1.json",
        include_str!("../../fixtures/cow-contracts/replay.1.json"),
    ),
    (
        "weth9.json",
        include_str!("../../fixtures/cow-contracts/weth9.json"),
    ),
];

/// Where the fixture's files are read from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// The copy compiled into the runner.
    Embedded,
    /// A directory named by the scenario or `$COW_FIXTURES`.
    Dir(&'a Path),
}

impl Source<'_> {
    /// The path shown in errors: the file in the directory, or `<embedded>/file`.
    fn shown(&self, file: &str) -> PathBuf {
        match self {
            Source::Embedded => Path::new("<embedded cow-contracts fixture>").join(file),
            Source::Dir(dir) => dir.join(file),
        }
    }

    fn read(&self, file: &str) -> Result<Cow<'static, str>, ChainError> {
        let missing = |reason: String| ChainError::FixtureMissing {
            path: self.shown(file),
            reason,
        };
        match self {
            Source::Embedded => EMBEDDED
                .iter()
                .find(|(name, _)| *name == file)
                .map(|(_, text)| Cow::Borrowed(*text))
                .ok_or_else(|| {
                    missing("the embedded fixture covers chain ids 1 and 11155111 only".to_owned())
                }),
            Source::Dir(dir) => std::fs::read_to_string(dir.join(file))
                .map(Cow::Owned)
                .map_err(|e| missing(e.to_string())),
        }
    }

    fn json<T: serde::de::DeserializeOwned>(&self, file: &str) -> Result<T, ChainError> {
        let text = self.read(file)?;
        serde_json::from_str(&text).map_err(|e| fixture_error(&self.shown(file), e.to_string()))
    }
}

/// One contract placed by the replay and verified on chain.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub name: String,
    pub address: Address,
    pub code_hash: B256,
}

/// Replays every step of the fixture for `chain_id` and verifies code hashes.
/// Mines one block after each transaction step so constructor order holds.
pub async fn replay(
    provider: &RootProvider,
    source: Source<'_>,
    chain_id: u64,
    mine: &mut impl FnMut() -> u64,
) -> Result<Vec<Deployed>, ChainError> {
    let replay_file = format!("replay.{chain_id}.json");
    let replay_path = source.shown(&replay_file);
    let replay: Replay = source.json(&replay_file)?;
    if replay.chain_id != chain_id {
        return Err(fixture_error(
            &replay_path,
            format!("holds chain id {}, expected {chain_id}", replay.chain_id),
        ));
    }
    let funder = first_account(provider).await?;
    for step in &replay.steps {
        apply(provider, source, step, funder, mine).await?;
    }
    let mut deployed = Vec::with_capacity(replay.steps.len());
    for step in &replay.steps {
        deployed.push(verify(provider, &replay_path, step).await?);
    }
    Ok(deployed)
}

async fn apply(
    provider: &RootProvider,
    source: Source<'_>,
    step: &Step,
    funder: Address,
    mine: &mut impl FnMut() -> u64,
) -> Result<(), ChainError> {
    match step.method.as_str() {
        m if m.starts_with("anvil_setCode") => set_weth(provider, source, step.address).await,
        m if m.starts_with("created by") => Ok(()),
        m if m.starts_with("eth_sendTransaction") => {
            let tx = step_tx(source, step)?;
            send_and_mine(
                provider,
                json!({"from": funder, "to": tx.to, "data": tx.data, "gas": "0x1c9c380"}),
                mine,
            )
            .await
        }
        m if m.starts_with("anvil_impersonateAccount") => {
            let tx = step_tx(source, step)?;
            let from = tx
                .from
                .ok_or_else(|| step_error(source, step, "has no tx.from"))?;
            let nonce = tx.nonce.clone().unwrap_or_else(|| "0x0".to_owned());
            rpc::<Value>(provider, "anvil_impersonateAccount", json!([from])).await?;
            rpc::<Value>(
                provider,
                "anvil_setBalance",
                json!([from, U256::from(10u128.pow(21))]),
            )
            .await?;
            rpc::<Value>(provider, "anvil_setNonce", json!([from, nonce])).await?;
            send_and_mine(
                provider,
                json!({"from": from, "data": tx.data, "gas": "0x1c9c380"}),
                mine,
            )
            .await?;
            rpc::<Value>(provider, "anvil_stopImpersonatingAccount", json!([from])).await?;
            Ok(())
        }
        other => Err(step_error(
            source,
            step,
            &format!("has unknown method {other:?}"),
        )),
    }
}

fn step_tx<'a>(source: Source<'_>, step: &'a Step) -> Result<&'a StepTx, ChainError> {
    step.tx
        .as_ref()
        .ok_or_else(|| step_error(source, step, "has no tx"))
}

fn step_error(source: Source<'_>, step: &Step, what: &str) -> ChainError {
    fixture_error(
        &source.shown("replay.<chainId>.json"),
        format!("step {} {what}", step.name),
    )
}

async fn set_weth(
    provider: &RootProvider,
    source: Source<'_>,
    address: Address,
) -> Result<(), ChainError> {
    let weth: Weth9 = source.json("weth9.json")?;
    rpc::<Value>(
        provider,
        "anvil_setCode",
        json!([address, weth.runtime_code]),
    )
    .await?;
    for (slot, value) in &weth.storage {
        let slot = slot_word(slot).ok_or_else(|| {
            fixture_error(
                &source.shown("weth9.json"),
                format!("bad storage slot {slot:?}"),
            )
        })?;
        rpc::<Value>(
            provider,
            "anvil_setStorageAt",
            json!([address, slot, value]),
        )
        .await?;
    }
    Ok(())
}

/// Storage slots are written either as hex words or as decimal indices.
fn slot_word(slot: &str) -> Option<B256> {
    let index = match slot.strip_prefix("0x") {
        Some(hex) => U256::from_str_radix(hex, 16).ok()?,
        None => U256::from_str_radix(slot, 10).ok()?,
    };
    Some(B256::from(index))
}

async fn send_and_mine(
    provider: &RootProvider,
    tx: Value,
    mine: &mut impl FnMut() -> u64,
) -> Result<(), ChainError> {
    let hash: B256 = rpc(provider, "eth_sendTransaction", json!([tx])).await?;
    let timestamp = mine();
    rpc::<Value>(provider, "evm_mine", json!([timestamp])).await?;
    let receipt = provider
        .get_transaction_receipt(hash)
        .await
        .map_err(|e| rpc_error("eth_getTransactionReceipt", e))?
        .ok_or_else(|| {
            ChainError::Unexpected(format!("replay transaction {hash} was not mined"))
        })?;
    if !receipt.status() {
        return Err(ChainError::Unexpected(format!(
            "replay transaction {hash} reverted"
        )));
    }
    Ok(())
}

async fn verify(
    provider: &RootProvider,
    replay_path: &Path,
    step: &Step,
) -> Result<Deployed, ChainError> {
    let code = provider
        .get_code_at(step.address)
        .await
        .map_err(|e| rpc_error("eth_getCode", e))?;
    let code_hash = keccak256(&code);
    if code_hash != step.expected_runtime_code_keccak
        || code.len() != step.expected_runtime_code_bytes
    {
        return Err(ChainError::CodeMismatch {
            fixture: replay_path.to_owned(),
            name: step.name.clone(),
            address: step.address,
            detail: format!(
                "runtime code keccak {code_hash} ({} bytes), expected {} ({} bytes)",
                code.len(),
                step.expected_runtime_code_keccak,
                step.expected_runtime_code_bytes
            ),
        });
    }
    Ok(Deployed {
        name: step.name.clone(),
        address: step.address,
        code_hash,
    })
}

async fn first_account(provider: &RootProvider) -> Result<Address, ChainError> {
    let accounts: Vec<Address> = rpc(provider, "eth_accounts", json!([])).await?;
    accounts
        .first()
        .copied()
        .ok_or_else(|| ChainError::Unexpected("anvil has no unlocked dev account".into()))
}

fn fixture_error(path: &Path, reason: String) -> ChainError {
    ChainError::FixtureInvalid {
        path: PathBuf::from(path),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_parse_as_hex_or_decimal() {
        assert_eq!(slot_word("2"), Some(B256::from(U256::from(2))));
        assert_eq!(slot_word("0x02"), Some(B256::from(U256::from(2))));
        assert_eq!(slot_word("zz"), None);
    }

    #[test]
    fn the_embedded_fixture_parses_for_both_chain_ids() {
        for chain_id in [1u64, 11155111] {
            let replay: Replay = Source::Embedded
                .json(&format!("replay.{chain_id}.json"))
                .unwrap();
            assert_eq!(replay.chain_id, chain_id);
            assert!(replay.steps.iter().any(|s| s.name == "ComposableCoW"));
        }
        let weth: Weth9 = Source::Embedded.json("weth9.json").unwrap();
        assert!(!weth.runtime_code.is_empty());
    }

    #[test]
    fn an_uncovered_chain_id_names_the_embedded_limit() {
        let error = Source::Embedded.read("replay.100.json").unwrap_err();
        assert!(
            error.to_string().contains("chain ids 1 and 11155111"),
            "{error}"
        );
    }
}
