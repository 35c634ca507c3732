//! Integration tests of strata-querier: the HTTP API driven through the
//! router, metadata over heads and files, the query limits and cost-based
//! scheduling.

#![allow(clippy::unwrap_used)]

#[path = "integration/api.rs"]
mod api;
#[path = "integration/labels.rs"]
mod labels;
#[path = "integration/limits.rs"]
mod limits;
#[path = "integration/scheduling.rs"]
mod scheduling;
#[path = "integration/storage.rs"]
mod storage;
