//! # strata-storage
//!
//! (Overview to be written with the implementation.) API contract used by the
//! ingester shards and the querier — signatures are fixed, bodies in progress.

pub mod error;
pub mod manifest;
pub mod memtable;
pub mod reader;
pub mod store;
pub mod writer;

pub use error::{Error, Result};
pub use manifest::{FileMeta, Manifest, ManifestStore, PartitionRange};
pub use memtable::{FrozenMemtable, Memtable};
pub use reader::{FileCache, FileReader};
pub use store::{Store, StoredSeries};
pub use writer::{FlushContext, write_files};
