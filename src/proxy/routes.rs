//! The route table: path prefix -> upstream and auth policy. Longest prefix wins; prefixes match on path
//! segment boundaries, case-insensitively (`/api/workflow/v1` matches `/API/Workflow/v1/tasks`, not
//! `/api/workflow/v10`). Paths are matched after normalisation ([`super::target`]).

use super::ratelimit::RouteLimits;
use super::route_metrics::RouteMetrics;
use authgate_core::auth::RoutePolicy;
use authgate_core::config::{ForwardCredentials, UpstreamTimeoutsConfig};
use pingora::upstreams::peer::{HttpPeer, Peer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where a route forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// The built-in APIs on the process's unix socket.
    Builtin(PathBuf),
    /// An external HTTP server; `tls` holds the SNI name when TLS is used.
    Http {
        /// Resolved address.
        address: SocketAddr,
        /// `host:port` as configured, for logs.
        display: String,
        /// SNI / certificate name when TLS to the upstream is on.
        tls: Option<String>,
    },
}

impl Upstream {
    /// A pingora peer for this upstream with `timeouts`.
    fn peer(&self, timeouts: &UpstreamTimeoutsConfig) -> pingora::Result<HttpPeer> {
        let mut peer = match self {
            Self::Builtin(path) => HttpPeer::new_uds(&path.to_string_lossy(), false, String::new())?,
            Self::Http { address, tls, .. } => HttpPeer::new(*address, tls.is_some(), tls.clone().unwrap_or_default()),
        };
        let ms = Duration::from_millis;
        peer.options.connection_timeout = Some(ms(timeouts.connect_ms));
        peer.options.total_connection_timeout = Some(ms(timeouts.connect_ms));
        peer.options.read_timeout = Some(ms(timeouts.read_ms));
        peer.options.write_timeout = Some(ms(timeouts.write_ms));
        Ok(peer)
    }

    /// For logs and `authgate check`.
    pub fn describe(&self) -> String {
        match self {
            Self::Builtin(path) => format!("builtin ({})", path.display()),
            Self::Http { display, tls: None, .. } => format!("http://{display}"),
            Self::Http {
                display, tls: Some(_), ..
            } => format!("https://{display}"),
        }
    }
}

/// A route's upstream as pingora's peer, built once with the route's timeouts, and the key of its idle
/// connections (pingora's `reuse_hash`, a hash of every field of the peer, computed once here instead of on
/// every take and release).
#[derive(Clone)]
pub struct UpstreamPeer {
    peer: HttpPeer,
    key: u64,
}

impl UpstreamPeer {
    /// The peer of `upstream` with `timeouts`.
    pub fn new(upstream: &Upstream, timeouts: &UpstreamTimeoutsConfig) -> pingora::Result<Self> {
        let peer = upstream.peer(timeouts)?;
        let key = peer.reuse_hash();
        Ok(Self { peer, key })
    }

    /// The peer.
    pub fn peer(&self) -> &HttpPeer {
        &self.peer
    }

    /// What identifies its connections in a pool.
    pub fn key(&self) -> u64 {
        self.key
    }
}

impl std::fmt::Debug for UpstreamPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UpstreamPeer({})", self.peer)
    }
}

/// A switched-off route's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disabled {
    /// 404 or 503.
    pub status: u16,
    /// Explanation for the body.
    pub message: String,
}

/// Which request paths out of the ordinary a route accepts (see [`authgate_core::http::path`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathPolicy {
    /// `%2F` and `%5C` in the path.
    pub allow_encoded_slash: bool,
    /// `;` path parameters.
    pub allow_semicolon: bool,
}

/// One route.
#[derive(Debug)]
pub struct Route {
    /// Name for logs and metrics.
    pub name: String,
    /// Lower-case prefix without trailing slash (`""` for the root route).
    pub prefix: String,
    /// Where requests go.
    pub upstream: Upstream,
    /// Its peer, with the route's timeouts.
    pub peer: UpstreamPeer,
    /// `Some` when the route is switched off.
    pub disabled: Option<Disabled>,
    /// `None` when authentication is off on this route.
    pub auth: Option<RoutePolicy>,
    /// What is forwarded of `Authorization` (on every route, authenticated or not).
    pub forward: ForwardCredentials,
    /// Which unusual paths the route accepts.
    pub path: PathPolicy,
    /// Rate limits.
    pub limits: RouteLimits,
    /// Position in the configuration (keys per-route caches).
    pub index: usize,
    /// `aud` of identity assertions for this route.
    pub assertion_audience: String,
    /// The OAuth resource whose user token replaces the client's credentials upstream, if any.
    pub outbound: Option<OutboundResource>,
    /// Its request metrics, resolved on first use (`RouteMetrics::default()`).
    pub metrics: RouteMetrics,
}

/// A route's outbound OAuth resource: the user's token for it is sent upstream as `Authorization: Bearer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResource {
    /// The resource's name as the catalog spells it.
    pub resource: String,
    /// Its grant kind, as the metrics label it (`on_behalf_of`...).
    pub kind: &'static str,
}

/// Routes ordered by prefix length, longest first.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Arc<Route>>,
    /// Whether every route's upstream can take the bodyless fast path ([`super::direct::eligible_peer`]).
    direct: bool,
}

/// Normalises a configured prefix: lower case, leading `/`, no trailing `/`.
pub fn normalize_prefix(prefix: &str) -> String {
    prefix.trim().trim_end_matches('/').to_ascii_lowercase()
}

impl RouteTable {
    /// Builds the table.
    pub fn new(mut routes: Vec<Route>) -> Self {
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Self {
            direct: routes.iter().all(|r| super::direct::eligible_peer(r.peer.peer())),
            routes: routes.into_iter().map(Arc::new).collect(),
        }
    }

    /// Whether every route's upstream can take the bodyless fast path (then a request eligible on its own
    /// takes it whichever route it finds).
    pub fn direct(&self) -> bool {
        self.direct
    }

    /// The route serving `path`.
    pub fn find(&self, path: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| prefix_matches(&r.prefix, path))
    }

    /// All routes, longest prefix first.
    pub fn routes(&self) -> &[Arc<Route>] {
        &self.routes
    }
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix.is_empty() {
        return true;
    }
    let bytes = path.as_bytes();
    bytes.len() >= prefix.len()
        && bytes[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        && (bytes.len() == prefix.len() || bytes[prefix.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, prefix: &str) -> Route {
        Route {
            name: name.into(),
            prefix: normalize_prefix(prefix),
            upstream: Upstream::Builtin("x.sock".into()),
            peer: UpstreamPeer::new(&Upstream::Builtin("x.sock".into()), &Default::default()).unwrap(),
            disabled: None,
            auth: None,
            forward: ForwardCredentials::None,
            path: PathPolicy::default(),
            limits: RouteLimits::default(),
            index: 0,
            assertion_audience: String::new(),
            outbound: None,
            metrics: RouteMetrics::default(),
        }
    }

    #[test]
    fn longest_prefix_on_segment_boundaries_case_insensitive() {
        let t = RouteTable::new(vec![
            route("root", "/"),
            route("wf", "/api/workflow/v1/"),
            route("api", "/api"),
        ]);
        let name = |p: &str| t.find(p).map(|r| r.name.clone());
        assert_eq!(name("/API/Workflow/V1/tasks").as_deref(), Some("wf"));
        assert_eq!(name("/api/workflow/v1").as_deref(), Some("wf"));
        assert_eq!(name("/api/workflow/v10").as_deref(), Some("api"));
        assert_eq!(name("/apix").as_deref(), Some("root"));
        let no_root = RouteTable::new(vec![route("api", "/api")]);
        assert!(no_root.find("/other").is_none());
        assert!(no_root.find("/ap").is_none());
    }

    #[test]
    fn a_table_takes_the_fast_path_only_when_every_upstream_can() {
        let http = |tls: Option<&str>| {
            let upstream = Upstream::Http {
                address: "127.0.0.1:8080".parse().unwrap(),
                display: "127.0.0.1:8080".into(),
                tls: tls.map(str::to_string),
            };
            Route {
                peer: UpstreamPeer::new(&upstream, &Default::default()).unwrap(),
                upstream,
                ..route("http", "/http")
            }
        };
        assert!(RouteTable::new(vec![route("builtin", "/"), http(None)]).direct());
        assert!(!RouteTable::new(vec![route("builtin", "/"), http(Some("example.test"))]).direct());
    }
}
