//! When a watched order is polled next: a type of its own because both the TWAP module
//! (which decides it) and the state file (which stores it as is) need it.

use crate::chain::Head;

/// When an order should next be polled (stored in the cursor file as is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The next block.
    NextBlock,
    /// The first block numbered at least this.
    AtBlock(u64),
    /// The first block whose timestamp is at least this.
    AtEpoch(u64),
}

impl Schedule {
    /// True when the order is due at `head`.
    pub fn is_due(self, head: &Head) -> bool {
        match self {
            Self::NextBlock => true,
            Self::AtBlock(n) => head.number >= n,
            Self::AtEpoch(t) => head.timestamp >= t,
        }
    }
}
