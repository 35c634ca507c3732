//! File-level throughput on the loadgen workload's shape (26 series per
//! host: CPU gauges, counters, a latency histogram; 10 s scrapes):
//! - `file/scan`: decoding every sample of a file through `FileReader`
//!   (samples/s/core; the query-side decode path),
//! - `file/compact`: a level-0 → level-1 compaction job merging two
//!   overlapping files (input samples/s),
//! - `postings/*`: matcher evaluation on a 26 000-series file (`=`, `!=`,
//!   a set `a|b|c`, a literal-prefix regex, a regex without a literal
//!   prefix), the index side of query planning.
//!
//! Run: `cargo bench -p strata-storage --bench files`
//! (compile check only: `cargo check -p strata-storage --benches`).
use std::sync::Arc;

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use strata_common::{MatchOp, Matcher, TenantId};
use strata_storage::compaction::merge::{Throttle, run_job};
use strata_storage::compaction::{CompactionConfig, plan};
use strata_storage::{FileMeta, FileReader, FlushContext, ManifestStore, Memtable, PartitionRange, write_files};

const SCRAPES: i64 = 720;

/// One host's series (label pairs) and a value generator per series.
fn host_series(h: usize) -> Vec<Vec<(String, String)>> {
    let host = format!("host-{h:05}");
    let dc = ["eu-west", "us-east", "ap-south"][h % 3].to_string();
    let l = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        v.push(("host".into(), host.clone()));
        v.push(("dc".into(), dc.clone()));
        v.sort(); // the memtable takes label pairs sorted by name, as remote write sends them
        v
    };
    let mut out = Vec::new();
    for cpu in 0..10 {
        out.push(l(&[("__name__", "cpu_usage_percent"), ("cpu", &cpu.to_string()), ("job", "node")]));
    }
    for dev in ["eth0", "eth1"] {
        out.push(l(&[("__name__", "node_network_receive_bytes_total"), ("device", dev), ("job", "node")]));
    }
    for (code, method) in [("200", "GET"), ("200", "POST"), ("500", "GET"), ("500", "POST")] {
        out.push(l(&[("__name__", "http_requests_total"), ("code", code), ("method", method), ("job", "api")]));
    }
    for le in ["0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"] {
        out.push(l(&[("__name__", "http_request_duration_seconds_bucket"), ("le", le), ("job", "api")]));
    }
    out.push(l(&[("__name__", "http_request_duration_seconds_sum"), ("job", "api")]));
    out.push(l(&[("__name__", "http_request_duration_seconds_count"), ("job", "api")]));
    out
}

fn noise(a: usize, b: usize, c: i64) -> f64 {
    let mut x =
        (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (b as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F) ^ c as u64;
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Flushes `hosts` hosts × scrapes `[from, to)` into one level-0 file.
fn flush(store: &ManifestStore, hosts: usize, from: i64, to: i64) -> FileMeta {
    let tenant = TenantId::new("bench").expect("valid tenant");
    let mut mem = Memtable::new();
    for h in 0..hosts {
        for (i, labels) in host_series(h).into_iter().enumerate() {
            let pairs: Vec<(&str, &str)> = labels.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let samples = (from..to).map(|s| {
                let v =
                    if i < 10 { (20.0 + 60.0 * noise(h, i, s)).round() } else { (s * (1 + i as i64 % 7) * 10) as f64 };
                strata_common::Sample::new(1_700_000_000_000 + s * 10_000, v)
            });
            mem.append(&tenant, &pairs, samples);
        }
    }
    let frozen = mem.freeze();
    let end = store.current().files.len() as u64 + 1;
    let ctx = FlushContext { offsets: vec![PartitionRange { partition: 0, start: end - 1, end }], level: 0 };
    let files = write_files(store, &frozen, &ctx).expect("flush");
    store.commit_flush(files.clone(), &[(0, end)]).expect("commit");
    files.into_iter().next().expect("one tenant")
}

fn bench_files(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(ManifestStore::open(dir.path()).expect("manifest"));
    let hosts = 100;
    let meta = flush(&store, hosts, 0, SCRAPES);
    let reader = FileReader::open(&store.data_dir().join(&meta.path)).expect("open");
    let mut g = c.benchmark_group("file");
    g.throughput(Throughput::Elements(meta.samples));
    g.sample_size(10);
    g.bench_function("scan", |b| {
        let mut out = Vec::with_capacity(SCRAPES as usize);
        b.iter(|| {
            let mut n = 0;
            for id in 0..reader.series_count() {
                out.clear();
                reader.samples(id, i64::MIN, i64::MAX, &mut out).expect("decode");
                n += out.len();
            }
            black_box(n)
        })
    });
    eprintln!("file: {} samples, {:.3} bytes/sample", meta.samples, meta.bytes as f64 / meta.samples as f64);

    // Two overlapping flushes of the same series, merged into one window.
    let a = flush(&store, hosts, 0, SCRAPES / 2 + 10);
    let b2 = flush(&store, hosts, SCRAPES / 2, SCRAPES);
    let config = CompactionConfig { level_windows_ms: vec![1 << 40], ..CompactionConfig::default() };
    let mut m = (*store.current()).clone();
    m.files.retain(|f| f.id == a.id || f.id == b2.id);
    let job = plan(&m, &config, 0, |_| true).jobs.into_iter().next().expect("a level-0 job");
    g.throughput(Throughput::Elements(a.samples + b2.samples));
    g.bench_function("compact", |b| {
        b.iter(|| {
            let out = run_job(&store, &job, &mut Throttle::new(0)).expect("compaction");
            for f in &out.outputs {
                let _ = std::fs::remove_file(store.data_dir().join(&f.path));
            }
            black_box(out.samples_out)
        })
    });
    g.finish();
}

fn bench_postings(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ManifestStore::open(dir.path()).expect("manifest");
    let meta = flush(&store, 1000, 0, 1);
    let reader = FileReader::open(&store.data_dir().join(&meta.path)).expect("open");
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).expect("valid matcher");
    let cases: Vec<(&str, Vec<Matcher>)> = vec![
        ("equal", vec![m(MatchOp::Equal, "__name__", "cpu_usage_percent"), m(MatchOp::Equal, "host", "host-00042")]),
        ("not_equal", vec![m(MatchOp::Equal, "__name__", "http_requests_total"), m(MatchOp::NotEqual, "code", "200")]),
        ("set", vec![m(MatchOp::RegexMatch, "host", "host-00001|host-00500|host-00999")]),
        ("prefix_regex", vec![m(MatchOp::RegexMatch, "host", "host-001.*")]),
        ("regex_scan", vec![m(MatchOp::RegexMatch, "host", ".*-001.*")]),
    ];
    let mut g = c.benchmark_group("postings");
    for (name, ms) in &cases {
        let want = reader.select(ms).len();
        assert!(want > 0, "{name} selects nothing");
        g.bench_function(*name, |b| b.iter(|| black_box(reader.select(black_box(ms)).len())));
    }
    g.finish();
}

criterion_group!(benches, bench_files, bench_postings);
criterion_main!(benches);
