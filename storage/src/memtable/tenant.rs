//! The head of one tenant: series lookup by encoded labels, columns,
//! inverted index.
//!
//! A series is found by its canonical encoded label bytes
//! ([`encode_label_pairs`]): an xxh3 hash of the bytes picks the candidates,
//! one `memcmp` against each candidate's stored key confirms. The hash is
//! internal to the memtable (not the stable
//! [`series_hash`](strata_common::labels::series_hash)).
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use roaring::RoaringBitmap;
use strata_common::head::{HeadSeries, SelectEstimate, SelectRequest};
use strata_common::prehashed::PreHashedMap;
use strata_common::record::encode_label_pairs;
use strata_common::{Label, Labels, Timestamp};
use xxhash_rust::xxh3::xxh3_64;

use super::series::SeriesColumns;

use crate::index::{self, Postings};

type HashIndex = PreHashedMap<IdList>;

/// Series ids sharing one hash: almost always exactly one.
#[derive(Debug)]
enum IdList {
    One(u32),
    Many(Vec<u32>),
}

impl IdList {
    fn as_slice(&self) -> &[u32] {
        match self {
            IdList::One(id) => std::slice::from_ref(id),
            IdList::Many(v) => v,
        }
    }
}

/// Per-series bookkeeping overhead estimate beyond label bytes (structs,
/// hash-map slot, bitmap entries).
const SERIES_OVERHEAD: usize = 256;

/// All series of one tenant in a memtable.
#[derive(Debug, Default)]
pub(crate) struct TenantHead {
    by_hash: HashIndex,
    pub series: Vec<SeriesColumns>,
    /// Scratch buffer for encoding label pairs into a lookup key.
    scratch: Vec<u8>,
    postings: BTreeMap<String, BTreeMap<String, RoaringBitmap>>,
    all: RoaringBitmap,
    /// Smallest and largest timestamp appended to any series, if any.
    pub bounds: Option<(Timestamp, Timestamp)>,
    /// Each series' position in label order (indexed by id): reads return
    /// series sorted by labels, and comparing label strings was the largest
    /// cost of a head read. Built on demand, dropped when a series is added.
    rank: OnceLock<Vec<u32>>,
}

impl TenantHead {
    /// The lookup hash of an encoded label key.
    #[inline]
    pub fn key_hash(key: &[u8]) -> u64 {
        xxh3_64(key)
    }

    /// The series whose canonical encoded labels are `key`, if present.
    #[inline]
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<u32> {
        let ids = self.by_hash.get(&hash)?;
        ids.as_slice().iter().copied().find(|&id| *self.series[id as usize].key == *key)
    }

    /// Finds or creates the series of `labels` (sorted, validated); returns
    /// (id, bytes allocated).
    #[inline]
    pub fn series_id(&mut self, labels: &[(&str, &str)]) -> (u32, usize) {
        let mut key = std::mem::take(&mut self.scratch);
        key.clear();
        encode_label_pairs(&mut key, labels.iter().copied());
        let got = self.series_id_keyed(Self::key_hash(&key), &key, labels);
        self.scratch = key;
        got
    }

    /// [`Self::series_id`] with a forced hash (tests force collisions).
    #[cfg(test)]
    pub fn series_id_hashed(&mut self, hash: u64, labels: &[(&str, &str)]) -> (u32, usize) {
        let mut key = Vec::new();
        encode_label_pairs(&mut key, labels.iter().copied());
        self.series_id_keyed(hash, &key, labels)
    }

    #[inline]
    fn series_id_keyed(&mut self, hash: u64, key: &[u8], labels: &[(&str, &str)]) -> (u32, usize) {
        match self.find(hash, key) {
            Some(id) => (id, 0),
            None => self.create(hash, key, labels),
        }
    }

    #[cold]
    fn create(&mut self, hash: u64, key: &[u8], labels: &[(&str, &str)]) -> (u32, usize) {
        // Series ids are u32 (roaring bitmaps); a head holds far fewer series.
        let id = u32::try_from(self.series.len()).unwrap_or(u32::MAX);
        let mut bytes = SERIES_OVERHEAD + key.len();
        let owned = Labels::from_sorted(labels.iter().map(|&(n, v)| Label::new(n, v)).collect());
        for &(n, v) in labels {
            bytes += 2 * (n.len() + v.len());
            if !v.is_empty() {
                // Cold path (new series): allocating the keys is fine here.
                self.postings.entry(n.to_string()).or_default().entry(v.to_string()).or_default().insert(id);
            }
        }
        self.all.insert(id);
        self.series.push(SeriesColumns::new(owned, key.into()));
        self.rank.take();
        match self.by_hash.get_mut(&hash) {
            None => {
                self.by_hash.insert(hash, IdList::One(id));
            }
            Some(list) => {
                let mut v = list.as_slice().to_vec();
                v.push(id);
                *list = IdList::Many(v);
            }
        }
        (id, bytes)
    }

    /// Ids of the series matching `matchers`.
    pub fn select(&self, matchers: &[strata_common::Matcher]) -> RoaringBitmap {
        index::select(self, matchers)
    }

    /// What [`TenantHead::read`] of `req` would return, from the postings
    /// and per-series counts ([`crate::estimate`]).
    pub fn estimate(&self, req: &SelectRequest) -> SelectEstimate {
        crate::estimate::sampled(&self.select(&req.matchers), |id| {
            let n = self.series[id as usize].count_in(req.min_t, req.max_t);
            (n, n * 16)
        })
    }

    /// Matching series with data in range, sorted by labels.
    pub fn read(&self, req: &SelectRequest) -> Vec<HeadSeries> {
        self.read_ids(req, &self.plan(req))
    }

    /// The ids of the series [`Self::read`] returns, in its order (by
    /// labels), so a large read can copy them a few at a time with
    /// [`Self::read_ids`]. Ids stay valid while the head lives (series are
    /// only added).
    pub fn plan(&self, req: &SelectRequest) -> Vec<u32> {
        let mut found: Vec<u32> = self
            .select(&req.matchers)
            .into_iter()
            .filter(|&id| self.series[id as usize].has_samples_in(req.min_t, req.max_t))
            .collect();
        self.sort_by_labels(&mut found);
        found
    }

    /// The series `ids` (from [`Self::plan`] of the same `req`), in order,
    /// with their samples in `req`'s range when `req.with_samples`.
    pub fn read_ids(&self, req: &SelectRequest, ids: &[u32]) -> Vec<HeadSeries> {
        ids.iter()
            .filter_map(|&id| self.series.get(id as usize))
            .map(|s| {
                let (samples, histograms) = if req.with_samples {
                    let hist = if s.hist.is_empty() { Vec::new() } else { s.hist_in(req.min_t, req.max_t) };
                    (s.samples_in(req.min_t, req.max_t), hist)
                } else {
                    Default::default()
                };
                HeadSeries { labels: s.labels.clone(), samples, histograms }
            })
            .collect()
    }

    /// Sorts series ids by the series' labels: by the cached
    /// ranks when they are built, or when `found` is a large enough share of
    /// the head to pay for building them (an `O(n log n)` sort of every
    /// series, reused by every read until a series is added); otherwise by
    /// comparing labels.
    fn sort_by_labels(&self, found: &mut [u32]) {
        let labels = |id: u32| &self.series[id as usize].labels;
        let rank = match self.rank.get() {
            Some(rank) => rank,
            None if found.len() * 8 >= self.series.len() => self.rank.get_or_init(|| {
                let mut order: Vec<u32> = (0..self.series.len() as u32).collect();
                order.sort_unstable_by(|&a, &b| labels(a).cmp(labels(b)));
                let mut rank = vec![0u32; order.len()];
                for (pos, id) in order.into_iter().enumerate() {
                    rank[id as usize] = pos as u32;
                }
                rank
            }),
            None => {
                found.sort_unstable_by(|&a, &b| labels(a).cmp(labels(b)));
                return;
            }
        };
        found.sort_unstable_by_key(|&id| rank[id as usize]);
    }

    /// Widens [`Self::bounds`] to cover `[min_t, max_t]`.
    #[inline]
    pub fn extend_bounds(&mut self, min_t: Timestamp, max_t: Timestamp) {
        self.bounds = Some(match self.bounds {
            None => (min_t, max_t),
            Some((lo, hi)) => (lo.min(min_t), hi.max(max_t)),
        });
    }

    /// Label names with at least one series (sorted).
    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        self.postings.keys().map(String::as_str)
    }

    /// Values of `name` (sorted).
    pub fn label_values(&self, name: &str) -> impl Iterator<Item = &str> {
        self.postings.get(name).into_iter().flat_map(|m| m.keys().map(String::as_str))
    }
}

impl Postings for TenantHead {
    fn all_series(&self) -> Cow<'_, RoaringBitmap> {
        Cow::Borrowed(&self.all)
    }
    fn postings(&self, name: &str, value: &str) -> Option<Cow<'_, RoaringBitmap>> {
        self.postings.get(name)?.get(value).map(Cow::Borrowed)
    }
    fn union_values(&self, name: &str, keep: &mut dyn FnMut(&str) -> bool) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        for (v, b) in self.postings.get(name).into_iter().flatten() {
            if keep(v) {
                out |= b;
            }
        }
        out
    }
}
