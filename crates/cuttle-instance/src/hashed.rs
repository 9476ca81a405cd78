//! An index of slots by key that holds each key's 64-bit hash, not the key: what an import keeps
//! for each of hundreds of thousands of documents. The hash is keyed for the run (a random
//! [`RandomState`] by default), so an input cannot choose collisions; a key is taken for a slot's
//! only when the caller finds the slot's own key equal, and keys whose hash an earlier key has
//! (all but never) are kept whole, apart.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};

pub struct HashedIndex<K, S = RandomState> {
    hasher: S,
    /// The slot of the first key of each hash.
    first: HashMap<u64, u32>,
    /// The slots of keys whose hash an earlier key has, by key.
    collided: HashMap<K, u32>,
}

impl<K, S: Default> Default for HashedIndex<K, S> {
    fn default() -> Self {
        HashedIndex {
            hasher: S::default(),
            first: HashMap::new(),
            collided: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq, S: BuildHasher> HashedIndex<K, S> {
    /// The hash of `key` (or of anything hashing as the key does), keyed for this index.
    pub fn hash(&self, key: &(impl Hash + ?Sized)) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Whether a key of this hash may be in the index (if not, nothing needs comparing).
    pub fn may_hold(&self, hash: u64) -> bool {
        self.first.contains_key(&hash)
    }

    /// The slot of the key whose hash is `hash`: `holds(slot)` tells whether a slot holds that
    /// key, and `key()` gives the key whole, asked for only when the first slot of its hash
    /// does not hold it.
    pub fn find<E>(
        &self,
        hash: u64,
        holds: impl FnOnce(u32) -> Result<bool, E>,
        key: impl FnOnce() -> Result<K, E>,
    ) -> Result<Option<u32>, E> {
        let Some(&first) = self.first.get(&hash) else {
            return Ok(None);
        };
        if holds(first)? {
            return Ok(Some(first));
        }
        Ok(self.collided.get(&key()?).copied())
    }

    /// Adds `slot` for a key the index does not hold, its hash `hash`; `key()` gives the key
    /// whole, asked for only when an earlier key has the same hash.
    pub fn insert<E>(
        &mut self,
        hash: u64,
        slot: u32,
        key: impl FnOnce() -> Result<K, E>,
    ) -> Result<(), E> {
        match self.first.entry(hash) {
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(slot);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert(key()?, slot);
            }
        }
        Ok(())
    }

    /// How many keys are kept whole because their hash collided.
    pub fn collided(&self) -> usize {
        self.collided.len()
    }
}

/// A hasher under which every key collides with every other, for tests of what uses the index.
#[derive(Clone, Copy, Debug, Default)]
pub struct Colliding;

impl BuildHasher for Colliding {
    type Hasher = Constant;
    fn build_hasher(&self) -> Constant {
        Constant
    }
}

/// The hasher of [`Colliding`]: every hash is 7.
#[derive(Debug)]
pub struct Constant;

impl std::hash::Hasher for Constant {
    fn finish(&self) -> u64 {
        7
    }
    fn write(&mut self, _: &[u8]) {}
}
