//! Integration tests of strata-storage (one binary, a module per area).
mod integration {
    pub mod common;
    mod file_format;
    mod fixture_v1;
    mod manifest;
    mod store;
}
