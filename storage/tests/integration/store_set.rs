//! `StoreSet`: a cluster querier's view of several ingesters' directories,
//! read-only, reloaded when the heads' base offsets pass a manifest.
use std::collections::BTreeMap;
use std::sync::Arc;

use strata_common::Matcher;
use strata_common::select::{LabelsRequest, SelectRequest};
use strata_storage::{FlushContext, ManifestStore, Memtable, PartitionRange, Store, StoreSet, write_files};

use super::common::*;

fn flush(store: &ManifestStore, m: Memtable, partition: u32, start: u64, end: u64) {
    let offsets = vec![PartitionRange { partition, start, end }];
    let files = write_files(store, &m.freeze(), &FlushContext { offsets, level: 0 }).unwrap();
    store.commit_flush(files, &[(partition, end)]).unwrap();
}

#[test]
fn read_only_members_reload_when_the_heads_move_past_them() {
    let dir = tempfile::tempdir().unwrap();
    let (d0, d1) = (dir.path().join("ingester-0"), dir.path().join("ingester-1"));
    // Ingester 0 owns partition 0, ingester 1 owns partition 1.
    let w0 = ManifestStore::open(&d0).unwrap();
    let mut m = Memtable::new();
    append(&mut m, "t", &[("__name__", "up"), ("p", "0")], &[(100, 1.0)]);
    flush(&w0, m, 0, 0, 5);

    // Ingester 1 has not written anything yet: its directory reads as empty.
    let set = StoreSet::open_read_only(vec![(d0.clone(), vec![0]), (d1.clone(), vec![1])]).unwrap();
    let up = [Matcher::equal("__name__", "up")];
    let base = |a: u64, b: u64| BTreeMap::from([(0, a), (1, b)]);
    let got = set.select(&SelectRequest::new(tenant("t"), up.to_vec(), 0, 1000), &base(5, 0)).unwrap();
    assert_eq!(got.len(), 1);

    // Ingester 1 flushes; the querier's heads now report base offset 3 for
    // partition 1, above what its (empty) manifest has: it reloads.
    let w1 = ManifestStore::open(&d1).unwrap();
    let mut m = Memtable::new();
    append(&mut m, "t", &[("__name__", "up"), ("p", "1")], &[(100, 2.0), (200, 3.0)]);
    flush(&w1, m, 1, 0, 3);
    let got = set.select(&SelectRequest::new(tenant("t"), up.to_vec(), 0, 1000), &base(5, 3)).unwrap();
    assert_eq!(
        got.iter().map(|s| s.labels.clone()).collect::<Vec<_>>(),
        vec![labels(&[("__name__", "up"), ("p", "0")]), labels(&[("__name__", "up"), ("p", "1")])]
    );
    assert_samples_eq(&got[1].samples(0, 1000).unwrap(), &samples(&[(100, 2.0), (200, 3.0)]));
    let req = LabelsRequest::new(SelectRequest::new(tenant("t"), vec![], 0, 1000), Some("p".to_string()));
    let names = set.labels(&req, &base(5, 3)).unwrap();
    assert_eq!(names, vec!["0".to_string(), "1".to_string()]);
    // Other tenants see nothing from either directory.
    assert!(set.select(&SelectRequest::new(tenant("u"), up.to_vec(), 0, 1000), &base(5, 3)).unwrap().is_empty());

    // A single writable store is read as is.
    let single = StoreSet::single(Arc::new(Store::new(Arc::new(w0))));
    assert_eq!(single.select(&SelectRequest::new(tenant("t"), up.to_vec(), 0, 1000), &base(5, 3)).unwrap().len(), 1);
}
