//! The binary with `[storage.object]` against a real S3 server (moto):
//! flushes reach the bucket, the object store metrics are exported, and a
//! lost data directory (the log on another disk survives) is restored from
//! the bucket at start-up with every sample still queryable.

use std::time::{Duration, Instant};

use strata_storage::object::test_server::S3Server;
use strata_storage::object::{Bucket, ObjectMetrics};
use strata_storage::{Manifest, manifest::MANIFEST_FILE};

use super::harness::Strata;
use super::push_query::{T0, assert_fixture_results, push_fixture};

#[test]
fn flushes_reach_the_bucket_and_a_lost_data_directory_is_restored() {
    let s3 = S3Server::start();
    s3.create_bucket("strata");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\ndir = {log:?}\n[ingester]\nflush_interval_ms = 200\n[storage.object]\nurl = \"s3://strata/aio\"\n\
             endpoint = \"http://127.0.0.1:{port}\"\nregion = \"us-east-1\"\naccess_key_id = \"test\"\n\
             secret_access_key = \"test\"\nallow_http = true\n",
            log = dir.path().join("log"),
            port = s3.port
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut s = Strata::start(&data, &["--config", config.to_str().unwrap()]);
    push_fixture(&s);

    // The interval flush uploads the files, then the manifest.
    let bucket = Bucket::connect(&s3.config("strata", "aio"), ObjectMetrics::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let manifest = loop {
        if let Some(b) = bucket.get_bytes(MANIFEST_FILE).unwrap() {
            let m = Manifest::decode(&b, MANIFEST_FILE.as_ref()).unwrap();
            if !m.files.is_empty() {
                break m;
            }
        }
        assert!(Instant::now() < deadline, "no flushed manifest in the bucket within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    let objects: Vec<String> = bucket.list("files").unwrap().into_iter().map(|l| l.rel).collect();
    for f in &manifest.files {
        assert!(objects.contains(&f.path), "{} missing from the bucket", f.path);
    }
    let metrics = reqwest::blocking::get(format!("{}/metrics", s.base)).unwrap().text().unwrap();
    let uploads = metrics.lines().find(|l| l.starts_with("strata_object_store_uploads_total ")).unwrap();
    assert!(uploads.rsplit(' ').next().unwrap().parse::<f64>().unwrap() >= 2.0, "{uploads}");

    // The data disk is lost; the log's disk is not.
    s.kill();
    std::fs::remove_dir_all(&data).unwrap();
    s.start_again();
    assert!(data.join(MANIFEST_FILE).exists(), "restored at start-up");
    assert_fixture_results(&s);
    assert!(!s.query("temperature", (T0 + 60_000) as f64 / 1000.0)["result"].as_array().unwrap().is_empty());
}
