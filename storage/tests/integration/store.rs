//! The read path: pruning by tenant, time and offsets; merging across files.
use std::collections::BTreeMap;
use std::sync::Arc;

use strata_common::select::{LabelsRequest, SelectRequest};
use strata_common::{MatchOp, Matcher};
use strata_storage::{FlushContext, ManifestStore, Memtable, PartitionRange, Store, write_files};

use super::common::*;

fn flush(store: &ManifestStore, m: Memtable, ranges: &[(u32, u64, u64)]) {
    let offsets = ranges.iter().map(|&(partition, start, end)| PartitionRange { partition, start, end }).collect();
    let files = write_files(store, &m.freeze(), &FlushContext { offsets, level: 0 }).unwrap();
    let flushed: Vec<(u32, u64)> = ranges.iter().map(|&(p, _, e)| (p, e)).collect();
    store.commit_flush(files, &flushed).unwrap();
}

fn base(v: &[(u32, u64)]) -> BTreeMap<u32, u64> {
    v.iter().copied().collect()
}

#[test]
fn offset_rule_time_pruning_tenants_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    let ms = Arc::new(ManifestStore::open(dir.path()).unwrap());
    // Flush 1: partition 0 offsets [0, 10).
    let mut m = Memtable::new();
    append(&mut m, "a", &[("__name__", "up"), ("job", "x")], &[(100, 1.0), (200, 2.0), (300, 3.0)]);
    append(&mut m, "a", &[("__name__", "up"), ("job", "y")], &[(100, 10.0)]);
    append(&mut m, "b", &[("__name__", "up"), ("job", "x")], &[(100, 99.0)]);
    flush(&ms, m, &[(0, 0, 10)]);
    // Flush 2: partitions 0 [10, 20) and 1 [0, 4); overlaps flush 1 in time
    // and rewrites t=300 (a replayed/duplicate write; the newer file wins).
    let mut m = Memtable::new();
    append(&mut m, "a", &[("__name__", "up"), ("job", "x")], &[(300, 30.0), (400, 4.0)]);
    append(&mut m, "a", &[("__name__", "down"), ("job", "x")], &[(5_000, 5.0)]);
    flush(&ms, m, &[(0, 10, 20), (1, 0, 4)]);
    assert_eq!(ms.current().files.len(), 3);

    let store = Store::new(ms.clone());
    let a = tenant("a");
    let up = [Matcher::equal("__name__", "up")];

    // Both files readable: merged, sorted by labels, duplicates resolved.
    let got = store.select(&SelectRequest::new(a.clone(), up.to_vec(), 0, 10_000), &base(&[(0, 20), (1, 4)])).unwrap();
    assert_eq!(
        got.iter().map(|s| s.labels.clone()).collect::<Vec<_>>(),
        vec![labels(&[("__name__", "up"), ("job", "x")]), labels(&[("__name__", "up"), ("job", "y")])]
    );
    assert_eq!(got[0].sources.len(), 2);
    assert_samples_eq(
        &got[0].samples(0, 10_000).unwrap(),
        &samples(&[(100, 1.0), (200, 2.0), (300, 30.0), (400, 4.0)]),
    );
    assert_samples_eq(&got[0].samples(150, 300).unwrap(), &samples(&[(200, 2.0), (300, 30.0)]));
    assert_samples_eq(&got[1].samples(0, 10_000).unwrap(), &samples(&[(100, 10.0)]));

    // Partition 1 not yet covered by the base offsets: flush 2 is the heads' job.
    let got = store.select(&SelectRequest::new(a.clone(), up.to_vec(), 0, 10_000), &base(&[(0, 20), (1, 3)])).unwrap();
    assert_eq!(got[0].sources.len(), 1);
    assert_samples_eq(&got[0].samples(0, 10_000).unwrap(), &samples(&[(100, 1.0), (200, 2.0), (300, 3.0)]));
    // Missing partition = not readable; base below the first file = nothing.
    let got = store.select(&SelectRequest::new(a.clone(), up.to_vec(), 0, 10_000), &base(&[(0, 20)])).unwrap();
    assert_eq!(got[0].sources.len(), 1);
    assert!(
        store
            .select(&SelectRequest::new(a.clone(), up.to_vec(), 0, 10_000), &base(&[(0, 9), (1, 4)]))
            .unwrap()
            .is_empty()
    );

    // Time pruning by file range: only flush 2 reaches t=5000.
    let all = base(&[(0, 20), (1, 4)]);
    // File 2 also holds up{job="x"} (t 300..400), pruned by its chunk index.
    let got = store.select(&SelectRequest::new(a.clone(), vec![], 4_500, 6_000), &all).unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].labels, labels(&[("__name__", "down"), ("job", "x")]));
    assert_samples_eq(&got[0].samples(4_500, 6_000).unwrap(), &samples(&[(5_000, 5.0)]));

    // Tenant isolation.
    let got = store.select(&SelectRequest::new(tenant("b"), vec![], 0, 10_000), &all).unwrap();
    assert_eq!(got.len(), 1);
    assert_samples_eq(&got[0].samples(0, 10_000).unwrap(), &samples(&[(100, 99.0)]));
    assert!(store.select(&SelectRequest::new(tenant("c"), vec![], 0, 10_000), &all).unwrap().is_empty());

    // Labels APIs.
    let names = |matchers: &[Matcher], range: (i64, i64), name: Option<&str>| {
        let select = SelectRequest::new(a.clone(), matchers.to_vec(), range.0, range.1);
        store.labels(&LabelsRequest::new(select, name.map(str::to_string)), &all).unwrap()
    };
    assert_eq!(names(&[], (0, 10_000), None), vec!["__name__", "job"]);
    assert_eq!(names(&[], (0, 10_000), Some("__name__")), vec!["down", "up"]);
    let y = [Matcher::new(MatchOp::RegexMatch, "job", "y|z").unwrap()];
    assert_eq!(names(&y, (0, 10_000), Some("job")), vec!["y"]);
    assert_eq!(names(&[], (0, 10_000), Some("job")), vec!["x", "y"]);
    // With matchers, series without a chunk in the range are left out (as in select).
    let x = [Matcher::equal("job", "x")];
    assert_eq!(names(&x, (4_500, 6_000), Some("__name__")), vec!["down"]);
    assert_eq!(names(&x, (0, 10_000), Some("__name__")), vec!["down", "up"]);

    // Reopen everything: same answers from disk.
    drop(store);
    drop(ms);
    let store = Store::new(Arc::new(ManifestStore::open(dir.path()).unwrap()));
    let got = store.select(&SelectRequest::new(a.clone(), up.to_vec(), 0, 10_000), &all).unwrap();
    assert_samples_eq(
        &got[0].samples(0, 10_000).unwrap(),
        &samples(&[(100, 1.0), (200, 2.0), (300, 30.0), (400, 4.0)]),
    );
}
