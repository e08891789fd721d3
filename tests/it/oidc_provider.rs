//! OAuth bearer tokens from a real OpenID Connect provider (the `oidc-provider` npm package, client
//! credentials with resource indicators, JWT access tokens), keys found by OIDC discovery, through the real
//! gateway.

use crate::servers;
use crate::support;

use serde_json::Value;
use servers::oidc::{header, OidcProvider};
use support::{base_config, client, echo_route, echo_upstream, Gateway};

async fn gateway_trusting(idp: &OidcProvider) -> Gateway {
    let issuer = idp.issuer();
    let config = format!(
        "{}providers:\n  - name: node-oidc\n    issuer: \"{issuer}\"\n    audiences: [\"https://api.k2.com/\"]\n    \
         jwks: {{discovery: \"{issuer}\"}}\n    user_manager: aad\n    user_claims: [sub]\n    require_typ: true\n    \
         min_refetch_interval_seconds: 0\nroutes:\n{}",
        base_config(),
        echo_route(echo_upstream().await, "")
    );
    Gateway::start(&config).await
}

async fn call(gw: &Gateway, token: &str) -> (u16, Value) {
    let response = gw.get_bearer("/api/things", token).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_token_for_the_audience_with_trailing_slash_is_accepted() {
    let idp = OidcProvider::start().await;
    let gw = gateway_trusting(&idp).await;
    let token = idp.token("https://api.k2.com/").await;
    assert_eq!(header(&token)["typ"], "at+jwt", "a JWT access token");
    let (status, body) = call(&gw, &token).await;
    assert_eq!(status, 200, "{body}\n{}", gw.log());
    let h = &body["headers"];
    assert_eq!(h["x-authgate-user"], "AAD:authgate-tests");
    assert_eq!(h["x-authgate-auth-method"], "oauth");
    assert!(h.get("authorization").is_none(), "the token is not forwarded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_token_for_the_resource_without_trailing_slash_is_refused_with_the_reason() {
    let idp = OidcProvider::start().await;
    let gw = gateway_trusting(&idp).await;
    let token = idp.token("https://api.k2.com").await;
    let response = client()
        .get(gw.url("/api/things"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let body: Value = response.json().await.unwrap();
    let text = body["error_description"].as_str().unwrap();
    assert!(
        text.contains("'https://api.k2.com'")
            && text.contains("'https://api.k2.com/'")
            && text.contains("differ only by a trailing slash"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_on_the_provider_is_picked_up() {
    let idp = OidcProvider::start().await;
    let gw = gateway_trusting(&idp).await;
    let before = idp.token("https://api.k2.com/").await;
    assert_eq!(call(&gw, &before).await.0, 200);
    let kid = idp.rotate().await;
    let after = idp.token("https://api.k2.com/").await;
    assert_eq!(header(&after)["kid"], kid.as_str(), "signed with the new key");
    assert_ne!(header(&before)["kid"], header(&after)["kid"]);
    let (status, body) = call(&gw, &after).await;
    assert_eq!(status, 200, "the unknown kid triggers a refetch: {body}\n{}", gw.log());
    assert_eq!(call(&gw, &before).await.0, 200, "the old key is still published");
}
