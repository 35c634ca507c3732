//! # strata-storage
//! (overview below, written at the end)

pub mod chunk;
pub mod error;
pub mod format;
pub mod index;
pub mod manifest;
pub mod memtable;
pub mod reader;
pub mod store;
pub mod writer;

pub use error::{Error, Result};
pub use manifest::{FileMeta, Manifest, ManifestStore, PartitionRange};
pub use memtable::{FrozenMemtable, FrozenSeries, Memtable};
pub use reader::{FileCache, FileReader};
pub use store::{Store, StoredSeries};
pub use writer::{FlushContext, write_files};
