//! The dashboard query set: latency medians and per-query peak memory of
//! the queries a Grafana dashboard over the workload issues — a
//! high-cardinality `sum by` (10 input series per group, and one per
//! group), `rate` over every counter, `histogram_quantile`, `topk` and a
//! subquery — on each system, side by side.
//!
//! Peak memory, per system:
//! - Strata: `data.stats.strata.peakMemoryBytes` from `stats=all` — the
//!   engine's own accountant (samples, step values, groups, label sets held
//!   at once).
//! - Prometheus: `data.stats.samples.peakSamples` from `stats=all` × 16
//!   bytes (one `FPoint`: i64 time + f64 value). A lower bound of what its
//!   engine holds: labels, maps and Go's GC overhead are not counted, so the
//!   ratio understates Prometheus's real footprint.
//! - VictoriaMetrics reports no per-query memory: shown as `n/a`.

use std::time::Instant;

use anyhow::{Result, bail};

use crate::systems::{Kind, System};
use crate::workload::Workload;

/// `(name, query)` of every dashboard query.
pub const DASHBOARD: [(&str, &str); 7] = [
    ("high-cardinality sum by", "sum by (host) (cpu_usage_percent)"),
    ("one group per series", "sum by (host, cpu) (cpu_usage_percent)"),
    ("rate over all counters", "sum by (code) (rate(http_requests_total[5m]))"),
    (
        "histogram_quantile",
        "histogram_quantile(0.99, sum by (le, dc) (rate(http_request_duration_seconds_bucket[5m])))",
    ),
    ("topk", "topk(10, max by (host) (cpu_usage_percent))"),
    ("subquery", "max_over_time(sum by (dc) (rate(node_network_receive_bytes_total[1m]))[5m:30s])"),
    ("low-cardinality avg by", "avg by (dc) (cpu_usage_percent)"),
];

/// One query on one system.
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    pub median_ms: f64,
    /// Peak query memory in bytes, where the system reports it.
    pub peak_bytes: Option<u64>,
}

/// Runs every dashboard query `runs` times as a range query over the whole
/// workload (15 s step) with `stats=all`.
pub fn measure(sys: &System, w: &Workload, runs: usize) -> Result<Vec<Measure>> {
    let client = reqwest::blocking::Client::new();
    let (start, end) = ((w.start_ms / 1000).to_string(), (w.end_ms() / 1000).to_string());
    let mut out = Vec::with_capacity(DASHBOARD.len());
    for (_, query) in DASHBOARD {
        let mut times = Vec::with_capacity(runs);
        let mut peak = None;
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            let resp = sys
                .query(&client, "/api/v1/query_range")
                .query(&[("query", query), ("start", &start), ("end", &end), ("step", "15"), ("stats", "all")])
                .send()?;
            let status = resp.status();
            let body: serde_json::Value = resp.json()?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            if !status.is_success() || body["status"] != "success" {
                bail!("{} failed {query}: {status} {body}", sys.kind.name());
            }
            if body["data"]["result"].as_array().is_none_or(|r| r.is_empty()) {
                bail!("{} returned no series for {query}", sys.kind.name());
            }
            peak = peak_bytes(sys.kind, &body["data"]["stats"]).max(peak);
        }
        times.sort_by(f64::total_cmp);
        out.push(Measure { median_ms: times[times.len() / 2], peak_bytes: peak });
    }
    Ok(out)
}

/// The peak query memory a system's `stats=all` answer implies (see the
/// module docs for the method).
fn peak_bytes(kind: Kind, stats: &serde_json::Value) -> Option<u64> {
    match kind {
        Kind::Strata | Kind::StrataKafka => stats["strata"]["peakMemoryBytes"].as_u64(),
        Kind::Prometheus => stats["samples"]["peakSamples"].as_u64().map(|n| n * 16),
        Kind::VictoriaMetrics => None,
    }
}

/// Prints latency and peak memory per query with ratios against Strata
/// (`> 1`: Strata is faster / smaller), then the median latency ratio.
pub fn report(results: &[(Kind, Vec<Measure>)]) {
    // Ratios are against Strata, or the first system run when it is not.
    let strata = results.iter().find(|(k, _)| *k == Kind::Strata).or(results.first()).map(|(_, m)| m);
    println!("\ndashboard queries (query_range, step 15s, stats=all); ratios = system / strata, >1: Strata better");
    println!("  {:<26} {:<16} {:>10} {:>7} {:>12} {:>8}", "query", "system", "median ms", "ratio", "peak KiB", "ratio");
    for (i, (name, _)) in DASHBOARD.iter().enumerate() {
        for (kind, m) in results {
            let s = strata.map(|s| s[i]);
            let lat_ratio = s.map_or(f64::NAN, |s| m[i].median_ms / s.median_ms);
            let peak = m[i].peak_bytes.map_or("n/a".to_string(), |b| (b >> 10).to_string());
            let mem_ratio = match (m[i].peak_bytes, s.and_then(|s| s.peak_bytes)) {
                (Some(b), Some(sb)) if sb > 0 => format!("{:.2}x", b as f64 / sb as f64),
                _ => "n/a".to_string(),
            };
            println!(
                "  {:<26} {:<16} {:>10.2} {:>6.2}x {:>12} {:>8}",
                name,
                kind.name(),
                m[i].median_ms,
                lat_ratio,
                peak,
                mem_ratio
            );
        }
    }
    // The median of each system's per-query medians.
    for (kind, m) in results {
        let mut ms: Vec<f64> = m.iter().map(|m| m.median_ms).collect();
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        let median = if n.is_multiple_of(2) { (ms[n / 2 - 1] + ms[n / 2]) / 2.0 } else { ms[n / 2] };
        println!("  median latency of the set: {:<16} {:>9.2} ms", kind.name(), median);
    }
}
