//! Write/read round trips of the v1 data file, and corruption detection.
use strata_common::matcher::matches_all;
use strata_common::sample::stale_nan;
use strata_common::{Labels, MatchOp, Matcher, Sample};
use strata_storage::writer::write_file;
use strata_storage::{Error, FileReader, FrozenSeries};

use super::common::*;

struct Data {
    labels: Vec<Labels>,
    ts: Vec<Vec<i64>>,
    vs: Vec<Vec<f64>>,
}

fn data() -> Data {
    let mut labels = Vec::new();
    for job in ["api", "db", "web"] {
        for i in 0..7 {
            let inst = format!("host-{i}");
            let mut pairs = vec![("__name__", "http_requests_total"), ("job", job), ("instance", inst.as_str())];
            if i % 2 == 0 {
                pairs.push(("env", "prod"));
            }
            labels.push(Labels::from_pairs(pairs).unwrap());
        }
    }
    labels.sort();
    let mut ts = Vec::new();
    let mut vs = Vec::new();
    for (i, _) in labels.iter().enumerate() {
        // Series i has 100*i + 1 samples (several chunks for the bigger ones).
        let n = 100 * i + 1;
        let t: Vec<i64> = (0..n as i64).map(|k| -50_000 + k * 15_000 + (k % 3)).collect();
        let mut v: Vec<f64> = (0..n).map(|k| (k * i) as f64 * 0.5).collect();
        if n > 10 {
            v[3] = f64::NAN;
            v[5] = stale_nan();
            v[7] = f64::NEG_INFINITY;
        }
        ts.push(t);
        vs.push(v);
    }
    Data { labels, ts, vs }
}

fn write(dir: &std::path::Path, d: &Data) -> std::path::PathBuf {
    let series: Vec<FrozenSeries<'_>> =
        d.labels.iter().zip(d.ts.iter().zip(&d.vs)).map(|(l, (t, v))| FrozenSeries::new(l, t, v, &[])).collect();
    let path = dir.join("files/t/1.strata");
    let stats = write_file(&path, &series).unwrap();
    assert_eq!(stats.series, d.labels.len() as u64);
    assert_eq!(stats.samples, d.ts.iter().map(|t| t.len() as u64).sum::<u64>());
    assert_eq!(stats.min_t, -50_000);
    assert_eq!(stats.bytes, std::fs::metadata(&path).unwrap().len());
    assert!(!dir.join("files/t/1.strata.tmp").exists());
    path
}

#[test]
fn round_trip_labels_samples_and_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let d = data();
    let path = write(dir.path(), &d);
    let r = FileReader::open(&path).unwrap();
    assert_eq!(r.series_count() as usize, d.labels.len());
    assert_eq!(r.max_t(), d.ts.iter().map(|t| *t.last().unwrap()).max().unwrap());
    for (i, l) in d.labels.iter().enumerate() {
        assert_eq!(&r.labels(i as u32).unwrap(), l);
        let want: Vec<Sample> = d.ts[i].iter().zip(&d.vs[i]).map(|(&t, &v)| Sample::new(t, v)).collect();
        let mut got = Vec::new();
        r.samples(i as u32, i64::MIN, i64::MAX, &mut got).unwrap();
        assert_samples_eq(&got, &want);
        // A range spanning a chunk boundary (the first chunks hold NaNs: 240-sample Gorilla chunks).
        let (lo, hi) = (200 * 15_000 - 50_000, 300 * 15_000 - 50_000 + 2);
        let mut got = Vec::new();
        r.samples(i as u32, lo, hi, &mut got).unwrap();
        let want_range: Vec<Sample> = want.iter().copied().filter(|s| s.t >= lo && s.t <= hi).collect();
        assert_samples_eq(&got, &want_range);
        let chunks = r.chunks(i as u32).unwrap();
        // Chunks are cut by the v2 rule: 1024 decimal samples, else 240.
        let (mut want_counts, mut at) = (Vec::new(), 0);
        while at < d.vs[i].len() {
            let n = strata_storage::chunk::v2::next_chunk_len(&d.vs[i][at..]);
            want_counts.push(n as u32);
            at += n;
        }
        assert_eq!(chunks.iter().map(|c| c.count).collect::<Vec<_>>(), want_counts);
        assert_eq!(chunks.iter().map(|c| c.count as usize).sum::<usize>(), d.ts[i].len());
    }
    assert!(matches!(r.labels(999), Err(Error::NoSuchSeries { series: 999, .. })));
    assert_eq!(r.label_names(), vec!["__name__", "env", "instance", "job"]);
    assert_eq!(r.label_values("job"), vec!["api", "db", "web"]);
    assert_eq!(r.label_values("env"), vec!["prod"]);
    assert!(r.label_values("nope").is_empty());
}

#[test]
fn select_matches_brute_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = data();
    let r = FileReader::open(&write(dir.path(), &d)).unwrap();
    let cases: Vec<Vec<Matcher>> = vec![
        vec![],
        vec![Matcher::equal("job", "db")],
        vec![Matcher::equal("env", "")],
        vec![Matcher::new(MatchOp::NotEqual, "env", "prod").unwrap(), Matcher::equal("job", "web")],
        vec![Matcher::new(MatchOp::RegexMatch, "instance", "host-[0-2]").unwrap()],
        vec![Matcher::new(MatchOp::RegexMatch, "job", "api|web").unwrap(), Matcher::equal("env", "prod")],
        vec![Matcher::new(MatchOp::RegexNoMatch, "job", "api|web").unwrap()],
        vec![Matcher::new(MatchOp::RegexMatch, "env", "prod|").unwrap()],
        vec![Matcher::equal("job", "nope")],
        vec![Matcher::new(MatchOp::RegexMatch, "job", "d").unwrap()],
        vec![Matcher::new(MatchOp::RegexMatch, "instance", "host-1.*").unwrap()],
        vec![Matcher::new(MatchOp::RegexMatch, "instance", "host-(1|2)").unwrap()],
        vec![Matcher::new(MatchOp::RegexMatch, "job", "d.+").unwrap()],
        vec![Matcher::new(MatchOp::RegexMatch, "job", "w.*|d.*").unwrap()],
        vec![Matcher::new(MatchOp::RegexMatch, "instance", "zzz.*").unwrap()],
    ];
    for ms in cases {
        let got: Vec<u32> = r.select(&ms).iter().collect();
        let want: Vec<u32> =
            d.labels.iter().enumerate().filter(|(_, l)| matches_all(&ms, l)).map(|(i, _)| i as u32).collect();
        assert_eq!(got, want, "matchers {ms:?}");
        // The names and values among the selected series, from the entries'
        // symbol references, equal those of their decoded label sets.
        let selected: Vec<&Labels> = want.iter().map(|&i| &d.labels[i as usize]).collect();
        for name in [None, Some("job"), Some("env"), Some("instance"), Some("__name__"), Some("nope")] {
            let mut expect: Vec<&str> = match name {
                None => selected.iter().flat_map(|l| l.iter().map(|l| l.name.as_str())).collect(),
                Some(n) => selected.iter().filter_map(|l| l.get(n)).collect(),
            };
            expect.sort_unstable();
            expect.dedup();
            assert_eq!(r.label_strings_of(&got, name).unwrap(), expect, "matchers {ms:?}, name {name:?}");
        }
    }
    assert_eq!(r.select(&[Matcher::equal("job", "db")]).len(), 7);
}

#[test]
fn corruption_is_detected_and_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = data();
    let path = write(dir.path(), &d);
    let good = std::fs::read(&path).unwrap();
    let bad_path = dir.path().join("bad.strata");
    // Flip one byte at a spread of positions: every one must be caught.
    let step = (good.len() / 97).max(1);
    for pos in (0..good.len()).step_by(step) {
        let mut b = good.clone();
        b[pos] ^= 0x40;
        std::fs::write(&bad_path, &b).unwrap();
        match FileReader::open(&bad_path) {
            Err(Error::Corrupt { path, .. }) => assert_eq!(path, bad_path),
            Err(Error::UnsupportedVersion { version, .. }) => assert!((4..8).contains(&pos), "version {version}"),
            other => panic!("flip at {pos} not detected: {other:?}"),
        }
    }
    for len in [0, 7, good.len() - 1, good.len() / 2] {
        std::fs::write(&bad_path, &good[..len]).unwrap();
        let err = FileReader::open(&bad_path).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "truncated to {len}: {err:?}");
        assert!(err.to_string().contains("bad.strata"), "{err}");
    }
    let mut b = good.clone();
    b[4] = 9;
    std::fs::write(&bad_path, &b).unwrap();
    assert!(matches!(FileReader::open(&bad_path), Err(Error::UnsupportedVersion { version: 9, .. })));
}

mod fuzz {
    //! Readers on corrupted bytes: whatever the damage, opening and reading
    //! every series returns `Ok` or an error, never a panic or a huge
    //! allocation. Chunks are decoded from arbitrary and mutated bytes too.
    use proptest::prelude::*;
    use strata_storage::chunk::{decode_chunk, encode_chunk};

    use super::*;

    fn read_everything(path: &std::path::Path) {
        if let Ok(r) = FileReader::open(path) {
            let mut out = Vec::new();
            for s in 0..r.series_count() {
                let _ = r.labels(s);
                let _ = r.chunks(s);
                out.clear();
                let _ = r.samples(s, i64::MIN, i64::MAX, &mut out);
            }
            let _ = r.label_names();
            let ids: Vec<u32> = r.select(&[Matcher::equal("job", "db")]).iter().collect();
            let _ = r.label_strings_of(&ids, None);
            let _ = r.label_strings_of(&ids, Some("instance"));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn damaged_files_never_crash_the_reader(
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in prop::option::of(any::<prop::sample::Index>()),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let d = data();
            let path = write(dir.path(), &d);
            let mut bytes = std::fs::read(&path).unwrap();
            for (at, v) in &flips {
                let i = at.index(bytes.len());
                bytes[i] ^= v | 1;
            }
            if let Some(c) = cut {
                bytes.truncate(c.index(bytes.len()));
            }
            let bad = dir.path().join("bad.strata");
            std::fs::write(&bad, &bytes).unwrap();
            read_everything(&bad);
        }

        #[test]
        fn chunks_decode_arbitrary_and_mutated_bytes_safely(
            raw in prop::collection::vec(any::<u8>(), 0..512),
            n in 1usize..120,
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        ) {
            let mut out = Vec::new();
            let _ = decode_chunk(&raw, &mut out);
            let ts: Vec<i64> = (0..n as i64).map(|k| k * 15_000 + (k % 7)).collect();
            let vs: Vec<f64> = (0..n).map(|k| (k * k) as f64 / 3.0).collect();
            let mut chunk = Vec::new();
            encode_chunk(&ts, &vs, &mut chunk);
            for (at, v) in &flips {
                let i = at.index(chunk.len());
                chunk[i] ^= v | 1;
            }
            out.clear();
            if decode_chunk(&chunk, &mut out).is_ok() {
                prop_assert!(out.len() <= 1 << 20, "decoded {} samples from {} bytes", out.len(), chunk.len());
            }
        }
    }
}
