//! [`AuthConfig`]: the `[auth]` table of the configuration.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Authentication (`[auth]`). Off by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Require credentials on pushes and queries; the tenant comes from the
    /// credential (401 without one, 403 for a tenant it may not use).
    pub enabled: bool,
    /// The credentials file (TOML, `[[credential]]` entries with
    /// `token_sha256` or `username` + `password_argon2`, and `tenants`);
    /// re-read when it changes. Required when `enabled`.
    pub credentials_file: PathBuf,
    /// How often the credentials file is checked for changes, in milliseconds.
    pub reload_interval_ms: u64,
    /// Shared secret of internal endpoints (head reads, `/ingester/status`,
    /// `/metrics`): callers send it as `X-Strata-Cluster-Secret` or as a
    /// bearer token. Empty = those endpoints are open. Queriers send it to
    /// ingesters. Prefer the environment (`STRATA_AUTH__CLUSTER_SECRET`).
    pub cluster_secret: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            credentials_file: PathBuf::new(),
            reload_interval_ms: 5_000,
            cluster_secret: String::new(),
        }
    }
}

impl AuthConfig {
    /// Checks the values, naming the first bad field.
    pub fn validate(&self) -> Result<(), String> {
        if self.enabled && self.credentials_file.as_os_str().is_empty() {
            return Err("auth.enabled needs auth.credentials_file".into());
        }
        if self.reload_interval_ms == 0 {
            return Err("auth.reload_interval_ms must be positive".into());
        }
        if !self.cluster_secret.is_empty() && self.cluster_secret.len() < 16 {
            return Err("auth.cluster_secret must be at least 16 characters (or empty)".into());
        }
        Ok(())
    }

    /// [`Self::reload_interval_ms`] as a duration.
    pub fn reload_interval(&self) -> Duration {
        Duration::from_millis(self.reload_interval_ms)
    }
}
