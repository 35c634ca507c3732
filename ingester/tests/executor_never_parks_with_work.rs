//! The shards' executor (glommio, patched in `vendor/glommio`) never goes to
//! sleep while a task is runnable.
//!
//! glommio 0.9.0 parked when its preemption timer fired between polling I/O
//! and running task queues (the thread descheduled in between): it took
//! "preempted before running anything" for "nothing to run" and slept in
//! `io_uring_enter` with no I/O or timer to wake it. An ingester shard then
//! hung at start-up (no timer yet) until something else woke it, and
//! queries waited on shards that had work. The conditions here make the
//! window wide: three busy threads share the executor's CPU, the
//! preemption timer is 50 µs, and every task is woken from another thread,
//! so the executor parks between tasks. Unpatched, this hung within about
//! 1,000 rounds in 2 of 3 runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use glommio::{Latency, LocalExecutorBuilder, Placement, Shares};

const ROUNDS: u64 = 8_000;
const BUSY_THREADS: usize = 3;

/// The first CPU this process may run on (CPU 0 is not always allowed).
fn first_allowed_cpu() -> usize {
    // SAFETY: sched_getaffinity(0, …) fills a cpu_set_t we own.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return 0;
        }
        (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &set)).unwrap_or(0)
    }
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; sched_setaffinity(0, …)
    // applies to the calling thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[test]
fn an_executor_preempted_while_descheduled_runs_its_tasks_instead_of_sleeping() {
    let cpu = first_allowed_cpu();
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..BUSY_THREADS)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                pin_to(cpu);
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let done = Arc::new(AtomicU64::new(0));
    let counter = done.clone();
    let executor = LocalExecutorBuilder::new(Placement::Fixed(cpu))
        .preempt_timer(Duration::from_micros(50))
        .spawn(move || async move {
            let latency = Latency::Matters(Duration::from_micros(50));
            let queue = glommio::executor().create_task_queue(Shares::default(), latency, "woken-from-afar");
            for _ in 0..ROUNDS {
                let (tx, rx) = flume::bounded::<()>(1);
                std::thread::spawn(move || tx.send(()).expect("the task waits for it"));
                let task = async move { rx.recv_async().await.expect("sent") };
                glommio::spawn_local_into(task, queue).expect("spawn").await;
                counter.fetch_add(1, Ordering::Relaxed);
            }
        })
        .expect("start the executor");
    // A hung executor never finishes, so watch its progress instead of joining.
    let mut last = 0;
    let result = loop {
        std::thread::sleep(Duration::from_secs(3));
        let now = done.load(Ordering::Relaxed);
        if now == ROUNDS {
            break Ok(());
        }
        if now == last {
            break Err(now);
        }
        last = now;
    };
    stop.store(true, Ordering::Relaxed);
    for b in busy {
        b.join().unwrap();
    }
    match result {
        Ok(()) => executor.join().expect("the executor ends cleanly"),
        Err(at) => panic!("the executor slept with a runnable task after {at} of {ROUNDS} rounds"),
    }
}
