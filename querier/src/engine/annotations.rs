//! Warnings and info annotations of one query, as Prometheus 3 reports
//! them next to a result (`"warnings"` / `"infos"` of the API envelope).
//!
//! ```text
//!  operators / functions ──annotate──▶ Annotations (per query, in EvalCtx)
//!  leaf kernels (any thread) ──SeriesNotes (bits)──▶ metric name added ──▶ Annotations
//!  Annotations ──QueryStats::annotations──▶ api::json (capped, "N more … omitted")
//! ```
//! Texts are Prometheus's (`util/annotations/annotations.go`): an
//! annotation is deduplicated by its text, and the histogram_quantile
//! monotonicity info merges its details (time span, buckets, largest
//! difference, sample count) across duplicates. Each annotation records
//! the position of the expression it is about (the parser's
//! [`PositionRange`], Prometheus's choice of node per annotation), and is
//! rendered with it as Prometheus's `AsStrings(query, …)`: the text, then
//! ` (line:col)` of that node in the query. As in Prometheus, duplicates
//! are found by text alone, and the latest duplicate's position is kept
//! (the monotonicity info keeps its first). Nothing is allocated until
//! something is annotated: the float hot path only ever checks a condition.

use std::collections::HashSet;
use std::fmt::Write;

pub use promql_parser::parser::PositionRange;
use strata_common::Labels;
use strata_common::labels::METRIC_NAME;

/// A key for [`crate::engine::ctx::EvalCtx::annotate_once`]: the call
/// site (any distinct number) and the parts its text depends on.
pub fn key(site: u32, parts: &[&str], number: u64) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
    let mut h = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().build_hasher();
    site.hash(&mut h);
    parts.hash(&mut h);
    number.hash(&mut h);
    h.finish()
}

/// Whether an annotation is a warning or an info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// `PromQL warning: …` (the result may be wrong or incomplete).
    Warning,
    /// `PromQL info: …` (the query may not mean what it says).
    Info,
}

/// The details the histogram_quantile monotonicity info merges.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Monotonicity {
    min_t: i64,
    max_t: i64,
    min_bucket: f64,
    max_bucket: f64,
    max_diff: f64,
    /// Merged duplicates (the text says `count + 1` samples).
    count: u64,
}

/// One annotation.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    severity: Severity,
    /// The text it is deduplicated by.
    text: String,
    monotonicity: Option<Monotonicity>,
    /// The expression it is about.
    pos: Option<PositionRange>,
}

impl Annotation {
    fn new(severity: Severity, what: std::fmt::Arguments<'_>) -> Self {
        let prefix = match severity {
            Severity::Warning => "PromQL warning: ",
            Severity::Info => "PromQL info: ",
        };
        let mut text = String::from(prefix);
        let _ = text.write_fmt(what);
        Self { severity, text, monotonicity: None, pos: None }
    }

    fn warning(what: std::fmt::Arguments<'_>) -> Self {
        Self::new(Severity::Warning, what)
    }

    fn info(what: std::fmt::Arguments<'_>) -> Self {
        Self::new(Severity::Info, what)
    }

    /// Warning or info.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// This annotation about the expression at `pos`.
    pub fn at(mut self, pos: PositionRange) -> Self {
        self.pos = Some(pos);
        self
    }

    /// The expression it is about, if recorded.
    pub fn pos(&self) -> Option<PositionRange> {
        self.pos
    }

    /// The full text as the API shows it for `query` (Prometheus's
    /// `AsStrings`): ending in ` (line:col)` of the expression it is about,
    /// unless `query` is empty or no position was recorded.
    pub fn render_in(&self, query: &str) -> String {
        let mut out = self.render();
        if let (Some(pos), false) = (self.pos, query.is_empty()) {
            let _ = write!(out, " ({})", pos.start_pos_input(query));
        }
        out
    }

    /// The full text without its position.
    pub fn render(&self) -> String {
        match &self.monotonicity {
            None => self.text.clone(),
            Some(m) => format!(
                "{}, from buckets {} to {}, with a max diff of {}, over {} samples from {} to {}",
                self.text,
                go_g(m.min_bucket),
                go_g(m.max_bucket),
                go_2g(m.max_diff),
                m.count + 1,
                rfc3339(m.min_t),
                rfc3339(m.max_t),
            ),
        }
    }

    /// A quantile parameter outside [0, 1] or NaN.
    pub fn invalid_quantile(q: f64) -> Self {
        Self::warning(format_args!("quantile value should be between 0 and 1, got {}", go_g(q)))
    }

    /// A `limit_ratio` outside [-1, 1], capped to `to`.
    pub fn invalid_ratio(r: f64, to: f64) -> Self {
        Self::warning(format_args!("ratio value should be between -1 and 1, got {}, capping to {}", go_g(r), go_g(to)))
    }

    /// A classic histogram bucket whose `le` label is missing or not a number.
    pub fn bad_bucket_label(le: &str, metric: &str) -> Self {
        Self::warning(format_args!(
            "bucket label \"le\" is missing or has a malformed value of {}{}",
            go_q(le),
            for_metric(metric)
        ))
    }

    /// Floats and histograms where a function needs one kind.
    pub fn mixed_floats_histograms(metric: &str) -> Self {
        Self::warning(format_args!("encountered a mix of histograms and floats for metric name {}", go_q(metric)))
    }

    /// Floats and histograms in one aggregation group.
    pub fn mixed_floats_histograms_agg() -> Self {
        Self::warning(format_args!("encountered a mix of histograms and floats for aggregation"))
    }

    /// Classic buckets and a native histogram of one series at one step.
    pub fn mixed_classic_native(metric: &str) -> Self {
        Self::warning(format_args!("vector contains a mix of classic and native histograms{}", for_metric(metric)))
    }

    /// A gauge histogram where a counter is expected (rate, increase, irate).
    pub fn not_counter(metric: &str) -> Self {
        Self::warning(format_args!("this native histogram metric is not a counter: {}", go_q(metric)))
    }

    /// A counter histogram where a gauge is expected (delta, idelta).
    pub fn not_gauge(metric: &str) -> Self {
        Self::warning(format_args!("this native histogram metric is not a gauge: {}", go_q(metric)))
    }

    /// Exponential and custom-bucket histograms combined.
    pub fn mixed_exponential_custom(metric: &str) -> Self {
        Self::warning(format_args!(
            "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}",
            go_q(metric)
        ))
    }

    /// `rate`/`increase` of a float series whose name says it is not a counter.
    pub fn possible_non_counter(metric: &str) -> Self {
        Self::info(format_args!(
            "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}",
            go_q(metric)
        ))
    }

    /// Classic buckets that histogram_quantile made monotonic at time `t`.
    pub fn forced_monotonicity(metric: &str, t: i64, min_bucket: f64, max_bucket: f64, max_diff: f64) -> Self {
        let mut a = Self::info(format_args!(
            "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile){}",
            for_metric(metric)
        ));
        a.monotonicity = Some(Monotonicity { min_t: t, max_t: t, min_bucket, max_bucket, max_diff, count: 0 });
        a
    }

    /// A binary operator between sample types it does not combine.
    pub fn incompatible_types_in_binop(lhs: &str, op: &str, rhs: &str) -> Self {
        Self::info(format_args!("incompatible sample types encountered for binary operator \"{op}\": {lhs} {op} {rhs}"))
    }

    /// A histogram left out of an aggregation that takes floats only.
    pub fn histogram_ignored_in_aggregation(aggregation: &str) -> Self {
        Self::info(format_args!("ignored histogram in {aggregation} aggregation"))
    }

    /// Histograms left out of a float-only range function's mixed window.
    pub fn histogram_ignored_in_mixed_range(metric: &str) -> Self {
        Self::info(format_args!(
            "ignored histograms in a range containing both floats and histograms for metric name {}",
            go_q(metric)
        ))
    }

    /// histogram_quantile over a histogram of NaN observations only.
    pub fn quantile_nan_result(metric: &str) -> Self {
        Self::info(format_args!(
            "input to histogram_quantile has NaN observations, result is NaN{}",
            for_metric(metric)
        ))
    }

    /// histogram_quantile over a histogram with some NaN observations.
    pub fn quantile_nan_skew(metric: &str) -> Self {
        Self::info(format_args!(
            "input to histogram_quantile has NaN observations, result is skewed higher{}",
            for_metric(metric)
        ))
    }

    /// histogram_fraction over a histogram with NaN observations.
    pub fn fraction_nans(metric: &str) -> Self {
        Self::info(format_args!(
            "input to histogram_fraction has NaN observations, which are excluded from all fractions{}",
            for_metric(metric)
        ))
    }

    /// Two histograms whose bucket layouts a binary operator cannot combine.
    pub fn incompatible_bucket_layout_in_binop(op: &str) -> Self {
        Self::warning(format_args!("incompatible bucket layout encountered for binary operator {op}"))
    }

    /// Mismatched custom bucket bounds reconciled during `op`.
    pub fn mismatched_custom_buckets(op: HistOp) -> Self {
        Self::info(format_args!("mismatched custom buckets were reconciled during {}", op.as_str()))
    }

    /// A counter reset hint and a not-reset hint combined during `op`.
    pub fn counter_reset_collision(op: HistOp) -> Self {
        Self::warning(format_args!("conflicting counter resets during histogram {}", op.as_str()))
    }

    /// `sort`/`sort_desc` in a range query.
    pub fn sort_in_range_query() -> Self {
        Self::warning(format_args!("sort is ineffective for range queries since results are always ordered by labels"))
    }

    /// Merges `other`, a duplicate of this text added later: Prometheus
    /// keeps the later one's position, except for the monotonicity info,
    /// whose details merge into the first.
    fn merge(&mut self, other: &Annotation) {
        if self.monotonicity.is_none() && other.pos.is_some() {
            self.pos = other.pos;
        }
        if let (Some(m), Some(o)) = (&mut self.monotonicity, &other.monotonicity) {
            m.min_t = m.min_t.min(o.min_t);
            m.max_t = m.max_t.max(o.max_t);
            m.min_bucket = m.min_bucket.min(o.min_bucket);
            m.max_bucket = m.max_bucket.max(o.max_bucket);
            m.max_diff = m.max_diff.max(o.max_diff);
            m.count += o.count + 1;
        }
    }
}

/// The histogram operation an annotation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistOp {
    /// `+`, or adding back a counter reset.
    Add,
    /// `-`, or the difference of a rate.
    Sub,
    /// An aggregation (`sum`, `avg`, `sum_over_time`, …).
    Agg,
}

impl HistOp {
    fn as_str(self) -> &'static str {
        match self {
            Self::Add => "addition",
            Self::Sub => "subtraction",
            Self::Agg => "aggregation",
        }
    }
}

/// Distinct annotations kept per severity; beyond, they are only counted.
const MAX_KEPT: usize = 100;

/// The annotations of one query: deduplicated by text, in the order first
/// seen. Empty (and unallocated) until something is annotated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    kept: Vec<Annotation>,
    /// Hashes of the distinct texts beyond [`MAX_KEPT`] of a severity.
    omitted: HashSet<(Severity, u64)>,
    /// The query text the positions are rendered in (set once the query
    /// has run, see [`Annotations::in_query`]; empty: no positions shown).
    query: String,
}

impl Annotations {
    /// Whether nothing was annotated.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.omitted.is_empty()
    }

    /// Adds `a` unless its text is there already (the monotonicity info
    /// merges its details into the one there).
    pub fn add(&mut self, a: Annotation) {
        if let Some(have) = self.kept.iter_mut().find(|k| k.text == a.text) {
            have.merge(&a);
            return;
        }
        if self.kept.iter().filter(|k| k.severity == a.severity).count() < MAX_KEPT {
            self.kept.push(a);
        } else {
            use std::hash::{BuildHasher, BuildHasherDefault};
            let h = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(&a.text);
            self.omitted.insert((a.severity, h));
        }
    }

    /// Adds every annotation of `other`.
    pub fn merge(&mut self, other: Annotations) {
        for a in other.kept {
            self.add(a);
        }
        self.omitted.extend(other.omitted);
        if self.query.is_empty() {
            self.query = other.query;
        }
    }

    /// These annotations as shown for `query`, the text they were raised
    /// on (Prometheus's `AsStrings(query, …)`): each ends in the position
    /// of its expression. Copies the text only when something was annotated.
    pub fn in_query(mut self, query: &str) -> Self {
        if !self.is_empty() {
            self.query = query.to_string();
        }
        self
    }

    /// Every kept annotation, in the order first seen.
    pub fn iter(&self) -> impl Iterator<Item = &Annotation> {
        self.kept.iter()
    }

    /// The texts of one severity as shown for the query (see
    /// [`Annotations::in_query`] and [`Annotation::render_in`]), at most
    /// `max` (0: all kept) and then Prometheus's `N more warning
    /// annotations omitted` line.
    pub fn strings(&self, severity: Severity, max: usize) -> Vec<String> {
        let all = self.kept.iter().filter(|a| a.severity == severity);
        let total = all.clone().count() + self.omitted.iter().filter(|(s, _)| *s == severity).count();
        let shown = if max == 0 { total } else { total.min(max) };
        let mut out: Vec<String> = all.take(shown).map(|a| a.render_in(&self.query)).collect();
        if total > out.len() {
            let kind = match severity {
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            out.push(format!("{} more {kind} annotations omitted", total - out.len()));
        }
        out
    }
}

/// Builds an annotation naming a metric.
type MakeAnnotation = fn(&str) -> Annotation;

/// Annotations a leaf kernel notices about the series it is evaluating,
/// as bits (no allocation); [`SeriesNotes::drain_into`] turns them into
/// [`Annotation`]s naming the series' metric.
#[derive(Debug, Default)]
pub struct SeriesNotes(std::cell::Cell<u16>);

impl SeriesNotes {
    /// Floats and histograms where a function needs one kind.
    pub const MIXED_FLOATS_HISTOGRAMS: u16 = 1;
    /// A gauge histogram in a counter function.
    pub const NOT_COUNTER: u16 = 1 << 1;
    /// A counter histogram in a gauge function.
    pub const NOT_GAUGE: u16 = 1 << 2;
    /// Exponential and custom buckets combined.
    pub const MIXED_EXPONENTIAL_CUSTOM: u16 = 1 << 3;
    /// Histograms ignored in a float-only function's mixed window.
    pub const HISTOGRAM_IGNORED_IN_MIXED_RANGE: u16 = 1 << 4;
    /// Custom bounds reconciled in a subtraction.
    pub const RECONCILED_SUB: u16 = 1 << 5;
    /// Custom bounds reconciled in an addition.
    pub const RECONCILED_ADD: u16 = 1 << 6;
    /// Custom bounds reconciled in an aggregation.
    pub const RECONCILED_AGG: u16 = 1 << 7;
    /// Conflicting counter resets in an aggregation.
    pub const COLLISION_AGG: u16 = 1 << 8;
    /// A quantile parameter outside [0, 1] (the value is not kept: the
    /// caller annotates it from its parameter).
    pub const INVALID_QUANTILE: u16 = 1 << 9;

    /// Notes `bit`.
    #[inline]
    pub fn note(&self, bit: u16) {
        self.0.set(self.0.get() | bit);
    }

    /// Whether nothing was noted.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.get() == 0
    }

    /// Moves the notes into `out` as annotations naming `labels`' metric,
    /// about the expression at `pos` (the quantile bit is left to the
    /// caller, who knows the value).
    pub fn drain_into(&self, labels: &Labels, pos: PositionRange, out: &mut Annotations) -> u16 {
        let bits = self.0.replace(0);
        if bits == 0 {
            return 0;
        }
        let metric = labels.get(METRIC_NAME).unwrap_or("");
        let each: [(u16, MakeAnnotation); 9] = [
            (Self::MIXED_FLOATS_HISTOGRAMS, Annotation::mixed_floats_histograms),
            (Self::NOT_COUNTER, Annotation::not_counter),
            (Self::NOT_GAUGE, Annotation::not_gauge),
            (Self::MIXED_EXPONENTIAL_CUSTOM, Annotation::mixed_exponential_custom),
            (Self::HISTOGRAM_IGNORED_IN_MIXED_RANGE, Annotation::histogram_ignored_in_mixed_range),
            (Self::RECONCILED_SUB, |_| Annotation::mismatched_custom_buckets(HistOp::Sub)),
            (Self::RECONCILED_ADD, |_| Annotation::mismatched_custom_buckets(HistOp::Add)),
            (Self::RECONCILED_AGG, |_| Annotation::mismatched_custom_buckets(HistOp::Agg)),
            (Self::COLLISION_AGG, |_| Annotation::counter_reset_collision(HistOp::Agg)),
        ];
        for (bit, make) in each {
            if bits & bit != 0 {
                out.add(make(metric).at(pos));
            }
        }
        bits
    }
}

/// Prometheus's `maybeAddMetricName`: ` for metric name "m"`, or nothing.
fn for_metric(metric: &str) -> String {
    if metric.is_empty() { String::new() } else { format!(" for metric name {}", go_q(metric)) }
}

/// Go's `%q` of a string (quotes and escapes; printable UTF-8 kept).
pub(crate) fn go_q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%q` of a byte string that need not be UTF-8 (invalid bytes as
/// `\xNN`, as Go's `strconv.Quote`).
pub(crate) fn go_q_bytes(b: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in b.utf8_chunks() {
        let q = go_q(chunk.valid());
        out.push_str(&q[1..q.len() - 1]);
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out.push('"');
    out
}

/// Go's `%g` of a float.
fn go_g(v: f64) -> String {
    strata_common::histogram::text::go_g(v)
}

/// Go's `%.2g` of a float: two significant digits, trailing zeros
/// dropped, exponent form when the exponent is below −4 or at least the
/// number of digits kept.
fn go_2g(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return go_g(v);
    }
    let e = format!("{:.1e}", v.abs());
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let (nd, dp) = (digits.len() as i32, exp + 1);
    let eprec = if 2 > nd && nd >= dp { nd } else { 2 };
    let sign = if v < 0.0 { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}e{esign}{:02}", exp.abs());
    }
    let decimals = (nd - dp).max(0) as usize;
    format!("{sign}{:.*}", decimals, v.abs())
}

/// A millisecond timestamp as RFC 3339 seconds in UTC (Go's
/// `time.Unix(t/1000, 0).UTC().Format(time.RFC3339)`).
fn rfc3339(t_ms: i64) -> String {
    let secs = t_ms / 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_prometheus_texts() {
        assert_eq!(
            Annotation::possible_non_counter("some_gauge").render(),
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"some_gauge\""
        );
        assert_eq!(
            Annotation::invalid_quantile(f64::NAN).render(),
            "PromQL warning: quantile value should be between 0 and 1, got NaN"
        );
        assert_eq!(
            Annotation::invalid_quantile(1.5).render(),
            "PromQL warning: quantile value should be between 0 and 1, got 1.5"
        );
        assert_eq!(
            Annotation::bad_bucket_label("", "").render(),
            "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"\""
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        let g2: Vec<String> = [5.0, 0.5, 123.0, 0.25, 1e-7, -2.55].iter().map(|v| go_2g(*v)).collect();
        assert_eq!(g2, ["5", "0.5", "1.2e+02", "0.25", "1e-07", "-2.5"]);
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn deduplicated_merged_and_capped() {
        let mut a = Annotations::default();
        assert!(a.is_empty());
        a.add(Annotation::mixed_floats_histograms("m"));
        a.add(Annotation::mixed_floats_histograms("m"));
        a.add(Annotation::forced_monotonicity("", 60_000, 0.1, 0.5, 3.0));
        a.add(Annotation::forced_monotonicity("", 120_000, 0.05, 0.2, 5.0));
        assert_eq!(a.strings(Severity::Warning, 10).len(), 1);
        assert_eq!(
            a.strings(Severity::Info, 10),
            vec![
                "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile), from buckets 0.05 to 0.5, with a max diff of 5, over 2 samples from 1970-01-01T00:01:00Z to 1970-01-01T00:02:00Z"
            ]
        );
        for i in 0..(MAX_KEPT + 5) {
            a.add(Annotation::not_counter(&format!("h{i}")));
        }
        let w = a.strings(Severity::Warning, 10);
        assert_eq!(w.len(), 11);
        assert_eq!(w[10], format!("{} more warning annotations omitted", MAX_KEPT + 6 - 10));
        assert_eq!(a.strings(Severity::Warning, 0).len(), MAX_KEPT + 1);
    }

    #[test]
    fn series_notes_name_the_metric() {
        let notes = SeriesNotes::default();
        notes.note(SeriesNotes::NOT_GAUGE);
        notes.note(SeriesNotes::RECONCILED_SUB);
        let mut a = Annotations::default();
        let labels = Labels::from_pairs([("__name__", "h"), ("a", "b")]).unwrap();
        notes.drain_into(&labels, PositionRange::new(5, 12), &mut a);
        assert!(notes.is_empty());
        let texts: Vec<String> = a.iter().map(|a| a.render_in("idelta(h[5m])")).collect();
        assert_eq!(
            texts,
            vec![
                "PromQL warning: this native histogram metric is not a gauge: \"h\" (1:6)",
                "PromQL info: mismatched custom buckets were reconciled during subtraction (1:6)"
            ]
        );
    }

    #[test]
    fn positions_render_as_prometheus_and_the_latest_duplicate_wins() {
        let q = "sum(\n  rate(a[5m])\n) + rate(a[5m])";
        let expr = promql_parser::parser::parse(q).unwrap();
        let promql_parser::parser::Expr::Binary(b) = &expr else { panic!("{expr:?}") };
        let promql_parser::parser::Expr::Aggregate(sum) = b.lhs.as_ref() else { panic!() };
        let (inner, rhs) = (sum.expr.position_range(), b.rhs.position_range());
        let mut a = Annotations::default();
        a.add(Annotation::possible_non_counter("a").at(inner));
        // No query, no position (as Prometheus with an empty query).
        assert!(a.strings(Severity::Info, 0)[0].ends_with("\"a\""));
        let info = |a: &Annotations| a.clone().in_query(q).strings(Severity::Info, 0);
        assert_eq!(
            info(&a),
            vec![
                "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"a\" (2:3)"
            ]
        );
        a.add(Annotation::possible_non_counter("a").at(rhs));
        assert_eq!(info(&a).len(), 1);
        assert!(info(&a)[0].ends_with(" (3:5)"), "{:?}", info(&a));
        // The monotonicity info keeps its first position.
        let mut m = Annotations::default();
        m.add(Annotation::forced_monotonicity("", 0, 1.0, 2.0, 1.0).at(inner));
        m.add(Annotation::forced_monotonicity("", 0, 1.0, 2.0, 1.0).at(rhs));
        assert!(m.in_query(q).strings(Severity::Info, 0)[0].ends_with(" (2:3)"));
    }
}
