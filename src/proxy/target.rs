//! From the request target to a route: checks `Host`, accepts origin-form and `http(s)` absolute-form
//! targets, normalises the path ([`authgate_core::http::path`]), picks the route by it and says what the upstream request
//! target becomes, so the route decision and the upstream see the same path.

use super::routes::{Route, RouteTable};
use authgate_core::auth::errors::ErrorResponse;
use authgate_core::http::path::{self, Features, PathError};
use http::{header::HOST, Version};
use pingora::http::RequestHeader;
use std::borrow::Cow;
use std::sync::Arc;

/// The route of a request and its upstream request target.
#[derive(Debug)]
pub struct Target {
    /// The route serving the normalised path.
    pub route: Arc<Route>,
    /// The origin-form target (normalised path, query byte for byte) to send upstream, when it differs from
    /// what the client sent; `None` leaves the request target untouched (the common case).
    pub upstream: Option<String>,
}

/// A refused request: the `decision` label for logs and metrics, and the answer.
#[derive(Debug)]
pub struct Refusal {
    /// `bad_request`, `invalid_path` or `no_route`.
    pub decision: &'static str,
    /// The response.
    pub error: ErrorResponse,
}

impl Refusal {
    fn bad_request(description: impl Into<String>) -> Self {
        Self {
            decision: "bad_request",
            error: ErrorResponse::plain(400, "bad_request", description),
        }
    }

    fn path(description: impl Into<String>) -> Self {
        Self {
            decision: "invalid_path",
            error: ErrorResponse::plain(400, "invalid_path", description),
        }
    }
}

impl From<PathError> for Refusal {
    fn from(e: PathError) -> Self {
        Self::path(e.to_string())
    }
}

/// Resolves the route of `req` in `routes`.
pub fn resolve(req: &RequestHeader, routes: &RouteTable) -> Result<Target, Refusal> {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400. HTTP/1.0 ones are forwarded as HTTP/1.1, which
    // needs one too. (pingora already refuses two Host fields and a Host that differs from an absolute-form
    // authority; HTTP/2 carries :authority instead.)
    if matches!(req.version, Version::HTTP_10 | Version::HTTP_11) && !req.headers.contains_key(HOST) {
        return Err(Refusal::bad_request(
            "the request has no Host header (HTTP/1.1 requires one, RFC 9112 section 3.2)",
        ));
    }
    if !req.raw_path_is_utf8() {
        return Err(Refusal::path(
            "the request target is not valid UTF-8; percent-encode it",
        ));
    }
    let raw = req.raw_path();
    let origin_form = raw.first() == Some(&b'/');
    if !origin_form && !is_http_url(raw) {
        return Err(Refusal::bad_request(
            "the request target must be a path ('/...') or an http(s) URL",
        ));
    }
    let normalized = path::normalize(req.uri.path())?;
    let view = path::routing_view(&normalized.path, normalized.features)?;
    let Some(route) = routes.find(&view) else {
        return Err(Refusal {
            decision: "no_route",
            error: ErrorResponse::plain(404, "not_found", "no route matches this path"),
        });
    };
    if normalized.features.any() {
        check_features(route, normalized.features)?;
        // A path that selects another route when read literally means two things: refuse it.
        if !routes
            .find(&normalized.path)
            .is_some_and(|literal| Arc::ptr_eq(literal, route))
        {
            return Err(Refusal::path(
                "the path selects a different route depending on whether %2F, %5C and ';' are read as \
                 separators",
            ));
        }
    }
    let upstream = match (&normalized.path, origin_form) {
        (Cow::Borrowed(_), true) => None,
        (path, _) => {
            let query = req.uri.query();
            let mut target = String::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1));
            target.push_str(path);
            if let Some(query) = query {
                target.push('?');
                target.push_str(query);
            }
            Some(target)
        }
    };
    Ok(Target {
        route: route.clone(),
        upstream,
    })
}

fn check_features(route: &Route, features: Features) -> Result<(), Refusal> {
    if features.encoded_slash && !route.path.allow_encoded_slash {
        return Err(Refusal::path(format!(
            "the path contains an encoded slash or backslash (%2F, %5C), which route '{}' does not accept",
            route.name
        )));
    }
    if features.semicolon && !route.path.allow_semicolon {
        return Err(Refusal::path(format!(
            "the path contains ';' (path parameters), which route '{}' does not accept; percent-encode it as %3B \
             if it is data",
            route.name
        )));
    }
    Ok(())
}

fn is_http_url(target: &[u8]) -> bool {
    let starts = |scheme: &[u8]| target.len() > scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme);
    starts(b"http://") || starts(b"https://")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::ratelimit::RouteLimits;
    use crate::proxy::routes::{normalize_prefix, PathPolicy, Upstream, UpstreamPeer};

    fn route(name: &str, prefix: &str, path: PathPolicy) -> Route {
        Route {
            name: name.into(),
            prefix: normalize_prefix(prefix),
            upstream: Upstream::Builtin("x.sock".into()),
            peer: UpstreamPeer::new(&Upstream::Builtin("x.sock".into()), &Default::default()).unwrap(),
            disabled: None,
            auth: None,
            forward: authgate_core::config::ForwardCredentials::None,
            path,
            limits: RouteLimits::default(),
            index: 0,
            assertion_audience: String::new(),
            outbound: None,
            metrics: Default::default(),
        }
    }

    fn table(routes: Vec<Route>) -> RouteTable {
        RouteTable::new(routes)
    }

    fn request(target: &[u8], host: Option<&str>, version: Version) -> RequestHeader {
        let mut req = RequestHeader::build("GET", target, None).unwrap();
        req.set_version(version);
        if let Some(host) = host {
            req.insert_header("host", host).unwrap();
        }
        req
    }

    fn get(t: &RouteTable, target: &str) -> Result<(String, Option<String>), (u16, String)> {
        resolve(&request(target.as_bytes(), Some("h"), Version::HTTP_11), t)
            .map(|r| (r.route.name.clone(), r.upstream))
            .map_err(|r| (r.error.status, r.error.description))
    }

    fn standard() -> RouteTable {
        table(vec![
            route("public", "/public", PathPolicy::default()),
            route("api", "/api", PathPolicy::default()),
            route("root", "/", PathPolicy::default()),
        ])
    }

    #[test]
    fn plain_paths_route_without_rewriting() {
        let t = standard();
        assert_eq!(get(&t, "/api/x?a=%2e%2e&b"), Ok(("api".into(), None)));
        assert_eq!(get(&t, "/public/x"), Ok(("public".into(), None)));
        assert_eq!(get(&t, "/API/x"), Ok(("api".into(), None)));
    }

    #[test]
    fn tricks_route_by_the_normalised_path_and_forward_it() {
        let t = standard();
        for (target, forwarded) in [
            ("/public/../api/x", "/api/x"),
            ("/public/%2e%2e/api/x", "/api/x"),
            ("//api/x", "/api/x"),
            ("/%61pi/x", "/api/x"),
            ("/./api/x", "/api/x"),
            ("/public/x/../../api/x?q=%2e%2E;x", "/api/x?q=%2e%2E;x"),
        ] {
            assert_eq!(get(&t, target), Ok(("api".into(), Some(forwarded.into()))), "{target}");
        }
    }

    #[test]
    fn encoded_slashes_and_semicolons_need_the_route_to_opt_in() {
        let t = standard();
        for target in [
            "/api%2fx",
            "/public/..%2fapi/x",
            "/public/..;/api/x",
            "/api;v=1/x",
            "/a%5Cb",
        ] {
            assert_eq!(get(&t, target).map_err(|e| e.0), Err(400), "{target}");
        }
        let open = PathPolicy {
            allow_encoded_slash: true,
            allow_semicolon: true,
        };
        let t = table(vec![
            route("api", "/api", PathPolicy::default()),
            route("files", "/files", open),
            route("root", "/", open),
        ]);
        assert_eq!(
            get(&t, "/files/a%2fb;v=1"),
            Ok(("files".into(), Some("/files/a%2Fb;v=1".into())))
        );
        assert_eq!(get(&t, "/files/a%2Fb"), Ok(("files".into(), None)));
        // The root route accepts %2F, but the path reads as /api/x once %2F is a separator.
        let (status, description) = get(&t, "/api%2fx").unwrap_err();
        assert_eq!(status, 400);
        assert!(description.contains("route 'api'"), "{description}");
        assert_eq!(get(&t, "/%2Fapi/x").unwrap_err().0, 400);
        // A route opting in still never lets a dot segment hide behind %2F or ';'.
        assert_eq!(get(&t, "/files/..%2f..%2fapi/x").unwrap_err().0, 400);
        assert_eq!(get(&t, "/files/..;/x").unwrap_err().0, 400);
        // Two readings, two routes: refused even though both accept the features.
        let t = table(vec![route("a", "/a", open), route("ab", "/a/b", open)]);
        let (status, description) = get(&t, "/a%2Fb/x").unwrap_err();
        assert_eq!(status, 400);
        assert!(description.contains("different route"), "{description}");
    }

    #[test]
    fn absolute_form_is_normalised_and_sent_in_origin_form() {
        let t = standard();
        assert_eq!(
            get(&t, "http://h/public/../api/x?y=1"),
            Ok(("api".into(), Some("/api/x?y=1".into())))
        );
        assert_eq!(
            get(&t, "HTTPS://h/public/x"),
            Ok(("public".into(), Some("/public/x".into())))
        );
        assert_eq!(get(&t, "http://h"), Ok(("root".into(), Some("/".into()))));
        for target in ["ftp://h/api/x", "*", "h:80", "urn:x"] {
            assert_eq!(get(&t, target).map_err(|e| e.0), Err(400), "{target}");
        }
    }

    #[test]
    fn host_is_required_for_http_1() {
        let t = standard();
        for version in [Version::HTTP_11, Version::HTTP_10] {
            let refused = resolve(&request(b"/api/x", None, version), &t).unwrap_err();
            assert_eq!(refused.error.status, 400);
            assert!(
                refused.error.description.contains("Host"),
                "{}",
                refused.error.description
            );
        }
    }

    #[test]
    fn refusals_name_the_problem_and_unknown_paths_are_404() {
        let t = table(vec![route("api", "/api", PathPolicy::default())]);
        assert_eq!(get(&t, "/other").unwrap_err().0, 404);
        assert_eq!(get(&t, "/api/../other").unwrap_err().0, 404);
        let (status, description) = get(&t, "/api/%00").unwrap_err();
        assert_eq!(status, 400);
        assert!(description.contains("control"), "{description}");
        assert_eq!(get(&t, "/api/../../x").unwrap_err().0, 400);
        assert_eq!(get(&t, "/api/a%zz").unwrap_err().0, 400);
    }
}
