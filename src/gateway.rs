//! Turns a parsed `gateway.yaml` into the runtime the proxy serves: routes, authenticators, providers with
//! their key stores, header names. Every invalid value is reported with its field path; nothing half-built
//! is ever served.

use crate::apis::workflow::definitions::Definitions;
use crate::auth::audience::AudiencePolicy;
use crate::auth::basic::{BasicAuthenticator, BasicSettings, FqnFormats};
use crate::auth::bearer::{BearerAuthenticator, Provider, UserClaim};
use crate::auth::identity::{FqnFormat, UserManager};
use crate::auth::issuer::IssuerPolicy;
use crate::auth::jwks::{KeySource, KeyStore, RefreshPolicy};
use crate::auth::jwt::{AlgorithmSet, JwsAlgorithm};
use crate::auth::lockout::Lockout;
use crate::auth::token_cache::TokenCache;
use crate::auth::{Authenticator, HeaderSet, RoutePolicy};
use crate::config::{
    AuthMode, ConfigError, ConfigFile, ConfigIssue, ProviderConfig, ProviderKind, RouteConfig, ServerConfig,
};
use crate::directory::embedded::EmbeddedDirectory;
use crate::directory::people::PeopleIndex;
use crate::metrics::Metrics;
use crate::proxy::routes::{normalize_prefix, Disabled, Route, RouteTable, Upstream};
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
    /// Public listener addresses.
    pub listeners: Vec<String>,
    /// Admin listener address, if enabled.
    pub admin: Option<String>,
    /// Routes.
    pub routes: RouteTable,
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
    /// The embedded directory's people by FQN (workflow destinations, originator details).
    pub people: Arc<PeopleIndex>,
    /// Workflow definitions of the built-in Workflow REST API.
    pub workflow_definitions: Arc<Definitions>,
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
        let cfg = &file.config;
        let mut issues = Issues::default();
        let metrics = Arc::new(Metrics::new());

        if cfg.listeners.is_empty() {
            issues.add("listeners", "at least one listener is required");
        }
        for (i, l) in cfg.listeners.iter().enumerate() {
            if l.address.parse::<std::net::SocketAddr>().is_err() {
                issues.add(
                    format!("listeners[{i}].address"),
                    format!("'{}' is not an ip:port address", l.address),
                );
            }
        }
        if cfg.admin.enabled && cfg.admin.address.parse::<std::net::SocketAddr>().is_err() {
            issues.add(
                "admin.address",
                format!("'{}' is not an ip:port address", cfg.admin.address),
            );
        }
        if cfg.limits.max_token_bytes < 256 || cfg.limits.max_token_bytes > 1024 * 1024 {
            issues.add("limits.max_token_bytes", "must be between 256 and 1048576");
        }

        let headers = match HeaderSet::from_config(&cfg.headers) {
            Ok(h) => Arc::new(h),
            Err(list) => {
                issues.0.extend(list);
                Arc::new(HeaderSet::from_config(&Default::default()).expect("default header names are valid"))
            }
        };

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
            if let Some(provider) = build_provider(file, p, i, &fqn, &client, &metrics, &mut issues) {
                providers.push(Arc::new(provider));
            }
        }

        let mut directory_users = 0;
        let mut people = PeopleIndex::default();
        let basic = if cfg.basic.enabled {
            let path = file.resolve(&cfg.basic.directory);
            match EmbeddedDirectory::load(&path) {
                Ok(dir) => {
                    directory_users = dir.len();
                    people = PeopleIndex::from_directory(&dir, &fqn);
                    Some(BasicAuthenticator::new(
                        Arc::new(dir),
                        BasicSettings {
                            cache_capacity: cfg.caches.credentials.capacity,
                            cache_ttl: Duration::from_secs(cfg.caches.credentials.ttl_seconds),
                            lockout: Lockout::new(&cfg.basic.lockout),
                            fqn: fqn.clone(),
                        },
                        headers.clone(),
                        metrics.clone(),
                    ))
                }
                Err(e) => {
                    issues.add("basic.directory", e.to_string());
                    None
                }
            }
        } else {
            None
        };

        let workflow_definitions = match Definitions::load_dir(&file.resolve(&cfg.workflow.definitions)) {
            Ok(defs) => defs,
            Err(e) => {
                issues.add("workflow.definitions", e.to_string());
                Definitions::default()
            }
        };

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
            listeners: cfg.listeners.iter().map(|l| l.address.clone()).collect(),
            admin: cfg.admin.enabled.then(|| cfg.admin.address.clone()),
            routes: RouteTable::new(routes),
            authenticator: Authenticator::new(basic, bearer, cfg.limits.max_token_bytes, metrics.clone()),
            headers,
            realm: cfg.basic.realm.clone(),
            metrics,
            builtin_socket,
            builtin_database: file.resolve(&cfg.builtin.database),
            builtin_threads: cfg.builtin.threads,
            directory_users,
            people: Arc::new(people),
            workflow_definitions: Arc::new(workflow_definitions),
        })
    }
}

fn build_provider(
    file: &ConfigFile,
    p: &ProviderConfig,
    i: usize,
    fqn: &FqnFormats,
    client: &reqwest::Client,
    metrics: &Arc<Metrics>,
    issues: &mut Issues,
) -> Option<Provider> {
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
    let keys = KeyStore::new(
        &p.name,
        KeySource::from_config(&p.jwks, |rel| file.resolve(rel)),
        RefreshPolicy {
            refresh_interval: Duration::from_secs(p.refresh_interval_seconds),
            min_refetch_interval: Duration::from_secs(p.min_refetch_interval_seconds),
            fetch_timeout: Duration::from_secs(p.fetch_timeout_seconds),
        },
        client.clone(),
        metrics.clone(),
    );
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
        keys: Arc::new(keys),
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
                forward: r.auth.forward_credentials,
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
    })
}
