//! A runner for Prometheus's `promqltest` files: PromQL behaviour written
//! as data (`load`, `clear`, `eval instant at …`, `eval range from … to …
//! step …`, `expect fail`, `expect ordered`). Commands the engine or the
//! harness does not support yet are counted as skipped, never as passed.

pub mod parse;

use std::sync::Arc;
use std::time::Duration;

use strata_common::{Labels, Sample, TenantId, Timestamp};

use self::parse::{Command, Expect, SeriesLine};
use crate::engine::{Engine, EngineOptions, QueryRequest, QueryValue};
use crate::error::Error;
use crate::functions::histogram::almost_equal_eps;
use crate::source::memory::MemorySource;

/// Outcome counts of one file (or a sum of files).
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// One line per failure: `file:line: expr: reason`.
    pub failures: Vec<String>,
    /// One line per skip reason occurrence.
    pub skips: Vec<String>,
}

impl Summary {
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
    rt.block_on(run_commands(name, parse::parse_file(text)))
}

async fn run_commands(name: &str, cmds: Vec<Command>) -> Summary {
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
            Command::Load { interval, series, unreadable: names } => {
                unreadable.extend(names);
                for s in series {
                    let samples: Vec<Sample> = s
                        .values
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.map(|v| Sample::new(i as Timestamp * interval, v)))
                        .collect();
                    if let Err(e) = source.append(&tenant, s.labels, &samples) {
                        sum.failed += 1;
                        sum.failures.push(format!("{name}: load failed: {e}"));
                    }
                }
            }
            Command::Unknown { line, text } => {
                sum.skipped += 1;
                sum.skips.push(format!("{name}:{line}: unknown command {text:?}"));
            }
            Command::Eval { line, expr, start, end, step, instant, expect } => {
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
                let result = engine.execute(source.as_ref(), req).await;
                match check(&result, &expect, start, step, instant) {
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
        Err(_) if expect.fail => return Outcome::Pass,
        Err(Error::BadData(msg)) if msg.starts_with("invalid parameter \"query\"") => {
            return Outcome::Skip(format!("parser: {msg}"));
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
    let got: Vec<(Labels, Vec<(Timestamp, f64)>)> = match value {
        QueryValue::Vector(v) => v.iter().map(|s| (s.labels.clone(), vec![(s.t, s.v)])).collect(),
        QueryValue::Matrix(m) if !instant || expect.range.is_some() => {
            m.iter().map(|s| (s.labels.clone(), s.points.to_vec())).collect()
        }
        QueryValue::Matrix(_) => return Outcome::Fail("got a range vector, expected an instant vector".into()),
        other => return Outcome::Fail(format!("expected a vector, got {other:?}")),
    };
    let (start, step) = expect.range.unwrap_or((start, step));
    let want: Vec<(Labels, Vec<(Timestamp, f64)>)> =
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
            && got_points.iter().zip(points).all(|(g, w)| g.0 == w.0 && almost_equal(g.1, w.1));
        if !same {
            return Outcome::Fail(format!("series {labels}: expected {points:?}, got {got_points:?}"));
        }
    }
    Outcome::Pass
}

fn expected_points(s: &SeriesLine, start: Timestamp, step: Timestamp) -> (Labels, Vec<(Timestamp, f64)>) {
    let points =
        s.values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (start + i as Timestamp * step, v))).collect();
    (s.labels.clone(), points)
}

fn show(got: &[(Labels, Vec<(Timestamp, f64)>)]) -> String {
    let items: Vec<String> = got.iter().take(5).map(|(l, p)| format!("{l} {p:?}")).collect();
    items.join("; ")
}
