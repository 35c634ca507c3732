//! The frozen v2 fixture: future versions must keep decoding it exactly.
//!
//! `tests/fixtures/v2/basic.strata` holds the same series as the v1 fixture
//! and was produced by `regenerate_fixture_v2` below (run with `--ignored`
//! only while v2 is the version being created; never overwrite it).
use std::path::PathBuf;

use strata_storage::FileReader;

use super::fixture_v1::expected;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2/basic.strata")
}

#[test]
#[ignore = "writes the fixture; only while creating format v2"]
fn regenerate_fixture_v2() {
    super::fixture_v1::write_fixture(&fixture(), &expected(), None);
}

#[test]
fn v2_fixture_decodes_exactly() {
    super::fixture_v1::assert_decodes_exactly(&fixture(), 2, &expected());
    let bytes = std::fs::read(fixture()).unwrap();
    let r = FileReader::open(&fixture()).unwrap();
    assert_eq!(r.sample_count(), 307);
    super::fixture_v1::assert_fixture_queries(&r);
    // Decimal chunks hold up to 1024 samples: the 300-sample counter is one chunk.
    assert_eq!(r.chunks(0).unwrap().iter().map(|c| c.count).collect::<Vec<_>>(), vec![300]);
    // The counter (integer values, regular 10 s steps) uses the decimal kind.
    let c = r.chunks(0).unwrap()[0];
    assert_eq!(bytes[c.offset], 1, "decimal chunk kind");
    // The special values (NaN, -0, inf) fall back to Gorilla.
    assert_eq!(bytes[r.chunks(1).unwrap()[0].offset], 0, "Gorilla chunk kind");
}
