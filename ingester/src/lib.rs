//! # strata-ingester
//!
//! The write path (overview written with the implementation):
//! - [`distributor`]: remote-write push endpoint → validate → partition → [`strata_common::log::Log::append`].
//! - [`shard`]: thread-per-core glommio shards that consume partitions into memtables, flush files and serve head reads.

pub mod distributor;
pub mod shard;
