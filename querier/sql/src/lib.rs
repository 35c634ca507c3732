//! # strata-sql
//!
//! SQL over the same metrics PromQL reads: DataFusion over a
//! [`TableProvider`](datafusion::catalog::TableProvider) backed by the
//! querier's [`SeriesSource`](strata_querier::SeriesSource) (flushed files +
//! ingester heads, merged with the same offset rule, so nothing is counted
//! twice and read-your-writes holds), served as `POST /api/v1/sql`, as Arrow
//! Flight SQL, and as Parquet export.
//!
//! ```text
//!  HTTP /api/v1/sql, /api/v1/export ─┐        Flight SQL (gRPC) ─┐
//!                                    ▼                           ▼
//!  query::SqlEngine: tenant ─▶ SeriesSource::prepare (read-your-writes)
//!     │ session: catalog strata, schema public = catalog::TenantSchema
//!     │   (one table per metric of the tenant), information_schema,
//!     │   memory pool = querier.max_query_memory_bytes
//!     │ plan (DDL / DML / COPY / SET refused); table::MetricTable::scan
//!     │   pushes timestamp and label filters (pushdown) into a SelectRequest
//!     │ estimate every scan (SeriesSource::estimate) ─▶ Scheduler::admit
//!     ▼
//!  exec::ScanExec: select ─▶ series hashed over partitions ─▶ samples
//!     loaded per series ─▶ batch::BatchBuilder (dictionary labels)
//!     ▼
//!  format: JSON rows | CSV | Arrow IPC | Parquet;  flight: FlightData
//! ```
//!
//! Guarantees: a statement sees only its tenant's tables (the tenant is in
//! every selection, and the catalog lists only its metrics); it is admitted
//! by the same cost scheduler as PromQL, bounded by the same memory budget
//! (DataFusion's pool, plus the collected answer) and timeout; dropping the
//! answer stream cancels the scans. Statements cannot write: DDL, DML
//! (including `COPY`) and `SET` are refused.

#![cfg_attr(test, allow(clippy::unwrap_used))]
#![warn(missing_docs)]

pub mod aggregate;
pub mod batch;
pub mod catalog;
pub mod config;
pub mod error;
pub mod exec;
pub mod flight;
pub mod format;
pub mod http;
pub mod pushdown;
pub mod query;
pub mod table;

pub use config::SqlConfig;
pub use error::{Error, Result};
pub use http::router;
pub use query::{SqlEngine, SqlRequest};
