//! Serves the built-in API router on the unix socket (the binary runs it as a background service with its own
//! runtime); stops accepting on shutdown and lets in-flight requests finish.
//!
//! The socket is claimed ([`ApiSocket::claim`]) before pingora starts: a socket another process still serves
//! (a second `authgate serve` with the same configuration) is refused rather than replaced, and only a stale
//! socket file (nothing accepts on it) is removed. On the way out the file is removed only if it is still ours.

use super::normalize_base_path;
use axum::extract::Request;
use axum::Router;
use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tower::Layer;

/// Why the built-in API socket cannot be claimed.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// Another process accepts connections on it.
    #[error(
        "built-in API socket {0}: another process is serving it (is another authgate running with this \
         configuration?); refusing to replace it"
    )]
    InUse(PathBuf),
    /// Something that is not a socket is in the way.
    #[error(
        "built-in API socket {0}: the path exists and is not a socket; remove it or choose another builtin.socket"
    )]
    NotASocket(PathBuf),
    /// Probing, removing, binding or restricting it failed.
    #[error("built-in API socket {path}: cannot {action}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The failure.
        source: std::io::Error,
    },
}

/// A bound built-in API socket (mode 0600), not yet accepting.
#[derive(Debug)]
pub struct ApiSocket {
    path: PathBuf,
    listener: UnixListener,
    /// Device and inode of the file this process created, so it only ever removes its own.
    file: (u64, u64),
}

impl ApiSocket {
    /// Binds `path`, first removing a stale socket file left by a process that died; refuses a socket another
    /// process is serving and a path that is not a socket.
    pub fn claim(path: &Path) -> Result<Self, SocketError> {
        let io = |action: &'static str| {
            move |source| SocketError::Io {
                path: path.to_path_buf(),
                action,
                source,
            }
        };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => return Err(SocketError::NotASocket(path.to_path_buf())),
            Ok(_) => match UnixStream::connect(path) {
                Ok(_) => return Err(SocketError::InUse(path.to_path_buf())),
                // Nothing accepts on it: a stale file from a process that did not remove it.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    tracing::info!(socket = %path.display(), "removing a stale built-in API socket");
                    std::fs::remove_file(path).map_err(io("remove the stale socket file"))?;
                }
                Err(e) => return Err(io("probe it")(e)),
            },
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io("inspect it")(e)),
        }
        let listener = UnixListener::bind(path).map_err(|e| match e.kind() {
            // Another process bound it since the probe.
            ErrorKind::AddrInUse => SocketError::InUse(path.to_path_buf()),
            _ => io("bind it")(e),
        })?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io("restrict it"))?;
        let meta = std::fs::symlink_metadata(path).map_err(io("inspect it"))?;
        Ok(Self {
            path: path.to_path_buf(),
            listener,
            file: (meta.dev(), meta.ino()),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the socket file if it is still the one this process created.
    fn remove(path: &Path, file: (u64, u64)) {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if (meta.dev(), meta.ino()) == file => {
                if let Err(e) = std::fs::remove_file(path) {
                    tracing::warn!(socket = %path.display(), error = %e, "cannot remove the built-in API socket");
                }
            }
            _ => tracing::debug!(socket = %path.display(), "the built-in API socket is not ours any more; left alone"),
        }
    }
}

/// The API server.
pub struct ApiServer {
    path: PathBuf,
    file: (u64, u64),
    socket: Mutex<Option<UnixListener>>,
    router: Router,
    on_listening: Box<dyn Fn() + Send + Sync>,
}

impl ApiServer {
    /// Serves `router` on `socket`; calls `on_listening` once the socket accepts connections.
    pub fn new(socket: ApiSocket, router: Router, on_listening: impl Fn() + Send + Sync + 'static) -> Self {
        Self {
            path: socket.path,
            file: socket.file,
            socket: Mutex::new(Some(socket.listener)),
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

impl ApiServer {
    /// Serves until `shutdown` changes (or its sender is dropped), then lets in-flight requests finish and
    /// removes the socket file if it is still ours.
    pub async fn serve(&self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let taken = self
            .socket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(listener) = taken else {
            tracing::error!("the built-in API server was started twice");
            return;
        };
        let listener = match listener
            .set_nonblocking(true)
            .and_then(|()| tokio::net::UnixListener::from_std(listener))
        {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(socket = %self.path.display(), error = %e, "cannot serve the built-in API socket");
                return;
            }
        };
        let router = self
            .router
            .clone()
            .layer(axum::middleware::from_fn(crate::body::read_whole_body));
        let app = tower::util::MapRequestLayer::new(rewrite).layer(router);
        let service = axum::ServiceExt::<Request>::into_make_service(app);
        tracing::info!(socket = %self.path.display(), "built-in APIs listening");
        (self.on_listening)();
        let served = axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                let _ = shutdown.changed().await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "built-in API server stopped");
        }
        ApiSocket::remove(&self.path, self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_socket_is_refused_and_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        let first = ApiSocket::claim(&path).unwrap();
        let err = ApiSocket::claim(&path).unwrap_err();
        assert!(matches!(err, SocketError::InUse(_)), "{err}");
        assert!(err.to_string().contains("another process is serving it"), "{err}");
        // The first socket still accepts.
        UnixStream::connect(&path).unwrap();
        assert!(first.listener.accept().is_ok());
    }

    #[test]
    fn a_stale_socket_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists(), "a closed listener leaves its file");
        let socket = ApiSocket::claim(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        UnixStream::connect(socket.path()).unwrap();
    }

    #[test]
    fn a_path_that_is_not_a_socket_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        std::fs::write(&path, "data").unwrap();
        let err = ApiSocket::claim(&path).unwrap_err();
        assert!(matches!(err, SocketError::NotASocket(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
    }

    /// A method the path does not take, with a body larger than any socket buffer: the answer must arrive
    /// whole, after the body was read, not as a reset halfway through the body (the proxy reported 502).
    #[tokio::test]
    async fn an_early_answer_waits_for_the_whole_body() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let socket = ApiSocket::claim(&dir.path().join("api.sock")).unwrap();
        let path = socket.path().to_path_buf();
        let router = Router::new().route("/only-get", axum::routing::get(|| async { "ok" }));
        let server = std::sync::Arc::new(ApiServer::new(socket, router, || {}));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let serving = tokio::spawn({
            let server = server.clone();
            async move { server.serve(stopped).await }
        });
        let body = vec![b'x'; 1024 * 1024];
        let mut stream = tokio::net::UnixStream::connect(&path).await.unwrap();
        let head = format!(
            "QUERY /only-get HTTP/1.1\r\nHost: builtin\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream
            .write_all(&body)
            .await
            .expect("the server closed before reading the body");
        let mut answer = vec![0; 1024];
        let n = stream.read(&mut answer).await.expect("the answer was lost");
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
        stop.send(true).unwrap();
        serving.await.unwrap();
    }

    #[test]
    fn only_our_own_socket_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let ours = ApiSocket::claim(&dir.path().join("ours.sock")).unwrap();
        let theirs = dir.path().join("theirs.sock");
        let _listener = UnixListener::bind(&theirs).unwrap();
        ApiSocket::remove(&theirs, ours.file);
        assert!(theirs.exists(), "another process's socket was removed");
        ApiSocket::remove(ours.path(), ours.file);
        assert!(!ours.path().exists(), "our socket was left behind");
    }
}
