//! What survives a restart when `persist_cursor` is on: the cursor file and the posted-UID
//! journal in `state_dir`, one pair per chain.
//!
//! In: `state_dir` and a chain id; after every handled block a [`Snapshot`]; every order UID
//! the engine is done with. Out: at start, the last snapshot and the UIDs, so the engine resumes
//! at the next block with its TWAP watches and never posts an order twice.
//!
//! - `cursor-<chain>.json` holds the last block fully handled (number and hash), the conditional
//!   orders being watched, and the oldest block of an EthFlow order still waiting for a retry
//!   (those blocks are handled again after a restart; their other orders are in the journal).
//!   It is written whole to a temporary file and renamed over the old one, so a kill at any
//!   instant leaves the old or the new file, never half of one. It is not fsynced: it survives
//!   the process dying, not the machine losing power, which is what a load test restarts.
//! - `posted-<chain>.txt` gets one line per UID the orderbook accepted, called a duplicate, or
//!   rejected for good, appended as the answer arrives; a torn last line is ignored. An order
//!   posted in the instant before a kill may miss its line: posting it again gets the
//!   orderbook's `DuplicatedOrder`, which the engine takes as done.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use alloy::primitives::{Address, Bytes, B256};
use anyhow::Context as _;
use cowprotocol::OrderUid;
use serde::{Deserialize, Serialize};

use crate::schedule::Schedule;

/// The engine's progress after one block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The last block fully handled.
    pub block: u64,
    /// Its hash, to check after a restart that the chain still holds it.
    pub hash: B256,
    /// The oldest block of an EthFlow order waiting for a retry: resume there, not after
    /// `block`, so the order is not forgotten.
    pub retry_from: Option<u64>,
    /// The conditional orders being watched.
    pub watches: Vec<SavedWatch>,
}

impl Snapshot {
    /// The block to resume after: `block`, or the one before the oldest pending retry. The hash
    /// is only known for `block` itself.
    pub fn resume_after(&self) -> (u64, Option<B256>) {
        match self.retry_from {
            Some(from) if from <= self.block => (from.saturating_sub(1), None),
            _ => (self.block, Some(self.hash)),
        }
    }
}

/// A watched conditional order as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedWatch {
    /// The owner.
    pub owner: Address,
    /// `params.handler`.
    pub handler: Address,
    /// `params.salt`.
    pub salt: B256,
    /// `params.staticInput`.
    pub static_input: Bytes,
    /// When it is polled next.
    pub next: Schedule,
    /// The block that created it.
    #[serde(default)]
    pub created_block: u64,
}

/// What a start finds in `state_dir`.
#[derive(Debug, Default)]
pub struct Restored {
    /// The last snapshot, if the engine ran before.
    pub snapshot: Option<Snapshot>,
    /// Every UID the engine was done with.
    pub uids: Vec<OrderUid>,
}

/// One chain's files in `state_dir`.
#[derive(Debug)]
pub struct Store {
    cursor: PathBuf,
    temporary: PathBuf,
    journal: Mutex<File>,
}

impl Store {
    /// Open (creating `dir` and the journal if needed) and read what a previous run left.
    pub fn open(dir: &Path, chain_id: u64) -> anyhow::Result<(Self, Restored)> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating state_dir {}", dir.display()))?;
        let cursor = dir.join(format!("cursor-{chain_id}.json"));
        let journal_path = dir.join(format!("posted-{chain_id}.txt"));
        let snapshot = read_snapshot(&cursor)?;
        let uids = read_journal(&journal_path)?;
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal_path)
            .with_context(|| format!("opening {}", journal_path.display()))?;
        let store = Self {
            temporary: dir.join(format!(".cursor-{chain_id}.json.tmp")),
            cursor,
            journal: Mutex::new(journal),
        };
        Ok((store, Restored { snapshot, uids }))
    }

    /// Replace the cursor file with `snapshot` (temporary file, then rename).
    pub fn save(&self, snapshot: &Snapshot) -> anyhow::Result<()> {
        let text = serde_json::to_vec(snapshot).context("encoding the cursor")?;
        std::fs::write(&self.temporary, text)
            .with_context(|| format!("writing {}", self.temporary.display()))?;
        std::fs::rename(&self.temporary, &self.cursor)
            .with_context(|| format!("renaming onto {}", self.cursor.display()))
    }

    /// Append `uid` to the journal (one write of one line, so lines never interleave).
    pub fn record(&self, uid: &OrderUid) -> std::io::Result<()> {
        let line = format!("{uid}\n");
        self.journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(line.as_bytes())
    }
}

fn read_snapshot(path: &Path) -> anyhow::Result<Option<Snapshot>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| {
            format!(
                "{} is not a cursor file; delete it to start fresh",
                path.display()
            )
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// Every whole line that parses as a UID; a torn last line (a kill mid-append) is skipped.
fn read_journal(path: &Path) -> anyhow::Result<Vec<OrderUid>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// A watch as a test stores it: epoch-scheduled, created in block 40.
#[cfg(test)]
pub(crate) fn sample_watch() -> SavedWatch {
    SavedWatch {
        owner: Address::repeat_byte(1),
        handler: Address::repeat_byte(2),
        salt: B256::repeat_byte(3),
        static_input: Bytes::from(vec![4; 320]),
        next: Schedule::AtEpoch(1_700_000_000),
        created_block: 40,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            block: 42,
            hash: B256::repeat_byte(7),
            retry_from: None,
            watches: vec![sample_watch()],
        }
    }

    #[test]
    fn a_fresh_directory_restores_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_store, restored) = Store::open(&dir.path().join("new"), 1).expect("opens");
        assert_eq!(restored.snapshot, None);
        assert!(restored.uids.is_empty());
    }

    #[test]
    fn snapshots_and_uids_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(dir.path(), 5).expect("opens");
        let first = snapshot();
        store.save(&first).expect("saves");
        let second = Snapshot { block: 43, ..first };
        store.save(&second).expect("saves again");
        let uids = [OrderUid::repeat_byte(0xaa), OrderUid::repeat_byte(0xbb)];
        for uid in &uids {
            store.record(uid).expect("journals");
        }
        drop(store);

        // A kill in the middle of an append leaves a torn line.
        let journal = dir.path().join("posted-5.txt");
        let mut file = OpenOptions::new()
            .append(true)
            .open(&journal)
            .expect("journal");
        file.write_all(b"0xabc").expect("torn line");

        let (_store, restored) = Store::open(dir.path(), 5).expect("reopens");
        assert_eq!(restored.snapshot, Some(second));
        assert_eq!(restored.uids, uids);
        assert!(
            !dir.path().join(".cursor-5.json.tmp").exists(),
            "the temporary file was renamed"
        );
        let (_other, nothing) = Store::open(dir.path(), 6).expect("another chain");
        assert_eq!(nothing.snapshot, None, "one cursor per chain");
    }

    #[test]
    fn a_pending_retry_moves_the_resume_point_back() {
        let mut s = snapshot();
        assert_eq!(s.resume_after(), (42, Some(s.hash)));
        s.retry_from = Some(40);
        assert_eq!(s.resume_after(), (39, None));
    }

    #[test]
    fn a_corrupt_cursor_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("cursor-1.json"), "{not json").expect("write");
        let err = Store::open(dir.path(), 1).expect_err("corrupt");
        assert!(format!("{err:#}").contains("cursor-1.json"), "{err:#}");
    }
}
