//! Compaction and retention against the model: every sample kept, equal
//! (series, timestamp) resolved newest-wins, files deleted only once no
//! snapshot or reader can reach them.
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use strata_common::select::SelectRequest;
use strata_common::{MatchOp, Matcher};
use strata_storage::compaction::{CompactionConfig, Compactor};
use strata_storage::{ManifestStore, Store};

use super::common::*;
use super::sim::*;

#[test]
fn compaction_keeps_every_sample_once_across_levels() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ManifestStore::open(dir.path()).unwrap());
    let config = test_config();
    let mut log = Log::default();
    for round in 0..8u64 {
        // Each round mostly moves forward in time but reaches back 3 s.
        for r in records(round, 40, round as i64 * 2_000 - 3_000, 5_000) {
            log.push(r);
        }
        flush(&store, &log).unwrap();
        assert_matches_model(&store, &log);
        if round % 2 == 1 {
            let report = compact(&store, &config).unwrap();
            assert!(report.jobs > 0, "round {round}: nothing compacted");
            assert_matches_model(&store, &log);
            assert_no_orphans(&store);
        }
    }
    flush(&store, &log).unwrap();
    compact(&store, &config).unwrap();
    assert_matches_model(&store, &log);
    assert_no_orphans(&store);

    let m = store.current();
    assert!(m.files.iter().all(|f| f.level > 0), "level 0 left after a full pass: {:?}", m.files);
    assert!(m.files.iter().any(|f| f.level == 2), "no closed day window reached level 2");
    // Fully compacted, every (series, timestamp) lives in exactly one file.
    let model_samples: usize = log.model().values().map(Vec::len).sum();
    assert_eq!(m.files.iter().map(|f| f.samples).sum::<u64>(), model_samples as u64);
    // Every output covers the union of the flushed ranges it came from.
    for f in &m.files {
        for r in &f.offsets {
            assert!(r.end <= log.ends()[&r.partition]);
        }
    }
    // Windows: a level-1 file spans at most 1 s, a level-2 file at most 4 s.
    for f in &m.files {
        let w = [0, 1_000, 4_000][f.level as usize];
        assert_eq!(f.min_t.div_euclid(w), f.max_t.div_euclid(w), "{f:?} crosses its window");
    }
}

#[test]
fn a_newer_flush_outranks_a_later_compaction_output() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ManifestStore::open(dir.path()).unwrap());
    let config = CompactionConfig { settle_ms: 300, ..test_config() };
    let mut c = Compactor::new(store.clone(), config, &mut Registry::default());
    let mut log = Log::default();
    log.push(Record { tenant: "t1", series: 0, samples: vec![(500, 1.0), (600, 1.0)] });
    flush(&store, &log).unwrap();
    c.run_once_at(0, || false).unwrap(); // first sighting: not settled yet
    std::thread::sleep(Duration::from_millis(400));
    // A newer record overwrites t=500; its flush file is not settled.
    log.push(Record { tenant: "t1", series: 0, samples: vec![(500, 2.0)] });
    flush(&store, &log).unwrap();
    let report = c.run_once_at(0, || false).unwrap();
    assert_eq!(report.jobs, 1);
    let m = store.current();
    let output = m.files.iter().find(|f| f.level == 1).unwrap();
    let newer = m.files.iter().find(|f| f.level == 0).unwrap();
    assert!(output.id > newer.id, "the output got a newer id than the flush it must lose to");
    assert!(output.rank() < newer.rank());
    assert_matches_model(&store, &log);
    assert_eq!(log.model().values().next().unwrap()[0].v, 2.0);
}

#[test]
fn retention_drops_whole_files_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ManifestStore::open(dir.path()).unwrap());
    let mut config = CompactionConfig { retention_ms: 10_000, ..test_config() };
    config.tenant_retention_ms.insert("t2".into(), 0);
    let mut log = Log::default();
    log.push(Record { tenant: "t1", series: 0, samples: vec![(1_000, 1.0)] });
    log.push(Record { tenant: "t2", series: 0, samples: vec![(1_000, 1.0)] });
    flush(&store, &log).unwrap();
    log.push(Record { tenant: "t1", series: 1, samples: vec![(50_000, 1.0)] });
    flush(&store, &log).unwrap();
    let mut c = Compactor::new(store.clone(), config, &mut Registry::default());
    let report = c.run_once_at(30_000, || false).unwrap();
    assert_eq!(report.expired_files, 1);
    let st = Store::new(store.clone());
    let t1 = read_all(&st, "t1", &log);
    assert_eq!(t1.len(), 1, "only the series past the cutoff is gone: {t1:?}");
    assert!(t1.contains_key(&series_labels(1)));
    assert_eq!(read_all(&st, "t2", &log).len(), 1, "t2 keeps everything");
    assert_no_orphans(&store);
}

#[test]
fn retired_files_wait_for_snapshots_and_readers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ManifestStore::open(dir.path()).unwrap());
    let mut log = Log::default();
    for r in records(7, 20, 0, 3_000) {
        log.push(r);
    }
    flush(&store, &log).unwrap();
    let st = Store::new(store.clone());
    let all = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap();
    let held = st.select(&SelectRequest::new(tenant("t1"), vec![all], i64::MIN, i64::MAX), &log.ends()).unwrap();
    let pinned = store.pin();
    let before = files_on_disk(dir.path());

    compact(&store, &test_config()).unwrap();
    assert!(store.retired_count() > 0);
    assert_eq!(files_on_disk(dir.path()).iter().filter(|f| before.contains(f)).count(), before.len());

    drop(pinned);
    assert_eq!(store.delete_retired(Duration::ZERO).unwrap(), 1, "only the unread tenant's file goes");
    // The held series still read their (retired) files.
    for s in &held {
        assert!(!s.samples(i64::MIN, i64::MAX).unwrap().is_empty());
    }
    drop(held);
    store.delete_retired(Duration::ZERO).unwrap();
    assert_eq!(store.retired_count(), 0);
    assert_no_orphans(&store);
    assert_matches_model(&store, &log);
}

#[test]
fn delete_delay_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ManifestStore::open(dir.path()).unwrap());
    let mut log = Log::default();
    for r in records(3, 10, 0, 3_000) {
        log.push(r);
    }
    flush(&store, &log).unwrap();
    let config = CompactionConfig { delete_delay_ms: 60_000, ..test_config() };
    compact(&store, &config).unwrap();
    assert!(store.retired_count() > 0);
    assert_eq!(store.delete_retired(Duration::from_secs(60)).unwrap(), 0);
    let retired = store.retired_count();
    assert_eq!(store.delete_retired(Duration::ZERO).unwrap(), retired);
    assert_no_orphans(&store);
}

/// One flush of 5,000 samples, each in its own window (as a push of samples
/// a day apart): compaction makes a handful of files, not 5,000, keeps every
/// sample, and a later overwrite still wins over the spill file.
#[test]
fn sparse_samples_compact_into_a_handful_of_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ManifestStore::open(dir.path()).unwrap());
    let config = test_config();
    let mut log = Log::default();
    let sparse: Vec<(i64, f64)> = (0..5_000).map(|i| (i * 4_000 + 500, i as f64)).collect();
    log.push(Record { tenant: "t1", series: 0, samples: sparse });
    flush(&store, &log).unwrap();
    for _ in 0..3 {
        compact(&store, &config).unwrap();
    }
    assert_matches_model(&store, &log);
    let files = store.current().files.len();
    assert!(files <= strata_storage::compaction::MAX_WINDOW_OUTPUTS + 1, "{files} files for one sparse flush");
    // New data in a window the spill covers: newest wins, nothing lost.
    log.push(Record { tenant: "t1", series: 0, samples: vec![(4_000 * 100 + 500, -1.0), (4_000 * 100 + 600, -2.0)] });
    flush(&store, &log).unwrap();
    for _ in 0..3 {
        compact(&store, &config).unwrap();
    }
    assert_matches_model(&store, &log);
    assert_no_orphans(&store);
    assert!(store.current().files.len() <= strata_storage::compaction::MAX_WINDOW_OUTPUTS + 3);
}
