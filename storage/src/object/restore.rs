//! Start-up of a writer on a machine whose data directory lost its manifest
//! (a new machine, a replaced disk): the bucket's manifest and every file it
//! references are downloaded, files first and the manifest last (written
//! atomically), so an interrupted restore is simply restarted. The ingester
//! then replays the log from the bucket's flushed offsets. The data
//! directory's side files ([`SIDE_FILES`], uploaded by their owners before
//! the flush that needs them commits) come back too.
use std::path::Path;

use super::bucket::Bucket;
use crate::durable::write_atomic;
use crate::manifest::MANIFEST_FILE;
use crate::{Error, Manifest, Result};

/// Files of a writer's data directory kept at the top of its bucket prefix
/// beside the manifest (not referenced by it, never garbage collected):
/// the ingester's annotation snapshot (exemplars and metric metadata,
/// `common/docs/format/annotations-snapshot.md`).
pub const SIDE_FILES: &[&str] = &["annotations.snapshot"];

/// Restores `data_dir` from the bucket if it has no manifest. Returns the
/// restored version, or None when the local manifest exists (the local
/// working copy is never older than the bucket: it is committed first) or
/// the bucket has none either.
pub fn restore_if_empty(bucket: &Bucket, data_dir: &Path) -> Result<Option<u64>> {
    let local = data_dir.join(MANIFEST_FILE);
    if local.exists() {
        return Ok(None);
    }
    let Some(bytes) = bucket.get_bytes(MANIFEST_FILE)? else {
        return Ok(None);
    };
    let manifest = Manifest::decode(&bytes, Path::new(MANIFEST_FILE))?;
    std::fs::create_dir_all(data_dir).map_err(Error::io(data_dir))?;
    let mut total = 0u64;
    for f in &manifest.files {
        let dest = data_dir.join(&f.path);
        total += bucket.download(&f.path, &dest)?;
    }
    for name in SIDE_FILES {
        if let Some(side) = bucket.get_bytes(name)? {
            write_atomic(data_dir, &data_dir.join(name), &data_dir.join(format!("{name}.tmp")), &side)?;
        }
    }
    write_atomic(data_dir, &local, &data_dir.join(format!("{MANIFEST_FILE}.tmp")), &bytes)?;
    tracing::info!(
        version = manifest.version,
        files = manifest.files.len(),
        bytes = total,
        flushed = ?manifest.flushed_offsets,
        "restored the data directory from object storage"
    );
    Ok(Some(manifest.version))
}
