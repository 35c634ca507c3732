//! Thread-per-core ingester shards (in progress).
