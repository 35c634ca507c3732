//! Tests of the shards.
