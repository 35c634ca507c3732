//! `StorageSource::labels` (label names and values): answered from the heads'
//! and the files' postings, merged as a sorted union, with the offset rule
//! (files above the heads' base offsets are not read). The head is a real
//! (frozen) memtable behind a [`HeadReader`], so tenants are kept apart as
//! in the ingester.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use strata_common::head::{
    HeadLabelsResponse, HeadReadResponse, HeadReader, LabelsRequest, PartitionProgress, SelectEstimate, SelectRequest,
};
use strata_common::ids::{Offset, PartitionId};
use strata_common::{MatchOp, Matcher, Sample, TenantId};
use strata_querier::source::{self, SeriesSource};
use strata_querier::{MemorySource, StorageSource};
use strata_storage::{
    FlushContext, FrozenMemtable, ManifestStore, Memtable, PartitionRange, Store, StoreSet, write_files,
};

/// A head over a real frozen memtable, starting at fixed base offsets.
struct MemtableHead {
    table: FrozenMemtable,
    base: Vec<(PartitionId, Offset)>,
}

impl HeadReader for MemtableHead {
    fn read(&self, req: SelectRequest) -> BoxFuture<'_, strata_common::Result<HeadReadResponse>> {
        let resp = HeadReadResponse { series: self.table.read(&req), base_offsets: self.base.clone() };
        Box::pin(async move { Ok(resp) })
    }

    fn labels(&self, req: LabelsRequest) -> BoxFuture<'_, strata_common::Result<HeadLabelsResponse>> {
        let resp = HeadLabelsResponse { values: self.table.labels(&req), base_offsets: self.base.clone() };
        Box::pin(async move { Ok(resp) })
    }

    fn estimate(&self, req: SelectRequest) -> BoxFuture<'_, strata_common::Result<SelectEstimate>> {
        let estimate = self.table.estimate(&req);
        Box::pin(async move { Ok(estimate) })
    }

    fn progress(&self) -> BoxFuture<'_, strata_common::Result<Vec<PartitionProgress>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

type Series<'a> = (&'a str, &'a [(&'a str, &'a str)], i64);

fn t(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

fn table(series: &[Series<'_>]) -> FrozenMemtable {
    let mut m = Memtable::new();
    for (tenant, labels, ts) in series {
        m.append(&t(tenant), labels, [Sample::new(*ts, 1.0)].into_iter());
    }
    m.freeze()
}

/// Files: `flushed` holds partition 0's offsets 0..10 (readable below a base
/// of 10), `unflushed` holds 10..20 (its data is still in the head).
const FLUSHED: &[Series<'_>] = &[
    ("a", &[("__name__", "up"), ("instance", "f1"), ("job", "api")], 1_000),
    ("a", &[("__name__", "temp"), ("room", "lab")], 5_000),
    ("b", &[("__name__", "secret"), ("team", "b")], 1_000),
];
const UNFLUSHED: &[Series<'_>] = &[("a", &[("__name__", "ghost"), ("spooky", "yes")], 1_000)];
const HEAD: &[Series<'_>] = &[
    ("a", &[("__name__", "up"), ("instance", "h1"), ("job", "api")], 2_000),
    ("a", &[("__name__", "up"), ("job", "db"), ("zone", "eu")], 9_000),
    ("b", &[("__name__", "secret"), ("team", "b2")], 2_000),
];

fn source(dir: &std::path::Path, files: &[&[Series<'_>]], head: &[Series<'_>]) -> StorageSource {
    let ms = Arc::new(ManifestStore::open(dir).unwrap());
    for (i, series) in files.iter().enumerate() {
        let (start, end) = (i as u64 * 10, i as u64 * 10 + 10);
        let ctx = FlushContext { offsets: vec![PartitionRange { partition: 0, start, end }], level: 0 };
        let metas = write_files(&ms, &table(series), &ctx).unwrap();
        ms.commit_flush(metas, &[(0, end)]).unwrap();
    }
    let head = MemtableHead { table: table(head), base: vec![(0, 10)] };
    StorageSource::new(
        Arc::new(StoreSet::single(Arc::new(Store::new(ms)))),
        Arc::new(head),
        None,
        Duration::from_secs(1),
    )
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const ALL: (i64, i64) = (i64::MIN / 4, i64::MAX / 4);

async fn names(src: &dyn SeriesSource, tenant: &str, sets: &[Vec<Matcher>], range: (i64, i64)) -> Vec<String> {
    source::labels(src, &t(tenant), None, sets, range.0, range.1).await.unwrap()
}

async fn values(src: &dyn SeriesSource, tenant: &str, name: &str, sets: &[Vec<Matcher>]) -> Vec<String> {
    source::labels(src, &t(tenant), Some(name), sets, ALL.0, ALL.1).await.unwrap()
}

#[tokio::test]
async fn head_only() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), &[], HEAD);
    assert_eq!(names(&src, "a", &[], ALL).await, strings(&["__name__", "instance", "job", "zone"]));
    assert_eq!(values(&src, "a", "job", &[]).await, strings(&["api", "db"]));
    assert_eq!(values(&src, "b", "team", &[]).await, strings(&["b2"]));
}

#[tokio::test]
async fn files_only_below_the_base_offsets() {
    let dir = tempfile::tempdir().unwrap();
    // The second file is above the head's base offset: its data is the head's.
    let src = source(dir.path(), &[FLUSHED, UNFLUSHED], &[]);
    assert_eq!(names(&src, "a", &[], ALL).await, strings(&["__name__", "instance", "job", "room"]));
    assert_eq!(values(&src, "a", "__name__", &[]).await, strings(&["temp", "up"]), "no ghost from above the base");
    assert_eq!(values(&src, "b", "team", &[]).await, strings(&["b"]));
}

#[tokio::test]
async fn head_and_files_union_matchers_and_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), &[FLUSHED, UNFLUSHED], HEAD);
    // The same label in both tiers: one sorted list.
    assert_eq!(names(&src, "a", &[], ALL).await, strings(&["__name__", "instance", "job", "room", "zone"]));
    assert_eq!(values(&src, "a", "instance", &[]).await, strings(&["f1", "h1"]));
    assert_eq!(values(&src, "a", "job", &[]).await, strings(&["api", "db"]));

    // Matchers select series in both tiers; several match[] sets are a union.
    let up = vec![Matcher::equal("__name__", "up")];
    assert_eq!(values(&src, "a", "instance", std::slice::from_ref(&up)).await, strings(&["f1", "h1"]));
    let db = vec![Matcher::equal("job", "db")];
    assert_eq!(names(&src, "a", std::slice::from_ref(&db), ALL).await, strings(&["__name__", "job", "zone"]));
    let temp = vec![Matcher::new(MatchOp::RegexMatch, "__name__", "te.*").unwrap()];
    assert_eq!(names(&src, "a", &[temp, db], ALL).await, strings(&["__name__", "job", "room", "zone"]));
    // With matchers, series without samples in the range are left out.
    assert_eq!(
        names(&src, "a", std::slice::from_ref(&up), (0, 1_500)).await,
        strings(&["__name__", "instance", "job"])
    );
    assert!(names(&src, "a", &[up], (3_000, 4_000)).await.is_empty());

    // Tenants never see each other's labels.
    assert_eq!(names(&src, "b", &[], ALL).await, strings(&["__name__", "team"]));
    assert_eq!(values(&src, "b", "team", &[]).await, strings(&["b", "b2"]));
    assert!(values(&src, "b", "job", &[]).await.is_empty());
    assert!(names(&src, "c", &[], ALL).await.is_empty());
}

#[tokio::test]
async fn agrees_with_the_series_path_and_the_memory_source() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), &[FLUSHED, UNFLUSHED], HEAD);
    let mem = MemorySource::new();
    for (tenant, labels, ts) in FLUSHED.iter().chain(HEAD) {
        let labels = strata_common::Labels::from_pairs(labels.iter().copied()).unwrap();
        mem.append(&t(tenant), labels, &[Sample::new(*ts, 1.0)]).unwrap();
    }
    let sets: Vec<Vec<Vec<Matcher>>> = vec![
        vec![],
        vec![vec![Matcher::equal("__name__", "up")]],
        vec![vec![Matcher::new(MatchOp::NotEqual, "job", "api").unwrap()]],
        vec![vec![Matcher::equal("room", "lab")], vec![Matcher::equal("instance", "h1")]],
    ];
    for tenant in ["a", "b", "c"] {
        for s in &sets {
            let series = source::series_union(&src, &t(tenant), s, ALL.0, ALL.1).await.unwrap();
            let mut want: Vec<String> = series.iter().flat_map(|l| l.iter().map(|l| l.name.clone())).collect();
            want.sort();
            want.dedup();
            assert_eq!(names(&src, tenant, s, ALL).await, want, "{tenant} {s:?}");
            assert_eq!(names(&mem, tenant, s, ALL).await, want, "memory source {tenant} {s:?}");
            for name in ["__name__", "job", "instance", "team"] {
                assert_eq!(values(&src, tenant, name, s).await, values(&mem, tenant, name, s).await, "{name}");
            }
        }
    }
}
