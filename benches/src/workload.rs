//! The generated workloads and the machinery they share: a [`Workload`]
//! (hosts, scrapes, interval, request size, sender lanes) and a [`Data`]
//! set that says what each host exposes, encoded once into
//! snappy-compressed remote-write requests so generation cost never counts
//! against a system under test. Two data sets:
//! - [`Data::Node`] (the default of `--mode ingest` and `--mode disk`): 10
//!   CPU gauges, 6 counters and a 10-series latency histogram (26 series
//!   per host), generated here;
//! - [`Data::Tsbs`] (the default of `--mode mixed`): TSBS-like hosts with 14
//!   labels per series and full-precision float random walks, 51 series per
//!   host, see [`crate::tsbs`].
//!
//! Requests are split into `workers` lanes by host; each lane sends its
//! requests in time order, so every series arrives in order (Prometheus
//! rejects out-of-order samples; the comparison must be fair). Each request
//! holds exactly `samples_per_request` samples (the last of a lane fewer),
//! filled across scrapes, as a Prometheus remote-write queue does.
//! [`crate::push`] sends the lanes, keeping them within a time window of
//! each other.

use prost::Message;
use strata_distributor::proto::{Label, Sample, TimeSeries, WriteRequest};

/// Which data set a [`Workload`] generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// The node-exporter-like set of this module (26 series per host).
    Node,
    /// The TSBS-like set of [`crate::tsbs`] (51 series per host).
    Tsbs,
}

impl Data {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "node" => Data::Node,
            "tsbs" => Data::Tsbs,
            other => anyhow::bail!("unknown data set {other:?} (node, tsbs)"),
        })
    }

    pub fn series_per_host(self) -> usize {
        match self {
            Data::Node => SERIES_PER_HOST,
            Data::Tsbs => crate::tsbs::SERIES_PER_HOST,
        }
    }

    /// A fresh generator for one lane (generators may keep per-host state,
    /// such as random walks; a host always belongs to one lane).
    fn generator(self) -> Box<dyn Generator + Send> {
        match self {
            Data::Node => Box::new(NodeGenerator),
            Data::Tsbs => Box::new(crate::tsbs::TsbsGenerator::default()),
        }
    }
}

/// Produces one host's series at one scrape. Called for each host with
/// `scrape` increasing (0, 1, 2, ...), so a generator may carry state from
/// one scrape to the next.
pub trait Generator {
    /// Appends host `h`'s series at scrape number `scrape` (time `t`, Unix ms).
    fn host_series(&mut self, h: usize, scrape: usize, t: i64, out: &mut Vec<TimeSeries>);
}

/// Shape of the generated data.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub data: Data,
    pub hosts: usize,
    pub scrapes: usize,
    pub interval_ms: i64,
    /// Timestamp of the first scrape.
    pub start_ms: i64,
    /// Max samples per request (Prometheus' `max_samples_per_send` is 2000).
    pub samples_per_request: usize,
    pub workers: usize,
}

/// One encoded remote-write request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Timestamp of the newest sample in it (the push pacing uses it).
    pub newest_ms: i64,
    /// Snappy-compressed `WriteRequest`.
    pub body: Vec<u8>,
}

/// Requests per sender lane, each lane in send order.
pub type Lanes = Vec<Vec<Request>>;

/// Histogram bucket bounds of the node set's `http_request_duration_seconds`.
const BUCKETS: [&str; 8] = ["0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"];

/// Series per host of [`Data::Node`].
pub const SERIES_PER_HOST: usize = 10 + 6 + BUCKETS.len() + 2;

impl Workload {
    pub fn end_ms(&self) -> i64 {
        self.start_ms + (self.scrapes as i64 - 1) * self.interval_ms
    }

    pub fn total_samples(&self) -> usize {
        self.hosts * self.data.series_per_host() * self.scrapes
    }

    /// Number of sender lanes (never more than hosts, so none is empty).
    pub fn lanes(&self) -> usize {
        self.workers.clamp(1, self.hosts.max(1))
    }

    /// Pre-encoded requests per lane, in send order; lanes are encoded in
    /// parallel, one thread each.
    pub fn encode(&self) -> Lanes {
        let lanes = self.lanes();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..lanes).map(|lane| s.spawn(move || self.encode_lane(lane, lanes))).collect();
            // Invariant: encode_lane does not panic (join only fails on a panic).
            handles.into_iter().map(|h| h.join().expect("encoder thread panicked")).collect()
        })
    }

    fn encode_lane(&self, lane: usize, lanes: usize) -> Vec<Request> {
        let mut generator = self.data.generator();
        let hosts: Vec<usize> = (lane..self.hosts).step_by(lanes).collect();
        let mut out = Vec::new();
        let mut pending: Vec<TimeSeries> = Vec::with_capacity(self.samples_per_request);
        let mut scrape_series = Vec::new();
        for scrape in 0..self.scrapes {
            let t = self.start_ms + scrape as i64 * self.interval_ms;
            for &h in &hosts {
                generator.host_series(h, scrape, t, &mut scrape_series);
                for ts in scrape_series.drain(..) {
                    pending.push(ts);
                    if pending.len() == self.samples_per_request {
                        out.push(Request { newest_ms: t, body: encode(std::mem::take(&mut pending)) });
                    }
                }
            }
        }
        if !pending.is_empty() {
            out.push(Request { newest_ms: self.end_ms(), body: encode(pending) });
        }
        out
    }
}

fn encode(timeseries: Vec<TimeSeries>) -> Vec<u8> {
    let req = WriteRequest { timeseries, ..Default::default() };
    let raw = req.encode_to_vec();
    // Invariant: snappy block compression of an in-memory buffer cannot fail
    // below its 4 GiB input limit; requests here are a few hundred KiB.
    snap::raw::Encoder::new().compress_vec(&raw).expect("snappy compress")
}

/// One sample of the series named by `pairs` (sorted by label name here).
pub fn series(pairs: &[(&str, &str)], t: i64, v: f64) -> TimeSeries {
    let mut labels: Vec<Label> =
        pairs.iter().map(|(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    TimeSeries { labels, samples: vec![Sample { value: v, timestamp: t }], ..Default::default() }
}

/// A cheap deterministic pseudo-random number in [0, 1).
pub fn noise(a: usize, b: usize, c: usize) -> f64 {
    let mut x =
        (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (b as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F) ^ c as u64;
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// [`Data::Node`]: stateless, every value a function of host and scrape.
struct NodeGenerator;

impl Generator for NodeGenerator {
    fn host_series(&mut self, h: usize, scrape: usize, t: i64, out: &mut Vec<TimeSeries>) {
        node_host_series(h, scrape, t, out);
    }
}

fn node_host_series(h: usize, scrape: usize, t: i64, out: &mut Vec<TimeSeries>) {
    let host = format!("host-{h:05}");
    let host = host.as_str();
    let dc = ["eu-west", "us-east", "ap-south"][h % 3];
    for cpu in 0..10 {
        let cpu_s = cpu.to_string();
        let v = (20.0 + 60.0 * noise(h, cpu, scrape)).round();
        out.push(series(
            &[("__name__", "cpu_usage_percent"), ("host", host), ("dc", dc), ("cpu", &cpu_s), ("job", "node")],
            t,
            v,
        ));
    }
    let s = scrape as f64;
    for (i, dev) in ["eth0", "eth1"].iter().enumerate() {
        let v = s * (1000.0 + 100.0 * (h % 7) as f64) * (i + 1) as f64;
        out.push(series(
            &[
                ("__name__", "node_network_receive_bytes_total"),
                ("host", host),
                ("dc", dc),
                ("device", dev),
                ("job", "node"),
            ],
            t,
            v,
        ));
    }
    for (i, (code, method)) in [("200", "GET"), ("200", "POST"), ("500", "GET"), ("500", "POST")].iter().enumerate() {
        let rate = if *code == "200" { 10.0 } else { 0.1 };
        let v = (s * rate * (1 + i + h % 5) as f64).floor();
        out.push(series(
            &[
                ("__name__", "http_requests_total"),
                ("host", host),
                ("dc", dc),
                ("code", code),
                ("method", method),
                ("job", "api"),
            ],
            t,
            v,
        ));
    }
    let count = s * 50.0;
    for (i, le) in BUCKETS.iter().enumerate() {
        let share = ((i + 1) as f64 / BUCKETS.len() as f64).sqrt();
        out.push(series(
            &[
                ("__name__", "http_request_duration_seconds_bucket"),
                ("host", host),
                ("dc", dc),
                ("le", le),
                ("job", "api"),
            ],
            t,
            (count * share).floor(),
        ));
    }
    out.push(series(
        &[("__name__", "http_request_duration_seconds_sum"), ("host", host), ("dc", dc), ("job", "api")],
        t,
        count * 0.12,
    ));
    out.push(series(
        &[("__name__", "http_request_duration_seconds_count"), ("host", host), ("dc", dc), ("job", "api")],
        t,
        count,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes every request of `lanes` into its series.
    pub(crate) fn decode_all(lanes: &Lanes) -> Vec<TimeSeries> {
        lanes
            .iter()
            .flatten()
            .flat_map(|r| {
                let raw = snap::raw::Decoder::new().decompress_vec(&r.body).unwrap();
                WriteRequest::decode(raw.as_slice()).unwrap().timeseries
            })
            .collect()
    }

    #[test]
    fn every_sample_is_encoded_once_in_full_requests() {
        for data in [Data::Node, Data::Tsbs] {
            let w = Workload {
                data,
                hosts: 7,
                scrapes: 3,
                interval_ms: 10_000,
                start_ms: 0,
                samples_per_request: 50,
                workers: 2,
            };
            let lanes = w.encode();
            assert_eq!(decode_all(&lanes).len(), w.total_samples(), "{data:?}");
            for lane in &lanes {
                for (i, r) in lane.iter().enumerate() {
                    let raw = snap::raw::Decoder::new().decompress_vec(&r.body).unwrap();
                    let n = WriteRequest::decode(raw.as_slice()).unwrap().timeseries.len();
                    assert!(n == 50 || i == lane.len() - 1, "{data:?}: request {i} holds {n} samples");
                }
                assert!(lane.windows(2).all(|p| p[0].newest_ms <= p[1].newest_ms));
            }
        }
    }

    #[test]
    fn more_workers_than_hosts_leaves_no_lane_empty() {
        let w = Workload {
            data: Data::Node,
            hosts: 2,
            scrapes: 2,
            interval_ms: 10_000,
            start_ms: 0,
            samples_per_request: 2000,
            workers: 8,
        };
        let lanes = w.encode();
        assert_eq!(lanes.len(), 2);
        assert!(lanes.iter().all(|l| !l.is_empty()));
    }
}
