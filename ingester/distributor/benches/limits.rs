//! The CPU cost of the per-tenant limits on the push path: the same
//! scrape-shaped requests (2,000 series of 9 labels, one sample each, as
//! Prometheus sends them) pushed through [`Distributor::push`] (validation,
//! partitioning, record encoding, append to an embedded log with
//! `fsync = never`) with every limit off, and with label limits, an
//! ingestion rate that never refuses and active-series tracking on. The
//! ratio of the two is the overhead of the checks (target: ≤ 3 %); the
//! ingester's work per sample comes on top of both, so the share of the
//! whole ingest path is smaller still.
//!
//! Run: `cargo bench -p strata-distributor --bench limits`

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use prometheus_client::registry::Registry;
use strata_common::TenantId;
use strata_distributor::limits::{Limits, LimitsConfig};
use strata_distributor::proto::{Label, Sample, TimeSeries, WriteRequest};
use strata_distributor::{Distributor, DistributorConfig};
use strata_log::embedded::{EmbeddedLog, EmbeddedLogConfig, FsyncPolicy};

const SERIES: usize = 2000;

fn request(k: i64) -> WriteRequest {
    let timeseries = (0..SERIES)
        .map(|i| {
            let pairs = [
                ("__name__", format!("node_metric_{}", i % 26)),
                ("cpu", (i % 4).to_string()),
                ("dc", format!("dc-{}", i % 3)),
                ("env", "production".to_string()),
                ("host", format!("host-{:05}", i / 26)),
                ("instance", format!("10.0.{}.{}:9100", i / 256 % 256, i % 256)),
                ("job", "node".to_string()),
                ("mode", "user".to_string()),
                ("region", "eu-west-1".to_string()),
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

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut group = c.benchmark_group("push_2000_series");
    group.throughput(Throughput::Elements(SERIES as u64));
    let off = Limits {
        max_label_names_per_series: 0,
        max_label_name_length: 0,
        max_label_value_length: 0,
        ..Limits::default()
    };
    let on = Limits {
        ingestion_rate: 1_000_000_000,
        max_active_series: 10_000_000,
        max_active_series_per_metric: 1_000_000,
        ..Limits::default()
    };
    let tenant = TenantId::new("bench").unwrap();
    for (name, limits) in [("limits_off", off), ("limits_on", on)] {
        let dir = tempfile::tempdir().unwrap();
        let log = EmbeddedLog::open(EmbeddedLogConfig {
            dir: dir.path().to_path_buf(),
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
        let d = Arc::new(Distributor::new(config, log.clone(), &mut Registry::default()));
        let reqs: Vec<WriteRequest> = (0..8).map(request).collect();
        let mut k = 0;
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    k += 1;
                    reqs[k % reqs.len()].clone()
                },
                |req| rt.block_on(d.push(&tenant, req)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        drop(d);
        drop(log);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
