//! Route bypass by path tricks (issue 13, item 1), through the real gateway in front of a real nginx: every
//! request is either refused with 400 or routed by its normalised path, which is also the path nginx
//! receives. nginx answers `/api/x`, `/internal/x` and `/public/x` with bodies naming them and the request
//! target it saw; nothing but an authenticated request may ever get the `/api/x` or `/internal/x` body.

use crate::servers;
use crate::support;

use servers::nginx::Nginx;
use support::raw::{self, RawResponse};
use support::{base_config, Gateway};

/// alice's Basic credentials (`alice:alice-pw`).
const ALICE: &str = "Authorization: Basic YWxpY2U6YWxpY2UtcHc=";

fn locations() -> String {
    let echo = |name: &str| {
        format!(
            "    location = /{name} {{ return 200 \"nginx {name} uri=$request_uri auth=$http_authorization \
             user=$http_x_authgate_user xff=$http_x_forwarded_for\\n\"; }}\n"
        )
    };
    format!(
        "{}{}{}    location / {{ return 404 \"nginx 404 uri=$request_uri\\n\"; }}",
        echo("api/x"),
        echo("internal/x"),
        echo("public/x")
    )
}

/// `{prefix: /public, auth: off}`, `{prefix: /api}` (auth required), `{prefix: /internal, enabled: false}`.
fn prefixed_routes(nginx: &Nginx) -> String {
    let up = nginx.address();
    format!(
        "{}routes:\n  - {{name: public, prefix: /public, upstream: \"{up}\", auth: {{mode: off}}}}\n  \
         - {{name: api, prefix: /api, upstream: \"{up}\"}}\n  \
         - {{name: internal, prefix: /internal, upstream: \"{up}\", enabled: false}}\n",
        base_config()
    )
}

/// A root route `{prefix: /, auth: off}` and `{prefix: /api}` (auth required).
fn root_routes(nginx: &Nginx) -> String {
    let up = nginx.address();
    format!(
        "{}routes:\n  - {{name: root, prefix: /, upstream: \"{up}\", auth: {{mode: off}}}}\n  \
         - {{name: api, prefix: /api, upstream: \"{up}\"}}\n",
        base_config()
    )
}

/// What a request must get.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Refused by the gateway with 400 (a JSON error, nginx not involved).
    Refused,
    /// Routed to `/api`: 401 without credentials.
    NeedsCredentials,
    /// The switched-off `/internal` route's 404.
    SwitchedOff,
    /// nginx's body for this location, having received exactly this request target.
    Served(&'static str, &'static str),
}

fn check(case: &str, response: &RawResponse, expect: Expect, with_credentials: bool) {
    let body = &response.body;
    if !with_credentials {
        assert!(
            !body.contains("nginx api/x") && !body.contains("nginx internal/x"),
            "{case}: served a protected body without credentials: {} {body}",
            response.status
        );
    }
    assert!(
        !body.contains("nginx internal/x"),
        "{case}: served the switched-off route: {body}"
    );
    match expect {
        Expect::Refused => {
            assert_eq!(response.status, 400, "{case}: {body}");
            assert!(body.contains("\"error\":\"invalid_path\""), "{case}: {body}");
        }
        Expect::NeedsCredentials => {
            assert_eq!(response.status, 401, "{case}: {body}");
            assert!(body.contains("\"error\":\"unauthorized\""), "{case}: {body}");
        }
        Expect::SwitchedOff => {
            assert_eq!(response.status, 404, "{case}: {body}");
            assert!(body.contains("api_disabled"), "{case}: {body}");
        }
        Expect::Served(location, target) => {
            assert_eq!(response.status, 200, "{case}: {body}");
            assert!(
                body.starts_with(&format!("nginx {location} uri={target} ")),
                "{case}: expected nginx {location} with target {target}: {body}"
            );
        }
    }
}

async fn run(port: u16, cases: &[(&str, Expect)], headers: &[&str]) {
    for (target, expect) in cases {
        let response = raw::get(port, target, headers).await;
        check(
            &format!("GET {target} {headers:?}"),
            &response,
            *expect,
            !headers.is_empty(),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_never_reach_a_protected_or_switched_off_location() {
    use Expect::*;
    let nginx = Nginx::start(&locations()).await;
    let gw = Gateway::start(&prefixed_routes(&nginx)).await;
    let cases: &[(&str, Expect)] = &[
        // The cases of the issue.
        ("/public/../api/x", NeedsCredentials),
        ("/public/%2e%2e/api/x", NeedsCredentials),
        ("/public/..%2fapi/x", Refused),
        ("/public/..;/api/x", Refused),
        ("/public/../internal/x", SwitchedOff),
        ("http://gateway/public/../api/x", NeedsCredentials),
        // More of the same.
        ("/public/%2E%2E/api/x", NeedsCredentials),
        ("/public/.%2e/api/x", NeedsCredentials),
        ("/public/%2e./internal/x", SwitchedOff),
        ("/public/x/../../api/x", NeedsCredentials),
        ("/PUBLIC/../API/x", NeedsCredentials),
        ("/public/./../api/x", NeedsCredentials),
        ("/public//../api/x", NeedsCredentials),
        ("/public/..%2Fapi/x", Refused),
        ("/public/..%5capi/x", Refused),
        ("/public/..%5Capi/x", Refused),
        ("/public/..\\api/x", Refused),
        ("/public/%2e%2e%2fapi/x", Refused),
        ("/public/..;x=1/api/x", Refused),
        ("/public/x;jsessionid=1", Refused),
        ("/public/%2e%2e/%2e%2e/api/x", Refused),
        ("/public/../../api/x", Refused),
        ("/public/x%00", Refused),
        ("/public/x%0d%0aX-Authgate-User:%20admin", Refused),
        ("/public/%zz", Refused),
        ("/public/x%", Refused),
        ("http://gateway/public/%2e%2e/internal/x", SwitchedOff),
        ("HTTP://gateway/public/../api/x", NeedsCredentials),
        // Legitimate requests still work, and nginx receives the normalised target (query byte for byte).
        ("/public/x", Served("public/x", "/public/x")),
        ("/public/./x", Served("public/x", "/public/x")),
        ("/public//x", Served("public/x", "/public/x")),
        ("/%70ublic/x", Served("public/x", "/public/x")),
        (
            "/public/y/../x?q=%2e%2e/../&a=%41",
            Served("public/x", "/public/x?q=%2e%2e/../&a=%41"),
        ),
        ("http://gateway/public/x?y=1", Served("public/x", "/public/x?y=1")),
    ];
    run(gw.port, cases, &[]).await;
    // With credentials the normalised path is served: nginx sees /api/x, never the dot segments.
    let authenticated: &[(&str, Expect)] = &[
        ("/api/x", Served("api/x", "/api/x")),
        ("/public/../api/x", Served("api/x", "/api/x")),
        ("/public/%2e%2e/%61pi/x", Served("api/x", "/api/x")),
        ("http://gateway/public/../api/x?q=1", Served("api/x", "/api/x?q=1")),
        ("/public/../internal/x", SwitchedOff),
        ("/public/..%2fapi/x", Refused),
    ];
    run(gw.port, authenticated, &[ALICE]).await;
    // nginx never received a target with a dot segment or an encoded separator.
    let log = nginx.access_log();
    assert!(!log.is_empty());
    for line in log.lines() {
        let request = line.split('"').nth(1).unwrap_or_default();
        let target = request.split(' ').nth(1).unwrap_or_default();
        let path = target.split('?').next().unwrap_or_default().to_ascii_lowercase();
        assert!(path.starts_with('/'), "origin-form only: {line}");
        assert!(
            !path.contains("/../") && !path.contains("/./") && !path.contains("%2f") && !path.contains("%2e"),
            "nginx received {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_passthrough_route_does_not_open_the_api() {
    use Expect::*;
    let nginx = Nginx::start(&locations()).await;
    let gw = Gateway::start(&root_routes(&nginx)).await;
    let cases: &[(&str, Expect)] = &[
        // The cases of the issue.
        ("//api/x", NeedsCredentials),
        ("/%61pi/x", NeedsCredentials),
        ("/api%2fx", Refused),
        ("/./api/x", NeedsCredentials),
        // More of the same.
        ("/%41PI/x", NeedsCredentials),
        ("/%61%70%69/x", NeedsCredentials),
        ("///api//x", NeedsCredentials),
        ("/api%2Fx", Refused),
        ("/api%5cx", Refused),
        ("/%2fapi/x", Refused),
        ("/x/../api/x", NeedsCredentials),
        ("/api;/x", Refused),
        ("/api;a=b/x", Refused),
        ("/.%2e/api/x", Refused),
        ("http://gateway//api/x", NeedsCredentials),
        ("http://gateway/%61pi/x", NeedsCredentials),
        // The root route serves the rest, normalised.
        ("/public/x", Served("public/x", "/public/x")),
        ("/public/%78", Served("public/x", "/public/x")),
        ("/apix/../public/x", Served("public/x", "/public/x")),
    ];
    run(gw.port, cases, &[]).await;
    run(gw.port, &[("//api/x", Served("api/x", "/api/x"))], &[ALICE]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_may_opt_in_to_encoded_slashes_and_semicolons() {
    let nginx = Nginx::start(&locations()).await;
    let up = nginx.address();
    let config = format!(
        "{}routes:\n  - {{name: public, prefix: /public, upstream: \"{up}\", auth: {{mode: off}}, \
         path: {{allow_encoded_slash: true, allow_semicolon: true}}}}\n  \
         - {{name: api, prefix: /api, upstream: \"{up}\"}}\n",
        base_config()
    );
    let gw = Gateway::start(&config).await;
    // Kept as sent (normalised escapes) and forwarded to the opted-in route.
    let ok = raw::get(gw.port, "/public/a%2fb;v=1", &[]).await;
    assert_eq!(ok.status, 404, "{}", ok.body);
    assert!(ok.body.starts_with("nginx 404 uri=/public/a%2Fb;v=1"), "{}", ok.body);
    // Still never a way out of the route.
    for target in [
        "/public/..%2fapi/x",
        "/public/..;/api/x",
        "/public/%2e%2e%2f%2e%2e%2fapi/x",
    ] {
        let refused = raw::get(gw.port, target, &[]).await;
        check(target, &refused, Expect::Refused, false);
    }
    // The API route did not opt in.
    let refused = raw::get(gw.port, "/api/a%2fb", &[ALICE]).await;
    check("/api/a%2fb", &refused, Expect::Refused, true);
    assert!(refused.body.contains("route 'api'"), "{}", refused.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_routes_do_not_forward_credentials_or_identity_look_alikes() {
    let nginx = Nginx::start(&locations()).await;
    let up = nginx.address();
    let config = format!(
        "{}routes:\n  - {{name: public, prefix: /public, upstream: \"{up}\", auth: {{mode: off}}}}\n  \
         - {{name: api, prefix: /api, upstream: \"{up}\", auth: {{mode: off, forward_credentials: all}}}}\n",
        base_config()
    );
    let gw = Gateway::start(&config).await;
    // nginx (underscores_in_headers on) reads X_Authgate_User as $http_x_authgate_user, as CGI would.
    for spoof in [
        "X-Authgate-User: K2:CONTOSO\\administrator",
        "X_Authgate_User: K2:CONTOSO\\administrator",
        "X-Authgate_User: K2:CONTOSO\\administrator",
        "x_AUTHGATE-user: K2:CONTOSO\\administrator",
    ] {
        let response = raw::get(gw.port, "/public/x", &[ALICE, spoof]).await;
        assert_eq!(response.status, 200, "{}", response.body);
        assert!(
            response.body.contains(" auth= user= "),
            "{spoof}: neither the Basic password nor the spoofed user reach nginx: {}",
            response.body
        );
    }
    // forward_credentials: all is the explicit opt-in.
    let response = raw::get(gw.port, "/api/x", &[ALICE]).await;
    assert!(
        response.body.contains(" auth=Basic YWxpY2U6YWxpY2UtcHc= "),
        "{}",
        response.body
    );
}
