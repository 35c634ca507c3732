//! `strata_object_store_*` metrics: uploads, downloads, bytes, errors by
//! operation, and the querier cache's hits, misses, evictions and size.
//! Registered under the sub-prefix `object_store`; unregistered (but still
//! counting) when no registry is given.
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Handles shared by the bucket, the replicator and the cache (cheap clones).
#[derive(Clone, Debug, Default)]
pub struct ObjectMetrics {
    /// `strata_object_store_uploads`: objects uploaded (files and manifests).
    pub uploads: Counter,
    /// `strata_object_store_upload_bytes`: bytes uploaded.
    pub upload_bytes: Counter,
    /// `strata_object_store_downloads`: objects downloaded.
    pub downloads: Counter,
    /// `strata_object_store_download_bytes`: bytes downloaded.
    pub download_bytes: Counter,
    /// `strata_object_store_deletes`: unreferenced objects deleted.
    pub deletes: Counter,
    /// Failed calls by `op` (put, get, list, delete, multipart).
    pub errors: Family<Vec<(String, String)>, Counter>,
    /// `strata_object_store_cache_hits`: file reads served by the local cache.
    pub cache_hits: Counter,
    /// `strata_object_store_cache_misses`: file reads that downloaded the file.
    pub cache_misses: Counter,
    /// `strata_object_store_cache_evictions`: files evicted from the local cache.
    pub cache_evictions: Counter,
    /// `strata_object_store_cache_bytes`: bytes of files in the local cache.
    pub cache_bytes: Gauge,
}

impl ObjectMetrics {
    /// Creates the metrics and registers them under `object_store`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("object_store");
        r.register("uploads", "Objects uploaded (files and manifests)", m.uploads.clone());
        r.register("upload_bytes", "Bytes uploaded", m.upload_bytes.clone());
        r.register("downloads", "Objects downloaded", m.downloads.clone());
        r.register("download_bytes", "Bytes downloaded", m.download_bytes.clone());
        r.register("deletes", "Unreferenced objects deleted", m.deletes.clone());
        r.register("errors", "Failed object storage calls by operation", m.errors.clone());
        r.register("cache_hits", "File reads served by the local cache", m.cache_hits.clone());
        r.register("cache_misses", "File reads that downloaded the file", m.cache_misses.clone());
        r.register("cache_evictions", "Files evicted from the local cache", m.cache_evictions.clone());
        r.register("cache_bytes", "Bytes of files in the local cache", m.cache_bytes.clone());
        m
    }

    pub(crate) fn error(&self, op: &str) {
        self.errors.get_or_create_owned(&vec![("op".to_string(), op.to_string())]).inc();
    }
}
