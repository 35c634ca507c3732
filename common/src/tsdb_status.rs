//! `GET /api/v1/status/tsdb`: Prometheus's TSDB status (cardinality) answer,
//! shared by the ingesters, which compute it from their heads, and cluster
//! queriers, which merge the ingesters' answers.
//!
//! ```text
//!  ?limit=N (default 10, Prometheus's)  X-Scope-OrgID (default tenant when absent)
//!  {"status":"success","data":{
//!     "headStats":{"numSeries","numLabelPairs","chunkCount","minTime","maxTime"},
//!     "seriesCountByMetricName":[{"name","value"}…N],
//!     "labelValueCountByLabelName":[…N], "memoryInBytesByLabelName":[…N],
//!     "seriesCountByLabelValuePair":[{"name":"job=api","value"}…N]}}
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The path served.
pub const TSDB_STATUS_PATH: &str = "/api/v1/status/tsdb";

/// Prometheus's default `limit`.
pub const DEFAULT_LIMIT: usize = 10;

/// The query parameters.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    /// Entries per list; see [`parse_limit`].
    pub limit: Option<String>,
}

/// One `{"name", "value"}` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stat {
    /// Metric name, label name, or `name=value`.
    pub name: String,
    /// The count.
    pub value: u64,
}

/// `data.headStats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HeadSummary {
    /// Series in the heads.
    pub num_series: u64,
    /// Distinct label pairs.
    pub num_label_pairs: u64,
    /// Chunks: the heads keep columns, not chunks (always 0).
    pub chunk_count: u64,
    /// Oldest sample (ms), 0 without samples.
    pub min_time: i64,
    /// Newest sample (ms), 0 without samples.
    pub max_time: i64,
}

/// `data` of the answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TsdbStatus {
    /// Totals.
    pub head_stats: HeadSummary,
    /// Top series counts by metric name.
    pub series_count_by_metric_name: Vec<Stat>,
    /// Top distinct-value counts by label name.
    pub label_value_count_by_label_name: Vec<Stat>,
    /// Top value bytes by label name.
    pub memory_in_bytes_by_label_name: Vec<Stat>,
    /// Top series counts by label pair.
    pub series_count_by_label_value_pair: Vec<Stat>,
}

/// The `limit` largest entries, largest first (ties by name).
pub fn top(entries: impl Iterator<Item = (String, u64)>, limit: usize) -> Vec<Stat> {
    let mut all: Vec<Stat> = entries.map(|(name, value)| Stat { name, value }).collect();
    all.sort_unstable_by(|a, b| b.value.cmp(&a.value).then_with(|| a.name.cmp(&b.name)));
    all.truncate(limit);
    all
}

/// The `limit` parameter: absent or empty is [`DEFAULT_LIMIT`]; otherwise a
/// positive number (the error is the message of a 400 `bad_data`).
pub fn parse_limit(limit: Option<&str>) -> Result<usize, String> {
    match limit {
        None | Some("") => Ok(DEFAULT_LIMIT),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("limit must be a positive number, got {s:?}")),
        },
    }
}

/// The `limit` a cluster querier asks of each ingester for an answer of
/// `limit` entries: more than `limit`, so an entry that is large in total
/// but not in the top `limit` of every ingester still counts its share.
pub fn per_ingester_limit(limit: usize) -> usize {
    limit.saturating_mul(10).max(100)
}

impl TsdbStatus {
    /// One answer from the answers of ingesters that own disjoint series
    /// (each series is in one partition, each partition on one ingester):
    /// - series counts (total, by metric name, by label pair) add up;
    /// - label pairs, distinct values and value bytes by label name repeat
    ///   across ingesters, so the merge keeps the largest of one ingester:
    ///   a lower bound of the cluster's figure;
    /// - the time bounds span all answers.
    ///
    /// Each list is cut to `limit`.
    pub fn merge(parts: Vec<TsdbStatus>, limit: usize) -> TsdbStatus {
        let mut head = HeadSummary::default();
        let (mut by_metric, mut by_pair) = (HashMap::new(), HashMap::new());
        let (mut values, mut bytes) = (HashMap::new(), HashMap::new());
        for p in parts {
            let h = p.head_stats;
            if h.num_series > 0 {
                head.min_time = if head.num_series == 0 { h.min_time } else { head.min_time.min(h.min_time) };
                head.max_time = if head.num_series == 0 { h.max_time } else { head.max_time.max(h.max_time) };
            }
            head.num_series += h.num_series;
            head.num_label_pairs = head.num_label_pairs.max(h.num_label_pairs);
            let add = |into: &mut HashMap<String, u64>, stats: Vec<Stat>| {
                stats.into_iter().for_each(|s| *into.entry(s.name).or_default() += s.value);
            };
            let keep_max = |into: &mut HashMap<String, u64>, stats: Vec<Stat>| {
                stats.into_iter().for_each(|s| {
                    let v = into.entry(s.name).or_default();
                    *v = (*v).max(s.value);
                });
            };
            add(&mut by_metric, p.series_count_by_metric_name);
            add(&mut by_pair, p.series_count_by_label_value_pair);
            keep_max(&mut values, p.label_value_count_by_label_name);
            keep_max(&mut bytes, p.memory_in_bytes_by_label_name);
        }
        TsdbStatus {
            head_stats: head,
            series_count_by_metric_name: top(by_metric.into_iter(), limit),
            label_value_count_by_label_name: top(values.into_iter(), limit),
            memory_in_bytes_by_label_name: top(bytes.into_iter(), limit),
            series_count_by_label_value_pair: top(by_pair.into_iter(), limit),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn stats(pairs: &[(&str, u64)]) -> Vec<Stat> {
        pairs.iter().map(|&(n, v)| Stat { name: n.into(), value: v }).collect()
    }

    #[test]
    fn top_keeps_the_largest_in_order() {
        let t = top(
            [("a".to_string(), 1), ("b".to_string(), 5), ("c".to_string(), 5), ("d".to_string(), 2)].into_iter(),
            3,
        );
        let names: Vec<_> = t.iter().map(|s| (s.name.as_str(), s.value)).collect();
        assert_eq!(names, vec![("b", 5), ("c", 5), ("d", 2)]);
    }

    #[test]
    fn limits_parse_like_prometheus() {
        assert_eq!(parse_limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(parse_limit(Some("3")), Ok(3));
        assert!(parse_limit(Some("0")).is_err());
        assert!(parse_limit(Some("-1")).is_err());
    }

    #[test]
    fn series_counts_add_up_and_value_counts_keep_the_largest() {
        let a = TsdbStatus {
            head_stats: HeadSummary { num_series: 3, num_label_pairs: 4, chunk_count: 0, min_time: 10, max_time: 20 },
            series_count_by_metric_name: stats(&[("up", 2), ("cpu", 1)]),
            label_value_count_by_label_name: stats(&[("job", 2)]),
            memory_in_bytes_by_label_name: stats(&[("job", 8)]),
            series_count_by_label_value_pair: stats(&[("job=a", 2), ("job=b", 1)]),
        };
        let b = TsdbStatus {
            head_stats: HeadSummary { num_series: 2, num_label_pairs: 3, chunk_count: 0, min_time: 5, max_time: 15 },
            series_count_by_metric_name: stats(&[("up", 2)]),
            label_value_count_by_label_name: stats(&[("job", 1)]),
            memory_in_bytes_by_label_name: stats(&[("job", 4)]),
            series_count_by_label_value_pair: stats(&[("job=a", 2)]),
        };
        let m = TsdbStatus::merge(vec![a, b, TsdbStatus::default()], 10);
        assert_eq!(
            m.head_stats,
            HeadSummary { num_series: 5, num_label_pairs: 4, chunk_count: 0, min_time: 5, max_time: 20 }
        );
        assert_eq!(m.series_count_by_metric_name, stats(&[("up", 4), ("cpu", 1)]));
        assert_eq!(m.series_count_by_label_value_pair, stats(&[("job=a", 4), ("job=b", 1)]));
        assert_eq!(m.label_value_count_by_label_name, stats(&[("job", 2)]));
        assert_eq!(m.memory_in_bytes_by_label_name, stats(&[("job", 8)]));
        assert_eq!(TsdbStatus::merge(vec![m.clone()], 1).series_count_by_metric_name, stats(&[("up", 4)]));
    }
}
