//! The operator commands, run as the real binary: `check`, `hash-password`, `token inspect`, `bench-tokens`.

use authgate_testkit::{jwks, now, SigningKey, TestAlg};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn authgate(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(args)
        .env_remove("AUTHGATE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("authgate binary runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const USERS: &str = "users: []\n";

fn write_config(dir: &Path, yaml: &str) -> String {
    std::fs::write(dir.join("users.yaml"), USERS).unwrap();
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn check_accepts_the_shipped_gateway_yaml_and_summarises_it() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/gateway.yaml");
    let out = authgate(&["check", "--config", config], None);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}{}", stdout, text(&out.stderr));
    assert!(stdout.contains("is valid"), "{stdout}");
    assert!(stdout.contains("workflow /api/workflow/v1 -> builtin"), "{stdout}");
    // Both OData service roots are served and routed (K2 clients use the second).
    assert!(stdout.contains("odata at /api/odata/v4, /api/odatav4/v4:"), "{stdout}");
    assert!(stdout.contains("odata /api/odata/v4 -> builtin"), "{stdout}");
    assert!(stdout.contains("odatav4 /api/odatav4/v4 -> builtin"), "{stdout}");
    assert!(stdout.contains("user managers ad, aad"), "{stdout}");
    assert!(stdout.contains("client address: the TCP peer"), "{stdout}");
    assert!(
        stdout.contains("password checks share 64 MiB (3 default argon2id hashes at once)"),
        "{stdout}"
    );
}

#[test]
fn check_reports_every_invalid_field_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        r#"
server: {trusted_proxies: [10.0.0.0/8, "lb.internal"], request_header_timeout_seconds: 0, keepalive_timeout_seconds: 7200, max_request_header_bytes: 100}
listeners: [{address: "not-an-address"}]
basic: {directory: users.yaml, hashing: {max_memory_mib: 0}}
builtin: {postgres: {pool_size: 0, statement_timeout_ms: 5}}
providers:
  - {name: p, issuer: "https://idp/", audiences: [], jwks: {file: k.json}, algorithms: [HS256], user_manager: aad}
routes:
  - {name: a, prefix: api, upstream: builtin}
  - {name: a, prefix: /b, upstream: builtin, disabled: {status: 500, message: x}}
  - {name: c, prefix: /public/../api, upstream: builtin}
  - {name: d, prefix: "/api%2f", upstream: builtin, path: {allow_semicolon: true}}
"#,
    );
    let out = authgate(&["check", "--config", &config], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    for expected in [
        "listeners[0].address",
        "basic.hashing.max_memory_mib: must be at least 1",
        "providers[0].audiences",
        "providers[0].algorithms[0]: 'HS256' is not supported",
        "routes[0].prefix: 'api' must start with '/'",
        "routes[1].name: duplicate route name",
        "routes[1].disabled.status: must be 404 or 503",
        "server.trusted_proxies[1]: 'lb.internal' is not an IP address or CIDR network",
        "routes[2].prefix: '/public/../api' must be a plain path",
        "routes[3].prefix: '/api%2f' must be a plain path",
        "server.request_header_timeout_seconds: must be between 1 and 3600",
        "server.keepalive_timeout_seconds: must be between 1 and 3600",
        "server.max_request_header_bytes: must be between 1024 and 1048575",
        "builtin.postgres.pool_size: must be between 1 and 1000",
        "builtin.postgres.statement_timeout_ms: must be between 10 and 3600000",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
}

#[test]
fn unknown_fields_broken_yaml_and_unset_variables_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "listeners: [{address: '127.0.0.1:1'}]\nroutes: []\nbasic: {realms: x}\n",
            "basic.realms",
        ),
        ("listeners: [\n", "unclosed"),
        (
            "listeners: [{address: '${AUTHGATE_TEST_SURELY_UNSET}'}]\nroutes: []\n",
            "AUTHGATE_TEST_SURELY_UNSET",
        ),
    ];
    for (yaml, expected) in cases {
        let config = write_config(dir.path(), yaml);
        let out = authgate(&["check", "--config", &config], None);
        assert_eq!(out.status.code(), Some(2), "{yaml}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expected), "missing {expected:?} in: {stderr}");
    }
}

#[test]
fn hash_password_reads_standard_input_and_prints_argon2id() {
    let out = authgate(&["hash-password"], Some("s3cret\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let hash = text(&out.stdout);
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert!(!hash.contains("s3cret"));
    let empty = authgate(&["hash-password"], Some(""));
    assert_eq!(empty.status.code(), Some(2));
}

struct InspectFixture {
    _dir: tempfile::TempDir,
    config: String,
    key: SigningKey,
}

fn inspect_fixture() -> InspectFixture {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate(TestAlg::RS256, "k1");
    std::fs::write(dir.path().join("jwks.json"), jwks([&key]).to_string()).unwrap();
    let config = write_bearer_config(dir.path());
    InspectFixture { _dir: dir, config, key }
}

/// A configuration trusting the keys in `dir/jwks.json` for issuer `https://idp.test/`, audience
/// `https://api.k2.com/` (what `bench-tokens` mints by default).
fn write_bearer_config(dir: &Path) -> String {
    write_config(
        dir,
        r#"
listeners: [{address: "127.0.0.1:1"}]
basic: {directory: users.yaml}
providers:
  - name: corp
    issuer: "https://idp.test/"
    audiences: ["https://api.k2.com/"]
    jwks: {file: jwks.json}
    user_manager: aad
routes: []
"#,
    )
}

fn claims(aud: &str, exp_in: i64) -> serde_json::Value {
    json!({"iss": "https://idp.test/", "aud": aud, "exp": now() + exp_in, "preferred_username": "carol@contoso.com"})
}

#[test]
fn token_inspect_accepts_a_good_token() {
    let f = inspect_fixture();
    let token = f.key.mint(&claims("https://api.k2.com/", 600));
    let out = authgate(&["token", "inspect", "--config", &f.config, &token], None);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("[PASS] signature"), "{stdout}");
    assert!(stdout.contains("AAD:carol@contoso.com"), "{stdout}");
    assert!(stdout.contains("verdict: ACCEPTED"), "{stdout}");
}

#[test]
fn token_inspect_explains_a_missing_trailing_slash_and_every_other_failure() {
    let f = inspect_fixture();
    let token = f.key.mint(&claims("https://api.k2.com", -3600));
    let out = authgate(&["token", "inspect", "--config", &f.config, "-"], Some(&token));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("[FAIL] audience"), "{stdout}");
    assert!(stdout.contains("differ only by a trailing slash"), "{stdout}");
    assert!(stdout.contains("[FAIL] lifetime"), "{stdout}");
    assert!(stdout.contains("[PASS] signature"), "{stdout}");
    assert!(stdout.contains("verdict: REFUSED (lifetime, audience)"), "{stdout}");
}

#[test]
fn token_inspect_refuses_garbage_without_panicking() {
    let f = inspect_fixture();
    for garbage in ["not-a-token", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        let out = authgate(&["token", "inspect", "--offline", "--config", &f.config, garbage], None);
        assert_eq!(out.status.code(), Some(1), "{garbage}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("REFUSED"), "{garbage}");
    }
}

#[test]
fn bench_tokens_measures_validation_and_reports_json() {
    let out = authgate(
        &[
            "bench-tokens",
            "--alg",
            "es256",
            "--count",
            "2000",
            "--distinct",
            "10",
            "--threads",
            "2",
            "--json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(report["alg"], "ES256");
    assert_eq!(report["key"], "EC P-256");
    assert_eq!(report["validations"], 2000);
    assert_eq!(report["distinct"], 10);
    assert_eq!(report["threads"], 2);
    assert_eq!(
        (report["failures"].as_u64(), report["cache_hits"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(report["validations_per_second"].as_f64().unwrap() > 0.0, "{report}");
    let latency = &report["latency"];
    assert!(
        latency["p50_ns"].as_u64().unwrap() <= latency["p99_ns"].as_u64().unwrap(),
        "{report}"
    );

    let out = authgate(
        &[
            "bench-tokens",
            "--alg",
            "EdDSA",
            "--count",
            "500",
            "--distinct",
            "5",
            "--threads",
            "1",
            "--cache",
        ],
        None,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.starts_with("EdDSA (Ed25519)"), "{stdout}");
    assert!(
        stdout.contains("500 validations of 5 distinct tokens on 1 threads"),
        "{stdout}"
    );
    // A token is cached on its second validation. The first token is validated once before the run, so it
    // misses once more in it; each of the other four misses twice (one thread: no races): 9 misses.
    let hits: u32 = stdout
        .split_once("token cache on (")
        .and_then(|(_, rest)| rest.split_once(" hits)"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no cache hit count in {stdout}"));
    assert_eq!(hits, 491, "{stdout}");
    assert!(stdout.contains("validations/s") && stdout.contains("p99"), "{stdout}");
}

#[test]
fn bench_tokens_writes_distinct_tokens_and_the_jwks_the_gateway_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let (tokens, jwks_path) = (dir.path().join("tokens.txt"), dir.path().join("jwks.json"));
    let out = authgate(
        &[
            "bench-tokens",
            "--count",
            "0",
            "--distinct",
            "3",
            "--write-tokens",
            tokens.to_str().unwrap(),
            "--write-jwks",
            jwks_path.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "--count 0 only mints: {}", text(&out.stdout));
    let tokens = std::fs::read_to_string(&tokens).unwrap();
    let tokens: Vec<&str> = tokens.lines().collect();
    assert_eq!(tokens.len(), 3);
    assert_eq!(tokens.iter().collect::<std::collections::HashSet<_>>().len(), 3);
    let config = write_bearer_config(dir.path());
    for token in tokens {
        let out = authgate(&["token", "inspect", "--config", &config, token], None);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
        assert!(stdout.contains("[PASS] signature"), "{stdout}");
        assert!(stdout.contains("AAD:alice@contoso.com"), "{stdout}");
    }
}

#[test]
fn bench_tokens_refuses_hmac_unusable_claims_and_zero_tokens_clearly() {
    let out = authgate(&["bench-tokens", "--alg", "HS256"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("HS256: authgate does not accept HMAC-signed tokens"),
        "{}",
        text(&out.stderr)
    );
    let out = authgate(&["bench-tokens", "--alg", "none"], None);
    assert!(
        text(&out.stderr).contains("unsigned tokens are never accepted"),
        "{}",
        text(&out.stderr)
    );
    let out = authgate(&["bench-tokens", "--distinct", "0"], None);
    assert_eq!(out.status.code(), Some(2));

    let dir = tempfile::tempdir().unwrap();
    let claims = dir.path().join("claims.json");
    let cases = [
        ("[1, 2]", "the claims must be a JSON object"),
        ("{broken", "is not JSON"),
        (
            r#"{"exp": 1000000000}"#,
            "the verifier refuses the minted tokens (token expired",
        ),
        (r#"{"iss": null}"#, "the claims need a string 'iss'"),
    ];
    for (body, expected) in cases {
        std::fs::write(&claims, body).unwrap();
        let out = authgate(
            &[
                "bench-tokens",
                "--count",
                "10",
                "--distinct",
                "1",
                "--claims",
                claims.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(2), "{body}");
        assert!(text(&out.stderr).contains(expected), "{body}: {}", text(&out.stderr));
    }
}

/// `check` names the backend and whether PostgreSQL answers, with the password (from `${ENV}`, which the
/// loader expands in the URL) never shown; an unreachable server is reported, not a configuration error.
#[test]
fn check_reports_the_database_backend_and_whether_postgres_is_reachable() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut server = runtime.block_on(crate::servers::postgres::Postgres::start());
    let url = server.create_database();
    let dir = tempfile::tempdir().unwrap();
    let with_env = url.replacen("authgate@", "authgate:${AUTHGATE_TEST_PG_PASSWORD}@", 1);
    let config = write_config(
        dir.path(),
        &format!(
            "listeners: [{{address: '127.0.0.1:1'}}]\nroutes: []\nbasic: {{directory: users.yaml}}\nbuiltin: {{database: '{with_env}', postgres: {{connect_timeout_ms: 500}}}}\n"
        ),
    );
    let check = || {
        Command::new(env!("CARGO_BIN_EXE_authgate"))
            .args(["check", "--config", &config])
            .env_remove("AUTHGATE_CONFIG")
            .env("AUTHGATE_TEST_PG_PASSWORD", "env-only-pw")
            .output()
            .expect("authgate binary runs")
    };
    let shown = url.replacen("authgate@", "authgate:***@", 1);
    let out = check();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("database: postgres {shown}, reachable")),
        "{stdout}"
    );
    assert!(!stdout.contains("env-only-pw"), "{stdout}");

    server.stop();
    let out = check();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("database: postgres {shown}, UNREACHABLE: ")),
        "{stdout}"
    );
    assert!(!stdout.contains("env-only-pw"), "{stdout}");

    let sqlite = write_config(
        dir.path(),
        "listeners: [{address: '127.0.0.1:1'}]\nroutes: []\nbasic: {directory: users.yaml}\n",
    );
    let out = authgate(&["check", "--config", &sqlite], None);
    let stdout = text(&out.stdout);
    let expected = format!("database: sqlite {}", dir.path().join("data/authgate.db").display());
    assert!(stdout.contains(&expected), "{stdout}");
}
