//! Real third-party servers the suites start on loopback: OpenLDAP's `slapd`, the `oidc-provider` OpenID
//! Connect provider (Node), an Azure AD token endpoint mock, a REST service behind a SmartObject, nginx as an upstream, a PostgreSQL cluster and redis-server. Each
//! runs in its own temporary directory and is killed when dropped. A missing tool fails the test loudly:
//! `.ci/bootstrap` installs them.
#![allow(dead_code)]

pub mod aad;
pub mod nginx;
pub mod oidc;
pub mod postgres;
pub mod redis;
pub mod rest;
pub mod slapd;
pub mod sts;

pub use authgate_testkit::process::{wait_for, Killed};
use std::path::PathBuf;

/// The path of `tool`, searched in `PATH` and the sbin directories; panics naming the install step.
pub fn require_tool(tool: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("`{tool}` is not installed: run .ci/bootstrap (it installs every test server)"))
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
pub async fn accepts(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
}
