//! # strata-ingester
//!
//! Placeholder, rewritten below.

pub mod distributor;
pub mod error;
pub mod shard;

pub use error::{Error, Result};
pub use shard::{Ingester, IngesterConfig};
