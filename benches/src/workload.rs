//! The realistic workload: `hosts` machines scraped every `interval`, each
//! exposing 10 CPU gauges, 6 counters and a 10-series latency histogram
//! (26 series per host), encoded once into snappy-compressed remote-write
//! requests so generation cost never counts against a system under test.
//!
//! Requests are split into `workers` lanes by host; each lane sends its
//! requests in time order, so every series arrives in order (Prometheus
//! rejects out-of-order samples; the comparison must be fair).

use prost::Message;
use strata_distributor::proto::{Label, Sample, TimeSeries, WriteRequest};

/// Shape of the generated data.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub hosts: usize,
    pub scrapes: usize,
    pub interval_ms: i64,
    /// Timestamp of the first scrape.
    pub start_ms: i64,
    /// Max samples per request (Prometheus' `max_samples_per_send` is 2000).
    pub samples_per_request: usize,
    pub workers: usize,
}

/// Histogram bucket bounds of `http_request_duration_seconds`.
const BUCKETS: [&str; 8] = ["0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"];

/// Series per host.
pub const SERIES_PER_HOST: usize = 10 + 6 + BUCKETS.len() + 2;

impl Workload {
    pub fn end_ms(&self) -> i64 {
        self.start_ms + (self.scrapes as i64 - 1) * self.interval_ms
    }

    pub fn total_samples(&self) -> usize {
        self.hosts * SERIES_PER_HOST * self.scrapes
    }

    /// Pre-encoded request bodies per worker lane, in send order.
    pub fn encode(&self) -> Vec<Vec<Vec<u8>>> {
        let mut lanes = vec![Vec::new(); self.workers];
        for (lane, out) in lanes.iter_mut().enumerate() {
            let hosts: Vec<usize> = (lane..self.hosts).step_by(self.workers).collect();
            for scrape in 0..self.scrapes {
                let t = self.start_ms + scrape as i64 * self.interval_ms;
                let mut series = Vec::new();
                for &h in &hosts {
                    host_series(h, scrape, t, &mut series);
                    if series.len() >= self.samples_per_request {
                        out.push(encode(std::mem::take(&mut series)));
                    }
                }
                if !series.is_empty() {
                    out.push(encode(series));
                }
            }
        }
        lanes
    }
}

fn encode(timeseries: Vec<TimeSeries>) -> Vec<u8> {
    let req = WriteRequest { timeseries, ..Default::default() };
    let raw = req.encode_to_vec();
    // Invariant: snappy block compression of an in-memory buffer cannot fail
    // below its 4 GiB input limit; requests here are a few hundred KiB.
    snap::raw::Encoder::new().compress_vec(&raw).expect("snappy compress")
}

fn series(pairs: &[(&str, &str)], t: i64, v: f64) -> TimeSeries {
    let mut labels: Vec<Label> =
        pairs.iter().map(|(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    TimeSeries { labels, samples: vec![Sample { value: v, timestamp: t }], ..Default::default() }
}

/// A cheap deterministic pseudo-random number in [0, 1).
fn noise(a: usize, b: usize, c: usize) -> f64 {
    let mut x =
        (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (b as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F) ^ c as u64;
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn host_series(h: usize, scrape: usize, t: i64, out: &mut Vec<TimeSeries>) {
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

    #[test]
    fn every_sample_is_encoded_once() {
        let w =
            Workload { hosts: 7, scrapes: 3, interval_ms: 10_000, start_ms: 0, samples_per_request: 50, workers: 2 };
        let lanes = w.encode();
        let n: usize = lanes
            .iter()
            .flatten()
            .map(|b| {
                let raw = snap::raw::Decoder::new().decompress_vec(b).unwrap();
                WriteRequest::decode(raw.as_slice()).unwrap().timeseries.len()
            })
            .sum();
        assert_eq!(n, w.total_samples());
    }
}
