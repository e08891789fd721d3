//! A PostgreSQL cluster of its own: `initdb` in a temporary directory (trust authentication for the
//! `authgate` superuser, UTF8, locale C), `postgres` listening on a free loopback port and a socket in that
//! directory, stopped (`pg_ctl stop -m immediate`, then killed) when dropped. One cluster serves a whole suite;
//! [`Postgres::create_database`] gives each check a fresh empty database.
//!
//! Shared by the integration tests (`tests/it/servers`) and the load benches.
//!
//! PostgreSQL refuses to run as root: when the tests run as root, the cluster runs as the `postgres` system
//! user the Debian package creates (and owns the temporary directory).

use crate::process::{free_port, wait_for, Killed};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The superuser `initdb` creates (no password: trust authentication on loopback).
pub const USER: &str = "authgate";

/// A running cluster.
pub struct Postgres {
    process: Killed,
    bindir: PathBuf,
    owner: Option<(u32, u32)>,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Its directory (data, socket, log).
    pub dir: tempfile::TempDir,
    databases: AtomicUsize,
    /// Started with [`Postgres::start_tls`]: `ssl=on` with `server.crt`/`server.key` in the data directory.
    tls: bool,
}

/// A server certificate and its key, PEM.
pub struct ServerCert {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The directory of the server binaries, as Debian lays them out: `pg_config --bindir` when `pg_config` is
/// installed, else the highest `/usr/lib/postgresql/<version>/bin`. Panics naming the install step.
pub fn bindir() -> PathBuf {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|dir| dir.join("initdb").is_file());
    let highest = || {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                Some((version, entry.path().join("bin")))
            })
            .filter(|(_, bin)| bin.join("initdb").is_file())
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    };
    from_pg_config.or_else(highest).unwrap_or_else(|| {
        panic!("PostgreSQL's server (`initdb`, `postgres`) is not installed: run .ci/bootstrap (it installs every test server)")
    })
}

/// (uid, gid) of the `postgres` system user when running as root (PostgreSQL will not run as root).
fn unprivileged_owner() -> Option<(u32, u32)> {
    let me = Command::new("id").arg("-u").output().expect("run id");
    if String::from_utf8_lossy(&me.stdout).trim() != "0" {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .unwrap_or_else(|| panic!("running as root and there is no `postgres` user: run .ci/bootstrap"));
    let fields: Vec<&str> = line.split(':').collect();
    Some((fields[2].parse().unwrap(), fields[3].parse().unwrap()))
}

impl Postgres {
    /// Creates and starts a cluster on a free loopback port and waits until it accepts connections.
    pub async fn start() -> Self {
        Self::create(None).await
    }

    /// Like [`Postgres::start`], with `ssl=on` and `cert` as the server's certificate, and a `pg_hba.conf`
    /// accepting TCP connections over TLS only (`hostssl`); `psql` (libpq, `sslmode=prefer`) still works.
    pub async fn start_tls(cert: &ServerCert) -> Self {
        Self::create(Some(cert)).await
    }

    async fn create(cert: Option<&ServerCert>) -> Self {
        let bindir = bindir();
        let tool = |name: &str| {
            let path = bindir.join(name);
            assert!(path.is_file(), "`{}` is missing: run .ci/bootstrap", path.display());
            path
        };
        tool("postgres");
        tool("pg_isready");
        let owner = unprivileged_owner();
        let dir = tempfile::tempdir().unwrap();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let data = dir.path().join("data");
        let initdb = as_owner(Command::new(tool("initdb")), owner)
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                USER,
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ])
            .output()
            .expect("run initdb");
        assert!(
            initdb.status.success(),
            "initdb failed:\n{}{}",
            String::from_utf8_lossy(&initdb.stdout),
            String::from_utf8_lossy(&initdb.stderr)
        );
        if let Some(cert) = cert {
            let write = |name: &str, text: &str, mode: u32| {
                let path = data.join(name);
                std::fs::write(&path, text).unwrap();
                std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
                }
            };
            write("server.crt", &cert.cert_pem, 0o644);
            write("server.key", &cert.key_pem, 0o600);
            write(
                "pg_hba.conf",
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
                0o600,
            );
        }
        let port = free_port();
        let mut server = Self {
            process: Killed(None),
            bindir,
            owner,
            port,
            dir,
            databases: AtomicUsize::new(0),
            tls: cert.is_some(),
        };
        server.run().await;
        server
    }

    /// Starts the postmaster on the cluster's port and data directory and waits until it accepts connections.
    async fn run(&mut self) {
        let tool = |name: &str| self.bindir.join(name);
        let log = self.log();
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(&log, Some(uid), Some(gid)).unwrap();
        }
        // Durability is not under test: no fsync keeps CREATE DATABASE and commits cheap.
        let child = as_owner(Command::new(tool("postgres")), self.owner)
            .arg("-D")
            .arg(self.data())
            .arg("-k")
            .arg(self.dir.path())
            .args(["-p", &self.port.to_string(), "-h", "127.0.0.1"])
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            .args(if self.tls {
                &[
                    "-c",
                    "ssl=on",
                    "-c",
                    "ssl_cert_file=server.crt",
                    "-c",
                    "ssl_key_file=server.key",
                ][..]
            } else {
                &[][..]
            })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start postgres");
        self.process = Killed(Some(child));
        let isready = tool("pg_isready");
        let port = self.port;
        wait_for("postgres", Duration::from_secs(30), &mut self.process, &log, || {
            let ready = Command::new(&isready)
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-U",
                    USER,
                    "-d",
                    "postgres",
                ])
                .status()
                .is_ok_and(|s| s.success());
            async move { ready }
        })
        .await;
    }

    /// Stops the server (fast shutdown: sessions are ended), keeping its data; [`Postgres::restart`] brings it
    /// back on the same port.
    pub fn stop(&mut self) {
        let _ = as_owner(Command::new(self.bindir.join("pg_ctl")), self.owner)
            .arg("stop")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "-t", "20"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        self.process.kill();
    }

    /// Starts the stopped server again, same port and data.
    pub async fn restart(&mut self) {
        self.run().await;
    }
    /// A `postgres://` URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a fresh empty database and returns its URL.
    pub fn create_database(&self) -> String {
        let name = format!("db{}", self.databases.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Runs `sql` in `database` with `psql` (unaligned, tuples only) and returns its output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bindir.join("psql"))
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", USER])
            .args(["-p", &self.port.to_string(), "-d", database, "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server log.
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }
}

fn as_owner(mut command: Command, owner: Option<(u32, u32)>) -> Command {
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
    command
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Immediate shutdown stops the backends too; the kill that follows reaps the postmaster (or kills it
        // if pg_ctl could not).
        let _ = as_owner(Command::new(self.bindir.join("pg_ctl")), self.owner)
            .arg("stop")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "-t", "10"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        self.process.kill();
    }
}
