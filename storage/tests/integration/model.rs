//! Model-based property test: random appends (out of order, duplicates,
//! several tenants) read back from the memtable, the frozen memtable and,
//! after a flush, from files through `Store`, compared with a plain model.
use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use strata_common::head::SelectRequest;
use strata_common::sample::sort_dedup_samples;
use strata_common::{Labels, MatchOp, Matcher, Sample};
use strata_storage::{FlushContext, ManifestStore, Memtable, PartitionRange, Store, write_files};

use super::common::*;

type Model = BTreeMap<(String, Labels), Vec<Sample>>;

/// (tenant, label pairs, samples) of one append.
type Append = (String, Vec<(&'static str, &'static str)>, Vec<(i64, f64)>);

fn arb_append() -> impl Strategy<Value = Append> {
    let tenant = prop::sample::select(vec!["a", "b"]).prop_map(str::to_string);
    let series = prop::sample::select(vec![
        vec![("__name__", "up"), ("job", "x")],
        vec![("__name__", "up"), ("job", "y")],
        vec![("__name__", "up")],
        vec![("__name__", "down"), ("job", "x"), ("zone", "z1")],
    ]);
    let samples = prop::collection::vec((-20i64..600, -5.0f64..5.0), 0..20);
    (tenant, series, samples)
}

fn arb_matchers() -> impl Strategy<Value = Vec<Matcher>> {
    let m = (
        prop::sample::select(vec![MatchOp::Equal, MatchOp::NotEqual, MatchOp::RegexMatch, MatchOp::RegexNoMatch]),
        prop::sample::select(vec!["__name__", "job", "zone"]),
        prop::sample::select(vec!["", "up", "x", "x|y", "z.*", "down|"]),
    )
        .prop_map(|(op, n, v)| Matcher::new(op, n, v).unwrap());
    prop::collection::vec(m, 0..3)
}

fn expected(model: &Model, tenant: &str, ms: &[Matcher], lo: i64, hi: i64) -> Vec<(Labels, Vec<Sample>)> {
    model
        .iter()
        .filter(|((t, l), _)| t == tenant && strata_common::matcher::matches_all(ms, l))
        .map(|((_, l), s)| {
            let mut s = s.clone();
            sort_dedup_samples(&mut s);
            s.retain(|x| x.t >= lo && x.t <= hi);
            (l.clone(), s)
        })
        .filter(|(_, s)| !s.is_empty())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn memtable_and_files_agree_with_model(appends in prop::collection::vec(arb_append(), 1..25),
                                           ms in arb_matchers(), lo in -30i64..300, len in 0i64..400) {
        let hi = lo + len;
        let mut mem = Memtable::new();
        let mut model = Model::new();
        for (t, l, s) in &appends {
            append(&mut mem, t, l, s);
            model.entry((t.clone(), labels(l))).or_default().extend(samples(s));
        }
        let dir = tempfile::tempdir().unwrap();
        let ms_store = Arc::new(ManifestStore::open(dir.path()).unwrap());
        let frozen = mem.freeze();
        let ctx = FlushContext { offsets: vec![PartitionRange { partition: 0, start: 0, end: 1 }], level: 0 };
        let files = write_files(&ms_store, &frozen, &ctx).unwrap();
        ms_store.commit_flush(files, &[(0, 1)]).unwrap();
        let store = Store::new(ms_store);
        let base: BTreeMap<u32, u64> = [(0, 1)].into_iter().collect();
        for t in ["a", "b"] {
            let want = expected(&model, t, &ms, lo, hi);
            let req = SelectRequest { tenant: tenant(t), matchers: ms.to_vec(), min_t: lo, max_t: hi, with_samples: true, steps: None };
            let got: Vec<(Labels, Vec<Sample>)> = frozen.read(&req).into_iter().map(|s| (s.labels, s.samples)).collect();
            prop_assert_eq!(&got, &want);
            let got: Vec<(Labels, Vec<Sample>)> = store.select(&SelectRequest::new(tenant(t), ms.to_vec(), lo, hi), &base).unwrap().into_iter()
                .map(|s| { let v = s.samples(lo, hi).unwrap(); (s.labels, v) })
                .filter(|(_, v)| !v.is_empty())
                .collect();
            prop_assert_eq!(&got, &want);
        }
    }

    /// Appends split over up to four flushes (one file each, overlapping in
    /// series and time): the files' series merge by label set, the newest
    /// file winning on equal timestamps.
    #[test]
    fn several_files_agree_with_model(appends in prop::collection::vec((arb_append(), 0u64..4), 1..25),
                                      ms in arb_matchers(), lo in -30i64..300, len in 0i64..400) {
        let hi = lo + len;
        let mut appends = appends;
        appends.sort_by_key(|a| a.1); // flush order; the model sees the same order
        let dir = tempfile::tempdir().unwrap();
        let ms_store = Arc::new(ManifestStore::open(dir.path()).unwrap());
        let mut model = Model::new();
        for flush in 0..4u64 {
            let mut mem = Memtable::new();
            for ((t, l, s), _) in appends.iter().filter(|a| a.1 == flush) {
                append(&mut mem, t, l, s);
                model.entry((t.clone(), labels(l))).or_default().extend(samples(s));
            }
            let ctx = FlushContext { offsets: vec![PartitionRange { partition: 0, start: flush, end: flush + 1 }], level: 0 };
            let files = write_files(&ms_store, &mem.freeze(), &ctx).unwrap();
            ms_store.commit_flush(files, &[(0, flush + 1)]).unwrap();
        }
        let store = Store::new(ms_store);
        let base: BTreeMap<u32, u64> = [(0, 4)].into_iter().collect();
        for t in ["a", "b"] {
            let want = expected(&model, t, &ms, lo, hi);
            let got: Vec<(Labels, Vec<Sample>)> = store.select(&SelectRequest::new(tenant(t), ms.to_vec(), lo, hi), &base).unwrap().into_iter()
                .map(|s| { let v = s.samples(lo, hi).unwrap(); (s.labels, v) })
                .filter(|(_, v)| !v.is_empty())
                .collect();
            prop_assert_eq!(&got, &want);
        }
    }

    #[test]
    fn live_memtable_reads_agree_with_model(appends in prop::collection::vec(arb_append(), 1..25),
                                            ms in arb_matchers(), lo in -30i64..300, len in 0i64..400) {
        let hi = lo + len;
        let mut mem = Memtable::new();
        let mut model = Model::new();
        for (t, l, s) in &appends {
            append(&mut mem, t, l, s);
            model.entry((t.clone(), labels(l))).or_default().extend(samples(s));
        }
        for t in ["a", "b"] {
            let want = expected(&model, t, &ms, lo, hi);
            let mut req = SelectRequest { tenant: tenant(t), matchers: ms.to_vec(), min_t: lo, max_t: hi, with_samples: true, steps: None };
            let got: Vec<(Labels, Vec<Sample>)> = mem.read(&req).into_iter().map(|s| (s.labels, s.samples)).collect();
            prop_assert_eq!(&got, &want);
            req.with_samples = false;
            let got: Vec<Labels> = mem.read(&req).into_iter().map(|s| { assert!(s.samples.is_empty()); s.labels }).collect();
            prop_assert_eq!(got, want.into_iter().map(|(l, _)| l).collect::<Vec<_>>());
        }
        prop_assert_eq!(mem.sample_count(), appends.iter().map(|a| a.2.len() as u64).sum::<u64>());
    }
}
