//! Admission of password checks by memory.
//!
//! An argon2id check holds its hash's memory cost (`m`, in KiB: 19 MiB for `authgate hash-password`) on a
//! blocking thread for as long as it runs. Without a bound, N concurrent wrong logins take N times that: the
//! container is OOM-killed long before the CPU is the limit. [`HashingLimiter`] is a semaphore whose permits are
//! KiB of a memory budget (`basic.hashing.max_memory_mib`); a check takes as many as its hash costs, waits in
//! FIFO order for at most `queue_timeout_ms`, and only then gets a blocking thread, so the threads are bounded
//! too. A hash costlier than the whole budget takes the whole budget: it runs alone rather than never. At most
//! `max_queue` checks wait; beyond that, and past the deadline, the check is refused with [`Busy`] (503 with
//! `Retry-After`). A check keeps its permit until the hash is done, even when its request is gone: the memory is
//! in use until then.

use crate::config::HashingConfig;
use crate::metrics::Metrics;
use prometheus::{IntCounter, IntGauge};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, TryAcquireError};

/// The least a check weighs, in KiB: its thread's stack and the argon2 context, whatever the hash says.
pub const MIN_WEIGHT_KIB: u32 = 1024;

/// No memory for the check within the deadline, or the queue is full: try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    /// What to tell the client.
    pub retry_after: Duration,
}

/// Metrics the limiter keeps (the process-wide families, shared across reloads).
#[derive(Clone)]
struct Gauges {
    in_flight: IntGauge,
    queued: IntGauge,
    timeouts: IntCounter,
    full: IntCounter,
}

/// Bounds the memory of concurrent password checks. One per process (kept across reloads that do not change
/// `basic.hashing`), shared by every directory that hashes.
pub struct HashingLimiter {
    permits: Arc<Semaphore>,
    budget_kib: u32,
    max_queue: usize,
    queued: AtomicUsize,
    queue_timeout: Duration,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    gauges: Gauges,
}

impl std::fmt::Debug for HashingLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingLimiter")
            .field("budget_kib", &self.budget_kib)
            .field("max_queue", &self.max_queue)
            .field("queue_timeout", &self.queue_timeout)
            .finish_non_exhaustive()
    }
}

impl HashingLimiter {
    /// From `basic.hashing`, recording into `metrics`. A zero budget is treated as the minimum weight.
    pub fn new(cfg: &HashingConfig, metrics: &Metrics) -> Self {
        let budget_kib = cfg.max_memory_mib.saturating_mul(1024).max(MIN_WEIGHT_KIB);
        Self {
            permits: Arc::new(Semaphore::new(budget_kib as usize)),
            budget_kib,
            max_queue: cfg.max_queue as usize,
            queued: AtomicUsize::new(0),
            queue_timeout: Duration::from_millis(cfg.queue_timeout_ms),
            running: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
            gauges: Gauges {
                in_flight: metrics.password_hashes_in_flight.clone(),
                queued: metrics.password_hash_queue_depth.clone(),
                timeouts: metrics.password_hash_queue_timeouts.clone(),
                full: metrics.password_hash_queue_full.clone(),
            },
        }
    }

    /// The default bounds, recording into metrics of its own (tools and tests that load a directory).
    pub fn standalone() -> Self {
        Self::new(&HashingConfig::default(), &Metrics::new())
    }

    /// The budget, in KiB.
    pub fn budget_kib(&self) -> u32 {
        self.budget_kib
    }

    /// The most checks that ran at once so far.
    pub fn peak_concurrency(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// What a check of a hash costing `cost_kib` takes of the budget.
    pub fn weight(&self, cost_kib: u32) -> u32 {
        cost_kib.clamp(MIN_WEIGHT_KIB, self.budget_kib)
    }

    /// `Retry-After` for a refused check: the queue's deadline, in whole seconds, at least one.
    fn busy(&self) -> Busy {
        let millis = self.queue_timeout.as_millis() as u64;
        Busy {
            retry_after: Duration::from_secs(millis.div_ceil(1000).max(1)),
        }
    }

    /// Runs `check` (a hash costing `cost_kib` KiB) on a blocking thread once its memory is free.
    pub async fn run<T, F>(&self, cost_kib: u32, check: F) -> Result<T, Busy>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let weight = self.weight(cost_kib);
        let permit = match self.permits.clone().try_acquire_many_owned(weight) {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(self.busy()),
            Err(TryAcquireError::NoPermits) => {
                let _waiting = self.enqueue()?;
                match tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_many_owned(weight)).await {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_closed)) => return Err(self.busy()),
                    Err(_elapsed) => {
                        self.gauges.timeouts.inc();
                        return Err(self.busy());
                    }
                }
            }
        };
        let running = Running::start(&self.running, &self.peak, &self.gauges.in_flight);
        tokio::task::spawn_blocking(move || {
            // Both released when the hash is done, not when the request goes away.
            let _permit = permit;
            let _running = running;
            check()
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "a password check panicked");
            self.busy()
        })
    }

    fn enqueue(&self) -> Result<Waiting<'_>, Busy> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.gauges.full.inc();
            return Err(self.busy());
        }
        self.gauges.queued.inc();
        Ok(Waiting(self))
    }
}

/// A place in the queue, left when dropped (admitted, timed out or cancelled).
struct Waiting<'a>(&'a HashingLimiter);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::AcqRel);
        self.0.gauges.queued.dec();
    }
}

/// A running check, counted until dropped.
struct Running {
    running: Arc<AtomicUsize>,
    gauge: IntGauge,
}

impl Running {
    fn start(running: &Arc<AtomicUsize>, peak: &AtomicUsize, gauge: &IntGauge) -> Self {
        let now = running.fetch_add(1, Ordering::AcqRel) + 1;
        peak.fetch_max(now, Ordering::AcqRel);
        gauge.inc();
        Self {
            running: running.clone(),
            gauge: gauge.clone(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::AcqRel);
        self.gauge.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Instant;

    fn limiter(mib: u32, timeout_ms: u64, max_queue: u32, metrics: &Metrics) -> Arc<HashingLimiter> {
        Arc::new(HashingLimiter::new(
            &HashingConfig {
                max_memory_mib: mib,
                queue_timeout_ms: timeout_ms,
                max_queue,
            },
            metrics,
        ))
    }

    /// A check that holds its memory for `hold`, recording how many ran at once.
    fn check(counter: &Arc<(AtomicUsize, AtomicUsize)>, hold: Duration) -> impl FnOnce() + Send + 'static {
        let counter = counter.clone();
        move || {
            let now = counter.0.fetch_add(1, Ordering::SeqCst) + 1;
            counter.1.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(hold);
            counter.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrency_follows_memory_not_requests() {
        let metrics = Metrics::new();
        // 64 MiB and checks of 19 MiB: three at once, however many ask.
        let limiter = limiter(64, 10_000, 1000, &metrics);
        let counter = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let (limiter, work) = (limiter.clone(), check(&counter, Duration::from_millis(5)));
                tokio::spawn(async move { limiter.run(19 * 1024, work).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(counter.1.load(Ordering::SeqCst), 3, "peak concurrent checks");
        assert_eq!(limiter.peak_concurrency(), 3);
        assert_eq!(metrics.password_hashes_in_flight.get(), 0);
        assert_eq!(metrics.password_hash_queue_depth.get(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hash_costlier_than_the_budget_runs_alone() {
        let metrics = Metrics::new();
        let limiter = limiter(8, 10_000, 100, &metrics);
        assert_eq!(limiter.weight(64 * 1024), 8 * 1024);
        assert_eq!(limiter.weight(1), MIN_WEIGHT_KIB);
        let counter = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let overlapped = Arc::new(Mutex::new(false));
        let mut tasks = Vec::new();
        for i in 0..12 {
            let (limiter, work) = (limiter.clone(), check(&counter, Duration::from_millis(5)));
            let (counter, overlapped) = (counter.clone(), overlapped.clone());
            tasks.push(tokio::spawn(async move {
                if i == 5 {
                    // The big one: nothing else may run beside it.
                    limiter
                        .run(64 * 1024, move || {
                            *overlapped.lock().unwrap() |= counter.0.load(Ordering::SeqCst) > 0;
                            work();
                            *overlapped.lock().unwrap() |= counter.0.load(Ordering::SeqCst) > 0;
                        })
                        .await
                } else {
                    limiter.run(1024, work).await
                }
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert!(!*overlapped.lock().unwrap(), "the over-budget hash ran alone");
        assert!(counter.1.load(Ordering::SeqCst) > 1, "small ones ran side by side");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiters_past_the_deadline_or_beyond_the_queue_are_busy() {
        let metrics = Metrics::new();
        // One check at a time, two may wait, for 50 ms.
        let limiter = limiter(1, 50, 2, &metrics);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.run(1024, move || hold.recv().ok()).await })
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while metrics.password_hashes_in_flight.get() == 0 {
            assert!(Instant::now() < deadline, "the blocker never started");
            tokio::task::yield_now().await;
        }
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.run(1024, || ()).await })
            })
            .collect();
        while metrics.password_hash_queue_depth.get() < 2 {
            assert!(Instant::now() < deadline, "the waiters never queued");
            tokio::task::yield_now().await;
        }
        let third = limiter.run(1024, || ()).await;
        assert_eq!(
            third,
            Err(Busy {
                retry_after: Duration::from_secs(1)
            }),
            "queue full"
        );
        assert_eq!(metrics.password_hash_queue_full.get(), 1);
        for waiter in waiters {
            assert!(waiter.await.unwrap().is_err(), "past the deadline");
        }
        assert_eq!(metrics.password_hash_queue_timeouts.get(), 2);
        assert_eq!(metrics.password_hash_queue_depth.get(), 0);
        release.send(()).unwrap();
        assert!(blocker.await.unwrap().is_ok());
        assert!(limiter.run(1024, || ()).await.is_ok(), "memory free again");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_request_keeps_the_memory_until_its_hash_is_done() {
        let metrics = Metrics::new();
        let limiter = limiter(1, 10_000, 10, &metrics);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let request = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.run(1024, move || hold.recv().ok()).await })
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while metrics.password_hashes_in_flight.get() == 0 {
            assert!(Instant::now() < deadline);
            tokio::task::yield_now().await;
        }
        request.abort();
        let _ = request.await;
        assert_eq!(metrics.password_hashes_in_flight.get(), 1, "the hash still runs");
        assert_eq!(limiter.permits.available_permits(), 0, "and still holds its memory");
        release.send(()).unwrap();
        // The blocking task drops its in-flight mark just before its permit: wait for both.
        while metrics.password_hashes_in_flight.get() != 0 || limiter.permits.available_permits() != 1024 {
            assert!(
                Instant::now() < deadline,
                "the memory was not released: {} KiB available",
                limiter.permits.available_permits()
            );
            tokio::task::yield_now().await;
        }
    }
}
