//! The control loop beside the data path: loads every provider's keys at start-up and keeps them fresh,
//! reloads the configuration on SIGHUP or when a watched file changes, and rotates the identity-assertion
//! key.
//!
//! A reload builds a complete new [`Gateway`] and swaps it in atomically; requests already in flight keep
//! the snapshot they started with, so none is dropped. An invalid configuration, or one that changes
//! settings that cannot change while running (listeners, admin, headers, builtin, server.threads), is
//! refused with the reason logged, and the running configuration stays.

use crate::gateway::Gateway;
use crate::proxy::admin::Health;
use crate::proxy::state::ProxyState;
use crate::proxy::tls::ReloadingCert;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use authgate_admin::replicas::{self, ThisReplica};
use authgate_admin::settings::Overrides;
use authgate_apis::store::admin::AdminStore;
use authgate_core::auth::jwks::{refresh_loop, KeyStore};
use authgate_core::config::ConfigFile;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// The control service.
pub struct Control {
    current: Arc<ArcSwap<Gateway>>,
    /// The proxy's snapshot: swapped together with `current`.
    proxy: Arc<ArcSwap<ProxyState>>,
    config_path: PathBuf,
    health: Arc<Health>,
    certs: Vec<Arc<ReloadingCert>>,
    hooks: Vec<ReloadHook>,
    /// Where the runtime settings are (the built-in APIs' database), when there is one.
    settings: Option<Arc<dyn AdminStore>>,
    /// Woken when this replica wrote the settings (the others see them by polling).
    settings_written: Arc<Notify>,
}

/// How often each replica checks the settings version.
const SETTINGS_POLL: Duration = Duration::from_secs(1);

/// Called with each newly swapped-in gateway, for state built from it outside the proxy (the built-in APIs).
pub type ReloadHook =
    Box<dyn Fn(Arc<Gateway>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

impl Control {
    /// Controls the gateway held by `current` (and its proxy snapshot, held by `proxy`), loaded from
    /// `config_path`, and the listeners' `certs`.
    pub fn new(
        current: Arc<ArcSwap<Gateway>>,
        proxy: Arc<ArcSwap<ProxyState>>,
        config_path: PathBuf,
        health: Arc<Health>,
        certs: Vec<Arc<ReloadingCert>>,
    ) -> Self {
        Self {
            current,
            proxy,
            config_path,
            health,
            certs,
            hooks: Vec::new(),
            settings: None,
            settings_written: Arc::new(Notify::new()),
        }
    }

    /// Applies the runtime settings in `store` (polled every second, and at once after `written` is
    /// notified) over the configuration file.
    pub fn with_settings(mut self, store: Arc<dyn AdminStore>, written: Arc<Notify>) -> Self {
        self.settings = Some(store);
        self.settings_written = written;
        self
    }

    /// Reloads when the stored settings changed since the running gateway was built.
    async fn poll_settings(&self, tasks: &mut JoinSet<()>) {
        let Some(store) = &self.settings else { return };
        let applied = self.current.load().overrides.version;
        match store.settings_version().await {
            Ok(version) if version == applied => {}
            Ok(_) => match store.settings().await {
                Ok(snapshot) => {
                    let (overrides, problems) = Overrides::from_snapshot(&snapshot);
                    for problem in problems {
                        tracing::warn!(%problem, "stored setting ignored");
                    }
                    self.reload_with("settings change", Some(&overrides), tasks).await;
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the runtime settings; keeping the running ones"),
            },
            Err(e) => tracing::debug!(error = %e, "cannot read the settings version"),
        }
    }

    /// Records this replica's heartbeat in the store (the console's "replicas seen").
    async fn beat(&self, replica: &ThisReplica) {
        let Some(store) = &self.settings else { return };
        if let Err(e) = replica.beat(store.as_ref()).await {
            tracing::debug!(error = %e, replica = %replica.id(), "cannot record the heartbeat");
        }
    }

    /// Adds hooks run after each successful reload.
    pub fn on_reload(mut self, hooks: Vec<ReloadHook>) -> Self {
        self.hooks.extend(hooks);
        self
    }

    /// Swaps in rotated listener certificates.
    fn reload_certificates(&self) {
        let metrics = self.current.load().metrics().clone();
        for cert in &self.certs {
            match cert.reload_if_changed() {
                Ok(false) => {}
                Ok(true) => {
                    metrics.tls_reloads.with_label_values(&["ok"]).inc();
                    tracing::info!(cert = %cert.cert_path().display(), "TLS certificate reloaded");
                }
                Err(reason) => {
                    metrics.tls_reloads.with_label_values(&["error"]).inc();
                    tracing::error!(cert = %cert.cert_path().display(), %reason, "rotated TLS certificate refused; the previous one keeps serving");
                }
            }
        }
    }

    /// Rebuilds the gateway from the configuration file and swaps it in.
    async fn try_reload(&self, overrides: Option<&Overrides>, tasks: &mut JoinSet<()>) -> Result<(), String> {
        let file = ConfigFile::load(&self.config_path).map_err(|e| e.to_string())?;
        let old = self.current.load_full();
        let overrides = overrides.unwrap_or(&old.overrides);
        let frozen = old.restart_required(&file.config);
        if !frozen.is_empty() {
            return Err(format!(
                "changing {} requires a restart; the running configuration stays",
                frozen.join(", ")
            ));
        }
        let new =
            Gateway::build_overlaid(&file, overrides, old.metrics().clone(), Some(&old)).map_err(|e| e.to_string())?;
        let old_stores = old.key_stores();
        for store in new.key_stores() {
            if !old_stores.iter().any(|o| Arc::ptr_eq(o, &store)) {
                // A new or changed provider: load its keys before it takes traffic.
                let _ = store.refresh().await;
                tasks.spawn(refresh_loop(Arc::downgrade(&store)));
            }
        }
        let new = Arc::new(new);
        if new.server.log_level != old.server.log_level {
            crate::logging::apply(&new.server.log_level);
        }
        for hook in &self.hooks {
            hook(new.clone()).await;
        }
        self.proxy.store(new.proxy.clone());
        self.current.store(new);
        Ok(())
    }

    async fn reload(&self, why: &str, tasks: &mut JoinSet<()>) {
        self.reload_with(why, None, tasks).await
    }

    /// Reloads with `overrides` (`None`: the running ones).
    async fn reload_with(&self, why: &str, overrides: Option<&Overrides>, tasks: &mut JoinSet<()>) {
        let metrics = self.current.load().metrics().clone();
        match self.try_reload(overrides, tasks).await {
            Ok(()) => {
                metrics.config_reloads.with_label_values(&["ok"]).inc();
                tracing::info!(trigger = why, config = %self.config_path.display(), "configuration reloaded");
            }
            Err(reason) => {
                metrics.config_reloads.with_label_values(&["error"]).inc();
                tracing::error!(trigger = why, config = %self.config_path.display(), %reason, "configuration reload refused");
            }
        }
    }
}

type Fingerprint = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

/// Modification time and size of each watched file (following symlinks, as Kubernetes ConfigMaps swap them).
fn fingerprint(gateway: &Gateway) -> Fingerprint {
    gateway
        .watched
        .iter()
        .map(|p| {
            let meta = std::fs::metadata(p).ok();
            (p.clone(), meta.and_then(|m| Some((m.modified().ok()?, m.len()))))
        })
        .collect()
}

/// Marks the listeners as accepting once a connection to each succeeds: pingora binds them in its own service
/// threads, possibly after the admin listener already answers `/readyz`.
async fn await_listeners(addresses: Vec<String>, health: Arc<Health>) {
    for address in addresses {
        let Ok(mut target) = address.parse::<std::net::SocketAddr>() else {
            continue;
        };
        // A wildcard address accepts on loopback too.
        if target.ip().is_unspecified() {
            target.set_ip(match target {
                std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let mut wait = Duration::from_millis(5);
        while tokio::net::TcpStream::connect(target).await.is_err() {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(200));
        }
    }
    health.listeners_accepting();
}

/// Loads a store's keys for the first time, marks the attempt for readiness, then keeps them fresh.
async fn load_keys(store: Arc<KeyStore>, health: Arc<Health>) {
    let _ = store.refresh().await;
    health.key_load_attempted();
    refresh_loop(Arc::downgrade(&store)).await;
}

#[async_trait]
impl BackgroundService for Control {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        use tokio::signal::unix::{signal, SignalKind};
        let mut tasks = JoinSet::new();
        let gateway = self.current.load_full();
        for store in gateway.key_stores() {
            tasks.spawn(load_keys(store, self.health.clone()));
        }
        let addresses: Vec<String> = gateway.server.listeners.iter().map(|l| l.address.clone()).collect();
        tasks.spawn(await_listeners(addresses, self.health.clone()));
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload on file change only");
                None
            }
        };
        let poll = gateway.server.reload_poll;
        let mut watch = tokio::time::interval(poll.unwrap_or(Duration::from_secs(3600)));
        let rotation = gateway.assertion_rotation;
        let mut rotate = tokio::time::interval_at(tokio::time::Instant::now() + rotation, rotation);
        let mut last = fingerprint(&gateway);
        drop(gateway);
        let mut settings_tick = tokio::time::interval(SETTINGS_POLL);
        settings_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heartbeat = tokio::time::interval(replicas::HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let replica = ThisReplica::new();
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(()) = async { hangup.as_mut()?.recv().await } => {
                    self.reload_certificates();
                    self.reload("SIGHUP", &mut tasks).await;
                    last = fingerprint(&self.current.load());
                }
                _ = watch.tick(), if poll.is_some() => {
                    self.reload_certificates();
                    let now = fingerprint(&self.current.load());
                    if now != last {
                        last = now;
                        self.reload("file change", &mut tasks).await;
                    }
                }
                _ = settings_tick.tick(), if self.settings.is_some() => self.poll_settings(&mut tasks).await,
                _ = heartbeat.tick(), if self.settings.is_some() => self.beat(&replica).await,
                _ = self.settings_written.notified() => self.poll_settings(&mut tasks).await,
                _ = rotate.tick() => {
                    if let Some(assertion) = &self.current.load().proxy.assertion {
                        assertion.signer.rotate();
                    }
                }
            }
        }
        tasks.abort_all();
    }
}
