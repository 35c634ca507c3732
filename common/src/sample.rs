//! Samples, timestamps and Prometheus staleness markers.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, as in Prometheus.
pub type Timestamp = i64;

/// The bit pattern Prometheus writes when a series goes stale
/// (`value.StaleNaN`). Distinct from any NaN a computation produces.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as a float.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is exactly the staleness marker.
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: Timestamp,
    /// The value (a staleness marker is a special NaN).
    pub v: f64,
}

impl Sample {
    /// A sample of value `v` at time `t`.
    pub fn new(t: Timestamp, v: f64) -> Self {
        Self { t, v }
    }
}

/// Sorts samples by time and keeps, for equal timestamps, the one appended
/// last (the newest write wins, as in an out-of-order-tolerant head).
pub fn sort_dedup_samples(samples: &mut Vec<Sample>) {
    if samples.windows(2).all(|w| w[0].t < w[1].t) {
        return;
    }
    // Stable sort keeps append order among equal timestamps.
    samples.sort_by_key(|s| s.t);
    let mut out = 0;
    for i in 0..samples.len() {
        if out > 0 && samples[out - 1].t == samples[i].t {
            samples[out - 1] = samples[i];
        } else {
            samples[out] = samples[i];
            out += 1;
        }
    }
    samples.truncate(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_marker_is_a_specific_nan() {
        assert!(is_stale_nan(stale_nan()));
        assert!(stale_nan().is_nan());
        assert!(!is_stale_nan(f64::NAN));
    }

    #[test]
    fn sort_dedup_keeps_last_written() {
        let mut s = vec![Sample::new(3, 1.0), Sample::new(1, 2.0), Sample::new(3, 5.0), Sample::new(2, 0.0)];
        sort_dedup_samples(&mut s);
        assert_eq!(s, vec![Sample::new(1, 2.0), Sample::new(2, 0.0), Sample::new(3, 5.0)]);
    }
}
