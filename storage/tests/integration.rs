//! Integration tests of strata-storage (one binary, a module per area).
#![allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod integration {
    mod bytes_probe;
    pub mod common;
    mod compaction;
    mod crash;
    mod docs;
    mod file_format;
    mod fixture_v1;
    mod fixture_v2;
    mod fixture_v3;
    mod fixture_v4;
    mod fixture_v5;
    mod fixture_v6;
    mod manifest;
    mod model;
    mod object_storage;
    pub mod sim;
    mod store;
    mod store_set;
    mod tsbs_data;
}
