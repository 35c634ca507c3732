//! Merging head-read answers: frozen + active memtables of one shard, the
//! answers of all shards of an ingester, and of all ingesters of a cluster
//! (series reads and label lists alike).

use std::cmp::Ordering;

use super::{HeadLabelsResponse, HeadReadResponse, HeadSeries, union_sorted};
use crate::histogram::sort_dedup_hist;
use crate::sample::sort_dedup_samples;

/// Merges two label-sorted series lists. A series in both gets the samples
/// of both, sorted by time; for a duplicated timestamp the sample of `newer`
/// wins (it came later in the log).
pub fn merge_series(older: Vec<HeadSeries>, newer: Vec<HeadSeries>) -> Vec<HeadSeries> {
    if older.is_empty() {
        return newer;
    }
    if newer.is_empty() {
        return older;
    }
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let mut a = older.into_iter().peekable();
    let mut b = newer.into_iter().peekable();
    loop {
        let ord = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.labels.cmp(&y.labels),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => break,
        };
        match (ord, a.next_if(|_| ord != Ordering::Greater), b.next_if(|_| ord != Ordering::Less)) {
            (Ordering::Equal, Some(mut x), Some(y)) => {
                x.samples.extend(y.samples);
                sort_dedup_samples(&mut x.samples);
                if !y.histograms.is_empty() {
                    x.histograms.extend(y.histograms);
                    sort_dedup_hist(&mut x.histograms);
                }
                out.push(x);
            }
            (_, Some(x), None) | (_, None, Some(x)) => out.push(x),
            _ => break, // unreachable: `ord` came from the peeked items
        }
    }
    out
}

/// Merges the answers of several shards into one (series sorted by labels,
/// base offsets sorted by partition).
pub fn merge_responses(responses: Vec<HeadReadResponse>) -> HeadReadResponse {
    let mut merged = HeadReadResponse::default();
    for r in responses {
        merged.series = merge_series(std::mem::take(&mut merged.series), r.series);
        merged.base_offsets.extend(r.base_offsets);
    }
    merged.base_offsets.sort_unstable();
    merged
}

/// Merges the label answers of several shards (values as a sorted union,
/// base offsets sorted by partition).
pub fn merge_label_responses(responses: Vec<HeadLabelsResponse>) -> HeadLabelsResponse {
    let mut merged = HeadLabelsResponse::default();
    for r in responses {
        merged.values = union_sorted(std::mem::take(&mut merged.values), r.values);
        merged.base_offsets.extend(r.base_offsets);
    }
    merged.base_offsets.sort_unstable();
    merged
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::{Labels, Sample};

    use super::*;

    fn s(name: &str, samples: &[(i64, f64)]) -> HeadSeries {
        HeadSeries {
            labels: Labels::from_pairs([("__name__", name)]).unwrap(),
            samples: samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
            histograms: Vec::new(),
        }
    }

    #[test]
    fn merges_sorted_and_combines_equal_series() {
        let older = vec![s("a", &[(1, 1.0), (2, 2.0)]), s("c", &[(1, 1.0)])];
        let newer = vec![s("b", &[(1, 1.0)]), s("c", &[(1, 9.0), (3, 3.0)]), s("d", &[])];
        let m = merge_series(older, newer);
        let names: Vec<_> = m.iter().map(|x| x.labels.metric_name().unwrap().to_string()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert_eq!(m[2].samples, vec![Sample::new(1, 9.0), Sample::new(3, 3.0)], "newer wins a duplicate");
    }

    #[test]
    fn merges_shard_responses() {
        let r1 = HeadReadResponse { series: vec![s("a", &[]), s("c", &[])], base_offsets: vec![(2, 5), (0, 7)] };
        let r2 = HeadReadResponse { series: vec![s("b", &[])], base_offsets: vec![(1, 0)] };
        let m = merge_responses(vec![r1, r2, HeadReadResponse::default()]);
        assert_eq!(m.series.len(), 3);
        assert!(m.series.windows(2).all(|w| w[0].labels < w[1].labels));
        assert_eq!(m.base_offsets, vec![(0, 7), (1, 0), (2, 5)]);
    }

    #[test]
    fn merges_shard_label_responses() {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let r1 = HeadLabelsResponse { values: v(&["a", "job"]), base_offsets: vec![(2, 5), (0, 7)] };
        let r2 = HeadLabelsResponse { values: v(&["__name__", "job", "zone"]), base_offsets: vec![(1, 0)] };
        let m = merge_label_responses(vec![r1, HeadLabelsResponse::default(), r2]);
        assert_eq!(m.values, v(&["__name__", "a", "job", "zone"]));
        assert_eq!(m.base_offsets, vec![(0, 7), (1, 0), (2, 5)]);
    }
}
