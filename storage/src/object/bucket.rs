//! [`Bucket`]: blocking, metered access to the objects under one key prefix,
//! for code on plain OS threads (the flush threads, the querier's file
//! cache, start-up). The async `object_store` calls run on a small tokio
//! runtime the bucket owns; callers block on a channel, so a call works from
//! any thread, including a tokio worker (it then blocks that worker for the
//! call's duration, like any other blocking file read in the read path).
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::config::ObjectStorageConfig;
use super::metrics::ObjectMetrics;
use crate::{Error, Result};

/// The objects under `<prefix>/` of one bucket.
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    handle: tokio::runtime::Handle,
    /// Some until dropped (then shut down without blocking, so a bucket may
    /// be dropped inside an async context).
    runtime: Option<tokio::runtime::Runtime>,
    threshold: u64,
    part: usize,
    pub(crate) metrics: ObjectMetrics,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket").field("store", &self.store.to_string()).field("prefix", &self.prefix).finish()
    }
}

/// One listed object: its path relative to the prefix, size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Path relative to the bucket prefix.
    pub rel: String,
    /// Size in bytes.
    pub size: u64,
}

impl Bucket {
    /// Connects to the S3-compatible bucket of `config` (no request is made).
    pub fn connect(config: &ObjectStorageConfig, metrics: ObjectMetrics) -> Result<Self> {
        let url = config.bucket_url().map_err(|reason| config_error(&config.url, reason))?;
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&url.bucket)
            // allow_http lives in the client options: set it after them.
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(Duration::from_millis(config.request_timeout_ms))
                    .with_connect_timeout(Duration::from_millis(config.request_timeout_ms.min(5_000))),
            )
            .with_allow_http(config.allow_http)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: config.max_retries,
                retry_timeout: Duration::from_millis(config.request_timeout_ms),
            });
        if let Some(e) = &config.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &config.region {
            b = b.with_region(r);
        }
        if let Some(k) = &config.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &config.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        let store =
            b.build().map_err(|source| Error::ObjectStore { op: "connect", location: config.url.clone(), source })?;
        Self::new(Arc::new(store), &url.prefix, config, metrics)
    }

    /// A bucket over any `object_store` backend (tests use `InMemory`).
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        config: &ObjectStorageConfig,
        metrics: ObjectMetrics,
    ) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("strata-object-store")
            .enable_all()
            .build()
            .map_err(Error::io("<object storage runtime>"))?;
        Ok(Self {
            store,
            prefix: prefix.trim_matches('/').to_string(),
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            threshold: config.multipart_threshold_bytes,
            part: usize::try_from(config.multipart_part_bytes).unwrap_or(usize::MAX),
            metrics,
        })
    }

    /// The metrics this bucket (and its replicator and cache) count into.
    pub fn metrics(&self) -> &ObjectMetrics {
        &self.metrics
    }

    /// The key of `rel` (a path relative to the data directory).
    pub fn location(&self, rel: &str) -> ObjectPath {
        if self.prefix.is_empty() { ObjectPath::from(rel) } else { ObjectPath::from(format!("{}/{rel}", self.prefix)) }
    }

    /// Runs `fut` on the bucket's runtime and waits for it (an error only
    /// if the task panicked: a bug in the object store client).
    fn block_on<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().map_err(|_| Error::Io {
            path: "<object storage task>".into(),
            source: std::io::Error::other("the object storage task panicked"),
        })
    }

    fn fail(&self, op: &'static str, location: &ObjectPath) -> impl FnOnce(object_store::Error) -> Error + use<> {
        let metrics = self.metrics.clone();
        let location = location.to_string();
        move |source| {
            metrics.error(op);
            Error::ObjectStore { op, location, source }
        }
    }

    /// Uploads the local file `path` as `rel`: one PUT below the multipart
    /// threshold, a multipart upload (aborted on failure) at or above it.
    /// An object appears only once complete.
    pub fn put_file(&self, rel: &str, path: &Path) -> Result<()> {
        let mut results = self.put_files(&[(rel.to_string(), path.to_path_buf())], 1);
        results.pop().map_or(Ok(()), |(_, r)| r)
    }

    /// Uploads `(rel, local path)` pairs, `concurrency` at a time; returns
    /// each one's outcome (in completion order), so a caller can record the
    /// ones that made it even if others failed.
    pub fn put_files(&self, files: &[(String, PathBuf)], concurrency: usize) -> Vec<(String, Result<()>)> {
        let jobs: Vec<(String, ObjectPath, PathBuf)> =
            files.iter().map(|(rel, path)| (rel.clone(), self.location(rel), path.clone())).collect();
        let (store, threshold, part) = (Arc::clone(&self.store), self.threshold, self.part);
        let outcomes = self.block_on(async move {
            futures::stream::iter(jobs)
                .map(|(rel, loc, path)| {
                    let store = Arc::clone(&store);
                    async move {
                        let r = upload(store, &loc, &path, threshold, part).await;
                        (rel, loc, path, r)
                    }
                })
                .buffer_unordered(concurrency.max(1))
                .collect::<Vec<_>>()
                .await
        });
        let outcomes = match outcomes {
            Ok(o) => o,
            Err(e) => return vec![(files.first().map(|f| f.0.clone()).unwrap_or_default(), Err(e))],
        };
        outcomes
            .into_iter()
            .map(|(rel, loc, path, r)| {
                let r = match r {
                    Ok(len) => {
                        self.metrics.uploads.inc();
                        self.metrics.upload_bytes.inc_by(len);
                        Ok(())
                    }
                    Err(Failure::Io(e)) => Err(Error::io(&path)(e)),
                    Err(Failure::Store(e)) => Err(self.fail("put", &loc)(e)),
                };
                (rel, r)
            })
            .collect()
    }

    /// One PUT of `bytes` as `rel` (atomic: readers see the old or the new object).
    pub fn put_bytes(&self, rel: &str, bytes: Bytes) -> Result<()> {
        let location = self.location(rel);
        let (store, loc, len) = (Arc::clone(&self.store), location.clone(), bytes.len() as u64);
        self.block_on(async move { store.put(&loc, PutPayload::from(bytes)).await })?
            .map_err(self.fail("put", &location))?;
        self.metrics.uploads.inc();
        self.metrics.upload_bytes.inc_by(len);
        Ok(())
    }

    /// The object `rel`, or None if it does not exist.
    pub fn get_bytes(&self, rel: &str) -> Result<Option<Bytes>> {
        let location = self.location(rel);
        let (store, loc) = (Arc::clone(&self.store), location.clone());
        match self.block_on(async move { store.get(&loc).await?.bytes().await })? {
            Ok(b) => {
                self.metrics.downloads.inc();
                self.metrics.download_bytes.inc_by(b.len() as u64);
                Ok(Some(b))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail("get", &location)(e)),
        }
    }

    /// Bytes `range` of the object `rel` (one ranged GET).
    pub fn get_range(&self, rel: &str, range: std::ops::Range<u64>) -> Result<Bytes> {
        let location = self.location(rel);
        let (store, loc) = (Arc::clone(&self.store), location.clone());
        let b =
            self.block_on(async move { store.get_range(&loc, range).await })?.map_err(self.fail("get", &location))?;
        self.metrics.downloads.inc();
        self.metrics.download_bytes.inc_by(b.len() as u64);
        Ok(b)
    }

    /// Downloads `rel` to `dest` durably: streamed into a unique temporary
    /// file beside it, fsynced, renamed. Returns the size.
    pub fn download(&self, rel: &str, dest: &Path) -> Result<u64> {
        let location = self.location(rel);
        let dir = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let tmp = dest.with_extension(format!("{}.tmp", next_tmp_id()));
        let (store, loc, tmp_owned) = (Arc::clone(&self.store), location.clone(), tmp.clone());
        let result = self.block_on(async move {
            let get = store.get(&loc).await.map_err(Err)?;
            let mut stream = get.into_stream();
            let mut file = tokio::fs::File::create(&tmp_owned).await.map_err(Ok)?;
            let mut len = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(Err)?;
                len += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(Ok)?;
            }
            file.sync_all().await.map_err(Ok)?;
            Ok::<u64, std::result::Result<std::io::Error, object_store::Error>>(len)
        })?;
        let len = match result {
            Ok(len) => len,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(match e {
                    Ok(io) => Error::io(&tmp)(io),
                    Err(os) => self.fail("get", &location)(os),
                });
            }
        };
        crate::durable::rename_durable(&tmp, dest, dir)?;
        self.metrics.downloads.inc();
        self.metrics.download_bytes.inc_by(len);
        Ok(len)
    }

    /// Every object under `rel_dir/` (recursively), relative to the prefix.
    pub fn list(&self, rel_dir: &str) -> Result<Vec<Listed>> {
        let location = self.location(rel_dir);
        let (store, loc) = (Arc::clone(&self.store), location.clone());
        let metas: Vec<object_store::ObjectMeta> = self
            .block_on(async move { store.list(Some(&loc)).try_collect().await })?
            .map_err(self.fail("list", &location))?;
        let strip = if self.prefix.is_empty() { String::new() } else { format!("{}/", self.prefix) };
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let key = m.location.to_string();
                key.strip_prefix(&strip).map(|rel| Listed { rel: rel.to_string(), size: m.size })
            })
            .collect())
    }

    /// Deletes `rel` (deleting a missing object succeeds).
    pub fn delete(&self, rel: &str) -> Result<()> {
        let location = self.location(rel);
        let (store, loc) = (Arc::clone(&self.store), location.clone());
        match self.block_on(async move { store.delete(&loc).await })? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                self.metrics.deletes.inc();
                Ok(())
            }
            Err(e) => Err(self.fail("delete", &location)(e)),
        }
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Why one upload failed: reading the local file, or the object store.
enum Failure {
    Io(std::io::Error),
    Store(object_store::Error),
}

/// Uploads the file at `path` to `loc`; returns its length.
async fn upload(
    store: Arc<dyn ObjectStore>,
    loc: &ObjectPath,
    path: &Path,
    threshold: u64,
    part: usize,
) -> std::result::Result<u64, Failure> {
    let len = tokio::fs::metadata(path).await.map_err(Failure::Io)?.len();
    if len < threshold {
        let bytes = tokio::fs::read(path).await.map_err(Failure::Io)?;
        store.put(loc, PutPayload::from(bytes)).await.map_err(Failure::Store)?;
        return Ok(len);
    }
    let mut writer = WriteMultipart::new_with_chunk_size(store.put_multipart(loc).await.map_err(Failure::Store)?, part);
    match copy_parts(path, &mut writer, part).await {
        Ok(()) => writer.finish().await.map(|_| len).map_err(Failure::Store),
        Err(e) => {
            // Best effort: an upload left behind is invisible, and the
            // bucket's lifecycle rule removes it.
            let _ = writer.abort().await;
            Err(e)
        }
    }
}

/// Streams the file into `writer`, at most a few parts in flight.
async fn copy_parts(path: &Path, writer: &mut WriteMultipart, part: usize) -> std::result::Result<(), Failure> {
    let mut file = tokio::fs::File::open(path).await.map_err(Failure::Io)?;
    let mut buf = vec![0u8; part.min(8 * 1024 * 1024)];
    loop {
        let n = file.read(&mut buf).await.map_err(Failure::Io)?;
        if n == 0 {
            return Ok(());
        }
        writer.wait_for_capacity(4).await.map_err(Failure::Store)?;
        writer.write(&buf[..n]);
    }
}

fn config_error(url: &str, reason: String) -> Error {
    Error::ObjectStore {
        op: "connect",
        location: url.to_string(),
        source: object_store::Error::Generic { store: "S3", source: reason.into() },
    }
}

/// Unique suffixes for temporary download files (concurrent downloads of
/// one object must not share one).
fn next_tmp_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
