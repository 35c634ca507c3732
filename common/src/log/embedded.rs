//! The embedded log: durable partitions in segment files on local disk.
//! (Being written; see the module contract in `log.rs`.)
