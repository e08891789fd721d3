//! The composition root: turns a parsed `gateway.yaml` into the runtime the proxy serves (routes,
//! authenticators, providers with their key stores, header names) and the parts the built-in APIs serve.
//! Every invalid value is reported with its field path; nothing half-built is ever served. Subsystems build
//! themselves with a `from_config` that returns every issue it found ([`routes`], [`providers`],
//! [`assertion`]), each with unit tests of its rules.

pub mod assertion;
pub mod providers;
pub mod routes;

use providers::ProviderContext;
use routes::RouteContext;

use crate::proxy::routes::RouteTable;
use crate::proxy::tls::ReloadingCert;
use authgate_apis::odata::catalog::Catalog;
use authgate_apis::workflow::definitions::Definitions;
use authgate_apis::workflow::links::Links;
use authgate_core::assertion::AssertionSigner;
use authgate_core::auth::basic::{BasicAuthenticator, BasicSettings, CredentialCache};
use authgate_core::auth::bearer::BearerAuthenticator;
use authgate_core::auth::jwks::KeyStore;
use authgate_core::auth::lockout::Lockout;
use authgate_core::auth::token_cache::TokenCache;
use authgate_core::auth::{Authenticator, HeaderSet};
use authgate_core::config::yaml_files;
use authgate_core::config::{ConfigError, ConfigFile, ConfigIssue, ServerConfig};
use authgate_core::directory::embedded::EmbeddedDirectory;
use authgate_core::directory::hashing::HashingLimiter;
use authgate_core::directory::people::PeopleIndex;
use authgate_core::directory::UserDirectory;
use authgate_core::http::forwarded::TrustedProxies;
use authgate_core::identity::FqnFormats;
use authgate_core::identity::{FqnFormat, UserManager};
use authgate_core::metrics::Metrics;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything the proxy needs at run time, built once from the configuration.
pub struct Gateway {
    /// The configuration file this was built from.
    pub config_path: PathBuf,
    /// Process settings.
    pub server: ServerConfig,
    /// Public listeners.
    pub listeners: Vec<Listener>,
    /// Admin listener address, if enabled.
    pub admin: Option<String>,
    /// Routes.
    pub routes: RouteTable,
    /// Proxies whose `X-Forwarded-For` is believed (`server.trusted_proxies`).
    pub trusted_proxies: TrustedProxies,
    /// Authentication.
    pub authenticator: Authenticator,
    /// Identity header names.
    pub headers: Arc<HeaderSet>,
    /// Realm of challenges.
    pub realm: String,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The built-in API socket.
    pub builtin_socket: PathBuf,
    /// The built-in APIs' SQLite database.
    pub builtin_database: PathBuf,
    /// Worker threads of the built-in API server.
    pub builtin_threads: usize,
    /// Users in the embedded directory (for `check`).
    pub directory_users: usize,
    /// Identity assertion signer and its header, when enabled.
    pub assertion: Option<(Arc<AssertionSigner>, http::HeaderName)>,
    /// Assertion key rotation interval.
    pub assertion_rotation: Duration,
    /// The configuration this was built from.
    pub config: authgate_core::config::GatewayConfig,
    /// Files whose change triggers a reload (the configuration and the embedded directory).
    pub watched: Vec<PathBuf>,
    /// CA bundle for upstream TLS.
    pub upstream_ca_file: Option<PathBuf>,
    /// The log filter (applied unless `RUST_LOG` is set).
    pub log_level: crate::logging::LogLevel,
    /// The embedded directory's people by FQN (workflow destinations, originator details).
    pub people: Arc<PeopleIndex>,
    /// Workflow definitions of the built-in Workflow REST API.
    pub workflow_definitions: Arc<Definitions>,
    /// `formURL` / `viewFlowURL` settings of the Workflow REST API (`workflow.public_url`, `view_flow_url`).
    pub workflow_links: Arc<Links>,
    /// The OData API's SmartObjects: defined, and published by the exposure rules.
    pub odata_catalog: Arc<Catalog>,
    /// The `basic.backend` directory (LDAP, AAD), kept across reloads that do not change it so its
    /// connection pool survives.
    pub basic_backend: Option<Arc<dyn UserDirectory>>,
    /// The bound on concurrent password hashing, kept across reloads that do not change `basic.hashing` (so
    /// checks still running under the previous configuration count against the same budget).
    pub hashing: Arc<HashingLimiter>,
}

/// A public listener.
pub struct Listener {
    /// `ip:port`.
    pub address: String,
    /// The certificate, when TLS is terminated here.
    pub tls: Option<Arc<ReloadingCert>>,
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
    /// stay loaded), and the assertion signer when its settings are the same.
    pub fn build_with(
        file: &ConfigFile,
        metrics: Arc<Metrics>,
        previous: Option<&Gateway>,
    ) -> Result<Self, ConfigError> {
        let cfg = &file.config;
        let mut issues = Issues::default();
        let previous_stores = previous.map(Gateway::key_stores).unwrap_or_default();

        if cfg.listeners.is_empty() {
            issues.add("listeners", "at least one listener is required");
        }
        let mut listeners = Vec::new();
        for (i, l) in cfg.listeners.iter().enumerate() {
            if l.address.parse::<std::net::SocketAddr>().is_err() {
                issues.add(
                    format!("listeners[{i}].address"),
                    format!("'{}' is not an ip:port address", l.address),
                );
            }
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
        if let Some(ca) = &cfg.server.upstream_ca_file {
            if std::fs::metadata(file.resolve(ca)).is_err() {
                issues.add(
                    "server.upstream_ca_file",
                    format!("cannot read {}", file.resolve(ca).display()),
                );
            }
        }
        if cfg.admin.enabled && cfg.admin.address.parse::<std::net::SocketAddr>().is_err() {
            issues.add(
                "admin.address",
                format!("'{}' is not an ip:port address", cfg.admin.address),
            );
        }
        for (path, seconds) in [
            (
                "server.request_header_timeout_seconds",
                cfg.server.request_header_timeout_seconds,
            ),
            ("server.keepalive_timeout_seconds", cfg.server.keepalive_timeout_seconds),
        ] {
            if !(1..=3600).contains(&seconds) {
                issues.add(path, "must be between 1 and 3600");
            }
        }
        if !(1024..=crate::proxy::downstream::PINGORA_MAX_HEAD).contains(&cfg.server.max_request_header_bytes) {
            issues.add(
                "server.max_request_header_bytes",
                format!(
                    "must be between 1024 and {}",
                    crate::proxy::downstream::PINGORA_MAX_HEAD
                ),
            );
        }
        if cfg.limits.max_token_bytes < 256 || cfg.limits.max_token_bytes > 1024 * 1024 {
            issues.add("limits.max_token_bytes", "must be between 256 and 1048576");
        }

        let mut headers = match HeaderSet::from_config(&cfg.headers) {
            Ok(h) => h,
            Err(list) => {
                issues.0.extend(list);
                HeaderSet::from_config(&Default::default()).expect("default header names are valid")
            }
        };
        // Clients may not send the assertion header either (enabled or not: an upstream may still trust it).
        if let Ok(name) = http::HeaderName::from_bytes(cfg.assertion.header.as_bytes()) {
            headers.reserve(name);
        }
        let headers = Arc::new(headers);
        let trusted_proxies = TrustedProxies::parse(&cfg.server.trusted_proxies).unwrap_or_else(|(i, message)| {
            issues.add(format!("server.trusted_proxies[{i}]"), message);
            TrustedProxies::default()
        });

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
        let fqn = FqnFormats::new(fqn);

        let client = reqwest::Client::builder()
            .no_proxy()
            .user_agent(concat!("authgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Invalid {
                file: file.path.clone(),
                issues: vec![ConfigIssue::new("providers", format!("cannot create HTTP client: {e}"))],
            })?;
        let provider_names = providers::names(&cfg.providers);
        let context = ProviderContext {
            file,
            fqn: &fqn,
            client: &client,
            metrics: &metrics,
            previous_stores: &previous_stores,
        };
        let providers = issues.take(providers::from_config(&cfg.providers, &context), Vec::new);

        let mut directory_users = 0;
        let mut people = PeopleIndex::default();
        let mut basic_backend = None;
        if cfg.basic.hashing.max_memory_mib == 0 {
            issues.add("basic.hashing.max_memory_mib", "must be at least 1");
        }
        let hashing = match previous {
            Some(old) if old.config.basic.hashing == cfg.basic.hashing => old.hashing.clone(),
            _ => Arc::new(HashingLimiter::new(&cfg.basic.hashing, &metrics)),
        };
        let basic = if cfg.basic.enabled {
            let path = file.resolve(&cfg.basic.directory);
            // With an external backend the embedded file only lists people for the built-in APIs: optional.
            let embedded = match (&cfg.basic.backend, path.exists()) {
                (Some(_), false) => None,
                _ => EmbeddedDirectory::load(&path)
                    .map(|dir| dir.with_hashing(hashing.clone()))
                    .map_err(|e| issues.add("basic.directory", e.to_string()))
                    .ok(),
            };
            if let Some(dir) = &embedded {
                directory_users = dir.len();
                people = PeopleIndex::from_directory(dir, &fqn);
                if cfg.basic.backend.is_none() {
                    for (user, cost) in dir.costlier_than(hashing.budget_kib()) {
                        tracing::warn!(
                            %user,
                            hash_mib = cost / 1024,
                            budget_mib = hashing.budget_kib() / 1024,
                            "this user's password hash needs more memory than basic.hashing.max_memory_mib: \
                             each of its checks runs alone, using more than the budget"
                        );
                    }
                }
            }
            let directory: Option<Arc<dyn UserDirectory>> = match &cfg.basic.backend {
                None => embedded.map(|dir| Arc::new(dir) as Arc<dyn UserDirectory>),
                Some(backend) => match previous.and_then(|old| old.reusable_backend(backend)) {
                    Some(same) => Some(same),
                    None => {
                        let ad_domain = fqn.get(&UserManager::Ad).domain;
                        authgate_core::directory::backend::build(backend, ad_domain.as_deref(), |p| file.resolve(p))
                            .map_err(|list| issues.0.extend(list))
                            .ok()
                    }
                },
            };
            if cfg.basic.backend.is_some() {
                basic_backend = directory.clone();
            }
            // Verified logins and failure counters outlive a reload that leaves their settings alone: a
            // remembered login stays valid while its account's entry is unchanged (the directory's version).
            let before = previous.and_then(|old| Some((&old.config, old.authenticator.basic()?)));
            let credentials = match before {
                Some((old, basic))
                    if old.caches.credentials == cfg.caches.credentials && old.user_managers == cfg.user_managers =>
                {
                    basic.credentials().clone()
                }
                _ => Arc::new(CredentialCache::new(
                    cfg.caches.credentials.capacity,
                    Duration::from_secs(cfg.caches.credentials.ttl_seconds),
                )),
            };
            let lockout = match before {
                Some((old, basic)) if old.basic.lockout == cfg.basic.lockout => basic.lockout().clone(),
                _ => Arc::new(Lockout::new(&cfg.basic.lockout)),
            };
            directory.map(|directory| {
                BasicAuthenticator::new(
                    directory,
                    BasicSettings {
                        credentials,
                        lockout,
                        fqn: fqn.clone(),
                    },
                    headers.clone(),
                    metrics.clone(),
                )
            })
        } else {
            None
        };

        let definitions_dir = file.resolve(&cfg.workflow.definitions);
        let workflow_definitions = match Definitions::load_dir(&definitions_dir) {
            Ok(defs) => defs,
            Err(e) => {
                issues.add("workflow.definitions", e.to_string());
                Definitions::default()
            }
        };
        let workflow_links = match Links::from_config(&cfg.workflow) {
            Ok(links) => {
                issues.0.extend(links.check(&workflow_definitions));
                links
            }
            Err(found) => {
                issues.0.extend(found);
                Links::default()
            }
        };

        let smartobjects_dir = file.resolve(&cfg.odata.smartobjects);
        let odata_catalog = match authgate_apis::odata::smartobject::load_dir(&smartobjects_dir) {
            Ok(defined) => Catalog::build(defined, &cfg.odata).unwrap_or_else(|found| {
                issues.0.extend(found);
                Catalog::default()
            }),
            Err(e) => {
                issues.add("odata.smartobjects", e.to_string());
                Catalog::default()
            }
        };
        if cfg.odata.page_size == 0 {
            issues.add("odata.page_size", "must be at least 1");
        }
        issues.0.extend(authgate_apis::odata::check_config(&cfg.odata));

        let builtin_socket = file.resolve(&cfg.builtin.socket);
        let route_context = RouteContext {
            providers: &provider_names,
            builtin_socket: &builtin_socket,
            basic_enabled: cfg.basic.enabled,
        };
        let routes = issues.take(RouteTable::from_config(&cfg.routes, &route_context), || {
            RouteTable::new(Vec::new())
        });

        let log_level = match cfg.server.log_level.as_deref().map(crate::logging::LogLevel::parse) {
            None => crate::logging::LogLevel::default(),
            Some(Ok(level)) => level,
            Some(Err(reason)) => {
                issues.add("server.log_level", reason);
                crate::logging::LogLevel::default()
            }
        };

        let assertion = match previous {
            Some(old) if old.config.assertion == cfg.assertion => old.assertion.clone(),
            _ => issues.take(assertion::from_config(&cfg.assertion), || None),
        };

        if !issues.0.is_empty() {
            return Err(ConfigError::Invalid {
                file: file.path.clone(),
                issues: issues.0,
            });
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
        Ok(Self {
            config_path: file.path.clone(),
            server: cfg.server.clone(),
            listeners,
            admin: cfg.admin.enabled.then(|| cfg.admin.address.clone()),
            routes,
            trusted_proxies,
            authenticator: Authenticator::new(basic, bearer, cfg.limits.max_token_bytes, metrics.clone()),
            headers,
            realm: cfg.basic.realm.clone(),
            metrics,
            builtin_socket,
            builtin_database: file.resolve(&cfg.builtin.database),
            builtin_threads: cfg.builtin.threads,
            directory_users,
            assertion,
            assertion_rotation: Duration::from_secs(cfg.assertion.rotate_hours.max(1) * 3600),
            config: cfg.clone(),
            upstream_ca_file: cfg.server.upstream_ca_file.as_ref().map(|p| file.resolve(p)),
            log_level,
            watched: std::iter::once(file.path.clone())
                .chain(cfg.basic.enabled.then(|| file.resolve(&cfg.basic.directory)))
                .chain(std::iter::once(definitions_dir.clone()))
                .chain(yaml_files(&definitions_dir).unwrap_or_default())
                .chain(std::iter::once(smartobjects_dir.clone()))
                .chain(yaml_files(&smartobjects_dir).unwrap_or_default())
                .collect(),
            people: Arc::new(people),
            workflow_definitions: Arc::new(workflow_definitions),
            workflow_links: Arc::new(workflow_links),
            odata_catalog: Arc::new(odata_catalog),
            basic_backend,
            hashing,
        })
    }

    /// This gateway's `basic.backend` directory, when `backend` configures the same one.
    fn reusable_backend(
        &self,
        backend: &authgate_core::config::DirectoryBackendConfig,
    ) -> Option<Arc<dyn UserDirectory>> {
        let same = self.config.basic.enabled && self.config.basic.backend.as_ref() == Some(backend);
        same.then(|| self.basic_backend.clone()).flatten()
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
        authgate_apis::ApiParts {
            definitions: self.workflow_definitions.clone(),
            people: self.people.clone(),
            links: self.workflow_links.clone(),
            catalog: self.odata_catalog.clone(),
            page_size: u64::from(self.config.odata.page_size),
            base_paths: self.config.odata.base_paths.clone().into(),
            public_url: self.config.odata.public_url.clone(),
        }
    }

    /// The key stores of every provider.
    pub fn key_stores(&self) -> Vec<Arc<KeyStore>> {
        self.authenticator
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
        if old.admin != new.admin {
            out.push("admin");
        }
        if old.headers != new.headers {
            out.push("headers");
        }
        if old.builtin != new.builtin {
            out.push("builtin");
        }
        if old.server.threads != new.server.threads {
            out.push("server.threads");
        }
        out
    }
}
