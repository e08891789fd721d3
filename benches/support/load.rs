//! Shared by the load benchmarks: the release binary on loopback, one keep-alive client per connection,
//! latency samples and their report. Each load benchmark includes this file with `#[path]`.

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `name` from the environment as a number, or `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Whether `cargo bench`'s filter arguments (if any) select the benchmark called `name`.
pub fn selected(name: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    args.is_empty() || args.iter().any(|a| name.contains(a.as_str()))
}

/// A free loopback port (the test kit's: never the same one twice in a process).
pub use authgate_testkit::process::free_port;

/// A cheap argon2id hash: the benchmarks measure the APIs, and verified credentials are cached anyway.
pub fn hash(password: &str) -> String {
    let params = argon2::Params::new(1024, 1, 1, None).expect("valid argon2 parameters");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("hashing works")
        .to_string()
}

/// The `basic` and `user_managers` sections for a `users.yaml` beside `gateway.yaml`, lockout off (a bench
/// hammers a few users from one address).
pub const BASIC_USERS: &str =
    "basic: {directory: users.yaml, lockout: {max_failures_per_user: 0, max_failures_per_ip: 0}}\n\
                               user_managers: {ad: {fqn_prefix: \"K2:\", domain: CONTOSO}}\n";

/// One entry of a `users.yaml`: an AD user of CONTOSO whose password is their name (a cheap hash), in `groups`
/// (the items of a YAML flow list), with `extra` flow-mapping fields (`", manager: x"`) or `""`.
pub fn user_entry(name: &str, groups: &str, extra: &str) -> String {
    format!(
        "  - {{name: {name}, user_manager: ad, domain: CONTOSO, password_hash: '{}', groups: [{groups}]{extra}}}\n",
        hash(name)
    )
}

/// The running gateway; killed on drop.
pub struct Gateway {
    child: Child,
    /// The public listener's port.
    pub port: u16,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    /// Writes `gateway.yaml` in `dir` (the `server`, `listeners` and `admin` sections, access log off, then
    /// `rest`) and starts the release binary on it, returning once `/readyz` answers.
    pub async fn start(dir: &Path, rest: &str) -> Self {
        let (port, admin) = (free_port(), free_port());
        let config = format!(
            "server: {{drain_delay_seconds: 0, grace_period_seconds: 1, shutdown_timeout_seconds: 1, reload_poll_seconds: 0, access_log: false}}\n\
             listeners: [{{address: \"127.0.0.1:{port}\"}}]\n\
             admin: {{address: \"127.0.0.1:{admin}\"}}\n{rest}"
        );
        let path = dir.join("gateway.yaml");
        std::fs::write(&path, config).expect("write gateway.yaml");
        let child = Command::new(env!("CARGO_BIN_EXE_authgate"))
            .args(["serve", "--config"])
            .arg(&path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start authgate");
        let gateway = Self { child, port };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = client.get(format!("http://127.0.0.1:{admin}/readyz")).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return gateway;
            }
            assert!(Instant::now() < deadline, "authgate not ready after 30s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The load generator's runtime: two worker threads, like the machine's cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Sends `request` and reads the whole body; true when the status was `expected`.
pub async fn answered(request: reqwest::RequestBuilder, expected: u16) -> bool {
    match request.send().await {
        Ok(r) if r.status() == expected => r.bytes().await.is_ok(),
        _ => false,
    }
}

/// One keep-alive connection.
pub fn connection() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// Latencies of successful requests, and the count of failed ones.
#[derive(Default)]
pub struct Samples {
    latencies: Vec<Duration>,
    errors: usize,
}

impl Samples {
    /// Records one request started at `started`.
    pub fn record(&mut self, ok: bool, started: Instant) {
        if ok {
            self.latencies.push(started.elapsed());
        } else {
            self.errors += 1;
        }
    }

    /// Adds a worker's samples to the phase's.
    pub fn merge_into(self, all: &Mutex<Samples>) {
        let mut all = all.lock().expect("samples lock");
        all.latencies.extend(self.latencies);
        all.errors += self.errors;
    }
}

/// The headline figures of one phase.
#[derive(Clone, Debug)]
pub struct Figures {
    /// The phase's label.
    pub phase: String,
    /// Successful requests per second.
    pub rps: f64,
    /// Median latency, ms.
    pub p50: f64,
    /// 99th percentile latency, ms.
    pub p99: f64,
    /// Failed requests.
    pub errors: usize,
}

/// Prints requests/s and latency percentiles of a phase that took `elapsed`, and returns them.
pub fn report(phase: &str, samples: Samples, elapsed: Duration) -> Figures {
    let mut l = samples.latencies;
    l.sort();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
    };
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    println!(
        "{phase:<48} {:>7} req  {:>8.0} req/s  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  errors {}",
        l.len(),
        l.len() as f64 / elapsed.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(l.last().copied()),
        samples.errors
    );
    Figures {
        phase: phase.to_string(),
        rps: l.len() as f64 / elapsed.as_secs_f64(),
        p50: ms(pct(0.50)),
        p99: ms(pct(0.99)),
        errors: samples.errors,
    }
}

/// Prints the phases of every backend side by side: one line per phase, req/s, p50 and p99 per backend.
pub fn compare(runs: &[(&str, Vec<Figures>)]) {
    let mut header = format!("{:<54}", "phase");
    for (backend, _) in runs {
        header += &format!(" | {:>26}", format!("{backend}: req/s  p50  p99"));
    }
    println!("\n{header}");
    let phases = runs.first().map_or(0, |(_, f)| f.len());
    for i in 0..phases {
        let mut line = format!("{:<54}", runs[0].1[i].phase);
        for (_, figures) in runs {
            let f = &figures[i];
            line += &format!(" | {:>8.0} {:>7.2}ms {:>7.2}ms", f.rps, f.p50, f.p99);
            if f.errors > 0 {
                line += &format!(" ({} errors)", f.errors);
            }
        }
        println!("{line}");
    }
}

/// Runs `request` on `connections` connections for `seconds` and reports the phase. `request` gets the
/// connection and a per-connection sequence number and says whether the response was the expected one.
pub async fn run_for<F, Fut>(phase: &str, connections: usize, seconds: u64, request: F) -> Figures
where
    F: Fn(reqwest::Client, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let samples = Arc::new(Mutex::new(Samples::default()));
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..connections {
        let (samples, request, client) = (samples.clone(), request.clone(), connection());
        workers.spawn(async move {
            let mut local = Samples::default();
            let mut i = w;
            while Instant::now() < until {
                let t = Instant::now();
                let ok = request(client.clone(), i).await;
                local.record(ok, t);
                i += connections;
            }
            local.merge_into(&samples);
        });
    }
    while let Some(done) = workers.join_next().await {
        done.expect("a load worker");
    }
    let elapsed = start.elapsed();
    let samples = std::mem::take(&mut *samples.lock().expect("samples lock"));
    report(phase, samples, elapsed)
}

/// Runs `run` on each backend of the built-in APIs (a fresh SQLite file: `None`; a fresh database of a
/// PostgreSQL cluster of its own: its URL), then prints their figures side by side.
pub fn on_sqlite_and_postgres<F, Fut>(run: F)
where
    F: Fn(&'static str, Option<String>) -> Fut,
    Fut: std::future::Future<Output = Vec<Figures>>,
{
    runtime().block_on(async {
        let cluster = authgate_testkit::postgres::Postgres::start().await;
        let sqlite = run("SQLite", None).await;
        let postgres = run("PostgreSQL", Some(cluster.create_database())).await;
        compare(&[("SQLite", sqlite), ("PostgreSQL", postgres)]);
    });
}
