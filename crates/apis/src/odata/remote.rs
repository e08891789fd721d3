//! Calls the REST service of a REST SmartObject ([`super::rest`]) with the caller's own OAuth token for the
//! SmartObject's resource ([`Outbound::token_for`]), and turns every failure into an OData error:
//!
//! | what happened | status | code |
//! |---|---|---|
//! | no token (not connected, needs re-authorization; no inbound bearer, refused; unavailable) | 401 / 403 / 503 | the refusal's (`oauth_not_connected`...), `innererror` naming `resource` and `authorize_url` |
//! | the service did not answer in time (connect 2 s, whole answer 10 s) | 504 | `GatewayTimeout` |
//! | unreachable, a status other than 2xx (404 on an entity is the entity's absence), not JSON, not the configured shape, a field of the wrong type, an answer over 16 MiB | 502 | `BadGateway` |
//! | a List answer with more rows than `max_rows` | 502 | `TooManyRows` |
//!
//! Nothing the service sent (its body, a field's value) and never a token reaches the caller or the log: the
//! caller is told which SmartObject, which method and what kind of failure; the log adds the status.

use super::edm::Value;
use super::error::ODataError;
use super::json::json_of;
use super::rest::{RestCall, RestError, RestSource};
use super::smartobject::{Method, SmartObject};
use super::store::Row;
use crate::outbound::refusal::Refusal;
use crate::outbound::service::Outbound;
use crate::outbound::tokens::Principal;
use axum::http::StatusCode;
use serde_json::{json, Value as Json};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for a connection to the service.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for a whole answer (connection, request, body).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read from the service.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// The caller of REST services: outbound OAuth for the tokens and an HTTP client for the services.
pub struct Remote {
    outbound: Arc<Outbound>,
    client: reqwest::Client,
}

/// Who calls, and how the links of a refusal are written.
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    /// The user and the bearer token they arrived with.
    pub principal: Principal<'a>,
    /// The caller authenticated with a bearer token that did not reach the built-in API (the OData route does
    /// not forward it: `auth.forward_credentials: bearer`).
    pub bearer_not_forwarded: bool,
    /// `odata.public_url`, put before the authorize path.
    pub public_url: Option<&'a str>,
}

/// Why a call failed, before it is an OData error.
#[derive(Debug)]
enum Failure {
    Timeout,
    Unreachable(String),
    Status(StatusCode),
    TooLarge,
    NotJson,
    Answer(RestError),
}

impl Remote {
    /// Calls services with `outbound`'s tokens: no proxy from the environment, no redirects (a redirect is a
    /// bad answer: the token is never sent elsewhere), the timeouts above.
    pub fn new(outbound: Arc<Outbound>) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TIMEOUT)
            .user_agent(concat!("authgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { outbound, client })
    }

    /// Every row of the List answer (at most `max_rows`), by property index.
    pub async fn list(&self, so: &SmartObject, caller: Caller<'_>) -> Result<Vec<Row>, ODataError> {
        let (rest, call) = calling(so, Method::List)?;
        let json = self
            .call(so, Method::List, caller, None, None)
            .await?
            .unwrap_or(Json::Null);
        rest.rows(call, &json, so)
            .map_err(|e| self.fail(so, Method::List, Failure::Answer(e)))
    }

    /// The entity with `key`, `None` when the service answers 404.
    pub async fn read(&self, so: &SmartObject, caller: Caller<'_>, key: &Value) -> Result<Option<Row>, ODataError> {
        let rest = calling(so, Method::Read)?.0;
        match self.call(so, Method::Read, caller, Some(key), None).await? {
            None => Ok(None),
            Some(json) => rest
                .row(&json, so)
                .map(Some)
                .map_err(|e| self.fail(so, Method::Read, Failure::Answer(e))),
        }
    }

    /// Sends `values` as a new entity; the entity the service answers (or, with an empty answer, the values
    /// sent).
    pub async fn create(
        &self,
        so: &SmartObject,
        caller: Caller<'_>,
        values: &[(usize, Value)],
    ) -> Result<Row, ODataError> {
        let rest = calling(so, Method::Create)?.0;
        let answer = self
            .call(so, Method::Create, caller, None, Some(body(rest, values)))
            .await?;
        self.entity(so, rest, Method::Create, answer, None, values)
    }

    /// Sends `values` for the entity with `key`; `None` when the service answers 404.
    pub async fn update(
        &self,
        so: &SmartObject,
        caller: Caller<'_>,
        key: &Value,
        values: &[(usize, Value)],
    ) -> Result<Option<Row>, ODataError> {
        let rest = calling(so, Method::Update)?.0;
        match self
            .call(so, Method::Update, caller, Some(key), Some(body(rest, values)))
            .await?
        {
            None => Ok(None),
            answer => self
                .entity(so, rest, Method::Update, answer, Some(key), values)
                .map(Some),
        }
    }

    /// Deletes the entity with `key`; false when the service answers 404.
    pub async fn delete(&self, so: &SmartObject, caller: Caller<'_>, key: &Value) -> Result<bool, ODataError> {
        self.send(so, Method::Delete, caller, Some(key), None)
            .await
            .map(|answer| answer.is_some())
    }

    /// The entity in `answer`, or (an empty answer) the values sent, with `key` in its place.
    fn entity(
        &self,
        so: &SmartObject,
        rest: &RestSource,
        method: Method,
        answer: Option<Json>,
        key: Option<&Value>,
        values: &[(usize, Value)],
    ) -> Result<Row, ODataError> {
        match answer {
            Some(json) if !json.is_null() => rest
                .row(&json, so)
                .map_err(|e| self.fail(so, method, Failure::Answer(e))),
            _ => {
                let mut row = vec![Value::Null; so.properties.len()];
                for (i, v) in values {
                    row[*i] = v.clone();
                }
                if let Some(key) = key {
                    row[so.key] = key.clone();
                }
                Ok(row)
            }
        }
    }

    /// Calls `call` and reads its JSON answer: `None` for a 404 on a keyed call; `Some(Null)` for an empty
    /// answer.
    async fn call(
        &self,
        so: &SmartObject,
        method: Method,
        caller: Caller<'_>,
        key: Option<&Value>,
        body: Option<Json>,
    ) -> Result<Option<Json>, ODataError> {
        let Some(bytes) = self.send(so, method, caller, key, body).await? else {
            return Ok(None);
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Some(Json::Null));
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| self.fail(so, method, Failure::NotJson))
    }

    /// Sends the request with the user's token; the answer's bytes, `None` for a 404 on a keyed call.
    async fn send(
        &self,
        so: &SmartObject,
        method: Method,
        caller: Caller<'_>,
        key: Option<&Value>,
        body: Option<Json>,
    ) -> Result<Option<Vec<u8>>, ODataError> {
        let (rest, call) = calling(so, method)?;
        let token = self
            .outbound
            .token_for(caller.principal, &rest.oauth_resource)
            .await
            .map_err(|e| refused(&Refusal::from_error(&e), caller))?;
        let url = rest
            .url(call, key.map(key_text).as_deref())
            .map_err(|e| self.fail(so, method, Failure::Unreachable(format!("bad URL: {e}"))))?;
        let mut request = self
            .client
            .request(call.method.clone(), url)
            .bearer_auth(token.secret())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let result = async {
            let mut response = request.send().await.map_err(transport)?;
            let status = response.status();
            if status == StatusCode::NOT_FOUND && key.is_some() {
                return Ok(None);
            }
            if !status.is_success() {
                return Err(Failure::Status(status));
            }
            if response.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
                return Err(Failure::TooLarge);
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(transport)? {
                if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(Failure::TooLarge);
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(Some(bytes))
        }
        .await;
        result.map_err(|f| self.fail(so, method, f))
    }

    /// The OData error of `failure`, logged (without the service's body or the token).
    fn fail(&self, so: &SmartObject, method: Method, failure: Failure) -> ODataError {
        let name = &so.published_name;
        let what = format!("{method:?} of {name}");
        let detail = match &failure {
            Failure::Unreachable(reason) => reason.clone(),
            Failure::Status(status) => format!("HTTP {}", status.as_u16()),
            Failure::Answer(RestError::Field { field, property, .. }) => {
                format!("field '{field}' does not fit property {property}")
            }
            other => format!("{other:?}"),
        };
        tracing::warn!(smartobject = %so.system_name, method = ?method, %detail, "REST SmartObject call failed");
        let bad = |message: String| ODataError::new(StatusCode::BAD_GATEWAY, "BadGateway", message);
        match failure {
            Failure::Timeout => ODataError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "GatewayTimeout",
                format!("the service behind {name} did not answer the {what} in time"),
            ),
            Failure::Unreachable(_) => bad(format!("the service behind {name} could not be reached ({what})")),
            Failure::Status(status) => bad(format!(
                "the service behind {name} answered the {what} with HTTP {}",
                status.as_u16()
            )),
            Failure::TooLarge => bad(format!(
                "the service behind {name} answered the {what} with more than {} MiB",
                MAX_ANSWER_BYTES / (1024 * 1024)
            )),
            Failure::NotJson => bad(format!(
                "the service behind {name} answered the {what} with something other than JSON"
            )),
            Failure::Answer(RestError::TooManyRows { max }) => ODataError::new(
                StatusCode::BAD_GATEWAY,
                "TooManyRows",
                format!(
                    "the service behind {name} returned more than {max} rows, more than this SmartObject allows \
                     (rest.max_rows); $filter and $top are applied by the gateway after the rows arrive, so \
                     narrow the request at the service or raise max_rows"
                ),
            ),
            Failure::Answer(RestError::Shape(shape)) => {
                bad(format!("the service behind {name} answered the {what}: {shape}"))
            }
            Failure::Answer(RestError::Field { field, property, .. }) => bad(format!(
                "the service behind {name} answered the {what} with a value of field '{field}' that does not fit \
                 property {property}"
            )),
        }
    }
}

fn transport(e: reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else {
        Failure::Unreachable(e.without_url().to_string())
    }
}

/// The SmartObject's REST source and its request for `method`.
fn calling(so: &SmartObject, method: Method) -> Result<(&RestSource, &RestCall), ODataError> {
    so.source
        .rest()
        .and_then(|rest| rest.call(method).map(|call| (rest, call)))
        .ok_or_else(|| {
            ODataError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                format!("{} has no REST request for {method:?}", so.published_name),
            )
        })
}

/// The JSON object of `values`, by the properties' fields.
fn body(rest: &RestSource, values: &[(usize, Value)]) -> Json {
    Json::Object(
        values
            .iter()
            .map(|(i, v)| (rest.fields[*i].clone(), json_of(v)))
            .collect(),
    )
}

/// A key as the text put into `{key}`.
fn key_text(key: &Value) -> String {
    match key {
        Value::Int(i) => i.to_string(),
        Value::Decimal(d) => d.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::String(t) | Value::DateTimeOffset(t) | Value::Date(t) | Value::TimeOfDay(t) | Value::Guid(t) => {
            t.clone()
        }
        Value::Null => String::new(),
    }
}

/// The OData error of a refusal: its status and code, the message naming the resource (and how to fix it),
/// `innererror` with `resource` and `authorize_url`.
fn refused(refusal: &Refusal, caller: Caller<'_>) -> ODataError {
    let mut message = refusal.description.clone();
    if refusal.error == "oauth_no_inbound_token" && caller.bearer_not_forwarded {
        message.push_str(
            " (the caller did authenticate with a bearer token, but the route to the OData API does not forward \
             it: set auth.forward_credentials: bearer on that route)",
        );
    }
    let mut inner = json!({"error": refusal.error, "resource": refusal.resource});
    if let Some(url) = &refusal.authorize_url {
        inner["authorize_url"] = json!(format!("{}{url}", caller.public_url.unwrap_or("")));
    }
    tracing::debug!(resource = %refusal.resource, error = refusal.error, "no outbound token for a REST SmartObject");
    ODataError {
        inner: Some(Box::new(inner)),
        ..ODataError::new(
            StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            refusal.error,
            message,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::smartobject::SmartObjectFile;
    use crate::outbound::resource::{GrantKind, Resource, ResourceType};
    use crate::outbound::service::tests::{catalog, vault};
    use crate::outbound::tokens::{AccessToken, TokenError, TokenSource};
    use async_trait::async_trait;
    use axum::routing::get;

    /// Tokens `tok-<user>`, or `NotConnected` for user `nobody`.
    struct Tokens;

    #[async_trait]
    impl TokenSource for Tokens {
        async fn access_token(
            &self,
            caller: Principal<'_>,
            resource: &Resource,
            _: &ResourceType,
        ) -> Result<AccessToken, TokenError> {
            if caller.user == "nobody" {
                return Err(TokenError::NotConnected {
                    resource: resource.name.clone(),
                    authorize_url: Outbound::authorize_path(&resource.name),
                });
            }
            Ok(AccessToken::new(format!("tok-{}", caller.user), None))
        }
    }

    async fn serve(router: axum::Router) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        addr
    }

    fn smartobject(base: &str) -> SmartObject {
        let yaml = format!(
            "system_name: Item\nkey: Id\nmethods: [List, Read, Delete]\nproperties:\n  - {{name: Id, type: Number}}\n  - {{name: Name, type: Text}}\n\
             rest:\n  oauth_resource: Files\n  base_url: {base}\n  list: {{path: items}}\n  read: {{path: 'items/{{key}}'}}\n  delete: {{path: 'items/{{key}}'}}\n"
        );
        let file: SmartObjectFile =
            authgate_core::config::parse_yaml(std::path::Path::new("so.yaml"), &yaml, |_| None).unwrap();
        SmartObject::from_file(file).unwrap()
    }

    async fn remote() -> (Remote, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let stores = crate::store::sqlite::open(&dir.path().join("db.sqlite"), 2)
            .await
            .unwrap();
        let mut outbound = Outbound::new(
            catalog("http://127.0.0.1:9/token"),
            Arc::new(vault("k1", 1)),
            stores.oauth,
            reqwest::Client::new(),
        );
        outbound.set_source(&[GrantKind::AuthorizationCode], Arc::new(Tokens));
        (Remote::new(Arc::new(outbound)).unwrap(), dir)
    }

    fn caller(user: &str) -> Caller<'_> {
        Caller {
            principal: Principal {
                user,
                inbound_bearer: None,
            },
            bearer_not_forwarded: false,
            public_url: Some("https://gw.example"),
        }
    }

    #[tokio::test]
    async fn rows_come_with_the_users_token_and_failures_never_show_the_answer() {
        let router = axum::Router::new()
            .route(
                "/ok/items",
                get(|h: axum::http::HeaderMap| async move {
                    let auth = h["authorization"].to_str().unwrap().to_string();
                    axum::Json(json!([{"Id": 1, "Name": auth}]))
                }),
            )
            .route(
                "/ok/items/{id}",
                get(|| async { (StatusCode::NOT_FOUND, "gone") }).delete(|| async { StatusCode::NO_CONTENT }),
            )
            .route(
                "/boom/items",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "SECRET-BODY") }),
            )
            .route("/text/items", get(|| async { "SECRET-TEXT" }))
            .route(
                "/moved/items",
                get(|| async { axum::response::Redirect::temporary("http://127.0.0.1:9/x") }),
            )
            .route(
                "/odd/items",
                get(|| async { axum::Json(json!([{"Id": "SECRET-VALUE"}])) }),
            );
        let addr = serve(router).await;
        let (remote, _dir) = remote().await;
        let so = |path: &str| smartobject(&format!("http://{addr}/{path}/"));

        let rows = remote.list(&so("ok"), caller("alice")).await.unwrap();
        assert_eq!(
            rows,
            vec![vec![Value::Int(1), Value::String("Bearer tok-alice".into())]]
        );
        assert_eq!(
            remote.read(&so("ok"), caller("alice"), &Value::Int(5)).await.unwrap(),
            None
        );
        assert!(remote.delete(&so("ok"), caller("alice"), &Value::Int(5)).await.unwrap());

        for (path, expected) in [
            ("boom", "with HTTP 500"),
            ("text", "other than JSON"),
            ("moved", "with HTTP 307"),
            ("odd", "field 'Id' that does not fit"),
        ] {
            let e = remote.list(&so(path), caller("alice")).await.unwrap_err();
            assert_eq!((e.status, e.code), (StatusCode::BAD_GATEWAY, "BadGateway"), "{path}");
            assert!(e.message.contains(expected), "{path}: {}", e.message);
            assert!(!e.message.contains("SECRET"), "{path}: {}", e.message);
        }
        let closed = smartobject("http://127.0.0.1:9/x/");
        let e = remote.list(&closed, caller("alice")).await.unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_GATEWAY);
        assert!(e.message.contains("could not be reached"), "{}", e.message);
    }

    #[tokio::test]
    async fn no_token_is_the_refusal_in_the_odata_shape_with_the_authorize_url() {
        let (remote, _dir) = remote().await;
        let e = remote
            .list(&smartobject("http://127.0.0.1:9/x/"), caller("nobody"))
            .await
            .unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::UNAUTHORIZED, "oauth_not_connected"));
        let inner = e.inner.unwrap();
        assert_eq!(inner["resource"], "Files");
        assert_eq!(
            inner["authorize_url"],
            "https://gw.example/api/oauth/v1/resources/Files/authorize"
        );
        let no_bearer = refused(
            &Refusal::from_error(&TokenError::NoInboundToken { resource: "Api".into() }),
            Caller {
                bearer_not_forwarded: true,
                ..caller("alice")
            },
        );
        assert_eq!(no_bearer.status, StatusCode::FORBIDDEN);
        assert!(
            no_bearer.message.contains("forward_credentials: bearer"),
            "{}",
            no_bearer.message
        );
    }

    #[test]
    fn keys_and_bodies_are_written_as_the_service_reads_them() {
        assert_eq!(key_text(&Value::Int(42)), "42");
        assert_eq!(key_text(&Value::String("a/b".into())), "a/b");
        let so = smartobject("http://127.0.0.1:9/x/");
        let rest = so.source.rest().unwrap();
        assert_eq!(
            body(rest, &[(1, Value::String("n".into())), (0, Value::Int(3))]),
            json!({"Name": "n", "Id": 3})
        );
    }
}
