//! The TSBS-like data of `loadgen` (`benches/src/tsbs.rs`), ported here so
//! the storage probes measure the same shape without storage depending on
//! `benches` (dependencies point down). Same seeds and arithmetic, so the
//! values are bit for bit those loadgen pushes: 51 series per host, the 10
//! TSBS host tags plus `job` and `instance`; cpu gauges are full-precision
//! random walks `clamp(prev + N(0,1), 0, 100)`, memory in whole 4 KiB pages,
//! integer counters, a 12-bucket classic histogram.
use strata_common::Labels;

const CPU_FIELDS: [&str; 10] =
    ["user", "system", "idle", "nice", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"];
const MEM_FIELDS: [&str; 6] = ["total", "available", "used", "free", "cached", "buffered"];
const STATUSES: [(&str, f64); 6] =
    [("200", 40.0), ("201", 4.0), ("301", 1.0), ("404", 2.0), ("500", 0.3), ("503", 0.1)];
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
const DISKIO: [(&str, f64); 7] = [
    ("diskio_reads_total", 80.0),
    ("diskio_writes_total", 150.0),
    ("diskio_read_bytes_total", 2.5e6),
    ("diskio_write_bytes_total", 4.0e6),
    ("diskio_read_time_ms_total", 40.0),
    ("diskio_write_time_ms_total", 120.0),
    ("diskio_io_time_ms_total", 140.0),
];
const LE: [&str; 12] = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"];
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

fn host_tags(n: usize) -> Vec<(&'static str, String)> {
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

/// splitmix64, as loadgen's.
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

    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn increment(&mut self, rate: f64, secs: f64) -> f64 {
        (rate * secs * (0.5 + self.uniform()) + self.uniform()).floor()
    }
}

fn phi(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 { 0.5 * (1.0 + erf) } else { 0.5 * (1.0 - erf) }
}

struct Host {
    labels: Vec<Labels>,
    rng: Rng,
    load: f64,
    cpu: [f64; 10],
    mem_total_pages: f64,
    mem_shares: [f64; 3],
    http: [f64; 6],
    net: [f64; 8],
    disk: [f64; 7],
    log_median: f64,
    buckets: [f64; 12],
    sum: f64,
    count: f64,
}

impl Host {
    fn new(n: usize) -> Self {
        let tags = host_tags(n);
        let node = format!("host_{n}:9100");
        let api = format!("host_{n}:8080");
        let with = |job: &str, inst: &str, more: &[(&str, &str)]| {
            let pairs = tags
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .chain([("job", job), ("instance", inst)])
                .chain(more.iter().copied());
            Labels::from_pairs(pairs).unwrap()
        };
        let mut labels = Vec::new();
        for f in CPU_FIELDS {
            labels.push(with("node", &node, &[("__name__", &format!("cpu_usage_{f}")), ("cpu", "cpu-total")]));
        }
        for f in MEM_FIELDS {
            labels.push(with("node", &node, &[("__name__", &format!("mem_{f}_bytes"))]));
        }
        for (status, _) in STATUSES {
            labels.push(with("api", &api, &[("__name__", "http_requests_total"), ("status", status)]));
        }
        for (name, _) in NET {
            labels.push(with("node", &node, &[("__name__", name), ("interface", "eth0")]));
        }
        for (name, _) in DISKIO {
            labels.push(with("node", &node, &[("__name__", name), ("name", "nvme0n1")]));
        }
        for le in LE {
            labels.push(with("api", &api, &[("__name__", "http_request_duration_seconds_bucket"), ("le", le)]));
        }
        labels.push(with("api", &api, &[("__name__", "http_request_duration_seconds_sum")]));
        labels.push(with("api", &api, &[("__name__", "http_request_duration_seconds_count")]));

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
        const SIGMA: f64 = 0.8;
        self.log_median = (self.log_median + 0.02 * rng.normal()).clamp(0.01f64.ln(), 0.2f64.ln());
        for (b, le) in self.buckets.iter_mut().zip(LE) {
            let share = match le.parse::<f64>() {
                Ok(le) => phi((le.ln() - self.log_median) / SIGMA),
                Err(_) => 1.0,
            };
            *b += (new_requests * share).round();
        }
        self.count += new_requests;
        self.sum += new_requests * (self.log_median + SIGMA * SIGMA / 2.0).exp();
    }

    fn values(&self, out: &mut Vec<f64>) {
        out.extend(self.cpu);
        let total = self.mem_total_pages;
        let pages: Vec<f64> = self.mem_shares.iter().map(|s| (total * s).floor()).collect();
        let (used, cached, buffered) = (pages[0], pages[1], pages[2]);
        let free = total - used - cached - buffered;
        out.extend([total, free + cached + buffered, used, free, cached, buffered].map(|p| p * PAGE));
        out.extend(self.http);
        out.extend(self.net);
        out.extend(self.disk);
        out.extend(self.buckets);
        out.extend([self.sum, self.count]);
    }
}

/// One series of the workload: labels, timestamps, values.
pub type Series = (Labels, Vec<i64>, Vec<f64>);

/// `hosts` × 51 series × `scrapes` samples 10 s apart from `t0`, sorted by labels.
pub fn workload(hosts: usize, scrapes: usize, t0: i64) -> Vec<Series> {
    let mut out = Vec::new();
    let mut values = Vec::new();
    for h in 0..hosts {
        let mut host = Host::new(h);
        let mut cols: Vec<Vec<f64>> = vec![Vec::with_capacity(scrapes); host.labels.len()];
        for s in 0..scrapes {
            if s > 0 {
                host.step(10.0);
            }
            values.clear();
            host.values(&mut values);
            for (c, &v) in cols.iter_mut().zip(&values) {
                c.push(v);
            }
        }
        let ts: Vec<i64> = (0..scrapes).map(|s| t0 + s as i64 * 10_000).collect();
        for (l, c) in host.labels.iter().zip(cols) {
            out.push((l.clone(), ts.clone(), c));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The information in one cpu gauge sample under the generator's own model
/// (a step `N(0,1)` rounded to the value's unit in the last place): `-log2`
/// of the probability of the observed step (at the clamps 0 and 100, of
/// the walk leaving the range). What a lossless coder that does not know
/// the generator's seeds needs at least, on average.
pub fn walk_step_bits(prev: f64, v: f64) -> f64 {
    if v == 0.0 {
        return -phi(-prev).max(1e-300).log2();
    }
    if v == 100.0 {
        return -(1.0 - phi(100.0 - prev)).max(1e-300).log2();
    }
    let ulp = f64::from_bits(v.abs().to_bits() + 1) - v.abs();
    let d = v - prev;
    let density = (-d * d / 2.0).exp() / (std::f64::consts::TAU).sqrt();
    -(density * ulp.max(f64::MIN_POSITIVE)).log2()
}
