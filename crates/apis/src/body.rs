//! Every request body is read whole before a handler answers.
//!
//! A handler or router that answers without reading the body (405 for a method a path does not take, an
//! extractor's refusal) lets hyper close the connection with the body still unread. The proxy, still writing
//! that body, then gets a broken pipe, and when the close arrives as a reset the answer is lost too: the client
//! sees 502 instead of 405 (schemathesis found it). Reading the body first keeps the connection in step.

use crate::error::ApiError;
use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The largest request body the built-in APIs take (axum's own default limit for its body extractors).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Middleware: buffers the request body (at most [`MAX_BODY_BYTES`]) before the router sees the request.
pub async fn read_whole_body(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let announced = body.size_hint().lower();
    if announced > MAX_BODY_BYTES as u64 {
        return too_large();
    }
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        // A chunked body over the limit, or one the proxy stopped sending.
        Err(_) => too_large(),
    }
}

fn too_large() -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is over {MAX_BODY_BYTES} bytes or was cut short"),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;
    use axum::Router;
    use tower::ServiceExt;

    fn app() -> Router {
        Router::new()
            .route("/echo", post(|body: String| async move { body }))
            .layer(axum::middleware::from_fn(read_whole_body))
    }

    #[tokio::test]
    async fn a_handler_still_gets_the_whole_body() {
        let request = Request::post("/echo").body(Body::from("x".repeat(100_000))).unwrap();
        let response = app().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert_eq!(body.len(), 100_000);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_with_413() {
        let request = Request::post("/echo")
            .body(Body::from(vec![b'x'; MAX_BODY_BYTES + 1]))
            .unwrap();
        let response = app().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
