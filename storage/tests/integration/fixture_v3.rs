//! The frozen v3 fixture: future versions must keep decoding it exactly.
//!
//! `tests/fixtures/v3/basic.strata` holds the same series as the v1 and v2
//! fixtures, written with zstd chunks (as compaction writes them), produced
//! by `regenerate_fixture_v3` below (run with `--ignored` only while v3 is
//! the version being created; never overwrite it).
use std::path::PathBuf;

use strata_common::Sample;

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

#[test]
#[ignore = "wrote the v3 fixture when v3 was current; never run again (compaction now writes v4)"]
fn regenerate_fixture_v3() {
    super::fixture_v1::write_fixture(&fixture(), &expected(), Some(3));
}

#[test]
fn v3_fixture_decodes_exactly() {
    let exp = expected();
    assert_eq!(exp.iter().map(|(_, s)| s.len()).sum::<usize>(), 1307);
    assert!(
        super::fixture_v1::assert_decodes_exactly(&fixture(), 3, &exp) > 0,
        "the fixture exercises kind-2 (zstd) chunks"
    );
}
