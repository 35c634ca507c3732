//! Evaluation threads at a lower CPU priority, for the heavy lane (and the
//! same small pool type, with large stacks, for the query parser).
//!
//! The scheduler bounds how many heavy queries run at once, but a running
//! heavy query still competes with cheap ones for the same cores. Its
//! evaluation therefore runs on one of these threads, which switch to the
//! `SCHED_IDLE` policy at start (or, where that is refused, raise their nice
//! value), so the kernel preempts them as soon as a cheap query's thread
//! wakes: a cheap dashboard query sees an almost idle machine while heavy
//! ones use whatever CPU is left. Lowering a priority needs no privilege;
//! raising it again would, which is why these are dedicated threads and not
//! tokio's blocking pool.
//!
//! A job here must not hold a lock that normal-priority threads take while
//! it may be preempted, above all across a wake-up of another thread (which
//! preempts it there): the lock then stays held until the kernel gives the
//! idle thread CPU again, and on a busy machine every cheap query needing it
//! waits (priority inversion). This is why the ingester shards' command and
//! answer channels are lock-free and why a job's fetch is stopped by its
//! caller leaving rather than by a tokio timer (see `Engine::run_with`).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of low-priority threads running evaluation jobs.
#[derive(Debug, Clone)]
pub struct EvalPool {
    jobs: mpsc::Sender<Job>,
}

impl EvalPool {
    /// `threads` threads (at least one) at nice value `nice` (0 to 19).
    pub fn new(threads: usize, nice: i32) -> Result<Self> {
        Self::with_stack(threads, nice, "strata-heavy", 2 << 20)
    }

    /// `threads` threads named `name-<i>` with `stack_bytes` of stack each,
    /// at nice value `nice`.
    pub fn with_stack(threads: usize, nice: i32, name: &str, stack_bytes: usize) -> Result<Self> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .stack_size(stack_bytes)
                .spawn(move || {
                    if nice != 0 {
                        lower_priority(nice);
                    }
                    loop {
                        // A poisoned lock only means another worker panicked
                        // while waiting; the receiver itself is intact.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        match job {
                            // A panicking job drops its result sender (the
                            // caller sees an error); the thread lives on.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return, // the pool was dropped
                        }
                    }
                })
                .map_err(|e| Error::Internal(format!("cannot start a {name} thread: {e}")))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `f` on a pool thread; the receiver yields its result (an error
    /// if `f` panicked).
    pub fn spawn<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> oneshot::Receiver<T> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        // The threads only stop when every sender is gone, and `self` is one.
        let _ = self.jobs.send(job);
        rx
    }
}

impl EvalPool {
    /// Runs `f` on a pool thread and blocks the caller until it returns
    /// (`None` if it panicked). For short jobs that need the pool's stack.
    pub fn run_blocking<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs.send(job).ok()?;
        rx.recv().ok()
    }
}

/// The cores this process may use, read once (each read of
/// `available_parallelism` costs a few system calls, too many per query).
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Lowers the calling thread's CPU priority (Linux: per thread): the
/// `SCHED_IDLE` policy, which the kernel preempts as soon as any normal
/// thread wakes up, and failing that (a sandbox may refuse it) the nice
/// value `nice`. Neither needs a privilege.
fn lower_priority(nice: i32) {
    // SAFETY: plain system calls on the calling thread; `param` outlives the call.
    let idle = unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param)
    };
    if idle == 0 {
        return;
    }
    // SAFETY: as above.
    let rc = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice)
    };
    if rc != 0 {
        tracing::warn!(nice, error = %std::io::Error::last_os_error(), "cannot lower a heavy-lane thread's priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_at_idle_priority() {
        let pool = EvalPool::new(2, 10).unwrap();
        // SAFETY: reads the calling thread's own policy.
        let policy = pool.spawn(|| unsafe { libc::sched_getscheduler(0) }).await.unwrap();
        assert_eq!(policy, libc::SCHED_IDLE);
        let results: Vec<usize> = futures::future::join_all((0..8).map(|i| pool.spawn(move || i * 2)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(results, (0..8).map(|i| i * 2).collect::<Vec<_>>());
    }
}
