//! Cardinality statistics of a tenant's head, for `GET /api/v1/status/tsdb`
//! (Prometheus's `TSDBStatus`): series per metric name, label values per
//! label name, label value bytes per label name, series per label pair.

use std::collections::{HashMap, HashSet};

use strata_common::{Labels, TenantId, Timestamp};

use super::{FrozenMemtable, Memtable};

/// Counts over a set of series, each series counted once (by its labels).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeadStats {
    /// Distinct series.
    pub series: u64,
    /// Samples (of every series, duplicates across tables included).
    pub samples: u64,
    /// Smallest and largest sample time.
    pub bounds: Option<(Timestamp, Timestamp)>,
    /// Series per `__name__` value.
    pub series_by_metric: HashMap<String, u64>,
    /// Series per `name=value`.
    pub series_by_pair: HashMap<(String, String), u64>,
    /// Distinct values per label name.
    pub values_by_name: HashMap<String, HashSet<String>>,
    /// Bytes of values per label name, summed over series.
    pub value_bytes_by_name: HashMap<String, u64>,
    seen: HashSet<Labels>,
}

impl HeadStats {
    /// Adds one series (ignored if already counted).
    fn add(&mut self, labels: &Labels, samples: u64) {
        self.samples += samples;
        if self.seen.contains(labels) {
            return;
        }
        self.seen.insert(labels.clone());
        self.series += 1;
        for l in labels.iter() {
            if l.name == strata_common::labels::METRIC_NAME {
                *self.series_by_metric.entry(l.value.clone()).or_default() += 1;
            }
            *self.series_by_pair.entry((l.name.clone(), l.value.clone())).or_default() += 1;
            match self.values_by_name.get_mut(&l.name) {
                Some(v) => {
                    if !v.contains(&l.value) {
                        v.insert(l.value.clone());
                    }
                }
                None => {
                    self.values_by_name.insert(l.name.clone(), HashSet::from([l.value.clone()]));
                }
            }
            *self.value_bytes_by_name.entry(l.name.clone()).or_default() += l.value.len() as u64;
        }
    }

    fn add_bounds(&mut self, b: Option<(Timestamp, Timestamp)>) {
        if let Some((lo, hi)) = b {
            self.bounds = Some(self.bounds.map_or((lo, hi), |(a, z)| (a.min(lo), z.max(hi))));
        }
    }

    /// Merges stats of disjoint series sets (other shards).
    pub fn merge(&mut self, other: HeadStats) {
        self.series += other.series;
        self.samples += other.samples;
        self.add_bounds(other.bounds);
        for (k, v) in other.series_by_metric {
            *self.series_by_metric.entry(k).or_default() += v;
        }
        for (k, v) in other.series_by_pair {
            *self.series_by_pair.entry(k).or_default() += v;
        }
        for (k, v) in other.values_by_name {
            self.values_by_name.entry(k).or_default().extend(v);
        }
        for (k, v) in other.value_bytes_by_name {
            *self.value_bytes_by_name.entry(k).or_default() += v;
        }
    }

    /// Drops the per-series set that deduplicates (after the last add).
    pub fn finish(mut self) -> Self {
        self.seen = HashSet::new();
        self
    }
}

impl Memtable {
    /// Adds `tenant`'s series to `stats`.
    pub fn add_stats(&self, tenant: &TenantId, stats: &mut HeadStats) {
        if let Some(head) = self.tenants.get(tenant) {
            for s in &head.series {
                stats.add(&s.labels, s.floats.len() as u64);
            }
            stats.add_bounds(head.bounds);
        }
    }
}

impl FrozenMemtable {
    /// Adds `tenant`'s series to `stats` (series already counted from the
    /// active table count once).
    pub fn add_stats(&self, tenant: &TenantId, stats: &mut HeadStats) {
        if let Some(head) = self.tenants.get(tenant) {
            for s in &head.series {
                stats.add(&s.labels, s.floats.len() as u64);
            }
            stats.add_bounds(head.bounds);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strata_common::Sample;

    use super::*;

    #[test]
    fn counts_each_series_once_across_tables() {
        let t = TenantId::new("t").unwrap();
        let other = TenantId::new("other").unwrap();
        let mut m = Memtable::new();
        let s = |t: i64| std::iter::once(Sample::new(t, 1.0));
        m.append(&t, &[("__name__", "up"), ("job", "a")], s(1));
        m.append(&t, &[("__name__", "up"), ("job", "b")], s(2));
        m.append(&other, &[("__name__", "secret"), ("job", "x")], s(3));
        let frozen = m.freeze();
        let mut m = Memtable::new();
        m.append(&t, &[("__name__", "up"), ("job", "a")], s(5));
        m.append(&t, &[("__name__", "go_goroutines"), ("job", "a")], s(6));
        let mut stats = HeadStats::default();
        m.add_stats(&t, &mut stats);
        frozen.add_stats(&t, &mut stats);
        let stats = stats.finish();
        assert_eq!((stats.series, stats.samples, stats.bounds), (3, 4, Some((1, 6))));
        assert_eq!(stats.series_by_metric.get("up"), Some(&2));
        assert_eq!(stats.series_by_pair.get(&("job".into(), "a".into())), Some(&2));
        assert_eq!(stats.values_by_name["job"].len(), 2);
        assert!(!stats.series_by_metric.contains_key("secret"), "another tenant's series counted");
    }
}
