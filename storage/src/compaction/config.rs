//! [`CompactionConfig`]: when and how fast the background compactor runs,
//! its level windows, and retention (the `[compaction]` table of the TOML file).
use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

const HOUR_MS: u64 = 3_600_000;

/// Configuration of compaction and retention. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactionConfig {
    /// Run the background compactor (retention runs with it).
    pub enabled: bool,
    /// Pause between compaction passes, in milliseconds.
    pub interval_ms: u64,
    /// A flush file is compacted only after it has been in the manifest for
    /// this many milliseconds. Queries read the heads' base offsets first and
    /// the manifest right after; a compaction output is readable only once
    /// every input is below those offsets, so inputs must have been flushed
    /// well before any running query looked at the heads.
    pub settle_ms: u64,
    /// Time window of level 1, 2, ... in milliseconds (default 2 h, 1 d).
    /// Level 0 flush files are merged into level-1 files of one window each;
    /// a closed window of level `k + 1` collects the files of levels
    /// `1..=k + 1` inside it. Each window must divide the next.
    pub level_windows_ms: Vec<u64>,
    /// Most bytes of level-0 input one compaction job takes (at least one
    /// file). Memory does not depend on it (compaction streams series by
    /// series); it bounds how long one job runs.
    pub max_input_bytes: u64,
    /// Rate limit of compaction writes in bytes per second (0 = unlimited),
    /// so ingestion and queries keep their disk bandwidth.
    pub max_bytes_per_sec: u64,
    /// Files that left the manifest are deleted once no query of this
    /// process can read them and at least this many milliseconds later
    /// (grace for read-only processes sharing the directory).
    pub delete_delay_ms: u64,
    /// Retention: files whose newest sample is older than this many
    /// milliseconds before now are dropped (0 = keep forever).
    pub retention_ms: u64,
    /// Per-tenant retention overrides in milliseconds (0 = keep forever).
    pub tenant_retention_ms: BTreeMap<String, u64>,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_ms: 30_000,
            settle_ms: 60_000,
            level_windows_ms: vec![2 * HOUR_MS, 24 * HOUR_MS],
            max_input_bytes: 1 << 30,
            max_bytes_per_sec: 64 << 20,
            delete_delay_ms: 60_000,
            retention_ms: 0,
            tenant_retention_ms: BTreeMap::new(),
        }
    }
}

impl CompactionConfig {
    /// Checks every field; the message names the offending one.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval_ms == 0 {
            return Err("compaction.interval_ms must be > 0".into());
        }
        if self.level_windows_ms.is_empty() || self.level_windows_ms.contains(&0) {
            return Err("compaction.level_windows_ms needs at least one window, all > 0".into());
        }
        if self.level_windows_ms.iter().any(|&w| w > i64::MAX as u64) {
            return Err("compaction.level_windows_ms: window too large".into());
        }
        if let Some(w) = self.level_windows_ms.windows(2).find(|w| w[1] % w[0] != 0) {
            return Err(format!("compaction.level_windows_ms: {} does not divide {}", w[0], w[1]));
        }
        if self.max_input_bytes == 0 {
            return Err("compaction.max_input_bytes must be > 0".into());
        }
        Ok(())
    }

    /// The retention of `tenant` in milliseconds (0 = forever).
    pub fn retention_of(&self, tenant: &str) -> u64 {
        self.tenant_retention_ms.get(tenant).copied().unwrap_or(self.retention_ms)
    }

    /// Pause between compaction passes (`interval_ms`).
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }
}
