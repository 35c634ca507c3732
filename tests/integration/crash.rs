//! Crash safety: SIGKILL the process in the middle of a push stream (with
//! flushes and compactions happening), restart it, let it compact again, and
//! prove every acknowledged sample is present exactly once, and nothing that
//! was never sent appears.

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
}
