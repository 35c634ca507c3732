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
//!
//! A query evaluated in parallel hands its series chunks to [`workers`]:
//! long-lived threads at the caller's priority. They were scoped threads
//! started per batch of series (700 a second under the mixed benchmark):
//! starting and ending a thread maps and unmaps its stack under the
//! process's memory-map lock, which a preempted `SCHED_IDLE` thread then
//! held while every cheap query's page fault waited for it (cheap p99 17–53
//! ms against 3 ms idle, with 5,698 short-lived threads in 8 s of `perf
//! sched record`).

use std::cell::Cell;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

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
        if nice != 0 {
            LOW_NICE.store(nice, Ordering::Relaxed);
        }
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

/// The nice value of low-priority threads where `SCHED_IDLE` is refused
/// (the last one an [`EvalPool`] was built with).
static LOW_NICE: AtomicI32 = AtomicI32::new(10);

thread_local! {
    /// Whether this thread lowered its priority ([`lower_priority`]).
    static LOW_PRIORITY: Cell<bool> = const { Cell::new(false) };
}

/// The threads that evaluate series chunks in parallel for queries running
/// on this thread: at the same priority, so a heavy query's chunks stay
/// below every cheap query and a cheap query's are not held back. One pool
/// per priority, `cores()` threads each, started on first use and kept.
pub fn workers() -> &'static rayon::ThreadPool {
    static NORMAL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    static LOW: OnceLock<rayon::ThreadPool> = OnceLock::new();
    let low = LOW_PRIORITY.with(Cell::get);
    let (pool, name) = if low { (&LOW, "strata-par-low") } else { (&NORMAL, "strata-par") };
    pool.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(cores())
            .thread_name(move |i| format!("{name}-{i}"))
            .start_handler(move |_| {
                if low {
                    lower_priority(LOW_NICE.load(Ordering::Relaxed));
                }
            })
            .build()
            .expect("cannot start the parallel query workers")
    })
}

/// Lowers the calling thread's CPU priority (Linux: per thread): the
/// `SCHED_IDLE` policy, which the kernel preempts as soon as any normal
/// thread wakes up, and failing that (a sandbox may refuse it) the nice
/// value `nice`. Neither needs a privilege.
fn lower_priority(nice: i32) {
    LOW_PRIORITY.with(|low| low.set(true));
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

    /// The policies of the threads that run chunks for a caller on this
    /// thread (every worker of its pool), and the workers' thread ids.
    fn worker_policies() -> (Vec<i32>, Vec<i64>) {
        let pool = workers();
        let mut seen = vec![(0, 0); pool.current_num_threads()];
        pool.scope(|scope| {
            for slot in &mut seen {
                // SAFETY: reads the worker's own policy and id.
                scope.spawn(move |_| *slot = unsafe { (libc::sched_getscheduler(0), libc::syscall(libc::SYS_gettid)) });
            }
        });
        seen.into_iter().unzip()
    }

    #[tokio::test]
    async fn parallel_chunks_run_at_their_callers_priority_on_kept_threads() {
        let (normal, _) = worker_policies();
        assert!(normal.iter().all(|&p| p == libc::SCHED_OTHER), "{normal:?}");
        let heavy = EvalPool::new(1, 10).unwrap();
        let (low, _) = heavy.spawn(worker_policies).await.unwrap();
        assert!(low.iter().all(|&p| p == libc::SCHED_IDLE), "{low:?}");
        // Threads that exist now serve the next queries: none is started per batch.
        let threads: std::collections::HashSet<i64> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .map(|t| t.unwrap().file_name().to_string_lossy().parse().unwrap())
            .collect();
        for _ in 0..10 {
            let (_, ids) = heavy.spawn(worker_policies).await.unwrap();
            assert!(ids.iter().all(|id| threads.contains(id)), "{ids:?} not in {threads:?}");
        }
    }
}
