//! Validation of remote-write series, done on the decoded protobuf structs
//! (no copies) for the whole request before anything is appended.

use strata_common::Sample;
use strata_common::labels::{METRIC_NAME, is_valid_label_name, is_valid_metric_name};

use super::error::PushError;
use super::limits::Limits;

/// How metric and label names are validated on ingest
/// (`distributor.name_validation_scheme`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameValidationScheme {
    /// Prometheus 3's default: any non-empty UTF-8 name (OpenTelemetry
    /// style `http.server.request.duration`, `service.name`).
    #[default]
    Utf8,
    /// Prometheus 2's rules: metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`,
    /// label names `[a-zA-Z_][a-zA-Z0-9_]*`.
    Legacy,
}

/// A refused series: the reason label of
/// `strata_distributor_samples_rejected_total` and the error naming it.
pub(crate) type Refusal = (&'static str, PushError);

/// Checks one series: label names non-empty, valid under `scheme`, unique
/// and sorted ascending (byte order, as Prometheus sorts); a valid
/// `__name__` with a non-empty value. Empty label values are allowed here
/// and dropped when the series is encoded (Prometheus semantics). Strings
/// are UTF-8 already (the decoder refuses anything else).
pub(crate) fn validate_series(labels: &[(&str, &str)], scheme: NameValidationScheme) -> Result<(), Refusal> {
    let invalid = |reason: String| PushError::InvalidSeries { series: format_series(labels), reason };
    let legacy = scheme == NameValidationScheme::Legacy;
    let mut metric_name = None;
    let mut prev: Option<&str> = None;
    for &(name, value) in labels {
        if name.is_empty() {
            return Err(("label_invalid", invalid(format!("empty label name (with value {})", quote_cut(value)))));
        }
        if legacy && !is_valid_label_name(name) {
            let e = invalid(format!(
                "invalid label name {}: must match [a-zA-Z_][a-zA-Z0-9_]* (distributor.name_validation_scheme = \"legacy\")",
                quote_cut(name)
            ));
            return Err(("label_invalid", e));
        }
        if let Some(p) = prev {
            if p == name {
                return Err(("duplicate_label_names", invalid(format!("duplicate label name {}", quote_cut(name)))));
            }
            if p > name {
                let e = invalid(format!(
                    "labels are not sorted by name: {} comes before {}",
                    quote_cut(p),
                    quote_cut(name)
                ));
                return Err(("labels_not_sorted", e));
            }
        }
        prev = Some(name);
        if name == METRIC_NAME {
            metric_name = Some(value);
        }
    }
    match metric_name {
        None | Some("") => Err(("missing_metric_name", invalid(format!("missing metric name (label {METRIC_NAME})")))),
        Some(m) if legacy && !is_valid_metric_name(m) => Err((
            "metric_name_invalid",
            invalid(format!(
                "invalid metric name {} in label {METRIC_NAME}: must match [a-zA-Z_:][a-zA-Z0-9_:]* \
                 (distributor.name_validation_scheme = \"legacy\")",
                quote_cut(m)
            )),
        )),
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

/// The samples of one series outside `[min_t, max_t]`: how many are too
/// old and too new, and the error naming the series (too old first).
pub(crate) fn check_sample_times(
    labels: &[(&str, &str)],
    samples: &[Sample],
    min_t: i64,
    max_t: i64,
) -> Option<(u64, u64, PushError)> {
    check_times(labels, samples.iter().map(|s| s.t), min_t, max_t)
}

/// [`check_sample_times`] over any samples' timestamps (native histograms too).
pub(crate) fn check_times(
    labels: &[(&str, &str)],
    times: impl Iterator<Item = i64> + Clone,
    min_t: i64,
    max_t: i64,
) -> Option<(u64, u64, PushError)> {
    let too_old = times.clone().filter(|&t| t < min_t).count() as u64;
    let too_new = times.clone().filter(|&t| t > max_t).count() as u64;
    if too_old > 0 {
        let t = times.clone().find(|&t| t < min_t).unwrap_or(0);
        let e = PushError::SampleTooOld { series: format_series(labels), timestamp: t, min: min_t, count: too_old };
        return Some((too_old, too_new, e));
    }
    if too_new > 0 {
        let t = times.clone().find(|&t| t > max_t).unwrap_or(0);
        return Some((0, too_new, PushError::SampleTooNew { series: format_series(labels), timestamp: t, max: max_t }));
    }
    None
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

/// Prometheus notation of labels as sent, `name{a="b", c="d"}` (Prometheus
/// 3's `{"http.server.duration", "service.name"="api"}` for names outside
/// the legacy character sets), cut after about [`MAX_ECHO`] characters
/// (`…` and the bytes left out mark the cut).
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
    // Prometheus 3 notation: a metric name outside the legacy character
    // set goes inside the braces, quoted; so do such label names.
    let mut first = true;
    match labels.iter().find(|(n, _)| *n == METRIC_NAME) {
        Some((_, v)) if is_valid_metric_name(v) => {
            push_cut(&mut s, v);
            s.push('{');
        }
        Some((_, v)) => {
            s.push_str("{\"");
            push_cut(&mut s, v);
            s.push('"');
            first = false;
        }
        None => s.push('{'),
    }
    for (n, v) in labels.iter().filter(|(n, _)| *n != METRIC_NAME) {
        if s.len() > MAX_ECHO {
            break;
        }
        if !first {
            s.push_str(", ");
        }
        first = false;
        if is_valid_label_name(n) {
            push_cut(&mut s, n);
        } else {
            s.push('"');
            push_cut(&mut s, n);
            s.push('"');
        }
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
        validate_series(pairs, NameValidationScheme::Legacy).unwrap_err().1.to_string()
    }

    #[test]
    fn accepts_valid_series() {
        for scheme in [NameValidationScheme::Legacy, NameValidationScheme::Utf8] {
            validate_series(&[("__name__", "up"), ("instance", "a:9090"), ("job", "")], scheme).unwrap();
            validate_series(&[("__name__", "ns:rate_5m")], scheme).unwrap();
        }
    }

    #[test]
    fn utf8_names_pass_unless_the_scheme_is_legacy() {
        let otel: &[(&str, &str)] = &[("__name__", "http.server.duration"), ("k.x", "v"), ("service.name", "api")];
        validate_series(otel, NameValidationScheme::Utf8).unwrap();
        validate_series(&[("__name__", "1up"), ("ünïcode 名", "x")], NameValidationScheme::Utf8).unwrap();
        let (reason, e) = validate_series(otel, NameValidationScheme::Legacy).unwrap_err();
        assert_eq!(reason, "label_invalid");
        assert!(e.to_string().contains("\"k.x\""), "{e}");
        // Empty names and a missing metric name stay invalid under UTF-8.
        let (reason, _) = validate_series(&[("__name__", "a.b"), ("", "x")], NameValidationScheme::Utf8).unwrap_err();
        assert_eq!(reason, "label_invalid");
        let (reason, _) = validate_series(&[("a.b", "x")], NameValidationScheme::Utf8).unwrap_err();
        assert_eq!(reason, "missing_metric_name");
    }

    #[test]
    fn utf8_names_are_echoed_in_prometheus_3_notation() {
        let otel: &[(&str, &str)] = &[("__name__", "http.server.duration"), ("job", "a"), ("service.name", "api")];
        assert_eq!(format_series(otel), r#"{"http.server.duration", job="a", "service.name"="api"}"#);
        assert_eq!(format_series(&[("__name__", "up"), ("k.x", "v")]), r#"up{"k.x"="v"}"#);
        assert_eq!(format_series(&[("job", "a")]), r#"{job="a"}"#);
        assert_eq!(format_series(&[("__name__", "a.b")]), r#"{"a.b"}"#);
    }

    #[test]
    fn sample_times_outside_the_window_name_the_series() {
        let a: &[(&str, &str)] = &[("__name__", "a")];
        let b: &[(&str, &str)] = &[("__name__", "b"), ("job", "j")];
        let (sa, sb) = ([Sample::new(100, 1.0), Sample::new(50, 1.0)], [Sample::new(10, 1.0), Sample::new(500, 1.0)]);
        assert!(check_sample_times(a, &sa, 0, 1_000).is_none() && check_sample_times(b, &sb, 0, 1_000).is_none());
        let (old, new, e) = check_sample_times(a, &sa, 60, 1_000).unwrap();
        assert_eq!((old, new), (1, 0));
        let msg = e.to_string();
        assert!(msg.contains("series a{}") && msg.contains("timestamp 50 is before 60"), "{msg}");
        let (old, new, e) = check_sample_times(b, &sb, 0, 400).unwrap();
        assert_eq!((old, new), (0, 1));
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        assert!(e.to_string().contains("b{job=\"j\"}"), "{e}");
    }

    #[test]
    fn names_series_and_label_at_fault() {
        let m = reason(&[("__name__", "up"), ("job", "a"), ("bad-label", "x")]);
        assert!(m.contains("up{job=\"a\", \"bad-label\"=\"x\"}") && m.contains("\"bad-label\""), "{m}");
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
