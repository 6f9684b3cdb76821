//! The load's part of a `reorg` fault: the chain is rolled back over the
//! fault's blocks and refilled with as many new blocks, holding the same
//! transactions again (`reinclude`) or none (`drop`).
//!
//! In: the scenario's reorg entries, the last blocks mined and the load
//! transactions each one included. Out: a [`Reorg`] per reorg done, handed to
//! [`super::OnBlock::on_reorg`] (the proxy tells log subscribers, the truth
//! takes dropped events back, the fault table records it).
//!
//! Why the load does it: it owns the chain, the senders' nonces and the
//! transactions; a reorg that drops transactions moves the nonces back, and
//! the next block would be refused without the load knowing. Why rollback and
//! mine rather than `anvil_reorg`: the new blocks keep the replaced blocks'
//! timestamps (so TWAP windows and the run's clock do not move) and are
//! checked like any other block; a different coinbase makes each a different
//! block even when it holds the same transactions at the same time.

use std::collections::VecDeque;

use alloy::primitives::{address, Address};
use serde_json::Value;

use super::calldata::SignedLoadTx;
use super::{resync_nonces, send, verify, Accounts, DeliveredEvent, LoadError, TxFailure};
use crate::chain::{Chain, MinedBlock};
use crate::scenario::faults::{Fault, FaultSpec, ReorgEvents, Span};

/// The miner of the blocks a reorg puts in (a recognisable, key-less address).
const REORG_COINBASE: Address = address!("00000000000000000000000000000000c0ff1ee5");

/// One reorg of the scenario, in load numbering.
#[derive(Debug, Clone, Copy)]
pub(super) struct Planned {
    /// Position in the scenario's `faults` list.
    fault: usize,
    /// The loaded block after which it happens (its last replaced block).
    after: u32,
    depth: u32,
    events: ReorgEvents,
}

/// The scenario's reorgs.
pub(super) fn planned(faults: &[FaultSpec]) -> Vec<Planned> {
    faults
        .iter()
        .enumerate()
        .filter_map(|(fault, f)| match (&f.fault, f.lasts) {
            (Fault::Reorg { events }, Span::Blocks(depth)) if depth > 0 => Some(Planned {
                fault,
                after: f.at + depth - 1,
                depth,
                events: *events,
            }),
            _ => None,
        })
        .collect()
}

/// The deepest planned reorg: how many recent blocks the load keeps.
pub(super) fn deepest(planned: &[Planned]) -> usize {
    planned.iter().map(|p| p.depth as usize).max().unwrap_or(0)
}

/// The reorg due after loaded block `loaded`, if any.
pub(super) fn due(planned: &[Planned], loaded: u32) -> Option<Planned> {
    planned.iter().find(|p| p.after == loaded).copied()
}

/// A block the load mined, with the load transactions it included.
pub(super) struct Recent {
    pub block: MinedBlock,
    pub included: Vec<SignedLoadTx>,
}

/// The last `keep` blocks mined.
pub(super) struct RecentBlocks {
    keep: usize,
    blocks: VecDeque<Recent>,
}

impl RecentBlocks {
    pub fn new(keep: usize) -> Self {
        Self {
            keep,
            blocks: VecDeque::with_capacity(keep),
        }
    }

    /// Remembers `block` with the transactions of `txs` that emitted an event in it.
    pub fn push(&mut self, block: &MinedBlock, txs: Vec<SignedLoadTx>, events: &[DeliveredEvent]) {
        if self.keep == 0 {
            return;
        }
        let included = txs
            .into_iter()
            .filter(|tx| events.iter().any(|e| e.tx == tx.hash))
            .collect();
        if self.blocks.len() == self.keep {
            self.blocks.pop_front();
        }
        self.blocks.push_back(Recent {
            block: *block,
            included,
        });
    }
}

/// What a reorg did.
#[derive(Debug, Clone)]
pub struct Reorg {
    /// Position of its entry in the scenario's `faults` list.
    pub fault: usize,
    pub events: ReorgEvents,
    /// The blocks taken off the chain, oldest first.
    pub replaced: Vec<MinedBlock>,
    /// The blocks put in their place, at the same heights and times.
    pub replacements: Vec<MinedBlock>,
    /// The logs the replaced blocks held (Anvil's JSON): what log subscribers
    /// must now see again with `removed: true`.
    pub removed_logs: Vec<Value>,
    /// Load transactions mined again in the replacements (`reinclude`).
    pub reincluded: u64,
    /// Load transactions gone with the replaced blocks (`drop`).
    pub dropped: u64,
    /// Re-included transactions that did not emit their event again.
    pub failures: Vec<TxFailure>,
}

impl Reorg {
    /// The chain numbers of the replaced blocks, first and last.
    pub fn span(&self) -> Option<(u64, u64)> {
        Some((self.replaced.first()?.number, self.replaced.last()?.number))
    }

    /// One line for the fault's actions.
    pub fn describe(&self) -> String {
        let (first, last) = self.span().unwrap_or_default();
        let what = match self.events {
            ReorgEvents::Reinclude => {
                format!("{} load transaction(s) mined again", self.reincluded)
            }
            ReorgEvents::Drop => format!("{} load transaction(s) dropped", self.dropped),
        };
        let failed = if self.failures.is_empty() {
            String::new()
        } else {
            format!(
                "; {} re-included transaction(s) emitted no event",
                self.failures.len()
            )
        };
        format!(
            "replaced blocks {first}–{last} by {} new block(s): {what}; {} log(s) removed, sent again with removed: true to log subscribers{failed}",
            self.replacements.len(),
            self.removed_logs.len()
        )
    }
}

/// Rolls the chain back over the newest `planned.depth` blocks of `recent`
/// and mines their replacements; the senders' nonces follow the chain.
pub(super) async fn run(
    planned: Planned,
    chain: &mut Chain,
    recent: &mut RecentBlocks,
    accounts: &mut Accounts,
) -> Result<Reorg, LoadError> {
    let depth = (planned.depth as usize).min(recent.blocks.len());
    let replaced: Vec<Recent> = recent.blocks.drain(recent.blocks.len() - depth..).collect();
    let (Some(first), Some(last)) = (replaced.first(), replaced.last()) else {
        return Err(crate::chain::ChainError::Unexpected(
            "a reorg was due but no block was mined before it".to_owned(),
        )
        .into());
    };
    let removed_logs = chain.logs(first.block.number, last.block.number).await?;
    let miner = chain.coinbase().await?;
    chain.rollback(depth as u64).await?;
    chain.set_coinbase(REORG_COINBASE).await?;
    let mut reorg = Reorg {
        fault: planned.fault,
        events: planned.events,
        replaced: replaced.iter().map(|r| r.block).collect(),
        replacements: Vec::with_capacity(depth),
        removed_logs,
        reincluded: 0,
        dropped: 0,
        failures: Vec::new(),
    };
    let refilled = refill(chain, &replaced, &mut reorg).await;
    chain.set_coinbase(miner).await?;
    refilled?;
    if planned.events == ReorgEvents::Drop || !reorg.failures.is_empty() {
        let sent = |sender| {
            replaced
                .iter()
                .flat_map(|r| &r.included)
                .any(|tx| tx.sender == sender)
        };
        resync_nonces(chain, accounts, sent).await?;
    }
    if planned.events == ReorgEvents::Reinclude {
        // The new blocks hold the same transactions: a later reorg may replace them in turn.
        for (old, new) in replaced.into_iter().zip(&reorg.replacements) {
            recent.blocks.push_back(Recent {
                block: *new,
                included: old.included,
            });
        }
    }
    Ok(reorg)
}

/// Mines one replacement per replaced block, at its height and time.
async fn refill(
    chain: &mut Chain,
    replaced: &[Recent],
    reorg: &mut Reorg,
) -> Result<(), LoadError> {
    for old in replaced {
        let txs: &[SignedLoadTx] = match reorg.events {
            ReorgEvents::Reinclude => &old.included,
            ReorgEvents::Drop => &[],
        };
        let rejected = send(chain, txs).await?;
        let block = chain.mine_at(old.block.timestamp).await?;
        let checked = verify::block(chain, &block, txs, rejected).await?;
        match reorg.events {
            ReorgEvents::Reinclude => reorg.reincluded += checked.events.len() as u64,
            ReorgEvents::Drop => reorg.dropped += old.included.len() as u64,
        }
        reorg.failures.extend(checked.failures);
        reorg.replacements.push(block);
    }
    Ok(())
}
