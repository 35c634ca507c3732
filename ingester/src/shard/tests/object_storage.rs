//! Flushing with object storage (a real S3 server, moto): a flush counts as
//! done (offsets advance, the log is released) only once the bucket has it;
//! while the bucket is unreachable the flush fails and is retried without
//! losing or duplicating anything; a new machine restores from the bucket
//! and replays the rest of the log.

use strata_storage::object::test_server::{self, S3Server};
use strata_storage::object::{BucketReplicator, ObjectStorage};

use super::*;

/// Enough rounds to fill more than one 4 KiB log segment per partition.
const FLUSHED_ROUNDS: i64 = 40;

#[test]
fn a_flush_is_acknowledged_only_once_the_bucket_has_it_and_a_new_machine_restores() {
    // Small segments, so releasing the log is visible in its start offsets.
    let (dir, log, manifest) = setup(4096);
    let port = test_server::free_port();
    let os = ObjectStorage::connect(&test_server::config(port, "strata", "ingester-0"), None).unwrap();
    manifest.set_replicator(Arc::new(BucketReplicator::new(Arc::clone(&os.bucket))));
    let store = Store::new(manifest.clone());
    let mut expected = Expected::new();
    for round in 0..FLUSHED_ROUNDS {
        append_round(&*log, round, &mut expected);
    }
    // The machine is lost below, not stopped: its stop must not flush.
    let (ingester, registry) = start(IngesterConfig { flush_on_shutdown: false, ..config(1) }, &log, &manifest);
    block_on(ingester.wait_caught_up()).unwrap();

    // Nothing listens on the bucket's port: committed locally, not acknowledged.
    let e = block_on(ingester.flush_now()).unwrap_err();
    assert!(e.to_string().contains("object storage"), "{e}");
    assert!(log.start_offsets().iter().all(|o| *o == 0), "nothing released");
    assert!(block_on(HeadReader::progress(&ingester)).unwrap().iter().all(|p| p.flushed == 0));
    assert_eq!(query_all(&ingester, &store), expected, "served once, from the head");
    let local_files = manifest.current().files.clone();
    assert!(!local_files.is_empty());
    let text = metrics_text(&registry);
    assert_eq!(metric_value(&text, "strata_ingester_flushes_total{shard=\"0\",outcome=\"error\"}"), Some(1.0));

    // The bucket comes up: the retry uploads the same files (none rewritten).
    let s3 = S3Server::start_on(port);
    s3.create_bucket("strata");
    block_on(ingester.flush_now()).unwrap();
    assert_eq!(manifest.current().files, local_files);
    assert!(log.start_offsets().iter().any(|o| *o > 0), "released after the upload");
    assert!(block_on(HeadReader::progress(&ingester)).unwrap().iter().all(|p| p.flushed == p.consumed));
    assert!(head_samples(&ingester).is_empty());
    assert_eq!(query_all(&ingester, &store), expected);
    let flushed = manifest.current().flushed_offsets.clone();

    // More data stays in the head (and the log); then the machine is lost.
    for round in FLUSHED_ROUNDS..FLUSHED_ROUNDS + 2 {
        append_round(&*log, round, &mut expected);
    }
    block_on(ingester.wait_caught_up()).unwrap();
    ingester.shutdown();
    drop((ingester, store, manifest));

    // A new machine: an empty data directory, the same log and bucket.
    let (restored, _gc) = os.open_writer(&dir.path().join("data-new")).unwrap();
    assert_eq!(restored.current().flushed_offsets, flushed);
    let (ingester, _registry) = start(config(1), &log, &restored);
    block_on(ingester.wait_caught_up()).unwrap();
    assert_eq!(head_samples(&ingester).len(), 2 * SERIES * TENANTS.len(), "only the two unflushed rounds replay");
    assert_eq!(query_all(&ingester, &Store::new(restored.clone())), expected);
    ingester.shutdown();
}
