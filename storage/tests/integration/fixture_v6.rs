//! Format v6 (float bits as ordered integers, min/gcd and miniblock
//! int blocks, implied regular timestamps): the frozen fixture keeps
//! decoding exactly, and compaction writes v6.
//!
//! `tests/fixtures/v6/basic.strata` was written by `regenerate_fixture_v6`
//! (run with `--ignored` only while v6 is the version being created; never
//! overwrite it), as compaction writes files: `cpu` a full-precision random
//! walk (kind-4 chunks), `low` a gauge crossing binades (kind 4, values in
//! miniblocks: int mode 7), `mem` whole 4 KiB pages at jittered times
//! (values divided by their gcd), `req` a counter with random increments at
//! regular times (values mode 5, timestamps mode 8), `pattern` a repeating decimal gauge (kind
//! 2, zstd), `stale` rare changes and a staleness marker (Gorilla), and
//! `lat` native histograms.
use std::path::PathBuf;

use strata_common::histogram::{HistSample, Histogram, ResetHint, Span};
use strata_common::sample::stale_nan;
use strata_common::{Labels, Sample};
use strata_storage::FileReader;
use strata_storage::writer::DurableFile;

use super::common::labels;

type Series = (Labels, Vec<Sample>, Vec<HistSample>);

const T0: i64 = 1_700_000_000_000;

/// xorshift64: deterministic values for the fixture.
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}

fn expected() -> Vec<Series> {
    let mut r = rng(0x2545_f491_4f6c_dd1d);
    let mut v = 37.5f64;
    let cpu = (0..1100)
        .map(|i| {
            v = (v + (r() >> 11) as f64 / (1u64 << 53) as f64 - 0.5).clamp(0.0, 100.0);
            Sample::new(T0 + i * 10_000, v)
        })
        .collect();
    let mut pages = 2_000_000i64;
    let mem = (0..300)
        .map(|i| {
            pages += (r() % 2001) as i64 - 1000;
            Sample::new(T0 + i * 10_000 + (r() % 5) as i64, (pages * 4096) as f64)
        })
        .collect();
    let mut n = 0.0;
    let req = (0..500)
        .map(|i| {
            n += (1000 + r() % 1000) as f64;
            Sample::new(T0 + i * 10_000, n)
        })
        .collect();
    let pattern = (0..1000)
        .map(|i| Sample::new(T0 + i * 15_000, f64::from([3, 917, 42, 605, 88][i as usize % 5]) / 10.0))
        .collect();
    // Rare changes between non-decimal values: Gorilla's 1 bit per repeat wins.
    let mut stale: Vec<Sample> =
        (0..240).map(|i| Sample::new(T0 + i * 10_000, std::f64::consts::PI * (1 + i / 30) as f64)).collect();
    stale[100].v = stale_nan();
    let hist = |i: i64| Histogram {
        integer: true,
        hint: ResetHint::NotReset,
        schema: 0,
        count: 3.0 * i as f64,
        sum: 1.5 * i as f64,
        positive_spans: vec![Span { offset: 0, length: 2 }],
        positive_buckets: vec![i as f64, 2.0 * i as f64],
        ..Histogram::default()
    };
    let lat = (1..6).map(|i| HistSample::new(T0 + i * 10_000, hist(i))).collect();
    // Crossing binades (0.01 to 0.99): per-miniblock widths (mode 7).
    let low = (0..1024).map(|i| Sample::new(T0 + i * 10_000, 0.5 + 0.49 * (i as f64 / 40.0).sin())).collect();
    let mut all = vec![
        (labels(&[("__name__", "low"), ("host", "a")]), low, vec![]),
        (labels(&[("__name__", "cpu"), ("host", "a")]), cpu, vec![]),
        (labels(&[("__name__", "mem"), ("host", "a")]), mem, vec![]),
        (labels(&[("__name__", "req"), ("host", "a")]), req, vec![]),
        (labels(&[("__name__", "pattern"), ("host", "a")]), pattern, vec![]),
        (labels(&[("__name__", "stale"), ("host", "a")]), stale, vec![]),
        (labels(&[("__name__", "lat"), ("host", "a")]), vec![], lat),
    ];
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v6/basic.strata")
}

#[test]
#[ignore = "writes the fixture; only while creating format v6"]
fn regenerate_fixture_v6() {
    std::fs::create_dir_all(fixture().parent().unwrap()).unwrap();
    // As compaction writes its outputs (zstd level 3).
    let mut w = DurableFile::create_for(&fixture(), Some(3), true).unwrap();
    for (l, f, h) in expected() {
        let ts: Vec<i64> = f.iter().map(|s| s.t).collect();
        let vs: Vec<f64> = f.iter().map(|s| s.v).collect();
        w.writer().add_series_with_histograms(&l, &ts, &vs, &h).unwrap();
    }
    w.commit().unwrap();
}

#[test]
fn v6_fixture_decodes_exactly() {
    let bytes = std::fs::read(fixture()).unwrap();
    assert_eq!(&bytes[..8], b"STRT\x06\0\0\0");
    let r = FileReader::open(&fixture()).unwrap();
    let want = expected();
    assert_eq!(r.series_count() as usize, want.len());
    let mut kinds = Vec::new();
    for (id, (l, f, h)) in want.iter().enumerate() {
        let id = id as u32;
        assert_eq!(&r.labels(id).unwrap(), l);
        let (mut got_f, mut got_h) = (Vec::new(), Vec::new());
        r.samples(id, i64::MIN, i64::MAX, &mut got_f).unwrap();
        r.hist_samples(id, i64::MIN, i64::MAX, &mut got_h).unwrap();
        let bits = |s: &[Sample]| s.iter().map(|s| (s.t, s.v.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&got_f), bits(f), "{l}");
        assert_eq!(got_h.len(), h.len(), "{l}");
        for (a, b) in got_h.iter().zip(h) {
            assert_eq!((a.t, &a.h), (b.t, &b.h), "{l}");
        }
        for c in r.chunks(id).unwrap() {
            let chunk = &bytes[c.offset..c.offset + c.len];
            // The kind inside a zstd (kind 2) chunk: after the kind byte, a uvarint raw length.
            let inner = if chunk[0] == 2 {
                let at = 1 + chunk[1..].iter().position(|b| b & 0x80 == 0).unwrap() + 1;
                zstd::bulk::decompress(&chunk[at..], 1 << 16).unwrap()[0]
            } else {
                chunk[0]
            };
            kinds.push((l.get("__name__").unwrap().to_string(), chunk[0], inner, chunk[1..7].to_vec()));
        }
        // A range read decodes only what overlaps, implied timestamps included.
        if let Some(s) = f.get(600) {
            let mut part = Vec::new();
            r.samples(id, s.t, f[601].t, &mut part).unwrap();
            assert_eq!(bits(&part), bits(&f[600..602]), "{l}");
        }
    }
    let kind_of = |name: &str| kinds.iter().filter(|k| k.0 == name).map(|k| (k.1, k.2)).collect::<Vec<_>>();
    assert_eq!(kind_of("cpu")[0], (4, 4), "a random walk is a kind-4 chunk");
    assert_eq!(kind_of("pattern"), [(2, 1)], "a repeating decimal gauge compresses (kind 2 over kind 1)");
    assert_eq!(kind_of("stale")[0].1, 0, "rare changes and a staleness marker: Gorilla");
    // req: decimal, 500 samples, timestamps implied (mode 8), e = 0, values mode 5.
    let req = kinds.iter().find(|k| k.0 == "req").unwrap();
    assert_eq!((req.1, &req.3[..]), (1, &[0xf4, 0x03, 8, 0, 0, 5][..]));
    assert_eq!(r.sample_count(), 1100 + 1024 + 300 + 500 + 1000 + 240 + 5);
    // low: kind 4, 1024 samples, timestamps implied, values in miniblocks (mode 7).
    assert_eq!(kinds.iter().find(|k| k.0 == "low").unwrap().3[..5], [0x80, 0x08, 8, 0, 7]);
}

#[test]
fn compaction_outputs_are_v6_and_older_fixtures_still_decode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("files/t/1.strata");
    let mut w = DurableFile::create_with(&path, Some(3)).unwrap();
    for (l, f, _) in expected().iter().filter(|s| !s.1.is_empty()) {
        let ts: Vec<i64> = f.iter().map(|s| s.t).collect();
        let vs: Vec<f64> = f.iter().map(|s| s.v).collect();
        w.writer().add_series(l, &ts, &vs).unwrap();
    }
    w.commit().unwrap();
    assert_eq!(&std::fs::read(&path).unwrap()[..8], b"STRT\x06\0\0\0");
    // Flushes still write v2.
    let flush = dir.path().join("files/t/2.strata");
    let mut w = DurableFile::create(&flush).unwrap();
    w.writer().add_series(&labels(&[("__name__", "up")]), &[1, 2], &[1.0, 1.0]).unwrap();
    w.commit().unwrap();
    assert_eq!(&std::fs::read(&flush).unwrap()[..8], b"STRT\x02\0\0\0");
    for v in ["v1", "v2", "v3", "v4"] {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{v}/basic.strata"));
        let r = FileReader::open(&p).unwrap();
        let mut out = Vec::new();
        for id in 0..r.series_count() {
            r.samples(id, i64::MIN, i64::MAX, &mut out).unwrap();
        }
        assert!(!out.is_empty());
    }
}
