//! The degraded mode: whether the shared store is usable, and the way back when it returns.
//!
//! Healthy: each call runs on the current connection within `timeout`. A call that fails or times out flips
//! to degraded (one log line, the `authgate_shared_state_degraded` gauge at 1) and starts one background probe;
//! while degraded, calls answer [`Unavailable`] at once (no request pays the timeout again) and the callers use
//! their local counters. The probe connects and PINGs every `probe_interval` until the store answers, then
//! installs the new connection and flips back (one log line, gauge at 0). Every call answered `Unavailable`
//! counts in `authgate_shared_state_fallbacks_total`.

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use authgate_core::metrics::Metrics;
use authgate_core::shared::Unavailable;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Opens a connection that answered a PING.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// A connection; cloned per call (a multiplexed handle).
    type Conn: Clone + Send + Sync + 'static;

    /// Connects and checks the store answers; the error says why not (no secret in it).
    async fn connect(&self) -> Result<Self::Conn, String>;
}

/// Timing of the degraded mode.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long one call may take before the local counters answer instead.
    pub timeout: Duration,
    /// How long connecting (TCP, TLS, AUTH, PING) may take.
    pub connect_timeout: Duration,
    /// Pause between two probes while degraded.
    pub probe_interval: Duration,
}

/// The state machine (healthy / degraded) around one store.
pub struct Health<C: Connector> {
    connector: C,
    timing: Timing,
    /// The connection in use; `None` before the first call and while degraded.
    conn: ArcSwapOption<C::Conn>,
    degraded: AtomicBool,
    /// Serialises the first connection (so a burst at start-up opens one).
    connecting: tokio::sync::Mutex<()>,
    metrics: Arc<Metrics>,
    /// Names the store in log lines (redacted).
    name: String,
}

impl<C: Connector> Health<C> {
    /// Healthy until the first failure; connects on first use.
    /// Opens a new connection (which answered the connector's check) within the connect timeout, without
    /// touching the connection in use or the degraded state: for `check`.
    pub async fn probe_once(&self) -> Result<(), String> {
        match tokio::time::timeout(self.timing.connect_timeout, self.connector.connect()).await {
            Ok(connected) => connected.map(drop),
            Err(_) => Err(format!(
                "no answer within {} ms",
                self.timing.connect_timeout.as_millis()
            )),
        }
    }

    pub fn new(connector: C, timing: Timing, metrics: Arc<Metrics>, name: String) -> Arc<Self> {
        Arc::new(Self {
            connector,
            timing,
            conn: ArcSwapOption::empty(),
            degraded: AtomicBool::new(false),
            connecting: tokio::sync::Mutex::new(()),
            metrics,
            name,
        })
    }

    /// Whether calls currently answer [`Unavailable`] at once.
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Acquire)
    }

    /// Runs `op` on the connection within the timeout, or answers [`Unavailable`] (entering degraded mode).
    pub async fn run<T, F, Fut>(self: &Arc<Self>, op: F) -> Result<T, Unavailable>
    where
        F: FnOnce(C::Conn) -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        if self.is_degraded() {
            self.metrics.shared_state_fallbacks.inc();
            return Err(Unavailable);
        }
        let conn = match self.conn.load_full() {
            Some(conn) => C::Conn::clone(&conn),
            None => self.first_connection().await?,
        };
        match tokio::time::timeout(self.timing.timeout, op(conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(reason)) => Err(self.fail(reason)),
            Err(_) => Err(self.fail(format!("no answer within {} ms", self.timing.timeout.as_millis()))),
        }
    }

    async fn first_connection(self: &Arc<Self>) -> Result<C::Conn, Unavailable> {
        let _one = self.connecting.lock().await;
        if let Some(conn) = self.conn.load_full() {
            return Ok(C::Conn::clone(&conn));
        }
        if self.is_degraded() {
            self.metrics.shared_state_fallbacks.inc();
            return Err(Unavailable);
        }
        match tokio::time::timeout(self.timing.connect_timeout, self.connector.connect()).await {
            Ok(Ok(conn)) => {
                self.conn.store(Some(Arc::new(conn.clone())));
                Ok(conn)
            }
            Ok(Err(reason)) => Err(self.fail(reason)),
            Err(_) => Err(self.fail(format!(
                "no connection within {} ms",
                self.timing.connect_timeout.as_millis()
            ))),
        }
    }

    /// Counts the fallback; on the first failure enters degraded mode and starts the probe.
    fn fail(self: &Arc<Self>, reason: String) -> Unavailable {
        self.metrics.shared_state_fallbacks.inc();
        if !self.degraded.swap(true, Ordering::AcqRel) {
            self.conn.store(None);
            self.metrics.shared_state_degraded.set(1);
            tracing::warn!(
                store = %self.name,
                %reason,
                "shared state unavailable: lockout and rate limits count in this replica only until it returns"
            );
            tokio::spawn(self.clone().probe());
        }
        Unavailable
    }

    /// Connects every `probe_interval` until the store answers, then leaves degraded mode.
    async fn probe(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.timing.probe_interval).await;
            if let Ok(Ok(conn)) = tokio::time::timeout(self.timing.connect_timeout, self.connector.connect()).await {
                self.conn.store(Some(Arc::new(conn)));
                self.degraded.store(false, Ordering::Release);
                self.metrics.shared_state_degraded.set(0);
                tracing::info!(store = %self.name, "shared state reachable again: lockout and rate limits are shared");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    /// A store that is up or down at will, counting connections.
    #[derive(Clone, Default)]
    struct Fake {
        down: Arc<AtomicBool>,
        slow: Arc<AtomicBool>,
        connects: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl Connector for Fake {
        type Conn = Fake;
        async fn connect(&self) -> Result<Fake, String> {
            self.connects.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                Err("connection refused".into())
            } else {
                Ok(self.clone())
            }
        }
    }

    impl Fake {
        async fn call(self) -> Result<u32, String> {
            if self.slow.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            if self.down.load(Ordering::SeqCst) {
                Err("broken pipe".into())
            } else {
                Ok(7)
            }
        }
    }

    fn health(fake: &Fake) -> (Arc<Health<Fake>>, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::new());
        let timing = Timing {
            timeout: Duration::from_millis(50),
            connect_timeout: Duration::from_millis(50),
            probe_interval: Duration::from_millis(10),
        };
        (
            Health::new(fake.clone(), timing, metrics.clone(), "fake".into()),
            metrics,
        )
    }

    async fn until(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn healthy_calls_reuse_one_connection() {
        let fake = Fake::default();
        let (h, metrics) = health(&fake);
        for _ in 0..5 {
            assert_eq!(h.run(Fake::call).await, Ok(7));
        }
        assert_eq!(fake.connects.load(Ordering::SeqCst), 1);
        assert_eq!(metrics.shared_state_degraded.get(), 0);
        assert_eq!(metrics.shared_state_fallbacks.get(), 0);
    }

    #[tokio::test]
    async fn a_failure_degrades_then_calls_fail_fast_and_the_probe_recovers() {
        let fake = Fake::default();
        let (h, metrics) = health(&fake);
        assert_eq!(h.run(Fake::call).await, Ok(7));
        fake.down.store(true, Ordering::SeqCst);
        assert_eq!(h.run(Fake::call).await, Err(Unavailable));
        assert!(h.is_degraded());
        assert_eq!(metrics.shared_state_degraded.get(), 1);
        // Degraded: answered at once, without touching the store.
        let started = Instant::now();
        for _ in 0..100 {
            assert_eq!(
                h.run(|_| async { panic!("no call while degraded") }).await,
                Err::<u32, _>(Unavailable)
            );
        }
        assert!(started.elapsed() < Duration::from_millis(50));
        assert_eq!(metrics.shared_state_fallbacks.get(), 101);
        // The store returns: the probe notices without any call.
        fake.down.store(false, Ordering::SeqCst);
        until("recovery", || !h.is_degraded()).await;
        assert_eq!(metrics.shared_state_degraded.get(), 0);
        assert_eq!(h.run(Fake::call).await, Ok(7));
    }

    #[tokio::test]
    async fn a_slow_store_degrades_after_the_timeout() {
        let fake = Fake::default();
        let (h, metrics) = health(&fake);
        fake.slow.store(true, Ordering::SeqCst);
        let started = Instant::now();
        assert_eq!(h.run(Fake::call).await, Err(Unavailable));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(metrics.shared_state_degraded.get(), 1);
        fake.slow.store(false, Ordering::SeqCst);
        until("recovery", || !h.is_degraded()).await;
    }

    #[tokio::test]
    async fn unreachable_at_start_degrades_and_recovers() {
        let fake = Fake::default();
        fake.down.store(true, Ordering::SeqCst);
        let (h, metrics) = health(&fake);
        assert_eq!(h.run(Fake::call).await, Err(Unavailable));
        assert_eq!(metrics.shared_state_degraded.get(), 1);
        // Stays degraded while down (the probe keeps trying).
        let tried = fake.connects.load(Ordering::SeqCst);
        until("probes", || fake.connects.load(Ordering::SeqCst) >= tried + 2).await;
        assert!(h.is_degraded());
        fake.down.store(false, Ordering::SeqCst);
        until("recovery", || !h.is_degraded()).await;
        assert_eq!(h.run(Fake::call).await, Ok(7));
    }
}
