//! [`WatchedToml`]: a TOML file of runtime settings (per-tenant limit
//! overrides, credentials) that is re-read when it changes, so operators
//! change limits without a restart.
//!
//! ```text
//!  open(path) ── parse ──▶ current value (an error fails start-up)
//!  every interval: stat ── (mtime, size) unchanged ─▶ keep
//!                       └─ changed ─▶ parse ─ ok ─▶ swap in
//!                                          └─ error ─▶ log, keep the previous value
//! ```
//!
//! An empty path means "no file": the value is `T::default()` and never
//! changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use serde::de::DeserializeOwned;

/// A file's identity for change detection: modification time and size.
type Stamp = (SystemTime, u64);

/// A TOML file parsed into `T`, re-read when it changes.
pub struct WatchedToml<T> {
    path: PathBuf,
    /// Checks a parsed value beyond its types (e.g. tenant ids are valid).
    check: fn(&T) -> Result<(), String>,
    current: ArcSwap<(Arc<T>, Option<Stamp>)>,
}

impl<T> std::fmt::Debug for WatchedToml<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedToml").field("path", &self.path).finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned + Default + Send + Sync + 'static> WatchedToml<T> {
    /// Reads `path` (none when empty); an unreadable or invalid file is an
    /// error naming the path.
    pub fn open(path: &Path, check: fn(&T) -> Result<(), String>) -> Result<Self, String> {
        let w = Self { path: path.to_path_buf(), check, current: ArcSwap::from_pointee((Arc::default(), None)) };
        if !w.path.as_os_str().is_empty() {
            w.reload()?;
        }
        Ok(w)
    }

    /// The current value.
    pub fn get(&self) -> Arc<T> {
        self.current.load().0.clone()
    }

    /// Re-reads the file if its modification time or size changed; returns
    /// whether a new value was swapped in.
    pub fn reload(&self) -> Result<bool, String> {
        let path = &self.path;
        let shown = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let meta = std::fs::metadata(path).map_err(|e| shown(&e))?;
        let stamp = (meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len());
        if self.current.load().1 == Some(stamp) {
            return Ok(false);
        }
        let text = std::fs::read_to_string(path).map_err(|e| shown(&e))?;
        let value: T = toml::from_str(&text).map_err(|e| shown(&e))?;
        (self.check)(&value).map_err(|e| shown(&e))?;
        self.current.store(Arc::new((Arc::new(value), Some(stamp))));
        tracing::info!(path = %path.display(), "runtime settings file loaded");
        Ok(true)
    }

    /// Re-reads the file every `interval` (if there is one); an invalid
    /// file is logged and the previous value stays in force.
    pub async fn watch(self: Arc<Self>, interval: Duration) {
        if self.path.as_os_str().is_empty() {
            return;
        }
        loop {
            tokio::time::sleep(interval).await;
            if let Err(e) = self.reload() {
                tracing::error!(error = %e, "settings file not reloaded; the previous settings stay in force");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    struct File {
        #[serde(default)]
        tenants: BTreeMap<String, u64>,
    }

    fn no_zero(f: &File) -> Result<(), String> {
        match f.tenants.iter().find(|(_, v)| **v == 0) {
            Some((t, _)) => Err(format!("tenant {t}: 0 is not allowed")),
            None => Ok(()),
        }
    }

    #[test]
    fn reloads_on_change_and_keeps_the_last_good_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overrides.toml");
        std::fs::write(&path, "[tenants]\na = 1\n").unwrap();
        let w = WatchedToml::<File>::open(&path, no_zero).unwrap();
        assert_eq!(w.get().tenants["a"], 1);
        assert!(!w.reload().unwrap(), "unchanged file is not re-parsed");
        std::fs::write(&path, "[tenants]\na = 22\n").unwrap();
        assert!(w.reload().unwrap());
        assert_eq!(w.get().tenants["a"], 22);
        // Invalid TOML, then a failed check: errors name the file, the value stays.
        for bad in ["[tenants\n", "[tenants]\na = 0\n"] {
            std::fs::write(&path, bad).unwrap();
            let e = w.reload().unwrap_err();
            assert!(e.contains("overrides.toml"), "{e}");
            assert_eq!(w.get().tenants["a"], 22);
        }
    }

    #[test]
    fn no_path_means_defaults_and_a_bad_file_fails_open() {
        let w = WatchedToml::<File>::open(Path::new(""), no_zero).unwrap();
        assert!(w.get().tenants.is_empty());
        let e = WatchedToml::<File>::open(Path::new("/nonexistent/overrides.toml"), no_zero).unwrap_err();
        assert!(e.contains("/nonexistent/overrides.toml"), "{e}");
    }
}
