//! A shard copies the parts of a heavy head read at idle CPU priority, and
//! whoever sends it a command raises it back at once.
//!
//! A shard serves cheap and heavy reads on one thread. Between parts it
//! answers the commands that arrived (see `worker::read_in_parts`), but
//! the kernel schedules the thread, not its tasks: a shard busy copying a
//! heavy read is a normal-priority thread using its whole slice, so a cheap
//! query's hops (its tokio thread, the other shard) waited for slices of up
//! to 4 ms behind it (`benches/results/mixed-scheduler.md`, stop 20). The
//! querier already evaluates heavy queries at `SCHED_IDLE`; this does the
//! same for the shards' share of them:
//!
//! ```text
//!  shard, one heavy part:  lowered ← true; (SCHED_OTHER, nice 0) → SCHED_IDLE
//!                          commands queued? → raise itself
//!                          copy the part
//!                          lowered ← false; (SCHED_OTHER, nice 0)
//!  sender, any command:    queued += 1; lowered.swap(false) → (SCHED_OTHER, nice -1); send
//! ```
//!
//! A sender that swaps `lowered` from true raises the thread, and the shard
//! raises itself after a part or when a command was announced while it
//! lowered itself, so a command never waits behind an idle-priority part.
//! A sender raises the shard to nice -1, not 0: the kernel checks for
//! preemption when a queued task's priority changes, not when only its
//! policy does, so the raised shard preempts an idle-priority thread on its
//! CPU at once instead of at the next tick. The shard is back at nice 0
//! after each part.
//! Leaving `SCHED_IDLE` and a negative nice need `CAP_SYS_NICE` (or
//! `RLIMIT_NICE`): the shard tries both once at start, and where either is
//! refused, heavy parts run at normal priority as before
//! (`ingester.idle_heavy_reads` turns it off).

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

/// The CPU priority of one shard thread (shared by the shard and the
/// [`Ingester`](super::Ingester) handle that sends it commands).
#[derive(Debug, Default)]
pub(crate) struct ShardPriority {
    /// The shard thread's kernel id; 0 while lowering is off.
    tid: AtomicI32,
    /// The thread is (or is about to be) at idle priority.
    lowered: AtomicBool,
    /// Commands sent and not yet taken by the shard.
    queued: AtomicUsize,
}

impl ShardPriority {
    /// Called on the shard thread at start: checks that the thread may
    /// leave idle priority again, and if so enables lowering.
    pub fn enable_on_current_thread(&self) {
        // SAFETY: returns the calling thread's id; no memory is touched.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
        let cycle = [Level::Idle, Level::Raised, Level::Normal];
        match cycle.into_iter().try_for_each(|level| set(tid, level)) {
            Ok(()) => self.tid.store(tid, Ordering::SeqCst),
            Err(e) => {
                let _ = set(tid, Level::Normal);
                tracing::info!(error = %e, "heavy head reads run at normal priority (changing it back needs CAP_SYS_NICE)");
            }
        }
    }

    /// The sender's side of a command: call before sending it (and
    /// [`Self::command_taken`] if the send fails).
    pub fn command_coming(&self) {
        self.queued.fetch_add(1, Ordering::SeqCst);
        self.raise();
    }

    /// The shard took a command off its channel (or its send failed).
    pub fn command_taken(&self) {
        self.queued.fetch_sub(1, Ordering::SeqCst);
    }

    /// Runs `copy` (one part of a heavy read) at idle priority, unless
    /// lowering is off or a command is already waiting. The thread is at
    /// nice 0 afterwards, also after a sender's raise.
    pub fn lowered<R>(&self, copy: impl FnOnce() -> R) -> R {
        let tid = self.tid.load(Ordering::Relaxed);
        if tid == 0 {
            return copy();
        }
        if self.queued.load(Ordering::SeqCst) == 0 {
            self.lowered.store(true, Ordering::SeqCst);
            // A command announced meanwhile may have raised the thread
            // before this lowered it: then it copies at normal priority.
            let idle = set(tid, Level::Normal).and_then(|()| set(tid, Level::Idle));
            if idle.is_ok() && self.queued.load(Ordering::SeqCst) == 0 {
                let out = copy();
                self.lowered.store(false, Ordering::SeqCst);
                let _ = set(tid, Level::Normal);
                return out;
            }
        }
        self.lowered.store(false, Ordering::SeqCst);
        let _ = set(tid, Level::Normal);
        copy()
    }

    /// Raises the shard thread if it is lowered (from a sender's thread).
    fn raise(&self) {
        if self.lowered.swap(false, Ordering::SeqCst) {
            let _ = set(self.tid.load(Ordering::Relaxed), Level::Raised);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Level {
    /// `SCHED_IDLE` (the nice value stays).
    Idle,
    /// `SCHED_OTHER`, nice 0.
    Normal,
    /// `SCHED_OTHER`, nice -1: raised by a sender.
    Raised,
}

/// Sets thread `tid`'s policy and nice value in one system call.
fn set(tid: i32, level: Level) -> std::io::Result<()> {
    let (policy, nice) = match level {
        Level::Idle => (libc::SCHED_IDLE, 0),
        Level::Normal => (libc::SCHED_OTHER, 0),
        Level::Raised => (libc::SCHED_OTHER, -1),
    };
    // SAFETY: an all-zero `sched_attr` is valid; the fields set are plain values.
    let mut attr: libc::sched_attr = unsafe { std::mem::zeroed() };
    attr.size = size_of::<libc::sched_attr>() as u32;
    attr.sched_policy = policy as u32;
    attr.sched_nice = nice;
    // SAFETY: `attr` outlives the call and its `size` field is its size.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, tid, &attr as *const libc::sched_attr, 0) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_and_nice() -> (i32, i32) {
        // SAFETY: reads the calling thread's own scheduling state.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            (libc::sched_getscheduler(0), libc::getpriority(libc::PRIO_PROCESS, tid))
        }
    }

    #[test]
    fn a_part_runs_lowered_and_the_thread_is_raised_after_it() {
        let p = ShardPriority::default();
        p.enable_on_current_thread();
        if p.tid.load(Ordering::SeqCst) == 0 {
            eprintln!("no CAP_SYS_NICE here: lowering is off, as it should be");
            assert_eq!(p.lowered(policy_and_nice), (libc::SCHED_OTHER, 0));
            return;
        }
        assert_eq!(p.lowered(policy_and_nice), (libc::SCHED_IDLE, 0));
        assert_eq!(policy_and_nice(), (libc::SCHED_OTHER, 0));
    }

    #[test]
    fn a_command_raises_a_lowered_shard_and_keeps_later_parts_normal() {
        let p = std::sync::Arc::new(ShardPriority::default());
        p.enable_on_current_thread();
        if p.tid.load(Ordering::SeqCst) == 0 {
            return; // lowering is off (checked above)
        }
        let sender = p.clone();
        let during = p.lowered(|| {
            std::thread::spawn(move || sender.command_coming()).join().unwrap();
            policy_and_nice()
        });
        assert_eq!(during, (libc::SCHED_OTHER, -1), "the command's sender raised the shard");
        // Until the shard takes the command, parts run at normal priority.
        assert_eq!(p.lowered(policy_and_nice), (libc::SCHED_OTHER, 0));
        p.command_taken();
        assert_eq!(p.lowered(policy_and_nice), (libc::SCHED_IDLE, 0));
        assert_eq!(policy_and_nice(), (libc::SCHED_OTHER, 0));
    }
}
