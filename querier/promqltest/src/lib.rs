//! # strata-promqltest
//!
//! A runner for Prometheus's `promqltest` files against Strata's engine:
//! PromQL behaviour written as data (`load`, `clear`, `eval instant at …`,
//! `eval range from … to … step …`, `expect fail`, `expect ordered`,
//! `expect warn|info|no_warn|no_info [msg:|regex:]`, `eval_warn`, `eval_info`).
//! Commands the engine or the runner does not support yet are counted as
//! skipped, never as passed. Annotations are checked as promqltest's
//! `checkAnnotations` does, their `(line:col)` positions included.
//!
//! ```text
//!  cases/*.test ─parse─▶ Command ─▶ MemorySource (load) ─▶ Engine::execute (eval)
//!                                                            │
//!                                 compare with the expected lines (almost.Equal)
//!                                 or, in complete mode, rewrite them (complete_str)
//! ```
//!
//! - The repository's own cases live in `cases/` and must all pass
//!   (`tests/conformance.rs`); Prometheus's upstream files are run as a report
//!   when `STRATA_TEST_PROMQL_DIR` names them.
//! - Regenerate mode, as DataFusion's sqllogictest `--complete`:
//!   `cargo run -p strata-promqltest -- --complete cases/new.test` rewrites
//!   each evaluated expression's result lines with what the engine answers.
//!   Review the diff: the engine's answer becomes the expectation.

#![warn(missing_docs)]

pub mod hist;
pub mod nhcb;
pub mod parse;

use std::sync::Arc;
use std::time::Duration;

use strata_common::histogram::Histogram;
use strata_common::{HistSample, Labels, Sample, TenantId, Timestamp};

use strata_querier::engine::annotations::{Annotations, Severity};
use strata_querier::engine::numeric::almost_equal_eps;
use strata_querier::engine::{Engine, EngineOptions, QueryRequest, QueryValue};
use strata_querier::error::Error;
use strata_querier::format::FormatFloat;
use strata_querier::source::memory::MemorySource;

use self::parse::{Command, Expect, ExpectAnnotations, SeriesLine};

/// Outcome counts of one file (or a sum of files).
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Evaluations whose result matched.
    pub passed: usize,
    /// Evaluations whose result differed, or commands that failed.
    pub failed: usize,
    /// Commands or evaluations the runner or engine does not support yet.
    pub skipped: usize,
    /// One line per failure: `file:line: expr: reason`.
    pub failures: Vec<String>,
    /// One line per skip reason occurrence.
    pub skips: Vec<String>,
}

impl Summary {
    /// Adds `other`'s counts and lines to these.
    pub fn add(&mut self, other: Summary) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.failures.extend(other.failures);
        self.skips.extend(other.skips);
    }
}

/// Prometheus `almost.Equal` with epsilon 1e-6 (NaN equals NaN).
pub fn almost_equal(a: f64, b: f64) -> bool {
    almost_equal_eps(a, b, 1e-6)
}

/// Runs the commands of one file's text; `name` prefixes failure lines.
pub fn run_str(name: &str, text: &str) -> Summary {
    run_blocking(name, text, None)
}

/// Complete mode: runs one file's text and returns it with the result lines
/// of every evaluation that answered replaced by the engine's answer
/// (evaluations expecting a failure, a string or something unsupported keep
/// their lines). The summary compares against the old expectations.
pub fn complete_str(name: &str, text: &str) -> (Summary, String) {
    let mut rewrites = Vec::new();
    let summary = run_blocking(name, text, Some(&mut rewrites));
    (summary, apply_rewrites(text, rewrites))
}

/// The result lines of one evaluation, rendered (complete mode).
struct Rewrite {
    /// Line indices (0-based) of the result lines to replace.
    replace: Vec<usize>,
    /// Where to insert when there were none: after this line index.
    after: usize,
    lines: Vec<String>,
}

fn run_blocking(name: &str, text: &str, rewrites: Option<&mut Vec<Rewrite>>) -> Summary {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
        Ok(rt) => rt,
        Err(e) => {
            return Summary {
                failed: 1,
                failures: vec![format!("{name}: cannot start a runtime: {e}")],
                ..Default::default()
            };
        }
    };
    rt.block_on(run_commands(name, parse::parse_file(text), rewrites))
}

async fn run_commands(name: &str, cmds: Vec<Command>, mut rewrites: Option<&mut Vec<Rewrite>>) -> Summary {
    let engine = Engine::new(EngineOptions {
        lookback_delta_ms: 300_000,
        max_samples: 50_000_000,
        timeout: Duration::from_secs(60),
        ..Default::default()
    });
    let tenant = TenantId::default_tenant();
    let mut source = Arc::new(MemorySource::new());
    // Metrics the harness could not load (histograms): evals that mention
    // one are skipped until the next `clear` (`None`: any eval is skipped).
    let mut unreadable: Vec<Option<String>> = Vec::new();
    let mut sum = Summary::default();
    for cmd in cmds {
        match cmd {
            Command::Clear => {
                source = Arc::new(MemorySource::new());
                unreadable.clear();
            }
            Command::Load { interval, series, unreadable: names, nhcb } => {
                unreadable.extend(names);
                if nhcb {
                    for (labels, hists) in nhcb::convert(&series, interval) {
                        if let Err(e) = source.append_histograms(&tenant, labels, &hists) {
                            sum.failed += 1;
                            sum.failures.push(format!("{name}: load failed: {e}"));
                        }
                    }
                }
                for s in series {
                    let samples: Vec<Sample> = s
                        .values
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.map(|v| Sample::new(i as Timestamp * interval, v)))
                        .collect();
                    let hists: Vec<HistSample> = s
                        .hists
                        .iter()
                        .enumerate()
                        .filter_map(|(i, h)| h.clone().map(|h| HistSample::new(i as Timestamp * interval, h)))
                        .collect();
                    let loaded = source.append(&tenant, s.labels.clone(), &samples).and_then(|()| {
                        if hists.is_empty() { Ok(()) } else { source.append_histograms(&tenant, s.labels, &hists) }
                    });
                    if let Err(e) = loaded {
                        sum.failed += 1;
                        sum.failures.push(format!("{name}: load failed: {e}"));
                    }
                }
            }
            Command::Unknown { line, text } => {
                sum.skipped += 1;
                sum.skips.push(format!("{name}:{line}: unknown command {text:?}"));
            }
            Command::Eval { line, expr, start, end, step, instant, expect, result_lines, last_line } => {
                let skip = |why: String, sum: &mut Summary| {
                    sum.skipped += 1;
                    sum.skips.push(format!("{name}:{line}: {expr}: {why}"));
                };
                let touches = |n: &Option<String>| n.as_ref().is_none_or(|n| expr.contains(n.as_str()));
                if unreadable.iter().any(touches) {
                    skip("data not loadable (histograms)".into(), &mut sum);
                    continue;
                }
                if let Some(why) = &expect.unsupported {
                    skip(why.clone(), &mut sum);
                    continue;
                }
                let req = QueryRequest {
                    tenant: tenant.clone(),
                    query: expr.clone(),
                    start,
                    end,
                    step,
                    instant,
                    timeout: None,
                };
                let result = engine.execute_with_stats(source.as_ref(), req).await;
                let (result, annotations) = match result {
                    Ok((value, stats)) => (Ok(value), stats.annotations),
                    Err(e) => (Err(e), Annotations::default()),
                };
                if let (Some(out), Ok(value)) = (rewrites.as_deref_mut(), &result)
                    && !expect.fail
                    && expect.string.is_none()
                {
                    let (start, step) = expect.range.unwrap_or((start, step));
                    let end = if expect.range.is_some() { Timestamp::MAX } else { end };
                    out.push(Rewrite {
                        replace: result_lines,
                        after: last_line,
                        lines: render(value, start, end, step),
                    });
                }
                let outcome = match check(&result, &expect, start, step, instant) {
                    Outcome::Pass if result.is_ok() => match check_annotations(&annotations, &expect.annotations) {
                        Some(why) => Outcome::Fail(why),
                        None => Outcome::Pass,
                    },
                    other => other,
                };
                match outcome {
                    Outcome::Pass => sum.passed += 1,
                    Outcome::Skip(why) => skip(why, &mut sum),
                    Outcome::Fail(why) => {
                        sum.failed += 1;
                        sum.failures.push(format!("{name}:{line}: {expr}: {why}"));
                    }
                }
            }
        }
    }
    sum
}

/// What is wrong with a query's annotations, as promqltest's
/// `checkAnnotations` decides (`None`: nothing).
fn check_annotations(got: &Annotations, want: &ExpectAnnotations) -> Option<String> {
    let kinds = [
        ("warn", Severity::Warning, want.warn, want.no_warn, &want.warnings),
        ("info", Severity::Info, want.info, want.no_info, &want.infos),
    ];
    for (kind, severity, some, none, texts) in kinds {
        let have = got.strings(severity, 0);
        if (some || !texts.is_empty()) && have.is_empty() {
            return Some(format!("expected {kind} annotations, got none"));
        }
        if none && !have.is_empty() {
            return Some(format!("unexpected {kind} annotations: {have:?}"));
        }
        if texts.is_empty() {
            continue;
        }
        if let Some(t) = texts.iter().find(|t| !have.iter().any(|h| t.matches(h))) {
            return Some(format!("expected a {kind} annotation matching {t:?}, got {have:?}"));
        }
        if let Some(h) = have.iter().find(|h| !texts.iter().any(|t| t.matches(h))) {
            return Some(format!("unexpected {kind} annotation {h:?} (expected {texts:?})"));
        }
    }
    None
}

enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

fn check(
    result: &Result<QueryValue, Error>,
    expect: &Expect,
    start: Timestamp,
    step: Timestamp,
    instant: bool,
) -> Outcome {
    let value = match result {
        Err(e) if e.is_unsupported() => return Outcome::Skip(e.to_string()),
        Err(e) if expect.fail => {
            return match &expect.fail_message {
                // A parser error where a specific one is asked for is syntax
                // promql-parser cannot read, as below.
                Some(want) if !want.matches(&e.to_string()) && is_parser_error(e) => {
                    Outcome::Skip(format!("parser: {e}"))
                }
                Some(want) if !want.matches(&e.to_string()) => {
                    Outcome::Fail(format!("expected the error {want:?}, got {:?}", e.to_string()))
                }
                _ => Outcome::Pass,
            };
        }
        Err(e) if is_parser_error(e) => {
            return Outcome::Skip(format!("parser: {e}"));
        }
        Err(e) => return Outcome::Fail(format!("unexpected error: {e}")),
        Ok(_) if expect.fail => return Outcome::Fail("expected an error, got a result".into()),
        Ok(v) => v,
    };
    if let Some(want) = &expect.string {
        return match value {
            QueryValue::String { v, .. } if v == want => Outcome::Pass,
            other => Outcome::Fail(format!("expected string {want:?}, got {other:?}")),
        };
    }
    if let Some(want) = expect.scalar {
        return match value {
            QueryValue::Scalar { v, .. } if almost_equal(*v, want) => Outcome::Pass,
            other => Outcome::Fail(format!("expected scalar {want}, got {other:?}")),
        };
    }
    let got: Vec<(Labels, Vec<(Timestamp, Point)>)> = match value {
        QueryValue::Vector(v) => v
            .iter()
            .map(|s| {
                let p = match &s.h {
                    Some(h) => Point::H((**h).clone()),
                    None => Point::F(s.v),
                };
                (s.labels.clone(), vec![(s.t, p)])
            })
            .collect(),
        QueryValue::Matrix(m) if !instant || expect.range.is_some() => m
            .iter()
            .map(|s| {
                let mut pts: Vec<(Timestamp, Point)> = s.points.iter().map(|(t, v)| (t, Point::F(v))).collect();
                pts.extend(s.hist.iter().map(|(t, h)| (*t, Point::H((**h).clone()))));
                pts.sort_by_key(|p| p.0);
                (s.labels.clone(), pts)
            })
            .collect(),
        QueryValue::Matrix(_) => return Outcome::Fail("got a range vector, expected an instant vector".into()),
        other => return Outcome::Fail(format!("expected a vector, got {other:?}")),
    };
    let (start, step) = expect.range.unwrap_or((start, step));
    let want: Vec<(Labels, Vec<(Timestamp, Point)>)> =
        expect.series.iter().map(|s| expected_points(s, start, step)).collect();
    if got.len() != want.len() {
        return Outcome::Fail(format!("expected {} series, got {}: {}", want.len(), got.len(), show(&got)));
    }
    for (k, (labels, points)) in want.iter().enumerate() {
        let found =
            if expect.ordered { got.get(k).filter(|g| &g.0 == labels) } else { got.iter().find(|g| &g.0 == labels) };
        let Some((_, got_points)) = found else {
            return Outcome::Fail(format!("missing series {labels} (ordered: {}); got {}", expect.ordered, show(&got)));
        };
        let same = got_points.len() == points.len()
            && got_points.iter().zip(points).all(|(g, w)| g.0 == w.0 && g.1.matches(&w.1));
        if !same {
            return Outcome::Fail(format!("series {labels}: expected {points:?}, got {got_points:?}"));
        }
    }
    Outcome::Pass
}

/// One point of a result: a float or a native histogram.
#[derive(Debug, Clone)]
enum Point {
    F(f64),
    H(Histogram),
}

impl Point {
    /// Whether `self` (the engine's answer) matches `want` as promqltest
    /// compares them: floats with `almost.Equal`; histograms compacted,
    /// with equal schema, zero threshold, custom bounds and spans, and
    /// counts, sum and buckets `almost.Equal` (the reset hint is not
    /// compared).
    fn matches(&self, want: &Point) -> bool {
        match (self, want) {
            (Point::F(a), Point::F(b)) => almost_equal(*a, *b),
            (Point::H(a), Point::H(b)) => hist_matches(a, b),
            _ => false,
        }
    }
}

fn hist_matches(got: &Histogram, want: &Histogram) -> bool {
    let (a, b) = (got.compact(), want.compact());
    let all = |x: &[f64], y: &[f64]| x.len() == y.len() && x.iter().zip(y).all(|(p, q)| almost_equal(*p, *q));
    a.schema == b.schema
        && almost_equal(a.count, b.count)
        && almost_equal(a.sum, b.sum)
        && (!b.uses_custom_buckets() || a.custom_values == b.custom_values)
        && a.zero_threshold == b.zero_threshold
        && almost_equal(a.zero_count, b.zero_count)
        && a.positive_spans == b.positive_spans
        && a.negative_spans == b.negative_spans
        && all(&a.positive_buckets, &b.positive_buckets)
        && all(&a.negative_buckets, &b.negative_buckets)
}

fn expected_points(s: &SeriesLine, start: Timestamp, step: Timestamp) -> (Labels, Vec<(Timestamp, Point)>) {
    let points = s
        .values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let t = start + i as Timestamp * step;
            match (v, s.hists.get(i).and_then(Option::as_ref)) {
                (Some(v), _) => Some((t, Point::F(*v))),
                (None, Some(h)) => Some((t, Point::H(h.clone()))),
                (None, None) => None,
            }
        })
        .collect();
    (s.labels.clone(), points)
}

fn show(got: &[(Labels, Vec<(Timestamp, Point)>)]) -> String {
    let items: Vec<String> = got.iter().take(5).map(|(l, p)| format!("{l} {p:?}")).collect();
    items.join("; ")
}

/// A result as promqltest result lines: `name{a="b"} v1 v2 _ v4` per series
/// (points at `start + i * step`, `_` where a step has none), or a bare
/// number for a scalar.
fn render(value: &QueryValue, start: Timestamp, end: Timestamp, step: Timestamp) -> Vec<String> {
    let series_line = |labels: &Labels, points: &[(Timestamp, f64)]| {
        let mut line = labels.to_string();
        let last = points.last().map_or(start, |p| p.0).min(end);
        let mut points = points.iter().peekable();
        let mut t = start;
        while t <= last {
            match points.next_if(|p| p.0 == t) {
                Some(p) => line.push_str(&format!(" {}", FormatFloat(p.1))),
                None => line.push_str(" _"),
            }
            t += step.max(1);
        }
        line
    };
    match value {
        QueryValue::Scalar { v, .. } => vec![FormatFloat(*v).to_string()],
        QueryValue::Vector(v) => v.iter().map(|s| series_line(&s.labels, &[(start, s.v)])).collect(),
        QueryValue::Matrix(m) => m.iter().map(|s| series_line(&s.labels, &s.points.to_vec())).collect(),
        QueryValue::String { v, .. } => vec![format!("expect string {v:?}")],
    }
}

/// `text` with each rewrite's result lines replaced by its rendered lines.
fn apply_rewrites(text: &str, rewrites: Vec<Rewrite>) -> String {
    let mut lines: Vec<Option<String>> = text.lines().map(|l| Some(l.to_string())).collect();
    let mut inserts: Vec<(usize, Vec<String>)> = Vec::new();
    for r in rewrites {
        let at = r.replace.first().map_or(r.after, |&first| first.saturating_sub(1));
        for &i in &r.replace {
            lines[i] = None;
        }
        let indent = r.replace.first().map_or("    ".to_string(), |&i| {
            let l = text.lines().nth(i).unwrap_or("");
            l[..l.len() - l.trim_start().len()].to_string()
        });
        inserts.push((at, r.lines.into_iter().map(|l| format!("{indent}{l}")).collect()));
    }
    let mut out = String::new();
    let mut inserts = inserts.into_iter().peekable();
    for (i, line) in lines.into_iter().enumerate() {
        if let Some(line) = line {
            out.push_str(&line);
            out.push('\n');
        }
        while let Some((_, new)) = inserts.next_if(|(at, _)| *at == i) {
            for l in new {
                out.push_str(&l);
                out.push('\n');
            }
        }
    }
    out
}

/// Whether the engine refused the query text itself.
fn is_parser_error(e: &Error) -> bool {
    matches!(e, Error::BadData(msg) if msg.starts_with("invalid parameter \"query\""))
}
