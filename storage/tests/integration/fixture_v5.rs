//! Format v5 (native histograms): the frozen fixture keeps decoding exactly,
//! and flushes and compaction carry histograms next to floats.
//!
//! `tests/fixtures/v5/hist.strata` was written by `regenerate_fixture_v5`
//! (run with `--ignored` only while v5 is the version being created; never
//! overwrite it): `lat{job="api"}` with 130 integer histograms (two chunks),
//! `mixed{job="api"}` with 3 floats and 3 float/custom-bucket histograms
//! (the last a staleness marker), `up{job="api"}` with floats only.
use std::path::PathBuf;
use std::sync::Arc;

use strata_common::histogram::{CUSTOM_BUCKETS_SCHEMA, HistSample, Histogram, ResetHint, Span};
use strata_common::{Labels, Sample};
use strata_storage::memtable::Memtable;
use strata_storage::writer::{DurableFile, FlushContext, write_files};
use strata_storage::{FileReader, ManifestStore, PartitionRange};

use super::common::{labels, tenant};

type Series = (Labels, Vec<Sample>, Vec<HistSample>);

fn int_hist(i: i64) -> Histogram {
    let i = i as f64;
    Histogram {
        integer: true,
        hint: if i == 0.0 { ResetHint::Reset } else { ResetHint::NotReset },
        schema: 3,
        zero_threshold: 1e-128,
        zero_count: i,
        count: 4.0 * i,
        sum: 10.5 * i,
        positive_spans: vec![Span { offset: -2, length: 2 }, Span { offset: 5, length: 1 }],
        positive_buckets: vec![i, 2.0 * i, 0.0],
        negative_spans: vec![Span { offset: 1, length: 1 }],
        negative_buckets: vec![i],
        custom_values: vec![],
    }
}

fn custom_hist(i: i64) -> Histogram {
    Histogram {
        schema: CUSTOM_BUCKETS_SCHEMA,
        hint: ResetHint::Gauge,
        count: 1.5 * i as f64,
        sum: 0.25,
        positive_spans: vec![Span { offset: 0, length: 2 }],
        positive_buckets: vec![0.5 * i as f64, i as f64],
        custom_values: vec![0.1, 0.5],
        ..Histogram::default()
    }
}

fn expected() -> Vec<Series> {
    let t0 = 1_700_000_000_000i64;
    let lat = (0..130).map(|i| HistSample::new(t0 + i * 15_000, int_hist(i))).collect();
    let mixed_f = (0..3).map(|i| Sample::new(t0 + i * 1000, i as f64 * 0.5)).collect();
    let mut mixed_h: Vec<HistSample> =
        (1..3).map(|i| HistSample::new(t0 + 10_000 + i * 1000, custom_hist(i))).collect();
    mixed_h.push(HistSample::new(t0 + 20_000, Histogram::stale_marker()));
    let up = (0..5).map(|i| Sample::new(t0 + i * 15_000, 1.0)).collect();
    vec![
        (labels(&[("__name__", "lat"), ("job", "api")]), vec![], lat),
        (labels(&[("__name__", "mixed"), ("job", "api")]), mixed_f, mixed_h),
        (labels(&[("__name__", "up"), ("job", "api")]), up, vec![]),
    ]
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v5/hist.strata")
}

#[test]
#[ignore = "writes the fixture; only while creating format v5"]
fn regenerate_fixture_v5() {
    let mut w = DurableFile::create_for(&fixture(), Some(3), true).unwrap();
    for (l, f, h) in expected() {
        let ts: Vec<i64> = f.iter().map(|s| s.t).collect();
        let vs: Vec<f64> = f.iter().map(|s| s.v).collect();
        w.writer().add_series_with_histograms(&l, &ts, &vs, &h).unwrap();
    }
    w.commit().unwrap();
}

/// Everything a reader returns for the file at `path`.
fn read(path: &std::path::Path) -> Vec<Series> {
    let r = FileReader::open(path).unwrap();
    (0..r.series_count())
        .map(|id| {
            let (mut f, mut h) = (Vec::new(), Vec::new());
            r.samples(id, i64::MIN, i64::MAX, &mut f).unwrap();
            r.hist_samples(id, i64::MIN, i64::MAX, &mut h).unwrap();
            (r.labels(id).unwrap(), f, h)
        })
        .collect()
}

fn assert_same(got: &[Series], want: &[Series]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.0, w.0);
        assert_eq!(g.1, w.1);
        assert_eq!(g.2.len(), w.2.len(), "{}", w.0);
        for (a, b) in g.2.iter().zip(&w.2) {
            assert_eq!(a.t, b.t);
            assert_eq!(a.h.sum.to_bits(), b.h.sum.to_bits());
            if !b.h.is_stale() {
                assert_eq!(a.h, b.h);
            }
        }
    }
}

#[test]
fn v5_fixture_decodes_exactly() {
    let bytes = std::fs::read(fixture()).unwrap();
    assert_eq!(&bytes[..8], b"STRT\x05\0\0\0");
    assert_same(&read(&fixture()), &expected());
    let r = FileReader::open(&fixture()).unwrap();
    assert!(r.has_histograms());
    assert_eq!(r.sample_count(), 130 + 6 + 5);
    assert_eq!(r.hist_chunks(0).unwrap().len(), 2, "120 + 10 histograms");
    // A range read decodes only what overlaps.
    let mut h = Vec::new();
    r.hist_samples(0, 1_700_000_000_000 + 15_000, 1_700_000_000_000 + 30_000, &mut h).unwrap();
    assert_eq!(h.iter().map(|s| s.t % 100_000).collect::<Vec<_>>(), vec![15_000, 30_000]);
    // Older formats have no histogram chunks.
    let v4 =
        FileReader::open(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v4/basic.strata")).unwrap();
    assert!(!v4.has_histograms() && v4.hist_chunks(0).unwrap().is_empty());
}

#[test]
fn flush_and_compaction_carry_histograms() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ManifestStore::open(dir.path()).unwrap());
    let want = expected();
    // Two flushes (each half of every series), then compaction merges them.
    for (part, end) in [(0usize, 1u64), (1, 2)] {
        let mut mem = Memtable::new();
        let mut app = mem.tenant_appender(&tenant("t"));
        for (l, f, h) in &want {
            let pairs: Vec<(&str, &str)> = l.iter().map(|x| (x.name.as_str(), x.value.as_str())).collect();
            let id = app.find_or_create(&pairs);
            app.append(id, f.iter().copied().skip(part).step_by(2));
            app.append_histograms(id, h.iter().skip(part).step_by(2).cloned());
        }
        let files = write_files(
            &store,
            &mem.freeze(),
            &FlushContext { offsets: vec![PartitionRange { partition: 0, start: end - 1, end }], level: 0 },
        )
        .unwrap();
        assert_eq!(files.len(), 1);
        store.commit_flush(files, &[(0, end)]).unwrap();
    }
    let config = super::sim::test_config();
    let report = super::sim::compact(
        &store,
        &strata_storage::compaction::CompactionConfig { level_windows_ms: vec![3_600_000, 86_400_000], ..config },
    )
    .unwrap();
    assert!(report.jobs > 0);
    let files = store.current().files.clone();
    assert!(files.iter().all(|f| f.level > 0), "{files:?}");
    let mut got: Vec<Series> = Vec::new();
    for f in &files {
        for s in read(&store.data_dir().join(&f.path)) {
            match got.iter_mut().find(|g| g.0 == s.0) {
                Some(g) => {
                    g.1.extend(s.1);
                    g.2.extend(s.2);
                }
                None => got.push(s),
            }
        }
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    for g in &mut got {
        g.1.sort_by_key(|s| s.t);
        g.2.sort_by_key(|s| s.t);
    }
    assert_same(&got, &want);
}
