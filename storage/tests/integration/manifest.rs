//! Manifest persistence, monotonic offsets, file ids and crash recovery.
use std::path::Path;

use strata_storage::manifest::MANIFEST_FILE;
use strata_storage::{FlushContext, ManifestStore, Memtable, PartitionRange, write_files};

use super::common::*;

fn flush(store: &ManifestStore, t: &str, p: u32, start: u64, end: u64) -> Vec<strata_storage::FileMeta> {
    let mut m = Memtable::new();
    append(&mut m, t, &[("__name__", "up"), ("p", &p.to_string())], &[(start as i64, 1.0), (end as i64, 2.0)]);
    let ctx = FlushContext { offsets: vec![PartitionRange { partition: p, start, end }], level: 0 };
    write_files(store, &m.freeze(), &ctx).unwrap()
}

fn data_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(dir.join("files")).into_iter().flatten() {
        for f in std::fs::read_dir(t.unwrap().path()).unwrap() {
            out.push(f.unwrap().path().strip_prefix(dir).unwrap().to_str().unwrap().to_string());
        }
    }
    out.sort();
    out
}

#[test]
fn commit_persists_and_offsets_only_advance() {
    let dir = tempfile::tempdir().unwrap();
    let store = ManifestStore::open(dir.path()).unwrap();
    assert_eq!(store.current().version, 0);
    let before = store.current();
    let files = flush(&store, "a", 0, 0, 10);
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].path, format!("files/a/{}.strata", files[0].id));
    assert_eq!(files[0].offsets, vec![PartitionRange { partition: 0, start: 0, end: 10 }]);
    let m = store.commit_flush(files.clone(), &[(0, 10), (1, 5)]).unwrap();
    assert_eq!(m.version, 1);
    assert_eq!(m.files, files);
    // An older snapshot is unaffected (readers hold Arcs).
    assert_eq!(before.version, 0);
    assert!(before.files.is_empty());
    // Offsets never move backwards.
    let m = store.commit_flush(vec![], &[(0, 3), (1, 7)]).unwrap();
    assert_eq!(m.flushed_offsets.get(&0), Some(&10));
    assert_eq!(m.flushed_offsets.get(&1), Some(&7));
    drop(store);

    let store = ManifestStore::open(dir.path()).unwrap();
    let m = store.current();
    assert_eq!(m.version, 2);
    assert_eq!(m.files, files);
    assert_eq!(m.flushed_offsets.iter().map(|(&p, &o)| (p, o)).collect::<Vec<_>>(), vec![(0, 10), (1, 7)]);
    assert!(store.allocate_file_id() > files[0].id);
    let json = std::fs::read_to_string(dir.path().join(MANIFEST_FILE)).unwrap();
    assert!(json.contains("\"format_version\": 1"), "{json}");
}

#[test]
fn file_written_but_not_committed_is_removed_and_its_id_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let store = ManifestStore::open(dir.path()).unwrap();
    let kept = flush(&store, "a", 0, 0, 10);
    store.commit_flush(kept.clone(), &[(0, 10)]).unwrap();
    // Crash after writing these files, before the manifest commit.
    let lost = flush(&store, "a", 0, 10, 20);
    let lost_b = flush(&store, "b", 1, 0, 5);
    // And a data file whose write was interrupted before the rename.
    std::fs::write(dir.path().join("files/a/999.strata.tmp"), b"partial").unwrap();
    drop(store);
    assert_eq!(data_files(dir.path()).len(), 4);

    let store = ManifestStore::open(dir.path()).unwrap();
    assert_eq!(data_files(dir.path()), vec![kept[0].path.clone()]);
    let m = store.current();
    assert_eq!(m.files, kept);
    assert_eq!(m.flushed_offsets.get(&0), Some(&10));
    // Ids of the removed files (and of the .tmp) are skipped.
    let next = store.allocate_file_id();
    assert!(next > lost[0].id && next > lost_b[0].id && next > 999, "next id {next}");
}

#[test]
fn leftover_manifest_tmp_is_ignored_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = ManifestStore::open(dir.path()).unwrap();
    let files = flush(&store, "a", 0, 0, 10);
    store.commit_flush(files.clone(), &[(0, 10)]).unwrap();
    drop(store);
    // Crash while writing the next manifest: a torn tmp file remains.
    let tmp = dir.path().join(format!("{MANIFEST_FILE}.tmp"));
    std::fs::write(&tmp, b"{\"format_version\": 1, \"manif").unwrap();
    let store = ManifestStore::open(dir.path()).unwrap();
    assert!(!tmp.exists());
    assert_eq!(store.current().files, files);
    assert_eq!(store.current().version, 1);
}

#[test]
fn corrupt_or_future_manifest_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(MANIFEST_FILE), b"not json").unwrap();
    assert!(matches!(ManifestStore::open(dir.path()), Err(strata_storage::Error::Manifest { .. })));
    std::fs::write(dir.path().join(MANIFEST_FILE), br#"{"format_version": 7, "manifest": {}}"#).unwrap();
    assert!(matches!(
        ManifestStore::open(dir.path()),
        Err(strata_storage::Error::UnsupportedVersion { version: 7, .. })
    ));
}

#[test]
fn read_only_store_does_not_clean_up_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let writer = ManifestStore::open(dir.path()).unwrap();
    let uncommitted = flush(&writer, "a", 0, 0, 10);
    let reader = ManifestStore::open_read_only(dir.path()).unwrap();
    assert!(dir.path().join(&uncommitted[0].path).exists());
    assert!(reader.commit_flush(vec![], &[]).is_err());
    writer.commit_flush(uncommitted.clone(), &[(0, 10)]).unwrap();
    assert!(reader.current().files.is_empty());
    assert_eq!(reader.reload().unwrap().files, uncommitted);
}

#[test]
fn concurrent_allocations_are_unique() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(ManifestStore::open(dir.path()).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let s = store.clone();
            std::thread::spawn(move || (0..1000).map(|_| s.allocate_file_id()).collect::<Vec<_>>())
        })
        .collect();
    let mut all: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4000);
}
