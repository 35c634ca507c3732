//! Tenant identifiers. Every request carries one (`X-Scope-OrgID`); data of
//! one tenant is never visible to another.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The HTTP header that names the tenant (Mimir/Cortex convention).
pub const TENANT_HEADER: &str = "X-Scope-OrgID";

/// The tenant used when multi-tenancy is off and no header is sent.
pub const DEFAULT_TENANT: &str = "anonymous";

/// Separates the tenants of a federated read in `X-Scope-OrgID` (`a|b`).
pub const FEDERATION_SEPARATOR: char = '|';

/// The label a federated read adds to every series: the tenant it is from.
pub const TENANT_LABEL: &str = "__tenant_id__";

/// Longest tenant id accepted (Mimir's limit).
pub const MAX_TENANT_LEN: usize = 150;

/// A validated tenant id: 1–150 bytes of `[A-Za-z0-9!_.*'()-]`, not `.` or `..`
/// (safe as a file name component).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// Validates `id` (1-150 characters of `[A-Za-z0-9!_.*'()-]`).
    pub fn new(id: &str) -> Result<Self> {
        let ok_char = |b: u8| b.is_ascii_alphanumeric() || b"!-_.*'()".contains(&b);
        if id.is_empty() || id.len() > MAX_TENANT_LEN || id == "." || id == ".." || !id.bytes().all(ok_char) {
            return Err(Error::InvalidTenant(id.to_string()));
        }
        Ok(Self(Arc::from(id)))
    }

    /// A read across several tenants (`a|b`, Mimir's tenant federation):
    /// each part validated as [`TenantId::new`], sorted and deduplicated.
    /// One part gives that tenant. Only queries take federated ids; data
    /// is always written under a single tenant.
    pub fn federated(id: &str) -> Result<Self> {
        if !id.contains(FEDERATION_SEPARATOR) {
            return Self::new(id);
        }
        let mut parts = id.split(FEDERATION_SEPARATOR).map(Self::new).collect::<Result<Vec<_>>>()?;
        parts.sort();
        parts.dedup();
        if parts.len() == 1 {
            return Ok(parts.remove(0));
        }
        let joined: Vec<&str> = parts.iter().map(TenantId::as_str).collect();
        Ok(Self(Arc::from(joined.join(&FEDERATION_SEPARATOR.to_string()))))
    }

    /// The tenants this id reads: itself, or each part of a federated id.
    pub fn parts(&self) -> impl Iterator<Item = TenantId> + '_ {
        self.0.split(FEDERATION_SEPARATOR).map(|p| Self(Arc::from(p)))
    }

    /// Whether this id names several tenants (see [`TenantId::federated`]).
    pub fn is_federated(&self) -> bool {
        self.0.contains(FEDERATION_SEPARATOR)
    }

    /// The default tenant (see [`DEFAULT_TENANT`]).
    pub fn default_tenant() -> Self {
        Self(Arc::from(DEFAULT_TENANT))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::new(&s)
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn federated_ids_are_sorted_unique_parts() {
        let t = TenantId::federated("b|a|b").unwrap();
        assert_eq!(t.as_str(), "a|b");
        assert!(t.is_federated());
        assert_eq!(t.parts().map(|p| p.as_str().to_string()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(TenantId::federated("a|a").unwrap(), TenantId::new("a").unwrap());
        assert!(!TenantId::federated("a").unwrap().is_federated());
        for bad in ["a|", "|a", "a||b", "a|b/c"] {
            assert!(TenantId::federated(bad).is_err(), "{bad}");
        }
        assert!(TenantId::new("a|b").is_err(), "writes never take a federated id");
    }

    #[test]
    fn validates_tenant_ids() {
        assert!(TenantId::new("team-a_1.prod").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(151)] {
            assert!(TenantId::new(bad).is_err(), "{bad:?} accepted");
        }
    }
}
