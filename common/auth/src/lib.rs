//! # strata-auth
//!
//! Who may call Strata, and as which tenant. Off by default (the
//! single-machine start needs no credentials); with `[auth] enabled = true`
//! every push and query must authenticate, and the tenant comes from the
//! credential, not from whatever `X-Scope-OrgID` the client sends.
//!
//! ```text
//!  request ─▶ tenant_auth layer (push, query API)
//!     Authorization: Bearer <token>     ─ SHA-256(token) looked up      ┐ none / unknown: 401
//!     Authorization: Basic user:pass    ─ Argon2 (PHC string) verified ┘ (cached per secret)
//!     credential ─▶ its tenants [a, b, …]
//!     X-Scope-OrgID: absent ─▶ the first · "b" ─▶ b if allowed · "a|b" ─▶ only if all allowed
//!                    otherwise 403 naming the tenant
//!     X-Scope-OrgID rewritten to the resolved tenant ─▶ distributor / querier
//!
//!  request ─▶ cluster_secret layer (head reads, ingester status, /metrics)
//!     X-Strata-Cluster-Secret: <secret>  or  Authorization: Bearer <secret>  else 401
//! ```
//!
//! Errors on query paths (`/api/v1/…` except the push paths) use
//! Prometheus's JSON envelope (`errorType` `unauthorized` or `forbidden`);
//! pushes get plain text, like every other push error.
//!
//! Credentials live in a TOML file ([`CredentialsFile`], format in
//! `credentials.rs`) that is re-read when it changes (polled every
//! `auth.reload_interval_ms`); a file that fails to parse is logged and the
//! previous credentials stay in force. Secrets are stored only as hashes:
//! SHA-256 for bearer tokens (random, high-entropy: a fast hash suffices and
//! allows a map lookup), Argon2id for passwords (low entropy: a slow,
//! salted hash; each verified secret is cached by its SHA-256 so a client
//! that authenticates on every request pays Argon2 once).

#![warn(missing_docs)]

mod config;
mod credentials;
mod error;
mod layer;

pub use self::config::AuthConfig;
pub use self::credentials::{Auth, Credential, CredentialsFile, hash_password, hash_token};
pub use self::error::AuthError;
pub use self::layer::{CLUSTER_SECRET_HEADER, ClusterSecret, cluster_secret, tenant_auth};

#[cfg(test)]
mod tests;
