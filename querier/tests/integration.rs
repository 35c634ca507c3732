//! Integration tests of strata-querier: the HTTP API driven through the
//! router, metadata over heads and files, and the query limits.

#![allow(clippy::unwrap_used)]

#[path = "integration/api.rs"]
mod api;
#[path = "integration/labels.rs"]
mod labels;
#[path = "integration/limits.rs"]
mod limits;
#[path = "integration/storage.rs"]
mod storage;
