//! The credentials file and [`Auth`], which checks requests against it.
//!
//! ```toml
//! # Bearer token: store only its SHA-256 (hex); `strata hash-token`
//! # prints it (token on stdin).
//! [[credential]]
//! name = "team-a-prometheus"
//! token_sha256 = "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7"
//! tenants = ["team-a"]
//!
//! # Basic auth: the password as an Argon2 PHC string
//! # (`strata hash-password`, password on stdin).
//! [[credential]]
//! name = "grafana"
//! username = "grafana"
//! password_argon2 = "$argon2id$v=19$m=19456,t=2,p=1$..."
//! tenants = ["team-a", "team-b"]   # X-Scope-OrgID picks one (default: the first), or "team-a|team-b"
//! ```
//!
//! Every entry needs a `name`, at least one tenant, and either a token hash
//! or a username with a password hash. Names, token hashes and usernames
//! are unique.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use parking_lot::Mutex;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use strata_common::TenantId;

use crate::config::AuthConfig;
use crate::error::AuthError;

/// Verified basic-auth secrets kept per credentials version.
const MAX_CACHED: usize = 4096;
/// Failed passwords a Basic-auth user may send per [`FAILURE_WINDOW`];
/// then 429 until the window ends (each check is an Argon2 verification,
/// tens of milliseconds of CPU, so unlimited guesses would be a DoS).
pub(crate) const MAX_FAILURES: u32 = 10;
/// The window of [`MAX_FAILURES`].
pub(crate) const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// User names whose failures are tracked at once (only configured names
/// are: unknown names cost no Argon2 check).
const MAX_TRACKED_USERS: usize = 10_000;

/// The parsed credentials file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsFile {
    /// The entries (`[[credential]]`).
    #[serde(default)]
    pub credential: Vec<Credential>,
}

/// One `[[credential]]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// A name for logs and errors (never the secret).
    pub name: String,
    /// SHA-256 of the bearer token, hex.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// Basic-auth user name.
    #[serde(default)]
    pub username: Option<String>,
    /// Basic-auth password as an Argon2 PHC string.
    #[serde(default)]
    pub password_argon2: Option<String>,
    /// The tenants this credential may use; the first is the default.
    pub tenants: Vec<String>,
}

/// A validated entry.
#[derive(Debug)]
struct Entry {
    name: String,
    tenants: Vec<TenantId>,
}

/// One loaded version of the file.
#[derive(Debug, Default)]
struct Loaded {
    entries: Vec<Entry>,
    by_token: HashMap<[u8; 32], usize>,
    /// username -> (entry, PHC string).
    by_user: HashMap<String, (usize, String)>,
    /// SHA-256(username, 0, password) -> entry, for secrets Argon2 verified.
    verified: Mutex<HashMap<[u8; 32], usize>>,
    /// The file's modification time and length when it was read.
    stamp: Option<(SystemTime, u64)>,
}

impl CredentialsFile {
    /// Parses and validates the TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, String> {
        let file: CredentialsFile = toml::from_str(text).map_err(|e| format!("{}: {e}", origin.display()))?;
        file.load().map_err(|e| format!("{}: {e}", origin.display()))?;
        Ok(file)
    }

    fn load(&self) -> Result<Loaded, String> {
        let mut loaded = Loaded::default();
        for (i, c) in self.credential.iter().enumerate() {
            let what = format!("credential {:?}", c.name);
            if c.name.is_empty() {
                return Err(format!("credential #{} has no name", i + 1));
            }
            if loaded.entries.iter().any(|e| e.name == c.name) {
                return Err(format!("{what} is defined twice"));
            }
            if c.tenants.is_empty() {
                return Err(format!("{what} has no tenants"));
            }
            let tenants = c
                .tenants
                .iter()
                .map(|t| TenantId::new(t))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{what}: {e}"))?;
            match (&c.token_sha256, &c.username, &c.password_argon2) {
                (Some(hex), None, None) => {
                    let hash = parse_hex32(hex).ok_or_else(|| format!("{what}: token_sha256 must be 64 hex digits"))?;
                    if loaded.by_token.insert(hash, i).is_some() {
                        return Err(format!("{what}: the same token is used twice"));
                    }
                }
                (None, Some(user), Some(phc)) => {
                    PasswordHash::new(phc).map_err(|e| format!("{what}: password_argon2 is not a PHC string: {e}"))?;
                    if user.is_empty() || user.contains(':') {
                        return Err(format!("{what}: username must be non-empty and without ':'"));
                    }
                    if loaded.by_user.insert(user.clone(), (i, phc.clone())).is_some() {
                        return Err(format!("{what}: username {user:?} is used twice"));
                    }
                }
                _ => {
                    return Err(format!(
                        "{what} needs either token_sha256, or username and password_argon2 (and not both)"
                    ));
                }
            }
            loaded.entries.push(Entry { name: c.name.clone(), tenants });
        }
        Ok(loaded)
    }
}

fn parse_hex32(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// SHA-256 of a bearer token, hex (what `token_sha256` holds).
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// An Argon2id PHC string of `password` with a random salt (what
/// `password_argon2` holds).
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom_salt(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Fills `salt` from the kernel's random source.
fn getrandom_salt(salt: &mut [u8]) -> Result<(), String> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(salt)).map_err(|e| format!("/dev/urandom: {e}"))
}

/// Checks requests against the current credentials (see the crate docs).
pub struct Auth {
    path: PathBuf,
    current: ArcSwap<Loaded>,
    /// Per Basic-auth user: start of the failure window and failures in it.
    failures: Mutex<HashMap<String, (Instant, u32)>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Auth {
    /// Loads the credentials file of `config` (an error if it cannot be
    /// read or is invalid: a server must not start with broken auth).
    pub fn open(config: &AuthConfig) -> Result<Arc<Self>, String> {
        let auth = Arc::new(Self {
            path: config.credentials_file.clone(),
            current: ArcSwap::from_pointee(Loaded::default()),
            failures: Mutex::default(),
        });
        auth.reload()?;
        Ok(auth)
    }

    /// Credentials from TOML text (tests and tools; nothing to reload).
    pub fn from_text(text: &str) -> Result<Arc<Self>, String> {
        let path = PathBuf::from("<inline>");
        let loaded = CredentialsFile::parse(text, &path)?.load()?;
        Ok(Arc::new(Self { path, current: ArcSwap::from_pointee(loaded), failures: Mutex::default() }))
    }

    /// Re-reads the file if it changed since it was last read. Returns
    /// whether new credentials took effect.
    pub fn reload(&self) -> Result<bool, String> {
        let meta = std::fs::metadata(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        let stamp = (meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len());
        if self.current.load().stamp == Some(stamp) {
            return Ok(false);
        }
        let text = std::fs::read_to_string(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        let mut loaded = CredentialsFile::parse(&text, &self.path)?.load()?;
        loaded.stamp = Some(stamp);
        let n = loaded.entries.len();
        self.current.store(Arc::new(loaded));
        tracing::info!(path = %self.path.display(), credentials = n, "credentials loaded");
        Ok(true)
    }

    /// Re-reads the file every `interval` when it changed; keeps the old
    /// credentials (and logs) when the new file is invalid. Runs until the
    /// runtime stops.
    pub async fn watch(self: Arc<Self>, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            if let Err(e) = self.reload() {
                tracing::error!(error = %e, "credentials file not reloaded; the previous credentials stay in force");
            }
        }
    }

    /// The tenant a request may act as: `asked` (an `X-Scope-OrgID` value,
    /// possibly a federated `a|b`, every part of which the credential must
    /// allow), or the credential's first tenant when nothing was asked.
    pub fn bind_tenant(&self, authorization: Option<&[u8]>, asked: Option<&str>) -> Result<String, AuthError> {
        let (name, tenants) = self.authenticate(authorization)?;
        let Some(asked) = asked else {
            return Ok(tenants[0].as_str().to_string());
        };
        for part in asked.split('|') {
            if !tenants.iter().any(|t| t.as_str() == part) {
                let shown: String = part.chars().take(150).collect();
                return Err(AuthError::Forbidden { credential: name, tenant: shown });
            }
        }
        Ok(asked.to_string())
    }

    /// The entry of Basic credentials: from the cache of verified secrets,
    /// else by an Argon2 verification, unless the user has failed too often
    /// lately.
    fn verify_basic(&self, loaded: &Loaded, user: &str, password: &str) -> Result<usize, AuthError> {
        let mut h = Sha256::new();
        h.update(user.as_bytes());
        h.update([0u8]);
        h.update(password.as_bytes());
        let key: [u8; 32] = h.finalize().into();
        if let Some(&i) = loaded.verified.lock().get(&key) {
            return Ok(i);
        }
        let (index, phc) = loaded.by_user.get(user).ok_or(AuthError::Invalid)?;
        if let Some(&(since, n)) = self.failures.lock().get(user)
            && n >= MAX_FAILURES
            && since.elapsed() < FAILURE_WINDOW
        {
            let retry_after_secs = FAILURE_WINDOW.saturating_sub(since.elapsed()).as_secs() + 1;
            return Err(AuthError::TooManyFailures { user: user.chars().take(100).collect(), retry_after_secs });
        }
        let parsed = PasswordHash::new(phc).map_err(|_| AuthError::Invalid)?;
        if argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_err() {
            self.note_failure(user);
            return Err(AuthError::Invalid);
        }
        let mut cache = loaded.verified.lock();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, *index);
        Ok(*index)
    }

    /// Counts a failed password of `user` in its current window.
    fn note_failure(&self, user: &str) {
        let mut failures = self.failures.lock();
        if failures.len() >= MAX_TRACKED_USERS {
            failures.retain(|_, (since, _)| since.elapsed() < FAILURE_WINDOW);
        }
        let entry = failures.entry(user.to_string()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= FAILURE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    /// The credential of an `Authorization` header value: its name and tenants.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Result<(String, Vec<TenantId>), AuthError> {
        let value = authorization.ok_or(AuthError::Missing)?;
        let value = std::str::from_utf8(value).map_err(|_| AuthError::Malformed("not UTF-8"))?.trim();
        let loaded = self.current.load();
        let (scheme, rest) = value.split_once(' ').ok_or(AuthError::Malformed("expected '<scheme> <credentials>'"))?;
        let rest = rest.trim();
        let index = if scheme.eq_ignore_ascii_case("bearer") {
            let hash: [u8; 32] = Sha256::digest(rest.as_bytes()).into();
            *loaded.by_token.get(&hash).ok_or(AuthError::Invalid)?
        } else if scheme.eq_ignore_ascii_case("basic") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| AuthError::Malformed("Basic credentials are not base64"))?;
            let text = String::from_utf8(raw).map_err(|_| AuthError::Malformed("Basic credentials are not UTF-8"))?;
            let (user, password) = text.split_once(':').ok_or(AuthError::Malformed("Basic credentials lack ':'"))?;
            self.verify_basic(&loaded, user, password)?
        } else {
            return Err(AuthError::Malformed("only Bearer and Basic are supported"));
        };
        let e = &loaded.entries[index];
        Ok((e.name.clone(), e.tenants.clone()))
    }
}
