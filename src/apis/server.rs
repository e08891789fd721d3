//! Serves the built-in API router on the unix socket, as a pingora background service with its own
//! runtime; stops accepting on shutdown and lets in-flight requests finish.

use super::normalize_base_path;
use async_trait::async_trait;
use axum::extract::Request;
use axum::Router;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use tower::Layer;

/// The API server.
pub struct ApiServer {
    socket: PathBuf,
    router: Router,
    on_listening: Box<dyn Fn() + Send + Sync>,
}

impl ApiServer {
    /// Serves `router` on `socket`; calls `on_listening` once the socket accepts connections.
    pub fn new(socket: PathBuf, router: Router, on_listening: impl Fn() + Send + Sync + 'static) -> Self {
        Self {
            socket,
            router,
            on_listening: Box::new(on_listening),
        }
    }
}

fn rewrite(mut request: Request) -> Request {
    if let Some(uri) = normalize_base_path(request.uri()) {
        *request.uri_mut() = uri;
    }
    request
}

#[async_trait]
impl BackgroundService for ApiServer {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        // A socket left by a previous run would make bind fail.
        let _ = std::fs::remove_file(&self.socket);
        let listener = match tokio::net::UnixListener::bind(&self.socket) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(socket = %self.socket.display(), error = %e, "cannot bind the built-in API socket");
                return;
            }
        };
        if let Err(e) = std::fs::set_permissions(&self.socket, std::fs::Permissions::from_mode(0o600)) {
            tracing::error!(socket = %self.socket.display(), error = %e, "cannot restrict the built-in API socket");
            return;
        }
        let app = tower::util::MapRequestLayer::new(rewrite).layer(self.router.clone());
        let service = axum::ServiceExt::<Request>::into_make_service(app);
        tracing::info!(socket = %self.socket.display(), "built-in APIs listening");
        (self.on_listening)();
        let served = axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                let _ = shutdown.changed().await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "built-in API server stopped");
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}
