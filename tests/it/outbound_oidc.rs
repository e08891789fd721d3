//! Outbound OAuth against a real authorization server no one here wrote: `oidc-provider` (tests/idp, in its
//! authorization code mode: PKCE S256 required, refresh tokens rotated on every use, access tokens living
//! [`TTL`] s, its development login and consent pages). A resource of the shipped generic "OAuth 2.0" type
//! points at it; the flow is driven as a browser drives it (`support::browser`: redirects followed one by
//! one, the login and consent forms submitted, cookies kept). The provider's token endpoint is reached
//! through `servers::oidc::TokenCounter`, a loopback proxy that records each exchange: that is where refresh
//! calls are counted and where the test learns the tokens the provider issued.
//!
//! A token is due [`SKEW`] s before it expires, so a fresh one ([`TTL`] = SKEW + 3) becomes due within
//! about three seconds; the tests wait for that by polling the user's connection (its `expires_in_seconds`).

use crate::servers::oidc::{OidcProvider, TokenCounter, CLIENT_ID, CLIENT_SECRET};
use crate::servers::postgres::Postgres;
use crate::support::browser::{Browser, Page};
use crate::support::{base_config, client, echo_upstream, free_port, until, Gateway};
use reqwest::StatusCode;
use serde_json::Value;

const GENERIC_TYPE: &str = include_str!("../../policies/oauth/types/oauth2.yaml");
const VAULT_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
/// The gateway refreshes a token this many seconds before it expires (`connections::SKEW`).
const SKEW: i64 = 60;
/// The provider's access-token lifetime: due three seconds after it is issued (the margin in which the
/// steps that expect no refresh run).
const TTL: u32 = 63;

/// A provider, the counting proxy in front of its token endpoint, and gateways using it.
struct Setup {
    oidc: OidcProvider,
    counter: TokenCounter,
    gateways: Vec<Gateway>,
}

/// The resource `Files` (generic OAuth 2.0 / OIDC type) at the provider on `oidc_port`, its token endpoint
/// behind `counter`, the callback on `gateway_port`.
fn resource(oidc_port: u16, counter: &TokenCounter, gateway_port: u16) -> String {
    let redirect = format!("http://127.0.0.1:{gateway_port}/Identity/token/oauth/2");
    format!(
        "name: Files\ntype: OAuth 2.0\nauthorization_endpoint: http://127.0.0.1:{oidc_port}/auth\ntoken_endpoint: {}\n\
         parameters:\n  client_id: {{authorization: {CLIENT_ID}, token: {CLIENT_ID}, refresh: {CLIENT_ID}}}\n  \
         client_secret: {{token: {CLIENT_SECRET}, refresh: {CLIENT_SECRET}}}\n  \
         redirect_uri: {{authorization: '{redirect}', token: '{redirect}'}}\n  prompt: {{authorization: consent}}\n",
        counter.token_url()
    )
}

/// `count` gateways on `database` (SQLite in each one's directory when `None`), each with the resource and
/// a route `/files` to an echo upstream with `outbound: {oauth_resource: Files}`; then the provider, which
/// accepts each gateway's callback.
async fn setup(count: usize, database: Option<String>) -> Setup {
    let oidc_port = free_port();
    let counter = TokenCounter::start(oidc_port).await;
    let upstream = echo_upstream().await;
    let mut head = base_config();
    if let Some(url) = &database {
        head = head.replace("\"{DIR}/db.sqlite\"", &format!("\"{url}\""));
        assert!(head.contains(url.as_str()));
    }
    let yaml = format!(
        "{head}oauth:\n  types: oauth/types\n  resources: oauth/resources\n  vault:\n    keys:\n      - {{id: k1, key: '{VAULT_KEY}'}}\n\
         routes:\n  - {{name: oauth, prefix: /api/oauth/v1, upstream: builtin}}\n  - {{name: cb, prefix: /Identity/token/oauth, upstream: builtin}}\n\
         \x20 - name: files\n    prefix: /files\n    upstream: \"{upstream}\"\n    outbound: {{oauth_resource: Files}}\n"
    );
    // The callback names the gateway's port, known once it runs: started with a placeholder, then the
    // resource is rewritten and reloaded.
    let placeholder = resource(oidc_port, &counter, 9);
    let files = [
        ("oauth/types/oauth2.yaml", GENERIC_TYPE),
        ("oauth/resources/files.yaml", placeholder.as_str()),
    ];
    let mut gateways = Vec::new();
    for _ in 0..count {
        let gw = Gateway::start_with_files(&yaml, &files).await;
        std::fs::write(
            gw.dir.path().join("oauth/resources/files.yaml"),
            resource(oidc_port, &counter, gw.port),
        )
        .unwrap();
        gw.reload_and_wait("ok").await;
        gateways.push(gw);
    }
    let redirects: Vec<String> = gateways
        .iter()
        .map(|gw| format!("http://127.0.0.1:{}/Identity/token/oauth/2", gw.port))
        .collect();
    let oidc = OidcProvider::start_authorization_code(oidc_port, &redirects, TTL).await;
    Setup {
        oidc,
        counter,
        gateways,
    }
}

/// Alice authorizes `Files` on `gw` in `browser`: the gateway's redirect (with S256 PKCE), the provider's
/// login and consent pages, the callback. Returns the callback's page (a redirect to `/files/done`).
async fn connect(gw: &Gateway, browser: &mut Browser) -> Page {
    let start = browser
        .get(&gw.url("/api/oauth/v1/resources/files/authorize?return_url=/files/done"))
        .await;
    assert_eq!(start.status, StatusCode::FOUND, "{}", start.body);
    let to_provider = start.location.clone().expect("a redirect to the provider");
    let query: std::collections::HashMap<String, String> = to_provider.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["scope"], "openid offline_access");
    let back = browser.authorize_at_provider(start, "alice").await;
    assert_eq!(back.url.path(), "/Identity/token/oauth/2");
    assert_eq!(back.status, StatusCode::FOUND, "{}\n{}", back.body, gw.log());
    assert_eq!(back.location.as_ref().map(|l| l.path()), Some("/files/done"));
    back
}

/// Alice's connection rows on `gw` (also used by `outbound_microsoft`).
pub(crate) async fn connections(gw: &Gateway) -> Vec<Value> {
    let listed: Value = client()
        .get(gw.url("/api/oauth/v1/connections"))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    listed["connections"].as_array().cloned().unwrap_or_default()
}

/// Polls until Alice's access token on `gw` is due for refresh.
async fn until_due(gw: &Gateway) {
    until("the access token to be due", || async {
        connections(gw)
            .await
            .first()
            .and_then(|row| row["expires_in_seconds"].as_i64())
            <= Some(SKEW)
    })
    .await;
}

/// `GET /files/x` as Alice: status and the echo (what the upstream received) or the refusal.
async fn files(gw: &Gateway) -> (u16, Value) {
    let r = gw.get_basic("/files/x", "alice", "alice-pw").await;
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The bearer token the upstream received.
fn upstream_bearer(echo: &Value) -> String {
    let header = echo["headers"]["authorization"]
        .as_str()
        .unwrap_or_else(|| panic!("no token upstream: {echo}"));
    header.strip_prefix("Bearer ").expect("a bearer token").to_string()
}

fn token(answer: &Value, field: &str) -> String {
    answer[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {answer}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_provider_s_tokens_are_sealed_forwarded_refreshed_with_rotation_and_revoked() {
    let s = setup(1, None).await;
    let gw = &s.gateways[0];

    let (status, body) = files(gw).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "oauth_not_connected");
    assert_eq!(body["authorize_url"], "/api/oauth/v1/resources/Files/authorize");

    let mut browser = Browser::new(gw.port, "alice");
    let back = connect(gw, &mut browser).await;
    let codes = s.counter.with_grant("authorization_code");
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].status, 200, "{:?}", codes[0].answer);
    assert!(
        codes[0].form.contains_key("code_verifier"),
        "PKCE: {:?}",
        codes[0].form.keys()
    );
    let (at0, rt0) = (
        token(&codes[0].answer, "access_token"),
        token(&codes[0].answer, "refresh_token"),
    );

    // Replayed callback: refused, nothing exchanged.
    let replay = browser.get(back.url.as_str()).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.body);
    assert_eq!(s.counter.exchanges().len(), 1, "a replayed state exchanges nothing");

    // Sealed at rest.
    let db = std::fs::read(gw.dir.path().join("db.sqlite")).unwrap();
    let wal = std::fs::read(gw.dir.path().join("db.sqlite-wal")).unwrap_or_default();
    for secret in [&at0, &rt0] {
        for bytes in [&db, &wal] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a token is stored in plain text"
            );
        }
    }
    let rows = connections(gw).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "connected");

    // The route forwards the provider's own access token, without a refresh.
    let (status, echo) = files(gw).await;
    assert_eq!(status, 200, "{echo}\n{}", gw.log());
    assert_eq!(upstream_bearer(&echo), at0);
    let introspected = s.oidc.introspect(&at0).await;
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["sub"], "alice");
    assert_eq!(introspected["client_id"], CLIENT_ID);
    assert!(s.counter.with_grant("refresh_token").is_empty());

    // Due: one request refreshes; the provider rotates the refresh token.
    until_due(gw).await;
    let (status, echo) = files(gw).await;
    assert_eq!(status, 200, "{echo}\n{}", gw.log());
    let refreshes = s.counter.with_grant("refresh_token");
    assert_eq!(refreshes.len(), 1);
    assert_eq!(refreshes[0].form["refresh_token"], rt0);
    assert_eq!(refreshes[0].status, 200, "{:?}", refreshes[0].answer);
    let (at1, rt1) = (
        token(&refreshes[0].answer, "access_token"),
        token(&refreshes[0].answer, "refresh_token"),
    );
    assert_ne!(rt1, rt0, "the provider rotated the refresh token");
    assert_eq!(upstream_bearer(&echo), at1);
    assert_eq!(
        upstream_bearer(&files(gw).await.1),
        at1,
        "fresh again: no second refresh"
    );
    assert_eq!(s.counter.with_grant("refresh_token").len(), 1);

    // Due again: the rotated refresh token is the one the gateway saved and sends.
    until_due(gw).await;
    assert_eq!(files(gw).await.0, 200);
    let refreshes = s.counter.with_grant("refresh_token");
    assert_eq!(refreshes.len(), 2);
    assert_eq!(
        refreshes[1].form["refresh_token"], rt1,
        "the rotated refresh token was persisted"
    );
    assert_eq!(refreshes[1].status, 200, "{:?}", refreshes[1].answer);

    // The old refresh token is refused by the provider (which then revokes the whole grant: reuse of a
    // rotated token).
    let (status, answer) = s.oidc.refresh_directly(&rt0).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant")),
        "{answer}"
    );

    // Authorize again (a new grant), then revoke it at the provider: the next refresh is invalid_grant.
    connect(gw, &mut browser).await;
    let codes = s.counter.with_grant("authorization_code");
    assert_eq!(codes.len(), 2);
    let rt = token(&codes[1].answer, "refresh_token");
    assert_eq!(
        upstream_bearer(&files(gw).await.1),
        token(&codes[1].answer, "access_token")
    );
    assert_eq!(s.oidc.revoke(&rt).await, 200);
    until_due(gw).await;
    let (status, body) = files(gw).await;
    assert_eq!(status, 401, "{body}\n{}", gw.log());
    assert_eq!(body["error"], "oauth_reauthorization_required", "{body}");
    assert_eq!(body["authorize_url"], "/api/oauth/v1/resources/Files/authorize");
    let refreshes = s.counter.with_grant("refresh_token");
    assert_eq!(refreshes.len(), 3);
    assert_eq!(refreshes[2].answer["error"], "invalid_grant");
    assert_eq!(connections(gw).await[0]["status"], "needs_reauthorization");
    // A browser is sent to authorize, and brought back.
    let r = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(gw.url("/files/report?q=1"))
        .basic_auth("alice", Some("alice-pw"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        r.headers()["location"],
        "/api/oauth/v1/resources/Files/authorize?return_url=%2Ffiles%2Freport%3Fq%3D1"
    );
    assert_eq!(
        s.counter.with_grant("refresh_token").len(),
        3,
        "a marked connection is not refreshed"
    );
    let log = gw.log();
    for secret in [&at0, &rt0, &at1, &rt1, &rt] {
        assert!(!log.contains(secret.as_str()), "a token in the gateway's log");
    }
}

/// Four concurrent `GET /files/x`, two on `a` and two on `b`: each one 200, all with the same token.
async fn concurrently(a: &Gateway, b: &Gateway) -> String {
    let (w, x, y, z) = tokio::join!(files(a), files(b), files(a), files(b));
    let answers = [w, x, y, z];
    let tokens: Vec<String> = answers
        .iter()
        .map(|(status, echo)| {
            assert_eq!(*status, 200, "{echo}");
            upstream_bearer(echo)
        })
        .collect();
    assert!(tokens.iter().all(|t| *t == tokens[0]), "one token for all: {tokens:?}");
    tokens[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_needing_a_refresh_make_one_refresh_call() {
    let s = setup(1, None).await;
    let gw = &s.gateways[0];
    connect(gw, &mut Browser::new(gw.port, "alice")).await;
    for round in 1..=2 {
        until_due(gw).await;
        let used = concurrently(gw, gw).await;
        let refreshes = s.counter.with_grant("refresh_token");
        assert_eq!(refreshes.len(), round, "round {round}: one refresh call\n{}", gw.log());
        assert_eq!(used, token(&refreshes[round - 1].answer, "access_token"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_on_two_replicas_sharing_postgresql_make_one_refresh_call() {
    let pg = Postgres::start().await;
    let s = setup(2, Some(pg.create_database())).await;
    let (a, b) = (&s.gateways[0], &s.gateways[1]);
    connect(a, &mut Browser::new(a.port, "alice")).await;
    let at0 = token(&s.counter.with_grant("authorization_code")[0].answer, "access_token");
    assert_eq!(
        upstream_bearer(&files(b).await.1),
        at0,
        "the connection made on A is used on B"
    );
    for round in 1..=2 {
        until_due(b).await;
        let used = concurrently(a, b).await;
        let refreshes = s.counter.with_grant("refresh_token");
        assert_eq!(
            refreshes.len(),
            round,
            "round {round}: one refresh call across replicas\nA:\n{}\nB:\n{}",
            a.log(),
            b.log()
        );
        assert_eq!(used, token(&refreshes[round - 1].answer, "access_token"));
    }
}
