//! Validation of remote-write series, done on the decoded protobuf structs
//! (no copies) for the whole request before anything is appended.

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
