//! The process metrics dashboards expect, under Prometheus client
//! libraries' standard names (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
//! `process_open_fds`, `process_max_fds`, `process_start_time_seconds`),
//! plus `strata_build_info{version, revision}`. Read from `/proc/self` at
//! each scrape (Linux); where `/proc` is missing they are left at 0.

use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of `strata_build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
}

/// Gauges refreshed from `/proc/self` before each scrape.
#[derive(Debug, Default)]
pub struct ProcessMetrics {
    cpu_seconds: Counter<f64, AtomicU64>,
    resident_bytes: Gauge,
    virtual_bytes: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    start_time_seconds: Gauge<f64, AtomicU64>,
}

impl ProcessMetrics {
    /// Registers the process metrics (no prefix) and the build info (prefix
    /// `strata`) in `registry`, and records the start time.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let started = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        m.start_time_seconds.set(started);
        registry.register("process_cpu_seconds", "User and system CPU time spent in seconds", m.cpu_seconds.clone());
        registry.register("process_resident_memory_bytes", "Resident memory size in bytes", m.resident_bytes.clone());
        registry.register("process_virtual_memory_bytes", "Virtual memory size in bytes", m.virtual_bytes.clone());
        registry.register("process_open_fds", "Number of open file descriptors", m.open_fds.clone());
        registry.register("process_max_fds", "Maximum number of open file descriptors", m.max_fds.clone());
        registry.register(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            m.start_time_seconds.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        let revision = option_env!("STRATA_GIT_REVISION").unwrap_or("");
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION"), revision }).set(1);
        registry.register("strata_build_info", "Strata's version and source revision (always 1)", build);
        m
    }

    /// Reads the current figures from `/proc/self`.
    pub fn refresh(&self) {
        let page = 4096;
        let ticks = 100.0; // USER_HZ on Linux
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
            && let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r)
        {
            // Fields after the command name, from field 3 (state) on.
            let f: Vec<&str> = rest.split_whitespace().collect();
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            // utime and stime are fields 14 and 15; vsize 23; rss 24.
            let cpu = (num(11) + num(12)) as f64 / ticks;
            let delta = cpu - self.cpu_seconds.get();
            if delta > 0.0 {
                self.cpu_seconds.inc_by(delta);
            }
            self.virtual_bytes.set(num(20) as i64);
            self.resident_bytes.set((num(21) * page) as i64);
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(dir.count() as i64);
        }
        if let Ok(limits) = std::fs::read_to_string("/proc/self/limits")
            && let Some(line) = limits.lines().find(|l| l.starts_with("Max open files"))
            && let Some(soft) = line.split_whitespace().nth(3).and_then(|v| v.parse::<i64>().ok())
        {
            self.max_fds.set(soft);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_figures_are_read_and_encoded_under_standard_names() {
        let mut registry = Registry::default();
        let m = ProcessMetrics::register(&mut registry);
        let _spin: u64 = (0..20_000_000u64).fold(0, |a, x| a.wrapping_add(x * x));
        m.refresh();
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
            "strata_build_info{version=",
        ] {
            assert!(out.contains(name), "{name} missing:\n{out}");
        }
        assert!(m.resident_bytes.get() > 1 << 20, "{out}");
        assert!(m.open_fds.get() >= 3, "{out}");
        assert!(m.max_fds.get() > 0, "{out}");
    }
}
