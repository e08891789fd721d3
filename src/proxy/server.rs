//! Process wiring: the pingora server with the proxy service, the admin service and the key-refresh
//! background service, and the shutdown sequence (SIGTERM: not-ready, drain delay, close listeners, grace
//! period, exit; SIGINT: exit now).

use super::admin::{AdminApp, Health};
use super::AuthProxy;
use crate::auth::jwks::KeyStore;
use crate::gateway::Gateway;
use async_trait::async_trait;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service;
use std::sync::Arc;
use std::time::Duration;

/// Runs the gateway until it is told to stop. Blocks.
pub fn run(gateway: Arc<Gateway>) -> anyhow::Result<()> {
    let settings = &gateway.server;
    let conf = ServerConf {
        threads: settings
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        grace_period_seconds: Some(settings.grace_period_seconds),
        graceful_shutdown_timeout_seconds: Some(settings.shutdown_timeout_seconds),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let stores: Vec<Arc<KeyStore>> = gateway
        .authenticator
        .bearer()
        .providers()
        .iter()
        .map(|p| p.keys.clone())
        .collect();
    let health = Arc::new(Health::new(stores.len()));

    let mut proxy = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        AuthProxy::new(gateway.clone()),
        "authgate proxy",
    );
    for address in &gateway.listeners {
        proxy.add_tcp(address);
    }
    server.add_service(proxy);

    if gateway
        .routes
        .routes()
        .iter()
        .any(|r| matches!(r.upstream, super::routes::Upstream::Builtin(_)))
    {
        let db = Arc::new(crate::store::Database::open(
            &gateway.builtin_database,
            gateway.builtin_threads.max(2),
        )?);
        let workflow_store = crate::apis::workflow::store::SqliteWorkflowStore::new(db.clone())?;
        let state = Arc::new(crate::apis::ApiState {
            headers: gateway.headers.clone(),
            db,
            workflow: Arc::new(crate::apis::workflow::WorkflowApi {
                definitions: gateway.workflow_definitions.clone(),
                store: Arc::new(workflow_store),
                people: gateway.people.clone(),
            }),
        });
        let mut apis = background_service(
            "authgate built-in apis",
            crate::apis::server::ApiServer::new(gateway.builtin_socket.clone(), crate::apis::router(state)),
        );
        apis.threads = Some(gateway.builtin_threads.max(1));
        server.add_service(apis);
    }

    if let Some(address) = &gateway.admin {
        let mut admin = Service::new(
            "authgate admin".to_string(),
            AdminApp::new(gateway.metrics.clone(), health.clone()),
        );
        admin.add_tcp(address);
        server.add_service(admin);
    }

    if !stores.is_empty() {
        server.add_service(background_service(
            "authgate key refresh",
            KeyRefresher {
                stores,
                health: health.clone(),
            },
        ));
    }

    tracing::info!(
        listeners = ?gateway.listeners,
        admin = ?gateway.admin,
        routes = gateway.routes.routes().len(),
        "authgate starting"
    );
    server.run(RunArgs {
        shutdown_signal: Box::new(DrainingShutdown {
            health,
            metrics: gateway.metrics.clone(),
            drain_delay: Duration::from_secs(settings.drain_delay_seconds),
        }),
    });
    Ok(())
}

/// Loads every provider's keys at start-up, then refreshes them in the background.
struct KeyRefresher {
    stores: Vec<Arc<KeyStore>>,
    health: Arc<Health>,
}

#[async_trait]
impl BackgroundService for KeyRefresher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tasks = tokio::task::JoinSet::new();
        for store in &self.stores {
            let store = store.clone();
            let health = self.health.clone();
            tasks.spawn(async move {
                let _ = store.refresh().await;
                health.key_load_attempted();
                store.refresh_loop().await;
            });
        }
        let _ = shutdown.changed().await;
        tasks.abort_all();
    }
}

/// SIGTERM: mark not-ready, wait `drain_delay` so load balancers notice, then let pingora close listeners
/// and give in-flight requests the grace period. SIGINT: fast exit. SIGQUIT: pingora's graceful upgrade.
struct DrainingShutdown {
    health: Arc<Health>,
    metrics: Arc<crate::metrics::Metrics>,
    drain_delay: Duration,
}

#[async_trait]
impl ShutdownSignalWatch for DrainingShutdown {
    async fn recv(&self) -> ShutdownSignal {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int), Ok(mut quit)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::quit()),
        ) else {
            tracing::error!("cannot install signal handlers; shutting down");
            return ShutdownSignal::FastShutdown;
        };
        tokio::select! {
            _ = term.recv() => {
                tracing::info!(drain_delay_seconds = self.drain_delay.as_secs(), "SIGTERM: draining");
                self.health.start_draining();
                self.metrics.draining.set(1);
                tokio::select! {
                    _ = tokio::time::sleep(self.drain_delay) => {}
                    _ = int.recv() => return ShutdownSignal::FastShutdown,
                }
                ShutdownSignal::GracefulTerminate
            }
            _ = int.recv() => ShutdownSignal::FastShutdown,
            _ = quit.recv() => {
                self.health.start_draining();
                ShutdownSignal::GracefulUpgrade
            }
        }
    }
}
