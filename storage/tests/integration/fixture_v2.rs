//! The frozen v2 fixture: future versions must keep decoding it exactly.
//!
//! `tests/fixtures/v2/basic.strata` holds the same series as the v1 fixture
//! and was produced by `regenerate_fixture_v2` below (run with `--ignored`
//! only while v2 is the version being created; never overwrite it).
use std::path::PathBuf;

use strata_common::Matcher;
use strata_common::sample::STALE_NAN_BITS;
use strata_storage::FileReader;

use super::common::*;
use super::fixture_v1::expected;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2/basic.strata")
}

#[test]
#[ignore = "writes the fixture; only while creating format v2"]
fn regenerate_fixture_v2() {
    super::fixture_v1::write_fixture(&fixture(), &expected());
}

#[test]
fn v2_fixture_decodes_exactly() {
    let bytes = std::fs::read(fixture()).unwrap();
    assert_eq!(&bytes[..8], b"STRT\x02\x00\x00\x00", "a version 2 header");
    let r = FileReader::open(&fixture()).unwrap();
    let exp = expected();
    assert_eq!(r.series_count() as usize, exp.len());
    assert_eq!(r.sample_count(), 307);
    assert_eq!((r.min_t(), r.max_t()), (i64::MIN, i64::MAX));
    for (i, (l, s)) in exp.iter().enumerate() {
        assert_eq!(r.labels(i as u32).unwrap(), labels(l));
        let mut got = Vec::new();
        r.samples(i as u32, i64::MIN, i64::MAX, &mut got).unwrap();
        assert_samples_eq(&got, s);
    }
    let mut got = Vec::new();
    r.samples(1, 40_000, 50_000, &mut got).unwrap();
    assert_eq!(got[0].v.to_bits(), STALE_NAN_BITS);
    assert_eq!(r.select(&[Matcher::equal("job", "api")]).iter().collect::<Vec<_>>(), vec![0, 2]);
    // Decimal chunks hold up to 1024 samples: the 300-sample counter is one chunk.
    assert_eq!(r.chunks(0).unwrap().iter().map(|c| c.count).collect::<Vec<_>>(), vec![300]);
    // The counter (integer values, regular 10 s steps) uses the decimal kind.
    let c = r.chunks(0).unwrap()[0];
    assert_eq!(bytes[c.offset], 1, "decimal chunk kind");
    // The special values (NaN, -0, inf) fall back to Gorilla.
    assert_eq!(bytes[r.chunks(1).unwrap()[0].offset], 0, "Gorilla chunk kind");
}
