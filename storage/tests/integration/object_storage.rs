//! Object storage against a real S3-compatible server (moto): upload and
//! restore, the querier's polled manifest and LRU cache, interruption at
//! every upload step, an unreachable server, garbage collection.
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_common::select::SelectRequest;
use strata_common::{MatchOp, Matcher};
use strata_storage::manifest::MANIFEST_FILE;
use strata_storage::object::{
    Bucket, BucketReplicator, GarbageCollector, ObjectFileCache, ObjectMetrics, ObjectStorage, ObjectStorageConfig,
    Replicated,
};
use strata_storage::{
    FileSource, FlushContext, Manifest, ManifestStore, Memtable, PartitionRange, Store, StoreSet, write_files,
};

use super::common::*;
use strata_storage::object::test_server::{S3Server, config, free_port};

const BUCKET: &str = "strata";

/// Flushes one series per tenant in `tenants` (named `name`, 50 samples from
/// `t0`) covering `ranges`, and commits it.
fn flush(ms: &ManifestStore, tenants: &[&str], name: &str, t0: i64, ranges: &[(u32, u64, u64)]) {
    let mut m = Memtable::new();
    for t in tenants {
        let s: Vec<(i64, f64)> = (0..50).map(|i| (t0 + i * 1000, i as f64)).collect();
        append(&mut m, t, &[("__name__", name), ("tenant", t)], &s);
    }
    let offsets = ranges.iter().map(|&(partition, start, end)| PartitionRange { partition, start, end }).collect();
    let files = write_files(ms, &m.freeze(), &FlushContext { offsets, level: 0 }).unwrap();
    let flushed: Vec<(u32, u64)> = ranges.iter().map(|&(p, _, e)| (p, e)).collect();
    ms.commit_flush(files, &flushed).unwrap();
}

fn all_offsets() -> BTreeMap<u32, u64> {
    (0..4).map(|p| (p, u64::MAX)).collect()
}

/// Names of series of `tenant` in `store`.
fn names(store: &Store, tenant_id: &str) -> Vec<String> {
    let m = [Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()];
    let series =
        store.select(&SelectRequest::new(tenant(tenant_id), m.to_vec(), i64::MIN, i64::MAX), &all_offsets()).unwrap();
    for s in &series {
        assert_eq!(s.samples(i64::MIN, i64::MAX).unwrap().len(), 50, "{:?}", s.labels);
    }
    series.iter().map(|s| s.labels.get("__name__").unwrap().to_string()).collect()
}

fn bucket_manifest(bucket: &Bucket) -> Option<Manifest> {
    bucket.get_bytes(MANIFEST_FILE).unwrap().map(|b| Manifest::decode(&b, Path::new(MANIFEST_FILE)).unwrap())
}

/// The invariant: every file the bucket's manifest references is in the bucket.
fn assert_consistent(bucket: &Bucket) -> Option<Manifest> {
    let m = bucket_manifest(bucket)?;
    let present: HashSet<String> = bucket.list("files").unwrap().into_iter().map(|l| l.rel).collect();
    for f in &m.files {
        assert!(present.contains(&f.path), "manifest v{} references missing object {}", m.version, f.path);
    }
    Some(m)
}

fn server() -> S3Server {
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    s3
}

#[test]
fn upload_then_restore_on_a_fresh_directory() {
    let s3 = server();
    let cfg = s3.config(BUCKET, "ingester-0");
    let os = ObjectStorage::connect(&cfg, None).unwrap();
    let a = tempfile::tempdir().unwrap();
    let (ms, _gc) = os.open_writer(a.path()).unwrap();
    flush(&ms, &["a"], "up", 0, &[(0, 0, 10)]);
    ms.replicate().unwrap();
    flush(&ms, &["a", "b"], "down", 100_000, &[(0, 10, 20), (1, 0, 5)]);
    ms.replicate().unwrap();
    let written = ms.current();
    assert_eq!(assert_consistent(&os.bucket).unwrap().version, written.version);

    // A new machine: empty data directory.
    let b = tempfile::tempdir().unwrap();
    let os2 = ObjectStorage::connect(&cfg, None).unwrap();
    let (restored, _gc2) = os2.open_writer(b.path()).unwrap();
    let r = restored.current();
    assert_eq!((r.version, &r.files, &r.flushed_offsets), (written.version, &written.files, &written.flushed_offsets));
    for f in &r.files {
        assert_eq!(std::fs::read(b.path().join(&f.path)).unwrap(), std::fs::read(a.path().join(&f.path)).unwrap());
    }
    assert!(restored.allocate_file_id() > r.files.iter().map(|f| f.id).max().unwrap());
    let store = Store::new(restored);
    assert_eq!(names(&store, "a"), ["down", "up"]);
    assert_eq!(names(&store, "b"), ["down"]);
}

#[test]
fn large_files_upload_in_parts_and_round_trip() {
    let s3 = server();
    let bucket = Bucket::connect(&s3.config(BUCKET, "mp"), ObjectMetrics::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // 11 MiB + 3 bytes of pseudo-random bytes: three 5 MiB parts, the last short.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<u8> = (0..11 * 1024 * 1024 + 3)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let src = dir.path().join("big.bin");
    std::fs::write(&src, &data).unwrap();
    bucket.put_file("files/t/big.bin", &src).unwrap();
    let listed = bucket.list("files").unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].rel.as_str(), listed[0].size), ("files/t/big.bin", data.len() as u64));
    let dest = dir.path().join("copy/big.bin");
    assert_eq!(bucket.download("files/t/big.bin", &dest).unwrap(), data.len() as u64);
    assert!(std::fs::read(&dest).unwrap() == data, "downloaded bytes differ");
    assert_eq!(bucket.metrics().upload_bytes.get(), data.len() as u64);
}

#[test]
fn querier_sees_new_files_after_a_flush_and_a_poll() {
    let s3 = server();
    let cfg = s3.config(BUCKET, "ingester-1");
    let writer = ObjectStorage::connect(&cfg, None).unwrap();
    let data = tempfile::tempdir().unwrap();
    let (ms, _gc) = writer.open_writer(data.path()).unwrap();
    flush(&ms, &["a"], "first", 0, &[(0, 0, 10)]);
    ms.replicate().unwrap();

    let reader = ObjectStorage::connect(&cfg, None).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (store, _poll) = reader.open_reader(cache.path()).unwrap();
    assert_eq!(names(&store, "a"), ["first"]);

    flush(&ms, &["a"], "second", 0, &[(0, 10, 20)]);
    ms.replicate().unwrap();
    let want = ms.current().version;
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.manifest.current().version < want {
        assert!(Instant::now() < deadline, "the reader did not poll version {want}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(names(&store, "a"), ["first", "second"]);
    let m = reader.bucket.metrics();
    assert_eq!((m.cache_misses.get(), m.cache_hits.get()), (2, 1));
}

#[test]
fn concurrent_reloads_of_a_reader_never_fail() {
    // A querier's poll thread and its queries reload the same reader; each
    // reload that sees a new version writes the cached manifest.
    let s3 = server();
    let cfg = s3.config(BUCKET, "ingester-reloads");
    let writer = ObjectStorage::connect(&cfg, None).unwrap();
    let data = tempfile::tempdir().unwrap();
    let (ms, _gc) = writer.open_writer(data.path()).unwrap();
    flush(&ms, &["a"], "v0", 0, &[(0, 0, 1)]);
    ms.replicate().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (store, _poll) = ObjectStorage::connect(&cfg, None).unwrap().open_reader(cache.path()).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let readers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let mut reloads = 0;
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        store.manifest.reload().unwrap();
                        reloads += 1;
                    }
                    reloads
                })
            })
            .collect();
        for v in 1..20u64 {
            flush(&ms, &["a"], &format!("v{v}"), 0, &[(0, v, v + 1)]);
            ms.replicate().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
    });
    assert_eq!(store.manifest.reload().unwrap().version, ms.current().version);
}

#[test]
fn cache_stays_within_its_byte_bound_evicting_least_recently_used() {
    let s3 = server();
    let cfg = s3.config(BUCKET, "ingester-2");
    let os = ObjectStorage::connect(&cfg, None).unwrap();
    let data = tempfile::tempdir().unwrap();
    let (ms, _gc) = os.open_writer(data.path()).unwrap();
    for i in 0..4u64 {
        flush(&ms, &["a"], &format!("m{i}"), 0, &[(0, i * 10, i * 10 + 10)]);
    }
    ms.replicate().unwrap();
    let files = ms.current().files.clone();
    let biggest = files.iter().map(|f| f.bytes).max().unwrap();
    let smallest = files.iter().map(|f| f.bytes).min().unwrap();
    let bound = 2 * biggest;
    assert!(3 * smallest > bound, "test needs files of similar size");

    let cache_dir = tempfile::tempdir().unwrap();
    let cache = ObjectFileCache::new(Arc::clone(&os.bucket), cache_dir.path(), bound).unwrap();
    for f in &files {
        cache.open(cache_dir.path(), f).unwrap();
        assert!(cache.cached_bytes() <= bound, "{} > {bound}", cache.cached_bytes());
    }
    // 0 and 1 were evicted, least recently used first; their files are gone.
    assert_eq!(cache.cached_ids(), [files[2].id, files[3].id]);
    for (f, cached) in files.iter().zip([false, false, true, true]) {
        assert_eq!(cache_dir.path().join(&f.path).exists(), cached, "{}", f.path);
    }
    // Touch 2, then read 0 again: 3 (now least recently used) is evicted.
    cache.open(cache_dir.path(), &files[2]).unwrap();
    let r0 = cache.open(cache_dir.path(), &files[0]).unwrap();
    assert_eq!(cache.cached_ids(), [files[0].id, files[2].id]);
    assert_eq!(r0.series_count(), 1);
    let m = os.bucket.metrics();
    assert_eq!((m.cache_misses.get(), m.cache_hits.get(), m.cache_evictions.get()), (5, 1, 3));
    assert_eq!(m.cache_bytes.get() as u64, cache.cached_bytes());
}

#[test]
fn bucket_manifest_never_references_a_missing_object_whatever_step_is_interrupted() {
    let s3 = server();
    // v1: one file; v2: three more. v2's replication makes four uploads
    // (three files, then the manifest); stop after each possible count.
    for steps in 0..4 {
        let cfg = s3.config(BUCKET, &format!("crash-{steps}"));
        let bucket = Arc::new(Bucket::connect(&cfg, ObjectMetrics::default()).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let ms = ManifestStore::open(dir.path()).unwrap();
        flush(&ms, &["a"], "v1", 0, &[(0, 0, 10)]);
        let first = BucketReplicator::new(Arc::clone(&bucket));
        assert!(matches!(first.replicate_with(&ms, None).unwrap(), Replicated::Done { .. }));
        let v1 = ms.current().version;
        flush(&ms, &["a", "b", "c"], "v2", 0, &[(0, 10, 20)]);
        assert_eq!(first.replicate_with(&ms, Some(steps)).unwrap(), Replicated::Interrupted { steps });
        // The process "dies" here: the bucket still holds a consistent v1.
        assert_eq!(assert_consistent(&bucket).unwrap().version, v1, "after {steps} steps");
        assert_eq!(bucket.list("files").unwrap().len(), 1 + steps);
        // A restarted process (no memory of what it uploaded) completes v2,
        // uploading again the objects v1 does not reference: they could be
        // orphans of another process holding other data under the same name.
        drop(first);
        let restarted = BucketReplicator::new(Arc::clone(&bucket));
        let done = restarted.replicate_with(&ms, None).unwrap();
        assert_eq!(done, Replicated::Done { version: ms.current().version, files_uploaded: 3 });
        let m = assert_consistent(&bucket).unwrap();
        assert_eq!((m.version, m.files.len()), (ms.current().version, 4));
    }
}

#[test]
fn a_new_process_overwrites_the_orphans_of_a_lost_one() {
    let s3 = server();
    let cfg = s3.config(BUCKET, "ingester-orphans");
    let os = ObjectStorage::connect(&cfg, None).unwrap();
    // A process uploaded its first file, then died before the manifest PUT
    // and lost its disk: the bucket holds an unreferenced object.
    let lost = tempfile::tempdir().unwrap();
    let (lost_ms, _gc) = os.open_writer(lost.path()).unwrap();
    flush(&lost_ms, &["a"], "lost", 0, &[(0, 0, 10)]);
    let orphan = lost_ms.current().files[0].path.clone();
    os.bucket.put_bytes(&orphan, bytes::Bytes::from(std::fs::read(lost.path().join(&orphan)).unwrap())).unwrap();
    drop((lost_ms, _gc));

    // Its replacement starts empty, so its first file gets the same id.
    let fresh = tempfile::tempdir().unwrap();
    let (ms, _gc) = os.open_writer(fresh.path()).unwrap();
    flush(&ms, &["a"], "replayed", 0, &[(0, 0, 12)]);
    assert_eq!(ms.current().files[0].path, orphan, "the scenario needs a reused name");
    ms.replicate().unwrap();
    let in_bucket = os.bucket.get_bytes(&orphan).unwrap().unwrap();
    assert_eq!(&in_bucket[..], &std::fs::read(fresh.path().join(&orphan)).unwrap()[..], "the orphan was overwritten");
    let restored = tempfile::tempdir().unwrap();
    let (rms, _gc) = os.open_writer(restored.path()).unwrap();
    assert_eq!(names(&Store::new(rms), "a"), ["replayed"]);
}

#[test]
fn unreachable_server_fails_the_replication_and_loses_nothing() {
    let port = free_port();
    let cfg = config(port, BUCKET, "ingester-3");
    let os = ObjectStorage::connect(&cfg, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ms = ManifestStore::open(dir.path()).unwrap();
    ms.set_replicator(Arc::new(BucketReplicator::new(Arc::clone(&os.bucket))));
    flush(&ms, &["a"], "up", 0, &[(0, 0, 10)]);
    let e = ms.replicate().unwrap_err();
    assert_eq!(e.kind(), strata_common::ErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("object storage"), "{e}");
    assert!(os.bucket.metrics().errors.get_or_create_owned(&vec![("op".into(), "get".into())]).get() >= 1);
    // Still down: a second flush commits locally, replication fails again.
    flush(&ms, &["a"], "down", 0, &[(0, 10, 20)]);
    assert!(ms.replicate().is_err());

    // The server comes up: the next attempt replicates everything.
    let s3 = S3Server::start_on(port);
    s3.create_bucket(BUCKET);
    ms.replicate().unwrap();
    let restored = tempfile::tempdir().unwrap();
    let (rms, _gc) = ObjectStorage::connect(&cfg, None).unwrap().open_writer(restored.path()).unwrap();
    assert_eq!(rms.current().flushed_offsets, BTreeMap::from([(0, 20)]));
    assert_eq!(names(&Store::new(rms), "a"), ["down", "up"]);
}

#[test]
fn unreferenced_objects_are_deleted_only_after_the_grace_period() {
    let s3 = server();
    let cfg = s3.config(BUCKET, "ingester-4");
    let bucket = Arc::new(Bucket::connect(&cfg, ObjectMetrics::default()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let ms = ManifestStore::open(dir.path()).unwrap();
    let replicator = Arc::new(BucketReplicator::new(Arc::clone(&bucket)));
    ms.set_replicator(replicator.clone());
    flush(&ms, &["a", "b"], "up", 0, &[(0, 0, 10)]);
    ms.replicate().unwrap();
    let files = ms.current().files.clone();
    // Compaction/retention drops a's file; a crashed upload left an orphan.
    ms.commit_replace(&[files[0].id], Vec::new()).unwrap();
    ms.replicate().unwrap();
    bucket.put_bytes("files/a/999.strata", bytes::Bytes::from_static(b"orphan")).unwrap();

    let gc = GarbageCollector::default();
    let grace = Duration::from_secs(60);
    let t0 = Instant::now();
    let s = gc.collect(&replicator, grace, t0).unwrap();
    assert_eq!((s.referenced, s.waiting, s.deleted), (1, 2, 0));
    let s = gc.collect(&replicator, grace, t0 + Duration::from_secs(59)).unwrap();
    assert_eq!((s.referenced, s.waiting, s.deleted), (1, 2, 0));
    let s = gc.collect(&replicator, grace, t0 + grace).unwrap();
    assert_eq!((s.referenced, s.waiting, s.deleted), (1, 0, 2));
    let left: Vec<String> = bucket.list("files").unwrap().into_iter().map(|l| l.rel).collect();
    assert_eq!(left, [files[1].path.clone()]);
    assert_consistent(&bucket).unwrap();
}

#[test]
fn a_stale_local_directory_never_moves_the_bucket_back() {
    let s3 = server();
    let cfg = s3.config(BUCKET, "ingester-5");
    let os = ObjectStorage::connect(&cfg, None).unwrap();
    let current = tempfile::tempdir().unwrap();
    let (ms, _gc) = os.open_writer(current.path()).unwrap();
    flush(&ms, &["a"], "up", 0, &[(0, 0, 10)]);
    ms.replicate().unwrap();
    // A copy of the directory as it is now, then the writer moves on.
    let stale = tempfile::tempdir().unwrap();
    std::fs::copy(current.path().join(MANIFEST_FILE), stale.path().join(MANIFEST_FILE)).unwrap();
    flush(&ms, &["a"], "down", 0, &[(0, 10, 20)]);
    ms.replicate().unwrap();
    let bucket_version = ms.current().version;

    let stale_ms = ManifestStore::open(stale.path()).unwrap();
    stale_ms.set_replicator(Arc::new(BucketReplicator::new(Arc::clone(&os.bucket))));
    let e = stale_ms.replicate().unwrap_err();
    assert!(matches!(e, strata_storage::Error::ReplicaAhead { local, bucket, .. } if local + 1 == bucket), "{e}");
    assert_eq!(bucket_manifest(&os.bucket).unwrap().version, bucket_version);
    drop(stale_ms);
    // A writer does not even start on it.
    let e = ObjectStorage::connect(&cfg, None).unwrap().open_writer(stale.path()).unwrap_err();
    assert!(matches!(e, strata_storage::Error::ReplicaAhead { .. }), "{e}");
    assert_eq!(bucket_manifest(&os.bucket).unwrap().version, bucket_version);
}

#[test]
fn a_reader_pointed_at_a_writers_data_directory_leaves_it_alone() {
    let s3 = server();
    let cfg = s3.config(BUCKET, "ingester-6");
    let os = ObjectStorage::connect(&cfg, None).unwrap();
    let data = tempfile::tempdir().unwrap();
    let (ms, _gc) = os.open_writer(data.path()).unwrap();
    flush(&ms, &["a"], "up", 0, &[(0, 0, 10)]);
    ms.replicate().unwrap();
    let manifest_bytes = std::fs::read(data.path().join(MANIFEST_FILE)).unwrap();
    let file = data.path().join(&ms.current().files[0].path);
    let file_bytes = std::fs::read(&file).unwrap();

    let (store, _poll) = os.open_reader(data.path()).unwrap();
    assert_eq!(names(&store, "a"), ["up"]);
    assert_eq!(std::fs::read(data.path().join(MANIFEST_FILE)).unwrap(), manifest_bytes);
    assert_eq!(std::fs::read(&file).unwrap(), file_bytes);
    assert_eq!(ManifestStore::open(data.path()).unwrap().current().files, ms.current().files);
}

#[test]
fn a_querier_store_set_fetches_the_bucket_manifest_as_soon_as_the_heads_pass_it() {
    let s3 = server();
    // Two ingesters (partition 0 and 1), each with its own prefix; queriers
    // poll only hourly, so only the StoreSet's reload can find new files.
    let cfg = |p: &str| ObjectStorageConfig {
        manifest_poll_interval_ms: 3_600_000,
        gc_grace_ms: 7_200_000,
        ..s3.config(BUCKET, p)
    };
    let (c0, c1) = (cfg("set-0"), cfg("set-1"));
    let (w0, w1) = (ObjectStorage::connect(&c0, None).unwrap(), ObjectStorage::connect(&c1, None).unwrap());
    let (d0, d1) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (m0, _g0) = w0.open_writer(d0.path()).unwrap();
    let (m1, _g1) = w1.open_writer(d1.path()).unwrap();
    flush(&m0, &["a"], "p0", 0, &[(0, 0, 10)]);
    m0.replicate().unwrap();

    let cache = tempfile::tempdir().unwrap();
    let (r0, _p0) = ObjectStorage::connect(&c0, None).unwrap().open_reader(&cache.path().join("0")).unwrap();
    let (r1, _p1) = ObjectStorage::connect(&c1, None).unwrap().open_reader(&cache.path().join("1")).unwrap();
    let set = StoreSet::from_read_only(vec![(r0, vec![0]), (r1, vec![1])]);
    let all = [Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()];
    let base = |a: u64, b: u64| BTreeMap::from([(0, a), (1, b)]);
    let got = set.select(&SelectRequest::new(tenant("a"), all.to_vec(), i64::MIN, i64::MAX), &base(10, 0)).unwrap();
    assert_eq!(got.len(), 1);

    // Ingester 1 flushes [0, 7) and its heads move their base offset to 7.
    flush(&m1, &["a"], "p1", 0, &[(1, 0, 7)]);
    m1.replicate().unwrap();
    let got = set.select(&SelectRequest::new(tenant("a"), all.to_vec(), i64::MIN, i64::MAX), &base(10, 7)).unwrap();
    let names: Vec<&str> = got.iter().map(|s| s.labels.get("__name__").unwrap()).collect();
    assert_eq!(names, ["p0", "p1"]);
    assert_eq!(got[1].samples(i64::MIN, i64::MAX).unwrap().len(), 50);
}
