//! [`TenantSchema`]: the `strata.public` schema of one tenant. Its table
//! names are the tenant's metric names (read once per statement); a table's
//! columns are its label names, read when the statement names it. Another
//! tenant's metrics are never listed or reachable: every selection carries
//! the tenant.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use strata_common::select::{LabelsRequest, SelectRequest};
use strata_common::{Matcher, TenantId};
use strata_querier::SeriesSource;

use crate::error::Result;
use crate::pushdown::{MAX_TIME, MIN_TIME};
use crate::table::MetricTable;

/// The metric tables of one tenant.
pub struct TenantSchema {
    source: Arc<dyn SeriesSource>,
    tenant: TenantId,
    tables: Vec<String>,
}

impl std::fmt::Debug for TenantSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantSchema").field("tenant", &self.tenant).field("tables", &self.tables.len()).finish()
    }
}

impl TenantSchema {
    /// Lists `tenant`'s metric names.
    pub async fn load(source: Arc<dyn SeriesSource>, tenant: TenantId) -> Result<Self> {
        let all = SelectRequest::new(tenant.clone(), Vec::new(), MIN_TIME, MAX_TIME);
        let tables = source.labels(&LabelsRequest::new(all, Some("__name__".into()))).await?;
        Ok(Self { source, tenant, tables })
    }

    /// The label names (without `__name__`) of `metric`'s series.
    async fn labels_of(&self, metric: &str) -> strata_querier::Result<Vec<String>> {
        let select =
            SelectRequest::new(self.tenant.clone(), vec![Matcher::equal("__name__", metric)], MIN_TIME, MAX_TIME);
        let mut names = self.source.labels(&LabelsRequest::new(select, None)).await?;
        names.retain(|n| n != "__name__");
        Ok(names)
    }
}

#[async_trait]
impl SchemaProvider for TenantSchema {
    fn table_names(&self) -> Vec<String> {
        self.tables.clone()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if !self.table_exist(name) {
            return Ok(None);
        }
        let labels = self.labels_of(name).await.map_err(|e| DataFusionError::External(Box::new(e)))?;
        let table = MetricTable::new(self.source.clone(), self.tenant.clone(), name.to_string(), &labels);
        Ok(Some(Arc::new(table)))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.binary_search_by(|t| t.as_str().cmp(name)).is_ok()
    }
}
