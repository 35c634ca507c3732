//! Long-lived helper threads that fdatasync segment files in parallel for
//! the sync thread. (Spawning scoped threads for every group commit cost
//! more CPU — clone, stack mapping, exit — than the syncs they ran.)
//!
//! [`SyncPool::sync_all`] returns only once every file it was given has been
//! synced or has failed, so group commit keeps its ordering: end offsets are
//! published after the whole batch is durable.

use std::fs::File;
use std::io;
use std::sync::Arc;

type Reply = (usize, Vec<io::Result<()>>);

/// One chunk of files for a helper; the reply carries the chunk's index.
struct Task {
    index: usize,
    files: Vec<Arc<File>>,
    reply: flume::Sender<Reply>,
}

/// Helper threads, started on first need, stopped when the pool is dropped
/// (dropping the sender ends their loop).
pub(crate) struct SyncPool {
    max_threads: usize,
    tx: flume::Sender<Task>,
    rx: flume::Receiver<Task>,
    started: usize,
}

impl SyncPool {
    pub fn new(max_threads: usize) -> Self {
        let (tx, rx) = flume::unbounded();
        Self { max_threads: max_threads.max(1), tx, rx, started: 0 }
    }

    /// Starts helpers up to `n` (at most `max_threads`); returns how many run.
    fn ensure(&mut self, n: usize) -> usize {
        while self.started < n.min(self.max_threads) {
            let rx = self.rx.clone();
            let spawned = std::thread::Builder::new().name("strata-log-fsync".into()).spawn(move || {
                for task in rx.iter() {
                    let results = task.files.iter().map(|f| f.sync_data()).collect();
                    // The sync thread waits for every reply; if it is gone, so is the log.
                    let _ = task.reply.send((task.index, results));
                }
            });
            if spawned.is_err() {
                break; // run with the helpers there are (or inline)
            }
            self.started += 1;
        }
        self.started
    }

    /// fdatasyncs `files` (in parallel when there are several); one result
    /// per file, in order.
    pub fn sync_all(&mut self, files: &[Arc<File>]) -> Vec<io::Result<()>> {
        if files.len() <= 1 {
            return files.iter().map(|f| f.sync_data()).collect();
        }
        let helpers = self.ensure(files.len());
        if helpers == 0 {
            return files.iter().map(|f| f.sync_data()).collect();
        }
        let per = files.len().div_ceil(helpers);
        let sizes: Vec<usize> = files.chunks(per).map(<[_]>::len).collect();
        let mut out: Vec<Option<Vec<io::Result<()>>>> = sizes.iter().map(|_| None).collect();
        let (reply_tx, reply_rx) = flume::unbounded::<Reply>();
        for (index, chunk) in files.chunks(per).enumerate() {
            let task = Task { index, files: chunk.to_vec(), reply: reply_tx.clone() };
            if let Err(flume::SendError(task)) = self.tx.send(task) {
                // Unreachable while `self.rx` lives; sync inline anyway.
                out[index] = Some(task.files.iter().map(|f| f.sync_data()).collect());
            }
        }
        drop(reply_tx);
        // Ends once every task has replied or was dropped (a helper died).
        for (index, results) in reply_rx.iter() {
            if let Some(slot) = out.get_mut(index) {
                *slot = Some(results);
            }
        }
        out.into_iter()
            .zip(sizes)
            .flat_map(|(r, n)| {
                r.unwrap_or_else(|| (0..n).map(|_| Err(io::Error::other("fsync helper thread died"))).collect())
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn syncs_every_file_in_order_with_reused_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<Arc<File>> =
            (0..11).map(|i| Arc::new(File::create(dir.path().join(format!("f{i}"))).unwrap())).collect();
        let mut pool = SyncPool::new(4);
        for n in [0, 1, 2, 5, 11] {
            let r = pool.sync_all(&files[..n]);
            assert_eq!(r.len(), n);
            assert!(r.iter().all(Result::is_ok));
        }
        assert_eq!(pool.started, 4, "helpers are started once and reused");
    }
}
