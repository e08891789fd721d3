//! The built-in APIs, served in this process on a unix socket that only the proxy connects to (file mode
//! 0600), so nothing outside can reach them with forged identity headers.
//!
//! This module holds the socket service and the identity it reads from the proxy's headers. The Workflow
//! REST and SmartObject OData handlers are separate work; until they land their prefixes answer 501 with an
//! explanation, and `/api/whoami` echoes the forwarded identity (handy to check a deployment).

use crate::auth::HeaderSet;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::json;
use std::sync::Arc;

/// The identity the proxy forwarded on a request to the built-in socket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ForwardedIdentity {
    /// FQN.
    pub user: String,
    /// User manager label.
    pub user_manager: String,
    /// `basic` or `oauth`.
    pub auth_method: String,
    /// E-mail.
    pub email: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// Tenant.
    pub tenant: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
}

impl ForwardedIdentity {
    /// Reads the identity headers; `None` when the user, user-manager or method header is missing.
    pub fn from_headers(names: &HeaderSet, headers: &http::HeaderMap) -> Option<Self> {
        let [user, user_manager, auth_method, email, groups, tenant, display_name] = names.names();
        let get = |n: &http::HeaderName| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        Some(Self {
            user: get(user)?,
            user_manager: get(user_manager)?,
            auth_method: get(auth_method)?,
            email: get(email),
            groups: get(groups)
                .map(|g| {
                    g.split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| s.replace("%2C", ",").replace("%25", "%"))
                        .collect()
                })
                .unwrap_or_default(),
            tenant: get(tenant),
            display_name: get(display_name),
        })
    }
}

/// The HTTP application on the built-in socket.
pub struct BuiltinApis {
    headers: Arc<HeaderSet>,
}

impl BuiltinApis {
    /// Reads identities with `headers`' names.
    pub fn new(headers: Arc<HeaderSet>) -> Self {
        Self { headers }
    }

    /// The response to a request (split out for unit tests).
    pub fn respond(&self, path: &str, headers: &http::HeaderMap) -> Response<Vec<u8>> {
        let reply = |status: u16, body: serde_json::Value| {
            let body = body.to_string().into_bytes();
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .header("content-length", body.len())
                .body(body)
                .unwrap_or_else(|_| Response::new(Vec::new()))
        };
        let Some(identity) = ForwardedIdentity::from_headers(&self.headers, headers) else {
            return reply(
                401,
                json!({"error": "unauthenticated", "error_description": "requests to the built-in APIs must come through the gateway, which sets the identity headers"}),
            );
        };
        let lower = path.to_ascii_lowercase();
        let under = |prefix: &str| lower == prefix || lower.starts_with(&format!("{prefix}/"));
        if under("/api/whoami") {
            reply(200, json!(identity))
        } else if under("/api/workflow/v1") || under("/api/odata/v4") {
            reply(
                501,
                json!({"error": "not_implemented", "error_description": "this API is not built into this version of authgate yet; route it to an external upstream"}),
            )
        } else {
            reply(
                404,
                json!({"error": "not_found", "error_description": "no built-in API at this path"}),
            )
        }
    }
}

#[async_trait]
impl ServeHttp for BuiltinApis {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let path = req.uri.path().to_string();
        self.respond(&path, &req.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HeaderNamesConfig;

    fn apis() -> BuiltinApis {
        BuiltinApis::new(Arc::new(HeaderSet::from_config(&HeaderNamesConfig::default()).unwrap()))
    }

    #[test]
    fn requests_without_identity_headers_are_refused() {
        let r = apis().respond("/api/whoami", &http::HeaderMap::new());
        assert_eq!(r.status(), 401);
    }

    #[test]
    fn whoami_echoes_the_forwarded_identity() {
        let mut h = http::HeaderMap::new();
        h.insert("x-authgate-user", "K2:CONTOSO\\alice".parse().unwrap());
        h.insert("x-authgate-user-manager", "ad".parse().unwrap());
        h.insert("x-authgate-auth-method", "basic".parse().unwrap());
        h.insert("x-authgate-groups", "Finance,A%2CB".parse().unwrap());
        let r = apis().respond("/API/whoami", &h);
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["user"], "K2:CONTOSO\\alice");
        assert_eq!(v["groups"], json!(["Finance", "A,B"]));
        assert_eq!(apis().respond("/api/workflow/v1/tasks", &h).status(), 501);
    }
}
