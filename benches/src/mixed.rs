//! `loadgen --mode mixed`: does a query scheduler keep cheap dashboard
//! queries fast while heavy ones run? The baseline benchmark for Strata's
//! cost-based query scheduler, run the same way against Prometheus and
//! VictoriaMetrics.
//!
//! Per system: push the TSBS-like data set ([`crate::tsbs`], `--hosts` ×
//! 51 series × `--hours` at 10 s), make it queryable (Strata: a strong
//! read; VictoriaMetrics: `/internal/force_flush`, started with
//! `-search.latencyOffset=0s -search.disableCache`), check every sample of
//! two metrics is answered, pause 5 s, then run two phases of `--mixed-seconds` each:
//!
//! 1. **idle**: `--cheap-clients` (2) clients loop [`CHEAP`] queries for one
//!    random host each (1 h ranges at 60 s steps, and one instant query);
//!    or, with `--cheap-rate R`, the same queries started R times per second
//!    open loop and timed from their scheduled start (how a dashboard's
//!    refreshes arrive: they do not wait for each other);
//! 2. **mixed**: the same cheap clients while `--heavy-clients` (4) clients
//!    loop the [`HEAVY`] aggregations over every host and the whole data
//!    range (60 s steps), on threads of their own (a tokio runtime apart
//!    from the cheap clients').
//!
//! Strata's results cache is bypassed (`Cache-Control: no-store`) as
//! VictoriaMetrics's is. Every cheap latency is recorded (queries started before the phase's end
//! run to completion); heavy queries still running when the phase ends are
//! abandoned and counted as `cut`. A query fails on a transport error or
//! timeout, a non-2xx status, a non-`success` status or an empty result.
//! Reported per system: cheap p50 / p99 per phase, mixed p99 / idle p99,
//! failures, heavy queries completed / failed / cut (first error of each
//! kind), and the server's CPU seconds (utime + stime) per phase; then
//! ratios against Strata.
//!
//! ```text
//! loadgen --mode mixed --strata-bin target/release/strata \
//!     --hosts 200 --hours 6 --mixed-seconds 30 --systems strata,victoriametrics,prometheus
//! ```
//!
//! The baseline before the cost-based scheduler (200 hosts x 6 h, about 8
//! minutes for the three systems) is in `benches/results/mixed-baseline.md`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::systems::{Kind, System};
use crate::workload::{Lanes, Workload};

/// The cheap, single-host dashboard queries: `(name, template, range)`;
/// `{h}` is a random host number; `range` false = instant query at the data's end.
pub const CHEAP: [(&str, &str, bool); 4] = [
    ("cpu 1h", r#"cpu_usage_user{hostname="host_{h}"}"#, true),
    ("rate 1h", r#"rate(http_requests_total{hostname="host_{h}"}[5m])"#, true),
    ("max_over_time 1h", r#"max_over_time(cpu_usage_system{hostname="host_{h}"}[5m])"#, true),
    ("memory now", r#"mem_used_bytes{hostname="host_{h}"}"#, false),
];

/// The heavy aggregations over every host and the whole range: `(name, query)`.
pub const HEAVY: [(&str, &str); 4] = [
    ("avg rate by region", "avg by (region) (rate(http_requests_total[5m]))"),
    ("p99 histogram", "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"),
    ("max by hostname", "max by (hostname) (cpu_usage_user)"),
    ("count > 90", "count(cpu_usage_user > 90)"),
];

/// Range of the cheap range queries.
const CHEAP_RANGE_S: i64 = 3600;
/// Step of every range query.
const STEP_S: i64 = 60;
/// Client-side timeout of one query.
const CHEAP_TIMEOUT: Duration = Duration::from_secs(60);
const HEAVY_TIMEOUT: Duration = Duration::from_secs(300);

/// Pause between "queryable" and the idle phase.
const QUIET: Duration = Duration::from_secs(5);

/// Settings of the mixed run.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub seconds: u64,
    pub cheap_clients: usize,
    /// Cheap queries per second, open loop; 0 = `cheap_clients` closed loops.
    pub cheap_rate: f64,
    pub heavy_clients: usize,
    /// Wait until Strata has flushed everything before the phases.
    pub flushed: bool,
}

/// Strata configuration of `--flushed`: memtables flushed 5 s after data
/// arrives.
pub const FLUSH_SOON_TOML: &str = "[ingester]\nflush_interval_ms = 5000\n";

/// Waits until every partition of a Strata server has flushed what it
/// consumed (`/ingester/status`).
pub fn wait_flushed(base: &str) -> Result<()> {
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let status: serde_json::Value = client.get(format!("{base}/ingester/status")).send()?.json()?;
        let parts = status["partitions"].as_array().cloned().unwrap_or_default();
        let done = !parts.is_empty()
            && parts
                .iter()
                .all(|p| p["flushed_offset"] == p["consumed_offset"] && p["consumed_offset"] == p["end_offset"]);
        if done {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "not flushed after 300 s: {status}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// One phase's figures.
#[derive(Debug, Default)]
pub struct Phase {
    /// Latency of every successful cheap query, ms, sorted.
    pub cheap_ms: Vec<f64>,
    pub cheap_failed: u64,
    pub cheap_first_error: Option<String>,
    /// Per heavy query name: latencies of completed runs (ms).
    pub heavy_ms: BTreeMap<&'static str, Vec<f64>>,
    pub heavy_failed: u64,
    /// Abandoned at the end of the phase.
    pub heavy_cut: u64,
    /// First error per heavy query name.
    pub heavy_errors: BTreeMap<&'static str, String>,
    /// Server CPU seconds (utime + stime) spent during the phase.
    pub cpu_s: Option<f64>,
    pub wall_s: f64,
}

impl Phase {
    pub fn p(&self, q: f64) -> f64 {
        percentile(&self.cheap_ms, q)
    }

    pub fn heavy_completed(&self) -> usize {
        self.heavy_ms.values().map(Vec::len).sum()
    }
}

/// Nearest-rank percentile of sorted `v` (NaN when empty).
fn percentile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// One system's run.
pub struct Measured {
    pub kind: Kind,
    pub push_s: f64,
    /// From the end of the push until every sample is answered.
    pub queryable_s: f64,
    pub idle: Phase,
    pub mixed: Phase,
}

/// Everything a query client needs, cheap to clone into tasks.
#[derive(Clone)]
struct Target {
    client: reqwest::Client,
    base: String,
    /// `X-Read-Consistency` for Strata.
    consistency: Option<String>,
    /// Strata's results cache is bypassed (`Cache-Control: no-store`), as
    /// VictoriaMetrics's is by `-search.disableCache`: a cached heavy query
    /// would cost next to nothing.
    bypass_cache: bool,
    hosts: usize,
    /// Data range, Unix seconds.
    start_s: i64,
    end_s: i64,
}

impl Target {
    fn new(sys: &System, w: &Workload) -> Result<Self> {
        let consistency = match sys.kind {
            Kind::Strata | Kind::StrataKafka => sys.read_consistency.clone(),
            Kind::Prometheus | Kind::VictoriaMetrics => None,
        };
        Ok(Self {
            client: reqwest::Client::builder().pool_max_idle_per_host(16).build()?,
            base: sys.base.clone(),
            consistency,
            bypass_cache: matches!(sys.kind, Kind::Strata | Kind::StrataKafka),
            hosts: w.hosts,
            start_s: w.start_ms / 1000,
            end_s: w.end_ms() / 1000,
        })
    }

    /// Runs one query; `range` = `Some((start, end))` for a range query.
    async fn run(&self, query: &str, range: Option<(i64, i64)>, timeout: Duration) -> Result<f64, String> {
        let t = Instant::now();
        let mut req = match range {
            Some((start, end)) => self.client.get(format!("{}/api/v1/query_range", self.base)).query(&[
                ("query", query),
                ("start", &start.to_string()),
                ("end", &end.to_string()),
                ("step", &STEP_S.to_string()),
            ]),
            None => self
                .client
                .get(format!("{}/api/v1/query", self.base))
                .query(&[("query", query), ("time", &self.end_s.to_string())]),
        };
        if let Some(c) = &self.consistency {
            req = req.header("X-Read-Consistency", c);
        }
        if self.bypass_cache {
            req = req.header("Cache-Control", "no-store");
        }
        let resp = req.timeout(timeout).send().await.map_err(|e| format!("{e}"))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| format!("reading the answer: {e}"))?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if !status.is_success() {
            return Err(format!("{status}: {}", short(&text)));
        }
        check_answer(&text)?;
        Ok(ms)
    }
}

/// Answers above this size are checked by their bytes, not parsed.
const PARSE_MAX_BYTES: usize = 64 * 1024;

/// Fails unless `text` is a successful, non-empty query answer. Small
/// answers are parsed; a heavy query's megabytes of JSON are only checked
/// for the status and a non-empty result, as parsing them took the load
/// generator's CPU from the cheap clients on this 2-core machine and the
/// cheap latencies counted it as the server's.
fn check_answer(text: &str) -> Result<(), String> {
    if text.len() > PARSE_MAX_BYTES {
        let compact: String = text.chars().take(256).filter(|c| !c.is_whitespace()).collect();
        if !compact.starts_with(r#"{"status":"success""#) {
            return Err(format!("not a success: {}", short(text)));
        }
        if !text.contains(r#""result":[{"#) {
            return Err("empty result".to_string());
        }
        return Ok(());
    }
    let body: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("bad JSON ({e}): {}", short(text)))?;
    if body["status"] != "success" {
        return Err(format!("status {}: {}", body["status"], short(text)));
    }
    if body["data"]["result"].as_array().is_none_or(|r| r.is_empty()) {
        return Err("empty result".to_string());
    }
    Ok(())
}

pub fn short(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// The cheap queries in order: [`CHEAP`] round-robin, a random host each.
struct CheapQueries {
    rng: u64,
    i: usize,
    hosts: u64,
}

impl CheapQueries {
    fn new(seed: u64, hosts: usize) -> Self {
        Self { rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, i: seed as usize, hosts: hosts as u64 }
    }

    /// The next query and whether it is a range query.
    fn next(&mut self) -> (String, bool) {
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let host = (self.rng % self.hosts).to_string();
        let (_, template, range) = CHEAP[self.i % CHEAP.len()];
        self.i += 1;
        (template.replace("{h}", &host), range)
    }
}

impl Target {
    /// Runs one cheap query; its latency counts from `since`.
    async fn cheap(&self, query: &str, range: bool, since: Instant) -> Result<f64, String> {
        let range = range.then_some((self.end_s - CHEAP_RANGE_S, self.end_s));
        self.run(query, range, CHEAP_TIMEOUT).await.map(|_| since.elapsed().as_secs_f64() * 1000.0)
    }
}

impl Phase {
    fn cheap_done(&mut self, query: &str, outcome: Result<f64, String>) {
        match outcome {
            Ok(ms) => self.cheap_ms.push(ms),
            Err(e) => {
                self.cheap_failed += 1;
                self.cheap_first_error.get_or_insert_with(|| format!("{query}: {e}"));
            }
        }
    }
}

/// A cheap client: loops [`CHEAP`] (round-robin, a random host each time)
/// until `deadline`.
async fn cheap_client(target: Target, seed: u64, deadline: Instant) -> Phase {
    let mut queries = CheapQueries::new(seed, target.hosts);
    let mut phase = Phase::default();
    while Instant::now() < deadline {
        let (query, range) = queries.next();
        let outcome = target.cheap(&query, range, Instant::now()).await;
        phase.cheap_done(&query, outcome);
    }
    phase
}

/// Open-loop cheap load: starts a [`CHEAP`] query every `1 / rate` seconds
/// until `deadline`, whether or not earlier ones have answered, and times
/// each from its scheduled start (no coordinated omission: a stall of the
/// server or of this generator counts in every query it delays).
async fn cheap_open_loop(target: Target, rate: f64, deadline: Instant) -> Phase {
    // The ticker is a thread of its own that sleeps to each start time:
    // tokio's timer wakes up to a millisecond late, which would count
    // against every query.
    let runtime = tokio::runtime::Handle::current();
    let ticker = tokio::task::spawn_blocking(move || {
        let mut queries = CheapQueries::new(1, target.hosts);
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut running = Vec::new();
        let mut next = Instant::now();
        while next < deadline {
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            let (query, range) = queries.next();
            let target = target.clone();
            let scheduled = next;
            running.push(runtime.spawn(async move {
                let outcome = target.cheap(&query, range, scheduled).await;
                (query, outcome)
            }));
            next += interval;
        }
        running
    });
    let mut phase = Phase::default();
    let running = ticker.await.unwrap_or_default();
    for done in running {
        match done.await {
            Ok((query, outcome)) => phase.cheap_done(&query, outcome),
            Err(e) => phase.cheap_done("", Err(format!("client task: {e}"))),
        }
    }
    phase
}

/// A heavy client: loops [`HEAVY`] (starting at its own offset) until
/// `deadline`; the query running at the deadline is abandoned.
async fn heavy_client(target: Target, offset: usize, deadline: Instant) -> Phase {
    let mut phase = Phase::default();
    let mut i = offset;
    while Instant::now() < deadline {
        let (name, query) = HEAVY[i % HEAVY.len()];
        i += 1;
        let run = target.run(query, Some((target.start_s, target.end_s)), HEAVY_TIMEOUT);
        match tokio::time::timeout_at(deadline.into(), run).await {
            Err(_) => phase.heavy_cut += 1,
            Ok(Ok(ms)) => phase.heavy_ms.entry(name).or_default().push(ms),
            Ok(Err(e)) => {
                phase.heavy_failed += 1;
                phase.heavy_errors.entry(name).or_insert(e);
            }
        }
    }
    phase
}

/// The heavy clients' runtime and their own target (so their own
/// connection pool: connections live on the runtime that opened them).
struct HeavyRuntime {
    rt: tokio::runtime::Runtime,
    target: Target,
}

/// Runs one phase: `cheap` cheap clients and `heavy` heavy clients for
/// `secs`. The heavy clients run on `heavy_rt`, their own threads and
/// connections: reading
/// and parsing their answers (megabytes of JSON) on the cheap clients'
/// workers held the cheap answers back in the load generator, which the
/// cheap latencies then counted as the server's.
async fn phase(target: &Target, cfg: &Config, heavy: usize, heavy_rt: &HeavyRuntime) -> Phase {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(cfg.seconds);
    let mut tasks = Vec::new();
    if cfg.cheap_rate > 0.0 {
        tasks.push(tokio::spawn(cheap_open_loop(target.clone(), cfg.cheap_rate, deadline)));
    } else {
        for c in 0..cfg.cheap_clients {
            tasks.push(tokio::spawn(cheap_client(target.clone(), c as u64 + 1, deadline)));
        }
    }
    for c in 0..heavy {
        tasks.push(heavy_rt.rt.spawn(heavy_client(heavy_rt.target.clone(), c, deadline)));
    }
    let mut out = Phase::default();
    for t in tasks {
        let Ok(p) = t.await else {
            out.cheap_failed += 1;
            continue;
        };
        out.cheap_ms.extend(p.cheap_ms);
        out.cheap_failed += p.cheap_failed;
        if out.cheap_first_error.is_none() {
            out.cheap_first_error = p.cheap_first_error;
        }
        for (name, ms) in p.heavy_ms {
            out.heavy_ms.entry(name).or_default().extend(ms);
        }
        out.heavy_failed += p.heavy_failed;
        out.heavy_cut += p.heavy_cut;
        for (name, e) in p.heavy_errors {
            out.heavy_errors.entry(name).or_insert(e);
        }
    }
    out.cheap_ms.sort_by(f64::total_cmp);
    out.wall_s = started.elapsed().as_secs_f64();
    out
}

/// Waits (up to 5 minutes) until the system answers every sample of two
/// metrics over the whole range.
async fn wait_queryable(target: &Target, w: &Workload) -> Result<()> {
    // The window holds the workload's samples and nothing older: a second
    // workload pushed after another (`--live-minutes`) is counted alone.
    let range_s = target.end_s - target.start_s + 1;
    let query = format!(
        "sum(count_over_time({{__name__=~\"cpu_usage_user|http_request_duration_seconds_count\"}}[{range_s}s]))"
    );
    let want = 2 * w.hosts * w.scrapes;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last = String::new();
    while Instant::now() < deadline {
        let mut req = target
            .client
            .get(format!("{}/api/v1/query", target.base))
            .query(&[("query", query.as_str()), ("time", &target.end_s.to_string())])
            .timeout(Duration::from_secs(120));
        if let Some(c) = &target.consistency {
            req = req.header("X-Read-Consistency", c);
        }
        match req.send().await {
            Ok(resp) => {
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                let got = body["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok());
                if got == Some(want as f64) {
                    return Ok(());
                }
                last = format!("{} of {want} samples: {}", got.unwrap_or(f64::NAN), short(&body.to_string()));
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!("data not queryable within 5 minutes: {last}")
}

/// Pushes the workload into a started system and waits until it is
/// queryable (and, for Strata with `flushed`, flushed to files); returns
/// (push seconds, seconds until queryable).
pub fn load(
    sys: &System,
    w: &Workload,
    lanes: Arc<Lanes>,
    flushed: bool,
    rt: &tokio::runtime::Runtime,
) -> Result<(f64, f64)> {
    let kind = sys.kind;
    let requests: usize = lanes.iter().map(Vec::len).sum();
    eprintln!(
        "{}: pushing {requests} requests ({} samples) with {} senders",
        kind.name(),
        w.total_samples(),
        lanes.len()
    );
    let push =
        rt.block_on(crate::push::push(sys, lanes, w.start_ms)).with_context(|| format!("push into {}", kind.name()))?;
    let settling = Instant::now();
    sys.settle()?;
    let target = Target::new(sys, w)?;
    rt.block_on(wait_queryable(&target, w)).with_context(|| format!("{} after the push", kind.name()))?;
    let queryable_s = settling.elapsed().as_secs_f64();
    if flushed && kind == Kind::Strata {
        let flushing = Instant::now();
        wait_flushed(&sys.base)?;
        eprintln!("strata: flushed to files {:.1} s after it was queryable", flushing.elapsed().as_secs_f64());
    }
    eprintln!(
        "{}: pushed in {:.1} s ({:.0} samples/s), queryable {queryable_s:.1} s later",
        kind.name(),
        push.as_secs_f64(),
        w.total_samples() as f64 / push.as_secs_f64()
    );
    Ok((push.as_secs_f64(), queryable_s))
}

/// Runs the mixed benchmark on one started system.
pub fn run(
    sys: &System,
    w: &Workload,
    lanes: Arc<Lanes>,
    cfg: &Config,
    rt: &tokio::runtime::Runtime,
) -> Result<Measured> {
    let kind = sys.kind;
    let (push_s, queryable_s) = load(sys, w, lanes, cfg.flushed, rt)?;
    let target = Target::new(sys, w)?;
    // Let background work the push started (flushes, compactions) wind down
    // before the idle baseline; its CPU seconds show what is left.
    std::thread::sleep(QUIET);
    let heavy_rt = HeavyRuntime {
        rt: tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?,
        target: Target::new(sys, w)?,
    };
    let run_phase = |name: &str, heavy: usize| {
        eprintln!("{}: {name} phase, {} s", kind.name(), cfg.seconds);
        let cpu0 = sys.cpu_seconds().ok();
        let mut p = rt.block_on(phase(&target, cfg, heavy, &heavy_rt));
        p.cpu_s = cpu0.zip(sys.cpu_seconds().ok()).map(|(a, b)| b - a);
        p
    };
    let idle = run_phase("idle", 0);
    let mixed = run_phase("mixed", cfg.heavy_clients);
    Ok(Measured { kind, push_s, queryable_s, idle, mixed })
}

/// Prints the per-system table, the ratios against Strata, heavy-query
/// latencies and the first errors.
pub fn report(results: &[Measured], w: &Workload, cfg: &Config) {
    let cheap = if cfg.cheap_rate > 0.0 {
        format!("cheap queries at {} per second (open loop)", cfg.cheap_rate)
    } else {
        format!("{} cheap clients", cfg.cheap_clients)
    };
    println!(
        "\nmixed workload: {} hosts x {} series x {} scrapes (10 s) = {} samples; {cheap} + {} heavy clients, {} s phases",
        w.hosts,
        w.data.series_per_host(),
        w.scrapes,
        w.total_samples(),
        cfg.heavy_clients,
        cfg.seconds
    );
    println!(
        "{:<16} {:>7} {:>10} {:>7} | {:>8} {:>8} {:>6} {:>5} | {:>8} {:>8} {:>6} {:>5} | {:>9} | {:>6} {:>5} {:>4} | {:>7} {:>7}",
        "system",
        "push s",
        "samples/s",
        "ready s",
        "idle p50",
        "idle p99",
        "n",
        "fail",
        "mix p50",
        "mix p99",
        "n",
        "fail",
        "p99 mix/i",
        "heavy",
        "fail",
        "cut",
        "cpu idl",
        "cpu mix"
    );
    let cpu = |p: &Phase| p.cpu_s.map_or("-".to_string(), |c| format!("{c:.1}"));
    for m in results {
        println!(
            "{:<16} {:>7.1} {:>10.0} {:>7.1} | {:>8.1} {:>8.1} {:>6} {:>5} | {:>8.1} {:>8.1} {:>6} {:>5} | {:>8.2}x | {:>6} {:>5} {:>4} | {:>7} {:>7}",
            m.kind.name(),
            m.push_s,
            w.total_samples() as f64 / m.push_s,
            m.queryable_s,
            m.idle.p(0.5),
            m.idle.p(0.99),
            m.idle.cheap_ms.len(),
            m.idle.cheap_failed,
            m.mixed.p(0.5),
            m.mixed.p(0.99),
            m.mixed.cheap_ms.len(),
            m.mixed.cheap_failed,
            m.mixed.p(0.99) / m.idle.p(0.99),
            m.mixed.heavy_completed(),
            m.mixed.heavy_failed,
            m.mixed.heavy_cut,
            cpu(&m.idle),
            cpu(&m.mixed)
        );
    }
    println!("(ready s = from the end of the push until every sample is answered;");
    println!(" latencies: cheap queries, ms; n = cheap queries completed; heavy = heavy queries completed in the");
    println!(" mixed phase, cut = abandoned at its end; cpu = server CPU seconds (user + system) in the phase)");

    let strata = results.iter().find(|m| m.kind == Kind::Strata).or(results.first());
    if let Some(s) = strata {
        println!(
            "\nratios = system / {} (latency >1: {} faster; heavy >1: system completes more)",
            s.kind.name(),
            s.kind.name()
        );
        println!(
            "{:<16} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "system", "idle p50", "idle p99", "mix p50", "mix p99", "heavy", "push"
        );
        for m in results {
            println!(
                "{:<16} {:>8.2}x {:>8.2}x {:>8.2}x {:>8.2}x {:>8.2}x {:>8.2}x",
                m.kind.name(),
                m.idle.p(0.5) / s.idle.p(0.5),
                m.idle.p(0.99) / s.idle.p(0.99),
                m.mixed.p(0.5) / s.mixed.p(0.5),
                m.mixed.p(0.99) / s.mixed.p(0.99),
                m.mixed.heavy_completed() as f64 / s.mixed.heavy_completed() as f64,
                m.push_s / s.push_s
            );
        }
    }

    println!("\nheavy queries in the mixed phase: completed, median ms");
    for (name, query) in HEAVY {
        println!("  {name}: {query}");
        for m in results {
            let mut ms = m.mixed.heavy_ms.get(name).cloned().unwrap_or_default();
            ms.sort_by(f64::total_cmp);
            println!("    {:<16} {:>5} {:>10.1} ms", m.kind.name(), ms.len(), percentile(&ms, 0.5));
        }
    }
    for m in results {
        for (phase, p) in [("idle", &m.idle), ("mixed", &m.mixed)] {
            if let Some(e) = &p.cheap_first_error {
                println!("{} {phase}: first cheap error ({} failed): {e}", m.kind.name(), p.cheap_failed);
            }
            for (name, e) in &p.heavy_errors {
                println!("{} {phase}: first error of heavy {name:?}: {e}", m.kind.name());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn answers_are_checked_whether_parsed_or_not() {
        let series = r#"{"metric":{"a":"b"},"values":[[1,"1"]]}"#;
        for n in [1, 5_000] {
            let many = vec![series; n].join(",");
            let ok = format!(r#"{{"status":"success","data":{{"resultType":"matrix","result":[{many}]}}}}"#);
            assert_eq!(check_answer(&ok), Ok(()), "{} bytes", ok.len());
            let failed = ok.replace("success", "error");
            assert!(check_answer(&failed).is_err(), "{} bytes", ok.len());
        }
        let padding = " ".repeat(PARSE_MAX_BYTES);
        let empty = format!(r#"{{"status":"success","data":{{"resultType":"matrix","result":[]}}}}{padding}"#);
        assert_eq!(check_answer(&empty), Err("empty result".to_string()));
        assert_eq!(check_answer(empty.trim()), Err("empty result".to_string()));
    }
}
