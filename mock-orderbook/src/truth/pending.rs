//! POSTs that came before their event was registered.

use std::hash::BuildHasher;
use std::time::Instant;

use cowprotocol::OrderUid;
use smallvec::SmallVec;

use super::{FastHash, Observation, OrderKey, PostOutcome};

/// The POSTs whose key matched no event yet, by key, each key stored once with its first POST
/// beside it.
///
/// In a load test every POST may wait here until the next head (in a benchmark without events,
/// all of them, for the whole run), so the table grows by doubling while the ledger's lock is
/// held. Its slots hold only the key's hash and a pointer to the boxed entry: a doubling then
/// moves 16 bytes per key and hashes nothing again, where a map holding keys and POSTs inline
/// (about 300 bytes a slot) stalled both workers for the copy, a visible dip in the rounds of
/// `bench/mock-vs-bare-wrk.sh` whose orders crossed a power of two.
#[derive(Default)]
pub(super) struct Pending {
    table: hashbrown::HashTable<(u64, Box<PendingKey>)>,
    hasher: FastHash,
}

/// One key's waiting POSTs, in receipt order (most keys wait for one POST: kept inline).
pub(super) struct PendingKey {
    pub(super) key: OrderKey,
    pub(super) posts: SmallVec<[Waiting; 1]>,
}

impl PendingKey {
    /// `observation` as it would wait, boxed. [`Truth::observe`] builds it before it takes the
    /// ledger lock: the box's first write may fault in a fresh page (the allocator takes huge
    /// pages, which the kernel zeroes on first touch), and a fault under the lock stalls every
    /// other POST for as long.
    pub(super) fn boxed(observation: Observation) -> Box<Self> {
        let (key, post) = Waiting::split(observation);
        let mut posts = SmallVec::new();
        posts.push(post);
        Box::new(PendingKey { key, posts })
    }

    /// The first POST waiting for this key (every entry holds at least one).
    pub(super) fn first(&self) -> &Waiting {
        &self.posts[0]
    }

    /// The observation again (the one POST of a box from [`PendingKey::boxed`]).
    pub(super) fn into_observation(self: Box<Self>) -> Observation {
        let PendingKey { key, posts } = *self;
        let post = posts
            .into_iter()
            .next()
            .expect("a boxed observation holds its POST");
        post.with_key(key)
    }
}

impl Pending {
    /// Queues `post` behind the earlier POSTs of its key (its box goes when the key already
    /// waits).
    pub(super) fn push(&mut self, post: Box<PendingKey>) {
        let hash = self.hasher.hash_one(&post.key);
        let entry = self.table.entry(
            hash,
            |(h, waiting)| *h == hash && waiting.key == post.key,
            |(h, _)| *h,
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(mut slot) => {
                slot.get_mut().1.posts.extend(post.posts)
            }
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert((hash, post));
            }
        }
    }

    /// Takes every POST waiting for `key`, in receipt order.
    pub(super) fn remove(&mut self, key: &OrderKey) -> Option<SmallVec<[Waiting; 1]>> {
        let hash = self.hasher.hash_one(key);
        let found = self
            .table
            .find_entry(hash, |(h, waiting)| *h == hash && waiting.key == *key);
        found.ok().map(|slot| slot.remove().0 .1.posts)
    }

    /// Keeps the POSTs for which `keep` is true; keys left without POSTs go.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Waiting) -> bool) {
        self.table.retain(|(_, waiting)| {
            waiting.posts.retain(|post| keep(post));
            !waiting.posts.is_empty()
        });
    }

    /// The number of waiting POSTs.
    pub(super) fn posts(&self) -> u64 {
        self.table
            .iter()
            .map(|(_, waiting)| waiting.posts.len() as u64)
            .sum()
    }
}

/// A pending POST ([`Pending`]): an [`Observation`] without its key, which the table holds
/// once.
#[derive(Clone, Debug)]
pub(super) struct Waiting {
    pub(super) uid: OrderUid,
    pub(super) valid_to: u64,
    pub(super) outcome: PostOutcome,
    pub(super) received_at: Instant,
    pub(super) head: u64,
}

impl Waiting {
    /// The key and the rest of `observation`.
    fn split(observation: Observation) -> (OrderKey, Waiting) {
        let Observation {
            key,
            uid,
            valid_to,
            outcome,
            received_at,
            head,
        } = observation;
        let post = Waiting {
            uid,
            valid_to,
            outcome,
            received_at,
            head,
        };
        (key, post)
    }

    /// The observation again, with its key.
    pub(super) fn with_key(self, key: OrderKey) -> Observation {
        Observation {
            key,
            uid: self.uid,
            valid_to: self.valid_to,
            outcome: self.outcome,
            received_at: self.received_at,
            head: self.head,
        }
    }
}
