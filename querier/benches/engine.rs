//! Measures the PromQL engine over an in-memory source: 1,000 counters with
//! 721 samples each (12 h at 60 s), `sum by (job) (rate(x[5m]))` as a range
//! query with 240 steps, and an instant `topk`.
//!
//! Run: `cargo bench -p strata-querier --bench engine`

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use strata_common::{Labels, Sample, TenantId};
use strata_querier::engine::{Engine, EngineOptions, QueryRequest};
use strata_querier::{MemorySource, SeriesSource};

fn source() -> Arc<MemorySource> {
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

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let src = source();
    let engine = Engine::new(EngineOptions {
        lookback_delta_ms: 300_000,
        max_samples: u64::MAX,
        timeout: Duration::from_secs(60),
        ..Default::default()
    });
    let run = |query: &str, start: i64, end: i64, step: i64, instant: bool| {
        let req = QueryRequest {
            tenant: TenantId::default_tenant(),
            query: query.into(),
            start,
            end,
            step,
            instant,
            timeout: None,
        };
        let src: &dyn SeriesSource = src.as_ref();
        rt.block_on(engine.execute(src, req)).unwrap()
    };
    c.bench_function("range sum by (job) (rate(x[5m])) 1000 series x 240 steps", |b| {
        b.iter(|| run("sum by (job) (rate(x[5m]))", 3_600_000, 43_200_000, 165_000, false))
    });
    c.bench_function("instant topk(5, x)", |b| b.iter(|| run("topk(5, x)", 43_200_000, 43_200_000, 1, true)));
}

criterion_group!(benches, bench);
criterion_main!(benches);
