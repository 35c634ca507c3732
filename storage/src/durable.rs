//! Durable file primitives shared by everything that writes into a data
//! directory: the manifest ([`crate::manifest`]), data files
//! ([`crate::writer`], compaction outputs) and object storage downloads
//! ([`crate::object`]).
//!
//! The one rule: a file appears under its final name only once its bytes are
//! on disk. It is written to a temporary name, fsynced, renamed over the
//! final name, and the directory is fsynced so the rename itself survives a
//! crash. A crash before the rename leaves only the temporary file, which
//! [`ManifestStore::open`](crate::ManifestStore::open) removes.
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// fsyncs a directory so a rename or create in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io(dir))
}

/// The temporary name a file is written under before it is renamed into
/// place: `<path>.tmp`.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// Renames the already fsynced `tmp` over `path` and fsyncs `dir` (the
/// directory holding both), making the new name durable.
pub(crate) fn rename_durable(tmp: &Path, path: &Path, dir: &Path) -> Result<()> {
    std::fs::rename(tmp, path).map_err(Error::io(path))?;
    sync_dir(dir)
}

/// Makes `file`, written at `tmp`, durable under `path`: fsyncs it, renames
/// it, and fsyncs its directory and that directory's parent (the directory
/// may have been created for this file).
pub(crate) fn persist(file: File, tmp: &Path, path: &Path) -> Result<()> {
    file.sync_all().map_err(Error::io(tmp))?;
    drop(file);
    std::fs::rename(tmp, path).map_err(Error::io(path))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `tmp`, fsyncs, renames over `path`, fsyncs `dir`.
pub(crate) fn write_atomic(dir: &Path, path: &Path, tmp: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(dir, path, tmp, bytes, |_| Ok(()), |_| Ok(()))
}

/// [`write_atomic`] with hooks (fault points) right before the rename (given
/// `tmp`) and after the directory fsync (given `path`).
pub(crate) fn write_atomic_with(
    dir: &Path,
    path: &Path,
    tmp: &Path,
    bytes: &[u8],
    before_rename: impl FnOnce(&Path) -> Result<()>,
    after_rename: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let written = (|| {
        let mut f = File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        // A partial temp file only takes space (ENOSPC would stay sticky).
        let _ = std::fs::remove_file(tmp);
        return Err(Error::io(tmp)(e));
    }
    before_rename(tmp)?;
    rename_durable(tmp, path, dir)?;
    after_rename(path)
}
