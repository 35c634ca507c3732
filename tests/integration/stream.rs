//! The push-stream workload of the crash and cluster tests, and its check.
//!
//! Writer `w`'s request `k` holds [`SERIES_PER_REQUEST`] series
//! `{__name__=<metric>, writer="w", s="i"}`, each with
//! [`SAMPLES_PER_SERIES`] samples 1 s apart following those of request
//! `k - 1`; every value equals its timestamp. Requests of one writer are
//! sent in order, so what a process holds must be a prefix of each series.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;

use super::harness::{Strata, series, snappy, write_request};
use super::push_query::T0;

pub const SERIES_PER_REQUEST: usize = 20;
pub const SAMPLES_PER_SERIES: i64 = 5;

/// Request `k` of writer `w` for `metric`, snappy-compressed protobuf.
pub fn request(metric: &str, w: usize, k: i64) -> Vec<u8> {
    let ts: Vec<(i64, f64)> = (0..SAMPLES_PER_SERIES)
        .map(|j| {
            let t = T0 + (k * SAMPLES_PER_SERIES + j) * 1000;
            (t, t as f64)
        })
        .collect();
    let w = w.to_string();
    let all = (0..SERIES_PER_REQUEST)
        .map(|i| series(&[("__name__", metric), ("writer", &w), ("s", &i.to_string())], &ts))
        .collect();
    snappy(&write_request(all).encode_to_vec())
}

/// Queries `metric` from `strata` and asserts, per writer `w`: every sample
/// of requests `0..=acked[w]` is present exactly once, nothing beyond
/// request `attempted[w]` (never sent), right values, no gaps.
pub fn verify_exactly_once(strata: &Strata, metric: &str, acked: &[i64], attempted: &[i64]) {
    // One range selector that covers every sample ever sent (1 s apart).
    let sent_secs = (*attempted.iter().max().unwrap() + 1) * SAMPLES_PER_SERIES;
    let end = (T0 + sent_secs * 1000) as f64 / 1000.0;
    let data = strata.query(&format!("{metric}[{}s]", sent_secs + 60), end);
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
    for w in 0..acked.len() {
        for i in 0..SERIES_PER_REQUEST {
            let ts = seen.get(&(w.to_string(), i.to_string())).cloned().unwrap_or_default();
            let unique: BTreeSet<i64> = ts.iter().copied().collect();
            assert_eq!(unique.len(), ts.len(), "duplicate samples in writer {w} series {i}");
            let n = ts.len() as i64;
            let acked_n = (acked[w] + 1) * SAMPLES_PER_SERIES;
            let attempted_n = (attempted[w] + 1) * SAMPLES_PER_SERIES;
            assert!(n >= acked_n, "writer {w} series {i}: {n} samples, {acked_n} acknowledged");
            assert!(n <= attempted_n, "writer {w} series {i}: {n} samples, only {attempted_n} ever sent");
            let want: Vec<i64> = (0..n).map(|j| T0 + j * 1000).collect();
            assert_eq!(unique.into_iter().collect::<Vec<_>>(), want, "writer {w} series {i}: gaps");
        }
    }
}
