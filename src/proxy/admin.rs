//! The admin listener: `/healthz` (the process is up), `/readyz` (every provider's first key fetch attempted,
//! keys loaded for the providers that need them to be ready, built-in APIs listening, not draining; with shared
//! state, a `shared_state` detail says whether it is degraded, which never makes the gateway unready: it then
//! counts locally) and `/metrics` (prometheus text). Kept apart from the data path, on its own address.
//! Requests under `/admin/` go to the admin API (`authgate-admin`, an axum router), their body read whole up to
//! [`ADMIN_BODY_LIMIT`].

use async_trait::async_trait;
use authgate_core::assertion::AssertionSigner;
use authgate_core::metrics::Metrics;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Readiness state shared by the admin endpoints, the key loader and the shutdown sequence.
#[derive(Debug, Default)]
pub struct Health {
    draining: AtomicBool,
    pending_key_loads: AtomicUsize,
    builtin_pending: AtomicBool,
    listeners_pending: AtomicBool,
}

impl Health {
    /// A state waiting for `pending_key_loads` first key fetches.
    pub fn new(pending_key_loads: usize) -> Self {
        Self {
            draining: AtomicBool::new(false),
            pending_key_loads: AtomicUsize::new(pending_key_loads),
            builtin_pending: AtomicBool::new(false),
            listeners_pending: AtomicBool::new(false),
        }
    }

    /// Readiness waits until the public listeners accept connections.
    pub fn expect_listeners(&self) {
        self.listeners_pending.store(true, Ordering::Release);
    }

    /// Every public listener accepts connections.
    pub fn listeners_accepting(&self) {
        self.listeners_pending.store(false, Ordering::Release);
    }

    /// Readiness waits for the built-in API socket too.
    pub fn expect_builtin(&self) {
        self.builtin_pending.store(true, Ordering::Release);
    }

    /// The built-in API server listens on its socket.
    pub fn builtin_listening(&self) {
        self.builtin_pending.store(false, Ordering::Release);
    }

    /// Marks the gateway as draining: `/readyz` fails from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether the gateway is draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// One provider finished its first key fetch (successful or not).
    pub fn key_load_attempted(&self) {
        let _ = self
            .pending_key_loads
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Why the gateway is not ready, if it is not.
    pub fn not_ready_reason(&self) -> Option<&'static str> {
        if self.is_draining() {
            Some("draining")
        } else if self.pending_key_loads.load(Ordering::Acquire) > 0 {
            Some("loading signing keys")
        } else if self.builtin_pending.load(Ordering::Acquire) {
            Some("starting the built-in APIs")
        } else if self.listeners_pending.load(Ordering::Acquire) {
            Some("opening the listeners")
        } else {
            None
        }
    }
}

/// The admin HTTP application.
pub struct AdminApp {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    assertion: Box<dyn Fn() -> Option<Arc<AssertionSigner>> + Send + Sync>,
    awaiting_keys: Box<dyn Fn() -> Option<String> + Send + Sync>,
    shared_state: Box<dyn Fn() -> Option<SharedStateDetail> + Send + Sync>,
    admin_api: Option<axum::Router>,
}

/// The largest request body the admin API reads (413 above it).
pub const ADMIN_BODY_LIMIT: usize = 64 * 1024;
/// The largest admin API answer passed on.
const ADMIN_RESPONSE_LIMIT: usize = 16 * 1024 * 1024;

/// The `/readyz` detail of the shared state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedStateDetail {
    /// The store (its URL, password redacted).
    pub store: String,
    /// Whether it is unreachable and the lockout and rate limits count in this replica only.
    pub degraded: bool,
}

impl AdminApp {
    /// Not ready while `awaiting_keys` names a provider whose keys readiness waits for.
    pub fn with_key_readiness(mut self, awaiting_keys: impl Fn() -> Option<String> + Send + Sync + 'static) -> Self {
        self.awaiting_keys = Box::new(awaiting_keys);
        self
    }

    /// Adds the `shared_state` detail `shared_state` returns (when configured) to `/readyz`.
    pub fn with_shared_state(
        mut self,
        shared_state: impl Fn() -> Option<SharedStateDetail> + Send + Sync + 'static,
    ) -> Self {
        self.shared_state = Box::new(shared_state);
        self
    }

    /// Serves the keys of whatever signer `assertion` returns.
    pub fn with_signer(
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        assertion: impl Fn() -> Option<Arc<AssertionSigner>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            metrics,
            health,
            assertion: Box::new(assertion),
            awaiting_keys: Box::new(|| None),
            shared_state: Box::new(|| None),
            admin_api: None,
        }
    }

    /// Serves `router` (the admin API) under `/admin/`.
    pub fn with_admin_api(mut self, router: axum::Router) -> Self {
        self.admin_api = Some(router);
        self
    }

    /// The admin API's answer to the request in `session`.
    async fn admin_api(&self, router: &axum::Router, session: &mut ServerSession) -> Response<Vec<u8>> {
        use tower::ServiceExt;
        let too_large = || {
            Response::builder()
                .status(413)
                .header("content-type", "application/json")
                .body(br#"{"error":"payload_too_large"}"#.to_vec())
                .unwrap_or_else(|_| Response::new(Vec::new()))
        };
        let mut body = Vec::new();
        loop {
            match session.read_request_body().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > ADMIN_BODY_LIMIT {
                        return too_large();
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "admin API: cannot read the request body");
                    return Response::builder()
                        .status(400)
                        .body(br#"{"error":"bad_request"}"#.to_vec())
                        .unwrap_or_else(|_| Response::new(Vec::new()));
                }
            }
        }
        let head = session.req_header();
        let mut request = http::Request::builder()
            .method(head.method.clone())
            .uri(head.uri.clone())
            .body(axum::body::Body::from(body))
            .unwrap_or_else(|_| http::Request::new(axum::body::Body::empty()));
        *request.headers_mut() = head.headers.clone();
        let client = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
        request.extensions_mut().insert(authgate_admin::api::ClientAddr(client));
        let response = match router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        match axum::body::to_bytes(body, ADMIN_RESPONSE_LIMIT).await {
            Ok(bytes) => Response::from_parts(parts, bytes.to_vec()),
            Err(e) => {
                tracing::error!(error = %e, "admin API: cannot read the answer");
                Response::builder()
                    .status(500)
                    .body(Vec::new())
                    .unwrap_or_else(|_| Response::new(Vec::new()))
            }
        }
    }

    /// Why the gateway is not ready, if it is not.
    fn not_ready_reason(&self) -> Option<String> {
        self.health.not_ready_reason().map(str::to_string).or_else(|| {
            (self.awaiting_keys)().map(|provider| format!("waiting for the signing keys of provider '{provider}'"))
        })
    }

    /// The response for `path` (split out for unit tests).
    pub fn respond(&self, method: &http::Method, path: &str) -> Response<Vec<u8>> {
        let json = |status: u16, body: serde_json::Value| {
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .header("cache-control", "no-store")
                .body(body.to_string().into_bytes())
        };
        let response = match (method, path) {
            (&http::Method::GET | &http::Method::HEAD, "/healthz") => json(200, serde_json::json!({"status": "ok"})),
            (&http::Method::GET | &http::Method::HEAD, "/readyz") => {
                let (status, mut body) = match self.not_ready_reason() {
                    None => (200, serde_json::json!({"status": "ready"})),
                    Some(reason) => (503, serde_json::json!({"status": "not ready", "reason": reason})),
                };
                if let Some(shared) = (self.shared_state)() {
                    body["shared_state"] = serde_json::json!({
                        "store": shared.store,
                        "status": if shared.degraded { "degraded" } else { "ok" },
                    });
                }
                json(status, body)
            }
            (&http::Method::GET, "/.well-known/jwks.json") => match (self.assertion)() {
                Some(signer) => json(200, signer.jwks()),
                None => json(
                    404,
                    serde_json::json!({"error": "not_found", "error_description": "identity assertions are not enabled"}),
                ),
            },
            (&http::Method::GET, "/metrics") => Response::builder()
                .status(200)
                .header("content-type", "text/plain; version=0.0.4")
                .body(self.metrics.render()),
            (_, "/healthz" | "/readyz" | "/metrics") => json(405, serde_json::json!({"error": "method_not_allowed"})),
            _ => json(
                404,
                serde_json::json!({"error": "not_found", "error_description": "admin endpoints: /healthz, /readyz, /metrics"}),
            ),
        };
        response.unwrap_or_else(|_| Response::new(Vec::new()))
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let (method, path) = (req.method.clone(), req.uri.path().to_string());
        let mut response = match &self.admin_api {
            Some(router) if path == "/admin" || path.starts_with("/admin/") => self.admin_api(router, session).await,
            _ => self.respond(&method, &path),
        };
        let len = response.body().len();
        if let Ok(v) = http::HeaderValue::from_str(&len.to_string()) {
            response.headers_mut().insert(http::header::CONTENT_LENGTH, v);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_degraded_shared_state_is_a_detail_of_readiness_not_a_reason_to_fail_it() {
        let degraded = Arc::new(AtomicBool::new(false));
        let app =
            AdminApp::with_signer(Arc::new(Metrics::new()), Arc::new(Health::new(0)), || None).with_shared_state({
                let degraded = degraded.clone();
                move || {
                    Some(SharedStateDetail {
                        store: "redis://127.0.0.1:6379/0".into(),
                        degraded: degraded.load(Ordering::SeqCst),
                    })
                }
            });
        let readyz = || {
            let response = app.respond(&http::Method::GET, "/readyz");
            let body: serde_json::Value = serde_json::from_slice(response.body()).expect("json");
            (response.status().as_u16(), body)
        };
        let (status, body) = readyz();
        assert_eq!(status, 200);
        assert_eq!(body["shared_state"]["status"], "ok");
        assert_eq!(body["shared_state"]["store"], "redis://127.0.0.1:6379/0");
        degraded.store(true, Ordering::SeqCst);
        let (status, body) = readyz();
        assert_eq!(status, 200, "degraded counts locally: still ready");
        assert_eq!(body["shared_state"]["status"], "degraded");
        let plain = AdminApp::with_signer(Arc::new(Metrics::new()), Arc::new(Health::new(0)), || None);
        let body: serde_json::Value =
            serde_json::from_slice(plain.respond(&http::Method::GET, "/readyz").body()).expect("json");
        assert!(body.get("shared_state").is_none(), "{body}");
    }

    #[test]
    fn readiness_follows_key_loads_and_draining() {
        let health = Arc::new(Health::new(1));
        let app = AdminApp::with_signer(Arc::new(Metrics::new()), health.clone(), || None);
        let get = |p: &str| app.respond(&http::Method::GET, p).status().as_u16();
        assert_eq!(get("/healthz"), 200);
        assert_eq!(get("/readyz"), 503);
        health.expect_listeners();
        health.key_load_attempted();
        assert_eq!(get("/readyz"), 503, "listeners not yet accepting");
        health.listeners_accepting();
        assert_eq!(get("/readyz"), 200);
        health.start_draining();
        assert_eq!(get("/readyz"), 503);
        assert_eq!(get("/healthz"), 200);
        assert_eq!(get("/metrics"), 200);
        assert_eq!(get("/nope"), 404);
        assert_eq!(app.respond(&http::Method::POST, "/metrics").status().as_u16(), 405);
        assert_eq!(get("/.well-known/jwks.json"), 404);
        let waiting = Arc::new(AtomicBool::new(true));
        let flag = waiting.clone();
        let keys = AdminApp::with_signer(Arc::new(Metrics::new()), Arc::new(Health::new(0)), || None)
            .with_key_readiness(move || flag.load(Ordering::Acquire).then(|| "contoso".to_string()));
        let readyz = keys.respond(&http::Method::GET, "/readyz");
        assert_eq!(readyz.status().as_u16(), 503);
        assert!(String::from_utf8_lossy(readyz.body()).contains("signing keys of provider 'contoso'"));
        waiting.store(false, Ordering::Release);
        assert_eq!(keys.respond(&http::Method::GET, "/readyz").status().as_u16(), 200);
        let signer = Arc::new(AssertionSigner::new(
            authgate_core::signing::SigningAlg::ES256,
            "authgate",
            std::time::Duration::from_secs(60),
        ));
        let with_keys = AdminApp::with_signer(Arc::new(Metrics::new()), health, move || Some(signer.clone()));
        let jwks = with_keys.respond(&http::Method::GET, "/.well-known/jwks.json");
        assert_eq!(jwks.status().as_u16(), 200);
        let body: serde_json::Value = serde_json::from_slice(jwks.body()).unwrap();
        assert_eq!(body["keys"][0]["kty"], "EC");
    }
}
