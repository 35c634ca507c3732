//! Prometheus remote write 2.0 messages (`io.prometheus.write.v2.Request`,
//! `prompb/io/prometheus/write/v2/types.proto` in the Prometheus
//! repository), hand-written for `prost` field by field from that file, so
//! the build needs no `protoc` (none is installed on the build machines).
//! Tags, wire types and packing follow the `.proto`; the gogoproto options
//! there only shape Go code and are not part of the wire format. The
//! histogram carries every field so tests and senders can build real ones.
//!
//! Strings are interned: `symbols[0]` is `""`, and every `*_ref(s)` field
//! is an index into `symbols`.
//!
//! ```
//! use prost::Message;
//! use strata_distributor::proto::v2::{Request, Sample, TimeSeries};
//! let req = Request {
//!     symbols: vec!["".into(), "__name__".into(), "http.server.duration".into()],
//!     timeseries: vec![TimeSeries {
//!         labels_refs: vec![1, 2],
//!         samples: vec![Sample { value: 1.0, timestamp: 1_700_000_000_000 }],
//!         ..Default::default()
//!     }],
//! };
//! let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).unwrap();
//! # assert!(!body.is_empty());
//! ```

/// `io.prometheus.write.v2.Request`. Tags 1 to 3 are reserved (a 1.0
/// `WriteRequest` decoded as this message is empty, and vice versa).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    /// The string table; the first entry must be `""`.
    #[prost(string, repeated, tag = "4")]
    pub symbols: Vec<String>,
    /// The series of the request.
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries>,
}

/// `io.prometheus.write.v2.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Label pairs as (name, value) symbol indices, sorted by name.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Float samples, oldest first (a series carries samples or histograms).
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histogram samples, oldest first.
    #[prost(message, repeated, tag = "3")]
    pub histograms: Vec<Histogram>,
    /// Exemplars of the samples.
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar>,
    /// Type, help and unit of the series' metric.
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<Metadata>,
    /// When the counter started counting, ms (0 = not set).
    #[prost(int64, tag = "6")]
    pub created_timestamp: i64,
}

/// `io.prometheus.write.v2.Exemplar`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Label pairs as symbol indices (e.g. `trace_id`).
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// The observed value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the Unix epoch (0 = not set).
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// `io.prometheus.write.v2.Sample`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `io.prometheus.write.v2.Metadata`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Metadata {
    /// `MetricType`: 0 unspecified, 1 counter, 2 gauge, 3 histogram,
    /// 4 gauge histogram, 5 summary, 6 info, 7 stateset.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// Symbol index of the help text (0 = none).
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    /// Symbol index of the unit (0 = none).
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

/// `io.prometheus.write.v2.Histogram` and `BucketSpan` have the field
/// numbers and types of remote write 1.0's `prometheus.Histogram` and
/// `prometheus.BucketSpan`, so they are the same Rust types.
pub use super::{BucketSpan, Histogram};
