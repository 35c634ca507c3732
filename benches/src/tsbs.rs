//! TSBS-like data (`--data tsbs`, the default of `--mode mixed`): the hosts
//! of the Time Series Benchmark Suite's `devops` use case, scraped every
//! 10 s, as Prometheus series.
//!
//! Every series carries the 10 TSBS host tags, derived deterministically
//! from the host number `n`:
//!
//! | label | values |
//! |---|---|
//! | `hostname` | `host_<n>` |
//! | `region` | 9 AWS-style regions (`us-east-1`, `eu-central-1`, `sa-east-1`, ...) |
//! | `datacenter` | 2-4 zones of the host's region (`us-east-1a`, ...) |
//! | `rack` | `0`-`99` |
//! | `os` | `Ubuntu16.10`, `Ubuntu16.04LTS`, `Ubuntu15.10` |
//! | `arch` | `x64`, `x86` |
//! | `team` | `SF`, `NYC`, `LON`, `CHI` |
//! | `service` | `0`-`19` |
//! | `service_version` | `0`, `1` |
//! | `service_environment` | `production`, `staging`, `test` |
//!
//! plus `job` (`node` for system metrics, `api` for HTTP ones) and
//! `instance` (`host_<n>:9100` / `host_<n>:8080`), plus `__name__`: 13
//! labels. 43 of the 51 series have a 14th (`cpu`, `interface`, `name`,
//! `status` or `le`, below); the 6 memory gauges and the histogram's
//! `_sum` and `_count` have 13.
//!
//! The 51 series of one host:
//!
//! | # | series | values |
//! |---|---|---|
//! | 10 | `cpu_usage_{user,system,idle,nice,iowait,irq,softirq,steal,guest,guest_nice}{cpu="cpu-total"}` | gauges: full-precision random walks, `clamp(prev + N(0,1), 0, 100)` from a uniform start (TSBS's own distribution), never rounded |
//! | 6 | `mem_{total,available,used,free,cached,buffered}_bytes` | gauges in whole 4 KiB pages (multiples of 4096); total 8-64 GiB per host, used / cached / buffered shares random walks, free = total - the three, available = free + cached + buffered |
//! | 6 | `http_requests_total{status="200"\|"201"\|"301"\|"404"\|"500"\|"503"}` | integer counters, per-status rates × a per-host load factor |
//! | 8 | `net_{bytes,packets}_{recv,sent}_total`, `net_{err,drop}_{in,out}_total` `{interface="eth0"}` | integer counters |
//! | 7 | `diskio_{reads,writes,read_bytes,write_bytes,read_time_ms,write_time_ms,io_time_ms}_total{name="nvme0n1"}` | integer counters |
//! | 12 | `http_request_duration_seconds_bucket{le="0.005"…"10","+Inf"}` | cumulative integer counters: the scrape's new requests (the increase of all `http_requests_total`) spread by a log-normal latency whose median walks between 10 and 200 ms |
//! | 2 | `http_request_duration_seconds_sum`, `_count` | float / integer counters of the same histogram |
//!
//! Values are deterministic per (host, scrape): each host has its own
//! seeded generator, and a host's series are always produced by one lane.

use std::collections::HashMap;

use strata_distributor::proto::{Label, Sample, TimeSeries};

use crate::workload::Generator;

/// TSBS `cpu` fields.
pub const CPU_FIELDS: [&str; 10] =
    ["user", "system", "idle", "nice", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"];
const MEM_FIELDS: [&str; 6] = ["total", "available", "used", "free", "cached", "buffered"];
/// `(status, requests per second)` of `http_requests_total`, before the host's load factor.
const STATUSES: [(&str, f64); 6] =
    [("200", 40.0), ("201", 4.0), ("301", 1.0), ("404", 2.0), ("500", 0.3), ("503", 0.1)];
/// `(metric, per-second rate)` of the network counters.
const NET: [(&str, f64); 8] = [
    ("net_bytes_recv_total", 1.2e6),
    ("net_bytes_sent_total", 4.0e5),
    ("net_packets_recv_total", 1100.0),
    ("net_packets_sent_total", 600.0),
    ("net_err_in_total", 0.01),
    ("net_err_out_total", 0.005),
    ("net_drop_in_total", 0.05),
    ("net_drop_out_total", 0.02),
];
/// `(metric, per-second rate)` of the disk counters.
const DISKIO: [(&str, f64); 7] = [
    ("diskio_reads_total", 80.0),
    ("diskio_writes_total", 150.0),
    ("diskio_read_bytes_total", 2.5e6),
    ("diskio_write_bytes_total", 4.0e6),
    ("diskio_read_time_ms_total", 40.0),
    ("diskio_write_time_ms_total", 120.0),
    ("diskio_io_time_ms_total", 140.0),
];
/// Bucket bounds of `http_request_duration_seconds` (Prometheus's default 11 plus `+Inf`).
pub const LE: [&str; 12] = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"];

/// Series per host.
pub const SERIES_PER_HOST: usize =
    CPU_FIELDS.len() + MEM_FIELDS.len() + STATUSES.len() + NET.len() + DISKIO.len() + LE.len() + 2;

/// `(region, datacenters)`, as TSBS's devops generator.
const REGIONS: [(&str, &[&str]); 9] = [
    ("us-east-1", &["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"]),
    ("us-west-1", &["us-west-1a", "us-west-1b"]),
    ("us-west-2", &["us-west-2a", "us-west-2b", "us-west-2c"]),
    ("eu-west-1", &["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ("eu-central-1", &["eu-central-1a", "eu-central-1b"]),
    ("ap-southeast-1", &["ap-southeast-1a", "ap-southeast-1b"]),
    ("ap-southeast-2", &["ap-southeast-2a", "ap-southeast-2b"]),
    ("ap-northeast-1", &["ap-northeast-1a", "ap-northeast-1c"]),
    ("sa-east-1", &["sa-east-1a", "sa-east-1b", "sa-east-1c"]),
];
const OS: [&str; 3] = ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
const ARCH: [&str; 2] = ["x64", "x86"];
const TEAM: [&str; 4] = ["SF", "NYC", "LON", "CHI"];
const ENVIRONMENT: [&str; 3] = ["production", "staging", "test"];

const PAGE: f64 = 4096.0;

/// The 10 TSBS host tags of host `n` (`(name, value)`).
pub fn host_tags(n: usize) -> Vec<(&'static str, String)> {
    let mut rng = Rng::new(n as u64 ^ 0x7453_4253);
    let mut pick = |len: usize| (rng.next_u64() % len as u64) as usize;
    let (region, dcs) = REGIONS[pick(REGIONS.len())];
    vec![
        ("hostname", format!("host_{n}")),
        ("region", region.to_string()),
        ("datacenter", dcs[pick(dcs.len())].to_string()),
        ("rack", pick(100).to_string()),
        ("os", OS[pick(OS.len())].to_string()),
        ("arch", ARCH[pick(ARCH.len())].to_string()),
        ("team", TEAM[pick(TEAM.len())].to_string()),
        ("service", pick(20).to_string()),
        ("service_version", pick(2).to_string()),
        ("service_environment", ENVIRONMENT[pick(ENVIRONMENT.len())].to_string()),
    ]
}

/// splitmix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), full 53-bit mantissa.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A counter increment over `secs` at `rate` per second: integer, mean `rate * secs`.
    fn increment(&mut self, rate: f64, secs: f64) -> f64 {
        (rate * secs * (0.5 + self.uniform()) + self.uniform()).floor()
    }
}

/// Standard normal CDF (Abramowitz-Stegun 7.1.26 erf, |error| < 1.5e-7; monotone).
fn phi(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 { 0.5 * (1.0 + erf) } else { 0.5 * (1.0 - erf) }
}

/// One host's label sets (in emission order) and the state of its values.
struct Host {
    labels: Vec<Vec<Label>>,
    rng: Rng,
    /// Load factor scaling every rate (0.5-2).
    load: f64,
    cpu: [f64; 10],
    mem_total_pages: f64,
    /// Shares of total memory: used, cached, buffered.
    mem_shares: [f64; 3],
    http: [f64; 6],
    net: [f64; 8],
    disk: [f64; 7],
    /// ln of the median request latency in seconds.
    log_median: f64,
    buckets: [f64; 12],
    sum: f64,
    count: f64,
}

fn label_set(tags: &[(&'static str, String)], pairs: &[(&str, &str)]) -> Vec<Label> {
    let mut labels: Vec<Label> = tags
        .iter()
        .map(|(n, v)| (*n, v.as_str()))
        .chain(pairs.iter().copied())
        .map(|(n, v)| Label { name: n.to_string(), value: v.to_string() })
        .collect();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    labels
}

impl Host {
    fn new(n: usize) -> Self {
        let tags = host_tags(n);
        let node = format!("host_{n}:9100");
        let api = format!("host_{n}:8080");
        let node_job = [("job", "node"), ("instance", node.as_str())];
        let api_job = [("job", "api"), ("instance", api.as_str())];
        let mut labels = Vec::with_capacity(SERIES_PER_HOST);
        let with = |base: &[(&str, &str); 2], more: &[(&str, &str)]| {
            let pairs: Vec<(&str, &str)> = base.iter().chain(more).copied().collect();
            label_set(&tags, &pairs)
        };
        for f in CPU_FIELDS {
            let name = format!("cpu_usage_{f}");
            labels.push(with(&node_job, &[("__name__", name.as_str()), ("cpu", "cpu-total")]));
        }
        for f in MEM_FIELDS {
            let name = format!("mem_{f}_bytes");
            labels.push(with(&node_job, &[("__name__", name.as_str())]));
        }
        for (status, _) in STATUSES {
            labels.push(with(&api_job, &[("__name__", "http_requests_total"), ("status", status)]));
        }
        for (name, _) in NET {
            labels.push(with(&node_job, &[("__name__", name), ("interface", "eth0")]));
        }
        for (name, _) in DISKIO {
            labels.push(with(&node_job, &[("__name__", name), ("name", "nvme0n1")]));
        }
        for le in LE {
            labels.push(with(&api_job, &[("__name__", "http_request_duration_seconds_bucket"), ("le", le)]));
        }
        labels.push(with(&api_job, &[("__name__", "http_request_duration_seconds_sum")]));
        labels.push(with(&api_job, &[("__name__", "http_request_duration_seconds_count")]));

        let mut rng = Rng::new(n as u64);
        let load = 0.5 + 1.5 * rng.uniform();
        let cpu = std::array::from_fn(|_| 100.0 * rng.uniform());
        let mem_total_pages = [8.0, 16.0, 32.0, 64.0][(rng.next_u64() % 4) as usize] * (1u64 << 30) as f64 / PAGE;
        let mem_shares = [0.2 + 0.5 * rng.uniform(), 0.05 + 0.2 * rng.uniform(), 0.005 + 0.02 * rng.uniform()];
        let mut start = |scale: f64| (scale * rng.uniform()).floor();
        let http = std::array::from_fn(|i| start(STATUSES[i].1 * 3600.0));
        let net = std::array::from_fn(|i| start(NET[i].1 * 3600.0));
        let disk = std::array::from_fn(|i| start(DISKIO[i].1 * 3600.0));
        let log_median = (0.02 + 0.06 * rng.uniform()).ln();
        Self {
            labels,
            rng,
            load,
            cpu,
            mem_total_pages,
            mem_shares,
            http,
            net,
            disk,
            log_median,
            buckets: [0.0; 12],
            sum: 0.0,
            count: 0.0,
        }
    }

    /// Advances every value by one 10 s scrape (not called for the first).
    fn step(&mut self, secs: f64) {
        let rng = &mut self.rng;
        for v in &mut self.cpu {
            *v = (*v + rng.normal()).clamp(0.0, 100.0);
        }
        let [used, cached, buffered] = &mut self.mem_shares;
        *used = (*used + 0.005 * rng.normal()).clamp(0.1, 0.9);
        *buffered = (*buffered + 0.0005 * rng.normal()).clamp(0.002, 0.03);
        *cached = (*cached + 0.003 * rng.normal()).clamp(0.01, 0.97 - *used - *buffered);
        let mut new_requests = 0.0;
        for (v, (_, rate)) in self.http.iter_mut().zip(STATUSES) {
            let inc = rng.increment(rate * self.load, secs);
            *v += inc;
            new_requests += inc;
        }
        for (v, (_, rate)) in self.net.iter_mut().zip(NET) {
            *v += rng.increment(rate * self.load, secs);
        }
        for (v, (_, rate)) in self.disk.iter_mut().zip(DISKIO) {
            *v += rng.increment(rate * self.load, secs);
        }
        // Latency: log-normal with sigma 0.8 around a median walking in [10 ms, 200 ms].
        const SIGMA: f64 = 0.8;
        self.log_median = (self.log_median + 0.02 * rng.normal()).clamp(0.01f64.ln(), 0.2f64.ln());
        for (b, le) in self.buckets.iter_mut().zip(LE) {
            let share = match le.parse::<f64>() {
                Ok(le) => phi((le.ln() - self.log_median) / SIGMA),
                Err(_) => 1.0, // +Inf
            };
            *b += (new_requests * share).round();
        }
        self.count += new_requests;
        self.sum += new_requests * (self.log_median + SIGMA * SIGMA / 2.0).exp();
    }

    /// The current value of every series, in label-set order.
    fn values(&self, out: &mut Vec<f64>) {
        out.extend(self.cpu);
        let total = self.mem_total_pages;
        let pages: Vec<f64> = self.mem_shares.iter().map(|s| (total * s).floor()).collect();
        let (used, cached, buffered) = (pages[0], pages[1], pages[2]);
        let free = total - used - cached - buffered;
        // total, available, used, free, cached, buffered
        out.extend([total, free + cached + buffered, used, free, cached, buffered].map(|p| p * PAGE));
        out.extend(self.http);
        out.extend(self.net);
        out.extend(self.disk);
        out.extend(self.buckets);
        out.extend([self.sum, self.count]);
    }
}

/// [`crate::workload::Data::Tsbs`]'s generator: one [`Host`] state per host.
#[derive(Default)]
pub struct TsbsGenerator {
    hosts: HashMap<usize, Host>,
    values: Vec<f64>,
}

impl Generator for TsbsGenerator {
    fn host_series(&mut self, h: usize, scrape: usize, t: i64, out: &mut Vec<TimeSeries>) {
        let host = self.hosts.entry(h).or_insert_with(|| Host::new(h));
        if scrape > 0 {
            host.step(10.0);
        }
        self.values.clear();
        host.values(&mut self.values);
        for (labels, &value) in host.labels.iter().zip(&self.values) {
            out.push(TimeSeries {
                labels: labels.clone(),
                samples: vec![Sample { value, timestamp: t }],
                ..Default::default()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn scrapes(h: usize, n: usize) -> Vec<Vec<TimeSeries>> {
        let mut g = TsbsGenerator::default();
        (0..n)
            .map(|s| {
                let mut out = Vec::new();
                g.host_series(h, s, s as i64 * 10_000, &mut out);
                out
            })
            .collect()
    }

    fn label<'a>(ts: &'a TimeSeries, name: &str) -> Option<&'a str> {
        ts.labels.iter().find(|l| l.name == name).map(|l| l.value.as_str())
    }

    #[test]
    fn fifty_one_distinct_series_with_every_host_tag() {
        let all = scrapes(17, 1);
        let first = &all[0];
        assert_eq!(first.len(), SERIES_PER_HOST);
        assert_eq!(SERIES_PER_HOST, 51);
        let sets: HashSet<Vec<(String, String)>> =
            first.iter().map(|ts| ts.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect()).collect();
        assert_eq!(sets.len(), 51, "label sets are distinct");
        let with_14 = first.iter().filter(|ts| ts.labels.len() == 14).count();
        assert_eq!(with_14, 43);
        for ts in first {
            assert!(ts.labels.len() == 13 || ts.labels.len() == 14);
            assert!(ts.labels.windows(2).all(|p| p[0].name < p[1].name), "sorted, no duplicate names");
            for (tag, _) in host_tags(17) {
                assert!(label(ts, tag).is_some(), "{tag} missing");
            }
            assert_eq!(label(ts, "hostname"), Some("host_17"));
            assert!(label(ts, "job").is_some() && label(ts, "instance").is_some());
        }
        let region = label(&first[0], "region").unwrap();
        let dc = label(&first[0], "datacenter").unwrap();
        assert!(dc.starts_with(region), "{dc} is in {region}");
    }

    #[test]
    fn values_are_realistic_and_deterministic() {
        let a = scrapes(3, 200);
        assert_eq!(a, scrapes(3, 200), "deterministic");
        let value = |s: &[TimeSeries], name: &str, extra: Option<(&str, &str)>| {
            s.iter()
                .find(|ts| label(ts, "__name__") == Some(name) && extra.is_none_or(|(k, v)| label(ts, k) == Some(v)))
                .unwrap()
                .samples[0]
                .value
        };
        let mut fractional = 0;
        for (i, s) in a.iter().enumerate() {
            for f in CPU_FIELDS {
                let v = value(s, &format!("cpu_usage_{f}"), None);
                assert!((0.0..=100.0).contains(&v));
                // Full precision: not rounded to a few decimals.
                if (v * 1000.0).fract() != 0.0 {
                    fractional += 1;
                }
            }
            for f in MEM_FIELDS {
                let v = value(s, &format!("mem_{f}_bytes"), None);
                assert!(v >= 0.0 && v % 4096.0 == 0.0, "mem_{f}_bytes = {v}");
            }
            let total = value(s, "mem_total_bytes", None);
            let parts = ["used", "free", "cached", "buffered"].map(|f| value(s, &format!("mem_{f}_bytes"), None));
            assert_eq!(parts.iter().sum::<f64>(), total);
            let buckets: Vec<f64> =
                LE.iter().map(|le| value(s, "http_request_duration_seconds_bucket", Some(("le", le)))).collect();
            assert!(buckets.windows(2).all(|p| p[0] <= p[1]), "cumulative buckets");
            assert_eq!(buckets[11], value(s, "http_request_duration_seconds_count", None));
            if i > 0 {
                for (now, before) in s.iter().zip(&a[i - 1]) {
                    let name = label(now, "__name__").unwrap();
                    let (v, prev) = (now.samples[0].value, before.samples[0].value);
                    if name.ends_with("_total") || name.ends_with("_bucket") || name.ends_with("_count") {
                        assert!(v >= prev && v.fract() == 0.0, "{name}: integer counter {prev} -> {v}");
                    }
                }
            }
        }
        assert!(fractional > 1900, "cpu values keep their mantissa ({fractional} of 2000)");
        let last = a.last().unwrap();
        assert!(value(last, "http_requests_total", Some(("status", "500"))) > 0.0);
        assert!(value(last, "http_request_duration_seconds_bucket", Some(("le", "0.005"))) > 0.0);
    }

    #[test]
    fn regions_and_datacenters_vary_across_hosts() {
        let tags: Vec<_> = (0..200).map(host_tags).collect();
        let regions: HashSet<&str> = tags.iter().map(|t| t[1].1.as_str()).collect();
        let dcs: HashSet<&str> = tags.iter().map(|t| t[2].1.as_str()).collect();
        assert_eq!(regions.len(), 9);
        assert!(dcs.len() > 20, "{} datacenters", dcs.len());
    }
}
