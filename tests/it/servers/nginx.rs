//! nginx as an upstream: one server block on a free loopback port, run in the foreground as the current user
//! with its configuration, pid, logs and temporary files in its own directory.

use super::{accepts, require_tool, wait_for, Killed};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A running nginx.
pub struct Nginx {
    process: Killed,
    /// The loopback port it listens on.
    pub port: u16,
    /// Its directory (configuration, logs, temporary files).
    pub dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx with `server` (directives of the `server {}` block: `location`s...) and waits until it
    /// accepts connections. Headers with underscores are accepted (`underscores_in_headers on`), so
    /// `X_Authgate_User` reaches `$http_x_authgate_user` as it would a CGI application.
    pub async fn start(server: &str) -> Self {
        let nginx = require_tool("nginx");
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let port = crate::support::free_port();
        let d = dir.path().display();
        // `master_process off`: one process, so killing it leaves no worker behind.
        let conf = format!(
            "master_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/tmp/body;\n  \
             proxy_temp_path {d}/tmp/proxy;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  \
             scgi_temp_path {d}/tmp/scgi;\n  underscores_in_headers on;\n  default_type text/plain;\n  \
             server {{\n    listen 127.0.0.1:{port};\n{server}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let log = dir.path().join("stderr.log");
        let child = Command::new(&nginx)
            .arg("-p")
            .arg(dir.path())
            .args(["-c", "nginx.conf", "-e", "error.log", "-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start nginx");
        let mut process = Killed(Some(child));
        wait_for("nginx", Duration::from_secs(15), &mut process, &log, || accepts(port)).await;
        Self { process, port, dir }
    }

    /// `127.0.0.1:port`, for a route's `upstream`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The access log so far (one line per request nginx answered).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// Stops nginx.
    pub fn stop(&mut self) {
        self.process.kill();
    }
}
