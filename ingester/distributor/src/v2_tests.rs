//! Remote write 2.0 through the router against a real `EmbeddedLog`:
//! content negotiation, the `-Written` headers, partial writes, metadata
//! and exemplars.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use prometheus_client::registry::Registry;
use prost::Message;
use strata_common::TenantId;
use strata_common::record::{Annotations, RecordView};
use strata_log::Log;
use strata_log::embedded::{EmbeddedLog, EmbeddedLogConfig, FsyncPolicy};
use tower::ServiceExt;

use crate::proto::v2::{Exemplar, Histogram, Metadata, Request as V2Request, Sample, TimeSeries};
use crate::{Distributor, DistributorConfig, router};

const V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

fn setup() -> (tempfile::TempDir, Arc<EmbeddedLog>, Arc<Distributor>) {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(EmbeddedLogConfig {
        dir: dir.path().to_path_buf(),
        partitions: 2,
        fsync: FsyncPolicy::Never,
        segment_bytes: 1 << 20,
    })
    .unwrap();
    let config = DistributorConfig { max_future_ms: 0, ..Default::default() };
    let d = Arc::new(Distributor::new(config, log.clone(), &mut Registry::default()));
    (dir, log, d)
}

/// Interns strings the way a sender does (`symbols[0]` = "").
#[derive(Default)]
struct Symbols(Vec<String>);

impl Symbols {
    fn r(&mut self, s: &str) -> u32 {
        if self.0.is_empty() {
            self.0.push(String::new());
        }
        match self.0.iter().position(|x| x == s) {
            Some(i) => i as u32,
            None => {
                self.0.push(s.to_string());
                (self.0.len() - 1) as u32
            }
        }
    }

    fn labels(&mut self, pairs: &[(&str, &str)]) -> Vec<u32> {
        pairs.iter().flat_map(|(n, v)| [self.r(n), self.r(v)]).collect()
    }
}

async fn send(d: &Arc<Distributor>, content_type: &str, raw: Vec<u8>) -> (StatusCode, [String; 3], String) {
    let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    let req = Request::post("/api/v1/write")
        .header("Content-Type", content_type)
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "2.0.0")
        .body(Body::from(body))
        .unwrap();
    let resp = router(d.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let h = |name: &str| resp.headers().get(name).map_or("-".into(), |v| v.to_str().unwrap().to_string());
    let written = [
        h("X-Prometheus-Remote-Write-Samples-Written"),
        h("X-Prometheus-Remote-Write-Histograms-Written"),
        h("X-Prometheus-Remote-Write-Exemplars-Written"),
    ];
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, written, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn v2_requests_are_written_with_metadata_exemplars_and_written_headers() {
    let (_dir, log, d) = setup();
    let mut sym = Symbols::default();
    let name = [("__name__", "http.server.duration"), ("service.name", "api")];
    let series = TimeSeries {
        labels_refs: sym.labels(&name),
        samples: vec![Sample { value: 1.5, timestamp: 1_000 }, Sample { value: 2.5, timestamp: 2_000 }],
        exemplars: vec![Exemplar { labels_refs: sym.labels(&[("trace_id", "abc")]), value: 0.7, timestamp: 1_500 }],
        metadata: Some(Metadata { r#type: 1, help_ref: sym.r("Requests served."), unit_ref: sym.r("seconds") }),
        created_timestamp: 500,
        ..Default::default()
    };
    let other = TimeSeries {
        labels_refs: sym.labels(&[("__name__", "up"), ("job", "node")]),
        samples: vec![Sample { value: 1.0, timestamp: 1_000 }],
        metadata: Some(Metadata { r#type: 2, ..Default::default() }),
        ..Default::default()
    };
    let req = V2Request { symbols: sym.0, timeseries: vec![series, other] };
    let (status, written, body) = send(&d, V2, req.encode_to_vec()).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(written, ["3", "0", "1"]);
    assert!(log.end_offsets().await.unwrap().iter().sum::<u64>() > 0);

    // Metadata and exemplars are in the log records, for the ingesters.
    let notes = annotations_in(&log).await;
    let meta: std::collections::BTreeMap<_, _> = notes.metadata.iter().cloned().collect();
    assert_eq!(notes.metadata.len(), 2, "one entry per family: {:?}", notes.metadata);
    assert_eq!(meta["http.server.duration"].kind, "counter");
    assert_eq!(meta["http.server.duration"].help, "Requests served.");
    assert_eq!(meta["http.server.duration"].unit, "seconds");
    assert_eq!(meta["up"].kind, "gauge");
    assert_eq!(notes.exemplars.len(), 1);
    let (series, ex) = &notes.exemplars[0];
    assert_eq!(series.get("service.name"), Some("api"));
    assert_eq!(ex[0].labels.get("trace_id"), Some("abc"));
    assert_eq!((ex[0].t, ex[0].value), (1_500, 0.7));

    // The same metadata again is not written again (senders repeat it).
    let (status, _, body) = send(&d, V2, req.encode_to_vec()).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(annotations_in(&log).await.metadata.len(), 2);
    let _ = TenantId::default_tenant();
}

/// Every exemplar and metadata entry in the log's records.
async fn annotations_in(log: &EmbeddedLog) -> Annotations {
    let mut all = Annotations::default();
    for (p, rec) in super::tests::log_records(log).await {
        let mut scratch = Vec::new();
        let view = RecordView::parse(&rec.payload, &mut scratch, p, rec.offset).unwrap();
        let a = view.annotations().unwrap();
        all.exemplars.extend(a.exemplars);
        all.metadata.extend(a.metadata);
    }
    all
}

#[tokio::test]
async fn v2_histograms_are_written_and_bad_references_refused_alone() {
    let (_dir, _log, d) = setup();
    let mut sym = Symbols::default();
    let floats = TimeSeries {
        labels_refs: sym.labels(&[("__name__", "requests_total")]),
        samples: vec![Sample { value: 3.0, timestamp: 1_000 }],
        ..Default::default()
    };
    let hist = TimeSeries {
        labels_refs: sym.labels(&[("__name__", "latency")]),
        // Three observations in bucket 0 (a valid integer histogram).
        histograms: vec![Histogram {
            count_int: Some(3),
            sum: 1.0,
            schema: 3,
            timestamp: 1_000,
            positive_spans: vec![crate::proto::v2::BucketSpan { offset: 0, length: 1 }],
            positive_deltas: vec![3],
            ..Default::default()
        }],
        ..Default::default()
    };
    let bad = TimeSeries {
        labels_refs: vec![1, 999],
        samples: vec![Sample { value: 1.0, timestamp: 1_000 }],
        ..Default::default()
    };
    let req = V2Request { symbols: sym.0, timeseries: vec![floats, hist, bad] };
    let (status, written, body) = send(&d, V2, req.encode_to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(written, ["1", "1", "0"], "the float and the histogram were written: {body}");
    assert!(body.contains("outside the symbols table"), "{body}");
    assert!(body.contains("rejected 1 sample(s), 0 histogram sample(s)"), "{body}");
}

#[tokio::test]
async fn content_types_are_negotiated() {
    let (_dir, _log, d) = setup();
    // An unknown proto: 415 naming the accepted ones; the headers still say 0.
    let (status, written, body) = send(&d, "application/x-protobuf;proto=io.prometheus.write.v3.Request", vec![]).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(body.contains("proto=prometheus.WriteRequest") && body.contains("proto=io.prometheus.write.v2.Request"));
    assert_eq!(written, ["-", "-", "-"], "an unknown protocol is not 2.0");
    let (status, _, body) = send(&d, "application/json", vec![]).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    // 1.0 stays the default, with or without the proto parameter, and
    // carries no -Written headers.
    let v1 = crate::proto::WriteRequest {
        timeseries: vec![crate::proto::TimeSeries {
            labels: vec![crate::proto::Label { name: "__name__".into(), value: "up".into() }],
            samples: vec![crate::proto::Sample { value: 1.0, timestamp: 1 }],
            ..Default::default()
        }],
        ..Default::default()
    };
    for ct in ["application/x-protobuf", "application/x-protobuf; proto=prometheus.WriteRequest"] {
        let (status, written, body) = send(&d, ct, v1.encode_to_vec()).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{ct}: {body}");
        assert_eq!(written, ["-", "-", "-"]);
    }
    // A 1.0 body sent as 2.0 decodes as an empty request (reserved tags):
    // nothing written, and the headers say so.
    let (status, written, _) = send(&d, V2, v1.encode_to_vec()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(written, ["0", "0", "0"]);
    // Garbage as 2.0: 400 naming the message.
    let (status, written, body) = send(&d, V2, vec![0xff; 8]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("io.prometheus.write.v2.Request"), "{body}");
    assert_eq!(written, ["0", "0", "0"]);
}
