//! Reads across several tenants at once (`X-Scope-OrgID: a|b`, Mimir's
//! tenant federation).
//!
//! [`Federated`] wraps the querier's source. A request for one tenant
//! passes straight through. A request for a federated id
//! ([`TenantId::federated`]) is answered per part and merged, and every
//! series gains the label [`TENANT_LABEL`] (`__tenant_id__`) naming the
//! tenant it came from, so equal series of two tenants stay apart and a
//! query can group or filter by tenant. Matchers on `__tenant_id__` choose
//! the tenants read and are not passed on. Authorisation happens before:
//! the credential must allow every part (see `strata_auth`).

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use strata_common::select::{LabelsRequest, SelectEstimate, SelectRequest};
use strata_common::tenant::TENANT_LABEL;
use strata_common::{Labels, Matcher, TenantId};

use super::{SelectStats, SeriesIter, SeriesSource, SourceSeries};
use crate::config::ReadConsistency;
use crate::error::Result;

/// A source that answers federated tenant ids from `inner`, one part at a
/// time.
pub struct Federated {
    inner: Arc<dyn SeriesSource>,
}

impl Federated {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn SeriesSource>) -> Self {
        Self { inner }
    }
}

/// The tenants of `tenant` that `matchers` admit, each with the matchers
/// left once those on [`TENANT_LABEL`] are taken out.
fn parts(tenant: &TenantId, matchers: &[Matcher]) -> Vec<(TenantId, Vec<Matcher>)> {
    let (on_tenant, rest): (Vec<&Matcher>, Vec<&Matcher>) = matchers.iter().partition(|m| m.name == TENANT_LABEL);
    let rest: Vec<Matcher> = rest.into_iter().cloned().collect();
    tenant.parts().filter(|t| on_tenant.iter().all(|m| m.matches(t.as_str()))).map(|t| (t, rest.clone())).collect()
}

/// `labels` with the tenant label set to `tenant`.
fn tagged(mut labels: Labels, tenant: &TenantId) -> Labels {
    labels.set(TENANT_LABEL, tenant.as_str());
    labels
}

impl SeriesSource for Federated {
    fn prepare<'a>(&'a self, tenant: &'a TenantId, consistency: ReadConsistency) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for t in tenant.parts() {
                self.inner.prepare(&t, consistency).await?;
            }
            Ok(())
        })
    }

    fn select_with_stats<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<(SeriesIter, SelectStats)>> {
        if !req.tenant.is_federated() {
            return self.inner.select_with_stats(req);
        }
        Box::pin(async move {
            let mut all: Vec<SourceSeries> = Vec::new();
            let mut stats = SelectStats::default();
            for (tenant, matchers) in parts(&req.tenant, &req.matchers) {
                let part = SelectRequest { tenant: tenant.clone(), matchers, ..req.clone() };
                let (series, s) = self.inner.select_with_stats(&part).await?;
                stats.add(s);
                for s in series {
                    let s = s?;
                    all.push(SourceSeries { labels: tagged(s.labels, &tenant), loader: s.loader });
                }
            }
            all.sort_by(|a, b| a.labels.cmp(&b.labels));
            Ok((Box::new(all.into_iter().map(Ok)) as SeriesIter, stats))
        })
    }

    fn series_labels<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<Vec<Labels>>> {
        if !req.tenant.is_federated() {
            return self.inner.series_labels(req);
        }
        Box::pin(async move {
            let mut all = Vec::new();
            for (tenant, matchers) in parts(&req.tenant, &req.matchers) {
                let part = SelectRequest { tenant: tenant.clone(), matchers, ..req.clone() };
                all.extend(self.inner.series_labels(&part).await?.into_iter().map(|l| tagged(l, &tenant)));
            }
            all.sort();
            Ok(all)
        })
    }

    fn labels<'a>(&'a self, req: &'a LabelsRequest) -> BoxFuture<'a, Result<Vec<String>>> {
        if !req.tenant.is_federated() {
            return self.inner.labels(req);
        }
        Box::pin(async move {
            let mut out = BTreeSet::new();
            for (tenant, matchers) in parts(&req.tenant, &req.matchers) {
                if req.name.as_deref() == Some(TENANT_LABEL) {
                    // Every tenant asked for, or with matchers those with a
                    // series they select.
                    let part = SelectRequest::new(tenant.clone(), matchers, req.min_t, req.max_t).labels_only();
                    if part.matchers.is_empty() || !self.inner.series_labels(&part).await?.is_empty() {
                        out.insert(tenant.as_str().to_string());
                    }
                    continue;
                }
                let part = LabelsRequest { tenant, matchers, ..req.clone() };
                let names = self.inner.labels(&part).await?;
                if req.name.is_none() && !names.is_empty() {
                    out.insert(TENANT_LABEL.to_string());
                }
                out.extend(names);
            }
            Ok(out.into_iter().collect())
        })
    }

    fn estimate<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<SelectEstimate>> {
        if !req.tenant.is_federated() {
            return self.inner.estimate(req);
        }
        Box::pin(async move {
            let mut total = SelectEstimate::default();
            for (tenant, matchers) in parts(&req.tenant, &req.matchers) {
                total.add(self.inner.estimate(&SelectRequest { tenant, matchers, ..req.clone() }).await?);
            }
            Ok(total)
        })
    }

    /// Federated reads are never cached: `None`.
    fn version<'a>(&'a self, req: &'a SelectRequest) -> BoxFuture<'a, Result<Option<u64>>> {
        if !req.tenant.is_federated() {
            return self.inner.version(req);
        }
        Box::pin(async { Ok(None) })
    }
}
