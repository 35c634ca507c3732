//! Native histograms: the one in-memory representation every layer uses
//! (distributor, log record, memtable, files, head protocol, engine).
//!
//! Prometheus has an integer and a float histogram type. Strata keeps one
//! type, [`Histogram`], with absolute `f64` bucket counts (exact for
//! integer counts below 2^53) and a flag, [`Histogram::integer`], that says
//! the counts were integers when ingested; the byte encoding ([`codec`])
//! stores integer histograms as varint deltas and float ones as `f64` bits,
//! so both round-trip exactly. What Prometheus defines on histograms (bucket
//! bounds, quantiles, arithmetic, counter-reset detection) is in
//! [`buckets`] and [`ops`].
//!
//! Schemas: −4…8 are exponential (bucket `i` is `(2^((i−1)·2^−s)),
//! 2^(i·2^−s)]`); −53 ([`CUSTOM_BUCKETS_SCHEMA`]) has custom bounds
//! ([`Histogram::custom_values`]) and only positive buckets. A staleness
//! marker is a histogram whose sum is the staleness NaN.

pub mod buckets;
pub mod codec;
pub mod kahan;
pub mod ops;
pub mod text;
pub mod trim;

use crate::sample::{STALE_NAN_BITS, Timestamp, is_stale_nan};

/// The schema of histograms with custom bucket bounds (NHCB).
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;
/// The smallest exponential schema.
pub const MIN_SCHEMA: i32 = -4;
/// The largest exponential schema.
pub const MAX_SCHEMA: i32 = 8;

/// A run of consecutive buckets: `offset` from the end of the previous span
/// (from index 0 for the first), `length` buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Gap to the previous span's end (or the first bucket's index).
    pub offset: i32,
    /// Buckets in the span.
    pub length: u32,
}

/// What the sender knows about a counter reset at this sample
/// (Prometheus `CounterResetHint`; the numeric values are the wire values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum ResetHint {
    /// Nothing known: detect resets by comparing with the previous sample.
    #[default]
    Unknown = 0,
    /// A counter reset happened here.
    Reset = 1,
    /// No counter reset happened here.
    NotReset = 2,
    /// A gauge histogram: counts may go down.
    Gauge = 3,
}

impl ResetHint {
    /// The hint of a wire value (unknown values are [`ResetHint::Unknown`]).
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Reset,
            2 => Self::NotReset,
            3 => Self::Gauge,
            _ => Self::Unknown,
        }
    }
}

/// A native histogram sample's value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// The counts were integers when ingested (Prometheus `Histogram`
    /// rather than `FloatHistogram`); stored as varint deltas.
    pub integer: bool,
    /// The sender's counter-reset hint.
    pub hint: ResetHint,
    /// Bucket resolution: −4…8, or [`CUSTOM_BUCKETS_SCHEMA`].
    pub schema: i32,
    /// Observations with `|v| <= zero_threshold` count in the zero bucket.
    pub zero_threshold: f64,
    /// The zero bucket's count.
    pub zero_count: f64,
    /// Observations in total (includes NaN observations, which no bucket holds).
    pub count: f64,
    /// Sum of the observations (the staleness NaN marks a stale sample).
    pub sum: f64,
    /// Spans of the positive buckets.
    pub positive_spans: Vec<Span>,
    /// Absolute counts of the positive buckets, in index order.
    pub positive_buckets: Vec<f64>,
    /// Spans of the negative buckets.
    pub negative_spans: Vec<Span>,
    /// Absolute counts of the negative buckets, in index order.
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of the custom buckets (schema −53 only), increasing.
    pub custom_values: Vec<f64>,
}

/// One histogram sample.
#[derive(Debug, Clone, PartialEq)]
pub struct HistSample {
    /// Milliseconds since the Unix epoch.
    pub t: Timestamp,
    /// The histogram (shared: samples are copied between layers cheaply).
    pub h: std::sync::Arc<Histogram>,
}

impl HistSample {
    /// A sample of `h` at `t`.
    pub fn new(t: Timestamp, h: Histogram) -> Self {
        Self { t, h: std::sync::Arc::new(h) }
    }
}

/// Sorts histogram samples by time, keeping the one written last for equal
/// timestamps (as [`crate::sample::sort_dedup_samples`]).
pub fn sort_dedup_hist(samples: &mut Vec<HistSample>) {
    if samples.windows(2).all(|w| w[0].t < w[1].t) {
        return;
    }
    samples.sort_by_key(|s| s.t);
    let mut out: Vec<HistSample> = Vec::with_capacity(samples.len());
    for s in samples.drain(..) {
        match out.last_mut() {
            Some(last) if last.t == s.t => *last = s,
            _ => out.push(s),
        }
    }
    *samples = out;
}

impl Histogram {
    /// A staleness marker (sum = the staleness NaN, everything else empty).
    pub fn stale_marker() -> Self {
        Self { sum: f64::from_bits(STALE_NAN_BITS), ..Self::default() }
    }

    /// Whether this is a staleness marker.
    pub fn is_stale(&self) -> bool {
        is_stale_nan(self.sum)
    }

    /// Whether the buckets are custom (schema −53).
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// Checks the invariants Prometheus checks on ingest: a known schema,
    /// spans that cover exactly the buckets, non-negative counts (integer
    /// histograms), the bucket total not above `count` (unless the sum is
    /// NaN), custom bounds only with schema −53 and increasing.
    pub fn validate(&self) -> Result<(), String> {
        if self.is_stale() {
            return Ok(());
        }
        let custom = self.uses_custom_buckets();
        if !custom && !(MIN_SCHEMA..=MAX_SCHEMA).contains(&self.schema) {
            return Err(format!("histogram has an invalid schema {} (must be -4…8 or -53)", self.schema));
        }
        check_spans("positive", &self.positive_spans, self.positive_buckets.len())?;
        check_spans("negative", &self.negative_spans, self.negative_buckets.len())?;
        if custom {
            if !self.negative_buckets.is_empty() || !self.negative_spans.is_empty() {
                return Err("histogram with custom buckets has negative buckets".into());
            }
            if self.zero_count != 0.0 || self.zero_threshold != 0.0 {
                return Err("histogram with custom buckets has a zero bucket".into());
            }
            if self.custom_values.windows(2).any(|w| w[0] >= w[1]) || self.custom_values.iter().any(|v| v.is_nan()) {
                return Err("histogram custom bounds are not increasing".into());
            }
            if self.positive_spans.first().is_some_and(|s| s.offset < 0) {
                return Err("histogram with custom buckets has a negative span offset".into());
            }
            let last = self.positive_spans.iter().map(|s| i64::from(s.offset) + i64::from(s.length)).sum::<i64>();
            if last > self.custom_values.len() as i64 + 1 {
                return Err("histogram has more custom buckets than bounds".into());
            }
        } else if !self.custom_values.is_empty() {
            return Err("histogram with an exponential schema has custom bounds".into());
        }
        let buckets = self.positive_buckets.iter().chain(&self.negative_buckets);
        if buckets.clone().chain([&self.zero_count, &self.count]).any(|c| *c < 0.0 || c.is_nan()) {
            return Err("histogram has a negative or NaN count".into());
        }
        let total: f64 = buckets.sum::<f64>() + self.zero_count;
        if !self.sum.is_nan() && total > self.count * (1.0 + 1e-9) {
            return Err(format!(
                "histogram's observation count {} is less than its buckets' total {total}",
                self.count
            ));
        }
        if !self.sum.is_nan() && self.integer && total != self.count {
            return Err(format!(
                "histogram's observation count {} differs from its buckets' total {total}",
                self.count
            ));
        }
        Ok(())
    }

    /// Approximate heap bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        size_of::<Self>()
            + (self.positive_spans.len() + self.negative_spans.len()) * size_of::<Span>()
            + (self.positive_buckets.len() + self.negative_buckets.len() + self.custom_values.len()) * 8
    }
}

/// Spans must have non-negative offsets after the first and lengths that
/// add up to the bucket count.
fn check_spans(side: &str, spans: &[Span], buckets: usize) -> Result<(), String> {
    if spans.iter().skip(1).any(|s| s.offset < 0) {
        return Err(format!("histogram has a negative {side} span offset after the first span"));
    }
    let covered: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
    if covered != buckets as u64 {
        return Err(format!("histogram's {side} spans cover {covered} buckets but it has {buckets}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h() -> Histogram {
        Histogram {
            integer: true,
            schema: 0,
            count: 6.0,
            sum: 10.0,
            zero_count: 1.0,
            zero_threshold: 0.001,
            positive_spans: vec![Span { offset: 0, length: 2 }, Span { offset: 1, length: 1 }],
            positive_buckets: vec![1.0, 2.0, 1.0],
            negative_spans: vec![Span { offset: 1, length: 1 }],
            negative_buckets: vec![1.0],
            ..Histogram::default()
        }
    }

    #[test]
    fn validates_like_prometheus() {
        assert_eq!(h().validate(), Ok(()));
        assert!(Histogram { schema: 9, ..h() }.validate().is_err());
        assert!(Histogram { schema: -5, ..h() }.validate().is_err());
        assert!(Histogram { count: 5.0, ..h() }.validate().is_err());
        assert!(Histogram { positive_buckets: vec![1.0, 2.0], ..h() }.validate().is_err());
        assert!(Histogram::stale_marker().validate().is_ok());
        let nhcb = Histogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: 3.0,
            sum: 1.0,
            positive_spans: vec![Span { offset: 0, length: 3 }],
            positive_buckets: vec![1.0, 1.0, 1.0],
            custom_values: vec![1.0, 2.0],
            ..Histogram::default()
        };
        assert_eq!(nhcb.validate(), Ok(()));
        assert!(Histogram { custom_values: vec![2.0, 1.0], ..nhcb.clone() }.validate().is_err());
        assert!(Histogram { custom_values: vec![1.0], ..nhcb }.validate().is_err());
    }

    #[test]
    fn sort_dedup_keeps_last() {
        let mut s =
            vec![HistSample::new(2, h()), HistSample::new(1, h()), HistSample::new(2, Histogram { sum: 3.0, ..h() })];
        sort_dedup_hist(&mut s);
        assert_eq!(s.iter().map(|s| s.t).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(s[1].h.sum, 3.0);
    }
}
