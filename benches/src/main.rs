//! `loadgen`: the end-to-end benchmark. Pushes the same realistic workload
//! (see [`workload`]) through Prometheus remote write into Strata, Prometheus
//! and VictoriaMetrics, one system at a time on this machine, then times a set
//! of dashboard queries on each, and prints absolute figures plus ratios
//! against Strata (the machines are shared and noisy: trust the ratios).
//!
//! Run (release build of Strata first):
//! ```text
//! cargo build --release -p strata -p strata-benches
//! target/release/loadgen --strata-bin target/release/strata --hosts 1000 --scrapes 60
//! ```
//!
//! `--mode disk` instead measures bytes per sample after compaction (see [`disk`]):
//! `target/release/loadgen --mode disk --hosts 100 --scrapes 720`.
//!
//! `--mode mixed` measures cheap single-host dashboard queries alone and
//! while heavy all-host aggregations run, on the TSBS-like data set (see
//! [`mixed`] and [`tsbs`]; the baseline of the querier's scheduler). Hosts
//! default to 200 and data to 6 h (`--hours`) in this mode:
//! ```text
//! target/release/loadgen --mode mixed --strata-bin target/release/strata \
//!     --hosts 200 --hours 6 --mixed-seconds 30 --systems strata,victoriametrics,prometheus
//! ```
//! A smoke run: `--hosts 20 --hours 1 --mixed-seconds 10`.
//!
//! `--mode efficiency` measures what ingest costs (server CPU per sample,
//! push rate, push→queryable, peak RSS) and the whole data directory at
//! rest after compaction, Strata against VictoriaMetrics (see [`efficiency`];
//! TSBS-like data by default, Prometheus is skipped):
//! ```text
//! target/release/loadgen --mode efficiency --strata-bin target/release/strata \
//!     --hosts 200 --hours 2 --concurrency 4
//! ```
//!
//! `--mode tsbs` times 20 dashboard queries over the TSBS-like data on
//! every system in one run, with Strata's results cache bypassed and, apart,
//! cache hits (see [`tsbs_dashboard`]):
//! ```text
//! target/release/loadgen --mode tsbs --strata-bin target/release/strata \
//!     --hosts 1000 --hours 6 --flushed --systems strata,victoriametrics,prometheus
//! ```
//!
//! `--mode histograms` pushes the same native histograms (and their classic
//! equivalent) into Strata and Prometheus 2.42, times `histogram_quantile`
//! range queries on both and checks the answers agree, then measures the
//! server CPU of ingesting native against classic histograms (see
//! [`histograms`]):
//! ```text
//! target/release/loadgen --mode histograms --strata-bin target/release/strata \
//!     --hist-series 20 --hours 1 --ingest-series 1000 --buckets 32
//! ```
//!
//! `--data node|tsbs` picks the data set ([`workload`], [`tsbs`]): `node`
//! is the default of `ingest` and `disk` (the `ingest` queries need it),
//! `tsbs` the default and only choice of `mixed`; `disk` takes either.

mod dashboard;
mod disk;
mod efficiency;
mod histograms;
mod mixed;
mod push;
mod systems;
mod tsbs;
mod tsbs_dashboard;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;

use systems::{Kind, System};
use workload::{Data, Lanes, Workload};

#[derive(Parser, Debug)]
#[command(about = "End-to-end ingest and query benchmark: Strata vs Prometheus vs VictoriaMetrics")]
struct Args {
    /// The strata binary to benchmark (a release build).
    #[arg(long, default_value = "target/release/strata")]
    strata_bin: PathBuf,
    /// Systems to run, comma separated (strata, strata-kafka, prometheus, victoriametrics).
    #[arg(long, default_value = "strata,prometheus,victoriametrics", value_delimiter = ',')]
    systems: Vec<String>,
    /// Simulated hosts (26 series each with `--data node`, 51 with `tsbs`);
    /// default 1000, 200 in `--mode mixed`.
    #[arg(long)]
    hosts: Option<usize>,
    /// Scrapes per series (10 s apart); `--hours` overrides it.
    #[arg(long, default_value_t = 60)]
    scrapes: usize,
    /// Hours of data (scrapes = hours × 360); default 6 in `--mode mixed`.
    #[arg(long)]
    hours: Option<f64>,
    /// Data set: `node` (default of `ingest` and `disk`) or `tsbs` (default
    /// of `mixed`).
    #[arg(long)]
    data: Option<String>,
    /// Concurrent remote-write senders (each owns a subset of hosts).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Runs of each query (the median is reported).
    #[arg(long, default_value_t = 10)]
    query_runs: usize,
    /// `ingest` (ingest rate and query latency), `disk` (bytes per sample
    /// after compaction), `mixed` (cheap queries alone and beside heavy ones)
    /// `efficiency` (CPU per sample, peak RSS and bytes at rest, Strata
    /// against VictoriaMetrics), `tsbs` (dashboard queries) or `histograms`
    /// (native-histogram queries and ingest CPU, Strata against Prometheus).
    #[arg(long, default_value = "ingest")]
    mode: String,
    /// `--mode mixed`: seconds of each phase (idle, then mixed).
    #[arg(long, default_value_t = 30)]
    mixed_seconds: u64,
    /// `--mode mixed`: clients looping cheap single-host queries.
    #[arg(long, default_value_t = 2)]
    cheap_clients: usize,
    /// `--mode mixed`: send cheap queries at this many per second in total,
    /// open loop (each timed from its scheduled start, so a stalled load
    /// generator or server counts against the system), instead of
    /// `--cheap-clients` closed loops; 0 = closed loops.
    #[arg(long, default_value_t = 0.0)]
    cheap_rate: f64,
    /// `--mode mixed`: clients looping heavy aggregations in the mixed phase.
    #[arg(long, default_value_t = 4)]
    heavy_clients: usize,
    /// `--mode mixed` and `histograms`: before the phases (queries), wait until Strata has flushed
    /// everything it ingested to files (as 6 h of data are in a running
    /// server, which flushes every 10 minutes), instead of measuring with the
    /// whole push still in the ingesters' memtables.
    #[arg(long)]
    flushed: bool,
    /// `--mode tsbs`: step of the range queries, seconds.
    #[arg(long, default_value_t = 60)]
    step: i64,
    /// `--mode tsbs`: after the other measurements, push this many more
    /// minutes into Strata (left in its heads) and time a live panel's
    /// refresh (results cache on) against the uncached query; 0 skips it.
    #[arg(long, default_value_t = 0)]
    live_minutes: usize,
    /// `--mode tsbs` and `histograms`: after measuring, loop Strata's queries this long (for
    /// `perf record -p PID`; the PID is printed).
    #[arg(long, default_value_t = 0)]
    profile_seconds: u64,
    /// `--mode histograms`: histogram series of the query part.
    #[arg(long, default_value_t = 20)]
    hist_series: usize,
    /// `--mode histograms`: histogram series of the ingest-CPU part (0 skips it).
    #[arg(long, default_value_t = 1000)]
    ingest_series: usize,
    /// `--mode histograms`: populated buckets per native histogram (schema 3).
    #[arg(long, default_value_t = 32)]
    buckets: usize,
    /// `X-Read-Consistency` of Strata's timed queries (`strong` or
    /// `eventual`); by default the server's own default (strong).
    #[arg(long)]
    read_consistency: Option<String>,
}

/// Dashboard-style queries over the workload.
const QUERIES: [&str; 5] = [
    "sum by (code) (rate(http_requests_total[5m]))",
    "avg by (dc) (cpu_usage_percent)",
    "max by (host) (cpu_usage_percent)",
    "sum(rate(node_network_receive_bytes_total[5m])) / 1024",
    "count(cpu_usage_percent > 70)",
];

struct Measured {
    kind: Kind,
    samples_per_sec: f64,
    /// Samples / (push time + time until a strong query sees everything).
    queryable_per_sec: f64,
    /// Samples / time to replay the log after SIGKILL (Strata kinds only).
    replay_per_sec: Option<f64>,
    query_ms: Vec<f64>,
    rss: u64,
}

fn query_median_ms(sys: &System, query: &str, w: &Workload, runs: usize) -> Result<f64> {
    let client = reqwest::blocking::Client::new();
    let mut times = Vec::with_capacity(runs);
    let (start, end) = (w.start_ms as f64 / 1000.0, w.end_ms() as f64 / 1000.0);
    for _ in 0..runs {
        let t = Instant::now();
        let resp = sys
            .query(&client, "/api/v1/query_range")
            .query(&[("query", query), ("start", &start.to_string()), ("end", &end.to_string()), ("step", "15")])
            .send()?;
        let status = resp.status();
        let body: serde_json::Value = resp.json()?;
        if !status.is_success() || body["status"] != "success" {
            bail!("{} failed {query}: {status} {body}", sys.kind.name());
        }
        if body["data"]["result"].as_array().is_none_or(|r| r.is_empty()) {
            bail!("{} returned no series for {query}", sys.kind.name());
        }
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mixed = args.mode == "mixed";
    let efficiency = args.mode == "efficiency";
    let tsbs_mode = args.mode == "tsbs";
    if !["ingest", "disk", "mixed", "efficiency", "tsbs", "histograms"].contains(&args.mode.as_str()) {
        bail!("unknown --mode {:?} (ingest, disk, mixed, efficiency, tsbs, histograms)", args.mode);
    }
    if args.mode == "histograms" {
        return histograms_mode(&args);
    }
    let data = match &args.data {
        Some(d) => Data::parse(d)?,
        None if mixed || efficiency || tsbs_mode => Data::Tsbs,
        None => Data::Node,
    };
    match (args.mode.as_str(), data) {
        ("ingest", Data::Tsbs) => bail!("--mode ingest queries the node data set: use --data node"),
        ("mixed" | "tsbs", Data::Node) => bail!("--mode {} queries the TSBS-like data set: use --data tsbs", args.mode),
        _ => {}
    }
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    let interval_ms = 10_000;
    let hours = args.hours.or((mixed || tsbs_mode).then_some(6.0));
    let scrapes = hours.map_or(args.scrapes, |h| (h * 3600.0 * 1000.0 / interval_ms as f64).round() as usize);
    let w = Workload {
        data,
        hosts: args.hosts.unwrap_or(if mixed { 200 } else { 1000 }),
        scrapes,
        interval_ms,
        start_ms: (now_ms - scrapes as i64 * interval_ms) / 1000 * 1000,
        samples_per_request: 2000,
        workers: args.concurrency,
    };
    if w.hosts == 0 || w.scrapes == 0 {
        bail!("--hosts and --scrapes/--hours must be positive");
    }
    eprintln!(
        "workload ({data:?}): {} hosts x {} series x {} scrapes = {} samples; encoding...",
        w.hosts,
        data.series_per_host(),
        w.scrapes,
        w.total_samples()
    );
    let encoding = Instant::now();
    let lanes = Arc::new(w.encode());
    let requests: usize = lanes.iter().map(Vec::len).sum();
    let bytes: usize = lanes.iter().flatten().map(|r| r.body.len()).sum();
    eprintln!(
        "encoded {requests} requests, {} MiB compressed, in {:.1} s",
        bytes >> 20,
        encoding.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    if args.mode == "disk" {
        return disk_mode(&args, &w, lanes, &rt);
    }
    if efficiency {
        let kinds = args.systems.iter().map(|s| Kind::parse(s)).filter(|k| !matches!(k, Ok(Kind::Prometheus)));
        let kinds = kinds.collect::<Result<Vec<_>>>()?;
        return efficiency::run(&kinds, &args.strata_bin, &w, lanes, &rt);
    }
    if mixed {
        return mixed_mode(&args, &w, lanes, &rt);
    }
    if tsbs_mode {
        let cfg = tsbs_dashboard::Config {
            runs: args.query_runs,
            step_s: args.step,
            flushed: args.flushed,
            profile_seconds: args.profile_seconds,
            live_minutes: args.live_minutes,
        };
        let mut systems = tsbs_dashboard::start(&args.systems, &args.strata_bin, args.flushed)?;
        for s in &mut systems {
            s.read_consistency = args.read_consistency.clone();
        }
        let results = tsbs_dashboard::run(&systems, &w, lanes, &cfg, &rt)?;
        tsbs_dashboard::report(&results, &w, &cfg);
        return Ok(());
    }
    let mut results = Vec::new();
    let mut dashboards = Vec::new();
    for name in &args.systems {
        let kind = Kind::parse(name)?;
        let mut sys = System::start(kind, &args.strata_bin)?;
        sys.read_consistency = args.read_consistency.clone();
        eprintln!("{}: pushing {requests} requests with {} senders", kind.name(), lanes.len());
        let took = rt
            .block_on(push::push(&sys, lanes.clone(), w.start_ms))
            .with_context(|| format!("ingest into {}", kind.name()))?;
        let settling = Instant::now();
        sys.settle()?;
        let queryable_per_sec = w.total_samples() as f64 / (took + settling.elapsed()).as_secs_f64();
        let samples_per_sec = w.total_samples() as f64 / took.as_secs_f64();
        let mut query_ms = Vec::new();
        for q in QUERIES {
            query_ms.push(query_median_ms(&sys, q, &w, args.query_runs)?);
        }
        dashboards.push((kind, dashboard::measure(&sys, &w, args.query_runs)?));
        let rss = sys.rss_bytes().unwrap_or(0);
        eprintln!(
            "{}: {samples_per_sec:.0} samples/s, disk {} MiB (not compacted)",
            kind.name(),
            sys.disk_bytes() >> 20
        );
        let replay_per_sec = match kind {
            Kind::Strata | Kind::StrataKafka => {
                let replay = sys.replay().with_context(|| format!("replaying {}", kind.name()))?;
                Some(w.total_samples() as f64 / replay.as_secs_f64())
            }
            Kind::Prometheus | Kind::VictoriaMetrics => None,
        };
        results.push(Measured { kind, samples_per_sec, queryable_per_sec, replay_per_sec, query_ms, rss });
    }
    report(&results);
    dashboard::report(&dashboards);
    Ok(())
}

/// `--mode histograms`: see [`histograms`]. Runs Strata and Prometheus of
/// `--systems` (VictoriaMetrics has no native histograms).
fn histograms_mode(args: &Args) -> Result<()> {
    let kinds = args.systems.iter().map(|s| Kind::parse(s)).collect::<Result<Vec<_>>>()?;
    let kinds: Vec<Kind> = kinds.into_iter().filter(|k| matches!(k, Kind::Strata | Kind::Prometheus)).collect();
    anyhow::ensure!(!kinds.is_empty(), "--mode histograms runs strata and/or prometheus");
    let scrapes = args.hours.map_or(360, |h| (h * 360.0).round() as usize);
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    let cfg = histograms::Config {
        query_series: args.hist_series,
        ingest_series: args.ingest_series,
        buckets: args.buckets,
        scrapes,
        start_ms: (now_ms - scrapes as i64 * 10_000) / 1000 * 1000,
        workers: args.concurrency,
        runs: args.query_runs,
        kinds,
        flushed: args.flushed,
        profile_seconds: args.profile_seconds,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    histograms::run(&cfg, &args.strata_bin, &rt)
}

/// `--mode mixed`: see [`mixed`].
fn mixed_mode(args: &Args, w: &Workload, lanes: Arc<Lanes>, rt: &tokio::runtime::Runtime) -> Result<()> {
    let cfg = mixed::Config {
        seconds: args.mixed_seconds,
        cheap_clients: args.cheap_clients,
        cheap_rate: args.cheap_rate,
        heavy_clients: args.heavy_clients,
        flushed: args.flushed,
    };
    let mut results = Vec::new();
    for name in &args.systems {
        let kind = Kind::parse(name)?;
        let toml = if args.flushed { mixed::FLUSH_SOON_TOML } else { "" };
        let mut sys = System::start_with(kind, &args.strata_bin, toml)?;
        sys.read_consistency = args.read_consistency.clone();
        results.push(mixed::run(&sys, w, lanes.clone(), &cfg, rt)?);
    }
    mixed::report(&results, w, &cfg);
    Ok(())
}

/// `--mode disk`: ingest, compact, measure bytes per sample.
fn disk_mode(args: &Args, w: &Workload, lanes: Arc<Lanes>, rt: &tokio::runtime::Runtime) -> Result<()> {
    let mut results = Vec::new();
    for name in &args.systems {
        let kind = Kind::parse(name)?;
        let bytes = match kind {
            Kind::Prometheus => disk::prometheus_block_bytes(&lanes)?,
            Kind::Strata | Kind::StrataKafka | Kind::VictoriaMetrics => {
                let sys = System::start_with(kind, &args.strata_bin, disk::STRATA_TOML)?;
                rt.block_on(push::push(&sys, lanes.clone(), w.start_ms))
                    .with_context(|| format!("ingest into {}", kind.name()))?;
                match kind {
                    Kind::VictoriaMetrics => disk::victoriametrics_compacted_bytes(&sys, w)?,
                    _ => disk::strata_compacted_bytes(&sys, w.total_samples())?,
                }
            }
        };
        eprintln!("{}: {bytes} bytes", kind.name());
        results.push((kind, bytes));
    }
    disk::report(&results, w.total_samples());
    Ok(())
}

fn report(results: &[Measured]) {
    // Ratios are against Strata, or the first system run when it is not.
    let strata = results.iter().find(|m| m.kind == Kind::Strata).or(results.first());
    println!(
        "\n{:<16} {:>14} {:>10} {:>12} {:>16} {:>16}",
        "system", "samples/s", "RSS MiB", "vs strata", "queryable/s", "replay/s"
    );
    for m in results {
        let ratio = strata.map(|s| s.samples_per_sec / m.samples_per_sec).unwrap_or(f64::NAN);
        let replay = m.replay_per_sec.map_or("-".to_string(), |r| format!("{r:.0}"));
        println!(
            "{:<16} {:>14.0} {:>10} {:>11.2}x {:>16.0} {:>16}",
            m.kind.name(),
            m.samples_per_sec,
            m.rss >> 20,
            ratio,
            m.queryable_per_sec,
            replay
        );
    }
    println!("(\"vs strata\" for ingest = strata rate / system rate: >1 means Strata is faster;");
    println!(" samples/s = acknowledged pushes; queryable/s = until a strong query sees every sample;");
    println!(" replay/s = samples replayed from the log per second after SIGKILL of the ingesting process)\n");
    println!("median query_range latency, ms (ratio = system / strata: >1 means Strata is faster)");
    for (i, q) in QUERIES.iter().enumerate() {
        println!("  {q}");
        for m in results {
            let ratio = strata.map(|s| m.query_ms[i] / s.query_ms[i]).unwrap_or(f64::NAN);
            println!("    {:<16} {:>9.2} ms  {:>6.2}x", m.kind.name(), m.query_ms[i], ratio);
        }
    }
}
