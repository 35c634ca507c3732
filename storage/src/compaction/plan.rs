//! Choosing what to compact and what retention drops, from a manifest
//! snapshot alone (pure, unit-tested).
//!
//! Rules, per tenant:
//! - **Retention**: files whose `max_t` is before `now - retention` go.
//! - **Level 0 → 1**: the longest prefix, in id order, of the tenant's
//!   settled level-0 files (capped at `max_input_bytes`), plus the level-1
//!   files in the windows those touch. Taking a *prefix* keeps the
//!   "newest file wins" rule intact: every level-0 file left behind has a
//!   larger id than every input, so it still outranks the output, whose
//!   [`FileMeta::merge_order`] is its newest input's.
//! - **Level k → k+1** (k ≥ 1): a level-`k+1` window whose end is at or
//!   before the tenant's newest sample collects every file of levels
//!   `1..=k+1` inside it, when that is more than one file or a lower level.
//!   Level-0 files are never inputs here, so nothing newer is outranked.
//! - **Spill files** (a job's output spanning many windows of sparse data,
//!   see `merge`) are never inputs of levels ≥ 1 again: they would be split
//!   into one file per window. Newer files outrank them on reads, and
//!   retention drops them whole.
use std::collections::BTreeMap;

use strata_common::TenantId;

use super::CompactionConfig;
use crate::{FileMeta, Manifest};

/// One compaction: merge `inputs` into files of `level`, one per window of
/// `window_ms` that holds samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The tenant whose files are merged (files never mix tenants).
    pub tenant: TenantId,
    /// Level of the outputs.
    pub level: u32,
    /// Width of the output windows in milliseconds.
    pub window_ms: i64,
    /// Oldest first ([`FileMeta::rank`] order).
    pub inputs: Vec<FileMeta>,
}

/// What one planning round found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Files past their tenant's retention.
    pub expired: Vec<FileMeta>,
    /// Compaction jobs, most urgent first (level 0 first).
    pub jobs: Vec<Job>,
}

/// Plans retention and compaction over `manifest` at wall-clock `now_ms`;
/// `settled` says whether a level-0 file may be compacted yet.
pub fn plan(manifest: &Manifest, config: &CompactionConfig, now_ms: i64, settled: impl Fn(&FileMeta) -> bool) -> Plan {
    let mut by_tenant: BTreeMap<&TenantId, Vec<&FileMeta>> = BTreeMap::new();
    for f in &manifest.files {
        by_tenant.entry(&f.tenant).or_default().push(f);
    }
    let windows: Vec<i64> = config.level_windows_ms.iter().map(|&w| w as i64).collect();
    let mut out = Plan::default();
    for (tenant, mut files) in by_tenant {
        let retention = config.retention_of(tenant.as_str());
        if retention > 0 {
            let cutoff = now_ms.saturating_sub(retention as i64);
            let (expired, kept): (Vec<&FileMeta>, Vec<&FileMeta>) = files.into_iter().partition(|f| f.max_t < cutoff);
            out.expired.extend(expired.into_iter().cloned());
            files = kept;
        }
        files.sort_by_key(|f| f.id);
        if let Some(job) = level0_job(tenant, &files, config, windows[0], &settled) {
            out.jobs.push(job);
        }
        let watermark = files.iter().map(|f| f.max_t).max().unwrap_or(i64::MIN);
        for (k, &w) in windows.iter().enumerate().skip(1) {
            out.jobs.extend(upper_jobs(tenant, &files, k as u32 + 1, w, watermark));
        }
    }
    out
}

/// Whether a compaction output spans more than one window of `w` ms (a
/// spill file of sparse data; see `merge`).
fn spans_windows(f: &FileMeta, w: i64) -> bool {
    f.level > 0 && window_of(f.min_t, w) != window_of(f.max_t, w)
}

/// Window index of `t` for windows of `w` ms.
pub fn window_of(t: i64, w: i64) -> i64 {
    t.div_euclid(w)
}

fn level0_job(
    tenant: &TenantId,
    files: &[&FileMeta],
    config: &CompactionConfig,
    w1: i64,
    settled: &impl Fn(&FileMeta) -> bool,
) -> Option<Job> {
    let mut inputs: Vec<FileMeta> = Vec::new();
    let mut bytes = 0u64;
    for f in files.iter().filter(|f| f.level == 0) {
        if !settled(f) || (!inputs.is_empty() && bytes + f.bytes > config.max_input_bytes) {
            break;
        }
        bytes += f.bytes;
        inputs.push((*f).clone());
    }
    if inputs.is_empty() {
        return None;
    }
    let touched: Vec<(i64, i64)> = inputs.iter().map(|f| (window_of(f.min_t, w1), window_of(f.max_t, w1))).collect();
    for f in files.iter().filter(|f| f.level == 1 && !spans_windows(f, w1)) {
        let w = window_of(f.min_t, w1);
        if touched.iter().any(|&(lo, hi)| lo <= w && w <= hi) {
            inputs.push((*f).clone());
        }
    }
    inputs.sort_by_key(FileMeta::rank);
    Some(Job { tenant: tenant.clone(), level: 1, window_ms: w1, inputs })
}

fn upper_jobs(tenant: &TenantId, files: &[&FileMeta], level: u32, w: i64, watermark: i64) -> Vec<Job> {
    let mut by_window: BTreeMap<i64, Vec<FileMeta>> = BTreeMap::new();
    for f in files.iter().filter(|f| (1..=level).contains(&f.level) && !spans_windows(f, w)) {
        by_window.entry(window_of(f.min_t, w)).or_default().push((*f).clone());
    }
    let mut jobs = Vec::new();
    for (win, mut inputs) in by_window {
        let end = (win as i128 + 1) * w as i128;
        let closed = end <= watermark as i128;
        let worth = inputs.len() > 1 || inputs.iter().any(|f| f.level < level);
        if closed && worth {
            inputs.sort_by_key(FileMeta::rank);
            jobs.push(Job { tenant: tenant.clone(), level, window_ms: w, inputs });
        }
    }
    jobs
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::PartitionRange;

    const H: i64 = 3_600_000;

    fn file(id: u64, level: u32, min_t: i64, max_t: i64) -> FileMeta {
        FileMeta {
            id,
            path: format!("files/t/{id}.strata"),
            tenant: TenantId::new("t").unwrap(),
            level,
            min_t,
            max_t,
            series: 1,
            samples: 1,
            bytes: 100,
            offsets: vec![PartitionRange { partition: 0, start: id * 10, end: id * 10 + 10 }],
            merge_order: None,
        }
    }

    fn manifest(files: Vec<FileMeta>) -> Manifest {
        Manifest { files, ..Manifest::default() }
    }

    fn ids(files: &[FileMeta]) -> Vec<u64> {
        files.iter().map(|f| f.id).collect()
    }

    #[test]
    fn level0_takes_the_settled_prefix_and_touched_level1_windows() {
        let m = manifest(vec![
            file(1, 1, 0, H),         // window 0 of 2 h: touched by file 3
            file(2, 1, 4 * H, 5 * H), // window 2: untouched
            file(3, 0, H, H + 5),     // settled
            file(4, 0, 2 * H, 2 * H), // not settled: stops the prefix
            file(5, 0, 3 * H, 3 * H), // settled but after the gap
        ]);
        let p = plan(&m, &CompactionConfig::default(), 0, |f| f.id != 4);
        assert_eq!(p.jobs.len(), 1);
        assert_eq!(p.jobs[0].level, 1);
        assert_eq!(ids(&p.jobs[0].inputs), vec![1, 3]);
    }

    #[test]
    fn input_bytes_cap_keeps_at_least_one_file() {
        let m = manifest(vec![file(1, 0, 0, 1), file(2, 0, 2, 3)]);
        let config = CompactionConfig { max_input_bytes: 10, ..CompactionConfig::default() };
        let p = plan(&m, &config, 0, |_| true);
        assert_eq!(ids(&p.jobs[0].inputs), vec![1]);
    }

    #[test]
    fn closed_day_windows_collect_lower_levels() {
        let day = 24 * H;
        let m = manifest(vec![
            file(1, 1, 0, H),
            file(2, 1, 2 * H, 3 * H),
            file(3, 2, day + H, day + 2 * H), // alone in its window, already level 2
            file(4, 1, 2 * day, 2 * day + 1), // open window (watermark inside it)
        ]);
        let p = plan(&m, &CompactionConfig::default(), 0, |_| false);
        assert_eq!(p.jobs.len(), 1);
        assert_eq!((p.jobs[0].level, ids(&p.jobs[0].inputs)), (2, vec![1, 2]));
    }

    #[test]
    fn retention_per_tenant_drops_whole_files() {
        let mut other = file(3, 0, 0, 10);
        other.tenant = TenantId::new("keep").unwrap();
        let m = manifest(vec![file(1, 1, 0, 10), file(2, 1, 0, 2_000), other]);
        let mut config = CompactionConfig { retention_ms: 1_000, ..CompactionConfig::default() };
        config.tenant_retention_ms.insert("keep".into(), 0);
        let p = plan(&m, &config, 2_500, |_| false);
        assert_eq!(ids(&p.expired), vec![1]);
    }

    #[test]
    fn rank_order_puts_outputs_before_newer_flushes() {
        let mut out = file(9, 1, 0, 1);
        out.merge_order = Some(3);
        let newer = file(5, 0, 0, 1);
        let mut v = [newer.clone(), out.clone()];
        v.sort_by_key(FileMeta::rank);
        assert_eq!(ids(&v), vec![9, 5]);
    }
}
