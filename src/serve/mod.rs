//! `serve`: wires a built [`Gateway`] into the pingora server (the proxy service, the built-in APIs, the admin
//! service and the [`control`] service for keys, reloads and rotation) and runs the shutdown sequence
//! (SIGTERM: not-ready, drain delay, close listeners, grace period, exit; SIGINT: exit now).

pub mod admin_host;
pub mod control;
pub mod reachability;

use crate::gateway::Gateway;
use crate::proxy::admin::{AdminApp, Health, SharedStateDetail};
use crate::proxy::downstream::Downstream;
use crate::proxy::routes::Upstream;
use crate::proxy::AuthProxy;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use authgate_admin::settings::Overrides;
use control::{Control, ReloadHook};
use pingora::listeners::tls::TlsSettings;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use std::sync::Arc;
use std::time::Duration;

/// The built-in API server as a pingora background service (its own runtime, `builtin.threads`).
struct BuiltinApis(authgate_apis::server::ApiServer);

#[async_trait]
impl pingora::services::background::BackgroundService for BuiltinApis {
    async fn start(&self, shutdown: pingora::server::ShutdownWatch) {
        self.0.serve(shutdown).await
    }
}

/// Runs the gateway until it is told to stop. Blocks.
pub fn run(mut gateway: Arc<Gateway>) -> anyhow::Result<()> {
    let settings = &gateway.server;
    let conf = ServerConf {
        threads: settings
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        work_stealing: false,
        grace_period_seconds: Some(settings.grace_period_seconds),
        graceful_shutdown_timeout_seconds: Some(settings.shutdown_timeout_seconds),
        ca_file: settings
            .upstream_ca_file
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        ..ServerConf::default()
    };
    // Everything that can fail to bind is bound or probed before pingora starts its threads, where a failure
    // would leave this process running half-started instead of stopping it with a message.
    for listener in &settings.listeners {
        probe_tcp("listener", &listener.address)?;
    }
    if let Some(address) = &settings.admin {
        probe_tcp("admin listener", address)?;
    }
    let serves_builtin = gateway
        .proxy
        .routes
        .routes()
        .iter()
        .any(|r| matches!(r.upstream, Upstream::Builtin(_)) || r.outbound.is_some());
    let api_socket = if serves_builtin {
        Some(authgate_apis::server::ApiSocket::claim(&gateway.apis.socket)?)
    } else {
        None
    };

    // The stores are opened (and migrated) before pingora starts, on a runtime of their own: a database that
    // cannot be opened stops the process with its message. Outbound OAuth lives on them too (its connections),
    // so they are opened for routes with an outbound resource as well. The runtime settings stored there are
    // applied over gateway.yaml before anything is served.
    let (apis, admin_store) = if api_socket.is_some() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (apis, admin_store, overlaid) = runtime.block_on(async {
            let stores = gateway.apis.open_stores().await?;
            tracing::info!(database = %gateway.apis.database, "built-in API stores open");
            let overlaid = match stores.admin.settings().await {
                Ok(snapshot) if snapshot.version > 0 => {
                    let (overrides, problems) = Overrides::from_snapshot(&snapshot);
                    for problem in problems {
                        tracing::warn!(%problem, "stored setting ignored");
                    }
                    let file = authgate_core::config::ConfigFile::load(&gateway.config_path)?;
                    Some(Arc::new(Gateway::build_overlaid(
                        &file,
                        &overrides,
                        gateway.metrics().clone(),
                        Some(&gateway),
                    )?))
                }
                Ok(_) => None,
                Err(e) => anyhow::bail!("cannot read the runtime settings: {e}"),
            };
            let current = overlaid.as_ref().unwrap_or(&gateway);
            let admin_store = stores.admin.clone();
            let apis =
                authgate_apis::BuiltinApis::open(stores, current.proxy.identity_headers.clone(), current.api_parts())
                    .await?;
            anyhow::Ok((apis, admin_store, overlaid))
        })?;
        if let Some(overlaid) = overlaid {
            gateway = overlaid;
        }
        (Some(Arc::new(apis)), Some(admin_store))
    } else {
        (None, None)
    };
    let settings = &gateway.server;

    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let health = Arc::new(Health::new(gateway.key_stores().len()));
    health.expect_listeners();
    let current = Arc::new(ArcSwap::new(gateway.clone()));
    let proxy_state = Arc::new(ArcSwap::new(gateway.proxy.clone()));
    let settings_written = Arc::new(tokio::sync::Notify::new());

    let outbound = apis.as_ref().and_then(|apis| apis.outbound());
    let auth_proxy = AuthProxy::new(proxy_state.clone())
        .with_outbound(outbound.clone())
        .with_direct(&server.configuration);
    let downstream = Downstream::new(
        pingora::proxy::http_proxy(&server.configuration, auth_proxy.clone()),
        auth_proxy,
        {
            let proxy_state = proxy_state.clone();
            move || proxy_state.load().limits
        },
        gateway.metrics().clone(),
    );
    let mut proxy = Service::new("authgate proxy".to_string(), downstream);
    let mut certs = Vec::new();
    let mut on_reload: Vec<ReloadHook> = Vec::new();
    for listener in &settings.listeners {
        match &listener.tls {
            None => proxy.add_tcp(&listener.address),
            Some(cert) => {
                let mut settings = TlsSettings::intermediate("", "")?;
                settings.set_cert_resolver(cert.clone());
                proxy.add_tls_with_settings(&listener.address, None, settings);
                certs.push(cert.clone());
            }
        }
    }
    server.add_service(proxy);

    if let (Some(api_socket), Some(apis)) = (api_socket, apis) {
        health.expect_builtin();
        let reloaded = apis.clone();
        on_reload.push(Box::new(move |g: Arc<Gateway>| {
            let apis = reloaded.clone();
            Box::pin(async move {
                if let Err(e) = apis.reload(g.api_parts()).await {
                    tracing::error!(error = %e, "SmartObject schema change failed; keeping the previous SmartObjects")
                }
            })
        }));
        let mut service = background_service(
            "authgate built-in apis",
            BuiltinApis(authgate_apis::server::ApiServer::new(api_socket, apis.router(), {
                let health = health.clone();
                move || health.builtin_listening()
            })),
        );
        service.threads = Some(gateway.apis.threads.max(1));
        server.add_service(service);
    }

    if let Some(address) = &settings.admin {
        let mut admin = Service::new(
            "authgate admin".to_string(),
            AdminApp::with_signer(gateway.metrics().clone(), health.clone(), {
                let current = current.clone();
                move || current.load().proxy.assertion.as_ref().map(|a| a.signer.clone())
            })
            .with_key_readiness({
                let current = current.clone();
                move || current.load().provider_awaiting_keys()
            })
            .with_shared_state({
                let current = current.clone();
                move || {
                    current.load().shared.as_ref().map(|shared| SharedStateDetail {
                        store: shared.describe(),
                        degraded: shared.degraded(),
                    })
                }
            })
            .with_admin_api(authgate_admin::router(authgate_admin::AdminState::new(
                Arc::new(
                    admin_host::GatewayHost::new(current.clone(), settings_written.clone())
                        .with_outbound(outbound.clone()),
                ),
                admin_store.clone(),
            ))),
        );
        admin.add_tcp(address);
        server.add_service(admin);
    }

    let mut control =
        Control::new(current, proxy_state, gateway.config_path.clone(), health.clone(), certs).on_reload(on_reload);
    if let Some(store) = admin_store {
        control = control.with_settings(store, settings_written);
    }
    server.add_service(background_service("authgate control", control));

    tracing::info!(
        listeners = ?settings.listeners.iter().map(|l| format!("{}{}", l.address, if l.tls.is_some() { " (tls)" } else { "" })).collect::<Vec<_>>(),
        admin = ?settings.admin,
        routes = gateway.proxy.routes.routes().len(),
        "authgate starting"
    );
    let metrics = gateway.metrics().clone();
    let drain_delay = settings.drain_delay;
    drop(gateway);
    server.run(RunArgs {
        shutdown_signal: Box::new(DrainingShutdown {
            health,
            metrics,
            drain_delay,
        }),
    });
    Ok(())
}

/// Fails with a clear message when `address` cannot be bound now (typically: another process, such as a second
/// `authgate serve` with the same configuration, listens on it). The probe socket is closed at once and pingora
/// binds the address right after.
fn probe_tcp(what: &str, address: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let addr = std::net::ToSocketAddrs::to_socket_addrs(address)
        .with_context(|| format!("{what} {address}: not an address"))?
        .next()
        .with_context(|| format!("{what} {address}: no address"))?;
    match std::net::TcpListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "{what} {address}: the address is already in use (is another authgate serving this configuration?)"
        ),
        Err(e) => Err(e).with_context(|| format!("{what} {address}: cannot listen")),
    }
}

/// SIGTERM: mark not-ready, wait `drain_delay` so load balancers notice, then let pingora close listeners
/// and give in-flight requests the grace period. SIGINT: fast exit. SIGQUIT: pingora's graceful upgrade.
struct DrainingShutdown {
    health: Arc<Health>,
    metrics: Arc<authgate_core::metrics::Metrics>,
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
