//! `[storage.object]`: where the bucket is, how to reach it, and the local
//! cache and background-task settings.
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// S3's smallest part size (every part but the last).
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;

/// Object storage settings. Off (local filesystem only) while `url` is empty.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectStorageConfig {
    /// `s3://<bucket>[/<prefix>]`. Empty: object storage is off.
    pub url: String,
    /// Endpoint of an S3-compatible server (e.g. `http://127.0.0.1:9000`);
    /// none: AWS.
    pub endpoint: Option<String>,
    /// Region (`AWS_REGION` if unset here and in the environment: `us-east-1`).
    pub region: Option<String>,
    /// Access key id (else `AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Secret access key (else `AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
    /// Allow plain `http://` endpoints.
    pub allow_http: bool,
    /// Querier-side cache of downloaded files (and the polled manifest).
    /// None: `<data_dir>/object-cache`.
    pub cache_dir: Option<PathBuf>,
    /// Upper bound of the cache's downloaded bytes (least recently used
    /// files are evicted past it; one file is always kept).
    pub cache_max_bytes: u64,
    /// How often queriers poll the bucket's manifest.
    pub manifest_poll_interval_ms: u64,
    /// Files at least this large are uploaded in parts.
    pub multipart_threshold_bytes: u64,
    /// Part size of multipart uploads (S3 minimum: 5 MiB).
    pub multipart_part_bytes: u64,
    /// Timeout of one HTTP request.
    pub request_timeout_ms: u64,
    /// Retries of one request inside the client (the flush path retries
    /// whole uploads on top, with its own backoff).
    pub max_retries: usize,
    /// How often the writer collects unreferenced objects.
    pub gc_interval_ms: u64,
    /// How long an object stays after it is no longer referenced (queriers
    /// with an older manifest may still download it). Must exceed the
    /// queriers' poll interval by a wide margin.
    pub gc_grace_ms: u64,
}

impl Default for ObjectStorageConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
            cache_dir: None,
            cache_max_bytes: 10 * 1024 * 1024 * 1024,
            manifest_poll_interval_ms: 5_000,
            multipart_threshold_bytes: 64 * 1024 * 1024,
            multipart_part_bytes: 16 * 1024 * 1024,
            request_timeout_ms: 30_000,
            max_retries: 3,
            gc_interval_ms: 60_000,
            gc_grace_ms: 3_600_000,
        }
    }
}

impl std::fmt::Debug for ObjectStorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStorageConfig")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<redacted>"))
            .field("allow_http", &self.allow_http)
            .field("cache_dir", &self.cache_dir)
            .field("cache_max_bytes", &self.cache_max_bytes)
            .field("manifest_poll_interval_ms", &self.manifest_poll_interval_ms)
            .finish_non_exhaustive()
    }
}

/// The bucket and key prefix of an `s3://` url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketUrl {
    /// The bucket name.
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
}

impl ObjectStorageConfig {
    /// Whether object storage is configured.
    pub fn enabled(&self) -> bool {
        !self.url.is_empty()
    }

    /// Parses `url`.
    pub fn bucket_url(&self) -> Result<BucketUrl, String> {
        let rest = self
            .url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("storage.object.url {:?} must start with s3://", self.url))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("storage.object.url {:?} names no bucket", self.url));
        }
        let prefix = prefix.trim_matches('/').to_string();
        if prefix.split('/').any(|s| s == "." || s == "..") || prefix.contains("//") {
            return Err(format!("storage.object.url {:?} has an invalid prefix", self.url));
        }
        Ok(BucketUrl { bucket: bucket.to_string(), prefix })
    }

    /// Checks the settings (only when enabled).
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        self.bucket_url()?;
        if let Some(e) = &self.endpoint
            && e.starts_with("http://")
            && !self.allow_http
        {
            return Err(format!("storage.object.endpoint {e:?} is plain http: set allow_http = true"));
        }
        if self.cache_max_bytes == 0 {
            return Err("storage.object.cache_max_bytes must be > 0".into());
        }
        if self.manifest_poll_interval_ms == 0 {
            return Err("storage.object.manifest_poll_interval_ms must be > 0".into());
        }
        if self.multipart_part_bytes < MIN_PART_BYTES {
            return Err(format!(
                "storage.object.multipart_part_bytes must be at least {MIN_PART_BYTES} (S3's minimum)"
            ));
        }
        if self.multipart_threshold_bytes < self.multipart_part_bytes {
            return Err("storage.object.multipart_threshold_bytes must be >= multipart_part_bytes".into());
        }
        if self.request_timeout_ms == 0 || self.gc_interval_ms == 0 {
            return Err("storage.object.request_timeout_ms and gc_interval_ms must be > 0".into());
        }
        if self.gc_grace_ms < 2 * self.manifest_poll_interval_ms {
            return Err(format!(
                "storage.object.gc_grace_ms ({}) must be at least twice manifest_poll_interval_ms ({}): queriers may still read unreferenced objects",
                self.gc_grace_ms, self.manifest_poll_interval_ms
            ));
        }
        Ok(())
    }

    /// The querier cache directory: `cache_dir`, else `<data_dir>/object-cache`.
    pub fn cache_dir_or(&self, data_dir: &std::path::Path) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(|| data_dir.join("object-cache"))
    }

    /// How often a reader polls the bucket's manifest (`manifest_poll_interval_ms`).
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.manifest_poll_interval_ms)
    }

    /// How often garbage collection runs (`gc_interval_ms`).
    pub fn gc_interval(&self) -> Duration {
        Duration::from_millis(self.gc_interval_ms)
    }

    /// How long an unreferenced object is kept before deletion (`gc_grace_ms`).
    pub fn gc_grace(&self) -> Duration {
        Duration::from_millis(self.gc_grace_ms)
    }
}

/// `[storage]`: where files and the manifest live beyond the data directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// S3-compatible object storage (off by default: local filesystem only).
    pub object: ObjectStorageConfig,
}

impl StorageConfig {
    /// Checks the settings; the error says which one is wrong.
    pub fn validate(&self) -> Result<(), String> {
        self.object.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_prefix() {
        let c = ObjectStorageConfig { url: "s3://b/a/b/".into(), ..Default::default() };
        assert_eq!(c.bucket_url(), Ok(BucketUrl { bucket: "b".into(), prefix: "a/b".into() }));
        let c = ObjectStorageConfig { url: "s3://b".into(), ..Default::default() };
        assert_eq!(c.bucket_url(), Ok(BucketUrl { bucket: "b".into(), prefix: String::new() }));
        for bad in ["b/x", "s3://", "s3:///x", "s3://b/../x"] {
            let c = ObjectStorageConfig { url: bad.into(), ..Default::default() };
            assert!(c.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn validate_names_the_field() {
        let ok = ObjectStorageConfig { url: "s3://b".into(), ..Default::default() };
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ObjectStorageConfig::default().validate(), Ok(()));
        let http = ObjectStorageConfig { endpoint: Some("http://127.0.0.1:1".into()), ..ok.clone() };
        assert!(http.validate().unwrap_err().contains("allow_http"));
        let part = ObjectStorageConfig { multipart_part_bytes: 1024, ..ok.clone() };
        assert!(part.validate().unwrap_err().contains("multipart_part_bytes"));
        let grace = ObjectStorageConfig { gc_grace_ms: 1000, ..ok.clone() };
        assert!(grace.validate().unwrap_err().contains("gc_grace_ms"));
        let secret = ObjectStorageConfig { secret_access_key: Some("hunter2".into()), ..ok };
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = serde_json::from_str::<ObjectStorageConfig>(r#"{"url":"s3://b","bogus":1}"#).unwrap_err();
        assert!(e.to_string().contains("bogus"));
    }
}
