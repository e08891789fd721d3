//! The composition root: turns a parsed `gateway.yaml` into the runtime: the proxy's per-request snapshot
//! ([`ProxyState`]), the process settings, the directories and the built-in APIs' settings. Every invalid
//! value is reported with its field path; nothing half-built is ever served. Each subsystem builds itself
//! with a `from_config` that returns every issue it found ([`server`], [`routes`], [`providers`],
//! [`directories`], [`assertion`], [`apis`], [`oauth`]), each with unit tests of its rules.

pub mod apis;
pub mod assertion;
pub mod directories;
pub mod oauth;
pub mod providers;
pub mod routes;
pub mod server;

use apis::ApiSettings;
use directories::{Directories, DirectoryContext};
use providers::ProviderContext;
use routes::RouteContext;
use server::ServerSettings;

use crate::proxy::routes::RouteTable;
use crate::proxy::state::ProxyState;
use authgate_admin::settings::{Overrides, Settings};
use authgate_core::auth::bearer::BearerAuthenticator;
use authgate_core::auth::jwks::KeyStore;
use authgate_core::auth::token_cache::TokenCache;
use authgate_core::auth::{Authenticator, HeaderSet};
use authgate_core::config::{ConfigError, ConfigFile, ConfigIssue, GatewayConfig};
use authgate_core::directory::UserDirectory;
use authgate_core::http::forwarded::TrustedProxies;
use authgate_core::identity::FqnFormats;
use authgate_core::identity::{FqnFormat, UserManager};
use authgate_core::metrics::Metrics;
use authgate_core::shared::SharedCounters;
use authgate_shared_state::RedisCounters;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything the process runs, built once from the configuration (and again on each reload).
pub struct Gateway {
    /// The configuration file this was built from.
    pub config_path: PathBuf,
    /// The configuration this was built from (a reload compares sections of it to keep what did not change).
    pub config: GatewayConfig,
    /// What the proxy reads per request.
    pub proxy: Arc<ProxyState>,
    /// Listeners, shutdown timing, connection limits, log level.
    pub server: ServerSettings,
    /// The directories behind Basic authentication.
    pub directories: Directories,
    /// The built-in APIs' settings.
    pub apis: ApiSettings,
    /// Assertion key rotation interval.
    pub assertion_rotation: Duration,
    /// Files whose change triggers a reload (the configuration, the embedded directory, definitions and
    /// SmartObjects).
    pub watched: Vec<PathBuf>,
    /// The counters shared by replicas (`shared_state`), kept across reloads (changing it needs a restart).
    pub shared: Option<Arc<dyn SharedCounters>>,
    /// The runtime settings as `gateway.yaml` gives them, before the stored overrides (the admin API shows
    /// both; `config` holds the configuration with the overrides applied).
    pub configured: Settings,
    /// The stored overrides this gateway was built with (empty: none).
    pub overrides: Overrides,
}

/// Collects issues while building.
#[derive(Default)]
struct Issues(Vec<ConfigIssue>);

impl Issues {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue::new(path, message));
    }

    /// `built`'s value, or `fallback()` with its issues recorded, so building goes on and reports them all.
    fn take<T>(&mut self, built: Result<T, Vec<ConfigIssue>>, fallback: impl FnOnce() -> T) -> T {
        built.unwrap_or_else(|found| {
            self.0.extend(found);
            fallback()
        })
    }

    /// `built`'s value, or `None` with its issues recorded.
    fn take_opt<T>(&mut self, built: Result<T, Vec<ConfigIssue>>) -> Option<T> {
        built.map_err(|found| self.0.extend(found)).ok()
    }

    /// `value`, or every issue collected.
    fn into_result<T>(self, value: T) -> Result<T, Vec<ConfigIssue>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }
}

impl Gateway {
    /// Builds the runtime from `file`. Reads the embedded directory and JWKS files' paths, but fetches no
    /// keys: the key stores load in the background once serving.
    pub fn build(file: &ConfigFile) -> Result<Self, ConfigError> {
        Self::build_with(file, Arc::new(Metrics::new()), None)
    }

    /// Builds a runtime that records into `metrics` and, on a reload, reuses from `previous` what did not
    /// change: the key stores of providers whose key source and refresh policy are the same (so their keys
    /// stay loaded), the directories and Basic caches whose settings are the same, and the assertion signer
    /// when its settings are the same.
    pub fn build_with(
        file: &ConfigFile,
        metrics: Arc<Metrics>,
        previous: Option<&Gateway>,
    ) -> Result<Self, ConfigError> {
        let cfg = &file.config;
        let mut issues = Issues::default();

        let server = issues.take_opt(ServerSettings::from_config(file));
        if cfg.limits.max_token_bytes < 256 || cfg.limits.max_token_bytes > 1024 * 1024 {
            issues.add("limits.max_token_bytes", "must be between 256 and 1048576");
        }
        let headers = Arc::new(issues.take(identity_headers(cfg), || {
            HeaderSet::from_config(&Default::default()).expect("default header names are valid")
        }));
        let trusted_proxies = TrustedProxies::parse(&cfg.server.trusted_proxies).unwrap_or_else(|(i, message)| {
            issues.add(format!("server.trusted_proxies[{i}]"), message);
            TrustedProxies::default()
        });
        let fqn = fqn_formats(cfg);
        let shared = match previous {
            Some(old) => old.shared.clone(),
            None => cfg.shared_state.as_ref().and_then(|shared| {
                issues.take_opt(
                    RedisCounters::from_config(shared, metrics.clone())
                        .map(|redis| -> Arc<dyn SharedCounters> { redis }),
                )
            }),
        };

        let client = reqwest::Client::builder()
            .no_proxy()
            .user_agent(concat!("authgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Invalid {
                file: file.path.clone(),
                issues: vec![ConfigIssue::new("providers", format!("cannot create HTTP client: {e}"))],
            })?;
        let previous_stores = previous.map(Gateway::key_stores).unwrap_or_default();
        let provider_names = providers::names(&cfg.providers);
        let context = ProviderContext {
            file,
            fqn: &fqn,
            client: &client,
            metrics: &metrics,
            previous_stores: &previous_stores,
        };
        let providers = issues.take(providers::from_config(&cfg.providers, &context), Vec::new);

        let directories = issues.take_opt(directories::from_config(&DirectoryContext {
            file,
            fqn: &fqn,
            headers: &headers,
            metrics: &metrics,
            previous,
            shared: shared.as_ref(),
        }));
        let apis = issues.take_opt(ApiSettings::from_config(file));

        let route_context = RouteContext {
            providers: &provider_names,
            builtin_socket: &file.resolve(&cfg.builtin.socket),
            basic_enabled: cfg.basic.enabled,
            shared: shared.as_ref(),
            oauth: apis.as_ref().and_then(|a| a.oauth.as_ref()).map(|o| &o.catalog),
        };
        let routes = issues.take(RouteTable::from_config(&cfg.routes, &route_context), || {
            RouteTable::new(Vec::new())
        });
        let assertion = match previous {
            Some(old) if old.config.assertion == cfg.assertion => old.proxy.assertion.clone(),
            _ => issues.take(assertion::from_config(&cfg.assertion), || None),
        };

        let (Some(server), Some((directories, basic)), Some(mut apis), true) =
            (server, directories, apis, issues.0.is_empty())
        else {
            return Err(ConfigError::Invalid {
                file: file.path.clone(),
                issues: issues.0,
            });
        };
        if let Some(oauth) = apis.oauth.as_mut() {
            let refreshes = metrics.outbound_oauth_refreshes.clone();
            oauth.refreshes = Arc::new(move |outcome| refreshes.with_label_values(&[outcome]).inc());
        }
        let bearer = BearerAuthenticator::new(
            providers,
            TokenCache::new(
                cfg.caches.tokens.capacity,
                Duration::from_secs(cfg.caches.tokens.max_ttl_seconds.max(1)),
            ),
            headers.clone(),
            metrics.clone(),
        );
        let proxy = ProxyState {
            routes,
            trusted_proxies,
            authenticator: Authenticator::new(basic, bearer, cfg.limits.max_token_bytes, metrics.clone()),
            identity_headers: headers,
            realm: cfg.basic.realm.clone(),
            assertion,
            metrics,
            access_log: server.access_log,
            limits: server.limits,
        };
        let watched = std::iter::once(file.path.clone())
            .chain(cfg.basic.enabled.then(|| file.resolve(&cfg.basic.directory)))
            .chain(apis.watched.iter().cloned())
            .collect();
        Ok(Self {
            config_path: file.path.clone(),
            config: cfg.clone(),
            proxy: Arc::new(proxy),
            server,
            directories,
            apis,
            assertion_rotation: Duration::from_secs(cfg.assertion.rotate_hours.max(1) * 3600),
            watched,
            shared,
            configured: Settings::from_config(cfg),
            overrides: Overrides::default(),
        })
    }

    /// Builds from `file` with the runtime settings `overrides` (from the store) applied over it. When the
    /// overlaid configuration does not build (a SmartObject an exposure names was since removed from the
    /// files...), the error is logged and the gateway is built from `file` alone: a stored setting must never
    /// keep the gateway from starting or reloading.
    pub fn build_overlaid(
        file: &ConfigFile,
        overrides: &Overrides,
        metrics: Arc<Metrics>,
        previous: Option<&Gateway>,
    ) -> Result<Self, ConfigError> {
        if overrides.is_empty() {
            let mut gateway = Self::build_with(file, metrics, previous)?;
            gateway.overrides.version = overrides.version;
            return Ok(gateway);
        }
        let mut overlaid = file.clone();
        overrides.apply(&mut overlaid.config);
        match Self::build_with(&overlaid, metrics.clone(), previous) {
            Ok(mut gateway) => {
                gateway.configured = Settings::from_config(&file.config);
                gateway.overrides = overrides.clone();
                Ok(gateway)
            }
            Err(e) => {
                tracing::error!(error = %e, "the stored runtime settings do not apply to this configuration; serving gateway.yaml's values");
                let mut gateway = Self::build_with(file, metrics, previous)?;
                // Remembered as applied (none of them), so the settings poll does not retry until they change.
                gateway.overrides.version = overrides.version;
                Ok(gateway)
            }
        }
    }

    /// Where this gateway records metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.proxy.metrics
    }

    /// This gateway's `basic.backend` directory, when `backend` configures the same one.
    fn reusable_backend(
        &self,
        backend: &authgate_core::config::DirectoryBackendConfig,
    ) -> Option<Arc<dyn UserDirectory>> {
        let same = self.config.basic.enabled && self.config.basic.backend.as_ref() == Some(backend);
        same.then(|| self.directories.backend.clone()).flatten()
    }

    /// The first provider whose signing keys readiness waits for (`ready_without_keys: false`) and that has
    /// none loaded yet.
    pub fn provider_awaiting_keys(&self) -> Option<String> {
        let waits_for = |name: &str| {
            self.config
                .providers
                .iter()
                .any(|p| p.name == name && !p.ready_without_keys)
        };
        self.key_stores()
            .iter()
            .find(|store| !store.is_loaded() && waits_for(store.name()))
            .map(|store| store.name().to_string())
    }

    /// What the built-in APIs serve from this configuration (their stores stay across reloads).
    pub fn api_parts(&self) -> authgate_apis::ApiParts {
        self.apis.parts(self.directories.people.clone())
    }

    /// The key stores of every provider.
    pub fn key_stores(&self) -> Vec<Arc<KeyStore>> {
        self.proxy
            .authenticator
            .bearer()
            .providers()
            .iter()
            .map(|p| p.keys.clone())
            .collect()
    }

    /// Settings that cannot change while running, which differ between `self` and `new`: a reload that
    /// changes them is refused (restart to apply).
    pub fn restart_required(&self, new: &authgate_core::config::GatewayConfig) -> Vec<&'static str> {
        let old = &self.config;
        let mut out = Vec::new();
        if old.listeners != new.listeners {
            out.push("listeners");
        }
        if (&old.admin.address, old.admin.enabled) != (&new.admin.address, new.admin.enabled) {
            out.push("admin");
        }
        if old.headers != new.headers {
            out.push("headers");
        }
        if old.builtin != new.builtin {
            out.push("builtin");
        }
        if old.shared_state != new.shared_state {
            out.push("shared_state");
        }
        if old.server.threads != new.server.threads {
            out.push("server.threads");
        }
        if old.oauth.is_some() != new.oauth.is_some() {
            out.push("oauth (adding or removing the section)");
        }
        out
    }
}

/// The identity header names, every one of which clients may not send (the assertion header too, enabled or
/// not: an upstream may still trust it).
fn identity_headers(cfg: &GatewayConfig) -> Result<HeaderSet, Vec<ConfigIssue>> {
    let mut headers = HeaderSet::from_config(&cfg.headers)?;
    if let Ok(name) = http::HeaderName::from_bytes(cfg.assertion.header.as_bytes()) {
        if cfg.assertion.enabled && headers.names().contains(&&name) {
            // Both would be appended upstream: one name, two meanings.
            return Err(vec![ConfigIssue::new(
                "assertion.header",
                format!("'{name}' is also an identity header name"),
            )]);
        }
        headers.reserve(name);
    }
    Ok(headers)
}

/// How identities of each configured user manager are named.
fn fqn_formats(cfg: &GatewayConfig) -> FqnFormats {
    let mut fqn = HashMap::new();
    for (label, um) in &cfg.user_managers {
        let manager = UserManager::from_label(label);
        let mut format = FqnFormat::default_for(&manager);
        if let Some(prefix) = &um.fqn_prefix {
            format.prefix = prefix.clone();
        }
        format.domain = um.domain.clone();
        fqn.insert(manager, format);
    }
    FqnFormats::new(fqn)
}

#[cfg(test)]
mod identity_header_tests {
    use super::test_support::{config_file, messages};
    use super::*;
    use std::path::Path;

    fn issues(yaml: &str) -> Vec<String> {
        let file = config_file(Path::new("gateway.yaml"), yaml);
        messages(identity_headers(&file.config))
    }

    #[test]
    fn the_assertion_header_may_not_also_be_an_identity_header() {
        let base = "listeners: []\nroutes: []\nheaders: {email: X-Authgate-Assertion}\n";
        assert!(issues(base).is_empty(), "assertions off: the name is only reserved");
        assert_eq!(
            issues(&format!("{base}assertion: {{enabled: true}}\n")),
            ["assertion.header: 'x-authgate-assertion' is also an identity header name"]
        );
    }
}

/// What the subsystems' unit tests share: a configuration file from YAML, and a build's issues as text.
#[cfg(test)]
mod test_support {
    use authgate_core::config::{ConfigFile, ConfigIssue};
    use std::path::Path;

    /// `gateway.yaml` text, parsed as if read from `path` (relative paths resolve beside it).
    pub fn config_file(path: &Path, yaml: &str) -> ConfigFile {
        ConfigFile {
            config: authgate_core::config::parse_yaml(Path::new("gateway.yaml"), yaml, |_| None).expect("parses"),
            path: path.to_path_buf(),
        }
    }

    /// Each issue of a failed build as `path: message`; nothing when it succeeded.
    pub fn messages<T>(built: Result<T, Vec<ConfigIssue>>) -> Vec<String> {
        built
            .err()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}
