//! `providers`: the bearer token issuers, with their key stores (reused across reloads when unchanged).

use super::Issues;
use authgate_core::auth::audience::AudiencePolicy;
use authgate_core::auth::bearer::{Provider, UserClaim};
use authgate_core::auth::issuer::IssuerPolicy;
use authgate_core::auth::jwks::{KeySource, KeyStore, RefreshPolicy};
use authgate_core::auth::jwt::{AlgorithmSet, JwsAlgorithm};
use authgate_core::config::{ConfigFile, ConfigIssue, ProviderConfig, ProviderKind};
use authgate_core::identity::{FqnFormats, UserManager};
use authgate_core::metrics::Metrics;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Provider index by name (the last of duplicates; duplicates are an issue of [`from_config`]).
pub fn names(providers: &[ProviderConfig]) -> HashMap<String, usize> {
    providers.iter().enumerate().map(|(i, p)| (p.name.clone(), i)).collect()
}

/// The providers of `providers`, or every issue found in them.
pub fn from_config(
    providers: &[ProviderConfig],
    ctx: &ProviderContext<'_>,
) -> Result<Vec<Arc<Provider>>, Vec<ConfigIssue>> {
    let mut issues = Issues::default();
    let mut built = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, p) in providers.iter().enumerate() {
        if !seen.insert(p.name.as_str()) {
            issues.add(
                format!("providers[{i}].name"),
                format!("duplicate provider name '{}'", p.name),
            );
        }
        if let Some(provider) = build(ctx, p, i, &mut issues) {
            built.push(Arc::new(provider));
        }
    }
    issues.into_result(built)
}

/// What building a provider needs besides its own configuration.
pub struct ProviderContext<'a> {
    /// The configuration file (JWKS files are relative to it).
    pub file: &'a ConfigFile,
    /// FQN formats by user manager.
    pub fqn: &'a FqnFormats,
    /// The HTTP client of the key stores.
    pub client: &'a reqwest::Client,
    /// Metrics the key stores record into.
    pub metrics: &'a Arc<Metrics>,
    /// Key stores of the running configuration, reused when their source and policy are unchanged.
    pub previous_stores: &'a [Arc<KeyStore>],
}

fn build(ctx: &ProviderContext<'_>, p: &ProviderConfig, i: usize, issues: &mut Issues) -> Option<Provider> {
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
        authgate_core::config::JwksSourceConfig::Url(u) | authgate_core::config::JwksSourceConfig::Discovery(u)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::test_support::{config_file, messages};
    use std::path::Path;

    fn issues(yaml: &str) -> Vec<String> {
        let providers: Vec<ProviderConfig> =
            authgate_core::config::parse_yaml(Path::new("gateway.yaml"), yaml, |_| None).unwrap();
        let file = config_file(Path::new("/etc/authgate/gateway.yaml"), "listeners: []\nroutes: []\n");
        let ctx = ProviderContext {
            file: &file,
            fqn: &FqnFormats::default(),
            client: &reqwest::Client::new(),
            metrics: &Arc::new(Metrics::new()),
            previous_stores: &[],
        };
        messages(from_config(&providers, &ctx))
    }

    const GOOD: &str = "{name: corp, issuer: 'https://idp.example/', audiences: ['https://api.k2.com/'], \
                        jwks: {url: 'https://idp.example/keys'}, user_manager: aad}";

    #[test]
    fn a_valid_provider_builds() {
        assert!(issues(&format!("[{GOOD}]")).is_empty());
    }

    #[test]
    fn duplicate_names_are_refused() {
        assert_eq!(
            issues(&format!("[{GOOD}, {GOOD}]")),
            ["providers[1].name: duplicate provider name 'corp'"]
        );
    }

    #[test]
    fn each_field_rule_names_its_path() {
        let found = issues(
            "[{name: p, kind: oidc, issuer: 'https://idp/', tenants: [t], audiences: [' '], jwks: {url: 'ftp://x'}, \
              algorithms: [HS256], user_claims: [shoe_size], refresh_interval_seconds: 0, fetch_timeout_seconds: 0}]",
        );
        for expected in [
            "providers[0].tenants: only providers with kind: aad take a tenant allow-list",
            "providers[0].audiences: list at least one non-empty audience",
            "providers[0].algorithms[0]: 'HS256' is not supported",
            "providers[0].algorithms: allow at least one algorithm",
            "providers[0].user_manager: say which user manager",
            "providers[0].user_claims[0]: unknown claim 'shoe_size'",
            "providers[0].jwks: 'ftp://x' is not an http(s) URL",
            "providers[0].refresh_interval_seconds: must be at least 1",
            "providers[0].fetch_timeout_seconds: must be at least 1",
        ] {
            assert!(
                found.iter().any(|f| f.starts_with(expected)),
                "missing {expected:?} in {found:#?}"
            );
        }
        assert_eq!(found.len(), 9, "{found:#?}");
    }
}
