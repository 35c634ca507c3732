//! Errors of the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O on {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("corrupt file {path}: {reason}")]
    Corrupt { path: std::path::PathBuf, reason: String },
}
impl Error {
    pub fn kind(&self) -> strata_common::ErrorKind {
        strata_common::ErrorKind::Internal
    }
}
pub type Result<T, E = Error> = std::result::Result<T, E>;
