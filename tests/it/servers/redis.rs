//! `redis-server` on a free loopback port in a temporary directory, without persistence (`--save ''`,
//! `--appendonly no`), killed when dropped. [`Redis::stop`] and [`Redis::start_again`] take it down and bring it
//! back on the same port (an empty server, as after a restart without persistence), for the degraded-mode
//! tests.

use super::{require_tool, wait_for, Killed};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A redis-server of the test's own.
pub struct Redis {
    process: Killed,
    binary: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Its directory (working directory, log).
    pub dir: tempfile::TempDir,
}

impl Redis {
    /// Starts redis-server on a free loopback port and waits until it answers PING.
    pub async fn start() -> Self {
        let mut redis = Self {
            process: Killed(None),
            binary: require_tool("redis-server"),
            port: crate::support::free_port(),
            dir: tempfile::tempdir().unwrap(),
        };
        redis.start_again().await;
        redis
    }

    /// `redis://127.0.0.1:port/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops it (connections are reset; nothing listens on the port until [`Redis::start_again`]).
    pub fn stop(&mut self) {
        self.process.kill();
    }

    /// Starts it (again) on the same port, empty, and waits until it answers PING.
    pub async fn start_again(&mut self) {
        assert!(self.process.0.is_none(), "redis-server is already running");
        let log = self.dir.path().join("redis.log");
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start redis-server");
        self.process = Killed(Some(child));
        let port = self.port;
        wait_for("redis-server", Duration::from_secs(15), &mut self.process, &log, || {
            ping(port)
        })
        .await;
    }
}

/// Whether a server on `127.0.0.1:port` answers `PING` with `+PONG`.
pub async fn ping(port: u16) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    matches!(
        tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut reply)).await,
        Ok(Ok(_)) if &reply == b"+PONG\r\n"
    )
}
