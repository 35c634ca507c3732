//! [`ScanExec`]: the physical scan of one metric table. Each partition
//! selects the series (with the pushed matchers and time range), keeps those
//! whose label hash falls in it, loads their samples one series at a time
//! on a blocking thread and sends batches through a bounded channel; a
//! dropped stream (cancellation, `LIMIT` satisfied upstream) stops it.
//!
//! ```text
//!  execute(p) ─▶ SeriesSource::select_with_stats (heads + files, offset rule)
//!             ─▶ series with hash % partitions == p
//!             ─▶ loader.load_into(min_t, max_t) ─▶ BatchBuilder ─▶ channel(2)
//! ```
//! `EXPLAIN` shows the pushed matchers, range, projection and limit;
//! `EXPLAIN ANALYZE` adds the files opened and series and samples read.

use std::fmt;
use std::sync::Arc;

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
use strata_querier::SeriesSource;

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
        }
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
        let cols: Vec<&str> = self.schema.fields().iter().map(|f| f.name().as_str()).collect();
        write!(f, ", projection=[{}]", cols.join(", "))?;
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
        let partitions = self.partitions as u64;
        let m = ScanMetrics::new(&self.metrics, partition);
        let handle = tokio::runtime::Handle::current();
        builder.spawn_blocking(move || {
            let (series, stats) = handle.block_on(spec.source.select_with_stats(&spec.req)).map_err(external)?;
            if partition == 0 {
                // Every partition selects the same series; count them once.
                m.files_opened.add(stats.files_opened as usize);
                m.head_series.add(stats.head_series as usize);
                m.file_series.add(stats.file_series as usize);
            }
            let mut b = BatchBuilder::new(schema, spec.columns.clone());
            let mut remaining = spec.limit.unwrap_or(usize::MAX);
            let mut buf = Vec::new();
            for s in series {
                if remaining == 0 {
                    break;
                }
                let mut s = s.map_err(external)?;
                if partitions > 1 && s.labels.hash64() % partitions != partition as u64 {
                    continue;
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
        });
        Ok(builder.build())
    }
}
