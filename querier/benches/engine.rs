//! Measures the PromQL engine over an in-memory source.
//!
//! - `basic`: 1,000 counters with 721 samples each (12 h at 60 s),
//!   `sum by (job) (rate(x[5m]))` as a range query with 240 steps, and an
//!   instant `topk`.
//! - `dashboard`: the loadgen's dashboard set (high-cardinality `sum by`,
//!   `rate` over every counter, `histogram_quantile`, `topk`, a subquery,
//!   a low-cardinality `avg by`) over 500 hosts × 22 series (11,000 series,
//!   20 min at 10 s), as 15 s-step range queries. Each query's peak memory
//!   and samples (from the engine's statistics) are printed once first.
//! - `windows`: the range-window kernels (`rate`, `increase`,
//!   `avg_over_time`, `max_over_time`) and the instant selector over
//!   1,000 series × 6 h at 10 s (2.16 M samples), 60 s steps, each on 1
//!   and on 2 threads (`EngineOptions::parallelism`): loading a series
//!   into the kernel, the sliding window over it, and the aggregation
//!   above. Throughput is in input samples.
//! - `histograms`: native histograms, the shape of the issue-12 target
//!   (`loadgen --mode histograms`): [`HIST_SERIES`] latency histograms,
//!   1 h at 10 s, schema 3 with [`HIST_BUCKETS`] populated buckets (integer
//!   counters), and the same data as classic histograms (`_bucket` per
//!   native bucket, `+Inf`, `_sum`, `_count`); `histogram_quantile` per
//!   series and over `sum`, native and classic, as range queries over the
//!   hour at 10 s steps (360 steps).
//!
//! Run: `cargo bench -p strata-querier --bench engine`
//! Profile: `perf record -e cpu-clock -g -- target/release/deps/engine-* --bench --profile-time 10 dashboard`

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use strata_common::histogram::Span;
use strata_common::{HistSample, Histogram, Labels, Sample, TenantId};
use strata_querier::engine::{Engine, EngineOptions, QueryRequest, QueryValue};
use strata_querier::{MemorySource, SeriesSource};

fn basic_source() -> Arc<MemorySource> {
    let src = MemorySource::new();
    let t = TenantId::default_tenant();
    for i in 0..1000 {
        let job = format!("job{}", i % 10);
        let inst = format!("inst{i}");
        let labels =
            Labels::from_pairs([("__name__", "x"), ("job", job.as_str()), ("instance", inst.as_str())]).unwrap();
        let samples: Vec<Sample> = (0..=720).map(|k| Sample::new(k * 60_000, (k * (i % 7 + 1)) as f64)).collect();
        src.append(&t, labels, &samples).unwrap();
    }
    Arc::new(src)
}

const HOSTS: usize = 500;
const SCRAPES: i64 = 121;
const INTERVAL: i64 = 10_000;
const BUCKETS: [&str; 8] = ["0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"];

/// The loadgen workload's shape: CPU gauges, request counters, a latency
/// histogram per host.
fn dashboard_source() -> Arc<MemorySource> {
    let src = MemorySource::new();
    let t = TenantId::default_tenant();
    let add = |pairs: &[(&str, &str)], f: &dyn Fn(i64) -> f64| {
        let samples: Vec<Sample> = (0..SCRAPES).map(|k| Sample::new(k * INTERVAL, f(k))).collect();
        src.append(&t, Labels::from_pairs(pairs.iter().copied()).unwrap(), &samples).unwrap();
    };
    for h in 0..HOSTS {
        let host = format!("host-{h:05}");
        let dc = ["eu-west", "us-east", "ap-south"][h % 3];
        for cpu in 0..10 {
            let c = cpu.to_string();
            let pairs = [("__name__", "cpu_usage_percent"), ("host", &host), ("dc", dc), ("cpu", &c), ("job", "node")];
            add(&pairs, &|k| ((h * 31 + cpu * 17 + k as usize * 7) % 60 + 20) as f64);
        }
        for (i, code) in ["200", "200", "500", "500"].iter().enumerate() {
            let method = ["GET", "POST"][i % 2];
            let pairs = [
                ("__name__", "http_requests_total"),
                ("host", &host),
                ("dc", dc),
                ("code", code),
                ("method", method),
                ("job", "api"),
            ];
            add(&pairs, &|k| (k * (1 + i as i64 + (h % 5) as i64) * 10) as f64);
        }
        for (i, le) in BUCKETS.iter().enumerate() {
            let share = ((i + 1) as f64 / BUCKETS.len() as f64).sqrt();
            let pairs = [("__name__", "http_request_duration_seconds_bucket"), ("host", &host), ("dc", dc), ("le", le)];
            add(&pairs, &|k| (k as f64 * 50.0 * share).floor());
        }
    }
    Arc::new(src)
}

/// The loadgen's dashboard queries (`benches/src/dashboard.rs`).
const DASHBOARD: [(&str, &str); 7] = [
    ("high-cardinality sum by", "sum by (host) (cpu_usage_percent)"),
    ("one group per series", "sum by (host, cpu) (cpu_usage_percent)"),
    ("rate over all counters", "sum by (code) (rate(http_requests_total[5m]))"),
    (
        "histogram_quantile",
        "histogram_quantile(0.99, sum by (le, dc) (rate(http_request_duration_seconds_bucket[5m])))",
    ),
    ("topk", "topk(10, max by (host) (cpu_usage_percent))"),
    ("subquery", "max_over_time(sum by (dc) (rate(http_requests_total[1m]))[5m:30s])"),
    ("low-cardinality avg by", "avg by (dc) (cpu_usage_percent)"),
];

fn request(query: &str, start: i64, end: i64, step: i64, instant: bool) -> QueryRequest {
    QueryRequest { tenant: TenantId::default_tenant(), query: query.into(), start, end, step, instant, timeout: None }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let engine = Engine::new(EngineOptions {
        max_samples: u64::MAX,
        max_memory_bytes: u64::MAX,
        timeout: Duration::from_secs(60),
        ..Default::default()
    });

    let src = basic_source();
    let run = |req: QueryRequest| {
        let src: &dyn SeriesSource = src.as_ref();
        rt.block_on(engine.execute(src, req)).unwrap()
    };
    let mut g = c.benchmark_group("basic");
    g.bench_function("range sum by (job) (rate(x[5m])) 1000 series x 240 steps", |b| {
        b.iter(|| run(request("sum by (job) (rate(x[5m]))", 3_600_000, 43_200_000, 165_000, false)))
    });
    g.bench_function("instant topk(5, x)", |b| b.iter(|| run(request("topk(5, x)", 43_200_000, 43_200_000, 1, true))));
    g.finish();

    let src = dashboard_source();
    let end = (SCRAPES - 1) * INTERVAL;
    let mut g = c.benchmark_group("dashboard");
    g.sample_size(10);
    for (name, query) in DASHBOARD {
        let req = request(query, 0, end, 15_000, false);
        let (_, stats) = rt.block_on(engine.execute_with_stats(src.as_ref(), req.clone())).unwrap();
        eprintln!(
            "{name}: {query}\n  samples {} series {} peak samples {} peak memory {} KiB",
            stats.samples_loaded,
            stats.series_touched,
            stats.peak_samples,
            stats.peak_memory_bytes >> 10
        );
        g.bench_function(name, |b| b.iter(|| rt.block_on(engine.execute(src.as_ref(), req.clone())).unwrap()));
    }
    g.finish();
}

/// 1,000 series × 6 h at 10 s: counters `c` and full-precision gauges `g`.
fn windows_source() -> Arc<MemorySource> {
    let src = MemorySource::new();
    let t = TenantId::default_tenant();
    for i in 0..1000usize {
        let host = format!("host_{i}");
        let region = format!("r{}", i % 9);
        let (mut c, mut g) = (0.0, 50.0);
        let (mut cs, mut gs) = (Vec::new(), Vec::new());
        for k in 0..WINDOW_SAMPLES {
            let x = ((i as i64 * 7919 + k * 104_729) % 1000) as f64 / 1000.0;
            c += (x * 40.0).floor();
            g = (g + x - 0.5_f64).clamp(0.0, 100.0);
            cs.push(Sample::new(k * INTERVAL, c));
            gs.push(Sample::new(k * INTERVAL, g));
        }
        let labels = |name: &str| Labels::from_pairs([("__name__", name), ("hostname", &host), ("region", &region)]);
        src.append(&t, labels("c").unwrap(), &cs).unwrap();
        src.append(&t, labels("g").unwrap(), &gs).unwrap();
    }
    Arc::new(src)
}

const WINDOW_SAMPLES: i64 = 6 * 360;

fn windows(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let src = windows_source();
    let end = (WINDOW_SAMPLES - 1) * INTERVAL;
    let mut g = c.benchmark_group("windows");
    g.sample_size(10);
    g.throughput(criterion::Throughput::Elements(1000 * WINDOW_SAMPLES as u64));
    for query in [
        "avg by (region) (rate(c[5m]))",
        "sum by (region) (increase(c[1h]))",
        "avg by (region) (avg_over_time(g[10m]))",
        "max by (region) (max_over_time(g[5m]))",
        "count(g > 90)",
    ] {
        for threads in [1, 2] {
            let engine = Engine::new(EngineOptions {
                max_samples: u64::MAX,
                max_memory_bytes: u64::MAX,
                timeout: Duration::from_secs(60),
                parallelism: threads,
                ..Default::default()
            });
            let req = request(query, 0, end, 60_000, false);
            g.bench_function(format!("{query} ({threads} threads)"), |b| {
                b.iter(|| rt.block_on(engine.execute(src.as_ref(), req.clone())).unwrap())
            });
        }
    }
    g.finish();
}

const HIST_SERIES: usize = 20;
const HIST_BUCKETS: usize = 32;
const HIST_SCRAPES: i64 = 360;
/// Upper bound of the first bucket: 2^(−53/8) ≈ 10 ms.
const HIST_FIRST: i32 = -53;

/// [`HIST_SERIES`] latency histograms as native (`lat`) and classic
/// (`lat_classic_bucket{le}`, `_sum`, `_count`) series: every bucket grows
/// by at least one per scrape, a bell around a per-series centre.
fn hist_source(series: usize) -> Arc<MemorySource> {
    let src = MemorySource::new();
    let t = TenantId::default_tenant();
    for s in 0..series {
        let inst = format!("host-{s}");
        let centre = HIST_BUCKETS as f64 / 2.0 + (s % 5) as f64 - 2.0;
        let mut counts = vec![0.0; HIST_BUCKETS];
        let mut sum = 0.0;
        let mut native = Vec::new();
        let mut classic = vec![Vec::new(); HIST_BUCKETS + 3];
        for k in 0..HIST_SCRAPES {
            for (j, c) in counts.iter_mut().enumerate() {
                let w = (-((j as f64 - centre) / (HIST_BUCKETS as f64 / 5.0)).powi(2)).exp();
                let x = ((s as i64 * 7919 + k * 104_729 + j as i64 * 31) % 1000) as f64 / 1000.0;
                let inc = (1.0 + w * 40.0 * (0.5 + x)).floor();
                *c += inc;
                sum += inc * 2f64.powf((HIST_FIRST + j as i32) as f64 / 8.0 - 1.0 / 16.0);
            }
            let count: f64 = counts.iter().sum();
            let h = Histogram {
                integer: true,
                schema: 3,
                zero_threshold: 2.938_735_877_055_719e-39,
                count,
                sum,
                positive_spans: vec![Span { offset: HIST_FIRST, length: HIST_BUCKETS as u32 }],
                positive_buckets: counts.clone(),
                ..Default::default()
            };
            native.push(HistSample::new(k * INTERVAL, h));
            let mut cum = 0.0;
            for (j, c) in counts.iter().enumerate() {
                cum += c;
                classic[j].push(Sample::new(k * INTERVAL, cum));
            }
            classic[HIST_BUCKETS].push(Sample::new(k * INTERVAL, count));
            classic[HIST_BUCKETS + 1].push(Sample::new(k * INTERVAL, sum));
            classic[HIST_BUCKETS + 2].push(Sample::new(k * INTERVAL, count));
        }
        let labels = |name: &str, le: Option<&str>| {
            let mut pairs = vec![("__name__", name), ("instance", inst.as_str()), ("job", "api")];
            pairs.extend(le.map(|le| ("le", le)));
            Labels::from_pairs(pairs).unwrap()
        };
        src.append_histograms(&t, labels("lat", None), &native).unwrap();
        for (j, samples) in classic.iter().enumerate() {
            let (name, le) = match j {
                j if j < HIST_BUCKETS => {
                    ("lat_classic_bucket", Some(2f64.powf((HIST_FIRST + j as i32) as f64 / 8.0).to_string()))
                }
                j if j == HIST_BUCKETS => ("lat_classic_bucket", Some("+Inf".to_string())),
                j if j == HIST_BUCKETS + 1 => ("lat_classic_sum", None),
                _ => ("lat_classic_count", None),
            };
            src.append(&t, labels(name, le.as_deref()), samples).unwrap();
        }
    }
    Arc::new(src)
}

fn histograms(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let engine = Engine::new(EngineOptions {
        max_samples: u64::MAX,
        max_memory_bytes: u64::MAX,
        timeout: Duration::from_secs(60),
        ..Default::default()
    });
    let end = (HIST_SCRAPES - 1) * INTERVAL;
    let mut g = c.benchmark_group("histograms");
    g.sample_size(10);
    for series in [HIST_SERIES, 10 * HIST_SERIES] {
        let src = hist_source(series);
        for (query, result_series) in [
            ("histogram_quantile(0.9, rate(lat[5m]))", series),
            ("histogram_quantile(0.9, sum(rate(lat[5m])))", 1),
            ("histogram_count(rate(lat[5m]))", series),
            ("histogram_quantile(0.9, rate(lat_classic_bucket[5m]))", series),
            ("histogram_quantile(0.9, sum by (le) (rate(lat_classic_bucket[5m])))", 1),
        ] {
            let req = request(query, 0, end, 10_000, false);
            let QueryValue::Matrix(out) = rt.block_on(engine.execute(src.as_ref(), req.clone())).unwrap() else {
                panic!("{query}: not a matrix");
            };
            // Every step from the first full 5m window on has a point.
            let points: usize = out.iter().map(|s| s.points.len()).sum();
            assert_eq!((out.len(), points), (result_series, result_series * (HIST_SCRAPES as usize - 1)), "{query}");
            g.bench_function(format!("{query} ({series} series)"), |b| {
                b.iter(|| rt.block_on(engine.execute(src.as_ref(), req.clone())).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench, windows, histograms);
criterion_main!(benches);
