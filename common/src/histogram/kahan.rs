//! Compensated (Kahan–Neumaier) summation of histograms, as Prometheus's
//! `KahanAdd` does for `sum`, `avg`, `sum_over_time` and `avg_over_time`:
//! every count, the sum and every bucket keep a running compensation, so
//! that adding `1e100` and later `-1e100` does not lose the small terms.
//! Buckets live at the smallest schema and widest zero bucket seen so far.

use std::collections::BTreeMap;

use super::buckets::exponential_bound;
use super::ops::{OpError, Side, target_idx};
use super::{Histogram, ResetHint};

/// A value and its compensation.
type Comp = (f64, f64);

/// Prometheus's Kahan–Neumaier summation step (`kahansum.Inc`): adds `inc`
/// to `sum` with compensation `c`; returns `(sum, compensation)`.
#[inline]
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// [`kahan_inc`] on a `(sum, compensation)` pair.
fn inc(x: f64, (sum, c): Comp) -> Comp {
    kahan_inc(x, sum, c)
}

/// A histogram sum being accumulated.
#[derive(Debug, Clone)]
pub struct KahanSum {
    schema: i32,
    zero_threshold: f64,
    custom_values: Vec<f64>,
    hint: ResetHint,
    count: Comp,
    sum: Comp,
    zero: Comp,
    sides: [BTreeMap<i32, Comp>; 2],
}

impl KahanSum {
    /// A sum holding `h`.
    pub fn new(h: &Histogram) -> Self {
        let side = |positive| {
            let (s, _) = h.side_at(positive, h.schema, h.zero_threshold);
            s.into_iter().map(|(i, c)| (i, (c, 0.0))).collect()
        };
        Self {
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            custom_values: h.custom_values.clone(),
            hint: h.hint,
            count: (h.count, 0.0),
            sum: (h.sum, 0.0),
            zero: (h.zero_count, 0.0),
            sides: [side(true), side(false)],
        }
    }

    fn custom(&self) -> bool {
        self.schema == super::CUSTOM_BUCKETS_SCHEMA
    }

    /// Moves the buckets to `schema` and into a zero bucket of `threshold`.
    fn rebucket(&mut self, schema: i32, threshold: f64) {
        if self.custom() || (schema >= self.schema && threshold <= self.zero_threshold) {
            return;
        }
        for side in &mut self.sides {
            let mut out: BTreeMap<i32, Comp> = BTreeMap::new();
            for (&idx, &(s, c)) in side.iter() {
                if threshold > self.zero_threshold && exponential_bound(idx, self.schema) <= threshold {
                    self.zero = (self.zero.0 + s, self.zero.1 + c);
                    continue;
                }
                let e = out.entry(target_idx(idx, self.schema, schema)).or_insert((0.0, 0.0));
                *e = (e.0 + s, e.1 + c);
            }
            *side = out;
        }
        self.schema = schema;
        self.zero_threshold = threshold;
    }

    /// Adds `h` (errors as [`Histogram::add`]).
    pub fn add(&mut self, h: &Histogram) -> Result<(), OpError> {
        if self.custom() != h.uses_custom_buckets() {
            return Err(OpError::MixedSchemas);
        }
        if self.custom() && self.custom_values != h.custom_values {
            // Mismatched custom bounds: both go to their intersection.
            let bounds = super::ops::intersect(&self.custom_values, &h.custom_values);
            let mut side: BTreeMap<i32, Comp> = BTreeMap::new();
            for (&idx, &(s, c)) in &self.sides[0] {
                let e = side.entry(super::ops::custom_target(&self.custom_values, idx, &bounds)).or_insert((0.0, 0.0));
                *e = (e.0 + s, e.1 + c);
            }
            self.sides[0] = side;
            self.custom_values = bounds;
            return self.add(&h.to_custom_bounds(&self.custom_values.clone()));
        }
        let (schema, threshold) = (self.schema.min(h.schema), self.zero_threshold.max(h.zero_threshold));
        self.rebucket(schema, threshold);
        self.count = inc(h.count, self.count);
        self.sum = inc(h.sum, self.sum);
        let mut zero = h.zero_count;
        for (k, positive) in [true, false].into_iter().enumerate() {
            let (side, into_zero) = h.side_at(positive, self.schema, self.zero_threshold);
            zero += into_zero;
            for (idx, c) in side {
                let e = self.sides[k].entry(idx).or_insert((0.0, 0.0));
                *e = inc(c, *e);
            }
        }
        self.zero = inc(zero, self.zero);
        Ok(())
    }

    /// Multiplies every value and compensation by `f`.
    pub fn scale(&mut self, f: f64) {
        let m = |v: &mut Comp| *v = (v.0 * f, v.1 * f);
        m(&mut self.count);
        m(&mut self.sum);
        m(&mut self.zero);
        self.sides.iter_mut().flat_map(|s| s.values_mut()).for_each(m);
    }

    /// Divides every value and compensation by `d` (Prometheus's `Div`,
    /// which divides rather than multiplying by the reciprocal: the last
    /// bit differs).
    pub fn divide(&mut self, d: f64) {
        let m = |v: &mut Comp| *v = (v.0 / d, v.1 / d);
        m(&mut self.count);
        m(&mut self.sum);
        m(&mut self.zero);
        self.sides.iter_mut().flat_map(|s| s.values_mut()).for_each(m);
    }

    /// Whether a running value overflowed to ±Inf.
    pub fn has_overflow(&self) -> bool {
        let inf = |v: &Comp| v.0.is_infinite();
        inf(&self.count) || inf(&self.sum) || inf(&self.zero) || self.sides.iter().flat_map(|s| s.values()).any(inf)
    }

    /// The sum (each value plus its compensation).
    pub fn finish(&self) -> Histogram {
        let v = |c: Comp| if c.0.is_infinite() { c.0 } else { c.0 + c.1 };
        let mut out = Histogram {
            integer: false,
            hint: self.hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: v(self.zero),
            count: v(self.count),
            sum: v(self.sum),
            custom_values: self.custom_values.clone(),
            ..Histogram::default()
        };
        for (k, positive) in [true, false].into_iter().enumerate() {
            let side: Side = self.sides[k].iter().map(|(&i, &c)| (i, v(c))).collect();
            out.set_side(positive, &side, false);
        }
        out
    }
}

/// The mean of `hists` as Prometheus's `avg` / `avg_over_time`: a Kahan sum
/// divided by the number, or an incremental mean once the sum overflows.
pub fn mean<'a>(mut hists: impl Iterator<Item = &'a Histogram>) -> Result<Option<Histogram>, OpError> {
    let Some(first) = hists.next() else { return Ok(None) };
    let mut acc = KahanSum::new(first);
    let (mut n, mut incremental) = (1.0f64, false);
    for h in hists {
        n += 1.0;
        if !incremental {
            let mut trial = acc.clone();
            trial.add(h)?;
            if !trial.has_overflow() {
                acc = trial;
                continue;
            }
            incremental = true;
            acc.divide(n - 1.0);
        }
        acc.scale((n - 1.0) / n);
        acc.add(&divided(h, n))?;
    }
    if !incremental {
        acc.divide(n);
    }
    Ok(Some(acc.finish()))
}

/// `h / d` (Prometheus's `h.Copy().Div(d)`, `d` not 0).
fn divided(h: &Histogram, d: f64) -> Histogram {
    let mut out = h.scale(1.0);
    out.count /= d;
    out.sum /= d;
    out.zero_count /= d;
    out.positive_buckets.iter_mut().chain(out.negative_buckets.iter_mut()).for_each(|c| *c /= d);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_terms_survive_cancellation() {
        let h = |sum: f64| Histogram { count: 1.0, sum, ..Histogram::default() };
        let mut acc = KahanSum::new(&h(1.0));
        for s in [1e100, 1.0, -1e100] {
            acc.add(&h(s)).unwrap();
        }
        let out = acc.finish();
        assert_eq!((out.count, out.sum), (4.0, 2.0));
        let m = mean([h(1.0), h(1e100), h(1.0), h(-1e100)].iter()).unwrap().unwrap();
        assert_eq!(m.sum, 0.5);
    }
}
