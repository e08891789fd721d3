//! A small REST service behind a REST SmartObject: invoices under `/v1/invoices` (List answers
//! `{"value": [...]}`; Read, Create, Update and Delete by id). It accepts only bearer tokens the STS
//! (`servers::sts`) issued for its audience (signature, issuer, audience and expiry checked), answers 401
//! otherwise, and records the user (`upn`) of every accepted call. The test can make it serve more rows or
//! fail with a 500 whose body must never reach the OData client.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What a failing service says; it must never reach the caller.
pub const SECRET_BODY: &str = "INTERNAL-STACK-TRACE-do-not-show";

/// A running service.
#[derive(Clone)]
pub struct RestService {
    pub addr: SocketAddr,
    state: Arc<Inner>,
}

struct Inner {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
    rows: Mutex<Vec<Value>>,
    users: Mutex<Vec<String>>,
    tokens: Mutex<Vec<String>>,
    fail: AtomicBool,
}

/// Invoice `i`: customers Contoso, Fabrikam, Northwind by `i % 3`, total `i * 10.5`, paid when `i` is even.
pub fn invoice(i: i64) -> Value {
    let customers = ["Contoso", "Fabrikam", "Northwind"];
    json!({"id": i, "title": format!("Invoice {i:03}"), "customer": customers[(i % 3) as usize],
           "total": i as f64 * 10.5, "paid": i % 2 == 0, "internal_note": "not a property"})
}

impl RestService {
    /// Starts it with invoices 1..=`rows`, accepting tokens `key`/`validation` accept (from `Sts::validation`).
    pub async fn start(rows: i64, (key, validation): (jsonwebtoken::DecodingKey, jsonwebtoken::Validation)) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let service = RestService {
            addr: listener.local_addr().unwrap(),
            state: Arc::new(Inner {
                key,
                validation,
                rows: Mutex::new((1..=rows).map(invoice).collect()),
                users: Mutex::new(Vec::new()),
                tokens: Mutex::new(Vec::new()),
                fail: AtomicBool::new(false),
            }),
        };
        let router = Router::new()
            .route("/v1/invoices", get(list).post(create))
            .route("/v1/invoices/{id}", get(read).patch(update).delete(delete))
            .with_state(service.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        service
    }

    /// The base URL of the SmartObject's `rest:` section.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1/", self.addr)
    }

    /// The user of each accepted call, in order.
    pub fn users(&self) -> Vec<String> {
        self.state.users.lock().unwrap().clone()
    }

    /// The tokens of the accepted calls.
    pub fn tokens(&self) -> Vec<String> {
        self.state.tokens.lock().unwrap().clone()
    }

    /// Serves invoices 1..=`rows` from now on.
    pub fn set_rows(&self, rows: i64) {
        *self.state.rows.lock().unwrap() = (1..=rows).map(invoice).collect();
    }

    /// Answers every call with 500 (and [`SECRET_BODY`]) while `fail`.
    pub fn fail(&self, fail: bool) {
        self.state.fail.store(fail, Ordering::SeqCst);
    }

    /// Records the user of an acceptable token, or the answer to give instead.
    fn check(&self, headers: &HeaderMap) -> Result<(), Box<Response>> {
        if self.state.fail.load(Ordering::SeqCst) {
            return Err(Box::new(
                (StatusCode::INTERNAL_SERVER_ERROR, SECRET_BODY).into_response(),
            ));
        }
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Box::new((StatusCode::UNAUTHORIZED, "no bearer token").into_response()))?;
        let claims = jsonwebtoken::decode::<Value>(token, &self.state.key, &self.state.validation)
            .map_err(|e| Box::new((StatusCode::UNAUTHORIZED, format!("token refused: {e}")).into_response()))?
            .claims;
        let user = claims["upn"].as_str().unwrap_or_default().to_string();
        self.state.users.lock().unwrap().push(user);
        self.state.tokens.lock().unwrap().push(token.to_string());
        Ok(())
    }
}

async fn list(State(s): State<RestService>, headers: HeaderMap) -> Response {
    if let Err(r) = s.check(&headers) {
        return *r;
    }
    let rows = s.state.rows.lock().unwrap().clone();
    Json(json!({ "value": rows })).into_response()
}

fn position(rows: &[Value], id: &str) -> Option<usize> {
    let id = id.parse::<i64>().ok()?;
    rows.iter().position(|r| r["id"].as_i64() == Some(id))
}

async fn read(State(s): State<RestService>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = s.check(&headers) {
        return *r;
    }
    let rows = s.state.rows.lock().unwrap();
    match position(&rows, &id) {
        Some(i) => Json(rows[i].clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "no such invoice").into_response(),
    }
}

async fn create(State(s): State<RestService>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Err(r) = s.check(&headers) {
        return *r;
    }
    let mut rows = s.state.rows.lock().unwrap();
    let id = rows.iter().filter_map(|r| r["id"].as_i64()).max().unwrap_or(0) + 1;
    let mut row = body;
    row["id"] = json!(id);
    rows.push(row.clone());
    (StatusCode::CREATED, Json(row)).into_response()
}

async fn update(
    State(s): State<RestService>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(r) = s.check(&headers) {
        return *r;
    }
    let mut rows = s.state.rows.lock().unwrap();
    let Some(i) = position(&rows, &id) else {
        return (StatusCode::NOT_FOUND, "no such invoice").into_response();
    };
    if let (Some(row), Some(changes)) = (rows[i].as_object_mut(), body.as_object()) {
        for (k, v) in changes {
            row.insert(k.clone(), v.clone());
        }
    }
    Json(rows[i].clone()).into_response()
}

async fn delete(State(s): State<RestService>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Err(r) = s.check(&headers) {
        return *r;
    }
    let mut rows = s.state.rows.lock().unwrap();
    match position(&rows, &id) {
        Some(i) => {
            rows.remove(i);
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such invoice").into_response(),
    }
}
