//! Running one SQL statement for one tenant, with PromQL's guard rails:
//!
//! ```text
//!  SeriesSource::prepare (read-your-writes) ─▶ session: the tenant's schema,
//!  information_schema, a memory pool of querier.max_query_memory_bytes
//!  ─▶ plan (DDL, DML, COPY and SET refused) ─▶ estimate: SeriesSource::estimate
//!  of every scan's pushed selection ─▶ Scheduler::admit (422 / 429 / 503)
//!  ─▶ execute within the query timeout, the permit held until the answer
//!     is rendered
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use strata_common::TenantId;
use strata_common::select::{SelectEstimate, SelectRequest};
use strata_querier::scheduler::{Admission, Permit};
use strata_querier::{QuerierState, ReadConsistency};

use crate::aggregate::AggregateIntoScan;
use crate::catalog::TenantSchema;
use crate::error::{Error, Result};
use crate::exec::ScanExec;

/// The catalog every tenant's tables are in.
pub const CATALOG: &str = "strata";
/// The schema every tenant's tables are in.
pub const SCHEMA: &str = "public";

/// One statement to run.
#[derive(Debug, Clone)]
pub struct SqlRequest {
    /// Whose tables the statement sees.
    pub tenant: TenantId,
    /// The SQL text.
    pub sql: String,
    /// Read consistency (strong waits for acknowledged writes).
    pub consistency: ReadConsistency,
    /// Lowers the configured query timeout.
    pub timeout: Option<Duration>,
    /// Scan partitions; `None` uses one per core. Exports use 1 so rows come
    /// out series by series, each in time order.
    pub partitions: Option<usize>,
}

/// A planned and admitted statement, ready to run.
pub struct Admitted {
    plan: Arc<dyn ExecutionPlan>,
    ctx: SessionContext,
    deadline: Instant,
    /// The scheduler slot, held until the answer is rendered.
    pub permit: Permit,
    /// The admission estimate (sum over the statement's scans).
    pub estimate: SelectEstimate,
}

impl std::fmt::Debug for Admitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitted").field("estimate", &self.estimate).finish_non_exhaustive()
    }
}

impl Admitted {
    /// The schema of the answer.
    pub fn schema(&self) -> SchemaRef {
        self.plan.schema()
    }

    /// Runs the statement to completion. Fails with 422 when the answer
    /// would hold more than `max_bytes`, with 503 past the deadline.
    pub async fn collect(self, max_bytes: u64) -> Result<(SchemaRef, Vec<RecordBatch>, Permit)> {
        let schema = self.schema();
        let mut stream = execute_stream(self.plan, self.ctx.task_ctx())?;
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let collect = async {
            let mut batches = Vec::new();
            let mut bytes = 0u64;
            while let Some(b) = stream.next().await {
                let b = b?;
                bytes += b.get_array_memory_size() as u64;
                if bytes > max_bytes {
                    return Err(Error::Querier(strata_querier::Error::MemoryLimit { limit: max_bytes, needed: bytes }));
                }
                batches.push(b);
            }
            Ok(batches)
        };
        match tokio::time::timeout(remaining, collect).await {
            Ok(batches) => Ok((schema, batches?, self.permit)),
            Err(_) => Err(Error::Querier(strata_querier::Error::Timeout("sql execution"))),
        }
    }

    /// Runs the statement as a stream (Flight SQL, Parquet export). The
    /// stream ends with a timeout error past the deadline; dropping it
    /// cancels the statement. The permit is returned to be held alongside.
    pub fn stream(self) -> Result<(SendableRecordBatchStream, Permit)> {
        let stream = execute_stream(self.plan, self.ctx.task_ctx())?;
        Ok((deadline_stream(stream, self.deadline), self.permit))
    }
}

/// `stream`, failing once `deadline` has passed.
fn deadline_stream(stream: SendableRecordBatchStream, deadline: Instant) -> SendableRecordBatchStream {
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    let schema = stream.schema();
    let sleep = Box::pin(tokio::time::sleep_until(deadline.into()));
    let s = futures::stream::unfold((stream, sleep, false), |(mut stream, mut sleep, done)| async move {
        if done {
            return None;
        }
        tokio::select! {
            item = stream.next() => item.map(|i| (i, (stream, sleep, false))),
            _ = &mut sleep => Some((
                Err(DataFusionError::External(Box::new(strata_querier::Error::Timeout("sql execution")))),
                (stream, sleep, true),
            )),
        }
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, s))
}

/// Runs SQL over a querier's source, scheduler and limits.
#[derive(Clone)]
pub struct SqlEngine {
    state: Arc<QuerierState>,
}

impl std::fmt::Debug for SqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlEngine").finish_non_exhaustive()
    }
}

impl SqlEngine {
    /// SQL over `state`'s source, under its configuration and scheduler.
    pub fn new(state: Arc<QuerierState>) -> Self {
        Self { state }
    }

    /// The querier underneath.
    pub fn state(&self) -> &Arc<QuerierState> {
        &self.state
    }

    /// A session that sees only `tenant`'s tables, with DataFusion's memory
    /// pool sized to the per-query memory budget.
    pub async fn session(&self, tenant: &TenantId, partitions: Option<usize>) -> Result<SessionContext> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_target_partitions(partitions.unwrap_or(cores).max(1));
        let budget = usize::try_from(self.state.config.max_query_memory_bytes).unwrap_or(usize::MAX);
        // No spilling: a statement over the budget fails (422) as a PromQL
        // query does, instead of filling the disk.
        let disk = DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled);
        let runtime =
            RuntimeEnvBuilder::new().with_memory_limit(budget, 1.0).with_disk_manager_builder(disk).build_arc()?;
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(AggregateIntoScan))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let schema = TenantSchema::load(self.state.source.clone(), tenant.clone()).await?;
        let catalog = ctx
            .catalog(CATALOG)
            .ok_or_else(|| DataFusionError::Internal(format!("default catalog {CATALOG} missing")))?;
        catalog.register_schema(SCHEMA, Arc::new(schema))?;
        Ok(ctx)
    }

    /// Plans `req`, estimates what its scans read and waits for admission.
    pub async fn admit(&self, req: &SqlRequest) -> Result<Admitted> {
        let started = Instant::now();
        let config = &self.state.config;
        let timeout = Duration::from_millis(config.query_timeout_ms).min(req.timeout.unwrap_or(Duration::MAX));
        self.state.source.prepare(&req.tenant, req.consistency).await?;
        let ctx = self.session(&req.tenant, req.partitions).await?;
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let df = ctx.sql_with_options(&req.sql, options).await?;
        let plan = df.create_physical_plan().await?;
        let mut estimate = SelectEstimate::default();
        for r in scans(&plan) {
            estimate.add(self.state.source.estimate(&r).await?);
        }
        let permit = self.state.scheduler.admit(&req.tenant, Admission { cost: estimate.samples }).await?;
        Ok(Admitted { plan, ctx, deadline: started + timeout, permit, estimate })
    }

    /// Plans, admits and runs `req`; the answer must fit the memory budget.
    pub async fn run(&self, req: &SqlRequest) -> Result<(SchemaRef, Vec<RecordBatch>, Permit)> {
        let admitted = self.admit(req).await?;
        let plan = admitted.plan.clone();
        let out = admitted.collect(self.state.config.max_query_memory_bytes).await;
        self.state.metrics.samples_loaded.inc_by(samples_read(&plan));
        out
    }
}

/// The selections of every Strata scan in `plan`.
fn scans(plan: &Arc<dyn ExecutionPlan>) -> Vec<SelectRequest> {
    let mut out = Vec::new();
    let _ = plan.apply(|node| {
        if let Some(scan) = node.downcast_ref::<ScanExec>() {
            out.push(scan.select_request().clone());
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// Samples the Strata scans in `plan` have read so far.
pub fn samples_read(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let mut total = 0;
    let _ = plan.apply(|node| {
        if node.downcast_ref::<ScanExec>().is_some()
            && let Some(m) = node.metrics()
        {
            total += m.sum_by_name("samples_read").map_or(0, |v| v.as_usize() as u64);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    total
}
