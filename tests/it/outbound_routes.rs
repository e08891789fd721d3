//! Outbound routes (issue 17, 6a + 6c): a route with `outbound: {oauth_resource}` sends the user's token for
//! the resource upstream instead of the client's credentials. With an on-behalf-of resource the token is the
//! caller's inbound bearer token exchanged at an Azure-AD-shaped token endpoint (`servers::sts`), cached per
//! user; a Basic caller gets 403. With an authorization-code resource a user without a connection gets 401 JSON
//! (a browser a redirect to the authorize URL), and once connected the upstream gets the stored token.

use crate::servers::sts::{self, Sts};
use crate::support::api::TokenIssuer;
use crate::support::{base_config, client, echo_upstream, Gateway};
use base64::Engine;
use serde_json::Value;

const OBO_TYPE: &str = include_str!("../../policies/oauth/types/microsoft-online-obo.yaml");
const EXCHANGE_TYPE: &str = include_str!("../../policies/oauth/types/oauth2-token-exchange.yaml");
/// The downstream API's audience.
const DOWNSTREAM: &str = "api://downstream";

fn vault_key() -> String {
    base64::engine::general_purpose::STANDARD.encode([7u8; 32])
}

/// A gateway trusting `issuer`'s tokens, with resources `Downstream API` (on-behalf-of) and `Exchanged API`
/// (RFC 8693) at `sts`, and routes `/api` and `/x` to an echo upstream using them.
async fn gateway(issuer: &TokenIssuer, sts: &Sts) -> Gateway {
    let upstream = echo_upstream().await;
    let yaml = format!(
        "{}providers:\n{}oauth:\n  types: oauth/types\n  resources: oauth/resources\n  vault: {{keys: [{{id: k1, key_file: vault.key}}]}}\n\
         routes:\n  - name: obo\n    prefix: /api\n    upstream: \"{upstream}\"\n    auth: {{forward_credentials: all}}\n    outbound: {{oauth_resource: downstream api}}\n\
         \x20 - name: rfc8693\n    prefix: /x\n    upstream: \"{upstream}\"\n    outbound: {{oauth_resource: Exchanged API}}\n",
        base_config(),
        TokenIssuer::provider()
    );
    let obo = format!(
        "name: Downstream API\ntype: Microsoft Online on-behalf-of\ntoken_endpoint: {}\nparameters:\n  client_id: {{token: {}}}\n  client_secret: {{token: {}}}\n  scope: {{token: '{DOWNSTREAM}/.default'}}\n",
        sts.token_url(),
        sts::CLIENT_ID,
        sts::CLIENT_SECRET
    );
    let exchange = format!(
        "name: Exchanged API\ntype: OAuth 2.0 token exchange\ntoken_endpoint: {}\nparameters:\n  client_id: {{token: {}}}\n  client_secret: {{token: {}}}\n  audience: {{token: 'api://exchanged'}}\n",
        sts.token_url(),
        sts::CLIENT_ID,
        sts::CLIENT_SECRET
    );
    Gateway::start_with_files(
        &yaml,
        &[
            ("jwks.json", &issuer.jwks_file()),
            ("vault.key", &vault_key()),
            ("oauth/types/obo.yaml", OBO_TYPE),
            ("oauth/types/exchange.yaml", EXCHANGE_TYPE),
            ("oauth/resources/obo.yaml", &obo),
            ("oauth/resources/exchange.yaml", &exchange),
        ],
    )
    .await
}

/// What the echo upstream received as `Authorization`, checked as a token of `sts` for `audience`: its claims.
fn upstream_token(echo: &Value, sts: &Sts, audience: &str) -> (String, Value) {
    let header = echo["headers"]["authorization"]
        .as_str()
        .expect("an Authorization header upstream");
    let token = header.strip_prefix("Bearer ").expect("a bearer token");
    let (key, validation) = sts.validation(audience);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("the upstream got a token that is not the STS's for {audience}: {e}"))
        .claims;
    (token.to_string(), claims)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_behalf_of_sends_the_exchanged_token_upstream_cached_per_user() {
    let issuer = TokenIssuer::new();
    let sts = Sts::start(&issuer.jwks_file()).await;
    let gw = gateway(&issuer, &sts).await;
    let alice = issuer.token("alice@contoso.com", &[]);

    let r = gw.get_bearer("/api/items", &alice).await;
    assert_eq!(r.status(), 200, "{}", gw.log());
    let echo: Value = r.json().await.unwrap();
    let (first, claims) = upstream_token(&echo, &sts, DOWNSTREAM);
    assert_ne!(
        first, alice,
        "the upstream never sees the client's token (forward_credentials: all notwithstanding)"
    );
    assert_eq!(claims["upn"], "alice@contoso.com");
    assert_eq!(sts.calls(), 1);
    let form = &sts.forms()[0];
    assert_eq!(form["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
    assert_eq!(form["requested_token_use"], "on_behalf_of");
    assert_eq!(form["assertion"], alice);
    assert_eq!(form["scope"], format!("{DOWNSTREAM}/.default"));

    let echo: Value = gw.get_bearer("/api/items", &alice).await.json().await.unwrap();
    assert_eq!(upstream_token(&echo, &sts, DOWNSTREAM).0, first, "the cached token");
    assert_eq!(sts.calls(), 1, "a second request does not call the token endpoint");

    let bob = issuer.token("bob@contoso.com", &[]);
    let echo: Value = gw.get_bearer("/api/items", &bob).await.json().await.unwrap();
    let (second, claims) = upstream_token(&echo, &sts, DOWNSTREAM);
    assert_eq!(claims["upn"], "bob@contoso.com", "bob never gets alice's token");
    assert_ne!(second, first);
    assert_eq!(sts.calls(), 2);
    assert_eq!(
        gw.metric(
            "authgate_outbound_tokens_total",
            &["kind=\"on_behalf_of\"", "result=\"ok\""]
        )
        .await,
        3.0
    );
    let log = gw.log();
    assert!(
        !log.contains(&first) && !log.contains(&alice),
        "no token in the log:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc_8693_exchanges_the_subject_token_for_the_audience() {
    let issuer = TokenIssuer::new();
    let sts = Sts::start(&issuer.jwks_file()).await;
    let gw = gateway(&issuer, &sts).await;
    let alice = issuer.token("alice@contoso.com", &[]);
    let r = gw.get_bearer("/x/y", &alice).await;
    assert_eq!(r.status(), 200, "{}", gw.log());
    let echo: Value = r.json().await.unwrap();
    let (_, claims) = upstream_token(&echo, &sts, "api://exchanged");
    assert_eq!(claims["upn"], "alice@contoso.com");
    let form = &sts.forms()[0];
    assert_eq!(form["grant_type"], "urn:ietf:params:oauth:grant-type:token-exchange");
    assert_eq!(form["subject_token"], alice);
    assert_eq!(
        form["subject_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_basic_caller_or_a_refusal_gets_403_json_naming_the_resource() {
    let issuer = TokenIssuer::new();
    let sts = Sts::start(&issuer.jwks_file()).await;
    let gw = gateway(&issuer, &sts).await;

    let r = gw.get_basic("/api/items", "alice", "alice-pw").await;
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("www-authenticate").is_none());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "oauth_no_inbound_token", "{body}");
    assert_eq!(body["resource"], "Downstream API");
    assert_eq!(sts.calls(), 0, "nothing to exchange");

    // A browser cannot fix a 403: it gets the JSON too.
    let r = client()
        .get(gw.url("/api/items"))
        .basic_auth("alice", Some("alice-pw"))
        .header("accept", "text/html,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    sts.refuse_with(Some("consent_required"));
    let r = gw
        .get_bearer("/api/items", &issuer.token("carol@contoso.com", &[]))
        .await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "oauth_refused", "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("consent_required"),
        "{body}"
    );
    assert!(
        !body.to_string().contains("AADSTS"),
        "the provider's description stays in the gateway: {body}"
    );
    assert_eq!(
        gw.metric("authgate_outbound_tokens_total", &["result=\"no_inbound_token\""])
            .await,
        2.0
    );
}

/// A token endpoint for the authorization-code kind: any code becomes access token `AT-<code>`.
async fn code_provider() -> std::net::SocketAddr {
    use axum::routing::post;
    let router = axum::Router::new().route(
        "/token",
        post(|body: String| async move {
            let form: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
            if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
                return (
                    axum::http::StatusCode::BAD_REQUEST,
                    r#"{"error":"invalid_grant"}"#.to_string(),
                );
            }
            let code = form.get("code").cloned().unwrap_or_default();
            (
                axum::http::StatusCode::OK,
                format!(r#"{{"access_token":"AT-{code}","refresh_token":"RT-{code}","expires_in":3600}}"#),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// 6a with the authorization-code kind: a user with no connection gets 401 JSON with the authorize URL (a
/// browser a redirect to it); once connected through the browser flow, the upstream receives the stored access
/// token, never the client's credentials, and another user is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_code_route_sends_the_stored_token_once_connected() {
    let provider = code_provider().await;
    let upstream = echo_upstream().await;
    let yaml = format!(
        "{}oauth:\n  types: oauth/types\n  resources: oauth/resources\n  vault: {{keys: [{{id: k1, key_file: vault.key}}]}}\n\
         routes:\n  - {{name: files, prefix: /files, upstream: \"{upstream}\", auth: {{forward_credentials: all}}, outbound: {{oauth_resource: Files}}}}\n\
         \x20 - {{name: oauth, prefix: /api/oauth/v1, upstream: builtin}}\n  - {{name: cb, prefix: /Identity/token/oauth, upstream: builtin}}\n",
        base_config()
    );
    let ty = "name: Generic\nparameters:\n  - {name: client_id, stages: [authorization, token, refresh]}\n  - {name: response_type, stages: [authorization], defaults: {authorization: code}}\n  - {name: grant_type, stages: [token, refresh], defaults: {token: authorization_code, refresh: refresh_token}}\n";
    let resource = format!(
        "name: Files\ntype: Generic\nauthorization_endpoint: http://127.0.0.1:9/authorize\ntoken_endpoint: http://{provider}/token\nparameters:\n  client_id: {{authorization: gw, token: gw, refresh: gw}}\n"
    );
    let gw = Gateway::start_with_files(
        &yaml,
        &[
            ("vault.key", &vault_key()),
            ("oauth/types/generic.yaml", ty),
            ("oauth/resources/files.yaml", &resource),
        ],
    )
    .await;
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |user: &str, path: &str, accept: &str| {
        no_redirects
            .get(gw.url(path))
            .basic_auth(user, Some(format!("{user}-pw")))
            .header("accept", accept)
            .send()
    };

    let r = get("alice", "/files/a", "application/json").await.unwrap();
    assert_eq!(r.status(), 401, "{}", gw.log());
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(
        challenge.contains("authorization_uri=\"/api/oauth/v1/resources/Files/authorize\""),
        "{challenge}"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "oauth_not_connected", "{body}");
    assert_eq!(body["resource"], "Files");
    assert_eq!(body["authorize_url"], "/api/oauth/v1/resources/Files/authorize");

    let r = get("alice", "/files/a?x=1", "text/html,application/xhtml+xml,*/*;q=0.8")
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"],
        "/api/oauth/v1/resources/Files/authorize?return_url=%2Ffiles%2Fa%3Fx%3D1"
    );

    // The browser flow: authorize, then the provider's redirect back with a code.
    let r = get(
        "alice",
        "/api/oauth/v1/resources/Files/authorize?return_url=/files/a",
        "text/html",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 302, "{}", gw.log());
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let r = no_redirects
        .get(gw.url(&format!("/Identity/token/oauth/2?code=alice1&state={state}")))
        .basic_auth("alice", Some("alice-pw"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{}", gw.log());
    assert_eq!(r.headers()["location"], "/files/a");

    let r = get("alice", "/files/a", "application/json").await.unwrap();
    assert_eq!(r.status(), 200, "{}", gw.log());
    let echo: Value = r.json().await.unwrap();
    assert_eq!(
        echo["headers"]["authorization"], "Bearer AT-alice1",
        "the stored token, not alice's Basic credentials (forward_credentials: all notwithstanding)"
    );

    let r = get("locky", "/files/a", "application/json").await.unwrap();
    assert_eq!(r.status(), 401, "locky has no connection of his own");
    assert!(!gw.log().contains("AT-alice1"), "no token in the log");
}
