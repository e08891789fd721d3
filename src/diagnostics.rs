//! `authgate check --diagnostics`: warnings about configurations that are valid but almost certainly not
//! what the operator meant. Each warning names the field and says what to do.

use argon2::password_hash::PasswordHash;
use authgate_core::config::{ConfigFile, JwksSourceConfig, ProviderKind};
use authgate_core::directory::embedded::UsersFile;
use authgate_core::identity::UserManager;
use std::fmt;

/// One warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Field path the warning is about.
    pub path: String,
    /// What looks wrong and what to do.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning: {}: {}", self.path, self.message)
    }
}

/// The OWASP minimum for argon2id: 19 MiB, 2 iterations.
const MIN_ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const MIN_ARGON2_ITERATIONS: u32 = 2;

const AAD_V1: &str = "https://sts.windows.net/";
const AAD_V2: &str = "https://login.microsoftonline.com/";

/// Every warning for `file` (which already passed validation).
pub fn diagnose(file: &ConfigFile) -> Vec<Warning> {
    let cfg = &file.config;
    let mut out = Vec::new();
    let mut warn = |path: String, message: String| out.push(Warning { path, message });

    for (i, p) in cfg.providers.iter().enumerate() {
        if p.kind == ProviderKind::Aad {
            for (j, aud) in p.audiences.iter().enumerate() {
                if aud.starts_with("https://")
                    && !aud.ends_with('/')
                    && cfg.providers[i].audience_match == Default::default()
                {
                    warn(
                        format!("providers[{i}].audiences[{j}]"),
                        format!(
                            "'{aud}' has no trailing slash; Azure AD issues the Application ID URI exactly as registered, and the K2 API resource is 'https://api.k2.com/' with the slash: tokens for '{aud}/' would be refused"
                        ),
                    );
                }
            }
            let issuer_v2 = p.issuer.starts_with(AAD_V2) && p.issuer.ends_with("/v2.0");
            let issuer_v1 = p.issuer.starts_with(AAD_V1);
            if let JwksSourceConfig::Discovery(url) = &p.jwks {
                let discovery_v2 = url.trim_end_matches('/').ends_with("/v2.0");
                if issuer_v1 && discovery_v2 || issuer_v2 && url.starts_with(AAD_V2) && !discovery_v2 {
                    warn(
                        format!("providers[{i}].jwks"),
                        format!(
                            "issuer '{}' is the {} form but discovery '{url}' is the {} endpoint; both forms are accepted, but check which token version your app registration issues (accessTokenAcceptedVersion)",
                            p.issuer,
                            if issuer_v1 { "v1" } else { "v2" },
                            if discovery_v2 { "v2" } else { "v1" }
                        ),
                    );
                }
            }
        }
        if p.tenants.iter().any(|t| t == "*") {
            warn(
                format!("providers[{i}].tenants"),
                "'*' accepts tokens from every Azure AD tenant; list your tenant ids unless this is a multi-tenant service".into(),
            );
        }
    }

    replicas_that_share_nothing(cfg, &mut warn);

    let users: Option<UsersFile> = cfg
        .basic
        .enabled
        .then(|| authgate_core::config::load_yaml(&file.resolve(&cfg.basic.directory)).ok())
        .flatten();
    if let Some(users) = &users {
        for (i, u) in users.users.iter().enumerate() {
            let Some(hash) = u.password_hash.as_deref().and_then(|h| PasswordHash::new(h).ok()) else {
                continue;
            };
            let param = |name: &str| hash.params.get_decimal(name).unwrap_or(0);
            let (m, t) = (param("m"), param("t"));
            if m < MIN_ARGON2_MEMORY_KIB || t < MIN_ARGON2_ITERATIONS {
                warn(
                    format!("users[{i}].password_hash ({})", u.name),
                    format!(
                        "argon2id parameters m={m} KiB, t={t} are below the recommended minimum (m={MIN_ARGON2_MEMORY_KIB}, t={MIN_ARGON2_ITERATIONS}); rehash with `authgate hash-password`"
                    ),
                );
            }
        }
    }

    if let Some(authgate_core::config::DirectoryBackendConfig::Ldap(ldap)) = &cfg.basic.backend {
        if ldap.url.starts_with("ldap://") && !ldap.starttls {
            warn(
                "basic.backend.ldap.url".into(),
                "plain ldap:// without starttls: users' passwords cross the network in clear; use ldaps:// or starttls: true".into(),
            );
        }
    }

    // Who can reach each route: Basic users of the directory, and identities of the providers it accepts.
    let backend_manager = cfg.basic.backend.as_ref().map(|b| match b {
        authgate_core::config::DirectoryBackendConfig::Ldap(_) => UserManager::Ad,
        authgate_core::config::DirectoryBackendConfig::Aad(_) => UserManager::Aad,
    });
    let users = if backend_manager.is_some() { None } else { users };
    let basic_managers: Vec<UserManager> = users
        .as_ref()
        .map(|u| {
            u.users
                .iter()
                .filter(|u| u.password_hash.is_some() && !u.disabled)
                .map(|u| UserManager::from_label(&u.user_manager))
                .collect()
        })
        .unwrap_or_else(|| backend_manager.into_iter().collect());
    let aad_basic_users: Vec<_> = users
        .as_ref()
        .map(|u| {
            u.users
                .iter()
                .filter(|u| UserManager::from_label(&u.user_manager) == UserManager::Aad && u.password_hash.is_some())
                .collect()
        })
        .unwrap_or_default();
    for (i, r) in cfg.routes.iter().enumerate() {
        if !r.enabled || r.auth.mode == authgate_core::config::AuthMode::Off {
            continue;
        }
        let allowed: Vec<UserManager> = r
            .auth
            .allowed_user_managers
            .iter()
            .map(|l| UserManager::from_label(l))
            .collect();
        let basic = r.auth.methods.iter().any(|m| m == "basic") && cfg.basic.enabled;
        let bearer = r.auth.methods.iter().any(|m| m == "bearer" || m == "oauth");
        let via_basic = basic && basic_managers.iter().any(|m| allowed.contains(m));
        let via_bearer = bearer
            && cfg.providers.iter().any(|p| {
                let accepted = r.auth.providers.as_ref().is_none_or(|names| names.contains(&p.name));
                let manager = p.user_manager.as_deref().map_or(
                    if p.kind == ProviderKind::Aad {
                        UserManager::Aad
                    } else {
                        UserManager::Ad
                    },
                    UserManager::from_label,
                );
                accepted && allowed.contains(&manager)
            });
        if !via_basic && !via_bearer {
            warn(
                format!("routes[{i}] ({})", r.name),
                "is enabled, but no user manager can reach it: no Basic user and no accepted provider belongs to its allowed user managers".into(),
            );
        }
        if basic
            && allowed.contains(&UserManager::Aad)
            && !aad_basic_users.is_empty()
            && aad_basic_users.iter().all(|u| u.mfa)
        {
            warn(
                format!("routes[{i}] ({})", r.name),
                "accepts Basic, but every AAD user in the directory has MFA enabled, so Basic can never work for them: they must use OAuth".into(),
            );
        }
        if allowed.iter().any(|m| !matches!(m, UserManager::Ad | UserManager::Aad)) {
            warn(
                format!("routes[{i}].auth.allowed_user_managers"),
                "allows user managers other than ad and aad; the platform APIs only accept AD and AAD users".into(),
            );
        }
    }
    out
}

/// A configuration that shares half of its state: a gateway cannot know how many replicas run it, but one whose
/// built-in APIs are on PostgreSQL is meant for several, and one with shared counters is too. Then whatever the
/// other half keeps in one process is almost certainly a mistake. (A configuration that shares nothing is one
/// machine's; `check` says what that means for replicas in its summary.)
fn replicas_that_share_nothing(cfg: &authgate_core::config::GatewayConfig, warn: &mut impl FnMut(String, String)) {
    let on_postgres = cfg
        .builtin
        .database
        .to_str()
        .is_some_and(authgate_apis::store::postgres::is_url);
    let shared_counters = cfg.shared_state.is_some();
    let lockout = &cfg.basic.lockout;
    let lockout_on = cfg.basic.enabled && (lockout.max_failures_per_user > 0 || lockout.max_failures_per_ip > 0);
    let limited: Vec<String> = cfg
        .routes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.rate_limit.per_ip.is_some() || r.rate_limit.per_user.is_some())
        .map(|(i, r)| format!("routes[{i}] ({})", r.name))
        .collect();
    if on_postgres && !shared_counters && (lockout_on || !limited.is_empty()) {
        let counted = match (lockout_on, limited.is_empty()) {
            (true, true) => "the Basic lockout counts".to_string(),
            (true, false) => format!("the Basic lockout and the rate limits of {} count", limited.join(", ")),
            _ => format!("the rate limits of {} count", limited.join(", ")),
        };
        warn(
            "shared_state".into(),
            format!(
                "not set while builtin.database is shared: {counted} in each process alone, so N replicas give an \
                 attacker N times the password guesses and make each rate limit N times its rate; set \
                 shared_state.redis for them to count together"
            ),
        );
    }
    let builtin_routed = cfg.routes.iter().any(|r| r.enabled && r.upstream == "builtin");
    if shared_counters && builtin_routed && !on_postgres {
        warn(
            "builtin.database".into(),
            "a SQLite file while shared_state is set: the counters are shared but each replica has its own \
             workflows, tasks and SmartObject rows; use a postgres:// URL for them to share one database"
                .into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn diagnose_text(gateway: &str, users: &str) -> Vec<Warning> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("users.yaml"), users).unwrap();
        let path = dir.path().join("gateway.yaml");
        std::fs::write(&path, gateway).unwrap();
        let file = ConfigFile::load(Path::new(&path)).unwrap();
        diagnose(&file)
    }

    const WEAK: &str = "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$hZ9hBVmbzDxPZAaxkP8gqhvtDVfcgE/qpvHUJ4tI/Kg";

    #[test]
    fn warns_about_the_usual_mistakes() {
        let gateway = r#"
listeners: [{address: "127.0.0.1:1"}]
basic: {directory: users.yaml}
providers:
  - name: aad
    kind: aad
    issuer: "https://sts.windows.net/{tenantid}/"
    tenants: ["*"]
    audiences: ["https://api.k2.com"]
    jwks: {discovery: "https://login.microsoftonline.com/common/v2.0"}
routes:
  - {name: wf, prefix: /api, upstream: builtin}
  - {name: nobody, prefix: /x, upstream: builtin, auth: {methods: [basic], allowed_user_managers: [ad]}}
  - {name: lax, prefix: /y, upstream: builtin, auth: {allowed_user_managers: [ad, aad, sql]}}
"#;
        let users = format!("users:\n  - {{name: carol, user_manager: aad, mfa: true, password_hash: '{WEAK}'}}\n");
        let warnings = diagnose_text(gateway, &users);
        let text: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
        let has = |needle: &str| text.iter().any(|t| t.contains(needle));
        assert!(has("providers[0].audiences[0]"), "{text:#?}");
        assert!(has("providers[0].jwks"), "{text:#?}");
        assert!(has("providers[0].tenants"), "{text:#?}");
        assert!(has("users[0].password_hash"), "{text:#?}");
        assert!(has("routes[1] (nobody)"), "{text:#?}");
        assert!(has("every AAD user in the directory has MFA"), "{text:#?}");
        assert!(has("routes[2].auth.allowed_user_managers"), "{text:#?}");
    }

    #[test]
    fn an_ldap_backend_reaches_ad_routes_and_plain_ldap_is_flagged() {
        let gateway = r#"
listeners: [{address: "127.0.0.1:1"}]
basic: {directory: users.yaml, backend: {ldap: {url: "ldap://dc1", bind_dn: x, bind_password: y, base_dn: z}}}
routes:
  - {name: ad, prefix: /x, upstream: builtin, auth: {methods: [basic], allowed_user_managers: [ad]}}
"#;
        let text: Vec<String> = diagnose_text(gateway, "users: []\n")
            .iter()
            .map(|w| w.to_string())
            .collect();
        assert!(text.iter().any(|t| t.contains("basic.backend.ldap.url")), "{text:#?}");
        assert!(
            !text.iter().any(|t| t.contains("routes[0]")),
            "AD users reach it: {text:#?}"
        );
    }

    #[test]
    fn the_shipped_configuration_has_no_warnings() {
        let file = ConfigFile::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/gateway.yaml"))).unwrap();
        assert_eq!(diagnose(&file), Vec::new());
    }

    #[test]
    fn half_shared_replicas_are_warned_about() {
        let head = "listeners: [{address: \"127.0.0.1:1\"}]\nbasic: {directory: users.yaml}\n";
        let routes = "routes:\n  - {name: wf, prefix: /api, upstream: builtin, rate_limit: {per_user: {requests_per_second: 5, burst: 5}}}\n";
        let redis = "shared_state: {redis: {url: \"redis://127.0.0.1:1/0\"}}\n";
        let postgres = "builtin: {database: \"postgres://authgate@127.0.0.1:1/authgate\"}\n";
        let warnings = |extra: &str| -> Vec<String> {
            diagnose_text(&format!("{head}{extra}{routes}"), "users: []\n")
                .iter()
                .map(|w| w.to_string())
                .collect()
        };
        let about = |text: &[String], path: &str| text.iter().any(|t| t.starts_with(&format!("warning: {path}:")));

        let database_only = warnings(postgres);
        assert!(about(&database_only, "shared_state"), "{database_only:#?}");
        assert!(
            database_only
                .iter()
                .any(|t| t.contains("the Basic lockout and the rate limits of routes[0] (wf)")),
            "{database_only:#?}"
        );
        let counters_only = warnings(redis);
        assert!(about(&counters_only, "builtin.database"), "{counters_only:#?}");
        for quiet in [warnings(""), warnings(&format!("{redis}{postgres}"))] {
            assert!(
                !about(&quiet, "shared_state") && !about(&quiet, "builtin.database"),
                "{quiet:#?}"
            );
        }
    }
}
