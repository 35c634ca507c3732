//! Crash safety: SIGKILL the process in the middle of a push stream (with
//! flushes and compactions happening), restart it, let it compact again, and
//! prove every acknowledged sample is present exactly once, and nothing that
//! was never sent appears.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;

use super::harness::{Strata, series, snappy, write_request};
use super::push_query::T0;

const WRITERS: usize = 3;
const SERIES_PER_REQUEST: usize = 20;
const SAMPLES_PER_SERIES: i64 = 5;

/// Request `k` of writer `w`: SERIES_PER_REQUEST series, each with
/// SAMPLES_PER_SERIES samples at distinct timestamps; value = timestamp.
fn request(w: usize, k: i64) -> Vec<u8> {
    let ts: Vec<(i64, f64)> = (0..SAMPLES_PER_SERIES)
        .map(|j| {
            let t = T0 + (k * SAMPLES_PER_SERIES + j) * 1000;
            (t, t as f64)
        })
        .collect();
    let w = w.to_string();
    let all = (0..SERIES_PER_REQUEST)
        .map(|i| series(&[("__name__", "crash_test"), ("writer", &w), ("s", &i.to_string())], &ts))
        .collect();
    snappy(&write_request(all).encode_to_vec())
}

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
                        .body(request(w, k))
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
    // One range selector that covers every sample ever sent (1 s apart).
    let sent_secs = (*attempted.iter().max().unwrap() + 1) * SAMPLES_PER_SERIES;
    let end = (T0 + sent_secs * 1000) as f64 / 1000.0;
    let data = s.query(&format!("crash_test[{}s]", sent_secs + 60), end);
    assert_eq!(data["resultType"], "matrix");
    let mut seen: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for series in data["result"].as_array().unwrap() {
        let key = (
            series["metric"]["writer"].as_str().unwrap().to_string(),
            series["metric"]["s"].as_str().unwrap().to_string(),
        );
        for v in series["values"].as_array().unwrap() {
            let t = (v[0].as_f64().unwrap() * 1000.0).round() as i64;
            assert_eq!(v[1].as_str().unwrap().parse::<f64>().unwrap(), t as f64, "value of {key:?} at {t}");
            seen.entry(key.clone()).or_default().push(t);
        }
    }
    for w in 0..WRITERS {
        for i in 0..SERIES_PER_REQUEST {
            let ts = seen.get(&(w.to_string(), i.to_string())).cloned().unwrap_or_default();
            let unique: BTreeSet<i64> = ts.iter().copied().collect();
            assert_eq!(unique.len(), ts.len(), "duplicate samples in writer {w} series {i}");
            let n = ts.len() as i64;
            let acked_n = (acked[w] + 1) * SAMPLES_PER_SERIES;
            let attempted_n = (attempted[w] + 1) * SAMPLES_PER_SERIES;
            assert!(n >= acked_n, "writer {w} series {i}: {n} samples, {acked_n} acknowledged");
            assert!(n <= attempted_n, "writer {w} series {i}: {n} samples, only {attempted_n} ever sent");
            // No gaps: samples are a prefix of what was sent.
            let want: Vec<i64> = (0..n).map(|j| T0 + j * 1000).collect();
            assert_eq!(unique.into_iter().collect::<Vec<_>>(), want, "writer {w} series {i}");
        }
    }
}
