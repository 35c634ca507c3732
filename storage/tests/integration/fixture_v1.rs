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

/// Writes `exp` as a file at `path` with the current writer (the
/// `regenerate_*` tests of the fixture versions).
pub(super) fn write_fixture(path: &std::path::Path, exp: &Expected) {
    let labels: Vec<_> = exp.iter().map(|(l, _)| super::common::labels(l)).collect();
    let ts: Vec<Vec<i64>> = exp.iter().map(|(_, s)| s.iter().map(|s| s.t).collect()).collect();
    let vs: Vec<Vec<f64>> = exp.iter().map(|(_, s)| s.iter().map(|s| s.v).collect()).collect();
    let series: Vec<_> = (0..exp.len())
        .map(|i| strata_storage::FrozenSeries { labels: &labels[i], timestamps: &ts[i], values: &vs[i] })
        .collect();
    strata_storage::writer::write_file(path, &series).unwrap();
}

#[test]
#[ignore = "wrote the v1 fixture when v1 was current; never run again"]
fn regenerate_fixture() {
    write_fixture(&fixture(), &expected());
}

#[test]
fn v1_fixture_decodes_exactly() {
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
    assert_eq!(r.label_values("room"), vec!["kitchen"]);
    // The counter spans two chunks (240 + 60 samples).
    assert_eq!(r.chunks(0).unwrap().iter().map(|c| c.count).collect::<Vec<_>>(), vec![240, 60]);
}
