//! JSON rendering identical to Prometheus's: floats as Go's
//! `strconv.FormatFloat(v, 'f', -1, 64)` strings, timestamps as seconds with
//! millisecond digits (`jsonutil.MarshalTimestamp`), HTML-safe escaping like
//! Go's encoder, labels in sorted order; a query's annotations as
//! Prometheus 3's `"warnings"` / `"infos"` (only when there are some).

use std::fmt::Write;

use strata_common::histogram::Histogram;
use strata_common::{Labels, Timestamp};

use std::time::Duration;

use crate::engine::annotations::{Annotations, Severity};
use crate::engine::cost::NodeCost;
use crate::engine::{QueryStats, QueryValue};
use crate::error::Error;
use crate::format::{FormatFloat, format_float};
use crate::scheduler::Lane;

/// Prometheus `MarshalTimestamp`: `1700000000`, `1700000000.123`, `1700000000.500`.
pub fn write_timestamp(out: &mut String, t: Timestamp) {
    let (neg, abs) = (t < 0, t.unsigned_abs());
    if neg {
        out.push('-');
    }
    let _ = write!(out, "{}", abs / 1000);
    let frac = abs % 1000;
    if frac != 0 {
        let _ = write!(out, ".{frac:03}");
    }
}

/// A JSON string literal, escaped like Go's `encoding/json` (HTML-safe).
pub fn write_str(out: &mut String, s: &str) {
    let quoted = serde_json::Value::String(s.to_string()).to_string();
    if quoted.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        for c in quoted.chars() {
            match c {
                '<' => out.push_str("\\u003c"),
                '>' => out.push_str("\\u003e"),
                '&' => out.push_str("\\u0026"),
                '\u{2028}' => out.push_str("\\u2028"),
                '\u{2029}' => out.push_str("\\u2029"),
                c => out.push(c),
            }
        }
    } else {
        out.push_str(&quoted);
    }
}

/// `{"name":"value",...}`.
pub fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, &l.name);
        out.push(':');
        write_str(out, &l.value);
    }
    out.push('}');
}

fn write_point(out: &mut String, t: Timestamp, v: &str) {
    out.push('[');
    write_timestamp(out, t);
    out.push(',');
    write_str(out, v);
    out.push(']');
}

/// `[t,"v"]` for a float, written in place (a float's text needs no
/// escaping; no allocation per point).
fn write_float_point(out: &mut String, t: Timestamp, v: f64) {
    out.push('[');
    write_timestamp(out, t);
    let _ = write!(out, ",\"{}\"]", FormatFloat(v));
}

/// `[t,{"count":"c","sum":"s","buckets":[[rule,"lower","upper","count"],...]}]`
/// as Prometheus's `MarshalHistogram`: buckets in value order, empty ones
/// left out (no `buckets` key without any), the boundary rule 0 `(l,u]`,
/// 1 `[l,u)`, 2 `(l,u)`, 3 `[l,u]`.
fn write_hist_point(out: &mut String, t: Timestamp, h: &Histogram) {
    out.push('[');
    write_timestamp(out, t);
    let _ = write!(out, r#",{{"count":"{}","sum":"{}""#, FormatFloat(h.count), FormatFloat(h.sum));
    let mut first = true;
    for b in h.all_buckets().into_iter().filter(|b| b.count != 0.0) {
        out.push_str(if first { r#","buckets":["# } else { "," });
        first = false;
        let _ = write!(
            out,
            r#"[{},"{}","{}","{}"]"#,
            b.boundary_rule(),
            FormatFloat(b.lower),
            FormatFloat(b.upper),
            FormatFloat(b.count)
        );
    }
    if !first {
        out.push(']');
    }
    out.push_str("}]");
}

/// The full success envelope of a query result; with `stats` (the
/// `stats` request parameter), `data.stats` as Prometheus renders it plus a
/// Strata section:
///
/// ```json
/// "stats": {
///   "timings": {"evalTotalTime": s, "resultSortTime": 0, "queryPreparationTime": s,
///               "innerEvalTime": s, "execQueueTime": 0, "execTotalTime": s},
///   "samples": {"totalQueryableSamples": n, "peakSamples": n},
///   "strata": {"seriesTouched": n, "headSeries": n, "fileSeries": n,
///              "filesOpened": n, "peakMemoryBytes": n, "lane": "cheap",
///              "estimate": {"series": n, "samples": n, "bytes": n, "points": n,
///                           "files": n, "peakMemoryBytes": n, "cost": n}}
/// }
/// ```
/// - `totalQueryableSamples`: samples loaded from heads and files.
/// - `peakSamples`: most points (loaded samples + step values) held at once.
/// - `seriesTouched`: series the selectors pulled; `headSeries` /
///   `fileSeries`: series the selections found in the ingester heads / in
///   flushed files (one series in both counts in both); `filesOpened`:
///   distinct files those series are read from, summed over selectors.
/// - `peakMemoryBytes`: most bytes the query's operators held at once (what
///   `max_query_memory_bytes` limits).
/// - `execQueueTime`: the wait for a scheduler slot; `lane` and `estimate`:
///   the scheduler's lane and the cost estimate made before execution
///   (compare `estimate.samples` with `totalQueryableSamples`).
/// - Times are seconds; sorting is part of `innerEvalTime`. No per-step
///   breakdown is rendered.
pub fn query_success(value: &QueryValue, stats: Option<&StatsReport<'_>>, annotations: &Annotations) -> String {
    let mut out = String::with_capacity(usize::try_from(rendered_size(value)).unwrap_or(usize::MAX));
    out.push_str(r#"{"status":"success","data":{"resultType":"#);
    match value {
        QueryValue::Scalar { t, v } => {
            out.push_str(r#""scalar","result":"#);
            write_float_point(&mut out, *t, *v);
        }
        QueryValue::String { t, v } => {
            out.push_str(r#""string","result":"#);
            write_point(&mut out, *t, v);
        }
        QueryValue::Vector(samples) => {
            out.push_str(r#""vector","result":["#);
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                write_labels(&mut out, &s.labels);
                match &s.h {
                    Some(h) => {
                        out.push_str(r#","histogram":"#);
                        write_hist_point(&mut out, s.t, h);
                    }
                    None => {
                        out.push_str(r#","value":"#);
                        write_float_point(&mut out, s.t, s.v);
                    }
                }
                out.push('}');
            }
            out.push(']');
        }
        QueryValue::Matrix(series) => {
            out.push_str(r#""matrix","result":["#);
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                write_labels(&mut out, &s.labels);
                // Prometheus writes each key only when it has points.
                if !s.points.is_empty() || s.hist.is_empty() {
                    out.push_str(r#","values":["#);
                    for (j, (t, v)) in s.points.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_float_point(&mut out, t, v);
                    }
                    out.push(']');
                }
                if !s.hist.is_empty() {
                    out.push_str(r#","histograms":["#);
                    for (j, (t, h)) in s.hist.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_hist_point(&mut out, *t, h);
                    }
                    out.push(']');
                }
                out.push('}');
            }
            out.push(']');
        }
    }
    if let Some(report) = stats {
        write_stats(&mut out, report);
    }
    out.push('}');
    write_annotations(&mut out, annotations);
    out.push('}');
    out
}

/// Most warnings (and, separately, infos) an answer lists, as Prometheus's
/// API (`AsStrings(query, 10, 10)`); the rest are counted in a last line.
pub const MAX_ANNOTATIONS: usize = 10;

/// `,"warnings":[...]` and `,"infos":[...]`, each only when not empty
/// (Prometheus 3's envelope).
fn write_annotations(out: &mut String, annotations: &Annotations) {
    if annotations.is_empty() {
        return;
    }
    for (key, severity) in [("warnings", Severity::Warning), ("infos", Severity::Info)] {
        let texts = annotations.strings(severity, MAX_ANNOTATIONS);
        if texts.is_empty() {
            continue;
        }
        out.push_str(",\"");
        out.push_str(key);
        out.push_str("\":[");
        for (i, t) in texts.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_str(out, t);
        }
        out.push(']');
    }
}

/// Estimated bytes of `value` rendered by [`query_success`], from its shape
/// alone: [`POINT_BYTES`] per point plus each series' label text (a point is
/// `[1700000000.123,"12.5"],`, 25 to 40 bytes for most values).
pub fn rendered_size(value: &QueryValue) -> u64 {
    let labels = |l: &Labels| l.iter().map(|l| l.name.len() + l.value.len() + 6).sum::<usize>() as u64;
    let series = |l: &Labels, points: usize| SERIES_BYTES + labels(l) + points as u64 * POINT_BYTES;
    512 + match value {
        QueryValue::Scalar { .. } => POINT_BYTES,
        QueryValue::String { v, .. } => POINT_BYTES + 2 * v.len() as u64,
        QueryValue::Vector(samples) => {
            samples.iter().map(|s| series(&s.labels, 1) + s.h.as_ref().map_or(0, |h| hist_bytes(h))).sum()
        }
        QueryValue::Matrix(m) => m.iter().map(|s| series(&s.labels, s.points.len()) + hist_size(&s.hist)).sum(),
    }
}

/// Estimated rendered bytes of one histogram (besides [`POINT_BYTES`]):
/// about 60 bytes per bucket.
fn hist_bytes(h: &Histogram) -> u64 {
    64 + 60 * (h.positive_buckets.len() + h.negative_buckets.len() + 1) as u64
}

/// Estimated rendered bytes of histogram points.
fn hist_size(points: &[(Timestamp, std::sync::Arc<Histogram>)]) -> u64 {
    points.iter().map(|(_, h)| POINT_BYTES + hist_bytes(h)).sum()
}

/// Estimated rendered bytes of one point (see [`rendered_size`]).
pub const POINT_BYTES: u64 = 40;
/// Rendered bytes of one series besides its labels and points.
const SERIES_BYTES: u64 = 32;

/// [`query_success`] unless the rendered answer is estimated
/// ([`rendered_size`]) over `limit` bytes (the query's memory budget,
/// `querier.max_query_memory_bytes`): then [`Error::MemoryLimit`], before
/// anything is rendered. The result was held within the same budget, so
/// answering holds at most about twice the budget.
pub fn query_success_within(
    value: &QueryValue,
    stats: Option<&StatsReport<'_>>,
    annotations: &Annotations,
    limit: u64,
) -> Result<String, Error> {
    let needed = rendered_size(value);
    if needed > limit {
        return Err(Error::MemoryLimit { limit, needed });
    }
    Ok(query_success(value, stats, annotations))
}

/// What `stats=all` renders: the engine's figures, the request's total time,
/// and what the scheduler decided.
#[derive(Debug)]
pub struct StatsReport<'a> {
    /// What the query cost.
    pub stats: &'a QueryStats,
    /// The whole request's time.
    pub total: Duration,
    /// The wait for a scheduler slot.
    pub queued: Duration,
    /// The lane it ran in.
    pub lane: Lane,
    /// The estimate made before execution.
    pub estimate: &'a NodeCost,
}

/// `,"stats":{...}` (see [`query_success`]).
fn write_stats(out: &mut String, r: &StatsReport<'_>) {
    let s = r.stats;
    let secs = |nanos: u64| format_float(nanos as f64 / 1e9);
    let (prep, eval) = (s.prepare_nanos, s.eval_nanos);
    let e = r.estimate;
    let _ = write!(
        out,
        r#","stats":{{"timings":{{"evalTotalTime":{},"resultSortTime":0,"queryPreparationTime":{},"innerEvalTime":{},"execQueueTime":{},"execTotalTime":{}}},"samples":{{"totalQueryableSamples":{},"peakSamples":{}}},"strata":{{"seriesTouched":{},"headSeries":{},"fileSeries":{},"filesOpened":{},"peakMemoryBytes":{},"lane":"{}","estimate":{{"series":{},"samples":{},"bytes":{},"points":{},"files":{},"peakMemoryBytes":{},"cost":{}}}}}}}"#,
        secs(prep + eval),
        secs(prep),
        secs(eval),
        format_float(r.queued.as_secs_f64()),
        format_float(r.total.as_secs_f64()),
        s.samples_loaded,
        s.peak_samples,
        s.series_touched,
        s.select.head_series,
        s.select.file_series,
        s.select.files_opened,
        s.peak_memory_bytes,
        r.lane.as_str(),
        e.series,
        e.samples,
        e.bytes,
        e.points,
        e.files,
        e.peak_memory_bytes,
        e.cost(),
    );
}

/// Prometheus's warning when `limit` cut an answer short.
pub const TRUNCATED_WARNING: &str = "results truncated due to limit";

/// `{"status":"success","data":[...label sets...]}`, with Prometheus's
/// truncation warning when `truncated`.
pub fn series_success(series: &[Labels], truncated: bool) -> String {
    let mut out = String::from(r#"{"status":"success","data":["#);
    for (i, l) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_labels(&mut out, l);
    }
    out.push(']');
    finish_with_warnings(&mut out, truncated);
    out
}

/// `{"status":"success","data":["a","b"]}`, with Prometheus's truncation
/// warning when `truncated`.
pub fn strings_success(values: &[String], truncated: bool) -> String {
    let mut out = String::from(r#"{"status":"success","data":["#);
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(&mut out, v);
    }
    out.push(']');
    finish_with_warnings(&mut out, truncated);
    out
}

/// `{"status":"success","data":"..."}`.
pub fn string_success(value: &str) -> String {
    let mut out = String::from(r#"{"status":"success","data":"#);
    write_str(&mut out, value);
    out.push('}');
    out
}

fn finish_with_warnings(out: &mut String, truncated: bool) {
    if truncated {
        out.push_str(r#","warnings":["#);
        write_str(out, TRUNCATED_WARNING);
        out.push(']');
    }
    out.push('}');
}

/// `{"status":"error","errorType":"...","error":"..."}`.
pub fn error_body(e: &Error) -> String {
    let mut out = String::from(r#"{"status":"error","errorType":"#);
    write_str(&mut out, e.error_type().as_str());
    out.push_str(r#","error":"#);
    write_str(&mut out, &e.to_string());
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_like_prometheus() {
        let f = |t| {
            let mut s = String::new();
            write_timestamp(&mut s, t);
            s
        };
        assert_eq!(f(1_700_000_000_000), "1700000000");
        assert_eq!(f(1_700_000_000_123), "1700000000.123");
        assert_eq!(f(1_700_000_000_500), "1700000000.500");
        assert_eq!(f(1_700_000_000_005), "1700000000.005");
        assert_eq!(f(-1500), "-1.500");
    }

    #[test]
    fn rendered_size_bounds_the_answer_and_refuses_over_the_limit() {
        use crate::engine::{Points, RangeSeries};
        let labels = Labels::from_pairs([("__name__", "http_requests_total"), ("instance", "host-1:9100")]).unwrap();
        let points: Vec<(Timestamp, f64)> =
            (0..1000).map(|i| (1_700_000_000_000 + i * 15_000, i as f64 * 0.25)).collect();
        let m = QueryValue::Matrix(vec![RangeSeries { labels, points: Points::Raw(points), hist: Vec::new() }; 10]);
        let (estimate, rendered) = (rendered_size(&m), query_success(&m, None, &Annotations::default()).len() as u64);
        assert!(rendered <= estimate && estimate < 2 * rendered, "{rendered} rendered, {estimate} estimated");
        assert_eq!(query_success_within(&m, None, &Annotations::default(), estimate).unwrap().len() as u64, rendered);
        let err = query_success_within(&m, None, &Annotations::default(), estimate - 1).unwrap_err();
        assert!(matches!(err, Error::MemoryLimit { needed, .. } if needed == estimate), "{err:?}");
    }

    #[test]
    fn strings_are_html_safe() {
        let mut s = String::new();
        write_str(&mut s, "a<b>&\"c\"");
        assert_eq!(s, r#""a\u003cb\u003e\u0026\"c\"""#);
    }
}
