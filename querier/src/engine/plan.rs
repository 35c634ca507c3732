//! Query planning: checks that every node of the AST is supported (so an
//! unsupported query fails before any data is read), converts selectors to
//! storage matchers and computes the time window each selector reads.

use std::time::{SystemTime, UNIX_EPOCH};

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};
use strata_common::labels::METRIC_NAME;
use strata_common::select::StepHint;
use strata_common::{MatchOp, Matcher, Timestamp};

use super::{aggregate, binary};
use crate::engine::functions;
use crate::error::{Error, Result};

/// The query's time grid, as the planner needs it.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    /// First step, ms.
    pub start: Timestamp,
    /// Last step, ms.
    pub end: Timestamp,
    /// Step width, ms.
    pub step: Timestamp,
    /// Instant-selector lookback, ms.
    pub lookback: Timestamp,
    /// The whole query's first and last step, ms: what `@ start()` and
    /// `@ end()` mean on every grid, a subquery's included.
    pub query: (Timestamp, Timestamp),
}

/// Step of a subquery without an explicit one (Prometheus's default
/// evaluation interval).
pub const DEFAULT_SUBQUERY_STEP: Timestamp = 60_000;

/// The grid a subquery's inner expression is evaluated on: steps aligned to
/// multiples of the subquery step, first one after `ref(start) - range`.
pub fn subquery_grid(outer: &Grid, sq: &SubqueryExpr) -> Grid {
    let t = Timing::of_parts(sq.offset.as_ref(), sq.at.as_ref(), outer);
    let range = sq.range.as_millis() as Timestamp;
    let step = sq.step.map_or(DEFAULT_SUBQUERY_STEP, |d| d.as_millis() as Timestamp).max(1);
    let (lo, hi) = (t.ref_t(outer.start) - range, t.ref_t(outer.end));
    // Go's integer division truncates toward zero; so does Rust's.
    let mut start = step * (lo / step);
    if start <= lo {
        start += step;
    }
    Grid { start, end: hi, step, lookback: outer.lookback, query: outer.query }
}

/// When a selector reads, relative to each step: `ref = (at or step) - offset`.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The `offset`, ms (negative for a negative offset).
    pub offset: Timestamp,
    /// The `@` time, ms.
    pub at: Option<Timestamp>,
}

impl Timing {
    /// The timing of selector `vs` on `grid`.
    pub fn of(vs: &VectorSelector, grid: &Grid) -> Self {
        Self::of_parts(vs.offset.as_ref(), vs.at.as_ref(), grid)
    }

    /// From an `offset` and an `@` modifier.
    pub fn of_parts(offset: Option<&Offset>, at: Option<&AtModifier>, grid: &Grid) -> Self {
        let offset = match offset {
            Some(Offset::Pos(d)) => d.as_millis() as Timestamp,
            Some(Offset::Neg(d)) => -(d.as_millis() as Timestamp),
            None => 0,
        };
        let at = at.map(|at| match at {
            AtModifier::Start => grid.query.0,
            AtModifier::End => grid.query.1,
            AtModifier::At(t) => system_time_ms(*t),
        });
        Self { offset, at }
    }

    /// The reference time of a step at `t`.
    #[inline]
    pub fn ref_t(&self, t: Timestamp) -> Timestamp {
        self.at.unwrap_or(t) - self.offset
    }

    /// The sample window `[min, max]` a selector looking back `range` ms reads.
    pub fn window(&self, grid: &Grid, range: Timestamp) -> (Timestamp, Timestamp) {
        let (lo, hi) = (self.ref_t(grid.start), self.ref_t(grid.end));
        (lo - range + 1, hi)
    }
}

/// Milliseconds since the epoch (negative before it).
pub fn system_time_ms(t: SystemTime) -> Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as Timestamp,
        Err(e) => -(e.duration().as_millis() as Timestamp),
    }
}

/// One selection to fetch before evaluation.
#[derive(Debug)]
pub struct Selection {
    /// Address of the selector node: the key the evaluator looks it up by.
    pub key: usize,
    /// The selector's storage matchers.
    pub matchers: Vec<Matcher>,
    /// First time of the window it reads.
    pub min_t: Timestamp,
    /// Last time of the window it reads.
    pub max_t: Timestamp,
    /// The steps it is evaluated at, for sources to drop the samples no
    /// step looks at (`None` inside subqueries: they are left whole).
    pub steps: Option<StepHint>,
}

/// The storage matchers of a selector (the metric name becomes `__name__=`).
pub fn matchers_of(vs: &VectorSelector) -> Result<Vec<Matcher>> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(Error::Unsupported("the `or` operator inside label matchers".into()));
    }
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        out.push(Matcher::equal(METRIC_NAME, name.clone()));
    }
    for m in &vs.matchers.matchers {
        let op = match m.op {
            PMatchOp::Equal => MatchOp::Equal,
            PMatchOp::NotEqual => MatchOp::NotEqual,
            PMatchOp::Re(_) => MatchOp::RegexMatch,
            PMatchOp::NotRe(_) => MatchOp::RegexNoMatch,
        };
        out.push(Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| Error::BadData(e.to_string()))?);
    }
    Ok(out)
}

/// Walks `expr`: fails on unsupported nodes, collects the selections.
pub fn plan(expr: &Expr, grid: &Grid, out: &mut Vec<Selection>) -> Result<()> {
    plan_in(expr, grid, out, true)
}

/// The step hint of a selector with `timing` looking back `range` on
/// `grid` (`latest_only` for an instant selector).
fn step_hint(timing: &Timing, grid: &Grid, range: Timestamp, latest_only: bool) -> StepHint {
    StepHint {
        first: timing.ref_t(grid.start),
        last: timing.ref_t(grid.end),
        step: grid.step.max(1),
        range,
        latest_only,
    }
}

/// [`plan`]; `hints`: whether selections carry step hints (not under a
/// subquery, whose inner steps are left to its evaluation).
fn plan_in(expr: &Expr, grid: &Grid, out: &mut Vec<Selection>, hints: bool) -> Result<()> {
    match expr {
        Expr::Aggregate(a) => {
            aggregate::check(a)?;
            if let Some(p) = &a.param {
                plan_in(p, grid, out, hints)?;
            }
            plan_in(&a.expr, grid, out, hints)
        }
        Expr::Unary(u) => plan_in(&u.expr, grid, out, hints),
        Expr::Binary(b) => {
            binary::check(b)?;
            plan_in(&b.lhs, grid, out, hints)?;
            plan_in(&b.rhs, grid, out, hints)
        }
        Expr::Paren(p) => plan_in(&p.expr, grid, out, hints),
        Expr::Subquery(sq) => plan_in(&sq.expr, &subquery_grid(grid, sq), out, false),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(vs) => {
            let timing = Timing::of(vs, grid);
            let (min_t, max_t) = timing.window(grid, grid.lookback);
            let steps = hints.then(|| step_hint(&timing, grid, grid.lookback, true));
            let key = vs as *const VectorSelector as usize;
            out.push(Selection { key, matchers: matchers_of(vs)?, min_t, max_t, steps });
            Ok(())
        }
        Expr::MatrixSelector(ms) => {
            let timing = Timing::of(&ms.vs, grid);
            let range = ms.range.as_millis() as Timestamp;
            let (min_t, max_t) = timing.window(grid, range);
            let steps = hints.then(|| step_hint(&timing, grid, range, false));
            let key = &ms.vs as *const VectorSelector as usize;
            out.push(Selection { key, matchers: matchers_of(&ms.vs)?, min_t, max_t, steps });
            Ok(())
        }
        Expr::Call(call) => {
            functions::check(call)?;
            call.args.args.iter().try_for_each(|a| plan_in(a, grid, out, hints))
        }
        Expr::Extension(_) => Err(Error::Unsupported("extension expressions".into())),
    }
}
