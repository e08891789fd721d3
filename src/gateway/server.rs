//! `listeners`, `admin` and `server`: what the process binds, how it shuts down, the limits of a downstream
//! connection and the log filter, as runtime values (the serve wiring never reads `ServerConfig`).

use super::Issues;
use crate::logging::LogLevel;
use crate::proxy::downstream::{Limits, PINGORA_MAX_HEAD};
use crate::proxy::tls::ReloadingCert;
use authgate_core::config::{ConfigFile, ConfigIssue};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Process settings, validated.
pub struct ServerSettings {
    /// Public listeners.
    pub listeners: Vec<Listener>,
    /// The admin listener's `ip:port`, when enabled.
    pub admin: Option<String>,
    /// Proxy worker threads (`None`: one per core).
    pub threads: Option<usize>,
    /// How long a SIGTERM keeps serving while `/readyz` fails, before listeners close.
    pub drain_delay: Duration,
    /// Seconds in-flight requests get after the listeners close.
    pub grace_period_seconds: u64,
    /// Seconds services get to stop after the grace period.
    pub shutdown_timeout_seconds: u64,
    /// How often watched files are checked for a change (`None`: only SIGHUP reloads).
    pub reload_poll: Option<Duration>,
    /// CA bundle for upstream TLS.
    pub upstream_ca_file: Option<PathBuf>,
    /// The log filter (applied unless `RUST_LOG` is set).
    pub log_level: LogLevel,
    /// Whether each request is logged on `authgate::access`.
    pub access_log: bool,
    /// The limits of a downstream connection.
    pub limits: Limits,
}

/// A public listener.
pub struct Listener {
    /// `ip:port`.
    pub address: String,
    /// The certificate, when TLS is terminated here.
    pub tls: Option<Arc<ReloadingCert>>,
}

impl ServerSettings {
    /// The settings of `file`, or every issue found in `listeners`, `admin` and `server`.
    pub fn from_config(file: &ConfigFile) -> Result<Self, Vec<ConfigIssue>> {
        let cfg = &file.config;
        let server = &cfg.server;
        let mut issues = Issues::default();

        if cfg.listeners.is_empty() {
            issues.add("listeners", "at least one listener is required");
        }
        // Every address bound, by field path: two on one address would both bind (pingora sets SO_REUSEPORT)
        // and split its traffic.
        let mut bound: Vec<(String, std::net::SocketAddr)> = Vec::new();
        let mut bind = |issues: &mut Issues, path: String, address: &str| match address.parse() {
            Err(_) => issues.add(path, format!("'{address}' is not an ip:port address")),
            Ok(addr) => match bound.iter().find(|(_, other)| *other == addr) {
                Some((first, _)) => issues.add(path, format!("'{address}' is already used by {first}")),
                None => bound.push((path, addr)),
            },
        };
        let mut listeners = Vec::new();
        for (i, l) in cfg.listeners.iter().enumerate() {
            bind(&mut issues, format!("listeners[{i}].address"), &l.address);
            let tls = l.tls.as_ref().and_then(|t| {
                ReloadingCert::load(&file.resolve(&t.cert), &file.resolve(&t.key))
                    .map(Arc::new)
                    .map_err(|e| issues.add(format!("listeners[{i}].tls"), e))
                    .ok()
            });
            listeners.push(Listener {
                address: l.address.clone(),
                tls,
            });
        }
        if cfg.admin.enabled {
            bind(&mut issues, "admin.address".into(), &cfg.admin.address);
        }
        let upstream_ca_file = server.upstream_ca_file.as_ref().map(|ca| file.resolve(ca));
        if let Some(ca) = &upstream_ca_file {
            if std::fs::metadata(ca).is_err() {
                issues.add("server.upstream_ca_file", format!("cannot read {}", ca.display()));
            }
        }
        for (path, seconds) in [
            (
                "server.request_header_timeout_seconds",
                server.request_header_timeout_seconds,
            ),
            ("server.keepalive_timeout_seconds", server.keepalive_timeout_seconds),
        ] {
            if !(1..=3600).contains(&seconds) {
                issues.add(path, "must be between 1 and 3600");
            }
        }
        if !(1024..=PINGORA_MAX_HEAD).contains(&server.max_request_header_bytes) {
            issues.add(
                "server.max_request_header_bytes",
                format!("must be between 1024 and {PINGORA_MAX_HEAD}"),
            );
        }
        let log_level = match server.log_level.as_deref().map(LogLevel::parse) {
            None => LogLevel::default(),
            Some(Ok(level)) => level,
            Some(Err(reason)) => {
                issues.add("server.log_level", reason);
                LogLevel::default()
            }
        };
        issues.into_result(Self {
            listeners,
            admin: cfg.admin.enabled.then(|| cfg.admin.address.clone()),
            threads: server.threads,
            drain_delay: Duration::from_secs(server.drain_delay_seconds),
            grace_period_seconds: server.grace_period_seconds,
            shutdown_timeout_seconds: server.shutdown_timeout_seconds,
            reload_poll: (server.reload_poll_seconds > 0).then(|| Duration::from_secs(server.reload_poll_seconds)),
            upstream_ca_file,
            log_level,
            access_log: server.access_log,
            limits: Limits {
                header_timeout: Duration::from_secs(server.request_header_timeout_seconds),
                idle_timeout: Duration::from_secs(server.keepalive_timeout_seconds),
                max_pending_per_ip: NonZeroU32::new(server.max_pending_requests_per_ip),
                max_head_bytes: server.max_request_header_bytes,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::test_support::{config_file, messages};
    use authgate_core::config::GatewayConfig;
    use std::path::Path;

    /// A configuration with `listeners` and `rest` (YAML), beside `/etc/authgate/gateway.yaml`.
    fn config(listeners: &str, rest: &str) -> GatewayConfig {
        let yaml = format!("listeners: {listeners}\nroutes: []\n{rest}\n");
        config_file(Path::new("gateway.yaml"), &yaml).config
    }

    fn listening(address: &str) -> GatewayConfig {
        config(&format!("[{{address: '{address}'}}]"), "")
    }

    fn file(config: GatewayConfig) -> ConfigFile {
        ConfigFile {
            config,
            path: PathBuf::from("/etc/authgate/gateway.yaml"),
        }
    }

    fn issues(config: GatewayConfig) -> Vec<String> {
        messages(ServerSettings::from_config(&file(config)))
    }

    #[test]
    fn defaults_give_the_documented_limits_and_timings() {
        let settings = ServerSettings::from_config(&file(listening("127.0.0.1:8080"))).expect("valid");
        assert_eq!(settings.listeners.len(), 1);
        assert_eq!(settings.listeners[0].address, "127.0.0.1:8080");
        assert!(settings.listeners[0].tls.is_none());
        assert_eq!(settings.limits.header_timeout, Duration::from_secs(10));
        assert_eq!(settings.limits.idle_timeout, Duration::from_secs(60));
        assert_eq!(settings.limits.max_pending_per_ip, NonZeroU32::new(256));
        assert_eq!(settings.limits.max_head_bytes, 64 * 1024);
        assert_eq!(settings.reload_poll, Some(Duration::from_secs(2)));
        assert!(settings.access_log);
    }

    #[test]
    fn a_listener_is_required_and_addresses_must_be_ip_and_port() {
        assert_eq!(
            issues(config("[]", "")),
            ["listeners: at least one listener is required"]
        );
        assert_eq!(
            issues(listening("localhost:8080")),
            ["listeners[0].address: 'localhost:8080' is not an ip:port address"]
        );
        let mut admin = listening("127.0.0.1:8080");
        admin.admin.enabled = true;
        admin.admin.address = ":9901".into();
        assert_eq!(issues(admin), ["admin.address: ':9901' is not an ip:port address"]);
    }

    #[test]
    fn no_two_listeners_and_not_the_admin_listener_share_an_address() {
        let mut cfg = config(
            "[{address: '127.0.0.1:8080'}, {address: '127.0.0.1:8443'}, {address: '127.0.0.1:8080'}]",
            "admin: {enabled: true, address: '127.0.0.1:8443'}",
        );
        assert_eq!(
            issues(cfg.clone()),
            [
                "listeners[2].address: '127.0.0.1:8080' is already used by listeners[0].address",
                "admin.address: '127.0.0.1:8443' is already used by listeners[1].address",
            ]
        );
        cfg.admin.enabled = false;
        cfg.listeners.pop();
        assert_eq!(issues(cfg), Vec::<String>::new());
    }

    #[test]
    fn a_disabled_admin_listener_is_not_checked_or_served() {
        let mut cfg = listening("127.0.0.1:8080");
        cfg.admin.enabled = false;
        cfg.admin.address = "nonsense".into();
        let settings = ServerSettings::from_config(&file(cfg)).expect("valid");
        assert_eq!(settings.admin, None);
    }

    #[test]
    fn timeouts_head_size_log_level_and_ca_file_are_checked() {
        let mut cfg = listening("127.0.0.1:8080");
        cfg.server.request_header_timeout_seconds = 0;
        cfg.server.keepalive_timeout_seconds = 3601;
        cfg.server.max_request_header_bytes = 1023;
        cfg.server.log_level = Some("info,=".into());
        cfg.server.upstream_ca_file = Some("missing-ca.pem".into());
        let found = issues(cfg);
        let paths: Vec<&str> = found.iter().filter_map(|f| f.split(':').next()).collect();
        assert_eq!(
            paths,
            [
                "server.upstream_ca_file",
                "server.request_header_timeout_seconds",
                "server.keepalive_timeout_seconds",
                "server.max_request_header_bytes",
                "server.log_level",
            ]
        );
        assert!(
            found[0].ends_with("cannot read /etc/authgate/missing-ca.pem"),
            "relative to the configuration file: {found:?}"
        );
        assert!(found[3].ends_with(&format!("must be between 1024 and {PINGORA_MAX_HEAD}")));
    }

    #[test]
    fn zero_means_off_for_polling_and_the_per_address_cap() {
        let mut cfg = listening("127.0.0.1:8080");
        cfg.server.reload_poll_seconds = 0;
        cfg.server.max_pending_requests_per_ip = 0;
        let settings = ServerSettings::from_config(&file(cfg)).expect("valid");
        assert_eq!(settings.reload_poll, None);
        assert_eq!(settings.limits.max_pending_per_ip, None);
    }
}
