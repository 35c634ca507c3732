//! Native histograms of remote write 1.0 (`TimeSeries.histograms`): from
//! the wire (or a `prost`-decoded request) into Strata's
//! [`strata_common::Histogram`], validated, for the log record.
//!
//! Integer histograms (`count_int`) carry bucket deltas; float histograms
//! (`count_float`) absolute counts. A histogram whose sum is the staleness
//! NaN is a staleness marker and is stored as one whatever its buckets.

use prost::Message;
use strata_common::histogram::{CUSTOM_BUCKETS_SCHEMA, HistSample, Histogram, ResetHint, Span};
use strata_common::sample::is_stale_nan;

use super::error::PushError;
use super::{proto, validate};

/// A histogram of a request, decoded when the series is prepared.
#[derive(Debug, Clone, Copy)]
pub(crate) enum HistSrc<'a> {
    /// The encoded `prometheus.Histogram` message.
    Wire(&'a [u8]),
    /// Already decoded by `prost`.
    Proto(&'a proto::Histogram),
}

impl HistSrc<'_> {
    /// The histogram sample, or why it is invalid.
    pub(crate) fn decode(&self) -> Result<HistSample, String> {
        match self {
            HistSrc::Wire(bytes) => {
                let p = proto::Histogram::decode(*bytes).map_err(|e| format!("bad protobuf: {e}"))?;
                convert(&p)
            }
            HistSrc::Proto(p) => convert(p),
        }
    }
}

/// The histograms of one series, decoded and validated (an invalid one is
/// a 400 naming the series).
pub(crate) fn decode_series(labels: &[(&str, &str)], srcs: &[HistSrc<'_>]) -> Result<Vec<HistSample>, PushError> {
    srcs.iter()
        .map(|h| {
            h.decode().map_err(|reason| PushError::InvalidHistogram { series: validate::format_series(labels), reason })
        })
        .collect()
}

/// Absolute counts from deltas (integer histograms), refusing overflow and
/// negative counts.
fn from_deltas(deltas: &[i64]) -> Result<Vec<f64>, String> {
    let mut acc = 0i64;
    deltas
        .iter()
        .map(|&d| {
            acc = acc.checked_add(d).ok_or("bucket count overflows")?;
            if acc < 0 {
                return Err(format!("negative bucket count {acc}"));
            }
            Ok(acc as f64)
        })
        .collect()
}

fn spans(s: &[proto::BucketSpan]) -> Vec<Span> {
    s.iter().map(|s| Span { offset: s.offset, length: s.length }).collect()
}

/// Converts and validates one `prometheus.Histogram`.
pub(crate) fn convert(p: &proto::Histogram) -> Result<HistSample, String> {
    if is_stale_nan(p.sum) {
        return Ok(HistSample::new(p.timestamp, Histogram::stale_marker()));
    }
    let integer = p.count_float.is_none();
    let (count, zero_count, positive_buckets, negative_buckets) = if integer {
        if !p.positive_counts.is_empty() || !p.negative_counts.is_empty() {
            return Err("integer histogram with float bucket counts".into());
        }
        (
            p.count_int.unwrap_or(0) as f64,
            p.zero_count_int.unwrap_or(0) as f64,
            from_deltas(&p.positive_deltas)?,
            from_deltas(&p.negative_deltas)?,
        )
    } else {
        if !p.positive_deltas.is_empty() || !p.negative_deltas.is_empty() {
            return Err("float histogram with integer bucket deltas".into());
        }
        (
            p.count_float.unwrap_or(0.0),
            p.zero_count_float.unwrap_or(0.0),
            p.positive_counts.clone(),
            p.negative_counts.clone(),
        )
    };
    let h = Histogram {
        integer,
        hint: u8::try_from(p.reset_hint).map_or(ResetHint::Unknown, ResetHint::from_u8),
        schema: p.schema,
        zero_threshold: p.zero_threshold,
        zero_count,
        count,
        sum: p.sum,
        positive_spans: spans(&p.positive_spans),
        positive_buckets,
        negative_spans: spans(&p.negative_spans),
        negative_buckets,
        custom_values: if p.schema == CUSTOM_BUCKETS_SCHEMA { p.custom_values.clone() } else { Vec::new() },
    };
    if p.schema != CUSTOM_BUCKETS_SCHEMA && !p.custom_values.is_empty() {
        return Err("custom bucket bounds with an exponential schema".into());
    }
    h.validate()?;
    Ok(HistSample::new(p.timestamp, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::BucketSpan;

    fn int_hist() -> proto::Histogram {
        proto::Histogram {
            count_int: Some(7),
            sum: 12.5,
            schema: 2,
            zero_threshold: 1e-128,
            zero_count_int: Some(1),
            positive_spans: vec![BucketSpan { offset: -1, length: 2 }, BucketSpan { offset: 3, length: 1 }],
            positive_deltas: vec![1, 1, -1],
            negative_spans: vec![BucketSpan { offset: 0, length: 1 }],
            negative_deltas: vec![2],
            reset_hint: 2,
            timestamp: 1000,
            ..Default::default()
        }
    }

    #[test]
    fn integer_histograms_from_deltas() {
        let s = HistSrc::Wire(&int_hist().encode_to_vec()).decode().unwrap();
        assert_eq!(s.t, 1000);
        assert!(s.h.integer);
        assert_eq!(s.h.hint, ResetHint::NotReset);
        assert_eq!(s.h.positive_buckets, vec![1.0, 2.0, 1.0]);
        assert_eq!(s.h.negative_buckets, vec![2.0]);
        assert_eq!(s.h.positive_spans[1], Span { offset: 3, length: 1 });
    }

    #[test]
    fn float_and_custom_bucket_histograms() {
        let p = proto::Histogram {
            count_float: Some(3.5),
            sum: 4.0,
            schema: CUSTOM_BUCKETS_SCHEMA,
            positive_spans: vec![BucketSpan { offset: 0, length: 3 }],
            positive_counts: vec![1.0, 2.0, 0.5],
            custom_values: vec![0.1, 1.0],
            reset_hint: 3,
            ..Default::default()
        };
        let s = HistSrc::Proto(&p).decode().unwrap();
        assert!(!s.h.integer);
        assert_eq!(s.h.hint, ResetHint::Gauge);
        assert_eq!(s.h.custom_values, vec![0.1, 1.0]);
    }

    #[test]
    fn invalid_histograms_name_the_problem() {
        let bad_schema = proto::Histogram { schema: 9, ..int_hist() };
        assert!(convert(&bad_schema).unwrap_err().contains("schema 9"));
        let bad_count = proto::Histogram { count_int: Some(2), ..int_hist() };
        assert!(convert(&bad_count).unwrap_err().contains("count"));
        let negative = proto::Histogram { positive_deltas: vec![1, -2, 1], ..int_hist() };
        assert!(convert(&negative).unwrap_err().contains("negative"));
        let bad_spans = proto::Histogram { positive_deltas: vec![1, 1], ..int_hist() };
        assert!(convert(&bad_spans).unwrap_err().contains("spans"));
        assert!(HistSrc::Wire(&[0xff]).decode().unwrap_err().contains("protobuf"));
        let stale = proto::Histogram { sum: strata_common::sample::stale_nan(), schema: 100, ..Default::default() };
        assert!(convert(&stale).unwrap().h.is_stale());
    }
}
