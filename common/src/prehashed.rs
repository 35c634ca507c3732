//! Hash maps keyed by values that are already well-mixed 64-bit hashes
//! (xxh3 of a series' labels): the key is passed through instead of being
//! hashed a second time by SipHash. Used on per-series paths (the
//! memtable's series lookup, the distributor's series limits, the
//! ingester's active-series tracking).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Passes an already well-mixed `u64` key through unchanged.
#[derive(Debug, Default, Clone, Copy)]
pub struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are meant for this hasher; fold anything else.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A map from pre-hashed `u64` keys.
pub type PreHashedMap<V> = HashMap<u64, V, BuildHasherDefault<PreHashed>>;

/// A set of pre-hashed `u64` keys.
pub type PreHashedSet = HashSet<u64, BuildHasherDefault<PreHashed>>;
