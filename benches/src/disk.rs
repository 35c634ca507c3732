//! `loadgen --mode disk`: bytes per sample on disk after compaction, for the
//! same workload, side by side:
//! - **Strata**: pushed over remote write with short flush/compaction
//!   intervals; measured once every sample is in compacted (level ≥ 1)
//!   files: the `files/` directory plus the manifest (the log is the WAL and
//!   is released after flushes; excluded like the references' WALs).
//! - **Prometheus**: the same samples written as OpenMetrics and turned into
//!   TSDB blocks by `promtool tsdb create-blocks-from openmetrics` (the
//!   compacted block format: chunks + index + meta).
//! - **VictoriaMetrics**: pushed over remote write, then
//!   `/internal/force_flush` and `/internal/force_merge`; its data and
//!   indexdb directories (caches excluded).

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use prost::Message;
use strata_distributor::proto::WriteRequest;

use crate::systems::{Kind, System};
use crate::workload::{Lanes, Workload};

/// Strata settings that make flushes and compactions happen within seconds.
pub const STRATA_TOML: &str = "[ingester]\nflush_interval_ms = 2000\n\
    [compaction]\ninterval_ms = 500\nsettle_ms = 0\ndelete_delay_ms = 0\nmax_bytes_per_sec = 0\n";

/// Bytes under `dir`, skipping directories named in `skip`.
pub fn du(dir: &Path, skip: &[&str]) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => {
                        if skip.iter().any(|s| e.file_name() == *s) {
                            0
                        } else {
                            du(&e.path(), skip)
                        }
                    }
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Waits until Strata's manifest holds every sample in level ≥ 1 files;
/// returns the bytes of the files and the manifest.
pub fn strata_compacted_bytes(sys: &System, total_samples: usize) -> Result<u64> {
    let data = sys.data_dir();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Ok(text) = std::fs::read_to_string(data.join("MANIFEST.json")) {
            let m: serde_json::Value = serde_json::from_str(&text)?;
            let files = m["manifest"]["files"].as_array().cloned().unwrap_or_default();
            let samples: u64 = files.iter().filter_map(|f| f["samples"].as_u64()).sum();
            let level0 = files.iter().filter(|f| f["level"].as_u64() == Some(0)).count();
            if samples == total_samples as u64 && level0 == 0 && !files.is_empty() {
                // Compaction outputs are in; give deletion of the inputs a moment.
                std::thread::sleep(Duration::from_secs(2));
                let bytes: u64 = files.iter().filter_map(|f| f["bytes"].as_u64()).sum();
                return Ok(bytes + text.len() as u64);
            }
        }
        if Instant::now() > deadline {
            bail!("strata did not compact everything within 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Forces VictoriaMetrics to flush and merge, then measures its storage.
pub fn victoriametrics_compacted_bytes(sys: &System, w: &Workload) -> Result<u64> {
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(600)).build()?;
    client.get(format!("{}/internal/force_flush", sys.base)).send()?.error_for_status()?;
    let stored = stored_samples(&client, sys, w)?;
    if stored != w.total_samples() as u64 {
        bail!("victoriametrics holds {stored} samples, {} were pushed", w.total_samples());
    }
    let mut months: Vec<String> = [w.start_ms, w.end_ms()].iter().map(|&t| month_prefix(t)).collect();
    months.dedup();
    for m in months {
        client.get(format!("{}/internal/force_merge?partition_prefix={m}", sys.base)).send()?.error_for_status()?;
    }
    // force_merge starts merges in the background: wait until the size is stable.
    let mut last = 0;
    let mut stable = 0;
    while stable < 5 {
        std::thread::sleep(Duration::from_secs(1));
        let now = du(sys.data_dir(), &["cache", "tmp", "txn", "snapshots"]);
        stable = if now == last { stable + 1 } else { 0 };
        last = now;
    }
    Ok(last)
}

/// Samples a system answers for over the workload's range (checks that
/// every pushed sample is stored before its bytes are compared).
fn stored_samples(client: &reqwest::blocking::Client, sys: &System, w: &Workload) -> Result<u64> {
    let range_s = (w.end_ms() - w.start_ms) / 1000 + 60;
    let query = format!("sum(count_over_time({{__name__!=\"\"}}[{range_s}s]))");
    let end = format!("{:.3}", w.end_ms() as f64 / 1000.0);
    let body: serde_json::Value = client
        .get(format!("{}/api/v1/query", sys.base))
        .query(&[("query", query.as_str()), ("time", &end)])
        .send()?
        .json()?;
    let v = body["data"]["result"][0]["value"][1].as_str().context("no count in the answer")?;
    Ok(v.parse::<f64>()? as u64)
}

/// `YYYY_MM` of a Unix millisecond timestamp (VictoriaMetrics' partition names).
fn month_prefix(t_ms: i64) -> String {
    // Civil-from-days (H. Hinnant).
    let z = t_ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}_{m:02}")
}

/// Writes the workload as OpenMetrics and builds Prometheus blocks from it
/// with promtool; returns the blocks' bytes.
pub fn prometheus_block_bytes(lanes: &Lanes) -> Result<u64> {
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("workload.om");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&input)?);
    let mut decoder = snap::raw::Decoder::new();
    for r in lanes.iter().flatten() {
        let req = WriteRequest::decode(decoder.decompress_vec(&r.body)?.as_slice())?;
        for ts in &req.timeseries {
            let name = ts.labels.iter().find(|l| l.name == "__name__").map_or("", |l| l.value.as_str());
            let labels: Vec<String> = ts
                .labels
                .iter()
                .filter(|l| l.name != "__name__")
                .map(|l| format!("{}=\"{}\"", l.name, l.value))
                .collect();
            for s in &ts.samples {
                let (secs, ms) = (s.timestamp.div_euclid(1000), s.timestamp.rem_euclid(1000));
                writeln!(out, "{name}{{{}}} {} {secs}.{ms:03}", labels.join(","), s.value)?;
            }
        }
    }
    writeln!(out, "# EOF")?;
    out.flush()?;
    drop(out);
    let blocks = dir.path().join("blocks");
    let status = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(&input)
        .arg(&blocks)
        .status()
        .context("running promtool (is it installed?)")?;
    if !status.success() {
        bail!("promtool tsdb create-blocks-from openmetrics failed: {status}");
    }
    Ok(du(&blocks, &[]))
}

/// Prints bytes and bytes/sample per system, with ratios to Strata.
pub fn report(results: &[(Kind, u64)], samples: usize) {
    let strata = results.iter().find(|r| r.0 == Kind::Strata).map(|r| r.1 as f64);
    println!("\nbytes on disk after compaction, {samples} samples");
    println!("{:<16} {:>14} {:>14} {:>12}", "system", "bytes", "bytes/sample", "vs strata");
    for (kind, bytes) in results {
        let ratio = strata.map_or(f64::NAN, |s| *bytes as f64 / s);
        println!("{:<16} {:>14} {:>14.3} {:>11.2}x", kind.name(), bytes, *bytes as f64 / samples as f64, ratio);
    }
    println!("(\"vs strata\" = system bytes / strata bytes: >1 means Strata is smaller)");
}
