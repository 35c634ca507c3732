//! Fault injection at every step of flush and compaction: the data file
//! written, before the manifest rename, after it, and before deleting a
//! retired file. Each scenario is replayed once per fault point occurrence
//! (the N-th fault point of the run fails), in two modes:
//! - **I/O error**: the step returns an error, the operation is retried in
//!   the same process (the flusher and compactor retry), and the process
//!   restarts at the end;
//! - **kill**: the hook panics, so nothing after the step runs (as with a
//!   killed process); the store is dropped and the directory reopened, and
//!   the log is replayed from the manifest's flushed offsets.
//!
//! After every run: the manifest opens, the store serves exactly the model
//! (no sample lost), a full compaction leaves each (series, timestamp) in
//! exactly one file (none duplicated), and the files on disk are exactly
//! those of the manifest (no orphans).
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use strata_storage::ManifestStore;
use strata_storage::fault::{FaultHook, FaultPoint};

use super::sim::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    IoError,
    Kill,
}

/// Fails the `n`-th fault point reached (1-based) and records which it was.
struct Injector {
    countdown: AtomicI64,
    fired: Mutex<Option<FaultPoint>>,
    mode: Mode,
}

impl Injector {
    fn hook(self: &Arc<Self>) -> FaultHook {
        let me = Arc::clone(self);
        Arc::new(move |point: FaultPoint, path: &Path| {
            if me.countdown.fetch_sub(1, Ordering::SeqCst) != 1 {
                return Ok(());
            }
            *me.fired.lock().unwrap() = Some(point);
            match me.mode {
                Mode::IoError => {
                    Err(std::io::Error::other(format!("injected fault at {point:?} on {}", path.display())))
                }
                Mode::Kill => panic!("injected kill at {point:?}"),
            }
        })
    }
}

struct World {
    dir: tempfile::TempDir,
    store: Arc<ManifestStore>,
    injector: Arc<Injector>,
}

impl World {
    fn restart(&mut self) {
        self.store = Arc::new(ManifestStore::open(self.dir.path()).expect("the manifest must always open"));
        self.store.set_fault_hook(Some(self.injector.hook()));
    }

    /// Runs `op`; after an injected failure, recovers as the mode says and
    /// runs it again (the fault fires once per run).
    fn step(&mut self, op: impl Fn(&Arc<ManifestStore>) -> strata_storage::Result<()>) {
        match self.injector.mode {
            Mode::IoError => {
                if let Err(e) = op(&self.store) {
                    assert!(e.to_string().contains("injected fault"), "unexpected error: {e}");
                    op(&self.store).unwrap();
                }
            }
            Mode::Kill => {
                if catch_unwind(AssertUnwindSafe(|| op(&self.store))).is_err() {
                    self.restart();
                    op(&self.store).unwrap();
                } else {
                    // An Ok/Err result without a kill: the op must have succeeded.
                    op(&self.store).unwrap();
                }
            }
        }
    }
}

/// One scenario with the `n`-th fault point failing; returns the point
/// that fired (None once `n` is past the last one).
fn run(mode: Mode, n: i64) -> Option<FaultPoint> {
    let dir = tempfile::tempdir().unwrap();
    let injector = Arc::new(Injector { countdown: AtomicI64::new(n), fired: Mutex::new(None), mode });
    let store = Arc::new(ManifestStore::open(dir.path()).unwrap());
    store.set_fault_hook(Some(injector.hook()));
    let mut w = World { dir, store, injector };
    let config = test_config();
    let mut log = Log::default();
    for round in 0..4u64 {
        for r in records(round + 100, 12, round as i64 * 3_000 - 2_000, 4_000) {
            log.push(r);
        }
        w.step(|s| flush(s, &log));
        if round % 2 == 1 {
            w.step(|s| compact(s, &config).map(|_| ()));
        }
    }
    // Restart (as after any crash), replay, compact fully, check.
    w.store.set_fault_hook(None);
    w.restart();
    w.store.set_fault_hook(None);
    flush(&w.store, &log).unwrap();
    compact(&w.store, &config).unwrap();
    assert_matches_model(&w.store, &log);
    let model_samples: usize = log.model().values().map(Vec::len).sum();
    let m = w.store.current();
    assert!(m.files.iter().all(|f| f.level > 0));
    assert_eq!(m.files.iter().map(|f| f.samples).sum::<u64>(), model_samples as u64, "duplicated samples");
    assert_eq!(m.flushed_offsets, log.ends(), "flushed offsets");
    assert_no_orphans(&w.store);
    let injector = Arc::clone(&w.injector);
    drop(w);
    injector.fired.lock().unwrap().take()
}

fn every_fault_point(mode: Mode) {
    let mut seen = HashSet::new();
    let mut n = 1;
    while let Some(point) = run(mode, n) {
        seen.insert(point);
        n += 1;
        assert!(n < 10_000, "scenario never ends");
    }
    assert!(n > 10, "only {n} fault points reached");
    for p in FaultPoint::ALL {
        assert!(seen.contains(&p), "{mode:?}: fault point {p:?} never reached");
    }
}

#[test]
fn io_errors_at_every_step_lose_and_duplicate_nothing() {
    every_fault_point(Mode::IoError);
}

#[test]
fn kills_at_every_step_lose_and_duplicate_nothing() {
    std::panic::set_hook(Box::new(|_| {})); // the injected kills are expected
    every_fault_point(Mode::Kill);
}
