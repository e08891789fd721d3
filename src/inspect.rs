//! Operator diagnostics: `authgate check` (what the configuration means) and `authgate token inspect`
//! (would this gateway accept this token, check by check, and why not).
//!
//! Inspect runs the request path's verification pipeline ([`authgate_core::auth::bearer::pipeline`]), but keeps
//! going after a failure so every problem shows at once: an audience off by a slash and an expired token are both
//! named.

use crate::gateway::Gateway;
use authgate_core::auth::bearer::pipeline::{self, KeyAccess, Observer, Passed, Skip, Step};
use authgate_core::config::ConfigFile;
use authgate_core::identity::UserManager;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::fmt::Write;
use std::ops::ControlFlow;

/// Outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The check passed.
    Pass,
    /// The check failed; the token would be refused.
    Fail,
    /// The check could not run (an earlier step failed, or keys were not fetched).
    Skip,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// Result.
    pub outcome: Outcome,
    /// Explanation.
    pub detail: String,
}

/// The inspection of one token.
#[derive(Debug, Default)]
pub struct Report {
    /// Decoded header, when it decodes.
    pub header: Option<serde_json::Value>,
    /// Decoded claims, when they decode.
    pub claims: Option<serde_json::Value>,
    /// Checks in request order.
    pub checks: Vec<Check>,
}

impl Report {
    fn push(&mut self, name: &'static str, result: Result<String, String>) {
        let (outcome, detail) = match result {
            Ok(detail) => (Outcome::Pass, detail),
            Err(detail) => (Outcome::Fail, detail),
        };
        self.checks.push(Check { name, outcome, detail });
    }

    /// Whether every check passed (none failed, none skipped).
    pub fn accepted(&self) -> bool {
        self.checks.iter().all(|c| c.outcome == Outcome::Pass)
    }

    /// The admin API's form: `{verdict: "valid"|"invalid", checks: [{name, ok, outcome, detail}], header,
    /// claims}` (the decoded parts only, never the token or its signature).
    pub fn to_json(&self) -> serde_json::Value {
        let checks: Vec<serde_json::Value> = self
            .checks
            .iter()
            .map(|c| {
                let outcome = match c.outcome {
                    Outcome::Pass => "pass",
                    Outcome::Fail => "fail",
                    Outcome::Skip => "skip",
                };
                serde_json::json!({"name": c.name, "ok": c.outcome == Outcome::Pass, "outcome": outcome, "detail": c.detail})
            })
            .collect();
        serde_json::json!({
            "verdict": if self.accepted() { "valid" } else { "invalid" },
            "checks": checks,
            "header": self.header,
            "claims": self.claims,
        })
    }

    /// Human-readable text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
        if let Some(h) = &self.header {
            let _ = writeln!(out, "header:\n{}", indent(&pretty(h)));
        }
        if let Some(c) = &self.claims {
            let _ = writeln!(out, "claims:\n{}", indent(&pretty(c)));
        }
        let _ = writeln!(out, "checks:");
        for c in &self.checks {
            let tag = match c.outcome {
                Outcome::Pass => "PASS",
                Outcome::Fail => "FAIL",
                Outcome::Skip => "SKIP",
            };
            let _ = writeln!(out, "  [{tag}] {:<14} {}", c.name, c.detail);
        }
        let failures: Vec<&str> = self
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .map(|c| c.name)
            .collect();
        let verdict = if self.accepted() {
            "ACCEPTED".to_string()
        } else if failures.is_empty() {
            "NOT CONFIRMED (some checks were skipped)".to_string()
        } else {
            format!("REFUSED ({})", failures.join(", "))
        };
        let _ = writeln!(out, "verdict: {verdict}");
        out
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

fn decode_json(part: Option<&str>) -> Option<serde_json::Value> {
    URL_SAFE_NO_PAD
        .decode(part?)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Inspects `token` against `gateway`'s providers; fetches signing keys when `fetch_keys`.
pub async fn inspect(gateway: &Gateway, token: &str, fetch_keys: bool) -> Report {
    run(gateway, token, None, fetch_keys).await
}

/// Inspects `token` against the providers the route named `route` accepts (every provider when `None`, or
/// when the route names none); `Err` when no route has that name or the route takes no bearer tokens.
pub async fn inspect_route(
    gateway: &Gateway,
    token: &str,
    route: Option<&str>,
    fetch_keys: bool,
) -> Result<Report, String> {
    let Some(name) = route else {
        return Ok(run(gateway, token, None, fetch_keys).await);
    };
    let routes = gateway.proxy.routes.routes();
    let found = routes
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| format!("no route is named {name:?}"))?;
    let policy = found
        .auth
        .as_ref()
        .filter(|p| p.bearer)
        .ok_or_else(|| format!("route {name:?} does not take bearer tokens"))?;
    Ok(run(gateway, token, policy.providers.as_deref(), fetch_keys).await)
}

async fn run(gateway: &Gateway, token: &str, allowed: Option<&[usize]>, fetch_keys: bool) -> Report {
    let authenticator = &gateway.proxy.authenticator;
    let (limit, providers) = (authenticator.max_token_bytes(), authenticator.bearer().providers());

    let mut report = Report::default();
    report.push(
        "size",
        if token.len() <= limit {
            Ok(format!("{} bytes (limit {limit})", token.len()))
        } else {
            Err(format!("{} bytes, over the {limit}-byte limit", token.len()))
        },
    );
    let mut parts = token.split('.');
    report.header = decode_json(parts.next());
    report.claims = decode_json(parts.next());
    let keys = if fetch_keys {
        KeyAccess::Refresh
    } else {
        KeyAccess::Offline
    };
    let now = authgate_core::clock::unix_now();
    pipeline::run(providers, allowed, token, now, keys, &mut report).await;
    report
}

/// Inspect's observer: records every step and never stops.
impl Observer for Report {
    fn step(&mut self, step: Step, outcome: pipeline::Outcome<'_>) -> ControlFlow<()> {
        let (outcome, detail) = match outcome {
            pipeline::Outcome::Passed(Passed::Identity(identity)) => {
                // The platform rule every route applies: only AD and AAD users reach the APIs.
                match authgate_core::auth::rules::check(identity, &[UserManager::Ad, UserManager::Aad]) {
                    Ok(()) => (Outcome::Pass, Passed::Identity(identity).to_string()),
                    Err(e) => (Outcome::Fail, format!("{}: {e}", identity.fqn)),
                }
            }
            pipeline::Outcome::Passed(passed) => (Outcome::Pass, passed.to_string()),
            pipeline::Outcome::Failed(err) => (Outcome::Fail, err.to_string()),
            pipeline::Outcome::Skipped(Skip::KeysNotFetched) => (Outcome::Skip, "--offline: keys not fetched".into()),
            pipeline::Outcome::Skipped(why) => (Outcome::Skip, why.to_string()),
        };
        self.checks.push(Check {
            name: step.name(),
            outcome,
            detail,
        });
        ControlFlow::Continue(())
    }
}

/// The `authgate check` summary of a valid configuration.
pub fn summary(file: &ConfigFile, gateway: &Gateway) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "configuration {} is valid", file.path.display());
    let listeners: Vec<String> = gateway
        .server
        .listeners
        .iter()
        .map(|l| format!("{}{}", l.address, if l.tls.is_some() { " (TLS)" } else { "" }))
        .collect();
    let _ = writeln!(out, "listeners: {}", listeners.join(", "));
    let _ = writeln!(
        out,
        "admin: {}",
        gateway.server.admin.as_deref().unwrap_or("(disabled)")
    );
    let cfg = &file.config;
    let _ = writeln!(
        out,
        "client address: {}",
        if cfg.server.trusted_proxies.is_empty() {
            "the TCP peer (no trusted proxies; client X-Forwarded-For is replaced)".to_string()
        } else {
            format!(
                "rightmost X-Forwarded-For hop not in trusted proxies {}",
                cfg.server.trusted_proxies.join(", ")
            )
        }
    );
    let _ = writeln!(
        out,
        "basic: {}",
        if cfg.basic.enabled {
            match &cfg.basic.backend {
                None => format!(
                    "enabled, realm '{}', {} users in {}; password checks share {} MiB ({} default argon2id \
                     hashes at once), wait {} ms at most, {} waiting at most",
                    cfg.basic.realm,
                    gateway.directories.users,
                    file.resolve(&cfg.basic.directory).display(),
                    cfg.basic.hashing.max_memory_mib,
                    gateway.directories.hashing.budget_kib()
                        / gateway.directories.hashing.weight(argon2::Params::DEFAULT_M_COST),
                    cfg.basic.hashing.queue_timeout_ms,
                    cfg.basic.hashing.max_queue
                ),
                Some(backend) => format!(
                    "enabled, realm '{}', verified by {}",
                    cfg.basic.realm,
                    authgate_core::directory::backend::describe(backend)
                ),
            }
        } else {
            "disabled".into()
        }
    );
    let _ = writeln!(
        out,
        "shared state: {}",
        match &gateway.shared {
            Some(shared) => format!(
                "{} (lockout and rate limits shared by every replica using it; this replica's own counters while \
                 it is unreachable)",
                shared.describe()
            ),
            None => "none: lockout and rate limits count per process (N replicas allow N times the failed logins \
                     and N times each rate limit; set shared_state for a Deployment with replicas > 1)"
                .to_string(),
        }
    );
    let _ = writeln!(out, "providers:");
    if gateway.proxy.authenticator.bearer().providers().is_empty() {
        let _ = writeln!(out, "  (none: bearer tokens are refused)");
    }
    for p in gateway.proxy.authenticator.bearer().providers() {
        let _ = writeln!(
            out,
            "  {} ({:?}): issuer {}; audiences {} ({:?} match); algorithms {}; keys from {}; users -> {}",
            p.name,
            p.kind,
            p.issuer.display(),
            p.audience
                .expected()
                .iter()
                .map(|a| format!("'{a}'"))
                .collect::<Vec<_>>()
                .join(", "),
            cfg.providers
                .iter()
                .find(|c| c.name == p.name)
                .map(|c| c.audience_match)
                .unwrap_or_default(),
            p.algorithms.describe(),
            p.keys.source().describe(),
            p.user_manager,
        );
    }
    let catalog = &gateway.apis.catalog;
    let _ = writeln!(
        out,
        "odata at {}: {} SmartObjects defined; published: {}",
        gateway.config.odata.base_paths.join(", "),
        catalog.defined().len(),
        match catalog.published() {
            [] => "none".to_string(),
            published => published
                .iter()
                .map(|so| so.published_name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
    );
    match &gateway.apis.oauth {
        None => {
            let _ = writeln!(out, "oauth: not configured (no outbound OAuth resources)");
        }
        // Which routes use a resource: none until routes can name one (`outbound: {oauth_resource}`).
        Some(oauth) => {
            for line in oauth.describe(|_| Vec::new()) {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    let _ = writeln!(out, "routes (longest prefix first):");
    for r in gateway.proxy.routes.routes() {
        let auth = match &r.auth {
            None => "auth off".to_string(),
            Some(p) => {
                let mut methods = Vec::new();
                if p.basic {
                    methods.push("basic");
                }
                if p.bearer {
                    methods.push("bearer");
                }
                let managers: Vec<&str> = p.allowed_user_managers.iter().map(|m| m.label()).collect();
                format!("{}; user managers {}", methods.join("+"), managers.join(", "))
            }
        };
        let forwards = match r.forward {
            authgate_core::config::ForwardCredentials::None => "",
            authgate_core::config::ForwardCredentials::Bearer => "; forwards bearer tokens",
            authgate_core::config::ForwardCredentials::All => {
                "; forwards Authorization as received (Basic passwords too)"
            }
        };
        let mut accepts = Vec::new();
        if r.path.allow_encoded_slash {
            accepts.push("%2F/%5C");
        }
        if r.path.allow_semicolon {
            accepts.push("';'");
        }
        let accepts = if accepts.is_empty() {
            String::new()
        } else {
            format!("; paths with {}", accepts.join(", "))
        };
        let state = match &r.disabled {
            None => String::new(),
            Some(d) => format!(" [switched off: {}]", d.status),
        };
        let prefix = if r.prefix.is_empty() { "/" } else { &r.prefix };
        let _ = writeln!(
            out,
            "  {} {} -> {} ({auth}{forwards}{accepts}){state}",
            r.name,
            prefix,
            r.upstream.describe()
        );
    }
    let _ = writeln!(
        out,
        "caches: tokens {} entries (max ttl {}s), credentials {} entries (ttl {}s)",
        cfg.caches.tokens.capacity,
        cfg.caches.tokens.max_ttl_seconds,
        cfg.caches.credentials.capacity,
        cfg.caches.credentials.ttl_seconds
    );
    out
}

/// The `authgate check` lines of the admin API: who administers, and each runtime setting's effective value
/// with where it comes from (`gateway.yaml`, or the store with who set it when). Reads the store without
/// creating it: a SQLite file that does not exist yet holds no settings.
pub async fn admin_summary(gateway: &Gateway) -> Vec<String> {
    use authgate_admin::settings::{effective, Overrides};
    let admins = &gateway.config.admin.administrators;
    let mut out = vec![if admins.users.is_empty() && admins.groups.is_empty() {
        "administrators: nobody (admin.administrators is empty)".to_string()
    } else {
        format!(
            "administrators: users [{}]; groups [{}]",
            admins.users.join(", "),
            admins.groups.join(", ")
        )
    }];
    let stored = match &gateway.apis.database {
        crate::gateway::apis::Database::Sqlite(path) if !path.exists() => Ok(None),
        _ => match gateway.apis.open_stores().await {
            Ok(stores) => stores.admin.settings().await.map(Some).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
    };
    let overrides = match stored {
        Ok(Some(snapshot)) => {
            let (overrides, problems) = Overrides::from_snapshot(&snapshot);
            out.push(format!("runtime settings (store version {}):", snapshot.version));
            out.extend(problems.into_iter().map(|p| format!("  ignored: {p}")));
            overrides
        }
        Ok(None) => {
            out.push("runtime settings (no database yet):".into());
            Overrides::default()
        }
        Err(e) => {
            out.push(format!(
                "runtime settings (the store cannot be read: {e}; gateway.yaml's shown):"
            ));
            Overrides::default()
        }
    };
    for e in effective(&gateway.configured, &overrides) {
        out.push(format!("  {}: {} from {}", e.key.as_str(), e.value.to_json(), e.source));
    }
    out
}
