//! Test harness: the real `authgate` binary on loopback, an upstream that echoes what it received, and a
//! JWKS server whose keys (and availability) the test controls.
#![allow(dead_code)]

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod api;
pub mod browser;
pub mod odata;
pub mod raw;
pub mod workflow;

pub use authgate_testkit::process::free_port;

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// An upstream answering every request with `{"method", "path", "headers": {name: value}}`.
pub async fn echo_upstream() -> SocketAddr {
    async fn echo(method: Method, uri: Uri, headers: HeaderMap) -> Json<Value> {
        let mut map = serde_json::Map::new();
        for (name, value) in &headers {
            map.insert(name.as_str().to_string(), json!(value.to_str().unwrap_or("<binary>")));
        }
        Json(json!({"method": method.as_str(), "path": uri.path(), "headers": map}))
    }
    serve(Router::new().fallback(any(echo))).await
}

/// A JWKS / OIDC discovery server whose document and availability the test changes.
#[derive(Clone)]
pub struct Idp {
    pub addr: SocketAddr,
    jwks: Arc<Mutex<Value>>,
    down: Arc<AtomicBool>,
    fetches: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct IdpState {
    jwks: Arc<Mutex<Value>>,
    down: Arc<AtomicBool>,
    fetches: Arc<AtomicUsize>,
    issuer: Arc<Mutex<String>>,
}

impl Idp {
    /// Starts the server publishing `jwks`.
    pub async fn start(document: Value) -> Self {
        let state = IdpState {
            jwks: Arc::new(Mutex::new(document)),
            down: Arc::new(AtomicBool::new(false)),
            fetches: Arc::new(AtomicUsize::new(0)),
            issuer: Arc::new(Mutex::new(String::new())),
        };
        async fn jwks(State(s): State<IdpState>) -> Result<Json<Value>, StatusCode> {
            s.fetches.fetch_add(1, Ordering::SeqCst);
            if s.down.load(Ordering::SeqCst) {
                return Err(StatusCode::SERVICE_UNAVAILABLE);
            }
            Ok(Json(s.jwks.lock().unwrap().clone()))
        }
        async fn discovery(State(s): State<IdpState>) -> Result<Json<Value>, StatusCode> {
            if s.down.load(Ordering::SeqCst) {
                return Err(StatusCode::SERVICE_UNAVAILABLE);
            }
            let issuer = s.issuer.lock().unwrap().clone();
            Ok(Json(
                json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks.json")}),
            ))
        }
        let router = Router::new()
            .route("/jwks.json", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .with_state(state.clone());
        let addr = serve(router).await;
        *state.issuer.lock().unwrap() = format!("http://{addr}");
        Self {
            addr,
            jwks: state.jwks,
            down: state.down,
            fetches: state.fetches,
        }
    }

    /// `http://addr/jwks.json`.
    pub fn jwks_url(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }

    /// Publishes another document.
    pub fn publish(&self, jwks: Value) {
        *self.jwks.lock().unwrap() = jwks;
    }

    /// Makes every request fail with 503 (or recover).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// JWKS fetches so far.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// A cheap argon2id hash (tests only; the shipped directory uses the default parameters).
pub fn hash(password: &str) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(1024, 1, 1, None).unwrap(),
    )
    .hash_password(password.as_bytes(), &salt)
    .unwrap()
    .to_string()
}

/// The users every gateway test starts with (password: `<name>-pw`).
pub fn users_yaml() -> String {
    let user = |name: &str, manager: &str, extra: &str| {
        format!(
            "  - {{name: '{name}', user_manager: {manager}, password_hash: '{}', email: '{name}@contoso.com', display_name: 'User {name}', groups: [Finance, Approvers]{extra}}}\n",
            hash(&format!("{name}-pw"))
        )
    };
    let mut out = String::from("users:\n");
    out += &user("alice", "ad", ", domain: CONTOSO");
    out += &user("carol@contoso.com", "aad", ", mfa: true");
    out += &user("erin@contoso.com", "aad", "");
    out += &user("dave", "sql", "");
    out += &user("locky", "ad", ", domain: CONTOSO");
    out
}

/// A running gateway process.
pub struct Gateway {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub admin_port: u16,
    log: PathBuf,
}

impl Gateway {
    /// Starts the binary with `yaml` (where `{PORT}`, `{ADMIN}` and `{DIR}` are substituted) and the
    /// standard users, and waits until `/healthz` answers.
    pub async fn start(yaml: &str) -> Self {
        Self::start_with_users(yaml, &users_yaml()).await
    }

    /// Like [`Gateway::start`], with extra files written into the gateway's directory first.
    pub async fn start_with_files(yaml: &str, files: &[(&str, &str)]) -> Self {
        Self::launch(yaml, &users_yaml(), files).await
    }

    /// Like [`Gateway::start`] with a custom users.yaml.
    pub async fn start_with_users(yaml: &str, users: &str) -> Self {
        Self::launch(yaml, users, &[]).await
    }

    pub async fn launch(yaml: &str, users: &str, files: &[(&str, &str)]) -> Self {
        Self::spawn(yaml, users, files, Some("warn,authgate=info"), true).await
    }

    /// Like [`Gateway::start`] with `RUST_LOG` set to `filter`.
    pub async fn start_with_rust_log(yaml: &str, filter: &str) -> Self {
        Self::spawn(yaml, &users_yaml(), &[], Some(filter), true).await
    }

    /// Like [`Gateway::start`] without `RUST_LOG`, so `server.log_level` decides.
    pub async fn start_with_config_log_level(yaml: &str) -> Self {
        Self::spawn(yaml, &users_yaml(), &[], None, true).await
    }

    /// Like [`Gateway::start`], but waits only until `/healthz` answers: for gateways that are not ready.
    pub async fn start_unready(yaml: &str) -> Self {
        Self::spawn(yaml, &users_yaml(), &[], Some("warn,authgate=info"), false).await
    }

    async fn spawn(yaml: &str, users: &str, files: &[(&str, &str)], rust_log: Option<&str>, ready: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, contents) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        let (port, admin_port) = (free_port(), free_port());
        std::fs::write(dir.path().join("users.yaml"), users).unwrap();
        let config = yaml
            .replace("{PORT}", &port.to_string())
            .replace("{ADMIN}", &admin_port.to_string())
            .replace("{DIR}", &dir.path().display().to_string());
        let config_path = dir.path().join("gateway.yaml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.path().join("gateway.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_authgate"));
        match rust_log {
            Some(filter) => command.env("RUST_LOG", filter),
            None => command.env_remove("RUST_LOG"),
        };
        let child = command
            .args(["serve", "--config"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start authgate");
        let mut gw = Self {
            child: Some(child),
            dir,
            port,
            admin_port,
            log,
        };
        gw.wait_ready(if ready { "/readyz" } else { "/healthz" }).await;
        gw
    }

    async fn wait_ready(&mut self, probe: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = client();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("authgate exited with {status} before it was ready:\n{}", self.log());
            }
            if let Ok(r) = client.get(self.admin_url(probe)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "authgate not ready after 20s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A URL on the public listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// `GET path` on the public listener with Basic credentials.
    pub async fn get_basic(&self, path: &str, user: &str, password: &str) -> reqwest::Response {
        client()
            .get(self.url(path))
            .basic_auth(user, Some(password))
            .send()
            .await
            .expect("the gateway answers")
    }

    /// `GET path` on the public listener with a bearer token.
    pub async fn get_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        client()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("the gateway answers")
    }

    /// A URL on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.admin_port, path)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// What the gateway logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The configuration file path.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("gateway.yaml")
    }

    /// Replaces the configuration file with `yaml` (placeholders substituted as at start).
    pub fn rewrite_config(&self, yaml: &str) {
        let config = yaml
            .replace("{PORT}", &self.port.to_string())
            .replace("{ADMIN}", &self.admin_port.to_string())
            .replace("{DIR}", &self.dir.path().display().to_string());
        std::fs::write(self.config_path(), config).unwrap();
    }

    /// Sends `signal` (e.g. `-TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit and returns its status code.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "authgate did not exit:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGHUP and waits until the reload counter for `result` (`ok` or `error`) moves.
    pub async fn reload_and_wait(&self, result: &str) {
        let label = format!("result=\"{result}\"");
        let before = self.metric("authgate_config_reloads_total", &[&label]).await;
        self.signal("-HUP");
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.metric("authgate_config_reloads_total", &[&label]).await <= before {
            assert!(Instant::now() < deadline, "no {result} reload:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The value of a counter (sum over every series whose labels contain all of `labels`).
    pub async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        let text = client()
            .get(self.admin_url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter(|l| {
                let series = l.split_whitespace().next().unwrap_or("");
                (series == name || series.starts_with(&format!("{name}{{"))) && labels.iter().all(|lab| l.contains(lab))
            })
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An HTTP client that never uses a proxy and does not pool connections across tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A route section forwarding `/api` to `upstream` with default auth, plus extra YAML lines for the route.
pub fn echo_route(upstream: SocketAddr, extra: &str) -> String {
    format!("  - name: echo\n    prefix: /api\n    upstream: \"{upstream}\"\n{extra}")
}

/// The common head of a test configuration.
pub fn base_config() -> String {
    "server: {drain_delay_seconds: 0, grace_period_seconds: 1, shutdown_timeout_seconds: 1, reload_poll_seconds: 0}\n\
     listeners: [{address: \"127.0.0.1:{PORT}\"}]\n\
     admin: {address: \"127.0.0.1:{ADMIN}\"}\n\
     basic: {directory: users.yaml, lockout: {max_failures_per_user: 3, max_failures_per_ip: 0, window_seconds: 60, lockout_seconds: 60}}\n\
     user_managers: {ad: {fqn_prefix: \"K2:\", domain: CONTOSO}, aad: {fqn_prefix: \"AAD:\"}}\n\
     builtin: {socket: \"{DIR}/api.sock\", database: \"{DIR}/db.sqlite\"}\n"
        .to_string()
}

/// Writes `path` relative to the gateway's directory.
pub fn write(dir: &Path, name: &str, contents: &str) {
    std::fs::write(dir.join(name), contents).unwrap();
}

/// Polls `cond` every 20 ms until it holds; panics naming `what` after 15 s.
pub async fn until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
