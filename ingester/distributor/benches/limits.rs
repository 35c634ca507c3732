//! The CPU cost of the per-tenant limits on the push path: the same
//! requests (2,000 TSBS-like series of 13 labels, one sample each, as
//! remote-write senders batch them) pushed through the HTTP push handler
//! (snappy, protobuf decode, validation, partitioning, record encoding,
//! append to an embedded log with `fsync = never`) with every limit off, and with label limits, an
//! ingestion rate that never refuses and active-series tracking on. The
//! ratio of the two is the overhead of the checks (target: ≤ 3 %); the
//! ingester's work per sample comes on top of both, so the share of the
//! whole ingest path is smaller still.
//!
//! Run: `cargo bench -p strata-distributor --bench limits`
//!
//! On a shared machine the timing ratio drowns in noise, so the bench also
//! has a counting mode for `valgrind --tool=callgrind`: with
//! `STRATA_LIMITS_PUSHES=N` and `STRATA_LIMITS=off|on` set it skips
//! criterion and makes exactly N pushes (N = 0 measures the setup alone);
//! the difference of the instruction counts of two runs is the cost of the
//! pushes, deterministically. `benches/results/hostile-and-limits.md` has
//! the commands.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group};
use prometheus_client::registry::Registry;
use prost::Message;
use strata_distributor::limits::{Limits, LimitsConfig};
use strata_distributor::proto::{Label, Sample, TimeSeries, WriteRequest};
use strata_distributor::{Distributor, DistributorConfig};
use strata_log::embedded::{EmbeddedLog, EmbeddedLogConfig, FsyncPolicy};
use tower::ServiceExt;

const SERIES: usize = 2000;

/// 2,000 series shaped like the TSBS-like loadgen data: a metric name, ten
/// host tags, `job` and `instance` (13 labels), 40 hosts of 50 series.
fn request(k: i64) -> WriteRequest {
    let timeseries = (0..SERIES)
        .map(|i| {
            let host = i / 50;
            let pairs = [
                ("__name__", format!("cpu_usage_{}", i % 50)),
                ("arch", ["x64", "x86"][host % 2].to_string()),
                ("datacenter", format!("us-east-1{}", ["a", "b", "c"][host % 3])),
                ("hostname", format!("host_{host}")),
                ("instance", format!("host_{host}:9100")),
                ("job", "node".to_string()),
                ("os", "Ubuntu16.04LTS".to_string()),
                ("rack", (host * 7 % 100).to_string()),
                ("region", "us-east-1".to_string()),
                ("service", (host % 20).to_string()),
                ("service_environment", "production".to_string()),
                ("service_version", (host % 2).to_string()),
                ("team", ["SF", "NYC", "LON", "CHI"][host % 4].to_string()),
            ];
            TimeSeries {
                labels: pairs.iter().map(|(n, v)| Label { name: n.to_string(), value: v.clone() }).collect(),
                samples: vec![Sample { value: i as f64, timestamp: 1_700_000_000_000 + k * 10_000 }],
                ..Default::default()
            }
        })
        .collect();
    WriteRequest { timeseries, ..Default::default() }
}

/// Every limit off, and every limit on (label limits at their defaults, a
/// rate and series limits high enough never to refuse).
fn limits(on: bool) -> Limits {
    if on {
        Limits {
            ingestion_rate: 1_000_000_000,
            max_active_series: 10_000_000,
            max_active_series_per_metric: 1_000_000,
            ..Limits::default()
        }
    } else {
        Limits {
            max_label_names_per_series: 0,
            max_label_name_length: 0,
            max_label_value_length: 0,
            ..Limits::default()
        }
    }
}

/// A distributor over a fresh embedded log (`fsync = never`) in `dir`.
fn distributor(dir: &std::path::Path, limits: Limits) -> (Arc<Distributor>, Arc<EmbeddedLog>) {
    let log = EmbeddedLog::open(EmbeddedLogConfig {
        dir: dir.to_path_buf(),
        partitions: 2,
        fsync: FsyncPolicy::Never,
        segment_bytes: 64 << 20,
    })
    .unwrap();
    let config = DistributorConfig {
        limits: LimitsConfig { defaults: limits, ..LimitsConfig::default() },
        max_future_ms: 0,
        ..Default::default()
    };
    (Arc::new(Distributor::new(config, log.clone(), &mut Registry::default())), log)
}

/// The requests as a sender puts them on the wire: protobuf, then snappy.
fn bodies() -> Vec<bytes::Bytes> {
    (0..8)
        .map(|k| {
            let raw = request(k).encode_to_vec();
            bytes::Bytes::from(snap::raw::Encoder::new().compress_vec(&raw).unwrap())
        })
        .collect()
}

/// One push through the HTTP handler (snappy, protobuf decode, validation,
/// limits, record encoding, log append), as a remote-write sender makes it.
async fn push(router: &axum::Router, body: bytes::Bytes) {
    let req = axum::http::Request::post("/api/v1/push")
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .header("x-scope-orgid", "bench")
        .body(axum::body::Body::from(body))
        .unwrap();
    let response = router.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), axum::http::StatusCode::NO_CONTENT);
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut group = c.benchmark_group("push_2000_series");
    group.throughput(Throughput::Elements(SERIES as u64));
    let bodies = bodies();
    for (name, on) in [("limits_off", false), ("limits_on", true)] {
        let dir = tempfile::tempdir().unwrap();
        let (d, log) = distributor(dir.path(), limits(on));
        let router = strata_distributor::router(d.clone());
        let mut k = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                k += 1;
                rt.block_on(push(&router, bodies[k % bodies.len()].clone()))
            })
        });
        drop(router);
        drop(d);
        drop(log);
    }
    group.finish();
}

/// The counting mode: exactly `pushes` pushes of the same requests as
/// the criterion bench, nothing else.
fn count(pushes: usize, on: bool) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (d, _log) = distributor(dir.path(), limits(on));
    let router = strata_distributor::router(d);
    let bodies = bodies();
    for k in 0..pushes {
        rt.block_on(push(&router, bodies[k % bodies.len()].clone()));
    }
}

criterion_group!(benches, bench);

fn main() {
    if let Ok(n) = std::env::var("STRATA_LIMITS_PUSHES") {
        let on = std::env::var("STRATA_LIMITS").is_ok_and(|v| v == "on");
        return count(n.parse().unwrap(), on);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
