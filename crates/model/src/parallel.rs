//! Deterministic fan-out of independent jobs (cross-validation folds) over
//! a few threads. Each job's result depends only on its index, and results
//! come back in index order, so the output is the same for any thread count.

/// Environment variable that caps the worker threads (default: all cores).
pub const THREADS_ENV: &str = "DXOPS_THREADS";

/// Worker threads used for `jobs` independent jobs.
pub fn threads_for(jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cap = std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(cores);
    cap.min(cores.max(1)).min(jobs.max(1))
}

/// `(0..jobs).map(f)`, run on up to `threads_for(jobs)` threads.
pub fn map<T, F>(jobs: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync,
{
    let threads = threads_for(jobs);
    if threads <= 1 {
        return (0..jobs).map(f).collect();
    }
    let mut slots: Vec<Option<T>> = (0..jobs).map(|_| None).collect();
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = (0..threads)
            .map(|w| {
                scope.spawn(move || {
                    (w..jobs)
                        .step_by(threads)
                        .map(|i| (i, f(i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            // A job that panicked is a bug; re-raise it on this thread.
            match h.join() {
                Ok(results) => {
                    for (i, r) in results {
                        slots[i] = Some(r);
                    }
                }
                Err(p) => std::panic::resume_unwind(p),
            }
        }
    });
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order() {
        let v = super::map(7, |i| i * i);
        assert_eq!(v, vec![0, 1, 4, 9, 16, 25, 36]);
    }
}
