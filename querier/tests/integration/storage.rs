//! `StorageSource` over real files plus a fake head: merge rules (head wins
//! on equal timestamps), the offset hand-over, and read-your-writes waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use strata_common::head::{
    HeadLabelsResponse, HeadReadResponse, HeadReader, HeadSeries, LabelsRequest, PartitionProgress, SelectEstimate,
    SelectRequest,
};
use strata_common::histogram::{HistSample, Histogram, Span};
use strata_common::matcher::matches_all;
use strata_common::{Labels, Matcher, Sample, TenantId};
use strata_log::{Log, LogReader, Offset, PartitionId};
use strata_querier::engine::{Engine, EngineOptions, QueryRequest, QueryValue};
use strata_querier::{Error, ReadConsistency, SeriesSource, StorageSource};
use strata_storage::{FlushContext, ManifestStore, Memtable, PartitionRange, Store, StoreSet, write_files};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

/// A head holding fixed series; `consumed` advances by one per progress call.
struct FakeHead {
    series: Vec<HeadSeries>,
    consumed: AtomicU64,
}

impl HeadReader for FakeHead {
    fn read(&self, req: SelectRequest) -> BoxFuture<'_, strata_common::Result<HeadReadResponse>> {
        let series = self
            .series
            .iter()
            .filter(|s| matches_all(&req.matchers, &s.labels))
            .map(|s| HeadSeries {
                labels: s.labels.clone(),
                samples: if req.with_samples { s.samples.clone() } else { Vec::new() },
                histograms: if req.with_samples { s.histograms.clone() } else { Vec::new() },
            })
            .collect();
        Box::pin(async move { Ok(HeadReadResponse { series, base_offsets: vec![(0, 10)] }) })
    }

    fn labels(&self, req: LabelsRequest) -> BoxFuture<'_, strata_common::Result<HeadLabelsResponse>> {
        let mut values: Vec<String> = self
            .series
            .iter()
            .filter(|s| matches_all(&req.matchers, &s.labels))
            .filter(|s| s.samples.iter().any(|x| x.t >= req.min_t && x.t <= req.max_t))
            .flat_map(|s| s.labels.iter().cloned())
            .filter_map(|l| match &req.name {
                None => Some(l.name),
                Some(name) => (&l.name == name).then_some(l.value),
            })
            .collect();
        values.sort();
        values.dedup();
        Box::pin(async move { Ok(HeadLabelsResponse { values, base_offsets: vec![(0, 10)] }) })
    }

    fn estimate(&self, req: SelectRequest) -> BoxFuture<'_, strata_common::Result<SelectEstimate>> {
        let matched: Vec<&HeadSeries> = self.series.iter().filter(|s| matches_all(&req.matchers, &s.labels)).collect();
        let samples = matched.iter().map(|s| s.samples.len() as u64).sum();
        let estimate = SelectEstimate { series: matched.len() as u64, samples, ..Default::default() };
        Box::pin(async move { Ok(estimate) })
    }

    fn progress(&self) -> BoxFuture<'_, strata_common::Result<Vec<PartitionProgress>>> {
        let consumed = self.consumed.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move { Ok(vec![PartitionProgress { partition: 0, consumed, flushed: 10 }]) })
    }
}

/// A log whose only partition ends at `end`.
struct FakeLog {
    end: Offset,
}

impl Log for FakeLog {
    fn partition_count(&self) -> u32 {
        1
    }
    fn append(&self, _: PartitionId, _: Vec<Bytes>) -> BoxFuture<'_, strata_common::Result<Offset>> {
        Box::pin(async { Err(strata_common::Error::LogClosed) })
    }
    fn end_offsets(&self) -> BoxFuture<'_, strata_common::Result<Vec<Offset>>> {
        let end = self.end;
        Box::pin(async move { Ok(vec![end]) })
    }
    fn open_reader(&self, _: PartitionId, _: Offset) -> strata_common::Result<Box<dyn LogReader>> {
        Err(strata_common::Error::LogClosed)
    }
    fn release(&self, _: PartitionId, _: Offset) -> strata_common::Result<()> {
        Ok(())
    }
}

fn setup(dir: &std::path::Path, log_end: Offset) -> StorageSource {
    let ms = Arc::new(ManifestStore::open(dir).unwrap());
    let mut m = Memtable::new();
    let t = TenantId::default_tenant();
    let samples = [Sample::new(100_000, 1.0), Sample::new(200_000, 2.0), Sample::new(300_000, 3.0)];
    m.append(&t, &[("__name__", "up"), ("job", "x")], samples.into_iter());
    m.append(&t, &[("__name__", "up"), ("job", "y")], [Sample::new(150_000, 9.0)].into_iter());
    // Native histograms of up{job="x"} in the file (format v5) and the head.
    let mut app = m.tenant_appender(&t);
    let x = app.find_or_create(&[("__name__", "up"), ("job", "x")]);
    app.append_histograms(x, [hist(100_000, 1.0), hist(300_000, 3.0)].into_iter());
    let ctx = FlushContext { offsets: vec![PartitionRange { partition: 0, start: 0, end: 10 }], level: 0 };
    let files = write_files(&ms, &m.freeze(), &ctx).unwrap();
    ms.commit_flush(files, &[(0, 10)]).unwrap();
    let head = FakeHead {
        series: vec![
            HeadSeries {
                labels: labels(&[("__name__", "up"), ("job", "x")]),
                samples: vec![Sample::new(300_000, 33.0), Sample::new(400_000, 4.0)],
                histograms: vec![hist(300_000, 33.0), hist(400_000, 4.0)],
            },
            HeadSeries {
                labels: labels(&[("__name__", "up"), ("job", "z")]),
                samples: vec![Sample::new(400_000, 7.0)],
                histograms: Vec::new(),
            },
        ],
        consumed: AtomicU64::new(0),
    };
    StorageSource::new(
        Arc::new(StoreSet::single(Arc::new(Store::new(ms)))),
        Arc::new(head),
        Some(Arc::new(FakeLog { end: log_end })),
        Duration::from_millis(200),
    )
}

/// A histogram sample whose count is `n` (one bucket).
fn hist(t: i64, n: f64) -> HistSample {
    let h = Histogram {
        count: n,
        sum: n,
        positive_spans: vec![Span { offset: 0, length: 1 }],
        positive_buckets: vec![n],
        ..Histogram::default()
    };
    HistSample::new(t, h)
}

#[tokio::test]
async fn histograms_merge_files_and_head_head_wins() {
    let dir = tempfile::tempdir().unwrap();
    let src = setup(dir.path(), 0);
    let req = SelectRequest::new(TenantId::default_tenant(), vec![Matcher::equal("job", "x")], 0, 1_000_000);
    let mut x = src.select(&req).await.unwrap().next().unwrap().unwrap();
    let got: Vec<(i64, f64)> =
        x.loader.load_histograms(0, 1_000_000).unwrap().iter().map(|s| (s.t, s.h.count)).collect();
    assert_eq!(got, [(100_000, 1.0), (300_000, 33.0), (400_000, 4.0)]);
    let got: Vec<i64> = x.loader.load_histograms(200_000, 300_000).unwrap().iter().map(|s| s.t).collect();
    assert_eq!(got, [300_000]);
}

#[tokio::test]
async fn merges_files_and_head_head_wins() {
    let dir = tempfile::tempdir().unwrap();
    let src = setup(dir.path(), 0);
    let t = TenantId::default_tenant();
    let m = [Matcher::equal("__name__", "up")];
    let got: Vec<_> = src
        .select(&SelectRequest::new(t.clone(), m.to_vec(), 0, 1_000_000))
        .await
        .unwrap()
        .map(|s| s.unwrap())
        .collect();
    let names: Vec<String> = got.iter().map(|s| s.labels.to_string()).collect();
    assert_eq!(names, [r#"up{job="x"}"#, r#"up{job="y"}"#, r#"up{job="z"}"#]);
    let mut x = got.into_iter().next().unwrap();
    let samples = x.loader.load(0, 1_000_000).unwrap();
    let want = [(100_000, 1.0), (200_000, 2.0), (300_000, 33.0), (400_000, 4.0)].map(|(t, v)| Sample::new(t, v));
    assert_eq!(samples, want);

    let engine = Engine::new(EngineOptions {
        lookback_delta_ms: 300_000,
        max_samples: 1000,
        timeout: Duration::from_secs(5),
        ..Default::default()
    });
    let req = QueryRequest {
        tenant: t.clone(),
        query: "sum(up)".into(),
        start: 400_000,
        end: 400_000,
        step: 1,
        instant: true,
        timeout: None,
    };
    match engine.execute(&src, req).await.unwrap() {
        // x=4 (head), y=9 (file, within lookback), z=7 (head).
        QueryValue::Vector(v) => assert_eq!(v[0].v, 20.0),
        other => panic!("{other:?}"),
    }
    let names =
        src.series_labels(&SelectRequest::new(t.clone(), m.to_vec(), 0, 1_000_000).labels_only()).await.unwrap();
    assert_eq!(names.len(), 3);
}

#[tokio::test]
async fn query_stats_count_head_and_file_reads() {
    let dir = tempfile::tempdir().unwrap();
    let src = setup(dir.path(), 0);
    let engine = Engine::new(EngineOptions::default());
    let req = |query: &str| QueryRequest {
        tenant: TenantId::default_tenant(),
        query: query.into(),
        start: 400_000,
        end: 400_000,
        step: 1,
        instant: true,
        timeout: None,
    };
    let (_, stats) = engine.execute_with_stats(&src, req("sum(up)")).await.unwrap();
    // Window (100s, 400s]: x has 200s, 300s (head wins), 400s; y 150s; z 400s;
    // and x's histograms at 300s (head wins) and 400s.
    assert_eq!(stats.samples_loaded, 7);
    assert_eq!(stats.series_touched, 3);
    // Head: x and z; files: x and y, all in the one flushed file.
    assert_eq!((stats.select.head_series, stats.select.file_series, stats.select.files_opened), (2, 2, 1));
    assert!(stats.peak_memory_bytes > 0);
    // Two selectors over only the head's series z: no file is opened.
    let (_, stats) = engine.execute_with_stats(&src, req(r#"up{job="z"} + up{job="z"}"#)).await.unwrap();
    assert_eq!((stats.select.head_series, stats.select.file_series, stats.select.files_opened), (2, 0, 0));
    assert_eq!((stats.samples_loaded, stats.series_touched), (2, 2));
}

#[tokio::test]
async fn strong_reads_wait_for_the_log_and_time_out() {
    let dir = tempfile::tempdir().unwrap();
    let t = TenantId::default_tenant();
    // consumed grows 1 per poll: reaching 5 takes a few 1 ms polls.
    let src = setup(dir.path(), 5);
    src.prepare(&t, ReadConsistency::Strong).await.unwrap();
    // Never reachable within 200 ms at ~1 poll per ms.
    let src = setup(dir.path().join("other").as_path(), 1_000_000);
    let err = src.prepare(&t, ReadConsistency::Strong).await.unwrap_err();
    assert!(matches!(err, Error::ConsistencyTimeout { .. }), "{err}");
    assert_eq!(err.error_type().status(), 503);
    // Eventual reads never wait.
    src.prepare(&t, ReadConsistency::Eventual).await.unwrap();
}

/// Estimates over real files (chunk metadata interpolated to the range) stay
/// within 2× of the samples a query reads.
#[tokio::test]
async fn estimates_over_files_are_within_2x_of_what_queries_read() {
    let dir = tempfile::tempdir().unwrap();
    let ms = Arc::new(ManifestStore::open(dir.path()).unwrap());
    let t = TenantId::default_tenant();
    const HOUR: i64 = 3_600_000;
    // Three flushes of two hours each, 300 series at 10 s.
    for flush in 0..3i64 {
        let mut m = Memtable::new();
        for s in 0..300 {
            let (host, job) = (format!("host_{s}"), format!("job{}", s % 3));
            let pairs = [("__name__", "cpu"), ("host", host.as_str()), ("job", job.as_str())];
            let samples = (0..720).map(|k| Sample::new(flush * 2 * HOUR + k * 10_000, (k * (s + 1)) as f64 * 0.37));
            m.append(&t, &pairs, samples);
        }
        let range = PartitionRange { partition: 0, start: flush as u64 * 3, end: flush as u64 * 3 + 3 };
        let ctx = FlushContext { offsets: vec![range], level: 0 };
        let files = write_files(&ms, &m.freeze(), &ctx).unwrap();
        ms.commit_flush(files, &[(0, flush as u64 * 3 + 3)]).unwrap();
    }
    let head = FakeHead { series: Vec::new(), consumed: AtomicU64::new(0) };
    let src = StorageSource::new(
        Arc::new(StoreSet::single(Arc::new(Store::new(ms)))),
        Arc::new(head),
        None,
        Duration::from_millis(200),
    );
    let engine = Engine::new(EngineOptions::default());
    let range = |q: &str, start: i64, end: i64| QueryRequest {
        tenant: t.clone(),
        query: q.into(),
        start,
        end,
        step: 60_000,
        instant: false,
        timeout: None,
    };
    for (q, start, end) in [
        ("cpu{host=\"host_7\"}", HOUR, 2 * HOUR),
        ("sum by (job) (rate(cpu[5m]))", 0, 6 * HOUR - 1),
        ("max(max_over_time(cpu[10m]))", 90 * 60_000, 150 * 60_000),
        ("avg(cpu{job=\"job1\"})", 5 * HOUR, 6 * HOUR - 1),
    ] {
        let prepared = engine.prepare(range(q, start, end)).unwrap();
        let plan = engine.estimate(&src, &prepared).await.unwrap();
        let (_, stats) = engine.run(&src, prepared).await.unwrap();
        let ratio = plan.cost.samples as f64 / stats.samples_loaded as f64;
        assert!((0.5..=2.0).contains(&ratio), "{q}: estimated {} read {}", plan.cost.samples, stats.samples_loaded);
        println!("{q}: estimated {} samples, read {} ({ratio:.3}x)", plan.cost.samples, stats.samples_loaded);
        assert!(plan.cost.files >= 1 && plan.cost.bytes > 0, "{q}: {:?}", plan.cost);
    }
}
