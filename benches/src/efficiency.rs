//! `loadgen --mode efficiency`: what ingest costs and what the data costs at
//! rest, Strata (all-in-one) and VictoriaMetrics side by side, on the same
//! pushed requests (TSBS-like by default, `--data node` for the loadgen's
//! own data set).
//!
//! Per system, in one run:
//! 1. start it (Strata with its default ingest settings; compaction told to
//!    act within a second so step 4 does not wait minutes), remember its
//!    CPU time (`utime + stime` of the server process, `/proc/<pid>/stat`);
//! 2. push every request (`--concurrency` senders, 2,000 samples each), then
//!    wait until a query sees every sample (Strata: a strong-consistency
//!    query; VictoriaMetrics: `/internal/force_flush`): the push rate, the
//!    push→queryable time, and the server CPU over push + settle, per sample;
//! 3. read the peak resident memory (`VmHWM`) of the server process;
//!    Strata: SIGKILL and restart it, and time the replay of the log until
//!    `/ready` (samples applied by the new process / seconds, per core);
//! 4. bring the data to rest and measure the **whole data directory**:
//!    - Strata: a graceful stop (SIGTERM: flushes the memtables, the log
//!      gives back the flushed segments), a start on the same directory,
//!      compaction until no level-0 file is left and the manifest holds
//!      every sample, a graceful stop again;
//!    - VictoriaMetrics: `/internal/force_flush`, `/internal/force_merge`,
//!      until its size is stable, then a graceful stop (SIGINT).
//!
//! ```text
//! cargo build --release -p strata -p strata-benches
//! target/release/loadgen --mode efficiency --strata-bin target/release/strata \
//!     --hosts 200 --hours 2 --concurrency 4
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::disk::{du, strata_compacted_bytes};
use crate::push;
use crate::systems::{Kind, System};
use crate::workload::{Lanes, Workload};

/// Strata: default ingest settings; compaction acts within a second of a
/// flush, so the measurement at rest does not wait for the defaults' minutes.
pub const STRATA_TOML: &str =
    "[compaction]\ninterval_ms = 500\nsettle_ms = 0\ndelete_delay_ms = 0\nmax_bytes_per_sec = 0\n";

/// One system's figures.
pub struct Measured {
    pub kind: Kind,
    pub push_s: f64,
    /// From the end of the push until a query sees every sample.
    pub queryable_s: f64,
    /// Server CPU seconds over push + settle.
    pub cpu_s: f64,
    /// Peak resident memory of the server process (`VmHWM`).
    pub peak_rss: u64,
    /// The whole data directory at rest, after compaction.
    pub rest_bytes: u64,
    /// What part of `rest_bytes` is the log / the WAL (Strata: `log/`).
    pub log_bytes: u64,
    /// Strata: log record bytes appended by the push (what the log writes
    /// and fsyncs), from `strata_distributor_appended_bytes_total`.
    pub appended_bytes: Option<u64>,
    /// Strata: the replay of the log after a SIGKILL.
    pub replay: Option<Replay>,
}

/// Runs `kinds` one after the other and prints the table.
pub fn run(
    kinds: &[Kind],
    strata_bin: &Path,
    w: &Workload,
    lanes: std::sync::Arc<Lanes>,
    rt: &tokio::runtime::Runtime,
) -> Result<()> {
    let mut results = Vec::new();
    for &kind in kinds {
        let toml = if kind == Kind::Strata { STRATA_TOML } else { "" };
        let mut sys = System::start_with(kind, strata_bin, toml)?;
        let cpu0 = sys.cpu_seconds()?;
        eprintln!("{}: pushing", kind.name());
        let push = rt
            .block_on(push::push(&sys, lanes.clone(), w.start_ms))
            .with_context(|| format!("ingest into {}", kind.name()))?;
        let settling = Instant::now();
        sys.settle()?;
        let queryable_s = settling.elapsed().as_secs_f64();
        let cpu_s = sys.cpu_seconds()? - cpu0;
        let peak_rss = sys.peak_rss_bytes()?;
        let appended_bytes = match kind {
            Kind::Strata => Some(metric_sum(&sys, "strata_distributor_appended_bytes_total")? as u64),
            _ => None,
        };
        eprintln!(
            "{}: pushed in {:.1} s, queryable {queryable_s:.2} s later, {:.3} us CPU/sample; bringing to rest",
            kind.name(),
            push.as_secs_f64(),
            cpu_s * 1e6 / w.total_samples() as f64
        );
        let replay = match kind {
            Kind::Strata => Some(strata_replay(&mut sys)?),
            _ => None,
        };
        let (rest_bytes, log_bytes) = match kind {
            Kind::Strata => strata_at_rest(&mut sys, w)?,
            Kind::VictoriaMetrics => (victoriametrics_at_rest(&mut sys)?, 0),
            other => anyhow::bail!("--mode efficiency runs strata and victoriametrics, not {}", other.name()),
        };
        results.push(Measured {
            kind,
            push_s: push.as_secs_f64(),
            queryable_s,
            cpu_s,
            peak_rss,
            rest_bytes,
            log_bytes,
            appended_bytes,
            replay,
        });
    }
    report(&results, w);
    Ok(())
}

/// SIGKILL, restart, and the time until `/ready` (which waits until every
/// partition is consumed to its end): the samples the restarted process
/// applied to its memtables, and that time.
fn strata_replay(sys: &mut System) -> Result<Replay> {
    let secs = sys.replay()?.as_secs_f64();
    // The restarted process's CPU time until `/ready`: its start, the
    // replay, and a few readiness polls.
    let cpu_secs = sys.cpu_seconds()?;
    let samples = metric_sum(sys, "strata_ingester_samples_appended_total")? as u64;
    eprintln!("strata: replayed {samples} samples in {secs:.2} s ({cpu_secs:.2} CPU-s) after SIGKILL");
    Ok(Replay { samples, secs, cpu_secs })
}

/// A replay of the log after SIGKILL.
#[derive(Debug, Clone, Copy)]
pub struct Replay {
    /// Samples the restarted process applied to its memtables.
    pub samples: u64,
    /// Restart to `/ready`.
    pub secs: f64,
    /// CPU seconds (user + system) the restarted process used until `/ready`.
    pub cpu_secs: f64,
}

/// The sum of every sample of `name` (any labels; an unlabelled metric's
/// value) on the system's `/metrics`.
fn metric_sum(sys: &System, name: &str) -> Result<f64> {
    let text = reqwest::blocking::get(format!("{}/metrics", sys.base))?.text()?;
    let mut sum = 0.0;
    for line in text.lines().filter(|l| l.split(['{', ' ']).next() == Some(name)) {
        sum += line.rsplit(' ').next().context("no value")?.parse::<f64>()?;
    }
    Ok(sum)
}

/// Graceful stop, start, compaction, graceful stop; the whole directory and its `log/`.
fn strata_at_rest(sys: &mut System, w: &Workload) -> Result<(u64, u64)> {
    sys.stop_gracefully()?;
    let stopped = du(sys.data_dir(), &[]);
    let log = du(&sys.data_dir().join("log"), &[]);
    eprintln!("strata: after a graceful stop: {stopped} bytes, of which the log {log}");
    sys.start_again()?;
    strata_compacted_bytes(sys, w.total_samples())?;
    sys.stop_gracefully()?;
    Ok((du(sys.data_dir(), &[]), du(&sys.data_dir().join("log"), &[])))
}

/// Flush, merge, wait until the size is stable, graceful stop; the whole directory.
fn victoriametrics_at_rest(sys: &mut System) -> Result<u64> {
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(600)).build()?;
    client.get(format!("{}/internal/force_flush", sys.base)).send()?.error_for_status()?;
    client.get(format!("{}/internal/force_merge", sys.base)).send()?.error_for_status()?;
    let mut last = 0;
    let mut stable = 0;
    while stable < 5 {
        std::thread::sleep(Duration::from_secs(1));
        let now = du(sys.data_dir(), &[]);
        stable = if now == last { stable + 1 } else { 0 };
        last = now;
    }
    sys.stop_gracefully()?;
    Ok(du(sys.data_dir(), &[]))
}

/// Prints one row per system and Strata's ratios to VictoriaMetrics.
pub fn report(results: &[Measured], w: &Workload) {
    let n = w.total_samples() as f64;
    println!(
        "\ningest efficiency: {:?} data, {} hosts x {} series x {} scrapes (10 s) = {} samples, {} senders x 2000 samples/request",
        w.data,
        w.hosts,
        w.data.series_per_host(),
        w.scrapes,
        w.total_samples(),
        w.workers
    );
    println!(
        "{:<16} {:>10} {:>8} {:>12} {:>11} {:>9} {:>14} {:>9} {:>12}",
        "system",
        "samples/s",
        "push s",
        "->queryable",
        "CPU us/smp",
        "peak MiB",
        "at rest bytes",
        "B/sample",
        "of it log"
    );
    for m in results {
        println!(
            "{:<16} {:>10.0} {:>8.1} {:>11.2}s {:>11.3} {:>9} {:>14} {:>9.3} {:>12}",
            m.kind.name(),
            n / m.push_s,
            m.push_s,
            m.queryable_s,
            m.cpu_s * 1e6 / n,
            m.peak_rss >> 20,
            m.rest_bytes,
            m.rest_bytes as f64 / n,
            m.log_bytes
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    for m in results {
        if let Some(b) = m.appended_bytes {
            println!("{}: the log was written {b} bytes, {:.1} per sample", m.kind.name(), b as f64 / n);
        }
        if let Some(Replay { samples, secs, cpu_secs }) = m.replay {
            let rate = samples as f64 / secs;
            println!(
                "{}: replay after SIGKILL: {samples} samples in {secs:.2} s (restart to /ready) = {rate:.0} samples/s, \
                 {:.0} per core on {cores} cores; {cpu_secs:.2} CPU-s = {:.0} samples per CPU-second \
                 (target >= 5,000,000 per core)",
                m.kind.name(),
                rate / cores as f64,
                samples as f64 / cpu_secs
            );
        }
    }
    let find = |k| results.iter().find(|m| m.kind == k);
    if let (Some(s), Some(v)) = (find(Kind::Strata), find(Kind::VictoriaMetrics)) {
        println!(
            "strata / victoriametrics: CPU per sample {:.2}x (target <= 0.67), bytes at rest {:.2}x (target <= 0.75), \
             push rate {:.2}x, peak RSS {:.2}x",
            s.cpu_s / v.cpu_s,
            s.rest_bytes as f64 / v.rest_bytes as f64,
            v.push_s / s.push_s,
            s.peak_rss as f64 / v.peak_rss as f64
        );
    }
    println!(
        "(CPU = utime + stime of the server process over push + settle; at rest = the whole data directory after\n \
         compaction and a graceful stop; peak = VmHWM of the server process during the push)"
    );
}
