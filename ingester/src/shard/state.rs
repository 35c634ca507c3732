//! One shard's in-memory state: the active and frozen memtables, and per
//! owned partition the consumed and flushed offsets. Lives in an
//! `Rc<RefCell<..>>` on the shard's executor; every borrow is released
//! before the next `.await`, so reads see a consistent (memtables, offsets)
//! pair.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use strata_common::TenantId;
use strata_common::head::{
    HeadLabelsResponse, HeadReadResponse, HeadSeries, LabelsRequest, SelectEstimate, SelectRequest, union_sorted,
};
use strata_common::record::{RecordView, SeriesView};
use strata_log::{LogRecord, Offset, PartitionId};
use strata_storage::memtable::SeriesRef;
use strata_storage::{FrozenMemtable, Memtable, PartitionRange};

use super::active::ActiveSeries;
use super::metrics::{PartitionMetrics, ShardMetrics};
use crate::annotations::AnnotationStore;
use strata_common::head::merge::merge_series;

/// Tenant ids cached per shard before the cache is reset (bounds memory if
/// a writer invents tenants).
const MAX_CACHED_TENANTS: usize = 10_000;

/// One owned partition.
pub(crate) struct PartitionState {
    /// Next offset to consume; everything below is in a memtable or a file.
    pub consumed: Offset,
    /// Offset below which the partition is in durable files (committed in the
    /// manifest); the head's data starts here (`base_offsets`).
    pub flushed: Offset,
    pub metrics: PartitionMetrics,
}

/// A frozen memtable and the log ranges it holds, being flushed. `table` is
/// `None` for an offsets-only commit (records consumed, nothing appended:
/// e.g. only undecodable records).
#[derive(Clone)]
pub(crate) struct FlushJob {
    pub table: Option<Arc<FrozenMemtable>>,
    pub ranges: Vec<PartitionRange>,
}

/// A head read too large for one turn of the shard ([`ShardState::plan_read`]):
/// the series it returns, read `per_part` at a time.
pub(crate) struct ReadPlan {
    /// [`ShardState::epoch`] when planned: the ids are valid while it lasts.
    pub epoch: u64,
    /// Series ids in the frozen memtable, in label order.
    pub frozen: Vec<u32>,
    /// Series ids in the active memtable, in label order.
    pub active: Vec<u32>,
    /// Series copied per part.
    pub per_part: usize,
}

struct OffsetWaiter {
    targets: Vec<(PartitionId, Offset)>,
    reply: super::worker::Reply<()>,
}

pub(crate) struct ShardState {
    pub shard: usize,
    pub active: Memtable,
    /// The memtable being flushed (at most one), readable until committed.
    pub frozen: Option<FlushJob>,
    pub partitions: BTreeMap<PartitionId, PartitionState>,
    pub metrics: ShardMetrics,
    /// `strata_ingester_active_series{tenant}`, this shard's part.
    pub active_series: ActiveSeries,
    /// Exemplars and metadata of the process (shared by its shards).
    pub annotations: Arc<AnnotationStore>,
    tenants: HashMap<String, TenantId>,
    /// Changes whenever the memtables or the flushed offsets change shape
    /// (a freeze, a committed flush): a read split over several turns of
    /// the executor is consistent while it stays the same.
    epoch: u64,
    /// Decompression buffer for log records, reused between records.
    scratch: Vec<u8>,
    waiters: Vec<OffsetWaiter>,
}

impl ShardState {
    pub fn new(
        shard: usize,
        partitions: BTreeMap<PartitionId, PartitionState>,
        metrics: ShardMetrics,
        active_series: ActiveSeries,
        annotations: Arc<AnnotationStore>,
    ) -> Self {
        Self {
            shard,
            active: Memtable::new(),
            frozen: None,
            partitions,
            metrics,
            active_series,
            annotations,
            tenants: HashMap::new(),
            epoch: 0,
            scratch: Vec::new(),
            waiters: Vec::new(),
        }
    }

    /// Applies a batch of records read from `partition`: decodes each,
    /// appends its series to the active memtable and advances the consumed
    /// offset. Undecodable records are counted, logged and skipped.
    pub fn apply_batch(&mut self, partition: PartitionId, records: &[LogRecord]) {
        let Self { shard, active, partitions, metrics, tenants, scratch, annotations, .. } = self;
        let Some(part) = partitions.get_mut(&partition) else {
            return;
        };
        let mut samples = 0u64;
        let mut consumed = 0u64;
        for rec in records {
            if rec.offset < part.consumed {
                continue; // already applied (a reader re-delivering after a reopen)
            }
            match append_record(active, annotations, tenants, scratch, &rec.payload, partition, rec.offset) {
                Ok(n) => samples += n as u64,
                Err(reason) => {
                    part.metrics.decode_failures.inc();
                    tracing::error!(
                        shard = *shard,
                        partition,
                        offset = rec.offset,
                        %reason,
                        "skipping a log record that cannot be decoded"
                    );
                }
            }
            part.consumed = rec.offset + 1;
            consumed += 1;
        }
        part.metrics.records_consumed.inc_by(consumed);
        part.metrics.consumed_offset.set(part.consumed as i64);
        metrics.samples_appended.inc_by(samples);
        metrics.memtable_bytes.set(active.approx_bytes() as i64);
        if !self.waiters.is_empty() {
            self.notify_waiters();
        }
    }

    /// Moves the partition's consumed offset forward to `start` after the log
    /// removed the records below it (retention); see the module docs of
    /// [`crate::shard`] for the policy.
    pub fn skip_to(&mut self, partition: PartitionId, start: Offset) {
        if let Some(part) = self.partitions.get_mut(&partition)
            && part.consumed < start
        {
            part.consumed = start;
            part.metrics.consumed_offset.set(start as i64);
            self.notify_waiters();
        }
    }

    /// Active + frozen memtables, merged; `base_offsets` are the flushed
    /// offsets the head starts at.
    pub fn read(&self, req: &SelectRequest) -> HeadReadResponse {
        let mut series = self.active.read(req);
        if let Some(table) = self.frozen.as_ref().and_then(|f| f.table.as_ref()) {
            series = merge_series(table.read(req), series);
        }
        HeadReadResponse { series, base_offsets: self.base_offsets() }
    }

    /// See the `epoch` field.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The samples `req` would copy, when more than `part_samples`
    /// (`ingester.head_read_slice_samples`; `0` never splits): such a read
    /// is copied in parts, one per turn of the executor, since a shard
    /// serves one command at a time, and a heavy read in one piece would
    /// hold every cheap read queued behind it. `None` to read it at once.
    pub fn heavy_read_samples(&self, req: &SelectRequest, part_samples: u64) -> Option<u64> {
        if !req.with_samples || part_samples == 0 {
            return None;
        }
        Some(self.estimate(req).samples).filter(|&n| n > part_samples)
    }

    /// The series `req` reads, to be copied in parts of about
    /// `part_samples` samples (`samples`: the read's estimated size).
    pub fn plan_read(&self, req: &SelectRequest, samples: u64, part_samples: u64) -> ReadPlan {
        let frozen = self.frozen_table().map(|t| t.plan(req)).unwrap_or_default();
        let active = self.active.plan(req);
        let series = (frozen.len() + active.len()) as u64;
        let per_part = (part_samples.max(1).saturating_mul(series) / samples.max(1)).max(1) as usize;
        ReadPlan { epoch: self.epoch, frozen, active, per_part }
    }

    /// One part of a [`ReadPlan`]: its series `ids` of the frozen memtable
    /// (`frozen`) or of the active one. Only valid while [`Self::epoch`]
    /// is the plan's.
    pub fn read_part(&self, req: &SelectRequest, frozen: bool, ids: &[u32]) -> Vec<HeadSeries> {
        match (frozen, self.frozen_table()) {
            (true, Some(table)) => table.read_ids(req, ids),
            (true, None) => Vec::new(),
            (false, _) => self.active.read_ids(req, ids),
        }
    }

    /// The answer of a read made of parts (the frozen memtable's series,
    /// then the active one's), with this state's base offsets.
    pub fn join_parts(&self, frozen: Vec<HeadSeries>, active: Vec<HeadSeries>) -> HeadReadResponse {
        HeadReadResponse { series: merge_series(frozen, active), base_offsets: self.base_offsets() }
    }

    fn frozen_table(&self) -> Option<&FrozenMemtable> {
        self.frozen.as_ref().and_then(|f| f.table.as_deref())
    }

    /// Label names or values from the active and frozen memtables, as a
    /// sorted union, with the same `base_offsets` as [`Self::read`].
    pub fn labels(&self, req: &LabelsRequest) -> HeadLabelsResponse {
        let mut values = self.active.labels(req);
        if let Some(table) = self.frozen.as_ref().and_then(|f| f.table.as_ref()) {
            values = union_sorted(table.labels(req), values);
        }
        HeadLabelsResponse { values, base_offsets: self.base_offsets() }
    }

    /// What [`Self::read`] of `req` would read (postings and counts only).
    pub fn estimate(&self, req: &SelectRequest) -> SelectEstimate {
        let mut total = self.active.estimate(req);
        if let Some(table) = self.frozen.as_ref().and_then(|f| f.table.as_ref()) {
            total.add(table.estimate(req));
        }
        total
    }

    /// Per owned partition, the flushed offset the head's data starts at.
    fn base_offsets(&self) -> Vec<(PartitionId, Offset)> {
        self.partitions.iter().map(|(p, s)| (*p, s.flushed)).collect()
    }

    /// Whether some partition has consumed records not yet covered by a
    /// committed (or in-flight) flush.
    fn has_unflushed_offsets(&self) -> bool {
        let frozen_end = |p: PartitionId| {
            self.frozen.as_ref().and_then(|f| f.ranges.iter().find(|r| r.partition == p).map(|r| r.end))
        };
        self.partitions.iter().any(|(p, s)| s.consumed > frozen_end(*p).unwrap_or(s.flushed))
    }

    /// Whether there is anything to flush (data or offsets).
    pub fn has_unflushed(&self) -> bool {
        !self.active.is_empty() || self.has_unflushed_offsets()
    }

    /// Freezes the active memtable (or, if it is empty but offsets moved,
    /// prepares an offsets-only commit) and records it as the frozen table.
    /// Returns `None` when a flush is already in flight or there is nothing
    /// to flush.
    pub fn freeze(&mut self) -> Option<FlushJob> {
        if self.frozen.is_some() || !self.has_unflushed() {
            return None;
        }
        let ranges: Vec<PartitionRange> = self
            .partitions
            .iter()
            .filter(|(_, s)| s.consumed > s.flushed)
            .map(|(p, s)| PartitionRange { partition: *p, start: s.flushed, end: s.consumed })
            .collect();
        self.active_series.before_freeze(&self.active);
        let table =
            if self.active.is_empty() { None } else { Some(Arc::new(std::mem::take(&mut self.active).freeze())) };
        self.metrics.memtable_bytes.set(self.active.approx_bytes() as i64);
        let job = FlushJob { table, ranges };
        self.frozen = Some(job.clone());
        self.epoch += 1;
        Some(job)
    }

    /// The flush of the frozen table is committed: drop it and advance the
    /// flushed offsets, atomically with respect to reads.
    pub fn finish_flush(&mut self, job: &FlushJob) {
        self.frozen = None;
        self.epoch += 1;
        for r in &job.ranges {
            if let Some(part) = self.partitions.get_mut(&r.partition) {
                part.flushed = part.flushed.max(r.end);
                part.metrics.flushed_offset.set(part.flushed as i64);
            }
        }
    }

    /// Registers a waiter answered once every owned partition in `targets`
    /// (index = partition id) has consumed up to its target.
    pub fn add_waiter(&mut self, targets: &[Offset], reply: super::worker::Reply<()>) {
        let targets = self.partitions.keys().filter_map(|p| targets.get(*p as usize).map(|t| (*p, *t))).collect();
        self.waiters.push(OffsetWaiter { targets, reply });
        self.notify_waiters();
    }

    fn notify_waiters(&mut self) {
        let partitions = &self.partitions;
        let (reached, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .filter(|w| !w.reply.is_closed())
            .partition(|w| w.targets.iter().all(|(p, t)| partitions.get(p).is_none_or(|s| s.consumed >= *t)));
        self.waiters = waiting;
        for w in reached {
            let _ = w.reply.send(());
        }
    }
}

/// Decodes one record completely, then appends its series; a record is
/// applied whole or not at all. Returns the samples appended.
///
/// A series whose encoded label bytes match an existing series of the head
/// is valid by construction (the stored key was validated when the series
/// was created), so only unknown label bytes are decoded and checked.
fn append_record(
    active: &mut Memtable,
    annotations: &AnnotationStore,
    tenants: &mut HashMap<String, TenantId>,
    scratch: &mut Vec<u8>,
    payload: &[u8],
    partition: PartitionId,
    offset: Offset,
) -> Result<usize, String> {
    let view = RecordView::parse(payload, scratch, partition, offset).map_err(|e| e.to_string())?;
    let tenant = match tenants.get(view.tenant) {
        Some(t) => t.clone(),
        None => {
            let t = TenantId::new(view.tenant).map_err(|e| e.to_string())?;
            if tenants.len() >= MAX_CACHED_TENANTS {
                tenants.clear();
            }
            tenants.insert(view.tenant.to_string(), t.clone());
            t
        }
    };
    // Exemplars and metadata (version 5) are decoded up front too.
    let notes = view.annotations().map_err(str::to_string)?;
    let mut app = active.tenant_appender(&tenant);
    let mut series = Vec::with_capacity(view.series_count().min(4096) as usize);
    for s in view.series() {
        let s = s.map_err(|reason| reason.to_string())?;
        if s.label_count() == 0 {
            return Err("a series has no labels".to_string());
        }
        let target = match app.find(s.label_bytes()) {
            Some(id) => Target::Known(id),
            None => Target::New(decode_new_labels(&s)?),
        };
        series.push((target, s));
    }
    // Native histograms (version 4 records): decoded whole first, like the floats.
    let mut hist = Vec::new();
    for s in view.histogram_series() {
        let s = s.map_err(|reason| reason.to_string())?;
        if s.label_count() == 0 {
            return Err("a histogram series has no labels".to_string());
        }
        let labels = s.labels().map_err(str::to_string)?;
        if let Some(w) = labels.windows(2).find(|w| w[0].0 >= w[1].0) {
            return Err(format!("labels not sorted/unique at {:?} >= {:?}", w[0].0, w[1].0));
        }
        hist.push((labels, s));
    }
    let mut n = 0;
    for (target, s) in series {
        let id = match target {
            Target::Known(id) => id,
            Target::New(labels) => app.find_or_create(&labels),
        };
        n += app.append(id, s.samples());
    }
    for (labels, s) in hist {
        let id = match app.find(s.label_bytes()) {
            Some(id) => id,
            None => app.find_or_create(&labels),
        };
        n += app.append_histograms(id, s.samples());
    }
    annotations.apply(&tenant, notes);
    Ok(n)
}

/// Where a decoded series goes: an existing series, or one to create.
enum Target<'a> {
    Known(SeriesRef),
    New(Vec<(&'a str, &'a str)>),
}

/// Decodes and checks the labels of a series the head does not know yet.
#[cold]
fn decode_new_labels<'a>(s: &SeriesView<'a>) -> Result<Vec<(&'a str, &'a str)>, String> {
    let labels = s.labels().map_err(str::to_string)?;
    if let Some(w) = labels.windows(2).find(|w| w[0].0 >= w[1].0) {
        return Err(format!("labels not sorted/unique at {:?} >= {:?}", w[0].0, w[1].0));
    }
    Ok(labels)
}
