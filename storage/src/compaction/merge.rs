//! Running one compaction [`Job`]: a k-way merge of the inputs' series in
//! label order, one series at a time, newest file winning equal timestamps,
//! split into the job's time windows and streamed into one output file per
//! window.
//!
//! Sparse data (samples days or years apart) would make one file per
//! window: a job opens at most [`MAX_WINDOW_OUTPUTS`] window outputs, and
//! samples of any further window go to one *spill* output that spans many
//! windows. The planner never picks a spanning file up again (it would
//! split it once more), so sparse history costs a handful of files.
//!
//! Memory: the samples of one series at a time, plus each output's index
//! (labels and chunk references of its series, see [`crate::writer`]).
//! Inputs are memory-mapped, so they cost page cache, not heap.
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::{Duration, Instant};

use strata_common::{HistSample, Labels, Sample};

use super::plan::{Job, window_of};
use crate::chunk::v3::ZSTD_LEVEL;
use crate::fault::FaultPoint;
use crate::writer::{DurableFile, relative_path};
use crate::{Error, FileMeta, FileReader, ManifestStore, PartitionRange, Result};

/// Most single-window outputs one job writes; further windows share one
/// spill output.
pub const MAX_WINDOW_OUTPUTS: usize = 16;

/// The key of the spill output in the job's output map (no window index
/// reaches it: windows are at least 1 ms wide and start at `i64::MIN / w`).
const SPILL: i64 = i64::MAX;

/// What a job produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Output files, durable but not yet in the manifest.
    pub outputs: Vec<FileMeta>,
    /// Samples read from the inputs.
    pub samples_in: u64,
    /// Samples written: those read minus duplicate (series, timestamp) pairs.
    pub samples_out: u64,
    /// Bytes of the output files.
    pub bytes_out: u64,
}

/// Sleeps as needed to keep writes at or below `rate` bytes per second.
#[derive(Debug)]
pub struct Throttle {
    rate: u64,
    started: Instant,
    bytes: u64,
}

impl Throttle {
    /// A throttle starting now; `rate` 0 means unlimited.
    pub fn new(rate: u64) -> Self {
        Self { rate, started: Instant::now(), bytes: 0 }
    }

    /// Accounts for `bytes` written and sleeps until the rate allows them.
    pub fn consume(&mut self, bytes: u64) {
        if self.rate == 0 {
            return;
        }
        self.bytes += bytes;
        let due = Duration::from_secs_f64(self.bytes as f64 / self.rate as f64);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
}

/// One output window being written.
struct Output {
    id: u64,
    rel: String,
    file: DurableFile,
}

/// Runs `job` (see the module docs); on error, removes what it wrote.
pub fn run_job(store: &ManifestStore, job: &Job, throttle: &mut Throttle) -> Result<Outcome> {
    let mut open: BTreeMap<i64, Output> = BTreeMap::new();
    let mut done: Vec<FileMeta> = Vec::new();
    let result = merge_into(store, job, throttle, &mut open, &mut done);
    if result.is_err() {
        for (_, o) in open {
            o.file.abort();
        }
        for f in &done {
            let _ = std::fs::remove_file(store.data_dir().join(&f.path));
        }
    }
    let (samples_in, samples_out) = result?;
    let bytes_out = done.iter().map(|f| f.bytes).sum();
    Ok(Outcome { outputs: done, samples_in, samples_out, bytes_out })
}

/// The time-sorted `floats` and `hist` of one series cut into runs by
/// window, joined: `(window, floats in it, histograms in it)` in window order.
fn window_runs<'a>(
    floats: &'a [Sample],
    hist: &'a [HistSample],
    fw: impl Fn(&Sample) -> i64,
    hw: impl Fn(&HistSample) -> i64,
) -> Vec<(i64, &'a [Sample], &'a [HistSample])> {
    let mut f = floats.chunk_by(|a, b| fw(a) == fw(b)).map(|r| (fw(&r[0]), r)).peekable();
    let mut h = hist.chunk_by(|a, b| hw(a) == hw(b)).map(|r| (hw(&r[0]), r)).peekable();
    let mut out = Vec::new();
    loop {
        let next = match (f.peek(), h.peek()) {
            (Some(&(a, _)), Some(&(b, _))) if a == b => f.next().zip(h.next()).map(|((w, x), (_, y))| (w, x, y)),
            (Some(&(a, _)), Some(&(b, _))) if a < b => f.next().map(|(w, x)| (w, x, &[][..])),
            (Some(_), None) => f.next().map(|(w, x)| (w, x, &[][..])),
            (_, Some(_)) => h.next().map(|(w, y)| (w, &[][..], y)),
            (None, None) => None,
        };
        match next {
            Some(r) => out.push(r),
            None => return out,
        }
    }
}

fn merge_into(
    store: &ManifestStore,
    job: &Job,
    throttle: &mut Throttle,
    open: &mut BTreeMap<i64, Output>,
    done: &mut Vec<FileMeta>,
) -> Result<(u64, u64)> {
    let readers: Vec<FileReader> =
        job.inputs.iter().map(|f| FileReader::open(&store.data_dir().join(&f.path))).collect::<Result<_>>()?;
    // Heap of (labels, input, series id): the smallest labels first, and for
    // equal labels the oldest input first.
    let mut heap: BinaryHeap<Reverse<(Labels, usize, u32)>> = BinaryHeap::new();
    for (i, r) in readers.iter().enumerate() {
        if r.series_count() > 0 {
            heap.push(Reverse((r.labels(0)?, i, 0)));
        }
    }
    let (mut samples_in, mut samples_out) = (0u64, 0u64);
    // Outputs hold histograms (format v5) when any input does.
    let histograms = readers.iter().any(FileReader::has_histograms);
    let mut hist: Vec<HistSample> = Vec::new();
    let mut samples: Vec<Sample> = Vec::new();
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    let mut spill: Vec<Sample> = Vec::new();
    let mut spill_hist: Vec<HistSample> = Vec::new();
    while let Some(Reverse((labels, i, id))) = heap.pop() {
        samples.clear();
        hist.clear();
        let mut sources = vec![(i, id)];
        while heap.peek().is_some_and(|Reverse((l, _, _))| *l == labels) {
            if let Some(Reverse((_, j, jd))) = heap.pop() {
                sources.push((j, jd));
            }
        }
        // Inputs are in rank order: after the stable sort the newest
        // input's sample is last among equal timestamps, and it wins.
        sources.sort_unstable();
        for &(j, jd) in &sources {
            readers[j].samples(jd, i64::MIN, i64::MAX, &mut samples)?;
            readers[j].hist_samples(jd, i64::MIN, i64::MAX, &mut hist)?;
            if jd + 1 < readers[j].series_count() {
                heap.push(Reverse((readers[j].labels(jd + 1)?, j, jd + 1)));
            }
        }
        samples_in += (samples.len() + hist.len()) as u64;
        strata_common::sample::sort_dedup_samples(&mut samples);
        strata_common::histogram::sort_dedup_hist(&mut hist);
        samples_out += (samples.len() + hist.len()) as u64;
        let mut written = 0u64;
        spill.clear();
        spill_hist.clear();
        let win = |t: i64| window_of(t, job.window_ms);
        let runs = window_runs(&samples, &hist, |s| win(s.t), |h| win(h.t));
        for run in runs.into_iter().chain(std::iter::once((SPILL, &[][..], &[][..]))) {
            let (win, run, hrun) = match run {
                // After the last run: the series' spilled samples, in one piece.
                (SPILL, _, _) if spill.is_empty() && spill_hist.is_empty() => break,
                (SPILL, _, _) => (SPILL, &spill[..], &spill_hist[..]),
                (win, run, hrun) => {
                    let windows = open.len() - usize::from(open.contains_key(&SPILL));
                    if !open.contains_key(&win) && windows >= MAX_WINDOW_OUTPUTS {
                        spill.extend_from_slice(run);
                        spill_hist.extend_from_slice(hrun);
                        continue;
                    }
                    (win, run, hrun)
                }
            };
            let out = match open.entry(win) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let id = store.allocate_file_id();
                    let rel = relative_path(job.tenant.as_str(), id);
                    let file = DurableFile::create_for(&store.data_dir().join(&rel), Some(ZSTD_LEVEL), histograms)?;
                    e.insert(Output { id, rel, file })
                }
            };
            ts.clear();
            vs.clear();
            ts.extend(run.iter().map(|s| s.t));
            vs.extend(run.iter().map(|s| s.v));
            let before = out.file.writer().bytes_written();
            let tmp = out.file.tmp_path().to_path_buf();
            out.file.writer().add_series_with_histograms(&labels, &ts, &vs, hrun).map_err(Error::io(tmp))?;
            written += out.file.writer().bytes_written() - before;
        }
        throttle.consume(written);
    }
    let merge_order = job.inputs.iter().map(|f| f.rank().0).max();
    let offsets = union_ranges(job.inputs.iter().flat_map(|f| f.offsets.iter().copied()));
    while let Some((_, o)) = open.pop_first() {
        let path = store.data_dir().join(&o.rel);
        let stats = o.file.commit()?;
        done.push(FileMeta {
            id: o.id,
            path: o.rel,
            tenant: job.tenant.clone(),
            level: job.level,
            min_t: stats.min_t,
            max_t: stats.max_t,
            series: stats.series,
            samples: stats.samples,
            bytes: stats.bytes,
            offsets: offsets.clone(),
            merge_order,
        });
        store.fault(FaultPoint::DataFileWritten, &path)?;
    }
    Ok((samples_in, samples_out))
}

/// The union of partition ranges: per partition, overlapping or adjacent
/// ranges coalesced, sorted by (partition, start).
pub fn union_ranges(ranges: impl IntoIterator<Item = PartitionRange>) -> Vec<PartitionRange> {
    let mut v: Vec<PartitionRange> = ranges.into_iter().collect();
    v.sort_by_key(|r| (r.partition, r.start, r.end));
    let mut out: Vec<PartitionRange> = Vec::with_capacity(v.len());
    for r in v {
        match out.last_mut() {
            Some(last) if last.partition == r.partition && r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_coalesce_per_partition_and_keep_gaps() {
        let r = |partition, start, end| PartitionRange { partition, start, end };
        let got = union_ranges([r(1, 10, 20), r(0, 5, 9), r(1, 0, 10), r(1, 30, 40), r(0, 0, 5)]);
        assert_eq!(got, vec![r(0, 0, 9), r(1, 0, 20), r(1, 30, 40)]);
    }
}
