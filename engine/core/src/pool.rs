//! A worker pool for many independent jobs over shared, read-only inputs:
//! what a parameter sweep runs on. Jobs are handed out in index order from
//! one counter, so which thread runs a job never matters for its result;
//! the first error stops handing out jobs and is returned.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use ticktape_engine::pool::run_indexed;
//!
//! let sum = AtomicU64::new(0);
//! run_indexed(100, 4, |i| -> Result<(), String> {
//!     sum.fetch_add(i as u64, Ordering::Relaxed);
//!     Ok(())
//! })?;
//! assert_eq!(sum.into_inner(), 4950);
//! # Ok::<(), String>(())
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `f(0) .. f(jobs - 1)` on `threads` scoped threads (at least one,
/// at most `jobs`). Returns the first error; jobs not yet started when it
/// happened are not run.
pub fn run_indexed<E: Send>(
    jobs: usize,
    threads: usize,
    f: impl Fn(usize) -> std::result::Result<(), E> + Sync,
) -> std::result::Result<(), E> {
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<E>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.min(jobs).max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs {
                        break;
                    }
                    if let Err(e) = f(i) {
                        let mut slot = failure.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert(e);
                        next.store(jobs, Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
    });
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_once_on_any_thread_count() {
        for threads in [0, 1, 2, 7, 64] {
            let seen: Vec<AtomicUsize> = (0..50).map(|_| AtomicUsize::new(0)).collect();
            run_indexed(50, threads, |i| -> Result<(), ()> {
                seen[i].fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
            .unwrap();
            assert!(seen.iter().all(|n| n.load(Ordering::Relaxed) == 1), "threads {threads}");
        }
    }

    #[test]
    fn an_error_stops_the_pool_and_is_returned() {
        let ran = AtomicUsize::new(0);
        let r = run_indexed(1000, 1, |i| {
            ran.fetch_add(1, Ordering::Relaxed);
            if i == 3 { Err(format!("job {i}")) } else { Ok(()) }
        });
        assert_eq!(r, Err("job 3".to_owned()));
        assert_eq!(ran.load(Ordering::Relaxed), 4, "no job after the failing one on one thread");
    }
}
