//! Recorded chain fixtures (`runner fixture record`, `chain.fixture: FILE`):
//! the code and storage of the contracts a scenario needs, read from a fork at
//! one block. Loading one into a fresh Anvil replaces replaying deployments;
//! every contract's code is checked against the hash recorded with it, both in
//! the file and on chain after loading.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alloy::primitives::{keccak256, Address, Bytes, B256};
use alloy::providers::{Provider, RootProvider};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{rpc, rpc_error, ChainError, Deployed};

/// The `format` field of every fixture this runner writes and reads.
pub const FORMAT: &str = "cowload-chain-fixture/1";

/// A recorded chain fixture, as written to disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordedFixture {
    pub format: String,
    pub chain_id: u64,
    /// The fork block the state was read at.
    pub block: RecordedBlock,
    /// The RPC URL recorded from, redacted.
    pub recorded_from: String,
    pub recorded_by: String,
    pub contracts: Vec<RecordedContract>,
}

/// The block a fixture was read at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordedBlock {
    pub number: u64,
    pub timestamp: u64,
    pub hash: B256,
}

/// One contract: its runtime code, the code's keccak, and the storage slots
/// the recording's exercise read, with their values at the fork block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordedContract {
    pub name: String,
    pub address: Address,
    pub code_hash: B256,
    pub code: Bytes,
    #[serde(default)]
    pub storage: BTreeMap<B256, B256>,
}

/// Reads and checks a fixture file: the format, the names the runner needs,
/// and that each contract's code matches its recorded hash.
pub fn read(path: &Path) -> Result<RecordedFixture, ChainError> {
    let text = std::fs::read_to_string(path).map_err(|e| ChainError::FixtureMissing {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let invalid = |reason: String| ChainError::FixtureInvalid {
        path: PathBuf::from(path),
        reason,
    };
    let fixture: RecordedFixture =
        serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if fixture.format != FORMAT {
        return Err(invalid(format!(
            "format is {:?}, this runner reads {FORMAT:?}; record it again with `runner fixture record`",
            fixture.format
        )));
    }
    for contract in &fixture.contracts {
        let hash = keccak256(&contract.code);
        if hash != contract.code_hash {
            return Err(ChainError::CodeMismatch {
                fixture: path.to_owned(),
                name: contract.name.clone(),
                address: contract.address,
                detail: format!(
                    "its code in the file hashes to {hash}, the file records {}; the fixture was edited or damaged, record it again",
                    contract.code_hash
                ),
            });
        }
    }
    Ok(fixture)
}

/// Places every contract's code and storage on `provider` and verifies the code
/// hashes on chain.
pub async fn load(
    provider: &RootProvider,
    path: &Path,
    fixture: &RecordedFixture,
) -> Result<Vec<Deployed>, ChainError> {
    for contract in &fixture.contracts {
        rpc::<Value>(
            provider,
            "anvil_setCode",
            json!([contract.address, contract.code]),
        )
        .await?;
        for (slot, value) in &contract.storage {
            rpc::<Value>(
                provider,
                "anvil_setStorageAt",
                json!([contract.address, slot, value]),
            )
            .await?;
        }
    }
    let mut deployed = Vec::with_capacity(fixture.contracts.len());
    for contract in &fixture.contracts {
        let code = provider
            .get_code_at(contract.address)
            .await
            .map_err(|e| rpc_error("eth_getCode", e))?;
        let code_hash = keccak256(&code);
        if code_hash != contract.code_hash {
            return Err(ChainError::CodeMismatch {
                fixture: path.to_owned(),
                name: contract.name.clone(),
                address: contract.address,
                detail: format!(
                    "the chain holds code hashing to {code_hash}, the fixture records {}",
                    contract.code_hash
                ),
            });
        }
        deployed.push(Deployed {
            name: contract.name.clone(),
            address: contract.address,
            code_hash,
        });
    }
    Ok(deployed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_with(code: &[u8], code_hash: B256) -> RecordedFixture {
        RecordedFixture {
            format: FORMAT.to_owned(),
            chain_id: 11_155_111,
            block: RecordedBlock {
                number: 7,
                timestamp: 1_800_000_007,
                hash: B256::repeat_byte(1),
            },
            recorded_from: "http://127.0.0.1:1/…".to_owned(),
            recorded_by: "test".to_owned(),
            contracts: vec![RecordedContract {
                name: "WETH9".to_owned(),
                address: Address::repeat_byte(2),
                code_hash,
                code: Bytes::copy_from_slice(code),
                storage: BTreeMap::from([(B256::ZERO, B256::repeat_byte(3))]),
            }],
        }
    }

    #[test]
    fn a_fixture_round_trips_and_a_wrong_hash_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let code = [0x60, 0x00, 0x60, 0x00, 0xfd];
        let good = fixture_with(&code, keccak256(code));
        let path = dir.path().join("good.json");
        std::fs::write(&path, serde_json::to_string_pretty(&good).unwrap()).unwrap();
        assert_eq!(read(&path).unwrap(), good);

        let bad = fixture_with(&code, B256::repeat_byte(9));
        let path = dir.path().join("bad.json");
        std::fs::write(&path, serde_json::to_string(&bad).unwrap()).unwrap();
        let err = read(&path).unwrap_err();
        assert!(
            matches!(err, ChainError::CodeMismatch { ref name, .. } if name == "WETH9"),
            "{err}"
        );

        let mut old = good;
        old.format = "something-else/9".to_owned();
        let path = dir.path().join("old.json");
        std::fs::write(&path, serde_json::to_string(&old).unwrap()).unwrap();
        assert!(matches!(
            read(&path),
            Err(ChainError::FixtureInvalid { .. })
        ));
        assert!(matches!(
            read(&dir.path().join("absent.json")),
            Err(ChainError::FixtureMissing { .. })
        ));
    }
}
