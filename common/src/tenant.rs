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
    fn validates_tenant_ids() {
        assert!(TenantId::new("team-a_1.prod").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(151)] {
            assert!(TenantId::new(bad).is_err(), "{bad:?} accepted");
        }
    }
}
