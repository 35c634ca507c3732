//! The binary with `[storage.object]` against a real S3 server (moto):
//! flushes reach the bucket, the object store metrics are exported, and a
//! lost data directory (the log on another disk survives) is restored from
//! the bucket at start-up with every sample still queryable; a process
//! killed while the bucket is unreachable uploads at restart.

use std::time::{Duration, Instant};

use strata_storage::object::test_server::{Proxy, S3Server};
use strata_storage::object::{Bucket, ObjectMetrics};
use strata_storage::{Manifest, manifest::MANIFEST_FILE};

use super::harness::{Strata, series, write_request};
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

#[test]
fn killed_while_the_bucket_is_unreachable_uploads_at_restart_and_loses_nothing() {
    let s3 = S3Server::start();
    s3.create_bucket("strata");
    let proxy = Proxy::start(s3.port);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    write_config(&config, &dir.path().join("log"), proxy.port);
    let data = dir.path().join("data");
    let mut s = Strata::start(&data, &["--config", config.to_str().unwrap()]);
    let bucket = Bucket::connect(&s3.config("strata", "aio"), ObjectMetrics::default()).unwrap();
    push_fixture(&s);
    // Everything pushed is flushed and in the bucket: no flush is in flight
    // when the bucket goes away (a cut PUT may or may not have landed).
    let uploaded = wait_for(|| {
        let flushed = all_flushed(&s)?;
        let local = local_manifest(&data)?;
        bucket_manifest(&bucket).filter(|m| m.version == local.version && m.flushed_offsets == flushed)
    });

    // The bucket becomes unreachable; a flush commits locally, its upload fails.
    proxy.set_up(false);
    let r = s.push(&write_request(vec![series(&[("__name__", "after_outage")], &[(T0, 7.0)])]));
    assert_eq!(r.status().as_u16(), 204);
    let local = wait_for(|| local_manifest(&data).filter(|m| m.version > uploaded.version));
    wait_for(|| {
        let text = reqwest::blocking::get(format!("{}/metrics", s.base)).ok()?.text().ok()?;
        let failed: f64 = text
            .lines()
            .filter(|l| l.starts_with("strata_ingester_flushes_total{") && l.contains("outcome=\"error\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        (failed >= 1.0).then_some(())
    });
    assert_eq!(bucket_manifest(&bucket).unwrap().version, uploaded.version, "nothing reached the bucket");

    // Killed between the local commit and the upload; the bucket comes back.
    s.kill();
    proxy.set_up(true);
    s.start_again();
    let m = wait_for(|| bucket_manifest(&bucket).filter(|m| m.version >= local.version));
    let objects: Vec<String> = bucket.list("files").unwrap().into_iter().map(|l| l.rel).collect();
    assert!(m.files.iter().all(|f| objects.contains(&f.path)));
    assert_fixture_results(&s);
    assert_eq!(s.query("after_outage", T0 as f64 / 1000.0)["result"][0]["value"][1], "7");

    // And the bucket alone (plus the log) is enough.
    s.kill();
    std::fs::remove_dir_all(&data).unwrap();
    s.start_again();
    assert_fixture_results(&s);
    assert_eq!(s.query("after_outage", T0 as f64 / 1000.0)["result"][0]["value"][1], "7");
}

fn write_config(path: &std::path::Path, log: &std::path::Path, port: u16) {
    std::fs::write(
        path,
        format!(
            "[log]\ndir = {log:?}\n[ingester]\nflush_interval_ms = 200\nlag_poll_interval_ms = 100\n[storage.object]\nurl = \"s3://strata/aio\"\n\
             endpoint = \"http://127.0.0.1:{port}\"\nregion = \"us-east-1\"\naccess_key_id = \"test\"\n\
             secret_access_key = \"test\"\nallow_http = true\nrequest_timeout_ms = 2000\nmax_retries = 0\n"
        ),
    )
    .unwrap();
}

/// The flushed offsets once every record in the log is flushed, read from
/// a status refreshed after this call started.
fn all_flushed(s: &Strata) -> Option<std::collections::BTreeMap<u32, u64>> {
    let asked = Instant::now();
    std::thread::sleep(Duration::from_millis(250));
    let status: serde_json::Value = reqwest::blocking::get(format!("{}/ingester/status", s.base)).ok()?.json().ok()?;
    let fresh = status["updated_ms_ago"].as_u64()? < asked.elapsed().as_millis() as u64;
    let partitions = status["partitions"].as_array()?;
    let done = partitions.iter().all(|p| p["flushed_offset"] == p["end_offset"]);
    (fresh && done).then(|| {
        partitions
            .iter()
            .map(|p| (p["partition"].as_u64().unwrap() as u32, p["flushed_offset"].as_u64().unwrap()))
            .collect()
    })
}

fn bucket_manifest(bucket: &Bucket) -> Option<Manifest> {
    bucket.get_bytes(MANIFEST_FILE).unwrap().map(|b| Manifest::decode(&b, MANIFEST_FILE.as_ref()).unwrap())
}

fn local_manifest(data: &std::path::Path) -> Option<Manifest> {
    let b = std::fs::read(data.join(MANIFEST_FILE)).ok()?;
    Some(Manifest::decode(&b, MANIFEST_FILE.as_ref()).unwrap())
}

/// Polls `f` until it returns Some (30 s at most).
fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "condition not met within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}
