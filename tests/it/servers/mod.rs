//! Real third-party servers the suites start on loopback: OpenLDAP's `slapd`, the `oidc-provider` OpenID
//! Connect provider (Node), an Azure AD token endpoint mock, nginx as an upstream, a PostgreSQL cluster and redis-server. Each
//! runs in its own temporary directory and is killed when dropped. A missing tool fails the test loudly:
//! `.ci/bootstrap` installs them.
#![allow(dead_code)]

pub mod aad;
pub mod nginx;
pub mod oidc;
pub mod postgres;
pub mod redis;
pub mod slapd;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// A child process killed (and reaped) on drop.
pub struct Killed(pub Option<Child>);

impl Killed {
    /// Panics with `log` when the process has already exited.
    pub fn assert_running(&mut self, what: &str, log: &Path) {
        if let Some(status) = self.0.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            panic!(
                "{what} exited with {status}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    }

    /// Kills the process now.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The path of `tool`, searched in `PATH` and the sbin directories; panics naming the install step.
pub fn require_tool(tool: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("`{tool}` is not installed: run .ci/bootstrap (it installs every test server)"))
}

/// Polls `ready` every 20 ms until it holds; panics with `what` and `log` after `within`.
pub async fn wait_for<F, Fut>(what: &str, within: Duration, child: &mut Killed, log: &Path, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        child.assert_running(what, log);
        if ready().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not ready after {within:?}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
pub async fn accepts(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
}
