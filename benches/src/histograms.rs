//! `loadgen --mode histograms`: native histograms, Strata (all-in-one)
//! against Prometheus 2.42 (`--enable-feature=native-histograms`), in one
//! run. Two parts:
//!
//! 1. **Queries.** The same `--hist-series` latency histograms (default 20,
//!    `--hours` of data at 10 s, default 1 h) are pushed to both systems as
//!    native histograms (integer, schema 3, `--buckets` populated buckets,
//!    counters growing like request latencies) and, beside them, as the
//!    equivalent classic histograms (`_bucket{le}`, `_sum`, `_count`). Every
//!    query of [`QUERIES`] is then run as a range query over the whole data
//!    at 10 s steps (offset by 5 s from the scrapes, so no sample sits on a
//!    window edge, where Prometheus 2 and 3 differ), `--query-runs` times on each system (Strata's results
//!    cache bypassed with `Cache-Control: no-store`); the medians, their
//!    ratio, and whether the two answers agree (every series and point, within
//!    a relative tolerance) are printed.
//! 2. **Ingest CPU.** `--ingest-series` histograms (default 1000) over the
//!    same hours, pushed as native histograms into a fresh system, then as the
//!    equivalent classic histograms into another fresh one: the server's CPU
//!    (`utime + stime` of its process, `/proc/<pid>/stat`) over push + settle,
//!    as in [`crate::efficiency`], per bucket-sample and per histogram, and
//!    the ratio native / classic. Strata, then Prometheus 2.42.
//!
//! Requests carry 2,000 samples (Prometheus's `max_samples_per_send`; a
//! native histogram counts as one sample there, as in Prometheus's queue).
//! Every push is checked: the sum of `histogram_count` (native) and of
//! `_count` (classic) at the last scrape must equal what was generated.
//!
//! ```text
//! cargo build --release -p strata-benches
//! target/release/loadgen --mode histograms --strata-bin /path/to/strata
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use prost::Message;
use strata_distributor::proto::{BucketSpan, Histogram, Label, Sample, TimeSeries, WriteRequest};

use crate::push;
use crate::systems::{Kind, System};
use crate::workload::{Lanes, Request, noise};

/// Prometheus 2.42 flags: native histograms in its TSDB and remote-write receiver.
const PROMETHEUS_FLAGS: [&str; 1] = ["--enable-feature=native-histograms"];

/// Exponential schema of the generated native histograms (bucket bounds grow
/// by 2^(1/8), about 9 % per bucket).
pub const SCHEMA: i32 = 3;

/// Index of the first populated bucket: its upper bound is 2^(−53/8) ≈ 10 ms.
const FIRST_BUCKET: i32 = -53;

/// Prometheus's default zero-bucket width.
const ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// Metric names: the query part's native and classic histograms and the
/// ingest part's.
const NATIVE: &str = "hb_native_seconds";
const CLASSIC: &str = "hb_classic_seconds";
const INGEST: &str = "hb_ingest_seconds";

/// The timed range queries (`(label, query)`); the first two are the
/// native-histogram queries of the issue's target.
pub const QUERIES: [&str; 5] = [
    "histogram_quantile(0.9, rate(hb_native_seconds[5m]))",
    "histogram_quantile(0.9, sum(rate(hb_native_seconds[5m])))",
    "histogram_count(rate(hb_native_seconds[5m]))",
    "histogram_quantile(0.9, rate(hb_classic_seconds_bucket[5m]))",
    "histogram_quantile(0.9, sum by (le) (rate(hb_classic_seconds_bucket[5m])))",
];

/// Native-histogram queries (the first `NATIVE_QUERIES` of [`QUERIES`]).
const NATIVE_QUERIES: usize = 3;

/// The range queries start this long after the first scrape (half a scrape interval).
const QUERY_OFFSET_MS: i64 = 5_000;

/// Relative tolerance of the answer check.
const TOLERANCE: f64 = 1e-9;

/// What to run.
pub struct Config {
    /// Histogram series of the query part.
    pub query_series: usize,
    /// Histogram series of the ingest part (0: skip it).
    pub ingest_series: usize,
    /// Populated buckets per histogram.
    pub buckets: usize,
    /// Scrapes per series, 10 s apart.
    pub scrapes: usize,
    /// First scrape, Unix ms.
    pub start_ms: i64,
    /// Concurrent senders.
    pub workers: usize,
    /// Runs of each query (median reported).
    pub runs: usize,
    /// Systems (`strata`, `prometheus`).
    pub kinds: Vec<Kind>,
    /// Strata: flush everything to files before the queries.
    pub flushed: bool,
    /// After measuring, loop Strata's native queries this long (for `perf record`).
    pub profile_seconds: u64,
}

const INTERVAL_MS: i64 = 10_000;
const PER_REQUEST: usize = 2000;

impl Config {
    fn end_ms(&self) -> i64 {
        self.start_ms + (self.scrapes as i64 - 1) * INTERVAL_MS
    }
}

/// One generated latency histogram series: cumulative bucket counts and sum.
struct Series {
    counts: Vec<u64>,
    sum: f64,
}

/// Upper bound of native bucket `index` at [`SCHEMA`] (Prometheus's
/// `getBoundExponential`: bucket `i` is `(2^((i−1)/8), 2^(i/8)]`).
fn upper_bound(index: i32) -> f64 {
    2f64.powf(index as f64 / f64::from(1 << SCHEMA))
}

impl Series {
    fn new(buckets: usize) -> Self {
        Self { counts: vec![0; buckets], sum: 0.0 }
    }

    /// Adds one scrape interval's observations of series `s`: a bell around
    /// a per-series centre, every bucket at least one observation (so all
    /// `buckets` are populated from the first scrape on), ~45 requests/s.
    fn advance(&mut self, s: usize, scrape: usize) {
        let b = self.counts.len();
        let centre = b as f64 / 2.0 + (s % 5) as f64 - 2.0;
        let width = (b as f64 / 5.0).max(1.0);
        for (j, c) in self.counts.iter_mut().enumerate() {
            let w = (-((j as f64 - centre) / width).powi(2)).exp();
            let inc = 1 + (w * 40.0 * (0.5 + noise(s, scrape, j))) as u64;
            *c += inc;
            // Observations at the bucket's geometric middle.
            let mid = upper_bound(FIRST_BUCKET + j as i32) * 2f64.powf(-0.5 / f64::from(1 << SCHEMA));
            self.sum += inc as f64 * mid;
        }
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The native histogram (integer, one span, delta-encoded counts).
    fn native(&self, t: i64) -> Histogram {
        let mut prev = 0i64;
        let deltas = self
            .counts
            .iter()
            .map(|&c| {
                let d = c as i64 - prev;
                prev = c as i64;
                d
            })
            .collect();
        Histogram {
            count_int: Some(self.count()),
            sum: self.sum,
            schema: SCHEMA,
            zero_threshold: ZERO_THRESHOLD,
            zero_count_int: Some(0),
            positive_spans: vec![BucketSpan { offset: FIRST_BUCKET, length: self.counts.len() as u32 }],
            positive_deltas: deltas,
            timestamp: t,
            ..Default::default()
        }
    }

    /// The classic histogram: `_bucket` per native bucket (`le` = its upper
    /// bound, cumulative), `le="+Inf"`, `_sum`, `_count` (buckets + 3 float series).
    fn classic(&self, name: &str, s: usize, t: i64, out: &mut Vec<TimeSeries>) {
        let mut cum = 0;
        let bucket = format!("{name}_bucket");
        for (j, &c) in self.counts.iter().enumerate() {
            cum += c;
            let le = upper_bound(FIRST_BUCKET + j as i32).to_string();
            out.push(float_series(&bucket, s, Some(&le), t, cum as f64));
        }
        out.push(float_series(&bucket, s, Some("+Inf"), t, cum as f64));
        out.push(float_series(&format!("{name}_sum"), s, None, t, self.sum));
        out.push(float_series(&format!("{name}_count"), s, None, t, cum as f64));
    }
}

fn labels(name: &str, s: usize, le: Option<&str>) -> Vec<Label> {
    let mut l = vec![
        Label { name: "__name__".into(), value: name.into() },
        Label { name: "instance".into(), value: format!("host-{s}") },
        Label { name: "job".into(), value: "api".into() },
    ];
    if let Some(le) = le {
        l.push(Label { name: "le".into(), value: le.into() });
    }
    l
}

fn float_series(name: &str, s: usize, le: Option<&str>, t: i64, v: f64) -> TimeSeries {
    TimeSeries { labels: labels(name, s, le), samples: vec![Sample { value: v, timestamp: t }], ..Default::default() }
}

/// What to generate for one push.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Form {
    Native,
    Classic,
    /// Both, native under [`NATIVE`] and classic under [`CLASSIC`] (the query part).
    Both,
}

/// Encodes `series` histograms × `cfg.scrapes`, split into `cfg.workers`
/// lanes by series, each lane in time order; returns the lanes and the total
/// observation count at the last scrape.
fn encode(cfg: &Config, series: usize, form: Form, name: &str) -> (Lanes, u64) {
    let lanes = cfg.workers.clamp(1, series.max(1));
    let per_lane: Vec<(Vec<Request>, u64)> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..lanes)
            .map(|lane| {
                sc.spawn(move || {
                    let ids: Vec<usize> = (lane..series).step_by(lanes).collect();
                    let mut state: Vec<Series> = ids.iter().map(|_| Series::new(cfg.buckets)).collect();
                    let mut out = Vec::new();
                    let mut pending: Vec<TimeSeries> = Vec::new();
                    let mut samples = 0;
                    for scrape in 0..cfg.scrapes {
                        let t = cfg.start_ms + scrape as i64 * INTERVAL_MS;
                        for (k, &s) in ids.iter().enumerate() {
                            let st = &mut state[k];
                            st.advance(s, scrape);
                            let before = pending.len();
                            if matches!(form, Form::Native | Form::Both) {
                                let native = if form == Form::Both { NATIVE } else { name };
                                pending.push(TimeSeries {
                                    labels: labels(native, s, None),
                                    histograms: vec![st.native(t)],
                                    ..Default::default()
                                });
                            }
                            if matches!(form, Form::Classic | Form::Both) {
                                let classic = if form == Form::Both { CLASSIC } else { name };
                                st.classic(classic, s, t, &mut pending);
                            }
                            samples += pending.len() - before;
                            if samples >= PER_REQUEST {
                                out.push(Request { newest_ms: t, body: compress(std::mem::take(&mut pending)) });
                                samples = 0;
                            }
                        }
                    }
                    if !pending.is_empty() {
                        out.push(Request { newest_ms: cfg.end_ms(), body: compress(pending) });
                    }
                    (out, state.iter().map(Series::count).sum())
                })
            })
            .collect();
        // Invariant: the encoders do not panic (join fails only on a panic).
        handles.into_iter().map(|h| h.join().expect("encoder thread panicked")).collect()
    });
    let total = per_lane.iter().map(|(_, c)| c).sum();
    (per_lane.into_iter().map(|(r, _)| r).collect(), total)
}

fn compress(timeseries: Vec<TimeSeries>) -> Vec<u8> {
    let raw = WriteRequest { timeseries, ..Default::default() }.encode_to_vec();
    // Invariant: snappy compression of an in-memory buffer below 4 GiB cannot fail.
    snap::raw::Encoder::new().compress_vec(&raw).expect("snappy compress")
}

fn start(kind: Kind, strata_bin: &Path, strata_toml: &str) -> Result<System> {
    System::start_full(kind, strata_bin, strata_toml, &PROMETHEUS_FLAGS)
}

/// Pushes `lanes` and settles; checks that `check` (an instant query at the
/// last scrape) answers `expected`; returns (push s, server CPU s over push + settle).
fn push_and_check(
    sys: &System,
    lanes: Lanes,
    cfg: &Config,
    rt: &tokio::runtime::Runtime,
    check: &str,
    expected: u64,
) -> Result<(f64, f64)> {
    let cpu0 = sys.cpu_seconds()?;
    let took = rt
        .block_on(push::push(sys, Arc::new(lanes), cfg.start_ms))
        .with_context(|| format!("pushing into {}", sys.kind.name()))?;
    sys.settle()?;
    let cpu = sys.cpu_seconds()? - cpu0;
    let client = reqwest::blocking::Client::new();
    let end = (cfg.end_ms() as f64 / 1000.0).to_string();
    let body: serde_json::Value = sys
        .query(&client, "/api/v1/query")
        .query(&[("query", check), ("time", end.as_str())])
        .header("X-Read-Consistency", "strong")
        .send()?
        .json()?;
    let got = body["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok());
    ensure!(
        got == Some(expected as f64),
        "{}: {check} at the last scrape is {got:?}, pushed {expected} ({body})",
        sys.kind.name()
    );
    Ok((took.as_secs_f64(), cpu))
}

/// One query's answer: series (labels without `__name__`, as text) → points.
type Answer = BTreeMap<String, Vec<(f64, f64)>>;

fn run_query(client: &reqwest::blocking::Client, sys: &System, cfg: &Config, q: &str) -> Result<(f64, Answer)> {
    // Steps fall 5 s between scrapes: no sample sits on a window's left
    // edge, where Prometheus 2 (closed `[t-5m, t]`) and 3 (open `(t-5m, t]`,
    // as Strata) select differently.
    let start = ((cfg.start_ms + QUERY_OFFSET_MS) as f64 / 1000.0).to_string();
    let end = (cfg.end_ms() as f64 / 1000.0).to_string();
    let t = Instant::now();
    let resp = sys
        .query(client, "/api/v1/query_range")
        .query(&[("query", q), ("start", start.as_str()), ("end", end.as_str()), ("step", "10")])
        .header("Cache-Control", "no-store")
        .timeout(Duration::from_secs(600))
        .send()?;
    let status = resp.status();
    let body: serde_json::Value = resp.json()?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if !status.is_success() || body["status"] != "success" {
        bail!("{}: {q}: {status} {body}", sys.kind.name());
    }
    let mut answer = Answer::new();
    for s in body["data"]["result"].as_array().context("no result")? {
        let mut metric: Vec<(String, String)> = s["metric"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| *k != "__name__")
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        metric.sort();
        let points = s["values"]
            .as_array()
            .map(|vs| {
                vs.iter()
                    .filter_map(|p| Some((p[0].as_f64()?, p[1].as_str()?.parse::<f64>().ok()?)))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        answer.insert(format!("{metric:?}"), points);
    }
    ensure!(!answer.is_empty(), "{}: {q}: empty result", sys.kind.name());
    Ok((ms, answer))
}

/// One query on one system: median ms, first-run ms, the answer.
type Timed = (f64, f64, Answer);

/// How two answers compare.
#[derive(Debug, Default)]
struct Agreement {
    points: usize,
    /// Points present on one side only (series or timestamps).
    missing: usize,
    /// Points whose values differ beyond [`TOLERANCE`].
    differ: usize,
    max_rel: f64,
}

fn compare(a: &Answer, b: &Answer) -> Agreement {
    let mut ag = Agreement::default();
    for (k, pa) in a {
        let Some(pb) = b.get(k) else {
            ag.missing += pa.len();
            continue;
        };
        let mb: BTreeMap<i64, f64> = pb.iter().map(|&(t, v)| ((t * 1000.0) as i64, v)).collect();
        for &(t, va) in pa {
            ag.points += 1;
            let Some(&vb) = mb.get(&((t * 1000.0) as i64)) else {
                ag.missing += 1;
                continue;
            };
            if va == vb || (va.is_nan() && vb.is_nan()) {
                continue;
            }
            let rel = (va - vb).abs() / va.abs().max(vb.abs());
            ag.max_rel = ag.max_rel.max(rel);
            if rel > TOLERANCE {
                ag.differ += 1;
            }
        }
        ag.missing += pb.len().saturating_sub(pa.len());
    }
    ag.missing += b.keys().filter(|k| !a.contains_key(*k)).map(|k| b[k].len()).sum::<usize>();
    ag
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Part 1: per system, per query, (median ms, first ms, answer).
fn queries(cfg: &Config, strata_bin: &Path, rt: &tokio::runtime::Runtime) -> Result<Vec<(Kind, Vec<Timed>)>> {
    let (lanes, total) = encode(cfg, cfg.query_series, Form::Both, NATIVE);
    let bytes: usize = lanes.iter().flatten().map(|r| r.body.len()).sum();
    eprintln!(
        "query data: {} series x {} scrapes, native + classic, {} requests, {} KiB compressed",
        cfg.query_series,
        cfg.scrapes,
        lanes.iter().map(Vec::len).sum::<usize>(),
        bytes >> 10
    );
    let mut out = Vec::new();
    for &kind in &cfg.kinds {
        let toml = if cfg.flushed && kind == Kind::Strata { crate::mixed::FLUSH_SOON_TOML } else { "" };
        let sys = start(kind, strata_bin, toml)?;
        let (push_s, _) =
            push_and_check(&sys, lanes.clone(), cfg, rt, &format!("sum(histogram_count({NATIVE}))"), total)?;
        push_and_check(&sys, Vec::new(), cfg, rt, &format!("sum({CLASSIC}_count)"), total)?;
        if cfg.flushed && kind == Kind::Strata {
            crate::mixed::wait_flushed(&sys.base)?;
        }
        eprintln!("{}: pushed in {push_s:.1} s; querying", kind.name());
        let client = reqwest::blocking::Client::new();
        let mut per_query = Vec::new();
        for q in QUERIES {
            let (first, answer) = run_query(&client, &sys, cfg, q)?;
            let mut times = Vec::new();
            for _ in 0..cfg.runs {
                times.push(run_query(&client, &sys, cfg, q)?.0);
            }
            per_query.push((median(times), first, answer));
        }
        if cfg.profile_seconds > 0 && kind == Kind::Strata {
            eprintln!(
                "strata: looping the native queries for {} s: perf record -F 499 -g -p {}",
                cfg.profile_seconds,
                sys.pid()
            );
            let until = Instant::now() + Duration::from_secs(cfg.profile_seconds);
            while Instant::now() < until {
                for q in &QUERIES[..NATIVE_QUERIES] {
                    run_query(&client, &sys, cfg, q)?;
                }
            }
        }
        out.push((kind, per_query));
    }
    Ok(out)
}

/// Part 2's figures for one system and form.
struct Ingest {
    kind: Kind,
    form: Form,
    push_s: f64,
    cpu_s: f64,
}

/// Part 2: native then classic into a fresh system each.
fn ingest(cfg: &Config, strata_bin: &Path, rt: &tokio::runtime::Runtime) -> Result<Vec<Ingest>> {
    let mut out = Vec::new();
    for form in [Form::Native, Form::Classic] {
        let (lanes, total) = encode(cfg, cfg.ingest_series, form, INGEST);
        let bytes: usize = lanes.iter().flatten().map(|r| r.body.len()).sum();
        eprintln!(
            "ingest data, {form:?}: {} series x {} scrapes x {} buckets, {} requests, {} MiB compressed",
            cfg.ingest_series,
            cfg.scrapes,
            cfg.buckets,
            lanes.iter().map(Vec::len).sum::<usize>(),
            bytes >> 20
        );
        let check = match form {
            Form::Native => format!("sum(histogram_count({INGEST}))"),
            _ => format!("sum({INGEST}_count)"),
        };
        for &kind in &cfg.kinds {
            let sys = start(kind, strata_bin, "")?;
            let (push_s, cpu_s) = push_and_check(&sys, lanes.clone(), cfg, rt, &check, total)?;
            eprintln!("{} {form:?}: pushed in {push_s:.1} s, {cpu_s:.2} s server CPU", kind.name());
            out.push(Ingest { kind, form, push_s, cpu_s });
        }
    }
    Ok(out)
}

/// Runs both parts and prints the report.
pub fn run(cfg: &Config, strata_bin: &Path, rt: &tokio::runtime::Runtime) -> Result<()> {
    ensure!(cfg.buckets > 0 && cfg.scrapes > 0 && cfg.query_series > 0, "buckets, scrapes and series must be positive");
    let q = queries(cfg, strata_bin, rt)?;
    let ing = if cfg.ingest_series > 0 { ingest(cfg, strata_bin, rt)? } else { Vec::new() };
    println!(
        "\nnative histograms: schema {SCHEMA}, {} populated buckets, integer counters, {} scrapes at 10 s",
        cfg.buckets, cfg.scrapes
    );
    println!(
        "query part: {} series (native, and the same as classic: {} float series each); range queries over the \
         whole data at 10 s steps, {} runs, median (first run in brackets); Strata's results cache bypassed",
        cfg.query_series,
        cfg.buckets + 3,
        cfg.runs
    );
    let strata = q.iter().find(|(k, _)| *k == Kind::Strata);
    for (i, query) in QUERIES.iter().enumerate() {
        println!("  {query}");
        for (kind, per) in &q {
            let (ms, first, ans) = &per[i];
            let points: usize = ans.values().map(Vec::len).sum();
            let ratio = strata.map(|(_, s)| ms / s[i].0).unwrap_or(f64::NAN);
            println!(
                "    {:<12} {ms:>10.2} ms  ({first:>9.2})  {ratio:>7.2}x  {} series, {points} points",
                kind.name(),
                ans.len()
            );
        }
        if let (Some((_, s)), Some((_, p))) = (strata, q.iter().find(|(k, _)| *k == Kind::Prometheus)) {
            let ag = compare(&s[i].2, &p[i].2);
            println!(
                "    answers: {} points, {} on one side only, {} differ beyond {TOLERANCE:e} \
                 (max relative difference {:.3e})",
                ag.points, ag.missing, ag.differ, ag.max_rel
            );
        }
    }
    println!("(ratio = system / strata: > 1 means Strata is faster)");
    if !ing.is_empty() {
        let hists = (cfg.ingest_series * cfg.scrapes) as f64;
        let bucket_samples = hists * cfg.buckets as f64;
        println!(
            "\ningest CPU: {} histograms x {} scrapes x {} buckets = {} bucket-samples; classic = {} float samples \
             ({} buckets + le=+Inf + _sum + _count per histogram)",
            cfg.ingest_series,
            cfg.scrapes,
            cfg.buckets,
            bucket_samples,
            hists * (cfg.buckets + 3) as f64,
            cfg.buckets
        );
        println!(
            "{:<12} {:<8} {:>8} {:>8} {:>14} {:>14} {:>16}",
            "system", "form", "push s", "CPU s", "ns/bucket-smp", "us/histogram", "ns/float-sample"
        );
        for m in &ing {
            let floats = match m.form {
                Form::Classic => format!("{:.1}", m.cpu_s * 1e9 / (hists * (cfg.buckets + 3) as f64)),
                _ => "-".to_string(),
            };
            println!(
                "{:<12} {:<8} {:>8.1} {:>8.2} {:>14.1} {:>14.2} {:>16}",
                m.kind.name(),
                format!("{:?}", m.form).to_lowercase(),
                m.push_s,
                m.cpu_s,
                m.cpu_s * 1e9 / bucket_samples,
                m.cpu_s * 1e6 / hists,
                floats
            );
        }
        for &kind in &cfg.kinds {
            let find = |f| ing.iter().find(|m| m.kind == kind && m.form == f);
            if let (Some(n), Some(c)) = (find(Form::Native), find(Form::Classic)) {
                let per_bucket = (n.cpu_s / bucket_samples) / (c.cpu_s / (hists * (cfg.buckets + 3) as f64));
                println!(
                    "{}: native / classic CPU per bucket-sample (classic: per float sample of its series) \
                     {per_bucket:.2}x (target <= 2); per histogram {:.2}x",
                    kind.name(),
                    n.cpu_s / c.cpu_s
                );
            }
        }
        println!("(CPU = utime + stime of the server process over push + settle, fresh server per row)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The native and classic forms of one series describe the same
    /// histogram: cumulative classic buckets at the native upper bounds,
    /// the same count and sum; the native deltas decode to the counts.
    #[test]
    fn native_and_classic_forms_agree() {
        let mut s = Series::new(8);
        for scrape in 0..3 {
            s.advance(1, scrape);
        }
        let h = s.native(42);
        let mut decoded = Vec::new();
        let mut acc = 0i64;
        for d in &h.positive_deltas {
            acc += d;
            decoded.push(acc as u64);
        }
        assert_eq!(decoded, s.counts);
        assert_eq!(h.count_int, Some(s.count()));
        assert!(s.counts.iter().all(|&c| c >= 3));
        let mut classic = Vec::new();
        s.classic("x", 1, 42, &mut classic);
        assert_eq!(classic.len(), 8 + 3);
        let le = |ts: &TimeSeries| ts.labels.iter().find(|l| l.name == "le").map(|l| l.value.clone());
        assert_eq!(le(&classic[0]).as_deref(), Some(upper_bound(FIRST_BUCKET).to_string().as_str()));
        assert_eq!(le(&classic[8]).as_deref(), Some("+Inf"));
        assert_eq!(classic[8].samples[0].value, s.count() as f64);
        assert_eq!(classic[10].samples[0].value, s.count() as f64);
        assert_eq!(classic[9].samples[0].value, s.sum);
        assert!((upper_bound(8) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn answers_compare_by_series_and_time() {
        let a: Answer = [("s".to_string(), vec![(1.0, 1.0), (2.0, f64::NAN)])].into();
        let mut b = a.clone();
        let ag = compare(&a, &b);
        assert_eq!((ag.points, ag.missing, ag.differ), (2, 0, 0));
        b.get_mut("s").unwrap()[0].1 = 1.1;
        b.insert("t".into(), vec![(1.0, 0.0)]);
        let ag = compare(&a, &b);
        assert_eq!((ag.points, ag.missing, ag.differ), (2, 1, 1));
    }
}
