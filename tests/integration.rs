//! End-to-end tests of the real `strata` binary: push real remote-write
//! payloads over HTTP, query the Prometheus API, kill the process with
//! SIGKILL mid-ingestion, and read back with the real `promtool`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod integration {
    pub mod annotations;
    pub mod api;
    mod auth;
    pub mod cluster;
    pub mod crash;
    mod disk_full;
    mod grafana;
    pub mod harness;
    pub mod head_protocol;
    mod native_histograms;
    mod object_storage;
    mod prom3;
    pub mod promtool;
    pub mod push_query;
    pub mod reference;
    mod sql;
    pub mod stream;
}
