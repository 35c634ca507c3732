//! [`ScanExec`]: the physical scan of one metric table. The first of its
//! partitions to start selects the series once (with the pushed matchers
//! and time range) and splits them by label hash; each partition loads its
//! series' samples one series at a time on a blocking thread and sends
//! batches through a bounded channel; a dropped stream (cancellation,
//! `LIMIT` satisfied upstream) stops it.
//!
//! ```text
//!  execute(p) ─▶ Selection: once, SeriesSource::select_with_stats (heads +
//!                files, offset rule) ─▶ shares by hash % partitions
//!             ─▶ share p: loader.load_into(min_t, max_t)
//!                ─▶ rows: BatchBuilder ─▶ channel(2)
//!                ─▶ or, with a pushed aggregate (crate::aggregate):
//!                   GroupTable (one lookup per series, sums of 4 series
//!                   interleaved) ─▶ partial states
//! ```
//! `EXPLAIN` shows the pushed matchers, range, projection (or aggregate)
//! and limit; `EXPLAIN ANALYZE` adds the files opened and series and
//! samples read.

use std::fmt;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, SendableRecordBatchStream,
};
use strata_common::select::SelectRequest;
use strata_common::{Labels, Sample};
use strata_querier::{SeriesSource, SourceSeries};

use crate::aggregate::{GroupTable, LANES, ScanAggregate};
use crate::batch::{BatchBuilder, ColumnKind};
use crate::pushdown::{MAX_TIME, MIN_TIME};

/// What a scan reads: fixed at planning, shared by its partitions.
pub struct ScanSpec {
    /// Where series come from.
    pub source: Arc<dyn SeriesSource>,
    /// The metric (table) name.
    pub metric: String,
    /// The selection: tenant, `__name__` plus pushed matchers, time range.
    pub req: SelectRequest,
    /// What each output column holds.
    pub columns: Vec<ColumnKind>,
    /// Most rows to produce (per partition), from `LIMIT`.
    pub limit: Option<usize>,
}

impl fmt::Debug for ScanSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScanSpec").field("metric", &self.metric).field("req", &self.req).finish_non_exhaustive()
    }
}

/// The scan of one metric table.
#[derive(Debug)]
pub struct ScanExec {
    spec: Arc<ScanSpec>,
    schema: SchemaRef,
    partitions: usize,
    props: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
    selection: Arc<Selection>,
    aggregate: Option<Arc<ScanAggregate>>,
}

impl ScanExec {
    /// A scan producing `schema` (the projected columns) in `partitions`
    /// partitions.
    pub fn new(spec: ScanSpec, schema: SchemaRef, partitions: usize) -> Self {
        let partitions = partitions.max(1);
        let props = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Self {
            spec: Arc::new(spec),
            schema,
            partitions,
            props: Arc::new(props),
            metrics: ExecutionPlanMetricsSet::new(),
            selection: Arc::default(),
            aggregate: None,
        }
    }

    /// This scan computing `aggregate` per partition instead of producing
    /// rows: its output is `schema`, the partial aggregate's (see
    /// [`crate::aggregate`]).
    pub fn with_aggregate(&self, aggregate: ScanAggregate, schema: SchemaRef) -> Self {
        let spec = ScanSpec {
            source: self.spec.source.clone(),
            metric: self.spec.metric.clone(),
            req: self.spec.req.clone(),
            columns: self.spec.columns.clone(),
            limit: self.spec.limit,
        };
        let mut scan = Self::new(spec, schema, self.partitions);
        scan.aggregate = Some(Arc::new(aggregate));
        scan
    }

    /// The aggregate this scan computes, if any.
    pub fn aggregate(&self) -> Option<&ScanAggregate> {
        self.aggregate.as_deref()
    }

    /// What each column of the scan's rows holds (before any aggregate).
    pub fn columns(&self) -> &[ColumnKind] {
        &self.spec.columns
    }

    /// Most rows the scan produces per partition (`LIMIT`).
    pub fn limit(&self) -> Option<usize> {
        self.spec.limit
    }

    /// What this scan selects (the admission estimate is taken from it).
    pub fn select_request(&self) -> &SelectRequest {
        &self.spec.req
    }
}

impl DisplayAs for ScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let req = &self.spec.req;
        let matchers: Vec<String> = req.matchers.iter().map(|m| m.to_string()).collect();
        write!(f, "StrataScanExec: metric={}, matchers=[{}]", self.spec.metric, matchers.join(", "))?;
        let bound = |t: i64, open: i64| if t == open { "unbounded".to_string() } else { t.to_string() };
        write!(f, ", time_ms=[{}, {}]", bound(req.min_t, MIN_TIME), bound(req.max_t, MAX_TIME))?;
        match &self.aggregate {
            None => {
                let cols: Vec<&str> = self.schema.fields().iter().map(|f| f.name().as_str()).collect();
                write!(f, ", projection=[{}]", cols.join(", "))?;
            }
            Some(agg) => write!(f, ", {agg}")?,
        }
        if let Some(l) = self.spec.limit {
            write!(f, ", limit={l}")?;
        }
        Ok(())
    }
}

/// The counters one partition reports (summed over partitions in `EXPLAIN
/// ANALYZE`).
struct ScanMetrics {
    output_rows: Count,
    series_read: Count,
    samples_read: Count,
    files_opened: Count,
    head_series: Count,
    file_series: Count,
}

impl ScanMetrics {
    fn new(set: &ExecutionPlanMetricsSet, partition: usize) -> Self {
        let c = |name: &'static str| MetricBuilder::new(set).counter(name, partition);
        Self {
            output_rows: MetricBuilder::new(set).output_rows(partition),
            series_read: c("series_read"),
            samples_read: c("samples_read"),
            files_opened: c("files_opened"),
            head_series: c("head_series"),
            file_series: c("file_series"),
        }
    }
}

fn external(e: strata_querier::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

impl ExecutionPlan for ScanExec {
    fn name(&self) -> &'static str {
        "StrataScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let batch_size = context.session_config().batch_size().max(1);
        let mut builder = RecordBatchReceiverStreamBuilder::new(self.schema.clone(), 2);
        let tx = builder.tx();
        let spec = self.spec.clone();
        let schema = self.schema.clone();
        let selection = self.selection.clone();
        let partitions = self.partitions;
        let aggregate = self.aggregate.clone();
        let m = ScanMetrics::new(&self.metrics, partition);
        let handle = tokio::runtime::Handle::current();
        builder.spawn_blocking(move || {
            let series = selection.take(partition, partitions, &spec, &handle, &m)?;
            match aggregate {
                Some(agg) => {
                    let mut groups = GroupTable::new(&agg);
                    // LANES series at a time: their sums run interleaved.
                    let mut bufs: [Vec<Sample>; LANES] = Default::default();
                    let mut series = series;
                    for lanes in series.chunks_mut(LANES) {
                        if tx.is_closed() {
                            return Ok(()); // the stream was dropped (cancelled)
                        }
                        for (s, buf) in lanes.iter_mut().zip(&mut bufs) {
                            m.series_read.add(1);
                            s.loader.load_into(spec.req.min_t, spec.req.max_t, buf).map_err(external)?;
                            m.samples_read.add(buf.len());
                        }
                        let items: Vec<(&Labels, &[Sample])> =
                            lanes.iter().zip(&bufs).map(|(s, b)| (&s.labels, b.as_slice())).collect();
                        groups.add_many(&items);
                    }
                    let batch = groups.finish(&agg, schema)?;
                    m.output_rows.add(batch.num_rows());
                    let mut at = 0;
                    while at < batch.num_rows() {
                        let n = batch_size.min(batch.num_rows() - at);
                        if tx.blocking_send(Ok(batch.slice(at, n))).is_err() {
                            return Ok(()); // the stream was dropped
                        }
                        at += n;
                    }
                    Ok(())
                }
                None => rows(series, &spec, schema, batch_size, &m, &tx),
            }
        });
        Ok(builder.build())
    }
}

/// Sends the rows of `series` in batches of `batch_size` (at most the
/// scan's limit).
fn rows(
    series: Vec<SourceSeries>,
    spec: &ScanSpec,
    schema: SchemaRef,
    batch_size: usize,
    m: &ScanMetrics,
    tx: &tokio::sync::mpsc::Sender<Result<RecordBatch>>,
) -> Result<()> {
    let mut b = BatchBuilder::new(schema, spec.columns.clone());
    let mut remaining = spec.limit.unwrap_or(usize::MAX);
    let mut buf = Vec::new();
    for mut s in series {
        if remaining == 0 {
            break;
        }
        m.series_read.add(1);
        s.loader.load_into(spec.req.min_t, spec.req.max_t, &mut buf).map_err(external)?;
        m.samples_read.add(buf.len());
        let mut rest = &buf[..];
        while !rest.is_empty() && remaining > 0 {
            let room = batch_size.saturating_sub(b.rows()).max(1).min(remaining);
            let (rows, used) = b.append(&s.labels, rest, room);
            remaining -= rows;
            rest = &rest[used..];
            if b.rows() >= batch_size {
                m.output_rows.add(b.rows());
                if tx.blocking_send(Ok(b.finish()?)).is_err() {
                    return Ok(()); // the stream was dropped
                }
            }
        }
    }
    if b.rows() > 0 {
        m.output_rows.add(b.rows());
        let _ = tx.blocking_send(Ok(b.finish()?));
    }
    Ok(())
}

/// The series of one execution of a scan, selected once and split over
/// its partitions by label hash (the first partition to start selects;
/// the others wait for it and take their share). A partition finding its
/// share already taken (the plan executed again) selects anew.
#[derive(Default)]
struct Selection {
    shares: Mutex<Vec<Option<Vec<SourceSeries>>>>,
}

impl fmt::Debug for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selection").finish_non_exhaustive()
    }
}

impl Selection {
    fn take(
        &self,
        partition: usize,
        partitions: usize,
        spec: &ScanSpec,
        handle: &tokio::runtime::Handle,
        m: &ScanMetrics,
    ) -> Result<Vec<SourceSeries>> {
        let mut shares = self.shares.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(share) = shares.get_mut(partition).and_then(Option::take) {
            return Ok(share);
        }
        let (series, stats) = handle.block_on(spec.source.select_with_stats(&spec.req)).map_err(external)?;
        // Counted by the partition that selected, once per execution.
        m.files_opened.add(stats.files_opened as usize);
        m.head_series.add(stats.head_series as usize);
        m.file_series.add(stats.file_series as usize);
        let n = partitions.max(1);
        let mut split: Vec<Vec<SourceSeries>> = (0..n).map(|_| Vec::new()).collect();
        for s in series {
            let s = s.map_err(external)?;
            let p = if n > 1 { (s.labels.hash64() % n as u64) as usize } else { 0 };
            split[p].push(s);
        }
        let mine = std::mem::take(&mut split[partition.min(n - 1)]);
        *shares = split.into_iter().map(Some).collect();
        shares[partition.min(n - 1)] = None;
        Ok(mine)
    }
}
