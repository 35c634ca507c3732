//! Validation of remote-write series, done on the decoded protobuf structs
//! (no copies) for the whole request before anything is appended.

use strata_common::Sample;
use strata_common::labels::{METRIC_NAME, is_valid_label_name, is_valid_metric_name};

use super::error::PushError;
use super::limits::Limits;

/// Checks one series: label names non-empty, valid,
/// unique and sorted ascending (byte order, as Prometheus sorts); a valid
/// `__name__` with a non-empty value. Empty label values are allowed here
/// and dropped when the series is encoded (Prometheus semantics).
pub(crate) fn validate_series(labels: &[(&str, &str)]) -> Result<(), PushError> {
    let invalid = |reason: String| PushError::InvalidSeries { series: format_series(labels), reason };
    let mut metric_name = None;
    let mut prev: Option<&str> = None;
    for &(name, value) in labels {
        if name.is_empty() {
            return Err(invalid(format!("empty label name (with value {})", quote_cut(value))));
        }
        if !is_valid_label_name(name) {
            return Err(invalid(format!("invalid label name {}: must match [a-zA-Z_][a-zA-Z0-9_]*", quote_cut(name))));
        }
        if let Some(p) = prev {
            if p == name {
                return Err(invalid(format!("duplicate label name {}", quote_cut(name))));
            }
            if p > name {
                return Err(invalid(format!(
                    "labels are not sorted by name: {} comes before {}",
                    quote_cut(p),
                    quote_cut(name)
                )));
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
            "invalid metric name {} in label {METRIC_NAME}: must match [a-zA-Z_:][a-zA-Z0-9_:]*",
            quote_cut(m)
        ))),
        Some(_) => Ok(()),
    }
}

/// Checks the label limits of one series; on refusal, the metric reason
/// and the error (400, naming the limit, its value and the series).
pub(crate) fn check_label_limits(labels: &[(&str, &str)], limits: &Limits) -> Result<(), (&'static str, PushError)> {
    let invalid = |reason: String| PushError::InvalidSeries { series: format_series(labels), reason };
    let max_names = limits.max_label_names_per_series;
    if max_names > 0 && labels.len() > max_names {
        let e =
            invalid(format!("{} label names, more than limit max_label_names_per_series = {max_names}", labels.len()));
        return Err(("max_label_names_per_series", e));
    }
    let (max_name, max_value) = (limits.max_label_name_length, limits.max_label_value_length);
    for &(name, value) in labels {
        if max_name > 0 && name.len() > max_name {
            let e = invalid(format!(
                "label name {} is {} bytes long, more than limit max_label_name_length = {max_name}",
                quote_cut(name),
                name.len()
            ));
            return Err(("label_name_too_long", e));
        }
        if max_value > 0 && value.len() > max_value {
            let e = invalid(format!(
                "the value of label {} is {} bytes long, more than limit max_label_value_length = {max_value}",
                quote_cut(name),
                value.len()
            ));
            return Err(("label_value_too_long", e));
        }
    }
    Ok(())
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

/// `labels` as stored: without the empty-valued pairs (Prometheus drops
/// them), copied into `kept` only when there are some.
pub(crate) fn without_empty_values<'k, 'l: 'k>(
    labels: &'k [(&'l str, &'l str)],
    kept: &'k mut Vec<(&'l str, &'l str)>,
) -> &'k [(&'l str, &'l str)] {
    if !has_empty_values(labels) {
        return labels;
    }
    kept.clear();
    kept.extend(labels.iter().filter(|(_, v)| !v.is_empty()));
    kept
}

/// `text` quoted and escaped like `{:?}`, cut after about 100 characters.
pub(crate) fn quote_cut(text: &str) -> String {
    let mut s = String::from("\"");
    for ch in text.chars() {
        if s.len() > 100 {
            s.push('…');
            break;
        }
        s.extend(ch.escape_debug());
    }
    s.push('"');
    s
}

/// Longest series text an error message echoes (a 5 MB label must not
/// make a 5 MB error body).
pub(crate) const MAX_ECHO: usize = 200;

/// Prometheus notation of labels as sent, `name{a="b", c="d"}`, cut after
/// about [`MAX_ECHO`] characters (`…` and the bytes left out mark the cut).
pub(crate) fn format_series(labels: &[(&str, &str)]) -> String {
    use std::fmt::Write;
    let total: usize = labels.iter().map(|(n, v)| n.len() + v.len() + 5).sum();
    let mut s = String::new();
    let push_cut = |s: &mut String, text: &str| {
        for ch in text.chars() {
            if s.len() > MAX_ECHO {
                break;
            }
            s.extend(ch.escape_debug());
        }
    };
    if let Some((_, v)) = labels.iter().find(|(n, _)| *n == METRIC_NAME) {
        push_cut(&mut s, v);
    }
    s.push('{');
    let mut first = true;
    for (n, v) in labels.iter().filter(|(n, _)| *n != METRIC_NAME) {
        if s.len() > MAX_ECHO {
            break;
        }
        if !first {
            s.push_str(", ");
        }
        first = false;
        push_cut(&mut s, n);
        s.push_str("=\"");
        push_cut(&mut s, v);
        s.push('"');
    }
    if s.len() > MAX_ECHO {
        let end = s.char_indices().map(|(i, _)| i).find(|&i| i >= MAX_ECHO).unwrap_or(s.len());
        s.truncate(end);
        let _ = write!(s, "…(series of {total} bytes, cut)");
    } else {
        s.push('}');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(pairs: &[(&str, &str)]) -> String {
        validate_series(pairs).unwrap_err().to_string()
    }

    #[test]
    fn accepts_valid_series() {
        validate_series(&[("__name__", "up"), ("instance", "a:9090"), ("job", "")]).unwrap();
        validate_series(&[("__name__", "ns:rate_5m")]).unwrap();
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
        let huge = "v".repeat(5 << 20);
        let m = reason(&[("__name__", "up"), ("job", &huge), ("z-bad", "x")]);
        assert!(m.len() < 600 && m.contains("up{job=\"vvv") && m.contains("cut"), "{}", &m[..m.len().min(700)]);
    }
}
