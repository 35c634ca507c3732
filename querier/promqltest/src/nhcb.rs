//! `load_with_nhcb`: besides the float series, classic histograms
//! (`x_bucket{le=…}`, `x_count`, `x_sum`) are loaded as native histograms
//! with custom buckets named `x` (the `le` label removed), per timestamp,
//! as Prometheus's test loader does with its `convertnhcb` package: bucket
//! counts are cumulative and sorted by bound, the count defaults to the
//! highest bucket's, a missing `+Inf` bucket is added with the count.

use std::collections::BTreeMap;

use strata_common::histogram::{CUSTOM_BUCKETS_SCHEMA, Histogram, Span};
use strata_common::labels::METRIC_NAME;
use strata_common::{HistSample, Labels, Timestamp};

use crate::parse::SeriesLine;

/// One timestamp's classic histogram being collected.
#[derive(Debug, Default, Clone)]
struct Temp {
    /// `(le, cumulative count)`, sorted by `le`.
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: f64,
}

impl Temp {
    fn set_bucket(&mut self, le: f64, count: f64) {
        match self.buckets.binary_search_by(|b| b.0.total_cmp(&le)) {
            Ok(_) => {} // a duplicate bound: ignored
            Err(i) => self.buckets.insert(i, (le, count)),
        }
    }

    /// The native histogram, or `None` when the data is not a histogram
    /// (no cumulative counts, or a count that differs from the top bucket).
    fn convert(mut self) -> Option<Histogram> {
        let count = self.count.or(self.buckets.last().map(|b| b.1)).unwrap_or(0.0);
        if self.buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
            self.buckets.push((f64::INFINITY, count));
        }
        if self.buckets.windows(2).any(|w| w[1].1 < w[0].1) || self.buckets.iter().any(|b| b.1 < 0.0) {
            return None;
        }
        if self.buckets.last().is_some_and(|b| b.1 != count) {
            return None;
        }
        let mut prev = 0.0;
        let buckets: Vec<f64> = self
            .buckets
            .iter()
            .map(|b| {
                let d = b.1 - prev;
                prev = b.1;
                d
            })
            .collect();
        let integer = self.buckets.iter().all(|b| b.1.fract() == 0.0) && count.fract() == 0.0;
        let h = Histogram {
            integer,
            schema: CUSTOM_BUCKETS_SCHEMA,
            count,
            sum: self.sum,
            positive_spans: vec![Span { offset: 0, length: buckets.len() as u32 }],
            positive_buckets: buckets,
            custom_values: self.buckets[..self.buckets.len() - 1].iter().map(|b| b.0).collect(),
            ..Histogram::default()
        };
        Some(h.compact())
    }
}

/// The native histograms `load_with_nhcb` adds for `series` (values at
/// `i * interval`).
pub fn convert(series: &[SeriesLine], interval: Timestamp) -> Vec<(Labels, Vec<HistSample>)> {
    let mut by_base: BTreeMap<Labels, BTreeMap<Timestamp, Temp>> = BTreeMap::new();
    for s in series {
        let Some(name) = s.labels.metric_name() else { continue };
        let (base, kind) = if let Some(b) = name.strip_suffix("_bucket") {
            (b, 0)
        } else if let Some(b) = name.strip_suffix("_count") {
            (b, 1)
        } else if let Some(b) = name.strip_suffix("_sum") {
            (b, 2)
        } else {
            continue;
        };
        let le = if kind == 0 {
            match s.labels.get("le").and_then(|v| v.trim().parse::<f64>().ok()) {
                Some(le) if !le.is_nan() => Some(le),
                _ => continue,
            }
        } else {
            None
        };
        let mut labels = s.labels.clone();
        labels.set(METRIC_NAME, base);
        labels.remove("le");
        let per_t = by_base.entry(labels).or_default();
        for (i, v) in s.values.iter().enumerate() {
            let Some(v) = *v else { continue };
            if strata_common::sample::is_stale_nan(v) {
                continue;
            }
            let temp = per_t.entry(i as Timestamp * interval).or_default();
            match (kind, le) {
                (0, Some(le)) => temp.set_bucket(le, v),
                (1, _) => temp.count = Some(v),
                _ => temp.sum = v,
            }
        }
    }
    by_base
        .into_iter()
        .map(|(labels, per_t)| {
            let hists = per_t.into_iter().filter_map(|(t, temp)| Some(HistSample::new(t, temp.convert()?))).collect();
            (labels, hists)
        })
        .collect()
}
