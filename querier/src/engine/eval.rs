//! The evaluator: turns AST nodes into [`Value`]s, and the selector
//! operators at the leaves (instant selectors with lookback and staleness,
//! range selectors feeding range functions).

use promql_parser::parser::{Expr, VectorSelector};
use strata_common::sample::is_stale_nan;
use strata_common::{HistSample, Labels, Sample, Timestamp};

use super::ctx::{EvalCtx, HistColumn, Reservation, SeriesStream, StepSeries, Value};
use super::parallel::{Batched, GridView, SeriesKernel};
use super::plan::{Grid, Timing, subquery_grid};
use super::{aggregate, binary};
use crate::engine::functions;
use crate::error::{Error, Result};
use crate::source::SeriesIter;

/// Evaluates `expr` over the whole step grid.
pub fn eval<'a>(ctx: &'a EvalCtx, expr: &'a Expr) -> Result<Value<'a>> {
    ctx.check_deadline()?;
    match expr {
        Expr::NumberLiteral(n) => {
            ctx.hold_steps(SCALAR_BYTES)?;
            Ok(Value::Scalar(vec![n.val; ctx.steps]))
        }
        Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
        Expr::Paren(p) => eval(ctx, &p.expr),
        Expr::Unary(u) => match eval(ctx, &u.expr)? {
            // Collected in place (same element type): nothing new to hold.
            Value::Scalar(v) => Ok(Value::Scalar(v.into_iter().map(|x| -x).collect())),
            Value::Vector(inner) => {
                Ok(Value::Vector(Box::new(MapStream { inner, drop_name: true, f: Box::new(|x| Some(-x)) }.negating())))
            }
            Value::String(_) => Err(Error::BadData("unary minus on a string".into())),
        },
        Expr::VectorSelector(vs) => Ok(Value::Vector(Box::new(InstantSelector::new(ctx, vs)?))),
        Expr::MatrixSelector(_) => Err(Error::BadData(
            "a range vector is only allowed as a function argument or as a whole instant query".into(),
        )),
        Expr::Call(call) => functions::eval_call(ctx, call),
        Expr::Aggregate(a) => aggregate::eval(ctx, a),
        Expr::Binary(b) => binary::eval(ctx, b),
        Expr::Subquery(_) => {
            Err(Error::BadData("a subquery is only allowed as a function argument or as a whole instant query".into()))
        }
        Expr::Extension(_) => Err(Error::Unsupported("extension expressions".into())),
    }
}

/// Bytes per step of a scalar step vector (`Value::Scalar`).
pub const SCALAR_BYTES: u64 = std::mem::size_of::<f64>() as u64;

/// How many step buffers the operators of `expr` have in flight on its
/// grid: one per node that produces step series (selectors, functions,
/// aggregations, binary and unary operators), not counting nodes inside a
/// subquery (they run on the subquery's own grid) nor literals (scalars
/// reserve their own vectors). At least 1.
pub fn step_buffers(expr: &Expr) -> u64 {
    fn count(e: &Expr) -> u64 {
        match e {
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Subquery(_) | Expr::Extension(_) => 0,
            Expr::MatrixSelector(_) => 0,
            Expr::Paren(p) => count(&p.expr),
            Expr::VectorSelector(_) => 1,
            Expr::Unary(u) => 1 + count(&u.expr),
            Expr::Binary(b) => 1 + count(&b.lhs) + count(&b.rhs),
            Expr::Aggregate(a) => 1 + count(&a.expr) + a.param.as_deref().map_or(0, count),
            Expr::Call(c) => 1 + c.args.args.iter().map(|a| count(a)).sum::<u64>(),
        }
    }
    count(expr).max(1)
}

/// Reserves a sample buffer's memory before `loader` fills it: what the
/// loader says it will return (or what `buf` already holds, if more), so
/// loading a series too big for the budget fails before it decodes. After
/// the load the caller re-sizes the reservation to what the buffer holds.
fn reserve_load(
    held: &mut Reservation,
    loader: &dyn crate::source::SampleLoader,
    window: (Timestamp, Timestamp),
    buf: &Vec<Sample>,
) -> Result<()> {
    held.shrink(u64::MAX, u64::MAX);
    let n = loader.size_hint(window.0, window.1).unwrap_or(0);
    held.grow(n as u64, sample_bytes(buf).max((n * std::mem::size_of::<Sample>()) as u64))
}

/// `expr` without enclosing parentheses.
pub fn unparen(mut expr: &Expr) -> &Expr {
    while let Expr::Paren(p) = expr {
        expr = &p.expr;
    }
    expr
}

fn grid(ctx: &EvalCtx) -> Grid {
    Grid { start: ctx.start, end: ctx.end, step: ctx.step, lookback: ctx.lookback, query: ctx.query_range() }
}

/// Applies `f` to every value of every series; `None` drops the point.
/// Histogram samples are dropped (Prometheus's float functions ignore
/// them), or negated by [`MapStream::negating`] (unary minus).
pub struct MapStream<'a> {
    /// The input.
    pub inner: Box<dyn SeriesStream + 'a>,
    /// Whether the output drops `__name__`.
    pub drop_name: bool,
    /// The function applied to every value.
    pub f: Box<dyn Fn(f64) -> Option<f64> + 'a>,
}

impl<'a> MapStream<'a> {
    /// Unary minus: histograms are multiplied by −1 rather than dropped.
    pub fn negating(self) -> NegateStream<'a> {
        NegateStream(self)
    }
}

/// [`MapStream`] that negates histograms (see [`MapStream::negating`]).
pub struct NegateStream<'a>(MapStream<'a>);

impl SeriesStream for NegateStream<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        let m = &mut self.0;
        while let Some(mut s) = m.inner.next_series()? {
            for v in s.values.iter_mut() {
                *v = v.and_then(|x| (m.f)(x));
            }
            if let Some(col) = &mut s.hist {
                for h in col.iter_mut().flatten() {
                    *h = std::sync::Arc::new(h.scale(-1.0));
                }
            }
            if !s.has_values() {
                continue;
            }
            if m.drop_name {
                s.labels.remove(strata_common::labels::METRIC_NAME);
            }
            return Ok(Some(s));
        }
        Ok(None)
    }
}

impl SeriesStream for MapStream<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        while let Some(mut s) = self.inner.next_series()? {
            s.drop_hist();
            for v in s.values.iter_mut() {
                *v = v.and_then(|x| (self.f)(x));
            }
            if !s.has_values() {
                continue;
            }
            if self.drop_name {
                s.labels.remove(strata_common::labels::METRIC_NAME);
            }
            return Ok(Some(s));
        }
        Ok(None)
    }
}

/// An instant vector selector: per step, the latest sample in
/// `(ref - lookback, ref]` unless it is a staleness marker. Series are
/// loaded and converted in parallel batches ([`parallel`]).
pub struct InstantSelector<'a>(Batched<'a, InstantKernel>);

impl<'a> InstantSelector<'a> {
    /// The selector `vs` on `ctx`'s grid, over its prefetched selection.
    pub fn new(ctx: &'a EvalCtx, vs: &'a VectorSelector) -> Result<Self> {
        let g = grid(ctx);
        let timing = Timing::of(vs, &g);
        let window = timing.window(&g, ctx.lookback);
        let iter = ctx.take_selection(vs as *const VectorSelector as usize)?;
        let stats = ctx.hist_stats().then_some(window.0);
        let window = (window.0 - if stats.is_some() { ctx.lookback } else { 0 }, window.1);
        let kernel = InstantKernel {
            grid: GridView::of(ctx),
            timing,
            window,
            lookback: ctx.lookback,
            emit_timestamps: false,
            stats,
        };
        Ok(Self(Batched::new(ctx, iter, kernel)))
    }

    /// Yield each chosen sample's timestamp (seconds) instead of its value
    /// (`timestamp(selector)`).
    pub fn emit_timestamps(mut self) -> Self {
        self.0.kernel_mut().emit_timestamps = true;
        self
    }
}

impl SeriesStream for InstantSelector<'_> {
    fn next_series(&mut self) -> Result<Option<StepSeries>> {
        self.0.next_series()
    }
}

/// The per-series work of an instant selector.
pub struct InstantKernel {
    grid: GridView,
    timing: Timing,
    window: (Timestamp, Timestamp),
    lookback: Timestamp,
    emit_timestamps: bool,
    /// Under `histogram_count`/`_sum`/`_avg` ([`EvalCtx::hist_stats`]):
    /// the start of the selector's own window; `window` then starts a
    /// lookback earlier, so each histogram's predecessor is loaded too.
    stats: Option<Timestamp>,
}

impl SeriesKernel for InstantKernel {
    fn window(&self) -> (Timestamp, Timestamp) {
        self.window
    }

    fn eval(&self, samples: &mut Vec<Sample>, values: &mut Vec<Option<f64>>) {
        if let Some(min) = self.stats {
            drop_before(samples, min);
        }
        let samples = &samples[..];
        let mut idx = 0; // number of samples with t <= ref
        for i in 0..self.grid.steps {
            let r = self.timing.ref_t(self.grid.ts(i));
            if idx > 0 && samples[idx - 1].t > r {
                idx = samples.partition_point(|s| s.t <= r); // ref moved back (never with a grid)
            }
            while idx < samples.len() && samples[idx].t <= r {
                idx += 1;
            }
            let v = match idx.checked_sub(1).map(|j| samples[j]) {
                Some(s) if s.t > r - self.lookback && !is_stale_nan(s.v) => {
                    Some(if self.emit_timestamps { s.t as f64 / 1000.0 } else { s.v })
                }
                _ => None,
            };
            values.push(v);
        }
    }

    /// Per step, the latest sample of either kind in the lookback window:
    /// a float goes to `values`, a histogram to the returned column (a
    /// staleness marker of either kind ends the series).
    fn eval_hist(
        &self,
        samples: &mut Vec<Sample>,
        hists: &[HistSample],
        values: &mut Vec<Option<f64>>,
        _notes: &crate::engine::annotations::SeriesNotes,
    ) -> Option<HistColumn> {
        let stats_hists;
        let hists = match self.stats {
            Some(min) => {
                samples.retain(|s| s.t >= min);
                stats_hists = stats_hints(hists, min);
                &stats_hists[..]
            }
            None => hists,
        };
        let mut col: HistColumn = Vec::with_capacity(self.grid.steps);
        let (mut fi, mut hi) = (0usize, 0usize); // samples with t <= ref
        for i in 0..self.grid.steps {
            let r = self.timing.ref_t(self.grid.ts(i));
            if fi > 0 && samples[fi - 1].t > r {
                fi = samples.partition_point(|s| s.t <= r);
            }
            if hi > 0 && hists[hi - 1].t > r {
                hi = hists.partition_point(|s| s.t <= r);
            }
            while fi < samples.len() && samples[fi].t <= r {
                fi += 1;
            }
            while hi < hists.len() && hists[hi].t <= r {
                hi += 1;
            }
            let f = fi.checked_sub(1).map(|j| samples[j]);
            let h = hi.checked_sub(1).map(|j| &hists[j]);
            let (mut v, mut hv) = (None, None);
            // The latest sample of either kind (a float on a tie).
            let (f, h) = match (f, h) {
                (Some(f), Some(h)) if f.t >= h.t => (Some(f), None),
                (Some(_), Some(h)) => (None, Some(h)),
                other => other,
            };
            match (f, h) {
                (Some(f), _) if f.t > r - self.lookback && !is_stale_nan(f.v) => {
                    v = Some(if self.emit_timestamps { f.t as f64 / 1000.0 } else { f.v });
                }
                (_, Some(h)) if h.t > r - self.lookback && !h.h.is_stale() => {
                    if self.emit_timestamps {
                        v = Some(h.t as f64 / 1000.0);
                    } else {
                        hv = Some(std::sync::Arc::clone(&h.h));
                    }
                }
                _ => {}
            }
            values.push(v);
            col.push(hv);
        }
        col.iter().any(Option::is_some).then_some(col)
    }
}

/// Drops the samples before `min` (the predecessors a kernel loaded under
/// `histogram_count`/`_sum`/`_avg`). Kept out of line so the kernels' float
/// loops compile as they do without it.
#[inline(never)]
#[cold]
pub fn drop_before(samples: &mut Vec<Sample>, min: Timestamp) {
    samples.retain(|s| s.t >= min);
}

/// Histogram samples as Prometheus's `HistogramStatsIterator` hands them
/// out (under `histogram_count`/`_sum`/`_avg`): a sample without a reset
/// hint gets `Reset` or `NotReset` from its predecessor (the first one
/// loaded stays unknown). Returns the samples from `min` on; the ones
/// before only serve as predecessors. Allocates only in that mode.
pub fn stats_hints(hists: &[HistSample], min: Timestamp) -> Vec<HistSample> {
    use strata_common::histogram::{Histogram, ResetHint};
    let mut out = Vec::with_capacity(hists.len());
    let mut prev: Option<&Histogram> = None;
    for s in hists {
        if s.h.is_stale() {
            if s.t >= min {
                out.push(s.clone());
            }
            continue;
        }
        let hint = match (s.h.hint, prev) {
            (ResetHint::Unknown, Some(p)) if s.h.detect_reset(p) => ResetHint::Reset,
            (ResetHint::Unknown, Some(_)) => ResetHint::NotReset,
            (hint, _) => hint,
        };
        prev = Some(&s.h);
        if s.t < min {
            continue;
        }
        if hint == s.h.hint {
            out.push(s.clone());
        } else {
            let h = Histogram { hint, ..(*s.h).clone() };
            out.push(HistSample { t: s.t, h: std::sync::Arc::new(h) });
        }
    }
    out
}

/// `h` with a `Reset` / `NotReset` hint turned into `Unknown`, as
/// Prometheus does for a subquery's histograms: a sample returned at
/// several inner steps must not count its reset more than once, and a
/// subquery may skip the sample a reset was hinted on.
fn unknown_reset(
    h: std::sync::Arc<strata_common::histogram::Histogram>,
) -> std::sync::Arc<strata_common::histogram::Histogram> {
    use strata_common::histogram::ResetHint;
    match h.hint {
        ResetHint::Reset | ResetHint::NotReset => {
            std::sync::Arc::new(strata_common::histogram::Histogram { hint: ResetHint::Unknown, ..(*h).clone() })
        }
        _ => h,
    }
}

/// Accounted bytes of histogram samples (each histogram counted in full).
pub fn hist_bytes(hists: &[HistSample]) -> u64 {
    hists.iter().map(|h| 16 + h.h.heap_bytes() as u64).sum()
}

/// Heap bytes of a loaded sample buffer.
pub fn sample_bytes(samples: &Vec<Sample>) -> u64 {
    (samples.capacity() * std::mem::size_of::<Sample>()) as u64
}

/// Where a range input's series come from.
enum RangeSource {
    /// A range selector: samples loaded per series.
    Selector { iter: SeriesIter, window: (Timestamp, Timestamp) },
    /// A subquery, already evaluated on its own grid (and accounted).
    Evaluated(std::vec::IntoIter<Evaluated>, Reservation),
}

/// One series of an evaluated subquery: labels, float and histogram samples.
type Evaluated = (Labels, Vec<Sample>, Vec<HistSample>);

/// A range-vector argument (range selector or subquery): loads each series'
/// samples in the whole window (staleness markers removed) into one reused
/// buffer, [`RangeInput::samples`].
pub struct RangeInput<'a> {
    /// The grid being evaluated.
    pub ctx: &'a EvalCtx,
    /// The selector's offset and `@`.
    pub timing: Timing,
    /// The range in ms.
    pub range: Timestamp,
    source: RangeSource,
    buf: Vec<Sample>,
    /// The current series' histogram samples (staleness markers removed).
    hbuf: Vec<HistSample>,
    /// Accounts for `buf` and `hbuf`.
    held: Reservation,
}

impl<'a> RangeInput<'a> {
    /// The range vector `expr` (a range selector or a subquery) on `ctx`'s grid.
    pub fn new(ctx: &'a EvalCtx, expr: &'a Expr) -> Result<Self> {
        let g = grid(ctx);
        let (buf, held) = (Vec::new(), ctx.reservation());
        match unparen(expr) {
            Expr::MatrixSelector(ms) => {
                let timing = Timing::of(&ms.vs, &g);
                let range = ms.range.as_millis() as Timestamp;
                let window = timing.window(&g, range);
                let iter = ctx.take_selection(&ms.vs as *const VectorSelector as usize)?;
                Ok(Self {
                    ctx,
                    timing,
                    range,
                    source: RangeSource::Selector { iter, window },
                    buf,
                    hbuf: Vec::new(),
                    held,
                })
            }
            Expr::Subquery(sq) => {
                let timing = Timing::of_parts(sq.offset.as_ref(), sq.at.as_ref(), &g);
                let inner = subquery_grid(&g, sq);
                // The inner grid's step buffers are reserved first: a grid
                // that alone cannot fit the budget is refused here.
                let child = ctx.child(inner.start, inner.end, inner.step, step_buffers(&sq.expr))?;
                let mut inner = match child.without_hist_stats(|| eval(&child, &sq.expr))? {
                    Value::Vector(s) => s,
                    _ => return Err(Error::BadData("a subquery needs an instant vector expression".into())),
                };
                let mut list_held = ctx.reservation();
                let mut evaluated: Vec<Evaluated> = Vec::new();
                let entry_bytes = std::mem::size_of::<Evaluated>() as u64;
                while let Some(mut s) = inner.next_series()? {
                    ctx.check_deadline()?;
                    // Reserved before the samples are materialized.
                    let n = s.values.iter().flatten().count();
                    let bytes = super::ctx::labels_bytes(&s.labels) + (n * std::mem::size_of::<Sample>()) as u64;
                    list_held.grow(n as u64, bytes + entry_bytes)?;
                    let mut samples = Vec::with_capacity(n);
                    samples.extend(
                        s.values.iter().enumerate().filter_map(|(i, v)| v.map(|v| Sample::new(child.ts(i), v))),
                    );
                    let hists: Vec<HistSample> = match s.hist.take() {
                        None => Vec::new(),
                        Some(col) => col
                            .into_iter()
                            .enumerate()
                            .filter_map(|(i, h)| h.map(|h| HistSample { t: child.ts(i), h: unknown_reset(h) }))
                            .collect(),
                    };
                    let hbytes: usize = hists.iter().map(|h| 16 + h.h.heap_bytes()).sum();
                    list_held.grow(hists.len() as u64, hbytes as u64)?;
                    let labels = std::mem::take(&mut s.labels);
                    evaluated.push((labels, samples, hists));
                    ctx.recycle(s);
                }
                drop(inner);
                drop(child);
                let range = sq.range.as_millis() as Timestamp;
                let source = RangeSource::Evaluated(evaluated.into_iter(), list_held);
                Ok(Self { ctx, timing, range, source, buf, hbuf: Vec::new(), held })
            }
            _ => Err(Error::BadData("expected a range vector (range selector or subquery)".into())),
        }
    }

    /// Moves to the next series: its labels, its samples in
    /// [`RangeInput::samples`].
    pub fn advance(&mut self) -> Result<Option<Labels>> {
        self.held.shrink(u64::MAX, u64::MAX);
        match &mut self.source {
            RangeSource::Evaluated(it, list_held) => {
                let Some((labels, samples, hists)) = it.next() else { return Ok(None) };
                // The samples move from the buffered list to the buffer.
                let entry_bytes = std::mem::size_of::<Evaluated>() as u64;
                let hbytes = hist_bytes(&hists);
                let bytes = super::ctx::labels_bytes(&labels) + sample_bytes(&samples) + entry_bytes + hbytes;
                list_held.shrink((samples.len() + hists.len()) as u64, bytes);
                self.buf = samples;
                self.hbuf = hists;
                self.held.grow((self.buf.len() + self.hbuf.len()) as u64, sample_bytes(&self.buf) + hbytes)?;
                Ok(Some(labels))
            }
            RangeSource::Selector { iter, window } => match iter.next() {
                None => Ok(None),
                Some(series) => {
                    let mut series = series?;
                    self.ctx.check_deadline()?;
                    self.ctx.touch_series()?;
                    reserve_load(&mut self.held, series.loader.as_ref(), *window, &self.buf)?;
                    series.loader.load_into(window.0, window.1, &mut self.buf)?;
                    self.hbuf = series.loader.load_histograms(window.0, window.1)?;
                    self.ctx.charge(self.buf.len() + self.hbuf.len());
                    self.held.shrink(u64::MAX, u64::MAX);
                    let bytes = sample_bytes(&self.buf) + hist_bytes(&self.hbuf);
                    self.held.grow((self.buf.len() + self.hbuf.len()) as u64, bytes)?;
                    self.buf.retain(|s| !is_stale_nan(s.v));
                    if !self.hbuf.is_empty() {
                        self.hbuf.retain(|s| !s.h.is_stale());
                    }
                    Ok(Some(series.labels))
                }
            },
        }
    }

    /// The samples of the current series.
    pub fn samples(&self) -> &[Sample] {
        &self.buf
    }

    /// The native-histogram samples of the current series.
    pub fn hist_samples(&self) -> &[HistSample] {
        &self.hbuf
    }

    /// Pushes `f(window, range_start, range_end)` to `out` per step, with
    /// the current series' samples in the left-open window `(ref - range, ref]`.
    pub fn per_step(
        &self,
        out: &mut Vec<Option<f64>>,
        mut f: impl FnMut(&[Sample], Timestamp, Timestamp) -> Option<f64>,
    ) {
        let refs = (0..self.ctx.steps).map(|i| self.timing.ref_t(self.ctx.ts(i)));
        for_each_window(&self.buf, self.range, refs, |_, w, start, r| out.push(f(w, start, r)));
    }
}

/// Calls `f(i, window, range_start, range_end)` for the `i`-th reference
/// time of `refs` (which must not decrease), with the samples in the
/// left-open window `(ref - range, ref]`, found by two cursors that only
/// move forward: each sample enters and leaves the window once.
#[inline(always)]
pub(crate) fn for_each_window(
    samples: &[Sample],
    range: Timestamp,
    refs: impl Iterator<Item = Timestamp>,
    mut f: impl FnMut(usize, &[Sample], Timestamp, Timestamp),
) {
    let (mut lo, mut hi) = (0usize, 0usize);
    for (i, r) in refs.enumerate() {
        let start = r - range;
        while lo < samples.len() && samples[lo].t <= start {
            lo += 1;
        }
        hi = hi.max(lo);
        while hi < samples.len() && samples[hi].t <= r {
            hi += 1;
        }
        f(i, &samples[lo..hi], start, r);
    }
}
