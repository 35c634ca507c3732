//! Tests of the push endpoint, through the router against a real
//! `EmbeddedLog` in a temporary directory.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use futures::future::BoxFuture;
use prost::Message;
use strata_common::labels::partition_for;
use strata_common::record::RecordView;
use strata_log::embedded::{EmbeddedLog, EmbeddedLogConfig, FsyncPolicy};
use strata_log::{LogReader, Offset, PartitionId};
use tower::ServiceExt;

use super::proto::{Histogram, Label, Sample as PSample, TimeSeries};
use super::*;

const PARTITIONS: u32 = 4;

struct Setup {
    _dir: tempfile::TempDir,
    log: Arc<EmbeddedLog>,
    distributor: Arc<Distributor>,
    registry: Registry,
}

fn setup(config: DistributorConfig) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(EmbeddedLogConfig {
        dir: dir.path().to_path_buf(),
        partitions: PARTITIONS,
        fsync: FsyncPolicy::Never,
        segment_bytes: 64 << 20,
    })
    .unwrap();
    let mut registry = Registry::default();
    let distributor = Arc::new(Distributor::new(config, log.clone(), &mut registry));
    Setup { _dir: dir, log, distributor, registry }
}

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: pairs.iter().map(|(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect(),
        samples: samples.iter().map(|&(timestamp, value)| PSample { value, timestamp }).collect(),
        ..Default::default()
    }
}

fn body(series: Vec<TimeSeries>) -> Vec<u8> {
    let raw = WriteRequest { timeseries: series, ..Default::default() }.encode_to_vec();
    snap::raw::Encoder::new().compress_vec(&raw).unwrap()
}

fn post(path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Request<Body> {
    let mut r = Request::post(path)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(Body::from(body))
        .unwrap();
    for (k, v) in headers {
        let name = axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        r.headers_mut().insert(name, v.parse().unwrap());
    }
    r
}

async fn send(d: &Arc<Distributor>, req: Request<Body>) -> (StatusCode, String) {
    let resp = router(d.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

type Decoded = BTreeMap<Vec<(String, String)>, (PartitionId, String, Vec<(i64, u64)>)>;

/// Every series in the log: labels → (partition, tenant, samples as (t, bits)).
/// Every record in the log, with its partition, partition by partition.
pub(crate) async fn log_records(log: &EmbeddedLog) -> Vec<(u32, strata_log::LogRecord)> {
    let mut out = Vec::new();
    for (p, &end) in log.end_offsets().await.unwrap().iter().enumerate() {
        let mut r = log.open_reader(p as u32, 0).unwrap();
        while r.position() < end {
            out.extend(r.next_batch(100).await.unwrap().into_iter().map(|rec| (p as u32, rec)));
        }
    }
    out
}

async fn read_back(log: &EmbeddedLog) -> (Decoded, u64) {
    let mut out = Decoded::new();
    let mut records = 0;
    for (p, rec) in log_records(log).await {
        records += 1;
        let mut scratch = Vec::new();
        let view = RecordView::parse(&rec.payload, &mut scratch, p, rec.offset).unwrap();
        for s in view.series() {
            let s = s.unwrap();
            let labels = s.labels().unwrap().iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
            let samples: Vec<_> = s.samples().map(|x| (x.t, x.v.to_bits())).collect();
            let entry = out.entry(labels).or_insert((p, view.tenant.to_string(), Vec::new()));
            assert_eq!(entry.0, p, "a series landed in two partitions");
            entry.2.extend(samples);
        }
    }
    (out, records)
}

/// `record_version = 2` writes LZ4 records (for ingesters that do not read
/// version 3 yet) holding the same series; other versions are refused.
#[tokio::test]
async fn record_version_2_writes_the_same_series_in_the_older_layout() {
    let sent: Vec<TimeSeries> = (0..20)
        .map(|i| series(&[("__name__", "up"), ("instance", &format!("host-{i}")), ("job", "node")], &[(i, 1.5)]))
        .collect();
    let mut decoded = Vec::new();
    for version in [3u8, 2] {
        let s = setup(DistributorConfig { record_version: version, ..Default::default() });
        let (status, msg) = send(&s.distributor, post("/api/v1/push", body(sent.clone()), &[])).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{msg}");
        for p in 0..PARTITIONS {
            let mut r = s.log.open_reader(p, 0).unwrap();
            if r.position() < s.log.end_offsets().await.unwrap()[p as usize] {
                assert_eq!(r.next_batch(1).await.unwrap()[0].payload[0], version);
            }
        }
        decoded.push(read_back(&s.log).await.0);
    }
    assert_eq!(decoded[0].len(), 20);
    assert_eq!(decoded[0], decoded[1]);
    let bad = DistributorConfig { record_version: 1, ..Default::default() };
    assert!(bad.validate().unwrap_err().to_string().contains("record_version"));
}

#[tokio::test]
async fn valid_push_is_durable_and_partitioned() {
    let s = setup(DistributorConfig::default());
    let mut sent = Vec::new();
    for i in 0..50 {
        let inst = format!("host-{i}");
        sent.push(series(
            &[("__name__", "up"), ("env", ""), ("instance", &inst), ("job", "node")],
            &[(1000 + i, i as f64), (2000 + i, f64::NAN)],
        ));
    }
    sent.push(series(&[("__name__", "no_samples")], &[]));
    let (status, msg) = send(&s.distributor, post("/api/v1/push", body(sent.clone()), &[])).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{msg}");

    let (got, records) = read_back(&s.log).await;
    assert_eq!(got.len(), 50, "the zero-sample series is skipped");
    let tenant = TenantId::default_tenant();
    let mut used = std::collections::HashSet::new();
    for ts in &sent[..50] {
        // The empty `env` value is dropped.
        let labels: Vec<(String, String)> =
            ts.labels.iter().filter(|l| !l.value.is_empty()).map(|l| (l.name.clone(), l.value.clone())).collect();
        let want_p = partition_for(&tenant, labels.iter().map(|(n, v)| (n.as_str(), v.as_str())), PARTITIONS);
        let (p, t, samples) = &got[&labels];
        assert_eq!((*p, t.as_str()), (want_p, "anonymous"));
        let want: Vec<_> = ts.samples.iter().map(|x| (x.timestamp, x.value.to_bits())).collect();
        assert_eq!(samples, &want);
        used.insert(want_p);
    }
    assert!(used.len() > 1, "50 series should spread over partitions");
    assert_eq!(records, used.len() as u64, "one record per partition");

    // The same through /api/v1/write with a tenant header, and an empty request.
    let (status, _) = send(
        &s.distributor,
        post("/api/v1/write", body(vec![series(&[("__name__", "x")], &[(5, 1.0)])]), &[("X-Scope-OrgID", "team-a")]),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (got, _) = read_back(&s.log).await;
    assert_eq!(got[&vec![("__name__".to_string(), "x".to_string())]].1, "team-a");
    let (status, _) = send(&s.distributor, post("/api/v1/push", body(vec![]), &[])).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &s.registry).unwrap();
    assert!(text.contains("distributor_requests_total{code=\"204\"} 3"), "{text}");
    assert!(text.contains("distributor_samples_received_total 101"), "{text}");
    assert!(text.contains("distributor_tenant_samples_received_total{tenant=\"anonymous\"} 100"), "{text}");
    assert!(text.contains("distributor_tenant_samples_received_total{tenant=\"team-a\"} 1"), "{text}");
}

/// Series names in the log, sorted.
async fn names_in_log(log: &EmbeddedLog) -> Vec<String> {
    let (decoded, _) = read_back(log).await;
    let mut names: Vec<String> = decoded
        .keys()
        .map(|labels| labels.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join(","))
        .collect();
    names.sort();
    names
}

fn metrics_text(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text
}

/// A request mixing valid and invalid series writes the valid ones and
/// answers 400 naming the first invalid series and the counts (a partial
/// write, as Prometheus and Mimir answer).
#[tokio::test]
async fn invalid_series_are_refused_alone_and_the_valid_ones_written() {
    let config = DistributorConfig { name_validation_scheme: NameValidationScheme::Legacy, ..Default::default() };
    let s = setup(config);
    let cases: Vec<(TimeSeries, &str, &str)> = vec![
        (
            series(&[("__name__", "up"), ("bad-label", "x")], &[(1, 1.0)]),
            "up{\"bad-label\"=\"x\"}: invalid label name \"bad-label\"",
            "label_invalid",
        ),
        (
            series(&[("__name__", "up"), ("job", "a"), ("job", "b")], &[(1, 1.0)]),
            "duplicate label name \"job\"",
            "duplicate_label_names",
        ),
        (
            series(&[("__name__", "up"), ("zone", "a"), ("job", "b")], &[(1, 1.0)]),
            "\"zone\" comes before \"job\"",
            "labels_not_sorted",
        ),
        (series(&[("__name__", "up"), ("", "b")], &[(1, 1.0)]), "empty label name", "label_invalid"),
        (series(&[("job", "x")], &[(1, 1.0)]), "{job=\"x\"}: missing metric name", "missing_metric_name"),
        (series(&[("__name__", "1up")], &[(1, 1.0)]), "invalid metric name \"1up\"", "metric_name_invalid"),
    ];
    for (i, (bad, want, reason)) in cases.into_iter().enumerate() {
        let good = series(&[("__name__", "good"), ("job", &format!("j{i}"))], &[(1, 1.0), (2, 2.0)]);
        let also_good = series(&[("__name__", "later"), ("job", &format!("j{i}"))], &[(1, 1.0)]);
        let (status, msg) =
            send(&s.distributor, post("/api/v1/push", body(vec![good, bad.clone(), bad, also_good]), &[])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{msg}");
        assert!(msg.contains("invalid series") && msg.contains(want), "{msg:?} lacks {want:?}");
        assert!(msg.contains("rejected 2 sample(s)") && msg.contains("wrote 3 sample(s) of 2 series"), "{msg}");
        let text = metrics_text(&s.registry);
        assert!(text.contains(&format!("distributor_samples_rejected_total{{reason=\"{reason}\"}}")), "{text}");
    }
    // Every valid neighbour was written, nothing of the invalid ones.
    let names = names_in_log(&s.log).await;
    assert_eq!(names.len(), 12, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("__name__=good,") || n.starts_with("__name__=later,")), "{names:?}");
    // An invalid native histogram is refused alone; its series' floats and the neighbours are written.
    let good = series(&[("__name__", "good"), ("job", "h")], &[(1, 1.0)]);
    let mut h = series(&[("__name__", "lat")], &[(1, 3.0)]);
    h.histograms.push(Histogram { sum: 1.0, schema: 9, timestamp: 1, ..Default::default() });
    let (status, msg) = send(&s.distributor, post("/api/v1/push", body(vec![good, h]), &[])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(msg.contains("invalid native histogram in series lat{}") && msg.contains("schema 9"), "{msg}");
    assert!(msg.contains("wrote 2 sample(s) of 2 series"), "{msg}");

    let (status, msg) = send(&s.distributor, post("/api/v1/push", b"not snappy".to_vec(), &[])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{msg}");
    assert!(msg.contains("snappy"), "{msg}");
    let garbage = snap::raw::Encoder::new().compress_vec(&[0xff; 20]).unwrap();
    let (status, msg) = send(&s.distributor, post("/api/v1/push", garbage, &[])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{msg}");
    assert!(msg.contains("protobuf"), "{msg}");
}

/// A native histogram in a batch refuses only the histogram samples: the
/// float samples of the same batch (and of the same series) are written.
#[tokio::test]
async fn samples_outside_the_out_of_order_window_are_refused_and_counted() {
    let config = DistributorConfig { out_of_order_window_ms: 3_600_000, max_future_ms: 600_000, ..Default::default() };
    let s = setup(config);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    // Inside the window, out of order: accepted.
    let ok = series(&[("__name__", "ok"), ("job", "a")], &[(now - 60_000, 1.0), (now - 3_000_000, 2.0)]);
    let (status, msg) = send(&s.distributor, post("/api/v1/push", body(vec![ok.clone()]), &[])).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{msg}");

    // Too old and too new samples are refused; their series' other samples
    // and the other series are written.
    let old = series(
        &[("__name__", "late"), ("job", "b")],
        &[(now - 7_200_000, 1.0), (now - 4_000_000, 1.0), (now - 1_000, 7.0)],
    );
    let (status, msg) = send(&s.distributor, post("/api/v1/push", body(vec![ok.clone(), old]), &[])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{msg}");
    assert!(msg.contains("sample too old for series late{job=\"b\"}") && msg.contains("2 sample(s)"), "{msg}");
    assert!(msg.contains("wrote 3 sample(s) of 2 series"), "{msg}");
    let future = series(&[("__name__", "early")], &[(now + 3_600_000, 1.0)]);
    let (status, msg) = send(&s.distributor, post("/api/v1/push", body(vec![ok, future]), &[])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{msg}");
    assert!(msg.contains("too far in the future for series early{}"), "{msg}");
    let (decoded, _) = read_back(&s.log).await;
    let late = &decoded[&vec![("__name__".to_string(), "late".to_string()), ("job".into(), "b".into())]];
    assert_eq!(late.2, vec![(now - 1_000, 7f64.to_bits())], "only the sample inside the window");
    assert!(!decoded.keys().any(|k| k[0].1 == "early"));

    let text = metrics_text(&s.registry);
    assert!(text.contains("distributor_samples_rejected_total{reason=\"too_old\"} 2"), "{text}");
    assert!(text.contains("distributor_samples_rejected_total{reason=\"too_far_in_future\"} 1"), "{text}");
}

#[tokio::test]
async fn headers_sizes_and_tenants_map_to_statuses() {
    let s = setup(DistributorConfig { max_request_bytes: 4096, max_decompressed_bytes: 8192, ..Default::default() });
    let ok = || body(vec![series(&[("__name__", "x")], &[(1, 1.0)])]);
    let d = &s.distributor;

    let (status, msg) = send(d, post("/api/v1/push", ok(), &[("Content-Type", "application/json")])).await;
    assert_eq!((status, msg.contains("application/json")), (StatusCode::UNSUPPORTED_MEDIA_TYPE, true), "{msg}");
    let v3 = "application/x-protobuf;proto=io.prometheus.write.v3.Request";
    assert_eq!(
        send(d, post("/api/v1/push", ok(), &[("Content-Type", v3)])).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let v1 = "application/x-protobuf; proto=prometheus.WriteRequest";
    assert_eq!(send(d, post("/api/v1/push", ok(), &[("Content-Type", v1)])).await.0, StatusCode::NO_CONTENT);
    let (status, msg) = send(d, post("/api/v1/push", ok(), &[("Content-Encoding", "gzip")])).await;
    assert_eq!((status, msg.contains("gzip")), (StatusCode::UNSUPPORTED_MEDIA_TYPE, true), "{msg}");
    // Without Content-Type / Content-Encoding the body is taken as snappy protobuf.
    let bare = Request::post("/api/v1/push").body(Body::from(ok())).unwrap();
    assert_eq!(send(d, bare).await.0, StatusCode::NO_CONTENT);

    let (status, msg) = send(d, post("/api/v1/push", vec![0u8; 8192], &[])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{msg}");
    assert!(msg.contains("max_request_bytes"), "{msg}");
    // Small compressed, large decompressed: refused from the snappy header.
    let big: Vec<TimeSeries> =
        (0..400).map(|i| series(&[("__name__", "x"), ("i", &i.to_string())], &[(1, 1.0)])).collect();
    let compressed = body(big);
    assert!(compressed.len() <= 4096, "{}", compressed.len());
    let (status, msg) = send(d, post("/api/v1/push", compressed, &[])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{msg}");
    assert!(msg.contains("max_decompressed_bytes"), "{msg}");

    let (status, msg) = send(d, post("/api/v1/push", ok(), &[("X-Scope-OrgID", "bad/tenant")])).await;
    assert_eq!((status, msg.contains("bad/tenant")), (StatusCode::BAD_REQUEST, true), "{msg}");

    let mt = setup(DistributorConfig { multitenancy_enabled: true, ..Default::default() });
    let (status, msg) = send(&mt.distributor, post("/api/v1/push", ok(), &[])).await;
    assert_eq!((status, msg.contains("no org id")), (StatusCode::UNAUTHORIZED, true), "{msg}");
    let (status, _) = send(&mt.distributor, post("/api/v1/push", ok(), &[("X-Scope-OrgID", "t1")])).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn large_requests_are_split_into_records_of_about_a_mib() {
    let s = setup(DistributorConfig::default());
    let samples: Vec<(i64, f64)> = (0..1000).map(|t| (t, t as f64)).collect();
    let req = WriteRequest {
        timeseries: (0..400).map(|i| series(&[("__name__", "m"), ("i", &i.to_string())], &samples)).collect(),
        ..Default::default()
    };
    let stats = s.distributor.push(&TenantId::new("t").unwrap(), req).await.unwrap();
    assert_eq!((stats.series, stats.samples), (400, 400_000));
    // 400 series × 16 kB = 6.4 MB over 4 partitions: several records each.
    assert!(stats.records >= 8, "{stats:?}");
    let (got, records) = read_back(&s.log).await;
    assert_eq!((got.len(), records), (400, stats.records));
    assert!(got.values().all(|(_, _, s)| s.len() == 1000));

    // Over HTTP, a body far above axum's 2 MB default limit is accepted
    // (only max_request_bytes applies).
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut noisy = || {
        (0..1000)
            .map(|t| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (t, f64::from_bits(0x3ff0_0000_0000_0000 | (x >> 12)))
            })
            .collect::<Vec<_>>()
    };
    let big = body((0..600).map(|i| series(&[("__name__", "n"), ("i", &i.to_string())], &noisy())).collect());
    assert!(big.len() > 3 << 20, "{}", big.len());
    let (status, msg) = send(&s.distributor, post("/api/v1/push", big, &[])).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{msg}");
}

/// A log that fails or never answers, for the 503 paths.
struct BrokenLog {
    hang: bool,
    overloaded: bool,
}

impl Log for BrokenLog {
    fn partition_count(&self) -> u32 {
        2
    }
    fn append(&self, _: PartitionId, _: Vec<Bytes>) -> BoxFuture<'_, strata_common::Result<Offset>> {
        if self.hang {
            Box::pin(futures::future::pending())
        } else if self.overloaded {
            Box::pin(async { Err(strata_common::Error::LogOverloaded { partition: 1, limit_bytes: 1 << 20 }) })
        } else {
            Box::pin(async { Err(strata_common::Error::LogClosed) })
        }
    }
    fn end_offsets(&self) -> BoxFuture<'_, strata_common::Result<Vec<Offset>>> {
        Box::pin(async { Ok(vec![0, 0]) })
    }
    fn open_reader(&self, _: PartitionId, _: Offset) -> strata_common::Result<Box<dyn LogReader>> {
        Err(strata_common::Error::LogClosed)
    }
    fn release(&self, _: PartitionId, _: Offset) -> strata_common::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn log_errors_and_timeouts_are_retryable_503() {
    let ok = body(vec![series(&[("__name__", "x")], &[(1, 1.0)])]);
    for (hang, want) in [(false, "log is closed"), (true, "within 50ms")] {
        let d = Arc::new(Distributor::new(
            DistributorConfig { append_timeout_ms: 50, ..Default::default() },
            Arc::new(BrokenLog { hang, overloaded: false }),
            &mut Registry::default(),
        ));
        let (status, msg) = send(&d, post("/api/v1/push", ok.clone(), &[])).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{msg}");
        assert!(msg.contains(want) && msg.contains("retry"), "{msg}");
    }
}

#[tokio::test]
async fn a_full_log_buffer_is_429() {
    let ok = body(vec![series(&[("__name__", "x")], &[(1, 1.0)])]);
    let d = Arc::new(Distributor::new(
        DistributorConfig::default(),
        Arc::new(BrokenLog { hang: false, overloaded: true }),
        &mut Registry::default(),
    ));
    let (status, msg) = send(&d, post("/api/v1/push", ok, &[])).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{msg}");
    assert!(msg.contains("overloaded, retry later") && msg.contains("max_in_flight_bytes"), "{msg}");
}

#[test]
fn config_defaults_serde_and_validation() {
    let c = DistributorConfig::default();
    assert_eq!(
        (c.max_request_bytes, c.max_decompressed_bytes, c.multitenancy_enabled, c.append_timeout_ms),
        (10 << 20, 64 << 20, false, 10_000)
    );
    c.validate().unwrap();
    let c: DistributorConfig = serde_json::from_str(r#"{"multitenancy_enabled": true}"#).unwrap();
    assert!(c.multitenancy_enabled && c.max_request_bytes == 10 << 20);
    assert!(DistributorConfig { append_timeout_ms: 0, ..c.clone() }.validate().is_err());
    assert!(DistributorConfig { max_decompressed_bytes: 1, ..c }.validate().is_err());
}

/// Hot-path throughput: decode → validate → partition → encode → append
/// (fsync=never, 16 partitions) for requests shaped like the load generator's
/// (2,000 series of 6 labels, one sample each), as remote write 1.0 and
/// the same series as 2.0. Run:
/// `cargo test --release -p strata-distributor --lib tests::push_throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn push_throughput() {
    let dir = tempfile::tempdir_in(".").unwrap();
    let fsync = if std::env::var("PUSH_BENCH_FSYNC").is_ok() { FsyncPolicy::Always } else { FsyncPolicy::Never };
    let log = EmbeddedLog::open(EmbeddedLogConfig {
        dir: dir.path().to_path_buf(),
        partitions: 16,
        fsync,
        segment_bytes: 64 << 20,
    })
    .unwrap();
    let d = Arc::new(Distributor::new(DistributorConfig::default(), log, &mut Registry::default()));
    let requests: Vec<Bytes> = (0..50)
        .map(|r| {
            Bytes::from(body(
                (0..2000)
                    .map(|i| {
                        let host = format!("host-{}", i % 100);
                        let cpu = format!("{}", i / 100);
                        series(
                            &[
                                ("__name__", "cpu_usage_percent"),
                                ("cpu", &cpu),
                                ("dc", "eu-1"),
                                ("host", &host),
                                ("job", "node"),
                            ],
                            &[(1_700_000_000_000 + r * 15_000, (i as f64) * 0.5)],
                        )
                    })
                    .collect(),
            ))
        })
        .collect();
    let bytes: usize = requests.iter().map(Bytes::len).sum();

    // Decode alone, then the whole path (decode + push) with 8 concurrent senders.
    let t = Instant::now();
    for r in &requests {
        let raw = d.decompress(r).unwrap();
        std::hint::black_box(super::decode::FlatRequest::decode(&raw).unwrap().series.len());
    }
    let flat = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for r in &requests {
        std::hint::black_box(WriteRequest::decode(&d.decompress(r).unwrap()[..]).unwrap());
    }
    let prost = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for r in &requests {
        let raw = d.decompress(r).unwrap();
        let req = super::decode::FlatRequest::decode(&raw).unwrap();
        std::hint::black_box(d.prepare(&TenantId::default_tenant(), &req).unwrap());
    }
    let prepare = t.elapsed().as_secs_f64();
    // The same series as remote write 2.0 (symbols table).
    let v2_requests: Vec<Bytes> = requests
        .iter()
        .map(|r| {
            let v1 = WriteRequest::decode(&d.decompress(r).unwrap()[..]).unwrap();
            let mut symbols = vec![String::new()];
            let mut r = |s: &str| match symbols.iter().position(|x| x == s) {
                Some(i) => i as u32,
                None => {
                    symbols.push(s.to_string());
                    (symbols.len() - 1) as u32
                }
            };
            let timeseries = v1
                .timeseries
                .iter()
                .map(|ts| crate::proto::v2::TimeSeries {
                    labels_refs: ts.labels.iter().flat_map(|l| [r(&l.name), r(&l.value)]).collect(),
                    samples: ts
                        .samples
                        .iter()
                        .map(|x| crate::proto::v2::Sample { value: x.value, timestamp: x.timestamp })
                        .collect(),
                    ..Default::default()
                })
                .collect();
            let raw = crate::proto::v2::Request { symbols, timeseries }.encode_to_vec();
            Bytes::from(snap::raw::Encoder::new().compress_vec(&raw).unwrap())
        })
        .collect();
    let v2_bytes: usize = v2_requests.iter().map(Bytes::len).sum();
    let t = Instant::now();
    for r in &v2_requests {
        let raw = d.decompress(r).unwrap();
        std::hint::black_box(super::decode::FlatRequest::decode_v2(&raw).unwrap().series.len());
    }
    let flat_v2 = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for r in &v2_requests {
        let raw = d.decompress(r).unwrap();
        let req = super::decode::FlatRequest::decode_v2(&raw).unwrap();
        std::hint::black_box(d.prepare(&TenantId::default_tenant(), &req).unwrap());
    }
    let prepare_v2 = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|k| {
            let (d, requests) = (d.clone(), requests.clone());
            tokio::spawn(async move {
                for r in requests.iter().skip(k).step_by(8) {
                    let req = axum::http::Request::post("/api/v1/push").body(Body::from(r.clone())).unwrap();
                    let resp = router(d.clone()).oneshot(req).await.unwrap();
                    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let total = t.elapsed().as_secs_f64();
    let samples = 50.0 * 2000.0;
    println!(
        "push ({fsync:?}), samples/s on one core: snappy+zero-copy decode {:.0}; snappy+prost decode {:.0}; \
         snappy+decode+validate+partition+encode {:.0}",
        samples / flat,
        samples / prost,
        samples / prepare
    );
    println!(
        "remote write 2.0, samples/s on one core: snappy+zero-copy decode {:.0}; \
         snappy+decode+validate+partition+encode {:.0}; compressed bytes 2.0/1.0 {:.3}",
        samples / flat_v2,
        samples / prepare_v2,
        v2_bytes as f64 / bytes as f64
    );
    println!(
        "push ({fsync:?}), 8 concurrent HTTP senders (router, 2 workers): {:.0} samples/s, {:.0} req/s, {:.1} MB/s compressed",
        samples / total,
        50.0 / total,
        bytes as f64 / total / 1e6
    );
}

/// Native histograms (integer, float, stale) reach the log in version 4
/// records next to the float samples of the same request; none is lost.
#[tokio::test]
async fn native_histograms_are_written_with_the_float_samples() {
    use crate::proto::BucketSpan;
    let s = setup(DistributorConfig::default());
    let int = Histogram {
        count_int: Some(3),
        sum: 4.5,
        schema: 1,
        positive_spans: vec![BucketSpan { offset: 0, length: 2 }],
        positive_deltas: vec![1, 1],
        timestamp: 10,
        ..Default::default()
    };
    let float = Histogram {
        count_float: Some(1.5),
        sum: 1.0,
        schema: -53,
        positive_spans: vec![BucketSpan { offset: 0, length: 1 }],
        positive_counts: vec![1.5],
        custom_values: vec![0.5],
        timestamp: 20,
        ..Default::default()
    };
    let stale = Histogram { sum: strata_common::sample::stale_nan(), timestamp: 30, ..Default::default() };
    let mut both = series(&[("__name__", "lat"), ("job", "a")], &[(5, 1.0)]);
    both.histograms = vec![int, float, stale];
    let plain = series(&[("__name__", "up")], &[(1, 1.0)]);
    let (status, msg) = send(&s.distributor, post("/api/v1/push", body(vec![plain, both]), &[])).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{msg}");
    let (floats, _) = read_back(&s.log).await;
    assert_eq!(floats.len(), 2, "both float series arrived");
    let mut hists = Vec::new();
    for (p, rec) in log_records(&s.log).await {
        let mut scratch = Vec::new();
        let view = RecordView::parse(&rec.payload, &mut scratch, p, rec.offset).unwrap();
        for h in view.histogram_series() {
            let h = h.unwrap();
            assert_eq!(h.labels().unwrap(), vec![("__name__", "lat"), ("job", "a")]);
            hists.extend(h.samples());
        }
    }
    assert_eq!(hists.iter().map(|h| h.t).collect::<Vec<_>>(), vec![10, 20, 30]);
    assert!(hists[0].h.integer && hists[0].h.positive_buckets == vec![1.0, 2.0]);
    assert!(!hists[1].h.integer && hists[1].h.custom_values == vec![0.5]);
    assert!(hists[2].h.is_stale());
}

/// Prometheus sends exemplars in series of their own (no samples) and
/// metadata in requests of their own: both reach the log, exemplars in the
/// partition of their series, metadata in the partition of
/// `{__name__=<family>}`; a tenant that keeps no exemplars writes none.
#[tokio::test]
async fn exemplar_only_series_and_metadata_only_requests_reach_the_log() {
    use super::proto::{Exemplar as PExemplar, MetricMetadata as PMeta};
    let s = setup(DistributorConfig::default());
    let labels = [("__name__", "rpc_seconds_bucket"), ("job", "api"), ("le", "0.5")];
    let mut ex_series = series(&labels, &[]);
    ex_series.exemplars = vec![PExemplar {
        labels: vec![Label { name: "trace_id".into(), value: "4bf92f".into() }],
        value: 0.31,
        timestamp: 1_000,
    }];
    let raw = WriteRequest { timeseries: vec![ex_series.clone()], ..Default::default() }.encode_to_vec();
    let (status, msg) =
        send(&s.distributor, post("/api/v1/push", snap::raw::Encoder::new().compress_vec(&raw).unwrap(), &[])).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{msg}");
    let meta =
        PMeta { r#type: 1, metric_family_name: "rpc_seconds".into(), help: "RPC latency.".into(), unit: String::new() };
    let raw = WriteRequest { metadata: vec![meta.clone(), meta], ..Default::default() }.encode_to_vec();
    let (status, msg) =
        send(&s.distributor, post("/api/v1/push", snap::raw::Encoder::new().compress_vec(&raw).unwrap(), &[])).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{msg}");

    let tenant = TenantId::default_tenant();
    let mut found = (None, None);
    for (p, rec) in log_records(&s.log).await {
        let mut scratch = Vec::new();
        let view = RecordView::parse(&rec.payload, &mut scratch, p, rec.offset).unwrap();
        assert_eq!(view.series_count(), 0);
        let a = view.annotations().unwrap();
        if let Some((series, ex)) = a.exemplars.first() {
            assert_eq!(p, partition_for(&tenant, labels.iter().copied(), PARTITIONS));
            assert_eq!(series.get("le"), Some("0.5"));
            assert_eq!((ex[0].t, ex[0].value, ex[0].labels.get("trace_id")), (1_000, 0.31, Some("4bf92f")));
            found.0 = Some(());
        }
        if !a.metadata.is_empty() {
            assert_eq!(a.metadata.len(), 1, "repeated entries of one request are written once");
            assert_eq!(p, partition_for(&tenant, [("__name__", "rpc_seconds")], PARTITIONS));
            assert_eq!((a.metadata[0].1.kind, a.metadata[0].1.help.as_str()), ("counter", "RPC latency."));
            found.1 = Some(());
        }
    }
    assert_eq!(found, (Some(()), Some(())));

    // A tenant that keeps no exemplars: refused and counted, nothing written.
    let mut config = DistributorConfig::default();
    config.limits.defaults.max_exemplars = 0;
    let s = setup(config);
    let raw = WriteRequest { timeseries: vec![ex_series], ..Default::default() }.encode_to_vec();
    let (status, msg) =
        send(&s.distributor, post("/api/v1/push", snap::raw::Encoder::new().compress_vec(&raw).unwrap(), &[])).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{msg}");
    assert_eq!(s.log.end_offsets().await.unwrap().iter().sum::<u64>(), 0);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &s.registry).unwrap();
    assert!(text.contains(r#"distributor_samples_rejected_total{reason="exemplars_disabled"} 1"#), "{text}");
}

/// The out-of-order window applies to native histograms as to floats:
/// histogram samples inside it are written in any order, those older than
/// it (or too far ahead) are refused alone and counted; the series' float
/// samples and its other histograms are written.
#[tokio::test]
async fn native_histograms_outside_the_window_are_refused_alone() {
    use crate::proto::BucketSpan;
    let config = DistributorConfig { out_of_order_window_ms: 3_600_000, max_future_ms: 600_000, ..Default::default() };
    let s = setup(config);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let h = |timestamp: i64| Histogram {
        count_int: Some(1),
        sum: 0.5,
        schema: 0,
        positive_spans: vec![BucketSpan { offset: 0, length: 1 }],
        positive_deltas: vec![1],
        timestamp,
        ..Default::default()
    };
    // In the window, out of order (the older after the newer): written.
    let mut ok = series(&[("__name__", "lat"), ("job", "a")], &[]);
    ok.histograms = vec![h(now - 1_000), h(now - 3_000_000)];
    let (status, msg) = send(&s.distributor, post("/api/v1/push", body(vec![ok]), &[])).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{msg}");
    // Too old and too new histograms are refused; the rest of the series is written.
    let mut mixed = series(&[("__name__", "lat"), ("job", "b")], &[(now - 2_000, 1.0)]);
    mixed.histograms = vec![h(now - 7_200_000), h(now - 500), h(now + 3_600_000)];
    let (status, msg) = send(&s.distributor, post("/api/v1/push", body(vec![mixed]), &[])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{msg}");
    assert!(msg.contains("sample too old for series lat{job=\"b\"}"), "{msg}");
    assert!(msg.contains("2 histogram sample(s)") && msg.contains("wrote 1 sample(s) of 1 series"), "{msg}");

    let mut written: Vec<(String, i64)> = Vec::new();
    for (p, rec) in log_records(&s.log).await {
        let mut scratch = Vec::new();
        let view = RecordView::parse(&rec.payload, &mut scratch, p, rec.offset).unwrap();
        for series in view.histogram_series() {
            let series = series.unwrap();
            let job = series.labels().unwrap()[1].1.to_string();
            written.extend(series.samples().map(|x| (job.clone(), now - x.t)));
        }
    }
    written.sort();
    assert_eq!(written, [("a".to_string(), 1_000), ("a".into(), 3_000_000), ("b".into(), 500)]);
    let text = metrics_text(&s.registry);
    assert!(text.contains("distributor_samples_rejected_total{reason=\"too_old\"} 1"), "{text}");
    assert!(text.contains("distributor_samples_rejected_total{reason=\"too_far_in_future\"} 1"), "{text}");
}
