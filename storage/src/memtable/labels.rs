//! Label names and values of the head, for the metadata APIs
//! (`/api/v1/labels`, `/api/v1/label/<name>/values`), answered from the
//! inverted index without cloning any series' labels.
//!
//! - Without matchers: the postings keys (names, or one name's values), if
//!   the tenant has any sample in the time range (a per-head check, as
//!   Prometheus does per block).
//! - With matchers: the matching series bitmap ([`crate::index::select`]),
//!   keeping only series with a sample in the range, and their labels.

use std::collections::BTreeSet;

use strata_common::head::LabelsRequest;

use super::tenant::TenantHead;
use super::{FrozenMemtable, Memtable};

impl TenantHead {
    /// Sorted unique label names (`req.name == None`) or values of
    /// `req.name` among the series `req` selects.
    pub fn labels(&self, req: &LabelsRequest) -> Vec<String> {
        let overlaps = self.bounds.is_some_and(|(lo, hi)| lo <= req.max_t && hi >= req.min_t);
        if !overlaps {
            return Vec::new();
        }
        if req.matchers.is_empty() {
            return match &req.name {
                None => self.label_names().map(str::to_string).collect(),
                Some(name) => self.label_values(name).map(str::to_string).collect(),
            };
        }
        let mut out: BTreeSet<&str> = BTreeSet::new();
        for id in self.select(&req.matchers) {
            let Some(s) = self.series.get(id as usize) else { continue };
            if !s.has_samples_in(req.min_t, req.max_t) {
                continue;
            }
            let present = s.labels.iter().filter(|l| !l.value.is_empty());
            match &req.name {
                None => out.extend(present.map(|l| l.name.as_str())),
                Some(name) => out.extend(present.filter(|l| &l.name == name).map(|l| l.value.as_str())),
            }
        }
        out.into_iter().map(str::to_string).collect()
    }
}

impl Memtable {
    /// Label names or values of `req.tenant`'s matching series with samples
    /// in range, sorted and unique (see the [module docs](self)).
    pub fn labels(&self, req: &LabelsRequest) -> Vec<String> {
        self.tenants.get(&req.tenant).map(|h| h.labels(req)).unwrap_or_default()
    }
}

impl FrozenMemtable {
    /// As [`Memtable::labels`].
    pub fn labels(&self, req: &LabelsRequest) -> Vec<String> {
        self.tenants.get(&req.tenant).map(|h| h.labels(req)).unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strata_common::{MatchOp, Matcher, Sample, TenantId};

    use super::*;

    fn t(s: &str) -> TenantId {
        TenantId::new(s).unwrap()
    }

    fn req(tenant: &str, matchers: Vec<Matcher>, range: (i64, i64), name: Option<&str>) -> LabelsRequest {
        LabelsRequest { tenant: t(tenant), matchers, min_t: range.0, max_t: range.1, name: name.map(str::to_string) }
    }

    fn table() -> Memtable {
        let mut m = Memtable::new();
        let a = t("a");
        m.append(&a, &[("__name__", "up"), ("job", "api")], [Sample::new(10, 1.0)].into_iter());
        m.append(&a, &[("__name__", "up"), ("job", "db"), ("zone", "eu")], [Sample::new(20, 1.0)].into_iter());
        m.append(&a, &[("__name__", "temp"), ("room", "lab")], [Sample::new(30, 1.0)].into_iter());
        m.append(&t("b"), &[("__name__", "secret"), ("team", "b")], [Sample::new(10, 1.0)].into_iter());
        m
    }

    const ALL: (i64, i64) = (i64::MIN, i64::MAX);

    #[test]
    fn names_and_values_without_matchers_come_from_postings() {
        let m = table();
        assert_eq!(m.labels(&req("a", vec![], ALL, None)), ["__name__", "job", "room", "zone"]);
        assert_eq!(m.labels(&req("a", vec![], ALL, Some("job"))), ["api", "db"]);
        assert_eq!(m.labels(&req("a", vec![], ALL, Some("__name__"))), ["temp", "up"]);
        assert!(m.labels(&req("a", vec![], ALL, Some("nope"))).is_empty());
        // The head overlaps the range: every name (per-head time check).
        assert_eq!(m.labels(&req("a", vec![], (30, 40), None)), ["__name__", "job", "room", "zone"]);
        // The head has nothing in the range.
        assert!(m.labels(&req("a", vec![], (31, 40), None)).is_empty());
        assert!(m.labels(&req("a", vec![], (0, 9), Some("job"))).is_empty());
    }

    #[test]
    fn matchers_select_series_and_the_range_drops_series_without_samples() {
        let m = table();
        let up = || vec![Matcher::equal("__name__", "up")];
        assert_eq!(m.labels(&req("a", up(), ALL, None)), ["__name__", "job", "zone"]);
        assert_eq!(m.labels(&req("a", up(), ALL, Some("job"))), ["api", "db"]);
        assert_eq!(m.labels(&req("a", up(), (0, 15), None)), ["__name__", "job"]);
        assert_eq!(m.labels(&req("a", up(), (15, 25), Some("job"))), ["db"]);
        assert!(m.labels(&req("a", up(), (25, 100), Some("job"))).is_empty());
        let not_api = vec![Matcher::new(MatchOp::NotEqual, "job", "api").unwrap()];
        assert_eq!(m.labels(&req("a", not_api.clone(), ALL, Some("__name__"))), ["temp", "up"]);
        assert_eq!(m.labels(&req("a", not_api, ALL, None)), ["__name__", "job", "room", "zone"]);
        assert!(m.labels(&req("a", vec![Matcher::equal("job", "nope")], ALL, None)).is_empty());
    }

    #[test]
    fn tenants_are_isolated_and_frozen_answers_the_same() {
        let m = table();
        assert_eq!(m.labels(&req("b", vec![], ALL, None)), ["__name__", "team"]);
        assert_eq!(m.labels(&req("b", vec![], ALL, Some("job"))), Vec::<String>::new());
        assert!(m.labels(&req("nobody", vec![], ALL, None)).is_empty());
        let up = vec![Matcher::equal("__name__", "up")];
        let before = m.labels(&req("a", up.clone(), (15, 25), None));
        let f = m.freeze();
        assert_eq!(f.labels(&req("a", up, (15, 25), None)), before);
        assert_eq!(f.labels(&req("a", vec![], ALL, Some("job"))), ["api", "db"]);
        assert_eq!(f.labels(&req("b", vec![], ALL, Some("team"))), ["b"]);
    }

    #[test]
    fn series_without_samples_are_not_listed_with_matchers() {
        let mut m = Memtable::new();
        let a = t("a");
        m.append(&a, &[("__name__", "empty"), ("k", "v")], std::iter::empty());
        assert!(m.labels(&req("a", vec![], ALL, None)).is_empty(), "no samples at all in the head");
        m.append(&a, &[("__name__", "up")], [Sample::new(1, 1.0)].into_iter());
        let any = vec![Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()];
        assert_eq!(m.labels(&req("a", any, ALL, None)), ["__name__"]);
    }
}
