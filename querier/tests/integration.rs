//! Integration tests of strata-querier: the promqltest conformance files
//! and the HTTP API driven through the router.

#![allow(clippy::unwrap_used)]

#[path = "integration/api.rs"]
mod api;
#[path = "integration/labels.rs"]
mod labels;
#[path = "integration/limits.rs"]
mod limits;
#[path = "integration/promql.rs"]
mod promql;
#[path = "integration/storage.rs"]
mod storage;
