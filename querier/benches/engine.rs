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
//!
//! Run: `cargo bench -p strata-querier --bench engine`
//! Profile: `perf record -e cpu-clock -g -- target/release/deps/engine-* --bench --profile-time 10 dashboard`

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use strata_common::{Labels, Sample, TenantId};
use strata_querier::engine::{Engine, EngineOptions, QueryRequest};
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

criterion_group!(benches, bench, windows);
criterion_main!(benches);
