//! HTTP in and out: one handler for everything under the service roots, because OData paths
//! (`Customer(5)`, `Customer/$count`) are not router patterns and the roots are configuration. It resolves the
//! resource, checks the method exists on the SmartObject (405 otherwise) and the caller may use it (403), parses
//! the query options (400), then asks the store. Every response carries `OData-Version: 4.0`. `HEAD` is
//! answered wherever `GET` is, with the same headers (axum drops the body and keeps its `Content-Length`).
//!
//! Links (`@odata.context`, `@odata.nextLink`, `Location`, `OData-EntityId`) name the base path the request
//! came in on, after `odata.public_url` when it is configured; they are never built from the request's `Host`
//! or `X-Forwarded-*`, which the client controls.

use super::error::ODataError;
use super::json::{parse_body, BodyMode, Collection, Entity};
use super::metadata::service_document;
use super::query::{key_segment, parse_key, parse_options, parse_path, QueryOptions, Resource, Target};
use super::remote::{self, Remote};
use super::smartobject::{Method, SmartObject};
use super::store::ListQuery;
use super::ODataApi;
use crate::outbound::tokens::Principal;
use crate::{ApiError, ApiState, Caller};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method as HttpMethod, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Content type of JSON responses.
const JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// Every request the other built-in routes do not match: served when it is under a configured base path,
/// 404 otherwise.
pub async fn handle(
    State(state): State<Arc<ApiState>>,
    caller: Result<Caller, ApiError>,
    method: HttpMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let api = state.odata.load_full();
    let Some((base, rest)) = api.split_base(uri.path()) else {
        return ApiError::not_found("no built-in API at this path").into_response();
    };
    let mut response = match caller {
        Ok(caller) => {
            let request = Request {
                api: &api,
                remote: state.remote.as_deref(),
                base,
                rest,
                caller: &caller,
                method: &method,
                uri: &uri,
                headers: &headers,
                body: &body,
            };
            request.respond().await.unwrap_or_else(IntoResponse::into_response)
        }
        Err(e) => ODataError::from(e).into_response(),
    };
    response
        .headers_mut()
        .insert("odata-version", HeaderValue::from_static("4.0"));
    response
}

struct Request<'a> {
    api: &'a ODataApi,
    /// The caller of REST SmartObjects' services (when `oauth:` is configured).
    remote: Option<&'a Remote>,
    /// The base path the request came in on, as configured.
    base: &'a str,
    /// The path after it.
    rest: &'a str,
    caller: &'a Caller,
    method: &'a HttpMethod,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    body: &'a Bytes,
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))], body).into_response()
}

fn serialize(value: &impl serde::Serialize) -> Result<Vec<u8>, ODataError> {
    serde_json::to_vec(value).map_err(|e| {
        tracing::error!(error = %e, "OData response serialisation failed");
        ODataError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "the response could not be written",
        )
    })
}

/// The bearer token of the request's one `Authorization` header, if it is one.
fn inbound_bearer(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The methods allowed on a collection or an entity of `so`, for 405's `Allow`.
fn allowed(so: &SmartObject, entity: bool) -> Vec<&'static str> {
    let m = so.methods;
    let pairs: &[(Method, &[&'static str])] = if entity {
        &[
            (Method::Read, &["GET", "HEAD"]),
            (Method::Update, &["PATCH", "PUT"]),
            (Method::Delete, &["DELETE"]),
        ]
    } else {
        &[(Method::List, &["GET", "HEAD"]), (Method::Create, &["POST"])]
    };
    pairs
        .iter()
        .filter(|(method, _)| m.has(*method))
        .flat_map(|(_, verbs)| verbs.iter().copied())
        .collect()
}

impl Request<'_> {
    async fn respond(&self) -> Result<Response, ODataError> {
        self.check_version()?;
        let resource = parse_path(self.rest)?;
        let get_only = |resource: &str| {
            if self.method == HttpMethod::GET || self.method == HttpMethod::HEAD {
                Ok(())
            } else {
                Err(ODataError::method_not_allowed(
                    format!("{resource} is read-only"),
                    &["GET", "HEAD"],
                ))
            }
        };
        match resource {
            Resource::ServiceDocument => {
                get_only("the service document")?;
                parse_options(self.uri.query(), None, Target::Service)?;
                let context = format!("{}/$metadata", self.root());
                let body = serialize(&service_document(&context, self.api.catalog.published()))?;
                Ok(json_response(StatusCode::OK, body))
            }
            Resource::Metadata => {
                get_only("$metadata")?;
                parse_options(self.uri.query(), None, Target::Service)?;
                Ok((
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/xml;charset=utf-8"),
                    )],
                    self.api.catalog.metadata().to_string(),
                )
                    .into_response())
            }
            Resource::Collection(name) => {
                let so = self.entity_set(&name)?;
                match *self.method {
                    HttpMethod::GET | HttpMethod::HEAD => self.list(so).await,
                    HttpMethod::POST => self.create(so).await,
                    _ => Err(self.not_allowed(&so, false)),
                }
            }
            Resource::Count(name) => {
                let so = self.entity_set(&name)?;
                get_only("$count")?;
                self.require(&so, Method::List, false)?;
                let options = parse_options(self.uri.query(), Some(&so), Target::Count)?;
                let n = if so.source.rest().is_some() {
                    let rows = self.remote()?.list(&so, self.rest_caller()).await?;
                    rows.iter()
                        .filter(|row| options.filter.as_ref().is_none_or(|f| super::eval::matches(f, row)))
                        .count() as u64
                } else {
                    self.api.store.count(so, options.filter).await?
                };
                Ok((
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain;charset=utf-8"),
                    )],
                    n.to_string(),
                )
                    .into_response())
            }
            Resource::Entity(name, key) => {
                let so = self.entity_set(&name)?;
                let key = parse_key(&so, &key)?;
                match *self.method {
                    HttpMethod::GET | HttpMethod::HEAD => self.read(so, key).await,
                    HttpMethod::PATCH => self.update(so, key, BodyMode::Merge).await,
                    HttpMethod::PUT => self.update(so, key, BodyMode::Replace).await,
                    HttpMethod::DELETE => self.delete(so, key).await,
                    _ => Err(self.not_allowed(&so, true)),
                }
            }
        }
    }

    /// Refuses clients that accept only an older protocol.
    fn check_version(&self) -> Result<(), ODataError> {
        let Some(max) = self.headers.get("odata-maxversion") else {
            return Ok(());
        };
        let text = max.to_str().unwrap_or("").trim();
        match text.split('.').next().and_then(|major| major.parse::<u32>().ok()) {
            Some(major) if major >= 4 => Ok(()),
            _ => Err(ODataError::bad_request(
                "OData-MaxVersion",
                format!("this service speaks OData 4.0; the client accepts at most '{text}'"),
            )),
        }
    }

    /// The service root in links: the configured public URL (if any) and the base path the request came in on.
    fn root(&self) -> String {
        format!("{}{}", self.api.public_url.as_deref().unwrap_or(""), self.base)
    }

    fn entity_set(&self, name: &str) -> Result<Arc<SmartObject>, ODataError> {
        self.api
            .catalog
            .entity_set(name)
            .cloned()
            .ok_or_else(|| ODataError::not_found(format!("no entity set '{name}' is published by this service")))
    }

    fn not_allowed(&self, so: &SmartObject, entity: bool) -> ODataError {
        let allow = allowed(so, entity);
        ODataError::method_not_allowed(
            format!(
                "{} is not allowed on {} {}: the SmartObject's methods are {}",
                self.method,
                if entity { "an entity of" } else { "the entity set" },
                so.published_name,
                so.methods
                    .iter()
                    .map(|m| format!("{m:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            &allow,
        )
    }

    /// 405 when `so` lacks `method`, 403 when the caller may not use it.
    fn require(&self, so: &SmartObject, method: Method, entity: bool) -> Result<(), ODataError> {
        if !so.methods.has(method) {
            return Err(self.not_allowed(so, entity));
        }
        let (access, verb) = match method {
            Method::List | Method::Read => (&so.readers, "read"),
            Method::Create | Method::Update | Method::Delete => (&so.writers, "change"),
        };
        if access.allows(self.caller) {
            Ok(())
        } else {
            Err(ODataError::forbidden(format!(
                "{} may not {verb} {}",
                self.caller.user, so.published_name
            )))
        }
    }

    /// The caller of REST services, or 503 when outbound OAuth is not running (a configuration with a REST
    /// SmartObject and no `oauth:` section is refused, so this is a safety net).
    fn remote(&self) -> Result<&Remote, ODataError> {
        self.remote.ok_or_else(|| {
            ODataError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "REST SmartObjects need outbound OAuth, which is not running in this gateway",
            )
        })
    }

    /// The caller as the token sources see it: the user, and the bearer token they authenticated with when the
    /// route forwarded it (`auth.forward_credentials: bearer`), for on-behalf-of.
    fn rest_caller(&self) -> remote::Caller<'_> {
        let bearer = (self.caller.auth_method == "oauth")
            .then(|| inbound_bearer(self.headers))
            .flatten();
        remote::Caller {
            principal: Principal {
                user: &self.caller.user,
                inbound_bearer: bearer,
            },
            bearer_not_forwarded: self.caller.auth_method == "oauth" && bearer.is_none(),
            public_url: self.api.public_url.as_deref(),
        }
    }

    fn prefers(&self, preference: &str) -> bool {
        self.headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim().eq_ignore_ascii_case(preference))
    }

    fn entity_url(&self, so: &SmartObject, key: &super::edm::Value) -> String {
        format!("{}/{}({})", self.root(), so.published_name, key_segment(key))
    }

    async fn list(&self, so: Arc<SmartObject>) -> Result<Response, ODataError> {
        self.require(&so, Method::List, false)?;
        let options = parse_options(self.uri.query(), Some(&so), Target::Collection)?;
        let page = self.api.page_size.max(1);
        let limit = options.top.map_or(page, |top| top.min(page));
        let (mut rows, count) = if so.source.rest().is_some() {
            // Every row the service returned (at most max_rows), then the query options, as the stores apply them.
            let all = self.remote()?.list(&so, self.rest_caller()).await?;
            let page = QueryOptions {
                top: Some(limit + 1),
                ..options.clone()
            };
            let (rows, count) = super::rest::apply(all, &page, so.key);
            (rows, options.count.then_some(count))
        } else {
            let count = if options.count {
                Some(self.api.store.count(so.clone(), options.filter.clone()).await?)
            } else {
                None
            };
            let query = ListQuery {
                filter: options.filter.clone(),
                order: options.order.clone(),
                skip: options.skip,
                limit: limit + 1,
            };
            (self.api.store.list(so.clone(), query).await?, count)
        };
        let more = rows.len() as u64 > limit && options.top.is_none_or(|top| top > limit);
        rows.truncate(limit as usize);
        let next_link = more.then(|| self.next_link(&so, &options, limit));
        let context = self.collection_context(&so, &options);
        let body = serialize(&Collection {
            context: &context,
            count,
            value: rows
                .iter()
                .map(|row| Entity {
                    so: &so,
                    row,
                    select: options.select.as_deref(),
                    context: None,
                })
                .collect(),
            next_link,
        })?;
        Ok(json_response(StatusCode::OK, body))
    }

    fn collection_context(&self, so: &SmartObject, options: &QueryOptions) -> String {
        let root = self.root();
        match &options.select {
            None => format!("{root}/$metadata#{}", so.published_name),
            Some(select) => format!(
                "{root}/$metadata#{}({})",
                so.published_name,
                select
                    .iter()
                    .map(|&i| so.properties[i].published_name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }

    /// The same query one page further: the client's other options unchanged, `$skip` advanced and `$top`
    /// reduced by what this page served.
    fn next_link(&self, so: &SmartObject, options: &QueryOptions, served: u64) -> String {
        let mut pairs = options.carried.clone();
        pairs.push(format!("$skip={}", options.skip + served));
        if let Some(top) = options.top {
            pairs.push(format!("$top={}", top - served));
        }
        format!("{}/{}?{}", self.root(), so.published_name, pairs.join("&"))
    }

    async fn read(&self, so: Arc<SmartObject>, key: super::edm::Value) -> Result<Response, ODataError> {
        self.require(&so, Method::Read, true)?;
        let options = parse_options(self.uri.query(), Some(&so), Target::Entity)?;
        let found = if so.source.rest().is_some() {
            self.remote()?.read(&so, self.rest_caller(), &key).await?
        } else {
            self.api.store.read(so.clone(), key.clone()).await?
        };
        let row = found.ok_or_else(|| {
            ODataError::not_found(format!(
                "{} has no entity with key {}",
                so.published_name,
                key_segment(&key)
            ))
        })?;
        self.entity_response(StatusCode::OK, &so, &row, options.select.as_deref())
    }

    fn entity_response(
        &self,
        status: StatusCode,
        so: &SmartObject,
        row: &[super::edm::Value],
        select: Option<&[usize]>,
    ) -> Result<Response, ODataError> {
        let context = format!("{}/$metadata#{}/$entity", self.root(), so.published_name);
        let body = serialize(&Entity {
            so,
            row,
            select,
            context: Some(&context),
        })?;
        Ok(json_response(status, body))
    }

    async fn create(&self, so: Arc<SmartObject>) -> Result<Response, ODataError> {
        self.require(&so, Method::Create, false)?;
        parse_options(self.uri.query(), Some(&so), Target::Entity)?;
        let values = parse_body(&so, self.body, BodyMode::Create, None)?;
        let row = if so.source.rest().is_some() {
            self.remote()?.create(&so, self.rest_caller(), &values).await?
        } else {
            self.api.store.create(so.clone(), values).await?
        };
        let location = self.entity_url(&so, &row[so.key]);
        let mut response = if self.prefers("return=minimal") {
            let mut r = StatusCode::NO_CONTENT.into_response();
            r.headers_mut()
                .insert("preference-applied", HeaderValue::from_static("return=minimal"));
            if let Ok(id) = HeaderValue::from_str(&location) {
                r.headers_mut().insert("odata-entityid", id);
            }
            r
        } else {
            self.entity_response(StatusCode::CREATED, &so, &row, None)?
        };
        if let Ok(location) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        Ok(response)
    }

    async fn update(
        &self,
        so: Arc<SmartObject>,
        key: super::edm::Value,
        mode: BodyMode,
    ) -> Result<Response, ODataError> {
        self.require(&so, Method::Update, true)?;
        parse_options(self.uri.query(), Some(&so), Target::Entity)?;
        let values = parse_body(&so, self.body, mode, Some(&key))?;
        let updated = if so.source.rest().is_some() {
            self.remote()?.update(&so, self.rest_caller(), &key, &values).await?
        } else {
            self.api.store.update(so.clone(), key.clone(), values).await?
        };
        let row = updated.ok_or_else(|| {
            ODataError::not_found(format!(
                "{} has no entity with key {}",
                so.published_name,
                key_segment(&key)
            ))
        })?;
        if self.prefers("return=representation") {
            let mut r = self.entity_response(StatusCode::OK, &so, &row, None)?;
            r.headers_mut()
                .insert("preference-applied", HeaderValue::from_static("return=representation"));
            Ok(r)
        } else {
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }

    async fn delete(&self, so: Arc<SmartObject>, key: super::edm::Value) -> Result<Response, ODataError> {
        self.require(&so, Method::Delete, true)?;
        parse_options(self.uri.query(), Some(&so), Target::Service)?;
        let deleted = if so.source.rest().is_some() {
            self.remote()?.delete(&so, self.rest_caller(), &key).await?
        } else {
            self.api.store.delete(so.clone(), key.clone()).await?
        };
        if deleted {
            Ok(StatusCode::NO_CONTENT.into_response())
        } else {
            Err(ODataError::not_found(format!(
                "{} has no entity with key {}",
                so.published_name,
                key_segment(&key)
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inbound_bearer_is_the_one_bearer_authorization() {
        let headers = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            }
            h
        };
        assert_eq!(inbound_bearer(&headers(&["Bearer abc"])), Some("abc"));
        assert_eq!(inbound_bearer(&headers(&["bearer  abc "])), Some("abc"));
        assert_eq!(inbound_bearer(&headers(&["Basic YTpi"])), None);
        assert_eq!(inbound_bearer(&headers(&["Bearer "])), None);
        assert_eq!(inbound_bearer(&headers(&["Bearer a", "Bearer b"])), None, "ambiguous");
        assert_eq!(inbound_bearer(&headers(&[])), None);
    }
}
