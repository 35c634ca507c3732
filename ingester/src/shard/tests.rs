//! End-to-end tests of the shards over the real embedded log and the real
//! storage engine, in a temporary directory.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::executor::block_on;
use prometheus_client::registry::Registry;
use strata_common::head::{HeadReader, SelectRequest};
use strata_common::labels::partition_for;
use strata_common::record::RecordBuilder;
use strata_common::{Labels, Sample, TenantId};
use strata_log::embedded::{EmbeddedLog, EmbeddedLogConfig, FsyncPolicy};
use strata_log::{Log, Offset, PartitionId};
use strata_storage::{ManifestStore, Store};

use super::{Ingester, IngesterConfig};

mod labels;
mod object_storage;

const PARTITIONS: u32 = 4;
const TENANTS: [&str; 2] = ["acme", "beta"];
const SERIES: usize = 20;

/// Every sample written, per (tenant, series), in write order.
type Expected = BTreeMap<(String, Labels), Vec<Sample>>;

fn open_log(dir: &Path, segment_bytes: u64) -> Arc<EmbeddedLog> {
    EmbeddedLog::open(EmbeddedLogConfig {
        dir: dir.join("log"),
        partitions: PARTITIONS,
        fsync: FsyncPolicy::Never,
        segment_bytes,
    })
    .unwrap()
}

fn open_manifest(dir: &Path) -> Arc<ManifestStore> {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    Arc::new(ManifestStore::open(&data).unwrap())
}

/// The setup every test starts from: a temporary directory (removed when
/// the returned guard drops) holding an embedded log of [`PARTITIONS`]
/// partitions with `segment_bytes` segments, and a manifest.
fn setup(segment_bytes: u64) -> (tempfile::TempDir, Arc<EmbeddedLog>, Arc<ManifestStore>) {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path(), segment_bytes);
    let manifest = open_manifest(dir.path());
    (dir, log, manifest)
}

fn config(shards: usize) -> IngesterConfig {
    IngesterConfig { shards, io_memory_bytes: 512 * 1024, flush_interval_ms: 3_600_000, ..IngesterConfig::default() }
}

/// Logs to the test's output (`RUST_LOG=strata_ingester=debug` for more).
fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .try_init();
}

fn start(config: IngesterConfig, log: &Arc<EmbeddedLog>, manifest: &Arc<ManifestStore>) -> (Ingester, Registry) {
    init_tracing();
    let mut registry = Registry::with_prefix("strata");
    let log: Arc<dyn Log> = log.clone();
    let ingester = Ingester::start(config, log, manifest.clone(), &mut registry).unwrap();
    (ingester, registry)
}

fn series_labels(k: usize) -> [(&'static str, String); 2] {
    [("__name__", "requests".to_string()), ("series", format!("{k:02}"))]
}

/// Appends one sample per (tenant, series) at `t = round * 1000`, one record
/// per (tenant, partition).
fn append_round(log: &dyn Log, round: i64, expected: &mut Expected) {
    for tenant in TENANTS {
        let tid = TenantId::new(tenant).unwrap();
        let mut records: BTreeMap<PartitionId, RecordBuilder> = BTreeMap::new();
        for k in 0..SERIES {
            let labels = series_labels(k);
            let pairs = labels.iter().map(|(n, v)| (*n, v.as_str()));
            let p = partition_for(&tid, pairs.clone(), PARTITIONS);
            let sample = Sample::new(round * 1000, (k as i64 * 1000 + round) as f64);
            records.entry(p).or_insert_with(|| RecordBuilder::new(&tid)).push_series(pairs, &[sample]);
            let key = (tenant.to_string(), Labels::from_pairs(labels.iter().map(|(n, v)| (*n, v.as_str()))).unwrap());
            expected.entry(key).or_default().push(sample);
        }
        for (p, b) in records {
            block_on(log.append(p, vec![Bytes::from(b.finish())])).unwrap();
        }
    }
}

fn everything(tenant: &str) -> SelectRequest {
    between(tenant, i64::MIN, i64::MAX)
}

fn between(tenant: &str, min_t: i64, max_t: i64) -> SelectRequest {
    SelectRequest::new(TenantId::new(tenant).unwrap(), vec![], min_t, max_t)
}

/// What a querier sees: the heads (asked first), then the files below the
/// heads' base offsets. Samples are concatenated, not deduplicated, so a
/// sample counted twice shows up twice.
fn query_all(ingester: &Ingester, store: &Store) -> Expected {
    query_between(ingester, store, i64::MIN, i64::MAX)
}

/// [`query_all`] of the samples in `[min_t, max_t]`.
fn query_between(ingester: &Ingester, store: &Store, min_t: i64, max_t: i64) -> Expected {
    let mut got = Expected::new();
    for tenant in TENANTS {
        let head = block_on(HeadReader::read(ingester, between(tenant, min_t, max_t))).unwrap();
        assert!(head.series.windows(2).all(|w| w[0].labels < w[1].labels), "head series sorted and unique");
        let base: BTreeMap<PartitionId, Offset> = head.base_offsets.iter().copied().collect();
        assert_eq!(base.len(), PARTITIONS as usize, "every partition has a base offset");
        let tid = TenantId::new(tenant).unwrap();
        for s in store.select(&SelectRequest::new(tid.clone(), vec![], min_t, max_t), &base).unwrap() {
            let samples = s.samples(min_t, max_t).unwrap();
            got.entry((tenant.to_string(), s.labels.clone())).or_default().extend(samples);
        }
        for s in head.series {
            got.entry((tenant.to_string(), s.labels)).or_default().extend(s.samples);
        }
    }
    for samples in got.values_mut() {
        samples.sort_by_key(|s| s.t);
    }
    got
}

fn head_samples(ingester: &Ingester) -> Vec<Sample> {
    TENANTS
        .iter()
        .flat_map(|t| block_on(ingester.read_heads(everything(t))).unwrap().series)
        .flat_map(|s| s.samples)
        .collect()
}

fn end_offsets(log: &dyn Log) -> Vec<Offset> {
    block_on(log.end_offsets()).unwrap()
}

fn metrics_text(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
    out
}

/// The value of the first metric line starting with `prefix`.
fn metric_value(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn ingests_flushes_and_replays_exactly_once() {
    let (dir, log, manifest) = setup(1 << 20);
    let store = Store::new(manifest.clone());
    let mut expected = Expected::new();
    for round in 0..3 {
        append_round(&*log, round, &mut expected);
    }

    // Replay from scratch into two shards; a stop below does not flush, so
    // that the restart has something to replay.
    let no_stop_flush = IngesterConfig { flush_on_shutdown: false, ..config(2) };
    let (ingester, registry) = start(no_stop_flush, &log, &manifest);
    assert_eq!(ingester.shard_count(), 2);
    assert_eq!(ingester.partitions_of(0), &[0, 2]);
    assert_eq!(ingester.partitions_of(1), &[1, 3]);
    block_on(ingester.wait_caught_up()).unwrap();
    let progress = block_on(HeadReader::progress(&ingester)).unwrap();
    let ends = end_offsets(&*log);
    assert_eq!(progress.iter().map(|p| p.consumed).collect::<Vec<_>>(), ends);
    assert!(progress.iter().all(|p| p.flushed == 0));
    assert_eq!(query_all(&ingester, &store), expected);
    assert!(manifest.current().files.is_empty());

    // Flush: the data moves to files, still counted once.
    block_on(ingester.flush_now()).unwrap();
    let m = manifest.current();
    assert!(!m.files.is_empty());
    for (p, end) in ends.iter().enumerate() {
        if *end > 0 {
            assert_eq!(m.flushed_offsets.get(&(p as u32)), Some(end), "partition {p}");
        }
    }
    assert!(head_samples(&ingester).is_empty(), "the head is empty right after a flush");
    assert_eq!(query_all(&ingester, &store), expected);
    let progress = block_on(HeadReader::progress(&ingester)).unwrap();
    assert!(progress.iter().all(|p| p.flushed == p.consumed));

    // More data lands in the head, above the flushed offsets.
    for round in 3..5 {
        append_round(&*log, round, &mut expected);
    }
    block_on(ingester.wait_caught_up()).unwrap();
    assert_eq!(query_all(&ingester, &store), expected);

    let text = metrics_text(&registry);
    let appended: f64 = (0..2)
        .map(|s| metric_value(&text, &format!("strata_ingester_samples_appended_total{{shard=\"{s}\"}}")).unwrap())
        .sum();
    assert_eq!(appended as usize, 5 * SERIES * TENANTS.len());
    assert!(text.contains("strata_ingester_flushes_total{shard=\"0\",outcome=\"ok\"} 1"), "{text}");
    assert!(text.contains("strata_ingester_flush_duration_seconds_count"));
    assert!(text.contains("strata_ingester_consumed_offset{partition=\"3\"}"));

    // Restart on the same directories: only the unflushed rounds replay.
    ingester.shutdown();
    assert!(block_on(ingester.read_heads(everything("acme"))).is_err(), "a stopped ingester refuses reads");
    drop(ingester);
    drop(store);
    drop(manifest);
    drop(log);
    let log = open_log(dir.path(), 1 << 20);
    let manifest = open_manifest(dir.path());
    let store = Store::new(manifest.clone());
    let (ingester, _registry) = start(config(2), &log, &manifest);
    block_on(ingester.wait_caught_up()).unwrap();
    let head = head_samples(&ingester);
    assert_eq!(head.len(), 2 * SERIES * TENANTS.len(), "only rounds 3 and 4 are replayed");
    assert!(head.iter().all(|s| s.t >= 3000));
    assert_eq!(query_all(&ingester, &store), expected);

    // A second flush covers exactly the replayed range.
    block_on(ingester.flush_now()).unwrap();
    assert_eq!(query_all(&ingester, &store), expected);
    let flushed = manifest.current().flushed_offsets.clone();
    for (p, end) in end_offsets(&*log).iter().enumerate() {
        assert_eq!(flushed.get(&(p as u32)).copied().unwrap_or(0), *end);
    }
    ingester.shutdown();
}

#[test]
fn skips_undecodable_records_and_keeps_going() {
    let (_dir, log, manifest) = setup(1 << 20);
    let store = Store::new(manifest.clone());
    let mut expected = Expected::new();
    append_round(&*log, 0, &mut expected);

    // Garbage, an unknown version, an invalid tenant, unsorted labels, and a truncated record.
    let bad_tenant = {
        let mut b = RecordBuilder::new(&TenantId::new("x").unwrap());
        b.push_series([("a", "b")].into_iter(), &[Sample::new(1, 1.0)]);
        let mut bytes = b.finish();
        bytes[2] = b'/';
        bytes
    };
    let unsorted = {
        let mut b = RecordBuilder::new(&TenantId::new("acme").unwrap());
        b.push_series([("__name__", "requests"), ("series", "00")].into_iter(), &[Sample::new(99, 1.0)]);
        b.push_series([("z", "1"), ("a", "2")].into_iter(), &[Sample::new(1, 1.0)]);
        b.finish()
    };
    let truncated = {
        let mut b = RecordBuilder::new(&TenantId::new("acme").unwrap());
        b.push_series([("__name__", "requests"), ("series", "00")].into_iter(), &[Sample::new(98, 1.0)]);
        let bytes = b.finish();
        bytes[..bytes.len() - 4].to_vec()
    };
    // A known series first, then a new one whose label value is not UTF-8.
    let bad_utf8 = {
        let mut b = RecordBuilder::new(&TenantId::new("acme").unwrap());
        b.push_series([("__name__", "requests"), ("series", "00")].into_iter(), &[Sample::new(97, 1.0)]);
        b.push_series([("a", "zz")].into_iter(), &[Sample::new(1, 1.0)]);
        let mut bytes = b.finish();
        let at = bytes.windows(2).rposition(|w| w == b"zz").unwrap();
        bytes[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
        bytes
    };
    let bad: Vec<Bytes> = vec![
        Bytes::from_static(b""),
        Bytes::from_static(&[9, 1, 2]),
        bad_tenant.into(),
        unsorted.into(),
        truncated.into(),
        bad_utf8.into(),
    ];
    block_on(log.append(1, bad)).unwrap();
    append_round(&*log, 1, &mut expected);

    let (ingester, registry) = start(config(1), &log, &manifest);
    block_on(ingester.wait_caught_up()).unwrap();
    // Records are applied whole or not at all: no sample at t=97..99 leaked in.
    assert_eq!(query_all(&ingester, &store), expected);
    let text = metrics_text(&registry);
    assert_eq!(metric_value(&text, "strata_ingester_record_decode_failures_total{partition=\"1\"}"), Some(6.0));
    block_on(ingester.flush_now()).unwrap();
    assert_eq!(query_all(&ingester, &store), expected);
    assert_eq!(manifest.current().flushed_offsets.get(&1).copied(), Some(end_offsets(&*log)[1]));
    ingester.shutdown();
}

#[test]
fn starts_at_the_earliest_offset_after_retention() {
    let (_dir, log, manifest) = setup(4096);
    let tenant = TenantId::new("acme").unwrap();
    let labels = [("__name__", "up"), ("job", "retention")];
    for i in 0..300 {
        let mut b = RecordBuilder::new(&tenant);
        b.push_series(labels.into_iter(), &[Sample::new(i, i as f64)]);
        block_on(log.append(0, vec![Bytes::from(b.finish())])).unwrap();
    }
    log.release(0, 200).unwrap();
    let start_offset = match log.open_reader(0, 0) {
        Err(strata_common::Error::OffsetOutOfRange { start, .. }) => start,
        Ok(_) => panic!("release removed nothing; make the records bigger"),
        Err(e) => panic!("{e}"),
    };
    assert!(start_offset > 0 && start_offset <= 200);

    let (ingester, _registry) = start(config(1), &log, &manifest);
    block_on(ingester.wait_caught_up()).unwrap();
    let progress = block_on(ingester.partition_progress()).unwrap();
    assert_eq!(progress[0].consumed, 300);
    assert_eq!(progress[0].flushed, start_offset, "nothing below the log's start can be served");
    let head = block_on(ingester.read_heads(everything("acme"))).unwrap();
    assert_eq!(head.series.len(), 1);
    let ts: Vec<i64> = head.series[0].samples.iter().map(|s| s.t).collect();
    assert_eq!(ts, (start_offset as i64..300).collect::<Vec<_>>());
    ingester.shutdown();
}

#[test]
fn flushes_on_the_interval() {
    let (_dir, log, manifest) = setup(1 << 20);
    let mut expected = Expected::new();
    append_round(&*log, 0, &mut expected);
    let (ingester, _registry) = start(IngesterConfig { flush_interval_ms: 50, ..config(2) }, &log, &manifest);
    let ends = end_offsets(&*log);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let flushed = manifest.current().flushed_offsets.clone();
        if ends.iter().enumerate().all(|(p, e)| flushed.get(&(p as u32)).copied().unwrap_or(0) == *e) {
            break;
        }
        assert!(Instant::now() < deadline, "no interval flush within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(query_all(&ingester, &Store::new(manifest.clone())), expected);
    ingester.shutdown();
}

#[test]
fn a_failed_flush_keeps_the_data_readable_and_is_retried() {
    let (dir, log, manifest) = setup(1 << 20);
    let store = Store::new(manifest.clone());
    let mut expected = Expected::new();
    append_round(&*log, 0, &mut expected);
    let (ingester, registry) = start(config(1), &log, &manifest);
    block_on(ingester.wait_caught_up()).unwrap();

    // Make the data directory unusable (a file where the directory was);
    // works as root too.
    let data = dir.path().join("data");
    let moved = dir.path().join("data.moved");
    std::fs::rename(&data, &moved).unwrap();
    std::fs::write(&data, b"not a directory").unwrap();
    assert!(block_on(ingester.flush_now()).is_err());
    assert!(manifest.current().flushed_offsets.values().all(|o| *o == 0), "no offset moved");
    assert_eq!(query_all(&ingester, &store), expected, "the frozen memtable is still readable");
    // New data goes to the new active memtable meanwhile.
    append_round(&*log, 1, &mut expected);
    block_on(ingester.wait_caught_up()).unwrap();
    assert_eq!(query_all(&ingester, &store), expected);
    let text = metrics_text(&registry);
    assert_eq!(metric_value(&text, "strata_ingester_flushes_total{shard=\"0\",outcome=\"error\"}"), Some(1.0));

    std::fs::remove_file(&data).unwrap();
    std::fs::rename(&moved, &data).unwrap();
    block_on(ingester.flush_now()).unwrap();
    let flushed = manifest.current().flushed_offsets.clone();
    for (p, end) in end_offsets(&*log).iter().enumerate() {
        assert_eq!(flushed.get(&(p as u32)).copied().unwrap_or(0), *end);
    }
    assert!(head_samples(&ingester).is_empty());
    assert_eq!(query_all(&ingester, &store), expected);
    ingester.shutdown();
}

#[test]
fn wait_for_offsets_resolves_when_data_arrives() {
    let (_dir, log, manifest) = setup(1 << 20);
    let (ingester, _registry) = start(config(2), &log, &manifest);
    block_on(ingester.wait_caught_up()).unwrap(); // empty log: resolves at once
    let waiter = {
        let ingester = &ingester;
        async move { ingester.wait_for_offsets(&[0, 1, 0, 0]).await }
    };
    let mut expected = Expected::new();
    std::thread::scope(|s| {
        let h = s.spawn(|| block_on(waiter));
        std::thread::sleep(Duration::from_millis(50));
        let tenant = TenantId::new("acme").unwrap();
        let mut b = RecordBuilder::new(&tenant);
        b.push_series([("__name__", "x")].into_iter(), &[Sample::new(1, 1.0)]);
        block_on(log.append(1, vec![Bytes::from(b.finish())])).unwrap();
        h.join().unwrap().unwrap();
    });
    append_round(&*log, 0, &mut expected);
    block_on(ingester.wait_caught_up()).unwrap();
    assert_eq!(block_on(ingester.read_heads(everything("beta"))).unwrap().series.len(), SERIES);
    ingester.shutdown();
}

#[test]
fn pinned_shards_never_ask_for_a_missing_cpu() {
    let (_dir, log, manifest) = setup(1 << 20);
    let mut expected = Expected::new();
    append_round(&*log, 0, &mut expected);
    // More shards than CPUs on small machines: the extra ones run unpinned.
    let cpus = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    let shards = (cpus + 1).min(PARTITIONS as usize);
    let (ingester, _registry) = start(IngesterConfig { pin_cores: true, ..config(shards) }, &log, &manifest);
    assert_eq!(ingester.shard_count(), shards);
    block_on(ingester.wait_caught_up()).unwrap();
    assert_eq!(query_all(&ingester, &Store::new(manifest.clone())), expected);
    ingester.shutdown();
}

/// Appends 60 rounds from another thread while reading `[min_t, max_t]`
/// again and again (at least 5 times), asserting that no read counts a
/// sample twice; returns what was written.
fn write_while_reading(log: &Arc<EmbeddedLog>, ingester: &Ingester, store: &Store, min_t: i64, max_t: i64) -> Expected {
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut expected = Expected::new();
            for round in 0..60 {
                append_round(&**log, round, &mut expected);
            }
            expected
        });
        let mut reads = 0;
        while !writer.is_finished() || reads < 5 {
            for (key, samples) in query_between(ingester, store, min_t, max_t) {
                assert!(samples.windows(2).all(|w| w[0].t < w[1].t), "{key:?} has a sample twice: {samples:?}");
            }
            reads += 1;
        }
        writer.join().unwrap()
    })
}

#[test]
fn concurrent_reads_never_double_count_while_size_flushes_run() {
    let (_dir, log, manifest) = setup(1 << 20);
    let store = Store::new(manifest.clone());
    // A tiny memtable limit: size-triggered flushes happen during the run.
    let (ingester, registry) =
        start(IngesterConfig { memtable_max_bytes: 1024, max_batch_records: 4, ..config(2) }, &log, &manifest);
    let expected = write_while_reading(&log, &ingester, &store, i64::MIN, i64::MAX);
    block_on(ingester.wait_caught_up()).unwrap();
    assert_eq!(query_all(&ingester, &store), expected);
    // Size-triggered flushes ran (no flush_now yet).
    let ok_flushes = || {
        let text = metrics_text(&registry);
        (0..2)
            .filter_map(|s| {
                metric_value(&text, &format!("strata_ingester_flushes_total{{shard=\"{s}\",outcome=\"ok\"}}"))
            })
            .sum::<f64>()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while ok_flushes() < 2.0 {
        assert!(Instant::now() < deadline, "no size-triggered flush within 20 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    block_on(ingester.flush_now()).unwrap();
    assert_eq!(query_all(&ingester, &store), expected);
    ingester.shutdown();
}

#[test]
fn refuses_to_start_when_the_log_is_behind_the_manifest() {
    let (_dir, log, manifest) = setup(1 << 20);
    append_round(&*log, 0, &mut Expected::new());
    // The manifest says more was flushed than the log holds (a replaced log):
    // replaying from lower offsets would count flushed data twice.
    manifest.commit_flush(vec![], &[(2, 1_000)]).unwrap();
    init_tracing();
    let err = Ingester::start(config(2), log.clone(), manifest.clone(), &mut Registry::default()).unwrap_err();
    assert!(matches!(err, crate::Error::OpenReader { partition: 2, offset: 1_000, .. }), "unexpected error: {err}");
}

#[test]
fn sliced_head_reads_never_double_count_while_size_flushes_run() {
    let (_dir, log, manifest) = setup(1 << 20);
    let store = Store::new(manifest.clone());
    // Reads of more than 8 samples go in time slices, and a tiny memtable
    // limit makes flushes land between the slices of a read.
    let config =
        IngesterConfig { memtable_max_bytes: 1024, max_batch_records: 4, head_read_slice_samples: 8, ..config(2) };
    let (ingester, _registry) = start(config, &log, &manifest);
    let (min_t, max_t) = (0, 59_000);
    let expected = write_while_reading(&log, &ingester, &store, min_t, max_t);
    block_on(ingester.wait_caught_up()).unwrap();
    // Everything is still in the heads or in files, each sample once.
    assert_eq!(query_between(&ingester, &store, min_t, max_t), expected);
    block_on(ingester.flush_now()).unwrap();
    assert_eq!(query_between(&ingester, &store, min_t, max_t), expected);
    ingester.shutdown();
}

#[test]
fn a_sliced_head_read_equals_a_whole_one() {
    let (_dir, log, manifest) = setup(1 << 20);
    let mut expected = Expected::new();
    for round in 0..50 {
        append_round(&*log, round, &mut expected);
    }
    let read = |slice_samples: u64| {
        let (ingester, registry) = start(
            IngesterConfig { head_read_slice_samples: slice_samples, flush_on_shutdown: false, ..config(1) },
            &log,
            &manifest,
        );
        block_on(ingester.wait_caught_up()).unwrap();
        let answer: Vec<_> = TENANTS
            .iter()
            .map(|t| block_on(HeadReader::read(&ingester, between(t, 3_500, 47_000))).unwrap())
            .map(|r| {
                (r.series.iter().map(|s| (s.labels.clone(), s.samples.clone())).collect::<Vec<_>>(), r.base_offsets)
            })
            .collect();
        let sliced = metric_value(&metrics_text(&registry), "strata_ingester_head_reads_sliced_total{shard=\"0\"}");
        ingester.shutdown();
        (answer, sliced)
    };
    let (whole, not_sliced) = read(0);
    let (sliced, slice_count) = read(7);
    assert_eq!((not_sliced, slice_count), (Some(0.0), Some(2.0)), "one sliced read per tenant");
    assert_eq!(sliced, whole);
    // 20 series per tenant, samples at 4 s .. 47 s.
    assert_eq!(whole[0].0.len(), SERIES);
    assert_eq!(whole[0].0[0].1.len(), 44);
}

/// Appends `samples` samples (10 s apart) to each of `series` series of
/// tenant `acme`, one record per partition.
fn append_wide(log: &dyn Log, series: usize, samples: i64) {
    let tid = TenantId::new("acme").unwrap();
    let values: Vec<Sample> = (0..samples).map(|i| Sample::new(i * 10_000, i as f64)).collect();
    let mut records: BTreeMap<PartitionId, RecordBuilder> = BTreeMap::new();
    for k in 0..series {
        let name = format!("s{k:06}");
        let pairs = [("__name__", "wide"), ("series", name.as_str())];
        let p = partition_for(&tid, pairs.iter().copied(), PARTITIONS);
        records.entry(p).or_insert_with(|| RecordBuilder::new(&tid)).push_series(pairs.iter().copied(), &values);
    }
    for (p, b) in records {
        block_on(log.append(p, vec![Bytes::from(b.finish())])).unwrap();
    }
}

#[test]
fn a_cheap_command_is_answered_while_a_heavy_read_copies_its_parts() {
    let (_dir, log, manifest) = setup(64 << 20);
    append_wide(&*log, 500, 4_000);
    // Parts of one series: the heavy read takes 500 turns of the shard,
    // after a plan (selecting and sorting the series) that takes few.
    let (ingester, _registry) =
        start(IngesterConfig { head_read_slice_samples: 1, flush_on_shutdown: false, ..config(1) }, &log, &manifest);
    block_on(ingester.wait_caught_up()).unwrap();
    let started = Instant::now();
    let (heavy_s, cheap_done_s, cheap_s) = std::thread::scope(|s| {
        let heavy = s.spawn(|| {
            let answer = block_on(ingester.read_heads(everything("acme"))).unwrap();
            assert_eq!(answer.series.len(), 500);
            started.elapsed().as_secs_f64()
        });
        // Sent once the shard is into the heavy read (its command loop
        // asleep on the channel).
        std::thread::sleep(Duration::from_millis(10));
        let asked = Instant::now();
        let cheap = block_on(ingester.estimate_heads(between("beta", 0, 1))).unwrap();
        assert_eq!(cheap.series, 0);
        let (cheap_s, cheap_done_s) = (asked.elapsed().as_secs_f64(), started.elapsed().as_secs_f64());
        (heavy.join().unwrap(), cheap_done_s, cheap_s)
    });
    // The shard's tasks run in a latency-sensitive queue, so the command
    // wakes it at once and is answered between two parts (0.3–1.6 ms of a
    // 100–150 ms read in a debug build). In glommio's default queue it
    // waited for the shard's preemption timer or the end of the read.
    assert!(
        cheap_done_s < heavy_s && cheap_s < heavy_s / 4.0,
        "the cheap command took {cheap_s:.4} s and ended at {cheap_done_s:.4} s; the heavy read ended at {heavy_s:.4} s"
    );
    ingester.shutdown();
}
