//! Reading files (stub API).
use std::path::Path;
use std::sync::Arc;

use strata_common::{Labels, Matcher, Sample, Timestamp};

use crate::{FileMeta, Result};

/// An open, immutable file.
pub struct FileReader {}

impl FileReader {
    pub fn open(_path: &Path) -> Result<Self> {
        todo!()
    }
    /// Series ids (file-local, in label order) matching all matchers.
    pub fn select(&self, _matchers: &[Matcher]) -> roaring::RoaringBitmap {
        todo!()
    }
    pub fn labels(&self, _series: u32) -> Result<Labels> {
        todo!()
    }
    /// Appends the series' samples in `[min_t, max_t]` to `out`, in time order.
    pub fn samples(&self, _series: u32, _min_t: Timestamp, _max_t: Timestamp, _out: &mut Vec<Sample>) -> Result<()> {
        todo!()
    }
}

/// Open readers by file id.
#[derive(Default)]
pub struct FileCache {}

impl FileCache {
    pub fn get(&self, _data_dir: &Path, _meta: &FileMeta) -> Result<Arc<FileReader>> {
        todo!()
    }
}
