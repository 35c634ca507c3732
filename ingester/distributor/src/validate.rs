//! Validation of remote-write series, done on the decoded protobuf structs
//! (no copies) for the whole request before anything is appended.

use strata_common::Sample;
use strata_common::labels::{METRIC_NAME, is_valid_label_name, is_valid_metric_name};

use super::error::PushError;

/// Checks one series: no native histograms; label names non-empty, valid,
/// unique and sorted ascending (byte order, as Prometheus sorts); a valid
/// `__name__` with a non-empty value. Empty label values are allowed here
/// and dropped when the series is encoded (Prometheus semantics).
pub(crate) fn validate_series(labels: &[(&str, &str)], histograms: u32) -> Result<(), PushError> {
    if histograms > 0 {
        return Err(PushError::NativeHistograms { series: format_series(labels) });
    }
    let invalid = |reason: String| PushError::InvalidSeries { series: format_series(labels), reason };
    let mut metric_name = None;
    let mut prev: Option<&str> = None;
    for &(name, value) in labels {
        if name.is_empty() {
            return Err(invalid(format!("empty label name (with value {value:?})")));
        }
        if !is_valid_label_name(name) {
            return Err(invalid(format!("invalid label name {name:?}: must match [a-zA-Z_][a-zA-Z0-9_]*")));
        }
        if let Some(p) = prev {
            if p == name {
                return Err(invalid(format!("duplicate label name {name:?}")));
            }
            if p > name {
                return Err(invalid(format!("labels are not sorted by name: {p:?} comes before {name:?}")));
            }
        }
        prev = Some(name);
        if name == METRIC_NAME {
            metric_name = Some(value);
        }
    }
    match metric_name {
        None | Some("") => Err(invalid(format!("missing metric name (label {METRIC_NAME})"))),
        Some(m) if !is_valid_metric_name(m) => Err(invalid(format!(
            "invalid metric name {m:?} in label {METRIC_NAME}: must match [a-zA-Z_:][a-zA-Z0-9_:]*"
        ))),
        Some(_) => Ok(()),
    }
}

/// Result of [`check_sample_times`].
#[derive(Debug, Default)]
pub(crate) struct TimeCheck {
    pub too_old: u64,
    pub too_new: u64,
    /// The error naming the first offending series, if any.
    pub error: Option<PushError>,
}

/// Counts the samples outside `[min_t, max_t]` over the whole request.
pub(crate) fn check_sample_times<'a>(
    series: impl Iterator<Item = (&'a [(&'a str, &'a str)], &'a [Sample])>,
    min_t: i64,
    max_t: i64,
) -> TimeCheck {
    let mut out = TimeCheck::default();
    let mut first_old = None;
    for (labels, samples) in series {
        for s in samples {
            if s.t < min_t {
                out.too_old += 1;
                first_old.get_or_insert_with(|| (format_series(labels), s.t));
            } else if s.t > max_t {
                out.too_new += 1;
                if out.error.is_none() {
                    out.error =
                        Some(PushError::SampleTooNew { series: format_series(labels), timestamp: s.t, max: max_t });
                }
            }
        }
    }
    if let Some((series, timestamp)) = first_old {
        out.error = Some(PushError::SampleTooOld { series, timestamp, min: min_t, count: out.too_old });
    }
    out
}

/// Whether any label has an empty value (and so must be dropped).
pub(crate) fn has_empty_values(labels: &[(&str, &str)]) -> bool {
    labels.iter().any(|(_, v)| v.is_empty())
}

/// Prometheus notation of labels as sent: `name{a="b", c="d"}`.
pub(crate) fn format_series(labels: &[(&str, &str)]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    if let Some((_, v)) = labels.iter().find(|(n, _)| *n == METRIC_NAME) {
        s.push_str(v);
    }
    s.push('{');
    let mut first = true;
    for (n, v) in labels.iter().filter(|(n, _)| *n != METRIC_NAME) {
        if !first {
            s.push_str(", ");
        }
        first = false;
        let _ = write!(s, "{n}={v:?}");
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(pairs: &[(&str, &str)]) -> String {
        validate_series(pairs, 0).unwrap_err().to_string()
    }

    #[test]
    fn accepts_valid_series() {
        validate_series(&[("__name__", "up"), ("instance", "a:9090"), ("job", "")], 0).unwrap();
        validate_series(&[("__name__", "ns:rate_5m")], 0).unwrap();
    }

    #[test]
    fn sample_times_outside_the_window_name_the_series() {
        let a: &[(&str, &str)] = &[("__name__", "a")];
        let b: &[(&str, &str)] = &[("__name__", "b"), ("job", "j")];
        let (sa, sb) = ([Sample::new(100, 1.0), Sample::new(50, 1.0)], [Sample::new(10, 1.0), Sample::new(500, 1.0)]);
        let ok = check_sample_times([(a, &sa[..]), (b, &sb[..])].into_iter(), 0, 1_000);
        assert!(ok.error.is_none() && ok.too_old == 0 && ok.too_new == 0);
        let old = check_sample_times([(a, &sa[..]), (b, &sb[..])].into_iter(), 60, 1_000);
        assert_eq!((old.too_old, old.too_new), (2, 0));
        let msg = old.error.unwrap().to_string();
        assert!(msg.contains("series a{}") && msg.contains("timestamp 50 is before 60"), "{msg}");
        let new = check_sample_times([(b, &sb[..])].into_iter(), 0, 400);
        assert_eq!(new.too_new, 1);
        let e = new.error.unwrap();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        assert!(e.to_string().contains("b{job=\"j\"}"), "{e}");
    }

    #[test]
    fn names_series_and_label_at_fault() {
        let m = reason(&[("__name__", "up"), ("job", "a"), ("bad-label", "x")]);
        assert!(m.contains("up{job=\"a\", bad-label=\"x\"}") && m.contains("\"bad-label\""), "{m}");
        assert!(reason(&[("__name__", "up"), ("job", "a"), ("job", "b")]).contains("duplicate label name \"job\""));
        assert!(reason(&[("__name__", "up"), ("z", "a"), ("a", "b")]).contains("not sorted"));
        assert!(reason(&[("__name__", "up"), ("", "b")]).contains("empty label name"));
        assert!(reason(&[("job", "a")]).contains("missing metric name"));
        assert!(reason(&[("__name__", ""), ("job", "a")]).contains("missing metric name"));
        assert!(reason(&[("__name__", "1up")]).contains("invalid metric name \"1up\""));
        let h = validate_series(&[("__name__", "h")], 1).unwrap_err().to_string();
        assert!(h.contains("native histograms not supported yet (series h{})"), "{h}");
    }
}
