//! Query-side decode and series selection on TSBS-like data (the shape of
//! `loadgen --mode tsbs`: 51 series per host with the 13-14 TSBS labels;
//! 10 full-precision cpu random walks, 6 memory gauges in 4 KiB pages, 34
//! integer counters, one float counter; 10 s scrapes), in the two file
//! formats queries read:
//! - `decode/l0`: every sample of a level-0 flush file (format v2: Gorilla
//!   chunks of 240 for the cpu walks, decimal chunks of up to 1024 for the
//!   rest), through `FileReader::samples` (samples/s/core);
//! - `decode/v6`: the same data after a compaction (format v6: float-bits
//!   chunks, int modes 5-8, zstd where smaller);
//! - `decode/l0_cut`, `decode/v6_cut`: the same files read in windows of 1 h
//!   (every chunk overlapping a window boundary is cut by `max_t`);
//! - `head/all`, `head/cut`: a head read (`Memtable::read`) of every series
//!   of the same data, whole or in windows of 1 h, from the head's pages
//!   (sealed pages decode; samples/s/core);
//! - `select/*`: `Store::select` over [`FILES`] level-0 files of [`HOSTS`]
//!   hosts each (the same series in every file): one metric
//!   (`cpu_usage_user`, 1 series per host) and a name regex
//!   (`cpu_usage_.*`, 10 per host), series/s of the answer.
//!
//! Run: `cargo bench -p strata-storage --bench decode`.
//! Instruction counts of one pass (the setup is not counted; `--test` runs
//! each benchmark once): `valgrind --tool=callgrind
//! --toggle-collect='*measured_scan*' target/release/deps/decode-<hash> --bench --test --exact decode/l0`
//! (`*measured_select*` for `select/*`).
use std::sync::Arc;

/// The server's allocator: head reads allocate a vector per series.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use strata_common::head::SelectRequest;
use strata_common::{MatchOp, Matcher, Sample, TenantId};
use strata_storage::compaction::merge::{Throttle, run_job};
use strata_storage::compaction::{CompactionConfig, plan};
use strata_storage::{FileMeta, FileReader, FlushContext, ManifestStore, Memtable, PartitionRange, Store, write_files};

/// Hosts in the decode files.
const HOSTS: usize = 50;
/// Scrapes (10 s) in the decode files: 2 h.
const SCRAPES: usize = 720;
/// Files in the selection bench, and hosts per file.
const FILES: usize = 4;
const SELECT_HOSTS: usize = 200;
const T0: i64 = 1_700_000_000_000;

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (1.0 - self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// A series: its label pairs (sorted by name) and values.
type Series = (Vec<(String, String)>, Vec<f64>);

/// One host's 51 series with `scrapes` values each.
fn host(h: usize, scrapes: usize) -> Vec<Series> {
    let mut rng = Rng(h as u64 * 7919 + 1);
    let regions = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1", "sa-east-1"];
    let region = regions[h % regions.len()];
    let tags: Vec<(&str, String)> = vec![
        ("hostname", format!("host_{h}")),
        ("region", region.to_string()),
        ("datacenter", format!("{region}{}", ["a", "b", "c"][h % 3])),
        ("rack", (h % 100).to_string()),
        ("os", ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"][h % 3].to_string()),
        ("arch", ["x64", "x86"][h % 2].to_string()),
        ("team", ["SF", "NYC", "LON", "CHI"][h % 4].to_string()),
        ("service", (h % 20).to_string()),
        ("service_version", (h % 2).to_string()),
        ("service_environment", ["production", "staging", "test"][h % 3].to_string()),
    ];
    let labels = |job: &str, port: u16, pairs: &[(&str, &str)]| {
        let mut v: Vec<(String, String)> = tags.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
        v.push(("job".into(), job.into()));
        v.push(("instance".into(), format!("host_{h}:{port}")));
        v.extend(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        v.sort();
        v
    };
    let mut out = Vec::new();
    for f in ["user", "system", "idle", "nice", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"] {
        let mut v = 100.0 * rng.uniform();
        let vs = (0..scrapes).map(|_| {
            v = (v + rng.normal()).clamp(0.0, 100.0);
            v
        });
        let vs = vs.collect();
        out.push((labels("node", 9100, &[("__name__", &format!("cpu_usage_{f}")), ("cpu", "cpu-total")]), vs));
    }
    let total = 16.0 * (1u64 << 30) as f64 / 4096.0;
    for (i, f) in ["total", "available", "used", "free", "cached", "buffered"].into_iter().enumerate() {
        let mut share = 0.1 + 0.1 * i as f64;
        let vs = (0..scrapes)
            .map(|_| {
                if i > 0 {
                    share = (share + 0.003 * rng.normal()).clamp(0.01, 0.9);
                }
                (total * if i == 0 { 1.0 } else { share }).floor() * 4096.0
            })
            .collect();
        out.push((labels("node", 9100, &[("__name__", &format!("mem_{f}_bytes"))]), vs));
    }
    let counter = |rng: &mut Rng, rate: f64| -> Vec<f64> {
        let mut x = (rate * 3600.0 * rng.uniform()).floor();
        (0..scrapes)
            .map(|_| {
                x += (rate * 10.0 * (0.5 + rng.uniform()) + rng.uniform()).floor();
                x
            })
            .collect()
    };
    for (status, rate) in [("200", 40.0), ("201", 4.0), ("301", 1.0), ("404", 2.0), ("500", 0.3), ("503", 0.1)] {
        let vs = counter(&mut rng, rate);
        out.push((labels("api", 8080, &[("__name__", "http_requests_total"), ("status", status)]), vs));
    }
    for (i, rate) in [1.2e6, 4.0e5, 1100.0, 600.0, 0.01, 0.01, 0.05, 0.02].into_iter().enumerate() {
        let vs = counter(&mut rng, rate);
        out.push((labels("node", 9100, &[("__name__", &format!("net_{i}_total")), ("interface", "eth0")]), vs));
    }
    for (i, rate) in [50.0, 80.0, 2e6, 3e6, 40.0, 90.0, 120.0].into_iter().enumerate() {
        let vs = counter(&mut rng, rate);
        out.push((labels("node", 9100, &[("__name__", &format!("diskio_{i}_total")), ("name", "nvme0n1")]), vs));
    }
    for (i, le) in
        ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"].into_iter().enumerate()
    {
        let vs = counter(&mut rng, 4.0 * (i + 1) as f64);
        out.push((labels("api", 8080, &[("__name__", "http_request_duration_seconds_bucket"), ("le", le)]), vs));
    }
    let mut sum = 0.0;
    let sums = (0..scrapes)
        .map(|_| {
            sum += 47.0 * 10.0 * (0.02 + 0.01 * rng.normal()).abs();
            sum
        })
        .collect();
    out.push((labels("api", 8080, &[("__name__", "http_request_duration_seconds_sum")]), sums));
    let count = counter(&mut rng, 47.0);
    out.push((labels("api", 8080, &[("__name__", "http_request_duration_seconds_count")]), count));
    out
}

/// Flushes `hosts` hosts × scrapes `[from, to)` into one level-0 file.
fn flush(store: &ManifestStore, hosts: usize, from: usize, to: usize) -> FileMeta {
    let tenant = TenantId::new("bench").expect("valid tenant");
    let mut mem = Memtable::new();
    for h in 0..hosts {
        for (labels, vs) in host(h, to) {
            let pairs: Vec<(&str, &str)> = labels.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let samples = (from..to).map(|s| Sample::new(T0 + s as i64 * 10_000, vs[s]));
            mem.append(&tenant, &pairs, samples);
        }
    }
    let end = store.current().files.len() as u64 + 1;
    let ctx = FlushContext { offsets: vec![PartitionRange { partition: 0, start: end - 1, end }], level: 0 };
    let files = write_files(store, &mem.freeze(), &ctx).expect("flush");
    store.commit_flush(files.clone(), &[(0, end)]).expect("commit");
    files.into_iter().next().expect("one tenant")
}

/// Decodes every series of `reader` in windows of `window` ms; returns the sample count.
#[inline(never)]
fn scan(reader: &FileReader, window: i64, out: &mut Vec<Sample>) -> usize {
    let mut n = 0;
    for id in 0..reader.series_count() {
        let mut from = reader.min_t();
        while from <= reader.max_t() {
            out.clear();
            reader.samples(id, from, from.saturating_add(window - 1), out).expect("decode");
            n += out.len();
            from = from.saturating_add(window);
        }
    }
    n
}

fn bench_decode(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ManifestStore::open(dir.path()).expect("manifest");
    let l0 = flush(&store, HOSTS, 0, SCRAPES);
    // A compaction of two overlapping level-0 files: a v6 file, as queries read after compaction.
    let a = flush(&store, HOSTS, 0, SCRAPES / 2 + 10);
    let b = flush(&store, HOSTS, SCRAPES / 2, SCRAPES);
    let config = CompactionConfig { level_windows_ms: vec![1 << 40], ..CompactionConfig::default() };
    let mut m = (*store.current()).clone();
    m.files.retain(|f| f.id == a.id || f.id == b.id);
    let job = plan(&m, &config, 0, |_| true).jobs.into_iter().next().expect("a level-0 job");
    let v6 = run_job(&store, &job, &mut Throttle::new(0)).expect("compaction").outputs.remove(0);
    let mut g = c.benchmark_group("decode");
    g.sample_size(10);
    for (name, meta) in [("l0", &l0), ("v6", &v6)] {
        let reader = FileReader::open(&store.data_dir().join(&meta.path)).expect("open");
        eprintln!("{name}: {} samples, {:.3} bytes/sample", meta.samples, meta.bytes as f64 / meta.samples as f64);
        g.throughput(Throughput::Elements(meta.samples));
        let mut out = Vec::with_capacity(SCRAPES);
        assert_eq!(scan(&reader, i64::MAX, &mut out), meta.samples as usize);
        assert_eq!(scan(&reader, 3_600_000, &mut out), meta.samples as usize);
        g.bench_function(name, |b| b.iter(|| black_box(measured_scan(&reader, i64::MAX, &mut out))));
        g.bench_function(format!("{name}_cut"), |b| b.iter(|| black_box(measured_scan(&reader, 3_600_000, &mut out))));
    }
    g.finish();
}

/// A memtable of `hosts` hosts × `scrapes` scrapes.
fn head(hosts: usize, scrapes: usize) -> Memtable {
    let tenant = TenantId::new("bench").expect("valid tenant");
    let mut mem = Memtable::new();
    for h in 0..hosts {
        for (labels, vs) in host(h, scrapes) {
            let pairs: Vec<(&str, &str)> = labels.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            mem.append(&tenant, &pairs, (0..scrapes).map(|s| Sample::new(T0 + s as i64 * 10_000, vs[s])));
        }
    }
    mem
}

/// Reads every series of `mem` in windows of `window` ms; returns the sample count.
#[inline(never)]
fn measured_head_read(mem: &Memtable, window: i64) -> usize {
    let tenant = TenantId::new("bench").expect("valid tenant");
    let all = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").expect("valid matcher");
    let (first, last) = (T0, T0 + (SCRAPES as i64 - 1) * 10_000);
    let mut n = 0;
    let mut from = first;
    while from <= last {
        let req =
            SelectRequest::new(tenant.clone(), vec![all.clone()], from, from.saturating_add(window - 1).min(last));
        n += mem.read(&req).iter().map(|s| s.samples.len()).sum::<usize>();
        from = from.saturating_add(window);
    }
    n
}

fn bench_head(c: &mut Criterion) {
    let mem = head(HOSTS, SCRAPES);
    let samples = mem.sample_count();
    eprintln!(
        "head: {samples} samples, {:.2} bytes/sample (memtable estimate)",
        mem.approx_bytes() as f64 / samples as f64
    );
    assert_eq!(measured_head_read(&mem, i64::MAX) as u64, samples);
    assert_eq!(measured_head_read(&mem, 3_600_000) as u64, samples);
    let mut g = c.benchmark_group("head");
    g.sample_size(10);
    g.throughput(Throughput::Elements(samples));
    g.bench_function("all", |b| b.iter(|| black_box(measured_head_read(&mem, i64::MAX))));
    g.bench_function("cut", |b| b.iter(|| black_box(measured_head_read(&mem, 3_600_000))));
    g.finish();
}

/// [`scan`], as measured (callgrind: `--toggle-collect='*measured_scan*'`).
#[inline(never)]
fn measured_scan(reader: &FileReader, window: i64, out: &mut Vec<Sample>) -> usize {
    scan(reader, window, out)
}

/// [`select`], as measured (callgrind: `--toggle-collect='*measured_select*'`).
#[inline(never)]
fn measured_select(store: &Store, req: &SelectRequest) -> usize {
    select(store, req)
}

/// Selects `matchers` over the whole range; returns the series count.
#[inline(never)]
fn select(store: &Store, req: &SelectRequest) -> usize {
    let base = [(0, u64::MAX)].into_iter().collect();
    store.select(req, &base).expect("select").len()
}

fn bench_select(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = Arc::new(ManifestStore::open(dir.path()).expect("manifest"));
    for f in 0..FILES {
        flush(&manifest, SELECT_HOSTS, f * 6, f * 6 + 6);
    }
    let store = Store::new(manifest);
    let tenant = TenantId::new("bench").expect("valid tenant");
    let mut g = c.benchmark_group("select");
    g.sample_size(10);
    for (name, op, value, want) in [
        ("one_metric", MatchOp::Equal, "cpu_usage_user", SELECT_HOSTS),
        ("name_regex", MatchOp::RegexMatch, "cpu_usage_.*", 10 * SELECT_HOSTS),
    ] {
        let m = Matcher::new(op, "__name__", value).expect("valid matcher");
        let req = SelectRequest::new(tenant.clone(), vec![m], i64::MIN, i64::MAX);
        assert_eq!(select(&store, &req), want);
        g.throughput(Throughput::Elements(want as u64));
        g.bench_function(name, |b| b.iter(|| black_box(measured_select(&store, &req))));
    }
    g.finish();
}

criterion_group!(benches, bench_decode, bench_head, bench_select);
criterion_main!(benches);
