//! `loadgen --mode tsbs`: per-query latency of dashboard queries over the
//! TSBS-like data set ([`crate::tsbs`]) on every system, in one run.
//!
//! Per system: push `--hosts` × 51 series × `--hours` at 10 s, make it
//! queryable (Strata: a strong read, then with `--flushed` wait until every
//! partition is flushed to files; VictoriaMetrics: `/internal/force_flush`,
//! started with `-search.disableCache`), then keep it running. Once every
//! system holds the data, each query of [`QUERIES`] runs `--query-runs`
//! times per system, the systems interleaved run by run (so noise on the
//! shared machine hits them alike). Range queries span the whole data range
//! at `--step` seconds; instant queries run at the data's end.
//!
//! A query is timed from its request to the last byte of its answer (the
//! benchmark's own JSON parsing is not counted).
//!
//! Strata's timed runs send `Cache-Control: no-store` (its results cache
//! bypassed, as VictoriaMetrics runs with `-search.disableCache`). Then,
//! separately, each range query is run once without the header (filling the
//! cache) and `--query-runs` times more: the "cached" column, cache hits.
//!
//! Answers are checked against Prometheus's where it runs: the same series
//! and values within a relative 1e-6 (Prometheus 2.x differs from 3.x at
//! range boundaries, so mismatches are reported, not fatal).
//!
//! Strata runs every query in the cheap lane (normal priority; see
//! [`ALL_CHEAP_TOML`]).
//!
//! `--profile-seconds N` loops Strata's queries for N seconds after the
//! measurement, printing the server's PID first (attach
//! `perf record -F 499 -g -p PID`).
//!
//! ```text
//! loadgen --mode tsbs --strata-bin target/release/strata --hosts 1000 --hours 6 \
//!     --flushed --systems strata,victoriametrics,prometheus
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::systems::{Kind, System};
use crate::workload::{Lanes, Workload};

/// `(name, query, range)`: `range` false = instant query at the data's end.
pub const QUERIES: [(&str, &str, bool); 20] = [
    ("avg rate by region", "avg by (region) (rate(http_requests_total[5m]))", true),
    (
        "500 error ratio",
        r#"sum(rate(http_requests_total{status="500"}[5m])) / sum(rate(http_requests_total[5m]))"#,
        true,
    ),
    ("count cpu > 90", "count(cpu_usage_user > 90)", true),
    ("max by hostname", "max by (hostname) (cpu_usage_user)", true),
    ("avg by hostname", "avg by (hostname) (cpu_usage_user)", true),
    ("p99 all buckets", "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))", true),
    (
        "p99 by region",
        "histogram_quantile(0.99, sum by (le, region) (rate(http_request_duration_seconds_bucket[5m])))",
        true,
    ),
    ("topk avg cpu", "topk(5, avg by (hostname) (cpu_usage_user))", true),
    ("net recv by dc", "sum by (datacenter) (rate(net_bytes_recv_total[5m]))", true),
    ("mem used ratio by region", "avg by (region) (mem_used_bytes / mem_total_bytes)", true),
    ("max_over_time by region", "max by (region) (max_over_time(cpu_usage_system[5m]))", true),
    ("avg_over_time by team", "avg by (team) (avg_over_time(cpu_usage_idle[10m]))", true),
    ("increase 1h by service", "sum by (service) (increase(diskio_reads_total[1h]))", true),
    (
        "latency by region",
        "sum by (region) (rate(http_request_duration_seconds_sum[5m])) / sum by (region) (rate(http_request_duration_seconds_count[5m]))",
        true,
    ),
    ("cpu 8 hosts", r#"max by (hostname) (cpu_usage_user{hostname=~"host_(1|2|3|4|5|6|7|8)"})"#, true),
    ("stddev by region", "stddev by (region) (cpu_usage_user)", true),
    ("sum all cpu by region", r#"sum by (region) ({__name__=~"cpu_usage_.*"})"#, true),
    ("lastpoint all cpu", r#"{__name__=~"cpu_usage_.*"}"#, false),
    ("lastpoint max mem", "max by (hostname) (mem_used_bytes)", false),
    ("rate now by status", "sum by (status) (rate(http_requests_total[5m]))", false),
];

/// Settings of the run.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub runs: usize,
    pub step_s: i64,
    pub flushed: bool,
    pub profile_seconds: u64,
    /// Minutes of newer data pushed into Strata after the other
    /// measurements, left in its ingesters' heads (0: no live measurement).
    pub live_minutes: usize,
}

/// One system's medians, ms, per query (`None`: the query failed).
pub struct Measured {
    pub kind: Kind,
    pub median_ms: Vec<Option<f64>>,
    /// Strata only: medians with the results cache on (after one filling run).
    pub cached_ms: Vec<Option<f64>>,
    /// Strata only, with `--live-minutes`: per range query over the data
    /// plus the live minutes (a head holds those), the uncached and the
    /// refreshed (cached) medians.
    pub live_ms: Vec<Option<(f64, f64)>>,
    /// First error per query.
    pub errors: BTreeMap<usize, String>,
    /// Per query: the last answer's `data` (compared against Prometheus).
    pub answers: Vec<Option<serde_json::Value>>,
    /// Strata only, per query: the cost estimate's samples and the samples
    /// the query loaded (`stats=all`).
    pub estimates: Vec<Option<(u64, u64)>>,
}

/// Runs query `i` once on Strata with `stats=all`; returns its estimated
/// and its loaded samples.
fn estimate_and_actual(
    client: &reqwest::blocking::Client,
    sys: &System,
    w: &Workload,
    i: usize,
    step_s: i64,
) -> Result<(u64, u64)> {
    let (_, data) = run_one(client, sys, w, i, step_s, true, true)?;
    let stats = &data["stats"];
    let estimate = stats["strata"]["estimate"]["samples"].as_u64().context("no estimate in the stats")?;
    let actual = stats["samples"]["totalQueryableSamples"].as_u64().context("no sample count in the stats")?;
    Ok((estimate, actual))
}

/// Runs one query, optionally with `stats=all`; returns (ms, `data`).
fn run_one(
    client: &reqwest::blocking::Client,
    sys: &System,
    w: &Workload,
    i: usize,
    step_s: i64,
    no_store: bool,
    stats: bool,
) -> Result<(f64, serde_json::Value)> {
    let (_, query, range) = QUERIES[i];
    let (start, end) = ((w.start_ms / 1000).to_string(), (w.end_ms() / 1000).to_string());
    let t = Instant::now();
    let mut req = if range {
        sys.query(client, "/api/v1/query_range").query(&[
            ("query", query),
            ("start", start.as_str()),
            ("end", end.as_str()),
            ("step", step_s.to_string().as_str()),
        ])
    } else {
        sys.query(client, "/api/v1/query").query(&[("query", query), ("time", end.as_str())])
    };
    if no_store {
        req = req.header("Cache-Control", "no-store");
    }
    if stats {
        req = req.query(&[("stats", "all")]);
    }
    let resp = req.timeout(Duration::from_secs(300)).send()?;
    let status = resp.status();
    // Timed to the answer's last byte: the client's own JSON parsing (tens
    // of milliseconds for a 72,000-point answer) is not the server's.
    let bytes = resp.bytes()?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let body: serde_json::Value = serde_json::from_slice(&bytes)?;
    if !status.is_success() || body["status"] != "success" {
        bail!("{status} {}", crate::mixed::short(&body.to_string()));
    }
    if body["data"]["result"].as_array().is_none_or(|r| r.is_empty()) {
        bail!("empty result");
    }
    Ok((ms, body["data"].clone()))
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Pushes the data into every system and makes it queryable; then measures.
pub fn run(
    systems: &[System],
    w: &Workload,
    lanes: std::sync::Arc<Lanes>,
    cfg: &Config,
    rt: &tokio::runtime::Runtime,
) -> Result<Vec<Measured>> {
    for sys in systems {
        crate::mixed::load(sys, w, lanes.clone(), cfg.flushed, rt)?;
    }
    let client = reqwest::blocking::Client::new();
    let mut out: Vec<Measured> = systems
        .iter()
        .map(|s| Measured {
            kind: s.kind,
            median_ms: vec![None; QUERIES.len()],
            cached_ms: vec![None; QUERIES.len()],
            live_ms: vec![None; QUERIES.len()],
            errors: BTreeMap::new(),
            answers: vec![None; QUERIES.len()],
            estimates: vec![None; QUERIES.len()],
        })
        .collect();
    for (i, (name, _, _)) in QUERIES.iter().enumerate() {
        eprintln!("query {i}: {name}");
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); systems.len()];
        for _ in 0..cfg.runs.max(1) {
            for (k, sys) in systems.iter().enumerate() {
                match run_one(&client, sys, w, i, cfg.step_s, true, false) {
                    Ok((ms, data)) => {
                        times[k].push(ms);
                        out[k].answers[i] = Some(data);
                    }
                    Err(e) => {
                        out[k].errors.entry(i).or_insert_with(|| e.to_string());
                    }
                }
            }
        }
        for (k, t) in times.into_iter().enumerate() {
            out[k].median_ms[i] = median(t);
        }
    }
    // Cache hits, separately: one filling run, then timed runs; and the
    // cost estimate against the samples each query loaded.
    for (k, sys) in systems.iter().enumerate() {
        if !matches!(sys.kind, Kind::Strata | Kind::StrataKafka) {
            continue;
        }
        for i in 0..QUERIES.len() {
            match estimate_and_actual(&client, sys, w, i, cfg.step_s) {
                Ok(pair) => out[k].estimates[i] = Some(pair),
                Err(e) => eprintln!("estimate of query {i}: {e}"),
            }
        }
        for (i, _) in QUERIES.iter().enumerate().filter(|(_, q)| q.2) {
            let mut t = Vec::new();
            for r in 0..=cfg.runs.max(1) {
                if let Ok((ms, _)) = run_one(&client, sys, w, i, cfg.step_s, false, false)
                    && r > 0
                {
                    t.push(ms);
                }
            }
            out[k].cached_ms[i] = median(t);
        }
    }
    if cfg.live_minutes > 0
        && let Some(k) = systems.iter().position(|s| s.kind == Kind::Strata)
    {
        out[k].live_ms = live(&client, &systems[k], w, cfg, rt)?;
    }
    if cfg.profile_seconds > 0
        && let Some(sys) = systems.iter().find(|s| s.kind == Kind::Strata)
    {
        eprintln!("profiling window: strata pid {} for {} s", sys.pid(), cfg.profile_seconds);
        let deadline = Instant::now() + Duration::from_secs(cfg.profile_seconds);
        let mut i = 0;
        while Instant::now() < deadline {
            let _ = run_one(&client, sys, w, i % QUERIES.len(), cfg.step_s, true, false);
            i += 1;
        }
    }
    Ok(out)
}

/// A live panel: pushes `cfg.live_minutes` more minutes of data into
/// Strata (left in its heads: no flush is waited for), then times each
/// range query over the whole data, uncached and refreshed (the same query
/// again with the cache on, after one filling run).
fn live(
    client: &reqwest::blocking::Client,
    sys: &System,
    w: &Workload,
    cfg: &Config,
    rt: &tokio::runtime::Runtime,
) -> Result<Vec<Option<(f64, f64)>>> {
    let tail = Workload { start_ms: w.end_ms() + w.interval_ms, scrapes: cfg.live_minutes * 6, ..*w };
    eprintln!("strata: live panel: pushing {} more minutes into the heads", cfg.live_minutes);
    crate::mixed::load(sys, &tail, std::sync::Arc::new(tail.encode()), false, rt)?;
    let span = Workload { scrapes: w.scrapes + tail.scrapes, ..*w };
    let mut out = vec![None; QUERIES.len()];
    for (i, _) in QUERIES.iter().enumerate().filter(|(_, q)| q.2) {
        let times = |no_store: bool| -> Vec<f64> {
            if !no_store {
                // One filling run.
                let _ = run_one(client, sys, &span, i, cfg.step_s, false, false);
            }
            (0..cfg.runs.max(1))
                .filter_map(|_| run_one(client, sys, &span, i, cfg.step_s, no_store, false).ok().map(|r| r.0))
                .collect()
        };
        if let (Some(u), Some(c)) = (median(times(true)), median(times(false))) {
            out[i] = Some((u, c));
        }
    }
    Ok(out)
}

/// Whether two `data` answers agree: same series (by labels), values within
/// a relative 1e-6.
fn agree(a: &serde_json::Value, b: &serde_json::Value) -> std::result::Result<(), String> {
    let index = |d: &serde_json::Value| -> BTreeMap<String, Vec<(f64, f64)>> {
        let mut m = BTreeMap::new();
        for s in d["result"].as_array().into_iter().flatten() {
            let mut labels = s["metric"].as_object().cloned().unwrap_or_default();
            labels.remove("__name__");
            let key = serde_json::Value::Object(labels).to_string();
            let pts: Vec<(f64, f64)> = match s.get("values") {
                Some(vs) => vs.as_array().into_iter().flatten().map(point).collect(),
                None => vec![point(&s["value"])],
            };
            m.insert(key, pts);
        }
        m
    };
    fn point(p: &serde_json::Value) -> (f64, f64) {
        let t = p[0].as_f64().unwrap_or(f64::NAN);
        let v = p[1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
        (t, v)
    }
    let (x, y) = (index(a), index(b));
    if x.len() != y.len() {
        return Err(format!("{} vs {} series", x.len(), y.len()));
    }
    let mut worst: f64 = 0.0;
    let mut missing = 0;
    for (k, px) in &x {
        let Some(py) = y.get(k) else { return Err(format!("series {k} missing")) };
        let my: BTreeMap<i64, f64> = py.iter().map(|(t, v)| ((t * 1000.0) as i64, *v)).collect();
        for (t, v) in px {
            match my.get(&((t * 1000.0) as i64)) {
                Some(w) if v.is_nan() && w.is_nan() => {}
                Some(w) => worst = worst.max((v - w).abs() / v.abs().max(w.abs()).max(1e-300)),
                None => missing += 1,
            }
        }
    }
    if worst > 1e-6 || missing > 0 {
        return Err(format!("max relative difference {worst:.2e}, {missing} points missing"));
    }
    Ok(())
}

/// Prints the per-query table (medians, ratios against Strata's uncached
/// median: `> 1` Strata is faster), the geometric means and the answer checks.
pub fn report(results: &[Measured], w: &Workload, cfg: &Config) {
    println!(
        "\ntsbs dashboard: {} hosts x 51 series x {} scrapes (10 s) = {} samples; range queries over the whole range at step {} s; median of {} runs",
        w.hosts,
        w.scrapes,
        w.total_samples(),
        cfg.step_s,
        cfg.runs
    );
    let strata = results.iter().find(|m| m.kind == Kind::Strata);
    let others: Vec<&Measured> = results.iter().filter(|m| m.kind != Kind::Strata).collect();
    let mut header = format!("| {:<26} | {:>12} | {:>12} |", "query", "strata ms", "cached ms");
    for o in &others {
        header += &format!(" {:>14} ms | strata/{:<4} |", o.kind.name(), &o.kind.name()[..4]);
    }
    println!("{header}");
    let mut logs: Vec<(f64, usize)> = vec![(0.0, 0); others.len()];
    for (i, (name, _, _)) in QUERIES.iter().enumerate() {
        let s = strata.and_then(|s| s.median_ms[i]);
        let c = strata.and_then(|s| s.cached_ms[i]);
        let fmt = |v: Option<f64>| v.map_or("fail".to_string(), |v| format!("{v:.1}"));
        let mut line =
            format!("| {:<26} | {:>12} | {:>12} |", name, fmt(s), c.map_or("-".into(), |v| format!("{v:.1}")));
        for (k, o) in others.iter().enumerate() {
            let m = o.median_ms[i];
            let ratio = s.zip(m).map(|(s, m)| s / m);
            if let Some(r) = ratio {
                logs[k].0 += r.ln();
                logs[k].1 += 1;
            }
            line += &format!(" {:>17} | {:>12} |", fmt(m), ratio.map_or("-".into(), |r| format!("{r:.2}x")));
        }
        println!("{line}");
    }
    for (k, o) in others.iter().enumerate() {
        if logs[k].1 > 0 {
            println!(
                "geometric mean of strata / {} median latency: {:.2}x over {} queries",
                o.kind.name(),
                (logs[k].0 / logs[k].1 as f64).exp(),
                logs[k].1
            );
        }
    }
    if let (Some(s), Some(p)) = (strata, results.iter().find(|m| m.kind == Kind::Prometheus)) {
        for (i, (name, _, _)) in QUERIES.iter().enumerate() {
            if let (Some(a), Some(b)) = (&s.answers[i], &p.answers[i])
                && let Err(e) = agree(a, b)
            {
                println!("answer differs from prometheus: {name}: {e}");
            }
        }
    }
    if let Some(s) = strata {
        report_live(s, cfg);
        report_estimates(s);
    }
    for m in results {
        for (i, e) in &m.errors {
            println!("{} failed {}: {e}", m.kind.name(), QUERIES[*i].0);
        }
    }
}

/// Prints the live-panel table: a refresh's cost against the uncached
/// query (the results-cache target: at most 5 %).
fn report_live(s: &Measured, cfg: &Config) {
    if s.live_ms.iter().all(Option::is_none) {
        return;
    }
    println!(
        "\nlive panel: the range queries over the data plus {} minutes held in the heads; median of {} runs",
        cfg.live_minutes, cfg.runs
    );
    println!("| {:<26} | {:>12} | {:>12} | {:>10} |", "query", "uncached ms", "refresh ms", "refresh/un");
    for (i, (name, _, _)) in QUERIES.iter().enumerate() {
        if let Some((u, c)) = s.live_ms[i] {
            println!("| {name:<26} | {u:>12.1} | {c:>12.1} | {:>9.1}% |", 100.0 * c / u);
        }
    }
}

/// Prints each query's estimated and loaded samples, and the worst ratio
/// either way (the scheduling issue's target: within 2×).
fn report_estimates(s: &Measured) {
    println!("\ncost estimate against the samples loaded (stats=all, cache bypassed):");
    println!("| {:<26} | {:>14} | {:>14} | {:>10} |", "query", "estimated", "loaded", "est/loaded");
    let mut worst: Option<(f64, &str)> = None;
    for (i, (name, _, _)) in QUERIES.iter().enumerate() {
        let Some((est, actual)) = s.estimates[i] else {
            println!("| {name:<26} | {:>14} | {:>14} | {:>10} |", "-", "-", "-");
            continue;
        };
        let ratio = est as f64 / (actual.max(1)) as f64;
        println!("| {name:<26} | {est:>14} | {actual:>14} | {ratio:>9.2}x |");
        let off = if ratio >= 1.0 { ratio } else { 1.0 / ratio };
        if worst.is_none_or(|(w, _)| off > w) {
            worst = Some((off, name));
        }
    }
    if let Some((off, name)) = worst {
        println!("worst estimate: {name}, off by {off:.2}x (target: within 2x)");
    }
}

/// Strata runs every query in the cheap lane here: the heavy lane's
/// threads run at `SCHED_IDLE`, which on a shared machine (other processes
/// busy, as when several engineers build at once) gets almost no CPU, and
/// would measure the neighbours instead of the engine. VictoriaMetrics and
/// Prometheus run at normal priority too.
const ALL_CHEAP_TOML: &str = "[querier.scheduler]\ncheap_max_cost = 1000000000000000\n";

/// Starts the systems named in `names`.
pub fn start(names: &[String], strata_bin: &std::path::Path, flushed: bool) -> Result<Vec<System>> {
    names
        .iter()
        .map(|name| {
            let kind = Kind::parse(name)?;
            let mut toml = if flushed { crate::mixed::FLUSH_SOON_TOML.to_string() } else { String::new() };
            toml += ALL_CHEAP_TOML;
            System::start_with(kind, strata_bin, &toml).with_context(|| format!("starting {name}"))
        })
        .collect()
}
