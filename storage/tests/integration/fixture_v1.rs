//! The frozen v1 fixture: future versions must keep decoding it exactly.
//!
//! `tests/fixtures/v1/basic.strata` was produced by `regenerate_fixture`
//! below when v1 was the current version (the writer now writes v2, so
//! never run it again: it would overwrite the frozen v1 file).
use std::path::PathBuf;

use strata_common::sample::{STALE_NAN_BITS, stale_nan};
use strata_common::{Matcher, Sample};
use strata_storage::FileReader;

use super::common::*;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/basic.strata")
}

pub(super) type Expected = Vec<(Vec<(&'static str, &'static str)>, Vec<Sample>)>;

/// The content of the fixture.
pub(super) fn expected() -> Expected {
    let counter: Vec<Sample> = (0..300).map(|i| Sample::new(1_700_000_000_000 + i * 10_000, (i * i) as f64)).collect();
    vec![
        (vec![("__name__", "http_requests_total"), ("code", "200"), ("job", "api")], counter),
        (
            vec![("__name__", "temperature"), ("room", "kitchen")],
            samples(&[(-1_000, -0.0), (0, 21.5), (15_000, f64::INFINITY), (30_000, f64::NAN), (45_000, stale_nan())]),
        ),
        (vec![("__name__", "up"), ("job", "api")], samples(&[(i64::MIN, 1.0), (i64::MAX, 0.0)])),
    ]
}

/// Writes `exp` as a file at `path` with the current writer: as flushes
/// write files (`zstd_level` None) or as compaction does (the
/// `regenerate_*` tests of the fixture versions).
pub(super) fn write_fixture(path: &std::path::Path, exp: &Expected, zstd_level: Option<i32>) {
    let mut w = strata_storage::writer::DurableFile::create_with(path, zstd_level).unwrap();
    for (l, s) in exp {
        let ts: Vec<i64> = s.iter().map(|s| s.t).collect();
        let vs: Vec<f64> = s.iter().map(|s| s.v).collect();
        w.writer().add_series(&labels(l), &ts, &vs).unwrap();
    }
    w.commit().unwrap();
}

#[test]
#[ignore = "wrote the v1 fixture when v1 was current; never run again"]
fn regenerate_fixture() {
    write_fixture(&fixture(), &expected(), None);
}

/// Asserts that the file at `path` has format `version` and holds exactly
/// `exp` (bit for bit); returns how many of its chunks are kind 2 (zstd).
pub(super) fn assert_decodes_exactly(path: &std::path::Path, version: u8, exp: &Expected) -> usize {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], &[b'S', b'T', b'R', b'T', version, 0, 0, 0], "a version {version} header");
    let r = FileReader::open(path).unwrap();
    assert_eq!(r.series_count() as usize, exp.len());
    assert_eq!(r.sample_count(), exp.iter().map(|(_, s)| s.len() as u64).sum::<u64>());
    let mut zstd_chunks = 0;
    for (id, (l, samples)) in exp.iter().enumerate() {
        let id = id as u32;
        assert_eq!(&r.labels(id).unwrap(), &labels(l));
        let mut got = Vec::new();
        r.samples(id, i64::MIN, i64::MAX, &mut got).unwrap();
        assert_samples_eq(&got, samples);
        for c in r.chunks(id).unwrap() {
            zstd_chunks += usize::from(bytes[c.offset] == 2);
        }
    }
    zstd_chunks
}

/// What the v1 and v2 fixtures answer beyond their samples: the file's
/// time range, a range read of the stale marker, postings.
pub(super) fn assert_fixture_queries(r: &FileReader) {
    assert_eq!((r.min_t(), r.max_t()), (i64::MIN, i64::MAX));
    let mut got = Vec::new();
    r.samples(1, 40_000, 50_000, &mut got).unwrap();
    assert_eq!(got[0].v.to_bits(), STALE_NAN_BITS);
    assert_eq!(r.select(&[Matcher::equal("job", "api")]).iter().collect::<Vec<_>>(), vec![0, 2]);
}

#[test]
fn v1_fixture_decodes_exactly() {
    assert_decodes_exactly(&fixture(), 1, &expected());
    let r = FileReader::open(&fixture()).unwrap();
    assert_eq!(r.sample_count(), 307);
    assert_fixture_queries(&r);
    assert_eq!(r.label_values("room"), vec!["kitchen"]);
    // The counter spans two chunks (240 + 60 samples).
    assert_eq!(r.chunks(0).unwrap().iter().map(|c| c.count).collect::<Vec<_>>(), vec![240, 60]);
}
