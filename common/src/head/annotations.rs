//! Exemplars and metric metadata from the ingesters' heads: the requests,
//! how answers of several ingesters merge, and their JSON shapes on the
//! wire (`POST /internal/v1/head/exemplars` and `/internal/v1/head/metadata`,
//! documented in `common/docs/format/head-protocol.md`).
//!
//! Ingesters hold them in bounded per-tenant stores filled from the log
//! (`crate::exemplar`, `crate::metadata`); a querier asks every ingester
//! and merges: exemplars by series (series live on one ingester, but a
//! merge never assumes it), metadata by family, entries deduplicated, then
//! `limit` and `limit_per_metric` applied to the union.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::wire::WireMatcher;
use crate::error::{Error, Result};
use crate::exemplar::Exemplar;
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::metadata::{MetricMetadata, metric_type_name, metric_type_number};
use crate::sample::Timestamp;
use crate::tenant::TenantId;

/// Path of the exemplar read (JSON [`WireExemplarsRequest`] → JSON list of
/// [`WireExemplarSeries`]).
pub const EXEMPLARS_PATH: &str = "/internal/v1/head/exemplars";
/// Path of the metadata read (JSON [`WireMetadataRequest`] → JSON object
/// family → list of [`WireMetadata`]).
pub const METADATA_PATH: &str = "/internal/v1/head/metadata";

/// The exemplars in `[start, end]` of a tenant's series that satisfy any
/// of the matcher sets.
#[derive(Debug, Clone)]
pub struct ExemplarsRequest {
    /// One tenant (not federated).
    pub tenant: TenantId,
    /// A series is selected when it satisfies every matcher of one set.
    pub selectors: Vec<Vec<Matcher>>,
    /// Earliest exemplar time (ms).
    pub start: Timestamp,
    /// Latest exemplar time (ms).
    pub end: Timestamp,
}

/// One series and its exemplars, sorted by time.
pub type ExemplarSeries = (Labels, Vec<Exemplar>);

/// A tenant's metadata, Prometheus's `/api/v1/metadata` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetadataRequest {
    /// One tenant (not federated).
    pub tenant: TenantId,
    /// Only this metric family.
    pub metric: Option<String>,
    /// At most this many families (negative = all, 0 = none).
    pub limit: i64,
    /// At most this many entries per family (0 or negative = all).
    pub limit_per_metric: i64,
}

/// Family → entries, sorted by family.
pub type MetadataMap = BTreeMap<String, Vec<MetricMetadata>>;

/// Merges the exemplar answers of several ingesters: series sorted by
/// labels, each once, its exemplars sorted by time without duplicates.
pub fn merge_exemplars(answers: Vec<Vec<ExemplarSeries>>) -> Vec<ExemplarSeries> {
    let mut by_series: HashMap<Labels, Vec<Exemplar>> = HashMap::new();
    for (labels, ex) in answers.into_iter().flatten() {
        by_series.entry(labels).or_default().extend(ex);
    }
    let mut out: Vec<ExemplarSeries> = by_series
        .into_iter()
        .map(|(l, mut ex)| {
            ex.sort_by(|a, b| a.t.cmp(&b.t).then_with(|| a.labels.cmp(&b.labels)));
            ex.dedup_by(|a, b| a.t == b.t && a.value.to_bits() == b.value.to_bits() && a.labels == b.labels);
            (l, ex)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Merges the metadata answers of several ingesters, then applies the
/// request's limits (as [`crate::metadata::MetadataStore::query`] does).
pub fn merge_metadata(answers: Vec<MetadataMap>, limit: i64, limit_per_metric: i64) -> MetadataMap {
    let mut all = MetadataMap::new();
    for answer in answers {
        for (family, entries) in answer {
            let held = all.entry(family).or_default();
            for e in entries {
                if !held.contains(&e) {
                    held.push(e);
                }
            }
        }
    }
    let per = if limit_per_metric > 0 { limit_per_metric as usize } else { usize::MAX };
    let max = if limit >= 0 { limit as usize } else { usize::MAX };
    all.into_iter()
        .take(max)
        .map(|(f, mut v)| {
            v.truncate(per);
            (f, v)
        })
        .collect()
}

/// [`ExemplarsRequest`] as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireExemplarsRequest {
    /// As [`ExemplarsRequest::tenant`].
    pub tenant: TenantId,
    /// As [`ExemplarsRequest::selectors`], uncompiled.
    pub selectors: Vec<Vec<WireMatcher>>,
    /// As [`ExemplarsRequest::start`].
    pub start: Timestamp,
    /// As [`ExemplarsRequest::end`].
    pub end: Timestamp,
}

impl From<&ExemplarsRequest> for WireExemplarsRequest {
    fn from(r: &ExemplarsRequest) -> Self {
        Self {
            tenant: r.tenant.clone(),
            selectors: r.selectors.iter().map(|set| set.iter().map(WireMatcher::from).collect()).collect(),
            start: r.start,
            end: r.end,
        }
    }
}

impl WireExemplarsRequest {
    /// The request with its matchers compiled (a bad regex is an error).
    pub fn into_request(self) -> Result<ExemplarsRequest> {
        let selectors = self
            .selectors
            .iter()
            .map(|set| set.iter().map(WireMatcher::compile).collect::<Result<Vec<_>>>())
            .collect::<Result<Vec<_>>>()?;
        Ok(ExemplarsRequest { tenant: self.tenant, selectors, start: self.start, end: self.end })
    }
}

/// One exemplar on the wire. The value is a decimal string (Rust's
/// shortest round-trip form, `NaN`, `inf` and `-inf` included), since JSON
/// numbers cannot carry every `f64`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireExemplar {
    /// The exemplar's own labels.
    pub labels: Labels,
    /// The value as a string.
    pub value: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp: Timestamp,
}

/// One series and its exemplars on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireExemplarSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Its exemplars, sorted by time.
    pub exemplars: Vec<WireExemplar>,
}

/// Encodes an exemplar answer.
pub fn exemplars_to_wire(series: Vec<ExemplarSeries>) -> Vec<WireExemplarSeries> {
    series
        .into_iter()
        .map(|(labels, ex)| WireExemplarSeries {
            labels,
            exemplars: ex
                .into_iter()
                .map(|e| WireExemplar { labels: e.labels, value: e.value.to_string(), timestamp: e.t })
                .collect(),
        })
        .collect()
}

/// Decodes an exemplar answer (a value that is not a number is an error).
pub fn exemplars_from_wire(series: Vec<WireExemplarSeries>) -> Result<Vec<ExemplarSeries>> {
    series
        .into_iter()
        .map(|s| {
            let ex =
                s.exemplars
                    .into_iter()
                    .map(|e| {
                        let value = e.value.parse::<f64>().map_err(|_| {
                            Error::HeadProtocol(format!("exemplar value {:?} is not a number", e.value))
                        })?;
                        Ok(Exemplar { labels: e.labels, value, t: e.timestamp })
                    })
                    .collect::<Result<Vec<_>>>()?;
            Ok((s.labels, ex))
        })
        .collect()
}

/// [`MetadataRequest`] as JSON (the same fields).
pub type WireMetadataRequest = MetadataRequest;

/// One metadata entry on the wire (Prometheus's JSON shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireMetadata {
    /// `counter`, `gauge`, … (an unknown name reads as `unknown`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Help text.
    pub help: String,
    /// Unit.
    pub unit: String,
}

/// Decodes a metadata answer.
pub fn metadata_from_wire(answer: BTreeMap<String, Vec<WireMetadata>>) -> MetadataMap {
    answer
        .into_iter()
        .map(|(f, v)| {
            let v = v
                .into_iter()
                .map(|m| MetricMetadata {
                    kind: metric_type_name(i32::from(metric_type_number(&m.kind))),
                    help: m.help,
                    unit: m.unit,
                })
                .collect();
            (f, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(t: i64, v: f64) -> Exemplar {
        Exemplar { labels: Labels::from_pairs([("trace_id", "x")]).unwrap(), value: v, t }
    }

    #[test]
    fn merges_and_round_trips() {
        let a = Labels::from_pairs([("__name__", "a")]).unwrap();
        let b = Labels::from_pairs([("__name__", "b")]).unwrap();
        let merged = merge_exemplars(vec![
            vec![(b.clone(), vec![ex(2, 1.0)])],
            vec![(a.clone(), vec![ex(1, f64::NAN)]), (b.clone(), vec![ex(1, 0.5), ex(2, 1.0)])],
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].0, a);
        assert_eq!(merged[1].1.iter().map(|e| e.t).collect::<Vec<_>>(), [1, 2], "sorted, the duplicate once");
        let back = exemplars_from_wire(
            serde_json::from_str(&serde_json::to_string(&exemplars_to_wire(merged.clone())).unwrap()).unwrap(),
        )
        .unwrap();
        assert!(back[0].1[0].value.is_nan());
        assert_eq!(back[1], merged[1]);

        let m = |kind, help: &str| MetricMetadata { kind, help: help.into(), unit: String::new() };
        let one = MetadataMap::from([("a".into(), vec![m("counter", "x")]), ("c".into(), vec![m("gauge", "y")])]);
        let two = MetadataMap::from([("a".into(), vec![m("counter", "x"), m("counter", "z")])]);
        let all = merge_metadata(vec![one.clone(), two.clone()], -1, 0);
        assert_eq!(all["a"], [m("counter", "x"), m("counter", "z")]);
        assert_eq!(
            merge_metadata(vec![one.clone(), two.clone()], 1, 1),
            MetadataMap::from([("a".into(), vec![m("counter", "x")])])
        );
        let wire: BTreeMap<String, Vec<WireMetadata>> =
            serde_json::from_str(&serde_json::to_string(&all).unwrap()).unwrap();
        assert_eq!(metadata_from_wire(wire), all);
    }
}
