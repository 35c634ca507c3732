//! Selection requests: which series of a tenant, in which time range. One
//! hints struct travels down every layer (the querier's sources, the
//! storage, the head-read protocol), as Prometheus's `SelectHints` does, so a
//! new pushdown (limit, step, projection) is a new field, not a new
//! signature.

use serde::{Deserialize, Serialize};

use crate::matcher::Matcher;
use crate::sample::Timestamp;
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
}

impl SelectRequest {
    /// Series of `tenant` matching `matchers` with samples in `[min_t, max_t]`.
    pub fn new(tenant: TenantId, matchers: Vec<Matcher>, min_t: Timestamp, max_t: Timestamp) -> Self {
        Self { tenant, matchers, min_t, max_t, with_samples: true }
    }

    /// The same selection, labels only.
    pub fn labels_only(self) -> Self {
        Self { with_samples: false, ..self }
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
