//! Turns a parsed `gateway.yaml` into the runtime the proxy serves: routes, authenticators, providers with
//! their key stores, header names. Every invalid value is reported with its field path; nothing half-built
//! is ever served.

use crate::apis::odata::catalog::Catalog;
use crate::apis::workflow::definitions::Definitions;
use crate::apis::workflow::links::Links;
use crate::assertion::AssertionSigner;
use crate::auth::audience::AudiencePolicy;
use crate::auth::basic::{BasicAuthenticator, BasicSettings, CredentialCache, FqnFormats};
use crate::auth::bearer::{BearerAuthenticator, Provider, UserClaim};
use crate::auth::identity::{FqnFormat, UserManager};
use crate::auth::issuer::IssuerPolicy;
use crate::auth::jwks::{KeySource, KeyStore, RefreshPolicy};
use crate::auth::jwt::{AlgorithmSet, JwsAlgorithm};
use crate::auth::lockout::Lockout;
use crate::auth::token_cache::TokenCache;
use crate::auth::{Authenticator, HeaderSet, RoutePolicy};
use crate::config::yaml_files;
use crate::config::{
    AssertionConfig, AuthMode, ConfigError, ConfigFile, ConfigIssue, ProviderConfig, ProviderKind, RouteConfig,
    ServerConfig,
};
use crate::directory::embedded::EmbeddedDirectory;
use crate::directory::hashing::HashingLimiter;
use crate::directory::people::PeopleIndex;
use crate::directory::UserDirectory;
use crate::metrics::Metrics;
use crate::proxy::forwarded::TrustedProxies;
use crate::proxy::path::is_plain_prefix;
use crate::proxy::ratelimit::{RateLimiter, RouteLimits};
use crate::proxy::routes::{normalize_prefix, Disabled, PathPolicy, Route, RouteTable, Upstream};
use crate::proxy::tls::ReloadingCert;
use crate::signing::SigningAlg;
use std::collections::{HashMap, HashSet};
use std::net::ToSocketAddrs;
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
    pub config: crate::config::GatewayConfig,
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
        let mut providers = Vec::new();
        let mut provider_names = HashMap::new();
        for (i, p) in cfg.providers.iter().enumerate() {
            if provider_names.insert(p.name.clone(), i).is_some() {
                issues.add(
                    format!("providers[{i}].name"),
                    format!("duplicate provider name '{}'", p.name),
                );
            }
            let context = ProviderContext {
                file,
                fqn: &fqn,
                client: &client,
                metrics: &metrics,
                previous_stores: &previous_stores,
            };
            if let Some(provider) = build_provider(&context, p, i, &mut issues) {
                providers.push(Arc::new(provider));
            }
        }

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
                        crate::directory::backend::build(backend, ad_domain.as_deref(), |p| file.resolve(p))
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
        let odata_catalog = match crate::apis::odata::smartobject::load_dir(&smartobjects_dir) {
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
        issues.0.extend(crate::apis::odata::check_config(&cfg.odata));

        let builtin_socket = file.resolve(&cfg.builtin.socket);
        let mut routes = Vec::new();
        let mut route_names = HashSet::new();
        for (i, r) in cfg.routes.iter().enumerate() {
            if !route_names.insert(r.name.clone()) {
                issues.add(
                    format!("routes[{i}].name"),
                    format!("duplicate route name '{}'", r.name),
                );
            }
            if let Some(route) = build_route(r, i, &provider_names, &builtin_socket, cfg.basic.enabled, &mut issues) {
                routes.push(route);
            }
        }
        let mut prefixes = HashSet::new();
        for (i, r) in routes.iter().enumerate() {
            if !prefixes.insert(r.prefix.clone()) {
                issues.add(
                    format!("routes[{i}].prefix"),
                    format!("prefix '{}' is used by another route", r.prefix),
                );
            }
        }

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
            _ => build_assertion(&cfg.assertion, &mut issues),
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
            routes: RouteTable::new(routes),
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
    fn reusable_backend(&self, backend: &crate::config::DirectoryBackendConfig) -> Option<Arc<dyn UserDirectory>> {
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
    pub fn restart_required(&self, new: &crate::config::GatewayConfig) -> Vec<&'static str> {
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

fn build_assertion(cfg: &AssertionConfig, issues: &mut Issues) -> Option<(Arc<AssertionSigner>, http::HeaderName)> {
    if !cfg.enabled {
        return None;
    }
    let alg = match cfg.algorithm.as_str() {
        "ES256" => Some(SigningAlg::ES256),
        "EdDSA" => Some(SigningAlg::EdDSA),
        other => {
            issues.add(
                "assertion.algorithm",
                format!("'{other}' is not supported; use ES256 or EdDSA"),
            );
            None
        }
    };
    let header = http::HeaderName::from_bytes(cfg.header.as_bytes())
        .map_err(|_| {
            issues.add(
                "assertion.header",
                format!("'{}' is not a valid header name", cfg.header),
            )
        })
        .ok();
    if cfg.ttl_seconds == 0 {
        issues.add("assertion.ttl_seconds", "must be at least 1");
    }
    Some((
        Arc::new(AssertionSigner::new(
            alg?,
            &cfg.issuer,
            Duration::from_secs(cfg.ttl_seconds.max(1)),
        )),
        header?,
    ))
}

/// What building a provider needs besides its own configuration.
struct ProviderContext<'a> {
    file: &'a ConfigFile,
    fqn: &'a FqnFormats,
    client: &'a reqwest::Client,
    metrics: &'a Arc<Metrics>,
    previous_stores: &'a [Arc<KeyStore>],
}

fn build_provider(ctx: &ProviderContext<'_>, p: &ProviderConfig, i: usize, issues: &mut Issues) -> Option<Provider> {
    let (file, fqn) = (ctx.file, ctx.fqn);
    let path = |field: &str| format!("providers[{i}].{field}");
    let before = issues.0.len();
    let issuer = match p.kind {
        ProviderKind::Oidc => IssuerPolicy::oidc(&p.issuer),
        ProviderKind::Aad => IssuerPolicy::aad(&p.issuer, &p.tenants),
    }
    .map_err(|e| issues.add(path("issuer"), e.to_string()))
    .ok();
    if p.kind == ProviderKind::Oidc && !p.tenants.is_empty() {
        issues.add(
            path("tenants"),
            "only providers with kind: aad take a tenant allow-list",
        );
    }
    if p.audiences.is_empty() || p.audiences.iter().any(|a| a.trim().is_empty()) {
        issues.add(
            path("audiences"),
            "list at least one non-empty audience, e.g. 'https://api.k2.com/'",
        );
    }
    let algorithms = match &p.algorithms {
        None => AlgorithmSet::all(),
        Some(names) => {
            let mut parsed = Vec::new();
            for (j, name) in names.iter().enumerate() {
                match name.parse::<JwsAlgorithm>() {
                    Ok(alg) => parsed.push(alg),
                    Err(()) => issues.add(
                        format!("providers[{i}].algorithms[{j}]"),
                        format!(
                            "'{name}' is not supported; choose from {} (HMAC and 'none' are never accepted)",
                            AlgorithmSet::all().describe()
                        ),
                    ),
                }
            }
            let set: AlgorithmSet = parsed.into_iter().collect();
            if set.is_empty() {
                issues.add(path("algorithms"), "allow at least one algorithm");
            }
            set
        }
    };
    let user_manager = match (&p.user_manager, p.kind) {
        (Some(label), _) => UserManager::from_label(label),
        (None, ProviderKind::Aad) => UserManager::Aad,
        (None, ProviderKind::Oidc) => {
            issues.add(
                path("user_manager"),
                "say which user manager this issuer's users belong to (ad, aad, ...)",
            );
            UserManager::Aad
        }
    };
    let user_claims = match &p.user_claims {
        None => UserClaim::defaults(p.kind),
        Some(names) if names.is_empty() => {
            issues.add(path("user_claims"), "list at least one claim");
            Vec::new()
        }
        Some(names) => names
            .iter()
            .enumerate()
            .filter_map(|(j, n)| {
                let claim = UserClaim::from_name(n);
                if claim.is_none() {
                    let known: Vec<&str> = UserClaim::ALL.iter().map(|(n, _)| *n).collect();
                    issues.add(
                        format!("providers[{i}].user_claims[{j}]"),
                        format!("unknown claim '{n}'; choose from {}", known.join(", ")),
                    );
                }
                claim
            })
            .collect(),
    };
    match &p.jwks {
        crate::config::JwksSourceConfig::Url(u) | crate::config::JwksSourceConfig::Discovery(u)
            if !(u.starts_with("https://") || u.starts_with("http://")) =>
        {
            issues.add(path("jwks"), format!("'{u}' is not an http(s) URL"));
        }
        _ => {}
    }
    if p.refresh_interval_seconds == 0 {
        issues.add(path("refresh_interval_seconds"), "must be at least 1");
    }
    if p.fetch_timeout_seconds == 0 {
        issues.add(path("fetch_timeout_seconds"), "must be at least 1");
    }
    if issues.0.len() > before {
        return None;
    }
    let source = KeySource::from_config(&p.jwks, |rel| file.resolve(rel));
    let policy = RefreshPolicy {
        refresh_interval: Duration::from_secs(p.refresh_interval_seconds),
        min_refetch_interval: Duration::from_secs(p.min_refetch_interval_seconds),
        fetch_timeout: Duration::from_secs(p.fetch_timeout_seconds),
    };
    let reusable = ctx
        .previous_stores
        .iter()
        .find(|s| s.name() == p.name && *s.source() == source && s.policy() == policy);
    let keys = match reusable {
        Some(store) => store.clone(),
        None => Arc::new(KeyStore::new(
            &p.name,
            source,
            policy,
            ctx.client.clone(),
            ctx.metrics.clone(),
        )),
    };
    Some(Provider {
        name: p.name.clone(),
        kind: p.kind,
        issuer: issuer?,
        audience: AudiencePolicy::new(p.audiences.clone(), p.audience_match),
        algorithms,
        leeway: p.leeway_seconds,
        require_typ: p.require_typ,
        required_scopes: p.required_scopes.clone(),
        required_roles: p.required_roles.clone(),
        fqn: fqn.get(&user_manager),
        user_manager,
        user_claims,
        keys,
    })
}

fn build_route(
    r: &RouteConfig,
    i: usize,
    providers: &HashMap<String, usize>,
    builtin_socket: &std::path::Path,
    basic_enabled: bool,
    issues: &mut Issues,
) -> Option<Route> {
    let path = |field: &str| format!("routes[{i}].{field}");
    let before = issues.0.len();
    if !r.prefix.starts_with('/') {
        issues.add(path("prefix"), format!("'{}' must start with '/'", r.prefix));
    } else if !is_plain_prefix(&normalize_prefix(&r.prefix)) {
        issues.add(
            path("prefix"),
            format!(
                "'{}' must be a plain path: no '%', ';', '\\', '//' or '.'/'..' segments (requests are matched \
                 after normalisation)",
                r.prefix
            ),
        );
    }
    let upstream = if r.upstream == "builtin" {
        if r.upstream_tls.is_some() {
            issues.add(
                path("upstream_tls"),
                "the built-in upstream is a local socket; TLS does not apply",
            );
        }
        Some(Upstream::Builtin(builtin_socket.to_path_buf()))
    } else {
        match r.upstream.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(address)) => {
                let host = r
                    .upstream
                    .rsplit_once(':')
                    .map_or("", |(h, _)| h)
                    .trim_matches(['[', ']']);
                Some(Upstream::Http {
                    address,
                    display: r.upstream.clone(),
                    tls: r
                        .upstream_tls
                        .as_ref()
                        .map(|t| t.sni.clone().unwrap_or_else(|| host.to_string())),
                })
            }
            _ => {
                issues.add(
                    path("upstream"),
                    format!("'{}' is neither 'builtin' nor a resolvable host:port", r.upstream),
                );
                None
            }
        }
    };
    let disabled = (!r.enabled).then(|| Disabled {
        status: r.disabled.status,
        message: r.disabled.message.clone(),
    });
    for (field, rate) in [("per_ip", &r.rate_limit.per_ip), ("per_user", &r.rate_limit.per_user)] {
        if let Some(rate) = rate {
            if !(rate.requests_per_second.is_finite() && rate.requests_per_second > 0.0) {
                issues.add(
                    format!("routes[{i}].rate_limit.{field}.requests_per_second"),
                    "must be a positive number",
                );
            }
            if rate.burst == 0 {
                issues.add(format!("routes[{i}].rate_limit.{field}.burst"), "must be at least 1");
            }
        }
    }
    if !matches!(r.disabled.status, 404 | 503) {
        issues.add(path("disabled.status"), "must be 404 or 503");
    }
    let auth = match r.auth.mode {
        AuthMode::Off => None,
        AuthMode::Required => {
            let mut basic = false;
            let mut bearer = false;
            for (j, m) in r.auth.methods.iter().enumerate() {
                match m.as_str() {
                    "basic" => basic = true,
                    "bearer" | "oauth" => bearer = true,
                    other => issues.add(
                        format!("routes[{i}].auth.methods[{j}]"),
                        format!("unknown method '{other}'; use basic or bearer"),
                    ),
                }
            }
            if !basic && !bearer {
                issues.add(
                    path("auth.methods"),
                    "list at least one of basic, bearer (or set auth.mode: off)",
                );
            }
            if basic && !basic_enabled {
                issues.add(path("auth.methods"), "accepts basic, but basic.enabled is false");
            }
            let providers = r.auth.providers.as_ref().map(|names| {
                names
                    .iter()
                    .enumerate()
                    .filter_map(|(j, n)| {
                        let index = providers.get(n).copied();
                        if index.is_none() {
                            issues.add(
                                format!("routes[{i}].auth.providers[{j}]"),
                                format!("no provider named '{n}'"),
                            );
                        }
                        index
                    })
                    .collect::<Vec<_>>()
            });
            if r.auth.allowed_user_managers.is_empty() {
                issues.add(
                    path("auth.allowed_user_managers"),
                    "list at least one user manager (the platform allows ad, aad)",
                );
            }
            Some(RoutePolicy {
                basic,
                bearer,
                providers,
                allowed_user_managers: r
                    .auth
                    .allowed_user_managers
                    .iter()
                    .map(|l| UserManager::from_label(l))
                    .collect(),
            })
        }
    };
    if issues.0.len() > before {
        return None;
    }
    Some(Route {
        name: r.name.clone(),
        prefix: normalize_prefix(&r.prefix),
        upstream: upstream?,
        disabled,
        auth,
        forward: r.auth.forward_credentials,
        path: PathPolicy {
            allow_encoded_slash: r.path.allow_encoded_slash,
            allow_semicolon: r.path.allow_semicolon,
        },
        limits: RouteLimits {
            per_ip: r.rate_limit.per_ip.as_ref().map(RateLimiter::new),
            per_user: r.rate_limit.per_user.as_ref().map(RateLimiter::new),
        },
        index: i,
        assertion_audience: r.assertion_audience.clone().unwrap_or_else(|| r.upstream.clone()),
    })
}
