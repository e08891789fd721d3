//! `routes`: the route table, every rule reported with its field path.

use super::Issues;
use crate::proxy::ratelimit::{RateLimiter, RouteLimits};
use crate::proxy::routes::{
    normalize_prefix, Disabled, OutboundResource, PathPolicy, Route, RouteTable, Upstream, UpstreamPeer,
};
use authgate_apis::outbound::refusal::kind_label;
use authgate_apis::outbound::resource::Catalog;
use authgate_core::auth::RoutePolicy;
use authgate_core::config::{AuthMode, ConfigIssue, RouteConfig};
use authgate_core::http::path::is_plain_prefix;
use authgate_core::identity::UserManager;
use authgate_core::shared::SharedCounters;
use std::collections::{HashMap, HashSet};
use std::net::ToSocketAddrs;
use std::sync::Arc;

/// What building routes needs besides their own configuration.
pub struct RouteContext<'a> {
    /// Provider index by name (`auth.providers`).
    pub providers: &'a HashMap<String, usize>,
    /// The built-in API socket (`upstream: builtin`).
    pub builtin_socket: &'a std::path::Path,
    /// `basic.enabled` (a route accepting Basic needs it).
    pub basic_enabled: bool,
    /// The counters shared by replicas, if configured (rate limits count there).
    pub shared: Option<&'a Arc<dyn SharedCounters>>,
    /// The outbound OAuth resources (`oauth:`), if configured (`outbound.oauth_resource` names one).
    pub oauth: Option<&'a Catalog>,
}

impl RouteTable {
    /// The table of `routes`, or every issue found in them: names and prefixes are unique, and each route's
    /// own rules hold.
    pub fn from_config(routes: &[RouteConfig], ctx: &RouteContext<'_>) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Issues::default();
        let mut built = Vec::new();
        let mut names = HashSet::new();
        for (i, r) in routes.iter().enumerate() {
            if !names.insert(r.name.clone()) {
                issues.add(
                    format!("routes[{i}].name"),
                    format!("duplicate route name '{}'", r.name),
                );
            }
            if let Some(route) = build(r, i, ctx, &mut issues) {
                built.push(route);
            }
        }
        let mut prefixes = HashSet::new();
        for r in &built {
            if !prefixes.insert(r.prefix.clone()) {
                issues.add(
                    format!("routes[{}].prefix", r.index),
                    format!("prefix '{}' is used by another route", r.prefix),
                );
            }
        }
        issues.into_result(RouteTable::new(built))
    }
}

fn build(r: &RouteConfig, i: usize, ctx: &RouteContext<'_>, issues: &mut Issues) -> Option<Route> {
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
        Some(Upstream::Builtin(ctx.builtin_socket.to_path_buf()))
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
            if basic && !ctx.basic_enabled {
                issues.add(path("auth.methods"), "accepts basic, but basic.enabled is false");
            }
            let providers = r.auth.providers.as_ref().map(|names| {
                names
                    .iter()
                    .enumerate()
                    .filter_map(|(j, n)| {
                        let index = ctx.providers.get(n).copied();
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
    let outbound = r.outbound.as_ref().and_then(|o| {
        let at = path("outbound.oauth_resource");
        let Some(catalog) = ctx.oauth else {
            issues.add(at, "no `oauth:` section is configured, so there are no OAuth resources");
            return None;
        };
        let Some(resource) = catalog.resource(&o.oauth_resource) else {
            let known: Vec<&str> = catalog.resources.iter().map(|r| r.name.as_str()).collect();
            issues.add(
                at,
                format!(
                    "no OAuth resource named '{}' (known: {})",
                    o.oauth_resource,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
            return None;
        };
        if auth.is_none() {
            issues.add(
                path("outbound"),
                "the token sent upstream is the authenticated user's: the route needs auth.mode: required",
            );
        }
        Some(OutboundResource {
            resource: resource.name.clone(),
            kind: kind_label(catalog.type_of(resource).map(|t| t.kind).unwrap_or_default()),
        })
    });
    let timeouts = &r.upstream_timeouts;
    for (field, ms) in [
        ("connect_ms", timeouts.connect_ms),
        ("read_ms", timeouts.read_ms),
        ("write_ms", timeouts.write_ms),
    ] {
        if ms == 0 {
            issues.add(
                path(&format!("upstream_timeouts.{field}")),
                "must be at least 1 (milliseconds)",
            );
        }
    }
    let peer = upstream.as_ref().and_then(|u| match UpstreamPeer::new(u, timeouts) {
        Ok(peer) => Some(peer),
        Err(e) => {
            issues.add(path("upstream"), format!("cannot be used as an upstream: {e}"));
            None
        }
    });
    if issues.0.len() > before {
        return None;
    }
    Some(Route {
        name: r.name.clone(),
        prefix: normalize_prefix(&r.prefix),
        upstream: upstream?,
        peer: peer?,
        disabled,
        auth,
        forward: r.auth.forward_credentials,
        path: PathPolicy {
            allow_encoded_slash: r.path.allow_encoded_slash,
            allow_semicolon: r.path.allow_semicolon,
        },
        limits: RouteLimits {
            per_ip: r
                .rate_limit
                .per_ip
                .as_ref()
                .map(|c| rate_limiter(c, ctx.shared, &r.name, "ip")),
            per_user: r
                .rate_limit
                .per_user
                .as_ref()
                .map(|c| rate_limiter(c, ctx.shared, &r.name, "user")),
        },
        index: i,
        assertion_audience: r.assertion_audience.clone().unwrap_or_else(|| r.upstream.clone()),
        outbound,
        metrics: Default::default(),
    })
}

/// The limiter of a `rate_limit.per_ip` / `per_user` setting (`kind` `ip` / `user`) of route `route`, its
/// buckets shared by replicas when `shared` is configured.
fn rate_limiter(
    cfg: &authgate_core::config::RateConfig,
    shared: Option<&Arc<dyn SharedCounters>>,
    route: &str,
    kind: &str,
) -> RateLimiter {
    let limiter = RateLimiter::new(cfg.requests_per_second, cfg.burst);
    match shared {
        Some(shared) => limiter.shared(shared.clone(), format!("{route}:{kind}")),
        None => limiter,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn build_table(yaml: &str, basic_enabled: bool) -> Result<RouteTable, Vec<ConfigIssue>> {
        build_table_with(yaml, basic_enabled, None)
    }

    fn build_table_with(
        yaml: &str,
        basic_enabled: bool,
        oauth: Option<&Catalog>,
    ) -> Result<RouteTable, Vec<ConfigIssue>> {
        let routes: Vec<RouteConfig> =
            authgate_core::config::parse_yaml(Path::new("gateway.yaml"), yaml, |_| None).unwrap();
        let providers = HashMap::from([("corp".to_string(), 0)]);
        let ctx = RouteContext {
            providers: &providers,
            builtin_socket: Path::new("/run/authgate/api.sock"),
            basic_enabled,
            shared: None,
            oauth,
        };
        RouteTable::from_config(&routes, &ctx)
    }

    fn obo_catalog() -> Catalog {
        fn parse<T: serde::de::DeserializeOwned>(text: &str) -> T {
            authgate_core::config::parse_yaml(Path::new("x.yaml"), text, |_| None).unwrap()
        }
        Catalog::build(
            vec![(
                "t.yaml".into(),
                parse("name: OBO\nkind: on_behalf_of\nparameters:\n  - {name: scope, stages: [token]}\n"),
            )],
            vec![(
                "r.yaml".into(),
                parse("name: Downstream API\ntype: OBO\ntoken_endpoint: https://idp.example/token\n"),
            )],
        )
        .unwrap()
    }

    #[test]
    fn an_outbound_resource_must_exist_and_the_route_must_authenticate() {
        let catalog = obo_catalog();
        let table = build_table_with(
            "[{name: a, prefix: /a, upstream: builtin, outbound: {oauth_resource: downstream api}}]",
            true,
            Some(&catalog),
        )
        .unwrap();
        assert_eq!(
            table.routes()[0].outbound.as_ref().map(|o| o.resource.as_str()),
            Some("Downstream API"),
            "named as the catalog spells it"
        );
        let messages = |yaml: &str, oauth| crate::gateway::test_support::messages(build_table_with(yaml, true, oauth));
        assert_eq!(
            messages(
                "[{name: a, prefix: /a, upstream: builtin, outbound: {oauth_resource: Nope}}]",
                Some(&catalog)
            ),
            ["routes[0].outbound.oauth_resource: no OAuth resource named 'Nope' (known: Downstream API)"]
        );
        assert_eq!(
            messages(
                "[{name: a, prefix: /a, upstream: builtin, outbound: {oauth_resource: X}}]",
                None
            ),
            ["routes[0].outbound.oauth_resource: no `oauth:` section is configured, so there are no OAuth resources"]
        );
        assert_eq!(
            messages(
                "[{name: a, prefix: /a, upstream: builtin, auth: {mode: off}, outbound: {oauth_resource: downstream api}}]",
                Some(&catalog)
            ),
            ["routes[0].outbound: the token sent upstream is the authenticated user's: the route needs auth.mode: required"]
        );
    }

    fn issues(yaml: &str) -> Vec<String> {
        crate::gateway::test_support::messages(build_table(yaml, true))
    }

    #[test]
    fn valid_routes_build_in_order_with_normalised_prefixes() {
        let table = build_table(
            "[{name: api, prefix: /API/, upstream: builtin}, {name: ext, prefix: /ext, upstream: '127.0.0.1:8080', \
              auth: {providers: [corp]}}]",
            true,
        )
        .unwrap();
        let names: Vec<&str> = table.routes().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"api") && names.contains(&"ext"));
    }

    #[test]
    fn names_and_prefixes_are_unique() {
        assert_eq!(
            issues("[{name: a, prefix: /a, upstream: builtin}, {name: a, prefix: /b, upstream: builtin}]"),
            ["routes[1].name: duplicate route name 'a'"]
        );
        assert_eq!(
            issues("[{name: a, prefix: /a, upstream: builtin}, {name: b, prefix: /a/, upstream: builtin}]"),
            ["routes[1].prefix: prefix '/a' is used by another route"]
        );
    }

    /// The duplicate-prefix issue names the route's own index even when a route before it failed (it named
    /// its position among the routes that built).
    #[test]
    fn a_duplicate_prefix_names_the_configured_route() {
        let found = issues(
            "[{name: x, prefix: nope, upstream: builtin}, {name: a, prefix: /a, upstream: builtin}, \
              {name: b, prefix: /a, upstream: builtin}]",
        );
        assert!(
            found.contains(&"routes[2].prefix: prefix '/a' is used by another route".to_string()),
            "{found:#?}"
        );
    }

    #[test]
    fn prefixes_start_with_a_slash_and_are_plain() {
        assert_eq!(
            issues("[{name: a, prefix: api, upstream: builtin}]"),
            ["routes[0].prefix: 'api' must start with '/'"]
        );
        for prefix in ["/public/../api", "/api%2f", "/a;b", "/a//b"] {
            let found = issues(&format!("[{{name: a, prefix: '{prefix}', upstream: builtin}}]"));
            assert_eq!(found.len(), 1, "{prefix}: {found:?}");
            assert!(
                found[0].starts_with(&format!("routes[0].prefix: '{prefix}' must be a plain path")),
                "{found:?}"
            );
        }
    }

    #[test]
    fn upstreams_are_builtin_without_tls_or_resolvable() {
        assert_eq!(
            issues("[{name: a, prefix: /a, upstream: builtin, upstream_tls: {}}]"),
            ["routes[0].upstream_tls: the built-in upstream is a local socket; TLS does not apply"]
        );
        assert_eq!(
            issues("[{name: a, prefix: /a, upstream: 'no port'}]"),
            ["routes[0].upstream: 'no port' is neither 'builtin' nor a resolvable host:port"]
        );
    }

    #[test]
    fn rate_limits_and_disabled_status_are_checked() {
        assert_eq!(
            issues(
                "[{name: a, prefix: /a, upstream: builtin, disabled: {status: 500, message: x}, \
                  rate_limit: {per_ip: {requests_per_second: 0, burst: 0}, per_user: {requests_per_second: .nan, burst: 1}}}]"
            ),
            [
                "routes[0].rate_limit.per_ip.requests_per_second: must be a positive number",
                "routes[0].rate_limit.per_ip.burst: must be at least 1",
                "routes[0].rate_limit.per_user.requests_per_second: must be a positive number",
                "routes[0].disabled.status: must be 404 or 503",
            ]
        );
    }

    #[test]
    fn upstream_timeouts_default_are_set_on_the_peer_and_must_be_positive() {
        let table = build_table(
            "[{name: a, prefix: /a, upstream: builtin}, \
              {name: b, prefix: /b, upstream: '127.0.0.1:1', upstream_timeouts: {read_ms: 250}}]",
            true,
        )
        .unwrap();
        let options = |name: &str| {
            let route = table.routes().iter().find(|r| r.name == name).unwrap();
            let o = &route.peer.peer().options;
            (o.connection_timeout, o.read_timeout, o.write_timeout)
        };
        let ms = std::time::Duration::from_millis;
        assert_eq!(options("a"), (Some(ms(5_000)), Some(ms(60_000)), Some(ms(60_000))));
        assert_eq!(options("b"), (Some(ms(5_000)), Some(ms(250)), Some(ms(60_000))));
        assert_eq!(
            issues("[{name: a, prefix: /a, upstream: builtin, upstream_timeouts: {connect_ms: 0, write_ms: 0}}]"),
            [
                "routes[0].upstream_timeouts.connect_ms: must be at least 1 (milliseconds)",
                "routes[0].upstream_timeouts.write_ms: must be at least 1 (milliseconds)",
            ]
        );
        let unknown = authgate_core::config::parse_yaml::<Vec<RouteConfig>>(
            Path::new("gateway.yaml"),
            "[{name: a, prefix: /a, upstream: builtin, upstream_timeouts: {read: 1}}]",
            |_| None,
        );
        assert!(format!("{:?}", unknown.err()).contains("unknown field `read`"));
    }

    #[test]
    fn auth_methods_providers_and_user_managers_are_checked() {
        assert_eq!(
            issues("[{name: a, prefix: /a, upstream: builtin, auth: {methods: [kerberos], providers: [other], allowed_user_managers: []}}]"),
            [
                "routes[0].auth.methods[0]: unknown method 'kerberos'; use basic or bearer",
                "routes[0].auth.methods: list at least one of basic, bearer (or set auth.mode: off)",
                "routes[0].auth.providers[0]: no provider named 'other'",
                "routes[0].auth.allowed_user_managers: list at least one user manager (the platform allows ad, aad)",
            ]
        );
        let without_basic = build_table(
            "[{name: a, prefix: /a, upstream: builtin, auth: {methods: [basic]}}]",
            false,
        );
        let found: Vec<String> = without_basic
            .err()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            ["routes[0].auth.methods: accepts basic, but basic.enabled is false"]
        );
        assert!(issues("[{name: a, prefix: /a, upstream: builtin, auth: {mode: off, methods: []}}]").is_empty());
    }
}
