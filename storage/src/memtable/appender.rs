//! Appending encoded series of one tenant: the ingester's hot path.
//!
//! A log record carries each series' labels as canonical encoded bytes
//! ([`encode_label_pairs`](strata_common::record::encode_label_pairs)). An
//! existing series is found by hashing those bytes and comparing them once
//! with the stored key; only a new series needs its labels decoded (UTF-8
//! validated) and indexed.

use strata_common::{HistSample, Sample, TenantId};

use super::Memtable;
use super::tenant::TenantHead;

/// A series of the head, valid for the [`Memtable`] that returned it
/// (until it is frozen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesRef(u32);

/// Appends series of one tenant; see [`Memtable::tenant_appender`].
pub struct TenantAppender<'m> {
    head: &'m mut TenantHead,
    /// The series found last: senders repeat series in the same order from
    /// request to request, so the next one is often `last + 1`, which
    /// saves the hash-table probe (a cache miss in a large head).
    last: Option<u32>,
    samples: &'m mut u64,
    series: &'m mut usize,
    bytes: &'m mut usize,
}

impl std::fmt::Debug for TenantAppender<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantAppender").field("series", &self.head.series.len()).finish()
    }
}

impl Memtable {
    /// An appender for `tenant`'s series (creates the tenant's head).
    pub fn tenant_appender(&mut self, tenant: &TenantId) -> TenantAppender<'_> {
        // `TenantId` is an `Arc<str>`: the clone is a reference count bump.
        let head = self.tenants.entry(tenant.clone()).or_default();
        TenantAppender {
            head,
            last: None,
            samples: &mut self.samples,
            series: &mut self.series,
            bytes: &mut self.bytes,
        }
    }
}

impl TenantAppender<'_> {
    /// The existing series whose canonical encoded labels are `key`. A key
    /// that is not canonical (or a series not yet created) is a miss; the
    /// caller then decodes the labels and uses [`Self::find_or_create`].
    #[inline]
    pub fn find(&mut self, key: &[u8]) -> Option<SeriesRef> {
        let next = self.last.map_or(0, |id| id.wrapping_add(1));
        let id = match self.head.series.get(next as usize) {
            Some(s) if *s.key == *key => next,
            _ => self.head.find(TenantHead::key_hash(key), key)?,
        };
        self.last = Some(id);
        Some(SeriesRef(id))
    }

    /// The series of `labels` (sorted by name, unique, validated), created
    /// and indexed if new.
    pub fn find_or_create(&mut self, labels: &[(&str, &str)]) -> SeriesRef {
        let (id, new_bytes) = self.head.series_id(labels);
        self.last = Some(id);
        if new_bytes > 0 {
            *self.series += 1;
            *self.bytes += new_bytes;
        }
        SeriesRef(id)
    }

    /// Appends samples to `series`; returns how many.
    #[inline]
    pub fn append(&mut self, series: SeriesRef, samples: impl Iterator<Item = Sample>) -> usize {
        // A SeriesRef only comes from this tenant's head, which never
        // removes series; fall back to a no-op rather than panic.
        let Some(cols) = self.head.series.get_mut(series.0 as usize) else {
            return 0;
        };
        let mut n = 0usize;
        for s in samples {
            *self.bytes += cols.push(s);
            n += 1;
        }
        if n > 0 {
            let (min_t, max_t) = (cols.min_t, cols.max_t);
            self.head.extend_bounds(min_t, max_t);
        }
        *self.samples += n as u64;
        n
    }
}

impl TenantAppender<'_> {
    /// Appends native-histogram samples to `series`; returns how many.
    pub fn append_histograms(&mut self, series: SeriesRef, samples: impl Iterator<Item = HistSample>) -> usize {
        let Some(cols) = self.head.series.get_mut(series.0 as usize) else {
            return 0;
        };
        let mut n = 0usize;
        for s in samples {
            *self.bytes += cols.push_hist(s);
            n += 1;
        }
        if n > 0 {
            let (min_t, max_t) = (cols.min_t, cols.max_t);
            self.head.extend_bounds(min_t, max_t);
        }
        *self.samples += n as u64;
        n
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strata_common::record::encode_label_pairs;

    use super::*;

    #[test]
    fn finds_by_canonical_key_only_and_never_duplicates() {
        let mut m = Memtable::new();
        let t = TenantId::new("a").unwrap();
        let labels = [("__name__", "up"), ("job", "a")];
        m.append(&t, &labels, [Sample::new(1, 1.0)].into_iter());
        let mut key = Vec::new();
        encode_label_pairs(&mut key, labels);
        let mut app = m.tenant_appender(&t);
        let id = app.find(&key).unwrap();
        assert_eq!(app.append(id, [Sample::new(2, 2.0)].into_iter()), 1);
        // Same labels with a non-minimal varint (0x88 0x00 = 8): a miss, but
        // creating from the decoded labels finds the existing series.
        let mut odd = vec![0x88, 0x00];
        odd.extend_from_slice(&key[1..]);
        assert_eq!(app.find(&odd), None);
        assert_eq!(app.find_or_create(&labels), id);
        assert!(app.find(b"\x01x\x01y").is_none());
        assert_eq!(m.series_count(), 1);
        assert_eq!(m.sample_count(), 2);
        let other = TenantId::new("b").unwrap();
        // The next-series guess never returns a wrong series.
        let keys: Vec<Vec<u8>> = (0..5)
            .map(|i| {
                let v = format!("v{i}");
                m.append(&t, &[("k", v.as_str())], std::iter::empty());
                let mut k = Vec::new();
                encode_label_pairs(&mut k, [("k", v.as_str())]);
                k
            })
            .collect();
        let mut app = m.tenant_appender(&t);
        let ids: Vec<_> = [0, 1, 2, 4, 3, 2, 0, 1].iter().map(|&i| app.find(&keys[i]).unwrap()).collect();
        let again: Vec<_> = [4, 3, 2, 1, 0].iter().map(|&i| app.find(&keys[i]).unwrap()).collect();
        assert_eq!(ids[3], again[0]);
        assert_eq!(ids[0], again[4]);
        assert_eq!(ids[2], ids[5]);
        assert_eq!(ids.iter().collect::<std::collections::HashSet<_>>().len(), 5);
        assert_eq!(app.find(&key), Some(id));
        assert_eq!(m.tenant_appender(&other).find(&key), None);
    }
}
