//! PromQL functions as a table: each family lives in its own module and
//! exports a slice of [`FnDef`]s; [`lookup`] searches them all. Adding a
//! function is adding one entry (and, for a new shape, a [`Kind`]).

pub mod hist_range;
pub mod histogram;
pub mod labels;
pub mod math;
pub mod native;
pub mod over_time;
pub mod rate;
pub mod smoothing;
pub mod stats;
pub mod time;

use promql_parser::parser::{Call, Expr, VectorSelector};
use strata_common::sample::is_stale_nan;
use strata_common::{HistSample, Sample, Timestamp};

use self::hist_range::{HOut, HistFn, HistWindow};
use crate::engine::annotations::{self, Annotation, Annotations, PositionRange, SeriesNotes};
use crate::engine::ctx::{EvalCtx, HistColumn, SeriesStream, StepSeries, Value, VecStream, collect};
use crate::engine::eval::{MapStream, RangeInput, SCALAR_BYTES, eval, unparen};
use crate::engine::parallel::{Batched, GridView, SeriesKernel};
use crate::engine::plan::{Grid, Timing};
use crate::error::{Error, Result};

/// The samples a range function sees at one step.
#[derive(Debug, Clone, Copy)]
pub struct RangeWindow<'s> {
    /// Samples in `(range_start, range_end]`, stale markers removed.
    pub samples: &'s [Sample],
    /// The window's exclusive start.
    pub range_start: Timestamp,
    /// The window's inclusive end.
    pub range_end: Timestamp,
    /// The selector's range in ms.
    pub range: Timestamp,
    /// The evaluation time of this step (before offset and `@`).
    pub step_t: Timestamp,
    /// The scalar parameter at this step (e.g. φ of `quantile_over_time`),
    /// NaN for functions without one.
    pub param: f64,
    /// False when no sample of the window is below the one before it (the
    /// whole series never decreases), so a counter has no reset to scan for.
    pub may_reset: bool,
}

/// How a function is evaluated.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `f(range-vector)`: one value per series per step from its window.
    Range(fn(&RangeWindow<'_>) -> Option<f64>),
    /// `f(scalar, range-vector)`: as `Range`, the scalar in `param`.
    RangeParam(fn(&RangeWindow<'_>) -> Option<f64>),
    /// `f(range-vector, scalar)`: as `Range`, the scalar in `param`.
    RangeParamLast(fn(&RangeWindow<'_>) -> Option<f64>),
    /// `f(instant-vector)`: applied to every value.
    Elementwise(fn(f64) -> f64),
    /// `f(instant-vector, scalar...)`: applied to every value with the
    /// scalars at that step; missing optional scalars take `defaults`
    /// (`None` drops the point).
    ElementwiseArgs {
        /// The function of the value and the scalars.
        f: fn(f64, &[f64]) -> Option<f64>,
        /// Values of the optional scalars.
        defaults: &'static [f64],
    },
    /// A constant scalar (`pi()`).
    Constant(f64),
    /// Evaluated by its own code (label functions, `absent`, ...).
    Custom(for<'a> fn(&'a EvalCtx, &'a Call) -> Result<Value<'a>>),
    /// `time()`.
    Time,
    /// `vector(scalar)`.
    Vector,
    /// `scalar(instant-vector)`.
    Scalar,
}

/// One function.
#[derive(Debug)]
pub struct FnDef {
    /// The PromQL name.
    pub name: &'static str,
    /// How it is evaluated.
    pub kind: Kind,
    /// Whether the result keeps `__name__` (Prometheus 3 drops it for most).
    pub keep_name: bool,
}

/// `time()`, `vector()`, `scalar()`.
static MISC: &[FnDef] = &[
    FnDef { name: "time", kind: Kind::Time, keep_name: false },
    FnDef { name: "vector", kind: Kind::Vector, keep_name: false },
    FnDef { name: "scalar", kind: Kind::Scalar, keep_name: false },
];

/// The function named `name`, if supported.
pub fn lookup(name: &str) -> Option<&'static FnDef> {
    [
        rate::FUNCTIONS,
        over_time::FUNCTIONS,
        stats::FUNCTIONS,
        math::FUNCTIONS,
        labels::FUNCTIONS,
        time::FUNCTIONS,
        histogram::FUNCTIONS,
        native::FUNCTIONS,
        smoothing::FUNCTIONS,
        MISC,
    ]
    .into_iter()
    .flatten()
    .find(|f| f.name == name)
}

/// The index of the range-vector argument of a range function.
fn matrix_arg(kind: &Kind) -> Option<usize> {
    match kind {
        Kind::Range(_) | Kind::RangeParamLast(_) => Some(0),
        Kind::RangeParam(_) => Some(1),
        _ => None,
    }
}

/// Fails for functions the engine does not implement yet.
pub fn check(call: &Call) -> Result<()> {
    let def = lookup(call.func.name).ok_or_else(|| Error::Unsupported(format!("function {}", call.func.name)))?;
    if let Some(i) = matrix_arg(&def.kind)
        && !matches!(call.args.args.get(i).map(|a| unparen(a)), Some(Expr::MatrixSelector(_) | Expr::Subquery(_)))
    {
        return Err(Error::BadData(format!("expected a range vector as argument {} of {}", i + 1, def.name)));
    }
    Ok(())
}

/// Evaluates a function call.
pub fn eval_call<'a>(ctx: &'a EvalCtx, call: &'a Call) -> Result<Value<'a>> {
    check(call)?;
    let name = call.func.name;
    if name.starts_with("sort") && ctx.start != ctx.end {
        ctx.annotate(call.pos, Annotation::sort_in_range_query());
    }
    // Prometheus's functions annotate at their first argument.
    let pos = first_arg_pos(call);
    let def = lookup(name).ok_or_else(|| Error::Unsupported(format!("function {name}")))?;
    let arg = |i: usize| {
        call.args
            .args
            .get(i)
            .map(|a| a.as_ref())
            .ok_or_else(|| Error::BadData(format!("missing argument {i} of {name}")))
    };
    let scalar_arg = |i: usize| -> Result<Option<Vec<f64>>> {
        match call.args.args.get(i) {
            None => Ok(None),
            Some(a) => match eval(ctx, a)? {
                Value::Scalar(v) => Ok(Some(v)),
                _ => Err(Error::BadData(format!("expected a scalar as argument {} of {name}", i + 1))),
            },
        }
    };
    match def.kind {
        Kind::Range(f) | Kind::RangeParam(f) | Kind::RangeParamLast(f) => {
            let i = matrix_arg(&def.kind).unwrap_or(0);
            let param = match def.kind {
                Kind::RangeParam(_) if name == "quantile_over_time" => {
                    let phi = scalar_arg(0)?.unwrap_or_default();
                    crate::engine::aggregate::check_quantile_param(ctx, &phi, pos);
                    phi
                }
                Kind::RangeParam(_) => scalar_arg(0)?.unwrap_or_default(),
                Kind::RangeParamLast(_) => scalar_arg(1)?.unwrap_or_default(),
                _ => {
                    ctx.hold_steps(SCALAR_BYTES)?;
                    vec![f64::NAN; ctx.steps]
                }
            };
            let keep_name = def.keep_name;
            // A range selector's series are loaded and evaluated in
            // parallel batches; a subquery's were evaluated already.
            if let Expr::MatrixSelector(ms) = unparen(arg(i)?) {
                let g = Grid {
                    start: ctx.start,
                    end: ctx.end,
                    step: ctx.step,
                    lookback: ctx.lookback,
                    query: ctx.query_range(),
                };
                let timing = Timing::of(&ms.vs, &g);
                let range = ms.range.as_millis() as Timestamp;
                let window = timing.window(&g, range);
                let iter = ctx.take_selection(&ms.vs as *const VectorSelector as usize)?;
                let hf = hist_range::lookup(name);
                // Under histogram_count/_sum/_avg: a lookback more, for the
                // histograms' predecessors (see `eval::stats_hints`).
                let stats = ctx.hist_stats().then_some(window.0);
                let window = (window.0 - if stats.is_some() { ctx.lookback } else { 0 }, window.1);
                let kernel = RangeKernel { grid: GridView::of(ctx), timing, range, window, f, hf, param, stats, pos };
                let inner = Batched::new(ctx, iter, kernel);
                let counter_check = CounterCheck::of(name, pos);
                return Ok(Value::Vector(Box::new(DropName { ctx, inner, keep_name, counter_check })));
            }
            let input = RangeInput::new(ctx, arg(i)?)?;
            let hf = hist_range::lookup(name);
            let counter_check = CounterCheck::of(name, pos);
            Ok(Value::Vector(Box::new(RangeFnStream { iter: input, f, hf, param, keep_name, counter_check, pos })))
        }
        Kind::ElementwiseArgs { f, defaults } => {
            let inner = match eval(ctx, arg(0)?)? {
                Value::Vector(inner) => inner,
                _ => return Err(Error::BadData(format!("expected an instant vector argument to {name}"))),
            };
            let mut args = Vec::with_capacity(defaults.len());
            for (k, d) in defaults.iter().enumerate() {
                let arg = match scalar_arg(k + 1)? {
                    Some(v) => v,
                    None => {
                        ctx.hold_steps(SCALAR_BYTES)?;
                        vec![*d; ctx.steps]
                    }
                };
                args.push(arg);
            }
            Ok(Value::Vector(Box::new(ArgsMapStream { inner, args, f, keep_name: def.keep_name })))
        }
        Kind::Constant(c) => {
            ctx.hold_steps(SCALAR_BYTES)?;
            Ok(Value::Scalar(vec![c; ctx.steps]))
        }
        Kind::Custom(f) => f(ctx, call),
        Kind::Elementwise(f) => match eval(ctx, arg(0)?)? {
            Value::Vector(inner) => Ok(Value::Vector(Box::new(MapStream {
                inner,
                drop_name: !def.keep_name,
                f: Box::new(move |x| Some(f(x))),
            }))),
            _ => Err(Error::BadData(format!("expected an instant vector argument to {name}"))),
        },
        Kind::Time => {
            ctx.hold_steps(SCALAR_BYTES)?;
            Ok(Value::Scalar((0..ctx.steps).map(|i| ctx.ts(i) as f64 / 1000.0).collect()))
        }
        Kind::Vector => match eval(ctx, arg(0)?)? {
            // The step buffer is this node's (see `eval::step_buffers`).
            Value::Scalar(v) => {
                let s = StepSeries::new(strata_common::Labels::empty(), v.into_iter().map(Some).collect());
                Ok(Value::Vector(Box::new(VecStream::new(vec![s]))))
            }
            _ => Err(Error::BadData("expected a scalar argument to vector".into())),
        },
        Kind::Scalar => match eval(ctx, arg(0)?)? {
            Value::Vector(mut inner) => {
                let (all, _held) = collect(ctx, inner.as_mut())?;
                ctx.hold_steps(SCALAR_BYTES)?;
                let values = (0..ctx.steps)
                    .map(|i| {
                        let mut present = all.iter().filter_map(|s| s.values[i]);
                        match (present.next(), present.next()) {
                            (Some(v), None) => v,
                            _ => f64::NAN,
                        }
                    })
                    .collect();
                Ok(Value::Scalar(values))
            }
            _ => Err(Error::BadData("expected an instant vector argument to scalar".into())),
        },
    }
}

/// Applies a range function to each selected series.
struct RangeFnStream<'a> {
    iter: RangeInput<'a>,
    f: fn(&RangeWindow<'_>) -> Option<f64>,
    /// The function over windows with histograms, if it has one.
    hf: Option<HistFn>,
    /// The scalar parameter per step (NaN when the function has none).
    param: Vec<f64>,
    keep_name: bool,
    /// `rate` / `increase`: see [`CounterCheck`].
    counter_check: Option<CounterCheck>,
    /// Where annotations point (the call's first argument).
    pos: PositionRange,
}

/// Where Prometheus's functions point their annotations: their first
/// argument (the empty range for a call without one).
pub fn first_arg_pos(call: &Call) -> PositionRange {
    call.args.args.first().map(|a| a.position_range()).unwrap_or_default()
}

impl SeriesStream for RangeFnStream<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        while let Some(labels) = self.iter.advance()? {
            let range = self.iter.range;
            let (f, param, ctx) = (self.f, &self.param, self.iter.ctx);
            let mut step = 0;
            let mut values = ctx.step_values();
            let hist = if self.iter.hist_samples().is_empty() {
                self.iter.per_step(&mut values, |w, range_start, range_end| {
                    step += 1;
                    if w.is_empty() {
                        return None;
                    }
                    let param = param.get(step - 1).copied().unwrap_or(f64::NAN);
                    let step_t = ctx.ts(step - 1);
                    f(&RangeWindow { samples: w, range_start, range_end, range, step_t, param, may_reset: true })
                });
                None
            } else {
                let refs = (0..ctx.steps).map(|i| self.iter.timing.ref_t(ctx.ts(i)));
                let steps = (0..ctx.steps).map(|i| ctx.ts(i));
                let w = Windows {
                    samples: self.iter.samples(),
                    hists: self.iter.hist_samples(),
                    range,
                    param,
                    may_reset: true,
                };
                let notes = SeriesNotes::default();
                let col = hist_windows(&w, refs, steps, f, self.hf, &mut values, &notes);
                if !notes.is_empty() {
                    let mut a = Annotations::default();
                    notes.drain_into(&labels, self.pos, &mut a);
                    ctx.annotate_all(a);
                }
                col
            };
            let mut s = StepSeries { labels, values, hist };
            if s.has_values() {
                if let Some(c) = &mut self.counter_check {
                    c.check(ctx, &s);
                }
                if !self.keep_name {
                    s.labels.remove(strata_common::labels::METRIC_NAME);
                }
                return Ok(Some(s));
            }
            ctx.recycle(s);
        }
        Ok(None)
    }
}

/// Applies an element-wise function with per-step scalar arguments.
struct ArgsMapStream<'a> {
    inner: Box<dyn SeriesStream + 'a>,
    args: Vec<Vec<f64>>,
    f: fn(f64, &[f64]) -> Option<f64>,
    keep_name: bool,
}

impl SeriesStream for ArgsMapStream<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        let mut scratch = vec![0.0; self.args.len()];
        while let Some(mut s) = self.inner.next_series()? {
            s.drop_hist();
            for (i, v) in s.values.iter_mut().enumerate() {
                let Some(x) = *v else { continue };
                for (slot, a) in scratch.iter_mut().zip(&self.args) {
                    *slot = a[i];
                }
                *v = (self.f)(x, &scratch);
            }
            if s.has_values() {
                if !self.keep_name {
                    s.labels.remove(strata_common::labels::METRIC_NAME);
                }
                return Ok(Some(s));
            }
        }
        Ok(None)
    }
}

/// The per-series work of a range function over a range selector: the
/// window slides over the series' samples (each sample enters and leaves
/// once), and the function sees each step's window as a slice.
struct RangeKernel {
    grid: GridView,
    timing: Timing,
    range: Timestamp,
    window: (Timestamp, Timestamp),
    f: fn(&RangeWindow<'_>) -> Option<f64>,
    /// The function over windows with histograms, if it has one.
    hf: Option<HistFn>,
    /// The scalar parameter per step (NaN when the function has none).
    param: Vec<f64>,
    /// Under `histogram_count`/`_sum`/`_avg`: the start of the selector's
    /// own window (`window` starts a lookback earlier).
    stats: Option<Timestamp>,
    /// Where annotations point (the call's first argument).
    pos: PositionRange,
}

impl SeriesKernel for RangeKernel {
    fn window(&self) -> (Timestamp, Timestamp) {
        self.window
    }

    fn pos(&self) -> PositionRange {
        self.pos
    }

    fn eval(&self, samples: &mut Vec<Sample>, out: &mut Vec<Option<f64>>) {
        if let Some(min) = self.stats {
            crate::engine::eval::drop_before(samples, min);
        }
        if samples.iter().any(|s| is_stale_nan(s.v)) {
            samples.retain(|s| !is_stale_nan(s.v));
        }
        let samples = &samples[..];
        let may_reset = samples.windows(2).any(|w| w[1].v < w[0].v);
        let refs = (0..self.grid.steps).map(|i| self.timing.ref_t(self.grid.ts(i)));
        super::eval::for_each_window(samples, self.range, refs, |i, w, start, r| {
            out.push(if w.is_empty() {
                None
            } else {
                let param = self.param.get(i).copied().unwrap_or(f64::NAN);
                (self.f)(&RangeWindow {
                    samples: w,
                    range_start: start,
                    range_end: r,
                    range: self.range,
                    step_t: self.grid.ts(i),
                    param,
                    may_reset,
                })
            });
        });
    }

    fn eval_hist(
        &self,
        samples: &mut Vec<Sample>,
        hists: &[HistSample],
        out: &mut Vec<Option<f64>>,
        notes: &SeriesNotes,
    ) -> Option<HistColumn> {
        samples.retain(|s| !is_stale_nan(s.v) && self.stats.is_none_or(|min| s.t >= min));
        let hists: Vec<HistSample> = match self.stats {
            Some(min) => crate::engine::eval::stats_hints(hists, min).into_iter().filter(|h| !h.h.is_stale()).collect(),
            None => hists.iter().filter(|h| !h.h.is_stale()).cloned().collect(),
        };
        let may_reset = samples.windows(2).any(|w| w[1].v < w[0].v);
        let refs = (0..self.grid.steps).map(|i| self.timing.ref_t(self.grid.ts(i)));
        let steps = (0..self.grid.steps).map(|i| self.grid.ts(i));
        let w = Windows { samples, hists: &hists, range: self.range, param: &self.param, may_reset };
        hist_windows(&w, refs, steps, self.f, self.hf, out, notes)
    }
}

/// One series' samples for [`hist_windows`].
struct Windows<'s> {
    samples: &'s [Sample],
    hists: &'s [HistSample],
    range: Timestamp,
    /// The scalar parameter per step (NaN when the function has none).
    param: &'s [f64],
    may_reset: bool,
}

/// Evaluates a range function per step over a series with histograms:
/// a window without histograms goes to the float function `f`, one with
/// histograms to `hf` (or, without it, to `f` over the floats alone, noting
/// that the histograms were ignored). Pushes one float per step to `out`;
/// returns the histogram column when some step has a histogram result.
fn hist_windows(
    ws: &Windows<'_>,
    refs: impl Iterator<Item = Timestamp>,
    steps: impl Iterator<Item = Timestamp>,
    f: fn(&RangeWindow<'_>) -> Option<f64>,
    hf: Option<HistFn>,
    out: &mut Vec<Option<f64>>,
    notes: &SeriesNotes,
) -> Option<HistColumn> {
    let Windows { samples, hists, range, param, may_reset } = *ws;
    let mut col: HistColumn = Vec::new();
    let (mut flo, mut fhi, mut hlo, mut hhi) = (0usize, 0usize, 0usize, 0usize);
    for (i, (r, step_t)) in refs.zip(steps).enumerate() {
        let start = r - range;
        while flo < samples.len() && samples[flo].t <= start {
            flo += 1;
        }
        fhi = fhi.max(flo);
        while fhi < samples.len() && samples[fhi].t <= r {
            fhi += 1;
        }
        while hlo < hists.len() && hists[hlo].t <= start {
            hlo += 1;
        }
        hhi = hhi.max(hlo);
        while hhi < hists.len() && hists[hhi].t <= r {
            hhi += 1;
        }
        let (w, hw) = (&samples[flo..fhi], &hists[hlo..hhi]);
        let float = |w: &[Sample]| {
            if w.is_empty() {
                return None;
            }
            let param = param.get(i).copied().unwrap_or(f64::NAN);
            f(&RangeWindow { samples: w, range_start: start, range_end: r, range, step_t, param, may_reset })
        };
        let (v, h) = match (hw.is_empty(), hf) {
            (true, _) => (float(w), None),
            (false, None) => {
                if !w.is_empty() {
                    notes.note(SeriesNotes::HISTOGRAM_IGNORED_IN_MIXED_RANGE);
                }
                (float(w), None)
            }
            (false, Some(hf)) => {
                match hf(&HistWindow { floats: w, hists: hw, range_start: start, range_end: r, range, notes }) {
                    Some(HOut::F(v)) => (Some(v), None),
                    Some(HOut::H(h)) => (None, Some(h)),
                    None => (None, None),
                }
            }
        };
        out.push(v);
        if h.is_some() && col.is_empty() {
            col.resize(i, None);
        }
        if !col.is_empty() || h.is_some() {
            col.push(h);
        }
    }
    (!col.is_empty()).then_some(col)
}

/// Drops `__name__` from every series of `inner` unless `keep_name`;
/// with `counter_check` (`rate`, `increase`) first notes a float result of
/// a series whose name does not say counter.
struct DropName<'a, S> {
    ctx: &'a EvalCtx,
    inner: S,
    keep_name: bool,
    counter_check: Option<CounterCheck>,
}

impl<S: SeriesStream> SeriesStream for DropName<'_, S> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        let mut s = self.inner.next_series()?;
        if let Some(s) = &mut s {
            if let Some(c) = &mut self.counter_check {
                c.check(self.ctx, s);
            }
            if !self.keep_name {
                s.labels.remove(strata_common::labels::METRIC_NAME);
            }
        }
        Ok(s)
    }
}

/// Prometheus's info for `rate` / `increase` with a float result over a
/// series whose metric name does not end in `_total`, `_sum`, `_count` or
/// `_bucket`. One label lookup per series; the last name noted is kept, so
/// the series of one metric (consecutive in a selection) are noted once.
struct CounterCheck {
    last: Option<String>,
    /// The call's first argument (where the info points).
    pos: PositionRange,
}

impl CounterCheck {
    /// The check for function `name`, if it is `rate` or `increase`.
    fn of(name: &str, pos: PositionRange) -> Option<Self> {
        matches!(name, "rate" | "increase").then_some(Self { last: None, pos })
    }

    fn check(&mut self, ctx: &EvalCtx, s: &StepSeries) {
        let Some(name) = s.labels.get(strata_common::labels::METRIC_NAME) else { return };
        if name.is_empty()
            || self.last.as_deref() == Some(name)
            || ["_total", "_sum", "_count", "_bucket"].iter().any(|x| name.ends_with(x))
        {
            return;
        }
        if s.values.iter().any(Option::is_some) {
            ctx.annotate_once(annotations::key(11, &[name], 0), self.pos, || Annotation::possible_non_counter(name));
            self.last = Some(name.to_string());
        }
    }
}
