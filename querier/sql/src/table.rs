//! The table model: one table per metric name, per tenant.
//!
//! | column            | type                         | from                                  |
//! |-------------------|------------------------------|---------------------------------------|
//! | one per label     | `Dictionary(Int32, Utf8)`    | the series' label; null when absent   |
//! | `timestamp`       | `Timestamp(Millisecond, UTC)`| the sample time                       |
//! | `value`           | `Float64`                    | the sample value                      |
//!
//! Label columns come first, sorted by name; `__name__` is the table name,
//! not a column. A label called `timestamp` or `value` becomes
//! `label_timestamp` / `label_value`. Staleness markers are not rows.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use strata_common::select::SelectRequest;
use strata_common::{Matcher, TenantId};
use strata_querier::SeriesSource;

use crate::batch::ColumnKind;
use crate::exec::{ScanExec, ScanSpec};
use crate::pushdown::{ColumnMap, Pushdown};

/// The name of the timestamp column.
pub const TIMESTAMP: &str = "timestamp";
/// The name of the value column.
pub const VALUE: &str = "value";

/// The column a label is shown as.
pub fn column_name(label: &str) -> String {
    if label == TIMESTAMP || label == VALUE { format!("label_{label}") } else { label.to_string() }
}

/// The Arrow schema of a metric whose series carry `labels` (sorted, without
/// `__name__`), and what each column holds.
pub fn metric_schema(labels: &[String]) -> (SchemaRef, Vec<ColumnKind>) {
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let mut fields: Vec<Field> = labels.iter().map(|l| Field::new(column_name(l), dict.clone(), true)).collect();
    let mut kinds: Vec<ColumnKind> = labels.iter().map(|l| ColumnKind::Label(l.clone())).collect();
    fields.push(Field::new(TIMESTAMP, DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false));
    kinds.push(ColumnKind::Timestamp);
    fields.push(Field::new(VALUE, DataType::Float64, false));
    kinds.push(ColumnKind::Value);
    (Arc::new(Schema::new(fields)), kinds)
}

/// One metric of one tenant as a table.
pub struct MetricTable {
    source: Arc<dyn SeriesSource>,
    tenant: TenantId,
    metric: String,
    schema: SchemaRef,
    columns: Vec<ColumnKind>,
}

impl std::fmt::Debug for MetricTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricTable").field("tenant", &self.tenant).field("metric", &self.metric).finish()
    }
}

impl MetricTable {
    /// The table of `metric` for `tenant`, whose series carry `labels`.
    pub fn new(source: Arc<dyn SeriesSource>, tenant: TenantId, metric: String, labels: &[String]) -> Self {
        let (schema, columns) = metric_schema(labels);
        Self { source, tenant, metric, schema, columns }
    }
}

impl ColumnMap for MetricTable {
    fn label_of(&self, column: &str) -> Option<&str> {
        let i = self.schema.index_of(column).ok()?;
        match &self.columns[i] {
            ColumnKind::Label(l) => Some(l),
            _ => None,
        }
    }

    fn is_timestamp(&self, column: &str) -> bool {
        column == TIMESTAMP
    }
}

#[async_trait]
impl TableProvider for MetricTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if Pushdown::exact(f, self) {
                    TableProviderFilterPushDown::Exact
                } else if Pushdown::supports(f, self) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let pushed = Pushdown::from_filters(filters, self);
        let mut matchers = vec![Matcher::equal("__name__", self.metric.clone())];
        matchers.extend(pushed.matchers);
        let req = SelectRequest::new(self.tenant.clone(), matchers, pushed.min_t, pushed.max_t);
        let (schema, columns) = match projection {
            Some(p) => (Arc::new(self.schema.project(p)?), p.iter().map(|&i| self.columns[i].clone()).collect()),
            None => (self.schema.clone(), self.columns.clone()),
        };
        let spec = ScanSpec { source: self.source.clone(), metric: self.metric.clone(), req, columns, limit };
        Ok(Arc::new(ScanExec::new(spec, schema, state.config().target_partitions())))
    }
}
