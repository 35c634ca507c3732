//! Property-based fuzzing of what arrives from outside: remote-write bodies
//! (snappy and protobuf, arbitrary and mutated) through the whole HTTP push
//! path, for remote write 1.0 and 2.0, and log records (arbitrary and mutated) through the record
//! decoder the ingesters run. No input may panic, allocate without bound,
//! or get a 5xx; a refused push appends nothing but the valid series of a
//! partial write.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use prometheus_client::registry::Registry;
use proptest::prelude::*;
use prost::Message;
use strata_common::TenantId;
use strata_common::record::{RecordBuilder, RecordView};
use strata_log::Log;
use strata_log::embedded::{EmbeddedLog, EmbeddedLogConfig, FsyncPolicy};
use tower::ServiceExt;

use crate::decode::FlatRequest;
use crate::histograms::decode_series;
use crate::proto::{Label, Sample, TimeSeries, WriteRequest, v2};
use crate::{Distributor, DistributorConfig, router};

fn valid_request(n: usize) -> Vec<u8> {
    WriteRequest {
        timeseries: (0..n)
            .map(|i| TimeSeries {
                labels: vec![
                    Label { name: "__name__".into(), value: "up".into() },
                    Label { name: "job".into(), value: format!("j{i}") },
                ],
                samples: vec![Sample { value: i as f64, timestamp: 1000 + i as i64 }],
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A valid remote write 2.0 request of `n` series, each with a sample, an
/// exemplar and metadata, every other one a native histogram too.
fn valid_request_v2(n: usize) -> Vec<u8> {
    let mut symbols: Vec<String> =
        ["", "__name__", "up", "job", "trace_id", "abc", "help", "s"].map(String::from).to_vec();
    let timeseries = (0..n)
        .map(|i| {
            symbols.push(format!("j{i}"));
            let job = symbols.len() as u32 - 1;
            v2::TimeSeries {
                labels_refs: vec![1, 2, 3, job],
                samples: vec![v2::Sample { value: i as f64, timestamp: 1000 + i as i64 }],
                histograms: (i % 2 == 1)
                    .then(|| v2::Histogram {
                        sum: 1.0,
                        schema: 3,
                        timestamp: 1000 + i as i64,
                        count_int: Some(2),
                        ..Default::default()
                    })
                    .into_iter()
                    .collect(),
                exemplars: vec![v2::Exemplar { labels_refs: vec![4, 5], value: 1.0, timestamp: 1000 }],
                metadata: Some(v2::Metadata { r#type: 1, help_ref: 6, unit_ref: 7 }),
                created_timestamp: 0,
            }
        })
        .collect();
    v2::Request { symbols, timeseries }.encode_to_vec()
}

fn mutate(mut bytes: Vec<u8>, flips: &[(prop::sample::Index, u8)], cut: Option<prop::sample::Index>) -> Vec<u8> {
    if !bytes.is_empty() {
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= v | 1;
        }
    }
    if let Some(c) = cut {
        let len = c.index(bytes.len() + 1);
        bytes.truncate(len);
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The decoder on arbitrary and mutated protobuf: never a panic, and
    /// whatever it accepts, prost accepts too.
    #[test]
    fn remote_write_decode_survives_garbage(
        raw in prop::collection::vec(any::<u8>(), 0..256),
        n in 0usize..6,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let _ = FlatRequest::decode(&raw);
        let bytes = mutate(valid_request(n), &flips, cut);
        if let Ok(flat) = FlatRequest::decode(&bytes) {
            prop_assert!(WriteRequest::decode(&bytes[..]).is_ok(), "accepted what prost refuses");
            for s in &flat.series {
                let _ = (flat.labels(s), flat.samples(s));
            }
        }
    }

    /// Whole pushes of mutated bodies: a 2xx or a 4xx, never a 5xx, and a
    /// refused push appends nothing.
    #[test]
    fn http_push_of_mutated_bodies_is_never_a_5xx(
        n in 0usize..6,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
        compressed_flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
    ) {
        push_mutated(mutate(valid_request(n), &flips, cut), &compressed_flips, "application/x-protobuf")?;
    }

    /// Remote write 2.0 on arbitrary and mutated protobuf: never a panic,
    /// and whatever the decoder accepts, prost accepts too, but for damaged
    /// histograms, which are refused when their series is decoded.
    #[test]
    fn remote_write_2_decode_survives_garbage(
        raw in prop::collection::vec(any::<u8>(), 0..256),
        n in 0usize..6,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let _ = FlatRequest::decode_v2(&raw);
        let bytes = mutate(valid_request_v2(n), &flips, cut);
        if let Ok(flat) = FlatRequest::decode_v2(&bytes) {
            // Histograms are decoded per series, when the series is
            // prepared: a damaged one fails there (its series is refused),
            // so that is where prost's refusal must show.
            let histograms_fail = flat.series.iter().any(|s| decode_series(&[], flat.histograms(s)).is_err());
            if let Err(e) = v2::Request::decode(&bytes[..]) {
                prop_assert!(histograms_fail, "accepted what prost refuses ({e}): {bytes:02x?}");
            }
            for s in &flat.series {
                let _ = (flat.labels(s), flat.samples(s));
            }
        }
    }

    /// Remote write 2.0 pushes of mutated bodies (samples, histograms,
    /// exemplars, metadata): a 2xx or a 4xx, never a 5xx, and a refused
    /// push appends nothing.
    #[test]
    fn http_push_of_mutated_remote_write_2_bodies_is_never_a_5xx(
        n in 0usize..6,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
        compressed_flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
    ) {
        let raw = mutate(valid_request_v2(n), &flips, cut);
        push_mutated(raw, &compressed_flips, "application/x-protobuf;proto=io.prometheus.write.v2.Request")?;
    }

    /// Log records, arbitrary and mutated: parsing and walking every series
    /// never panics.
    #[test]
    fn log_record_decode_survives_garbage(
        raw in prop::collection::vec(any::<u8>(), 0..256),
        n in 0usize..6,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let walk = |bytes: &[u8]| -> Result<(), TestCaseError> {
            let mut scratch = Vec::new();
            if let Ok(view) = RecordView::parse(bytes, &mut scratch, 0, 0) {
                for s in view.series().flatten() {
                    let _ = s.labels();
                    prop_assert!(s.samples().len() <= bytes.len(), "implausible sample count");
                    let _ = s.samples().count();
                }
            }
            Ok(())
        };
        walk(&raw)?;
        let t = TenantId::new("t").unwrap();
        let mut b = RecordBuilder::new(&t);
        for i in 0..n {
            let job = format!("j{i}");
            let samples: Vec<strata_common::Sample> = (0..i as i64).map(|k| strata_common::Sample::new(k, k as f64)).collect();
            b.push_series([("__name__", "up"), ("job", job.as_str())].into_iter(), &samples);
        }
        walk(&mutate(b.finish(), &flips, cut))?;
    }
}

/// Pushes snappy(`raw`), its compressed bytes flipped at `compressed_flips`,
/// as `content_type` through the whole HTTP path into an embedded log:
/// a 2xx or a 4xx, never a 5xx, and a refused push appends nothing but the
/// valid series of a partial write.
fn push_mutated(
    raw: Vec<u8>,
    compressed_flips: &[(prop::sample::Index, u8)],
    content_type: &str,
) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(EmbeddedLogConfig {
        dir: dir.path().to_path_buf(),
        partitions: 1,
        fsync: FsyncPolicy::Never,
        segment_bytes: 1 << 20,
    })
    .unwrap();
    let d = Arc::new(Distributor::new(DistributorConfig::default(), log.clone(), &mut Registry::default()));
    let body = mutate(snap::raw::Encoder::new().compress_vec(&raw).unwrap(), compressed_flips, None);
    let req = Request::post("/api/v1/push")
        .header("Content-Encoding", "snappy")
        .header("Content-Type", content_type)
        .body(Body::from(body))
        .unwrap();
    let (status, msg) = rt.block_on(async {
        let resp = router(d).oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    });
    prop_assert!(status == StatusCode::NO_CONTENT || status.is_client_error(), "{status}");
    // A client error appended nothing, unless it was a partial write: one
    // that says it wrote samples, or one that wrote none but may have
    // written exemplars and metadata (records without series).
    let partial = msg.contains(" wrote ");
    let end = rt.block_on(log.end_offsets()).unwrap()[0];
    if status.is_client_error() && !partial {
        prop_assert_eq!(end, 0);
    }
    if status.is_client_error() && msg.contains(" wrote 0 sample(s)") && end > 0 {
        let records = rt.block_on(async {
            let mut r = log.open_reader(0, 0).unwrap();
            r.next_batch(end as usize).await.unwrap()
        });
        for rec in records {
            let mut scratch = Vec::new();
            let view = RecordView::parse(&rec.payload, &mut scratch, 0, rec.offset).unwrap();
            prop_assert_eq!(view.series_count(), 0, "a partial write of 0 samples wrote samples: {}", msg);
            prop_assert!(!view.annotations().unwrap().is_empty() || view.histogram_series_count() > 0);
        }
    }
    Ok(())
}
