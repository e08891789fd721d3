//! The gateway serving the OData API (and the Workflow API, whose instances the statistics SmartObjects
//! report), with the workflow test users: fran and gus are in Finance, alice and bob are not. Both default
//! OData base paths are routed: `/api/odata/v4` and K2's `/api/odatav4/v4`.

use super::api::{self, Auth, Reply, TokenIssuer};
use super::base_config;
use super::workflow::users;
use serde_json::Value;

/// The shipped SmartObject definitions.
pub const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/smartobjects");

/// The OData base path the tests call unless they say otherwise.
pub const BASE: &str = "/api/odata/v4";
/// K2's v4 endpoint.
pub const K2_BASE: &str = "/api/odatav4/v4";

/// A gateway with the OData and Workflow routes.
pub struct Gateway {
    pub inner: super::Gateway,
    issuer: TokenIssuer,
}

impl Gateway {
    /// The shipped SmartObjects, default `odata:` settings.
    pub async fn start() -> Self {
        Self::start_with(&format!("{{smartobjects: \"{SHIPPED}\"}}"), true, &[]).await
    }

    /// `odata` is the flow-style value of the `odata:` section; `files` are written beside the config
    /// (`{DIR}` in `odata` is that directory).
    pub async fn start_with(odata: &str, enabled: bool, files: &[(&str, &str)]) -> Self {
        Self::start_on(base_config(), odata, enabled, files).await
    }

    /// As [`Gateway::start_with`], with `head` (see [`base_config`]) as the start of the configuration.
    pub async fn start_on(head: String, odata: &str, enabled: bool, files: &[(&str, &str)]) -> Self {
        let issuer = TokenIssuer::new();
        let yaml = format!(
            "{}providers:\n{}workflow: {{definitions: \"{}/policies/workflows\"}}\nodata: {odata}\nroutes:\n\
             \x20 - {{name: workflow, prefix: /api/workflow/v1, upstream: builtin}}\n\
             \x20 - {{name: odata, prefix: /api/odata/v4, upstream: builtin, enabled: {enabled}, \
             disabled: {{status: 503, message: \"The SmartObject OData API is switched off on this server.\"}}}}\n\
             \x20 - {{name: odatav4, prefix: {K2_BASE}, upstream: builtin, enabled: {enabled}}}\n",
            head,
            TokenIssuer::provider(),
            env!("CARGO_MANIFEST_DIR"),
        );
        let mut all = vec![("jwks.json", issuer.jwks_file())];
        all.extend(files.iter().map(|(n, c)| (*n, c.to_string())));
        let files: Vec<(&str, &str)> = all.iter().map(|(n, c)| (*n, c.as_str())).collect();
        let inner = super::Gateway::launch(&yaml, &users(), &files).await;
        Self { inner, issuer }
    }

    /// A bearer token the gateway accepts (user manager `aad`).
    pub fn token(&self, user: &str, groups: &[&str]) -> String {
        self.issuer.token(user, groups)
    }

    /// A token with `claims`, signed with the key the gateway trusts.
    pub fn mint(&self, claims: &Value) -> String {
        self.issuer.mint(claims)
    }

    /// Calls `/api/odata/v4{path}`.
    pub async fn call(&self, auth: &Auth, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.call_at(BASE, auth, method, path, body).await
    }

    /// Calls `{base}{path}`.
    pub async fn call_at(&self, base: &str, auth: &Auth, method: &str, path: &str, body: Option<Value>) -> Reply {
        api::call(&self.inner, auth, method, &format!("{base}{path}"), body).await
    }

    /// The service root URL to send requests to.
    pub fn root(&self) -> String {
        self.inner.url(BASE)
    }

    /// The service root in the gateway's links (`@odata.context`, `Location`) without `odata.public_url`.
    pub fn link_root(&self) -> &'static str {
        BASE
    }

    /// The URL a link (an absolute path, or an absolute URL) points to.
    pub fn follow(&self, link: &str) -> String {
        if link.starts_with('/') {
            self.inner.url(link)
        } else {
            link.to_string()
        }
    }
}
