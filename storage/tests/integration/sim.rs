//! A small simulated ingester for compaction and crash tests: a two-partition
//! log of records (the write-ahead log), flushes of everything above the
//! manifest's flushed offsets (what the ingester's replay + flush does), and
//! a model of what queries must return (newest record wins).
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use strata_common::sample::sort_dedup_samples;
use strata_common::select::SelectRequest;
use strata_common::{Labels, Sample};
use strata_storage::compaction::{CompactionConfig, Compactor, PassReport};
use strata_storage::{FlushContext, ManifestStore, Memtable, PartitionRange, Store, write_files};

use super::common::*;

pub const TENANTS: [&str; 2] = ["t1", "t2"];
const SERIES: usize = 6;

/// One log record: samples of one series of one tenant.
#[derive(Debug, Clone)]
pub struct Record {
    pub tenant: &'static str,
    pub series: usize,
    pub samples: Vec<(i64, f64)>,
}

pub fn series_labels(i: usize) -> Labels {
    labels(&[("__name__", "m"), ("i", &i.to_string()), ("job", if i.is_multiple_of(3) { "a" } else { "b" })])
}

/// The series' partition (all samples of a series land in one partition).
pub fn partition_of(series: usize) -> u32 {
    (series % 2) as u32
}

/// The log: records per partition, offset = index.
#[derive(Debug, Default, Clone)]
pub struct Log {
    pub partitions: [Vec<Record>; 2],
}

impl Log {
    pub fn push(&mut self, r: Record) {
        self.partitions[partition_of(r.series) as usize].push(r);
    }

    pub fn ends(&self) -> BTreeMap<u32, u64> {
        (0..2u32).map(|p| (p, self.partitions[p as usize].len() as u64)).collect()
    }

    /// What every query must see: per (tenant, series) all samples, the
    /// later record (and within a record the later sample) winning.
    pub fn model(&self) -> BTreeMap<(&'static str, Labels), Vec<Sample>> {
        let mut m: BTreeMap<(&'static str, Labels), Vec<Sample>> = BTreeMap::new();
        for part in &self.partitions {
            for r in part {
                m.entry((r.tenant, series_labels(r.series))).or_default().extend(samples(&r.samples));
            }
        }
        for s in m.values_mut() {
            sort_dedup_samples(s);
        }
        m
    }
}

/// Deterministic pseudo-random records: `n` records with timestamps around
/// `t0`, out of order within `spread` ms, duplicates with new values.
pub fn records(seed: u64, n: usize, t0: i64, spread: i64) -> Vec<Record> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|_| {
            let tenant = TENANTS[(rnd() % 2) as usize];
            let series = (rnd() % SERIES as u64) as usize;
            let k = 1 + rnd() % 8;
            let samples = (0..k).map(|_| (t0 + (rnd() % spread as u64) as i64, (rnd() % 1000) as f64 / 10.0)).collect();
            Record { tenant, series, samples }
        })
        .collect()
}

/// Flushes every record above the manifest's flushed offsets as level-0
/// files (one per tenant) and commits them with the new offsets.
pub fn flush(store: &ManifestStore, log: &Log) -> strata_storage::Result<()> {
    let flushed = store.current().flushed_offsets.clone();
    let mut mem = Memtable::new();
    let mut ranges = Vec::new();
    for (p, records) in log.partitions.iter().enumerate() {
        let p = p as u32;
        let from = flushed.get(&p).copied().unwrap_or(0);
        let end = records.len() as u64;
        if end <= from {
            continue;
        }
        for r in &records[from as usize..] {
            let l = series_labels(r.series);
            let pairs: Vec<(&str, &str)> = l.iter().map(|x| (x.name.as_str(), x.value.as_str())).collect();
            mem.append(&tenant(r.tenant), &pairs, samples(&r.samples).into_iter());
        }
        ranges.push(PartitionRange { partition: p, start: from, end });
    }
    if ranges.is_empty() {
        return Ok(());
    }
    let frozen = mem.freeze();
    let files = write_files(store, &frozen, &FlushContext { offsets: ranges.clone(), level: 0 })?;
    let offsets: Vec<(u32, u64)> = ranges.iter().map(|r| (r.partition, r.end)).collect();
    store.commit_flush(files, &offsets)?;
    Ok(())
}

/// Small windows so a few thousand milliseconds of data span many levels.
pub fn test_config() -> CompactionConfig {
    CompactionConfig {
        settle_ms: 0,
        delete_delay_ms: 0,
        max_bytes_per_sec: 0,
        level_windows_ms: vec![1_000, 4_000],
        ..CompactionConfig::default()
    }
}

/// One compaction pass ("now" far from the data, retention off).
pub fn compact(store: &Arc<ManifestStore>, config: &CompactionConfig) -> strata_storage::Result<PassReport> {
    let mut c = Compactor::new(store.clone(), config.clone(), &mut Registry::default());
    c.run_once_at(1_000_000, || false)
}

/// Everything the store returns for a tenant (all series, all time), read
/// with the log's end offsets as base (everything flushed).
pub fn read_all(store: &Store, tenant_name: &str, log: &Log) -> BTreeMap<Labels, Vec<Sample>> {
    let all = strata_common::Matcher::new(strata_common::MatchOp::RegexMatch, "__name__", ".+").unwrap();
    store
        .select(&SelectRequest::new(tenant(tenant_name), vec![all], i64::MIN, i64::MAX), &log.ends())
        .unwrap()
        .into_iter()
        .map(|s| {
            let v = s.samples(i64::MIN, i64::MAX).unwrap();
            (s.labels, v)
        })
        .collect()
}

/// Asserts the store serves exactly the model.
pub fn assert_matches_model(store: &Arc<ManifestStore>, log: &Log) {
    let model = log.model();
    let st = Store::new(store.clone());
    for t in TENANTS {
        let got = read_all(&st, t, log);
        let want: BTreeMap<Labels, Vec<Sample>> =
            model.iter().filter(|((mt, _), _)| *mt == t).map(|((_, l), s)| (l.clone(), s.clone())).collect();
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "tenant {t}: series differ");
        for (l, s) in &want {
            assert_samples_eq(&got[l], s);
        }
    }
}

/// Data files on disk (relative paths), temp files included.
pub fn files_on_disk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let files = dir.join("files");
    for t in std::fs::read_dir(&files).into_iter().flatten() {
        let t = t.unwrap().path();
        for f in std::fs::read_dir(&t).unwrap() {
            let p = f.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().to_str().unwrap().to_string());
        }
    }
    out.sort();
    out
}

/// Asserts every file on disk is in the manifest and vice versa.
pub fn assert_no_orphans(store: &ManifestStore) {
    let mut listed: Vec<String> = store.current().files.iter().map(|f| f.path.clone()).collect();
    listed.sort();
    assert_eq!(files_on_disk(store.data_dir()), listed, "files on disk != files in the manifest");
}
