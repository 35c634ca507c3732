//! [`IngesterConfig`]: how many shards, where they run, when they flush.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The least io memory glommio accepts per executor.
pub const MIN_IO_MEMORY_BYTES: usize = 512 * 1024;

/// Configuration of the ingester shards (the `[ingester]` table of the TOML
/// file). Every field has a default, so an empty table is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterConfig {
    /// Number of shards (one glommio executor on its own OS thread each).
    /// `0` means one per available CPU. Never more than the log has
    /// partitions: extra shards would own nothing. Shard `i` of `N` owns the
    /// partitions `p` with `p % N == i`.
    pub shards: usize,
    /// Pin shard `i` to the `i`-th online CPU (`Placement::Fixed`). Shards
    /// beyond the number of available CPUs run unpinned. Off by default
    /// because the all-in-one process shares its cores with the HTTP runtime.
    pub pin_cores: bool,
    /// Memory glommio registers for io_uring buffers, per shard, in bytes.
    /// At least 512 KiB; mind the process' memlock limit (often 8 MiB), which
    /// all shards share.
    pub io_memory_bytes: usize,
    /// Flush a shard's memtable when it is non-empty and this many
    /// milliseconds have passed since its last flush.
    pub flush_interval_ms: u64,
    /// Flush a shard's memtable when its approximate size exceeds this many
    /// bytes. While a flush is in flight, consumption pauses once the new
    /// memtable reaches twice this size (backpressure instead of OOM when
    /// the disk is failing).
    pub memtable_max_bytes: usize,
    /// Flush every shard's memtable when the ingester stops gracefully
    /// (SIGTERM), so the log can give back its space and a restart replays
    /// nothing. Off: a restart replays what was not flushed.
    pub flush_on_shutdown: bool,
    /// Most records a partition consumer takes from the log per batch.
    pub max_batch_records: usize,
    /// Ready (`/ready` 200) once every owned partition has consumed to
    /// within this many records of the log's end offsets at start-up.
    pub ready_max_lag_records: u64,
    /// How often consumer lag is measured (metrics and `/ingester/status`).
    pub lag_poll_interval_ms: u64,
    /// Head reads (series, labels, estimates) from querier processes served
    /// at once; more wait their turn. `0` means twice the available CPUs.
    /// Many queriers cannot overrun an ingester's shards.
    pub max_concurrent_head_reads: usize,
    /// Longest wait of a head read for its turn, in milliseconds; then 503
    /// (the querier answers its query with a retryable 503 naming the
    /// ingester).
    pub head_read_queue_timeout_ms: u64,
    /// A series counts in `strata_ingester_active_series{tenant}` until it
    /// has received no sample for this many milliseconds (about; see the
    /// ingester's `active` module).
    pub active_series_idle_ms: u64,
    /// A head read that would copy more samples than this is served in
    /// parts of about this many samples (whole series), one per turn of the
    /// shard, one such read at a time, so cheaper commands wait for at most
    /// one part. `0` reads in one piece.
    pub head_read_slice_samples: u64,
    /// Copy the parts of such heavy reads at idle CPU priority
    /// (`SCHED_IDLE`), raised again by every command sent to the shard, so
    /// cheap queries never wait for a CPU slice behind a heavy copy. Needs
    /// `CAP_SYS_NICE` (to leave `SCHED_IDLE`); without it the parts run at
    /// normal priority.
    pub idle_heavy_reads: bool,
    /// Longest a busy shard runs its tasks before it polls its I/O and
    /// timers, in microseconds (glommio's preemption timer and the latency
    /// of the shard's task queue). Commands from other threads preempt it
    /// at once (see `handle::run_shard_latency_sensitive`).
    pub preempt_interval_us: u64,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        Self {
            shards: 0,
            pin_cores: false,
            io_memory_bytes: 1024 * 1024,
            flush_interval_ms: 10 * 60 * 1000,
            memtable_max_bytes: 256 * 1024 * 1024,
            flush_on_shutdown: true,
            max_batch_records: 1024,
            ready_max_lag_records: 0,
            lag_poll_interval_ms: 1000,
            max_concurrent_head_reads: 0,
            head_read_queue_timeout_ms: 10_000,
            active_series_idle_ms: 20 * 60 * 1000,
            head_read_slice_samples: 50_000,
            idle_heavy_reads: true,
            preempt_interval_us: 250,
        }
    }
}

impl IngesterConfig {
    /// See [`IngesterConfig::active_series_idle_ms`].
    pub fn active_series_idle(&self) -> Duration {
        Duration::from_millis(self.active_series_idle_ms)
    }

    /// Checks every field; the message names the offending one.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidConfig(msg));
        if self.shards > 4096 {
            return bad(format!("ingester.shards = {} is more than 4096", self.shards));
        }
        if self.io_memory_bytes < MIN_IO_MEMORY_BYTES {
            return bad(format!(
                "ingester.io_memory_bytes = {} is below glommio's minimum of {MIN_IO_MEMORY_BYTES}",
                self.io_memory_bytes
            ));
        }
        if self.head_read_queue_timeout_ms == 0 {
            return bad("ingester.head_read_queue_timeout_ms must be > 0".to_string());
        }
        if self.flush_interval_ms == 0 {
            return bad("ingester.flush_interval_ms must be > 0".to_string());
        }
        if self.memtable_max_bytes < 1024 {
            return bad(format!("ingester.memtable_max_bytes = {} is below 1024", self.memtable_max_bytes));
        }
        if !(1..=1_000_000).contains(&self.max_batch_records) {
            return bad(format!("ingester.max_batch_records = {} is not in 1..=1000000", self.max_batch_records));
        }
        if self.lag_poll_interval_ms == 0 {
            return bad("ingester.lag_poll_interval_ms must be > 0".to_string());
        }
        if !(50..=100_000).contains(&self.preempt_interval_us) {
            return bad(format!("ingester.preempt_interval_us = {} is not in 50..=100000", self.preempt_interval_us));
        }
        Ok(())
    }

    /// [`Self::preempt_interval_us`] as a duration.
    pub fn preempt_interval(&self) -> Duration {
        Duration::from_micros(self.preempt_interval_us)
    }

    /// The lag poll interval as a duration.
    pub fn lag_poll_interval(&self) -> Duration {
        Duration::from_millis(self.lag_poll_interval_ms)
    }

    /// [`Self::max_concurrent_head_reads`] with 0 resolved against the CPUs.
    pub fn head_read_slots(&self) -> usize {
        match self.max_concurrent_head_reads {
            0 => 2 * std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            n => n,
        }
    }

    /// The flush interval as a duration.
    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.flush_interval_ms)
    }

    /// The number of shards to run for a log of `partitions` partitions:
    /// `shards` (or the CPU count when 0), capped at the partition count, at
    /// least 1.
    pub fn effective_shards(&self, partitions: u32) -> usize {
        self.wanted_shards().min(partitions as usize).max(1)
    }

    /// `shards`, or the CPU count when it is 0 (before any partition cap).
    pub fn wanted_shards(&self) -> usize {
        match self.shards {
            0 => std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            n => n,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_partial_toml_fills_in() {
        IngesterConfig::default().validate().unwrap();
        let c: IngesterConfig = toml::from_str("shards = 2\nflush_interval_ms = 500").unwrap();
        assert_eq!(c.shards, 2);
        assert_eq!(c.flush_interval(), Duration::from_millis(500));
        assert_eq!(c.memtable_max_bytes, IngesterConfig::default().memtable_max_bytes);
        assert!(toml::from_str::<IngesterConfig>("shard = 2").is_err(), "typos are rejected");
    }

    #[test]
    fn validate_names_the_bad_field() {
        let c = IngesterConfig { io_memory_bytes: 1000, ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("io_memory_bytes"));
        let c = IngesterConfig { max_batch_records: 0, ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("max_batch_records"));
        let c = IngesterConfig { flush_interval_ms: 0, ..Default::default() };
        assert!(c.validate().is_err());
    }

    #[test]
    fn shard_count_is_capped_by_partitions() {
        let c = IngesterConfig { shards: 8, ..Default::default() };
        assert_eq!(c.effective_shards(3), 3);
        assert_eq!(c.effective_shards(16), 8);
        assert_eq!(IngesterConfig::default().effective_shards(0), 1);
        assert!(IngesterConfig::default().effective_shards(64) >= 1);
    }
}
