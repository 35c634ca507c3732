//! The ingester's exemplars and metric metadata: bounded per-tenant stores
//! ([`ExemplarStore`], [`MetadataStore`]) that every shard fills from the
//! records it consumes (log record version 5), served to queriers beside
//! the heads.
//!
//! Durable like samples: a replay after a crash re-applies the records
//! above the flushed offsets, and before a flush commits new flushed
//! offsets (after which the log below them is released) the shard writes
//! the stores to the **annotation snapshot**, `<data dir>/annotations.snapshot`
//! (format: `common/docs/format/annotations-snapshot.md`). On start the
//! snapshot is loaded first, then replay adds what followed; records
//! applied twice (in the snapshot and above a flushed offset) are
//! recognised as resends and not stored twice.
//!
//! Bounds are the tenant's `max_exemplars`, `max_exemplars_per_series`,
//! `max_metadata_metrics` and `max_metadata_per_metric` (the distributor's
//! per-tenant limits, given by the process as [`AnnotationLimits`]).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use strata_common::TenantId;
use strata_common::exemplar::{ExemplarLimits, ExemplarStore};
use strata_common::head::annotations::{ExemplarSeries, ExemplarsRequest, MetadataMap, MetadataRequest};
use strata_common::metadata::{MetadataLimits, MetadataStore};
use strata_common::record::Annotations;
use strata_common::record::annotations::{decode, encode};
use strata_common::varint::{Cursor, put_uvarint};

/// The snapshot's file name in the ingester's data directory.
pub const SNAPSHOT_FILE: &str = "annotations.snapshot";
const SNAPSHOT_MAGIC: &[u8; 8] = b"STRANNOT";
const SNAPSHOT_VERSION: u8 = 1;

/// Copies a freshly written snapshot elsewhere (object storage), blocking;
/// called before the flush that needs it commits.
pub type SnapshotMirror = Arc<dyn Fn(&Path) -> std::io::Result<()> + Send + Sync>;

/// The bounds of one tenant.
pub type AnnotationLimits = Arc<dyn Fn(&TenantId) -> (ExemplarLimits, MetadataLimits) + Send + Sync>;

/// The defaults of the distributor's per-tenant limits.
pub fn default_limits() -> AnnotationLimits {
    Arc::new(|_| {
        (
            ExemplarLimits { max_per_tenant: 100_000, max_per_series: 10 },
            MetadataLimits { max_metrics: 10_000, max_per_metric: 10 },
        )
    })
}

/// See the module docs. Shared (`Arc`) by the shards and the read side.
pub struct AnnotationStore {
    exemplars: ExemplarStore,
    metadata: MetadataStore,
    limits: AnnotationLimits,
    snapshot: Option<PathBuf>,
    mirror: Option<SnapshotMirror>,
    /// Bumped by every change; the snapshot is rewritten only after one.
    generation: AtomicU64,
    /// The generation last written to the snapshot (and the write lock).
    written: Mutex<u64>,
    exemplars_appended: Counter,
    metadata_dropped: Counter,
}

impl std::fmt::Debug for AnnotationStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnnotationStore").field("snapshot", &self.snapshot).finish_non_exhaustive()
    }
}

impl AnnotationStore {
    /// Empty stores bounded by `limits`; with `snapshot_dir`, loads the
    /// snapshot there (a missing file is empty; a corrupt one is logged
    /// and ignored: replay still rebuilds what the log holds) and writes
    /// it on [`Self::write_snapshot`]. Metrics register under `ingester`.
    pub fn new(limits: AnnotationLimits, snapshot_dir: Option<&Path>, registry: &mut Registry) -> Self {
        let store = Self {
            exemplars: ExemplarStore::default(),
            metadata: MetadataStore::default(),
            limits,
            snapshot: snapshot_dir.map(|d| d.join(SNAPSHOT_FILE)),
            mirror: None,
            generation: AtomicU64::new(0),
            written: Mutex::new(0),
            exemplars_appended: Counter::default(),
            metadata_dropped: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("ingester");
        r.register("exemplars_appended", "Exemplars stored from the log", store.exemplars_appended.clone());
        r.register(
            "metadata_dropped",
            "Metadata entries dropped by the per-tenant limit max_metadata_metrics",
            store.metadata_dropped.clone(),
        );
        if let Some(path) = &store.snapshot {
            match std::fs::read(path) {
                Ok(bytes) => match decode_snapshot(&bytes) {
                    Some(tenants) => {
                        let n = tenants.len();
                        for (tenant, a) in tenants {
                            store.apply(&tenant, a);
                        }
                        tracing::info!(path = %path.display(), tenants = n, "loaded the annotation snapshot");
                    }
                    None => tracing::error!(path = %path.display(), "the annotation snapshot is corrupt; ignored"),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::error!(path = %path.display(), error = %e, "cannot read the annotation snapshot"),
            }
            *store.written.lock() = store.generation.load(Ordering::Acquire);
        }
        store
    }

    /// Copies every snapshot written with `mirror` too (object storage:
    /// the snapshot must survive the loss of the data directory, as the
    /// flushed files do).
    pub fn with_mirror(mut self, mirror: Option<SnapshotMirror>) -> Self {
        self.mirror = mirror;
        self
    }

    /// Stores one record's annotations under the tenant's limits.
    pub fn apply(&self, tenant: &TenantId, a: Annotations) {
        if a.is_empty() {
            return;
        }
        let (ex_limits, meta_limits) = (self.limits)(tenant);
        for (series, ex) in a.exemplars {
            self.exemplars_appended.inc_by(self.exemplars.record(tenant, &series, ex, ex_limits) as u64);
        }
        for (family, entry) in a.metadata {
            if !self.metadata.record(tenant, &family, entry, meta_limits) {
                self.metadata_dropped.inc();
            }
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The exemplars of the selected series.
    pub fn exemplars(&self, req: &ExemplarsRequest) -> Vec<ExemplarSeries> {
        self.exemplars.query(&req.tenant, &req.selectors, req.start, req.end)
    }

    /// The tenant's metadata, limits applied.
    pub fn metadata(&self, req: &MetadataRequest) -> MetadataMap {
        self.metadata.query(&req.tenant, req.metric.as_deref(), req.limit, req.limit_per_metric)
    }

    /// Writes the snapshot if anything changed since the last one
    /// (blocking: temporary file, fsync, rename, fsync of the directory).
    /// Called before a flush commits its offsets.
    pub fn write_snapshot(&self) -> std::io::Result<()> {
        let Some(path) = &self.snapshot else { return Ok(()) };
        let mut written = self.written.lock();
        let generation = self.generation.load(Ordering::Acquire);
        if generation == *written {
            return Ok(());
        }
        let mut tenants: HashMap<TenantId, Annotations> = HashMap::new();
        for (t, ex) in self.exemplars.export() {
            tenants.entry(t).or_default().exemplars = ex;
        }
        for (t, m) in self.metadata.export() {
            tenants.entry(t).or_default().metadata = m;
        }
        let bytes = encode_snapshot(&tenants);
        let tmp = path.with_extension("snapshot.tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        if let Some(mirror) = &self.mirror {
            mirror(path)?;
        }
        *written = generation;
        Ok(())
    }
}

/// The snapshot's bytes: magic, version, tenants, CRC-32.
fn encode_snapshot(tenants: &HashMap<TenantId, Annotations>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(SNAPSHOT_MAGIC);
    out.push(SNAPSHOT_VERSION);
    let mut sorted: Vec<_> = tenants.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    put_uvarint(&mut out, sorted.len() as u64);
    for (tenant, a) in sorted {
        put_uvarint(&mut out, tenant.as_str().len() as u64);
        out.extend_from_slice(tenant.as_str().as_bytes());
        encode(a, &mut out);
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The tenants of a snapshot; `None` if it is not one or is damaged.
fn decode_snapshot(bytes: &[u8]) -> Option<Vec<(TenantId, Annotations)>> {
    let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    let mut c = Cursor::new(body);
    if c.bytes(8)? != SNAPSHOT_MAGIC || c.bytes(1)? != [SNAPSHOT_VERSION] {
        return None;
    }
    let n = c.uvarint()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let tenant = TenantId::new(c.str()?).ok()?;
        out.push((tenant, decode(&mut c)?));
    }
    c.remaining().is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use strata_common::exemplar::Exemplar;
    use strata_common::metadata::MetricMetadata;
    use strata_common::{Labels, Matcher};

    use super::*;

    fn notes(t: i64) -> Annotations {
        Annotations {
            exemplars: vec![(
                Labels::from_pairs([("__name__", "rpc_seconds_bucket"), ("le", "1")]).unwrap(),
                vec![Exemplar { labels: Labels::from_pairs([("trace_id", "t1")]).unwrap(), value: 0.3, t }],
            )],
            metadata: vec![(
                "rpc_seconds".into(),
                MetricMetadata { kind: "histogram", help: "RPC latency.".into(), unit: "seconds".into() },
            )],
        }
    }

    #[test]
    fn snapshot_survives_a_restart_and_replayed_records_are_not_stored_twice() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = TenantId::new("acme").unwrap();
        let store = AnnotationStore::new(default_limits(), Some(dir.path()), &mut Registry::default());
        store.apply(&tenant, notes(1_000));
        store.write_snapshot().unwrap();
        let mtime = std::fs::metadata(dir.path().join(SNAPSHOT_FILE)).unwrap().modified().unwrap();
        store.write_snapshot().unwrap(); // unchanged: not rewritten
        assert_eq!(std::fs::metadata(dir.path().join(SNAPSHOT_FILE)).unwrap().modified().unwrap(), mtime);
        drop(store);

        let store = AnnotationStore::new(default_limits(), Some(dir.path()), &mut Registry::default());
        store.apply(&tenant, notes(1_000)); // the same record again, replayed above a flushed offset
        let req = ExemplarsRequest {
            tenant: tenant.clone(),
            selectors: vec![vec![Matcher::equal("__name__", "rpc_seconds_bucket")]],
            start: 0,
            end: 2_000,
        };
        let got = store.exemplars(&req);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.len(), 1, "{got:?}");
        assert_eq!(got[0].1[0].labels.get("trace_id"), Some("t1"));
        let meta =
            store.metadata(&MetadataRequest { tenant: tenant.clone(), metric: None, limit: -1, limit_per_metric: 0 });
        assert_eq!(meta["rpc_seconds"].len(), 1);
        assert_eq!(meta["rpc_seconds"][0].unit, "seconds");
        let other = TenantId::new("other").unwrap();
        assert!(store.exemplars(&ExemplarsRequest { tenant: other, ..req }).is_empty());

        // A damaged snapshot is ignored, not misread.
        let path = dir.path().join(SNAPSHOT_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 5;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let store = AnnotationStore::new(default_limits(), Some(dir.path()), &mut Registry::default());
        assert!(store.metadata(&MetadataRequest { tenant, metric: None, limit: -1, limit_per_metric: 0 }).is_empty());
    }
}
