//! Selection requests: which series of a tenant, in which time range. One
//! hints struct travels down every layer (the querier's sources, the
//! storage, the head-read protocol), as Prometheus's `SelectHints` does, so a
//! new pushdown (limit, step, projection) is a new field, not a new
//! signature.

use serde::{Deserialize, Serialize};

use crate::matcher::Matcher;
use crate::sample::{Sample, Timestamp};
use crate::tenant::TenantId;

/// Which series to read, and over which time range.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectRequest {
    /// The tenant whose series are read; no other tenant's are.
    pub tenant: TenantId,
    /// All must match (an empty list selects every series of the tenant).
    pub matchers: Vec<Matcher>,
    /// Inclusive time range; series without samples in it are skipped.
    pub min_t: Timestamp,
    /// Inclusive end of the range.
    pub max_t: Timestamp,
    /// When false only labels are wanted (the series and labels APIs): a
    /// head answers without samples.
    pub with_samples: bool,
    /// Which samples of `[min_t, max_t]` the query's steps look at, when
    /// the planner knows: a source may leave the others out (an ingester
    /// does, before encoding its answer). `None`: every sample in range.
    pub steps: Option<StepHint>,
}

/// The steps a selector is evaluated at, so a source can drop the samples
/// no step looks at. Step `k` looks at the samples in `(ref_k - range,
/// ref_k]`, `ref_k = first + k * step` for every `ref_k <= last`; with
/// `latest_only` (an instant selector and its lookback) only at the latest
/// of them, so only the latest float sample at or before each `ref_k`
/// matters (native histograms are always kept whole).
///
/// Dropping the other samples changes no result even where the files
/// hold samples of the same series: the merge keeps, for each step, the
/// head's latest sample in the window or a later file sample, the same
/// one it would have picked without dropping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepHint {
    /// Reference time of the first step, ms (`offset` and `@` applied).
    pub first: Timestamp,
    /// Reference time of the last step, ms (`>= first`).
    pub last: Timestamp,
    /// Distance between two steps, ms (`> 0`).
    pub step: Timestamp,
    /// How far each step looks back, ms (`> 0`): the range of a range
    /// selector, the lookback of an instant selector.
    pub range: Timestamp,
    /// Only the latest sample in each step's window is looked at.
    pub latest_only: bool,
}

impl StepHint {
    /// Whether the hint is well formed (a source ignores one that is not).
    pub fn is_valid(&self) -> bool {
        self.step > 0 && self.range > 0 && self.first <= self.last
    }

    /// Keeps only the samples (sorted by time, unique timestamps) some step
    /// looks at. A malformed hint keeps everything. One pass, no division
    /// per sample: the step reference moves forward with the samples.
    pub fn retain(&self, samples: &mut Vec<Sample>) {
        if !self.is_valid() || samples.is_empty() {
            return;
        }
        let mut keep = 0;
        // The smallest step reference at or after the current sample.
        let mut r = self.first;
        for i in 0..samples.len() {
            // (`r <= last` holds: `first <= last`, and `r` only moves to a
            // step at or before `last`.)
            let t = samples[i].t;
            if r < t {
                // Usually the next step; past a gap, as many as it spans
                // (in i128: no overflow at the edges of time).
                let next = match t.checked_sub(r) {
                    Some(gap) if gap <= self.step => r as i128 + self.step as i128,
                    _ => {
                        let (gap, step) = (t as i128 - r as i128, self.step as i128);
                        r as i128 + (gap + step - 1) / step * step
                    }
                };
                if next > self.last as i128 {
                    break; // this sample and every later one are past the last step
                }
                r = next as Timestamp;
            }
            // With `latest_only`, the sample is the latest at or before `r`
            // unless the next one is too; either way it counts only within
            // `range` of `r`.
            let kept = (r as i128 - self.range as i128) < t as i128
                && (!self.latest_only || samples.get(i + 1).is_none_or(|next| next.t > r));
            if kept {
                samples[keep] = samples[i];
                keep += 1;
            }
        }
        samples.truncate(keep);
    }
}

impl SelectRequest {
    /// Series of `tenant` matching `matchers` with samples in `[min_t, max_t]`.
    pub fn new(tenant: TenantId, matchers: Vec<Matcher>, min_t: Timestamp, max_t: Timestamp) -> Self {
        Self { tenant, matchers, min_t, max_t, with_samples: true, steps: None }
    }

    /// The same selection, labels only.
    pub fn labels_only(self) -> Self {
        Self { with_samples: false, steps: None, ..self }
    }

    /// The same selection, telling sources which samples its steps look at.
    pub fn with_steps(self, steps: Option<StepHint>) -> Self {
        Self { steps, ..self }
    }
}

/// Which label names, or which values of one label, to list.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelsRequest {
    /// The tenant whose series are read.
    pub tenant: TenantId,
    /// All must match. An empty list means every series of the tenant (then
    /// the answer may come from postings keys, checking time per file or
    /// head only).
    pub matchers: Vec<Matcher>,
    /// Inclusive time range; with matchers, series without samples in it are
    /// skipped.
    pub min_t: Timestamp,
    /// Inclusive end of the range.
    pub max_t: Timestamp,
    /// `None`: label names; `Some(name)`: the values of label `name`.
    pub name: Option<String>,
}

impl LabelsRequest {
    /// Label names (`name == None`) or values of `name` on the series that
    /// `select` selects.
    pub fn new(select: SelectRequest, name: Option<String>) -> Self {
        let SelectRequest { tenant, matchers, min_t, max_t, .. } = select;
        Self { tenant, matchers, min_t, max_t, name }
    }

    /// The series selection the labels are taken from (labels only).
    pub fn select(&self) -> SelectRequest {
        SelectRequest::new(self.tenant.clone(), self.matchers.clone(), self.min_t, self.max_t).labels_only()
    }
}

/// What a selection will read, estimated from indexes and metadata only
/// (postings cardinalities, per-series chunk metadata, head counts), never
/// from samples. The scheduler's cost estimates are built from these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectEstimate {
    /// Series matched (a series in several files or heads counts once per
    /// place it is read from).
    pub series: u64,
    /// Samples in the range, to decode.
    pub samples: u64,
    /// Encoded bytes to read.
    pub bytes: u64,
    /// Files touched.
    pub files: u64,
}

impl SelectEstimate {
    /// The sum of two estimates (e.g. heads and files).
    pub fn add(&mut self, o: SelectEstimate) {
        self.series += o.series;
        self.samples += o.samples;
        self.bytes += o.bytes;
        self.files += o.files;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Per step, what an evaluation sees: the latest sample at or before the
    /// step in its window (`latest_only`), or every sample in its window.
    fn per_step(hint: &StepHint, samples: &[Sample]) -> Vec<Vec<(i64, u64)>> {
        let mut out = Vec::new();
        let mut r = hint.first;
        while r <= hint.last {
            let window: Vec<(i64, u64)> =
                samples.iter().filter(|s| s.t > r - hint.range && s.t <= r).map(|s| (s.t, s.v.to_bits())).collect();
            out.push(if hint.latest_only { window.last().copied().into_iter().collect() } else { window });
            r += hint.step;
        }
        out
    }

    /// The head's samples merged with the files' (the head wins on equal
    /// timestamps), as the querier's storage source merges them.
    fn merged(head: &[Sample], files: &[Sample]) -> Vec<Sample> {
        let mut all: Vec<Sample> = head.to_vec();
        all.extend(files.iter().filter(|f| !head.iter().any(|h| h.t == f.t)));
        all.sort_by_key(|s| s.t);
        all
    }

    fn samples(ts: Vec<i64>) -> Vec<Sample> {
        let mut ts = ts;
        ts.sort_unstable();
        ts.dedup();
        ts.into_iter().map(|t| Sample::new(t, t as f64 * 0.25)).collect()
    }

    proptest! {
        /// Dropping what no step looks at changes no step's view, also after
        /// the head's samples are merged with the files' of the same series.
        #[test]
        fn retained_samples_give_every_step_the_same_view(
            head in prop::collection::vec(-50i64..400, 0..60),
            files in prop::collection::vec(-50i64..400, 0..20),
            first in -20i64..100,
            steps in 0i64..12,
            step in 1i64..60,
            range in 1i64..90,
            latest_only: bool,
        ) {
            let hint = StepHint { first, last: first + steps * step, step, range, latest_only };
            let (head, files) = (samples(head), samples(files));
            let mut kept = head.clone();
            hint.retain(&mut kept);
            prop_assert!(kept.len() <= head.len());
            prop_assert_eq!(per_step(&hint, &kept), per_step(&hint, &head));
            prop_assert_eq!(per_step(&hint, &merged(&kept, &files)), per_step(&hint, &merged(&head, &files)));
        }
    }

    #[test]
    fn an_instant_selector_keeps_one_sample_per_step() {
        // 10 s samples, 60 s steps, 5 min lookback: one sample in six.
        let mut s: Vec<Sample> = (0..360).map(|i| Sample::new(i * 10_000, i as f64)).collect();
        let hint = StepHint { first: 60_000, last: 3_540_000, step: 60_000, range: 300_000, latest_only: true };
        hint.retain(&mut s);
        assert_eq!(s.len(), 59);
        assert!(s.iter().all(|x| x.t % 60_000 == 0));
        // No overflow at the edges of time.
        let mut edges = vec![Sample::new(i64::MIN, 0.0), Sample::new(0, 1.0), Sample::new(i64::MAX - 1, 2.0)];
        StepHint { first: i64::MIN, last: i64::MAX - 1, step: i64::MAX, range: 2, latest_only: false }
            .retain(&mut edges);
        assert_eq!(edges.iter().map(|s| s.t).collect::<Vec<_>>(), vec![i64::MIN, i64::MAX - 1]);
        // A malformed hint keeps everything.
        let mut all: Vec<Sample> = (0..10).map(|i| Sample::new(i, 0.0)).collect();
        StepHint { step: 0, ..hint }.retain(&mut all);
        assert_eq!(all.len(), 10);
    }

    #[test]
    fn a_short_range_keeps_only_its_windows() {
        // rate(x[1m]) at 5 min steps over 10 s samples: 6 of each 30.
        let mut s: Vec<Sample> = (0..180).map(|i| Sample::new(i * 10_000, i as f64)).collect();
        let hint = StepHint { first: 300_000, last: 1_500_000, step: 300_000, range: 60_000, latest_only: false };
        hint.retain(&mut s);
        assert_eq!(s.len(), 5 * 6);
        assert!(s.iter().all(|x| (x.t - 1) % 300_000 >= 240_000 - 1));
    }
}
