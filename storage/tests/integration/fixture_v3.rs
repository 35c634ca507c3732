//! The frozen v3 fixture: future versions must keep decoding it exactly.
//!
//! `tests/fixtures/v3/basic.strata` holds the same series as the v1 and v2
//! fixtures, written with zstd chunks (as compaction writes them), produced
//! by `regenerate_fixture_v3` below (run with `--ignored` only while v3 is
//! the version being created; never overwrite it).
use std::path::PathBuf;

use strata_common::Sample;
use strata_storage::FileReader;

/// The v1/v2 fixtures' series, plus a gauge repeating a 16-value pattern
/// 1000 times (an entropy coder's case: its chunk is stored as kind 2).
pub(super) fn expected() -> super::fixture_v1::Expected {
    let mut exp = super::fixture_v1::expected();
    let pattern = [3, 917, 42, 605, 88, 231, 999, 17, 450, 123, 760, 5, 333, 871, 64, 512];
    let gauge = (0..1000).map(|i| Sample::new(1_700_000_000_000 + i * 15_000, pattern[i as usize % 16] as f64 / 10.0));
    exp.push((vec![("__name__", "zz_pattern")], gauge.collect()));
    exp
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v3/basic.strata")
}

/// Writes `exp` at `path` as compaction writes files (the current
/// compressed version).
pub(super) fn write_compacted(path: &std::path::Path, exp: &super::fixture_v1::Expected) {
    let labels: Vec<_> = exp.iter().map(|(l, _)| super::common::labels(l)).collect();
    let ts: Vec<Vec<i64>> = exp.iter().map(|(_, s)| s.iter().map(|s| s.t).collect()).collect();
    let vs: Vec<Vec<f64>> = exp.iter().map(|(_, s)| s.iter().map(|s| s.v).collect()).collect();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = strata_storage::writer::DurableFile::create_with(path, Some(3)).unwrap();
    for i in 0..exp.len() {
        w.writer().add_series(&labels[i], &ts[i], &vs[i]).unwrap();
    }
    w.commit().unwrap();
}

/// Asserts that the file at `path` has format `version` and holds exactly
/// `exp` (bit for bit); returns how many of its chunks are kind 2 (zstd).
pub(super) fn assert_decodes_exactly(path: &std::path::Path, version: u8, exp: &super::fixture_v1::Expected) -> usize {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], &[b'S', b'T', b'R', b'T', version, 0, 0, 0], "a version {version} header");
    let r = FileReader::open(path).unwrap();
    assert_eq!(r.series_count() as usize, exp.len());
    assert_eq!(r.sample_count(), exp.iter().map(|(_, s)| s.len() as u64).sum::<u64>());
    let mut zstd_chunks = 0;
    for (id, (labels, samples)) in exp.iter().enumerate() {
        let id = id as u32;
        assert_eq!(&r.labels(id).unwrap(), &super::common::labels(labels));
        let mut got = Vec::new();
        r.samples(id, i64::MIN, i64::MAX, &mut got).unwrap();
        assert_eq!(got.len(), samples.len());
        for (g, e) in got.iter().zip(samples) {
            assert_eq!((g.t, g.v.to_bits()), (e.t, e.v.to_bits()), "series {id}");
        }
        for c in r.chunks(id).unwrap() {
            zstd_chunks += usize::from(bytes[c.offset] == 2);
        }
    }
    zstd_chunks
}

#[test]
#[ignore = "wrote the v3 fixture when v3 was current; never run again (compaction now writes v4)"]
fn regenerate_fixture_v3() {
    write_compacted(&fixture(), &expected());
}

#[test]
fn v3_fixture_decodes_exactly() {
    let exp = expected();
    assert_eq!(exp.iter().map(|(_, s)| s.len()).sum::<usize>(), 1307);
    assert!(assert_decodes_exactly(&fixture(), 3, &exp) > 0, "the fixture exercises kind-2 (zstd) chunks");
}
