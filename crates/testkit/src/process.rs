//! Child processes and ports of the test servers the integration tests and the benches start.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// A free loopback port (bound then released), never one handed out before in this process: the kernel may
/// give a released port again at once, and two servers of one test (a listener and its admin listener) on
/// the same port would fail or, with `SO_REUSEPORT`, share it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if GIVEN.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return port;
        }
    }
}

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
