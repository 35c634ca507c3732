//! # strata-querier
//!
//! Strata's read path: cost estimates, a scheduler, a streaming PromQL
//! engine and the Prometheus HTTP query API.
//!
//! ```text
//!  HTTP (axum) ── api::router ──▶ params, tenant (X-Scope-OrgID)
//!      │ Engine::prepare: parse (large-stack threads, depth limit), plan
//!      │ SeriesSource::prepare (read-your-writes wait)
//!      │ Engine::estimate: SeriesSource::estimate per selector (postings,
//!      │   chunk metadata, head counts) composed through the plan
//!      ▼
//!  scheduler::Scheduler::admit: 422 over the cost limit; cheap or heavy
//!      │ lane, fair queues per tenant, 429 / 503 when full or too slow
//!      ▼
//!  Engine::run ──▶ SeriesSource::select ──▶ lazy series
//!      │  operators pull one series at a time (selectors, functions,
//!      │  binary operators, aggregations), bounded by max_samples, the
//!      │  per-query memory budget (engine::ctx::Reservation), the timeout
//!      │  and cancellation; heavy queries on SCHED_IDLE threads
//!      ▼
//!  JSON (Prometheus shapes, float formatting identical to Go's 'f', -1)
//! ```
//!
//! - [`scheduler`]: lanes by estimated cost, start-time fair queuing over
//!   tenants, per-tenant limits; [`engine::cost`]: the estimates.
//! - [`source`]: the [`SeriesSource`] seam with `MemorySource` (tests, feature
//!   `testing`) and [`StorageSource`] (ingester heads + files, merged; head
//!   wins).
//! - [`engine`]: planning and evaluation; [`engine::functions`]: the function
//!   table; [`engine::numeric`]: Kahan sums, quantiles, float comparison.
//! - [`format`]: Prometheus's float and duration text forms (engine and API).
//! - [`api`]: [`api::router`] and [`QuerierState`].
//! - [`metrics`]: `strata_querier_*` self-monitoring.
//!
//! Supported PromQL: all selectors and matchers, `offset`, `@`, subqueries,
//! lookback and staleness (Prometheus 3 left-open ranges), arithmetic,
//! comparison (`bool`) and set operators with `on`/`ignoring` and
//! `group_left`/`group_right`, the aggregations `sum avg min max count group
//! stddev stdvar quantile topk bottomk count_values limitk limit_ratio`, and
//! the functions in [`engine::functions`] (rate family, `*_over_time` incl.
//! `ts_of_*_over_time`, math, labels, time, sorting, `histogram_quantile`
//! over classic buckets, `double_exponential_smoothing`). Not yet: native
//! histograms, the experimental syntax promql-parser 0.11.1 cannot parse
//! (duration expressions, `anchored`/`smoothed`, `fill` modifiers), `info`,
//! and Prometheus's optional delayed `__name__` removal. Unsupported
//! features fail with `bad_data` "… is not supported yet".
//!
//! Memory: every operator that holds data across pulls accounts it in a
//! per-query budget (`querier.max_query_memory_bytes`, 422 when exceeded);
//! the peak, samples loaded, series touched and files opened are the query
//! statistics (`stats=all`, see [`api::json::query_success`]). Sample and
//! step-value buffers are reused across series (no allocation per sample).
//!
//! Guarantees: a query never sees another tenant's data; with strong read
//! consistency it sees every write acknowledged before it started; it never
//! holds more than `max_samples` points at once nor more than its memory
//! budget (buffers are reserved before they grow, so an oversized query
//! fails before it allocates), nor runs past its timeout.

#![cfg_attr(test, allow(clippy::unwrap_used))]
#![warn(missing_docs)]

pub mod api;
pub mod config;
pub mod engine;
pub mod error;
pub mod format;
pub mod metrics;
pub mod results_cache;
pub mod scheduler;
pub mod source;

pub use api::{QuerierState, router};
pub use config::{QuerierConfig, ReadConsistency};
pub use engine::{Engine, EngineOptions, QueryRequest, QueryValue};
pub use error::{Error, ErrorType, Result};
#[cfg(any(test, feature = "testing"))]
pub use source::memory::MemorySource;
pub use source::remote_heads::RemoteHeads;
pub use source::storage::StorageSource;
pub use source::{SampleLoader, SeriesIter, SeriesSource, SourceSeries};
