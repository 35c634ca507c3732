//! Crash safety: SIGKILL the process in the middle of a push stream (with
//! flushes and compactions happening), restart it, let it compact again, and
//! prove every acknowledged sample is present exactly once, and nothing that
//! was never sent appears. And the log's space: once everything is flushed
//! (by the flush interval, or by a graceful stop) the embedded log's
//! segments hold nothing, across SIGKILLs and restarts.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::harness::Strata;
use super::stream::{request, verify_exactly_once};

const WRITERS: usize = 3;
#[test]
fn sigkill_mid_ingestion_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        "[ingester]\nflush_interval_ms = 150\n[compaction]\ninterval_ms = 100\nsettle_ms = 200\n\
         delete_delay_ms = 0\nmax_bytes_per_sec = 0\nlevel_windows_ms = [60000, 600000]\n",
    )
    .unwrap();
    let mut s = Strata::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    let url = format!("{}/api/v1/push", s.base);

    // acked[w] = highest k acknowledged (requests of one writer are sequential).
    let acked = Arc::new(Mutex::new(vec![-1i64; WRITERS]));
    let attempted = Arc::new(Mutex::new(vec![-1i64; WRITERS]));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (url, acked, attempted, stop) = (url.clone(), acked.clone(), attempted.clone(), stop.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
                for k in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    attempted.lock().unwrap()[w] = k;
                    let r = client
                        .post(&url)
                        .header("Content-Type", "application/x-protobuf")
                        .header("Content-Encoding", "snappy")
                        .body(request("crash_test", w, k))
                        .send();
                    match r {
                        Ok(r) if r.status().as_u16() == 204 => acked.lock().unwrap()[w] = k,
                        _ => break, // the server died: this request is unacknowledged
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    s.kill();
    stop.store(true, Ordering::Relaxed);
    for t in writers {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let attempted = attempted.lock().unwrap().clone();
    assert!(acked.iter().all(|&k| k >= 5), "too few pushes before the kill: {acked:?}");

    s.restart();
    // Let the restarted process flush and compact what it replayed.
    let metrics_url = format!("{}/metrics", s.base);
    let compactions = || {
        let text = reqwest::blocking::get(&metrics_url).unwrap().text().unwrap();
        text.lines()
            .find(|l| l.starts_with("strata_compaction_jobs_total{outcome=\"ok\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while compactions() < 1.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(compactions() >= 1.0, "the restarted process never compacted");
    verify_exactly_once(&s, "crash_test", &acked, &attempted);
    // Everything replayed is flushed by now or soon: the log gives the space back.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while log_bytes(&s.data_dir) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(log_bytes(&s.data_dir), 0, "flushed log segments are still on disk");
}

/// Bytes of the embedded log's segment files (`<data>/log/p-*/*.seg`).
fn log_bytes(data: &Path) -> u64 {
    let mut total = 0;
    for part in std::fs::read_dir(data.join("log")).unwrap().flatten() {
        if part.path().is_dir() {
            for seg in std::fs::read_dir(part.path()).unwrap().flatten() {
                total += seg.metadata().unwrap().len();
            }
        }
    }
    total
}

/// With the default flush interval nothing is flushed while the process
/// runs: the log holds every acknowledged record across a SIGKILL, a
/// graceful stop flushes them and leaves the log empty, and everything
/// acknowledged is still there after each restart.
#[test]
fn a_graceful_stop_flushes_and_leaves_the_log_empty() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Strata::start(&dir.path().join("data"), &[]);
    let client = reqwest::blocking::Client::new();
    let push = |s: &Strata, k: i64| {
        let r = client
            .post(format!("{}/api/v1/push", s.base))
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .body(request("rest_test", 0, k))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
    };
    for k in 0..10 {
        push(&s, k);
    }
    let held = log_bytes(&s.data_dir);
    assert!(held > 0, "acknowledged records are in the log");
    s.kill();
    s.start_again();
    verify_exactly_once(&s, "rest_test", &[9], &[9]);
    assert_eq!(log_bytes(&s.data_dir), held, "nothing was flushed, so the log keeps everything");

    s.stop();
    assert_eq!(log_bytes(&s.data_dir), 0, "a graceful stop flushes, and the log gives back the flushed segments");
    s.start_again();
    verify_exactly_once(&s, "rest_test", &[9], &[9]);
    // Appends go on after the released offsets; a SIGKILL loses none of them.
    for k in 10..15 {
        push(&s, k);
    }
    assert!(log_bytes(&s.data_dir) > 0);
    s.kill();
    s.start_again();
    verify_exactly_once(&s, "rest_test", &[14], &[14]);
    s.stop();
    assert_eq!(log_bytes(&s.data_dir), 0);
}
