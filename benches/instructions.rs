//! Instruction counts of the request path's pieces under valgrind (callgrind, through gungraun): repeatable on a
//! noisy machine where timings are not, so they guard against regressions in CI. Each benchmark runs its
//! function once; the setup (keys, tokens, caches filled, runtimes) is not counted.
//!
//! Run: `cargo bench --bench instructions` (needs valgrind and the `gungraun-runner` of the same version as the
//! `gungraun` crate, both installed by `.ci/bootstrap`). `benches/instructions/check.sh` runs them and compares
//! every count with `benches/instructions/baseline.json` (fails over +10%); `check.sh --update` rewrites the
//! record, a deliberate change reviewed like code.
//!
//! - `credentials::basic` / `credentials::bearer`: `parse_authorization` of a Basic and a bearer header.
//! - `bearer_uncached::uncached_rs256`: authgate's whole bearer check without cache (parse, claims, key, RS256 signature,
//!   identity), with the key already used once (as in a running gateway: aws-lc prepares a key's Montgomery
//!   context on its first use) and the setup's objects dropped outside the count.
//! - `bearer_distinct::distinct_rs256_x10`: ten tokens never seen before through `BearerAuthenticator` (cache
//!   miss, the whole check, identity headers rendered, the token recorded by the cache's doorkeeper, which
//!   caches a token on its second verification): the distinct-token load row.
//! - `bearer_cached::cached_rs256_x100`: the same token again through `BearerAuthenticator` (keyed hash of the
//!   token, token-cache hit, the token compared whole), 100 times.
//! - `authenticator::bearer_cached_x100`: what the proxy asks per bearer request when the token is cached:
//!   `Authenticator::authenticate` with the `Authorization` value (parsing, cache hit, platform rules, the
//!   decision counted), 100 times; the authenticator is dropped outside the count.
//! - `basic::cached_x100`: Basic through the credential cache (HMAC key, cache hit, entry version check), 100
//!   times.
//! - `identity_headers::render`: rendering the identity headers sent upstream.
//! - `upstream_head::bytes_x100`: the fast path's upstream head for a cached identity (row d of the load bench:
//!   the rewritten request copied and written as pingora writes it, the identity's field lines, rendered once
//!   per identity, copied in), 100 times; `upstream_head_via_pingora::request_header_x100`: the same head built as
//!   pingora's path builds it (the request copied, each identity header appended, then written), 100 times.
//! - `routing::resolve_plain` / `routing::resolve_rewritten`: the request target to a route (Host rule, path
//!   normalisation, longest-prefix lookup among six routes) for a normal path and one that must be rewritten.
//! - `normalize::normalize_rewritten`: path normalisation alone on that path.
//! - `route_metrics::resolved_x100`: what the proxy's `logging` hook records per request (the request counter by
//!   route and status, the upstream histogram by route) through a route's resolved metrics, 100 times (about
//!   25,000 instructions fewer than the same through `with_label_values`, as it was done before).

use authgate::proxy::ratelimit::RouteLimits;
use authgate::proxy::routes::{normalize_prefix, PathPolicy, Route, RouteTable, Upstream, UpstreamPeer};
use authgate::proxy::target;
use authgate::proxy::wire;
use authgate_core::auth::basic::{BasicAuthenticator, BasicSettings, CredentialCache};
use authgate_core::auth::bearer::{self, BearerAuthenticator, Provider};
use authgate_core::auth::credentials::{parse_authorization, BasicCredentials};
use authgate_core::auth::lockout::Lockout;
use authgate_core::auth::token_cache::TokenCache;
use authgate_core::auth::{Authenticated, Authenticator, HeaderSet, RoutePolicy};
use authgate_core::config::{ForwardCredentials, HeaderNamesConfig, LockoutConfig};
use authgate_core::directory::embedded::{EmbeddedDirectory, UserEntry};
use authgate_core::identity::{FqnFormats, Identity, UserManager};
use authgate_core::metrics::Metrics;
use authgate_testkit::{cheap_hash, now, test_claims, test_provider, SigningKey, TestAlg};
use gungraun::{library_benchmark, library_benchmark_group, main};
use pingora::http::RequestHeader;
use pingora::protocols::http::v1::client::http_req_header_to_wire;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;

const BASIC: &[u8] = b"Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ=";
const MAX_TOKEN: usize = 16 * 1024;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

fn headers() -> Arc<HeaderSet> {
    Arc::new(HeaderSet::from_config(&HeaderNamesConfig::default()).expect("default header names"))
}

fn token_and_provider() -> (String, Vec<Arc<Provider>>) {
    let key = SigningKey::generate(TestAlg::RS256, "k1");
    let token = key.mint(&test_claims("alice@contoso.com", 3600));
    (token, vec![Arc::new(test_provider([&key]))])
}

/// A bearer header of a typical token's length (parsing checks its characters, not its signature).
fn bearer_header() -> Vec<u8> {
    let part = |n: usize| "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0".repeat(n);
    format!("Bearer {}.{}.{}", part(1), part(12), part(10)).into_bytes()
}

/// Cache hits are measured as [`HITS`] calls (counts are for all of them), after as many in the setup: the
/// caches' housekeeping runs every so many operations, and one call would count it or not by chance.
const HITS: usize = 100;

#[library_benchmark]
#[bench::basic(BASIC.to_vec())]
#[bench::bearer(bearer_header())]
fn credentials(header: Vec<u8>) -> bool {
    black_box(parse_authorization(&[black_box(header.as_slice())], MAX_TOKEN).is_ok())
}

fn uncached_setup() -> (Runtime, String, Vec<Arc<Provider>>) {
    let key = SigningKey::generate(TestAlg::RS256, "k1");
    let providers = vec![Arc::new(test_provider([&key]))];
    let rt = runtime();
    let warm = key.mint(&test_claims("warm-up@contoso.com", 3600));
    assert!(rt.block_on(bearer::verify(&providers, None, &warm, now())).is_ok());
    (rt, key.mint(&test_claims("alice@contoso.com", 3600)), providers)
}

/// Drops what a benchmark hands back, outside the count.
fn dispose<T>(value: T) {
    drop(black_box(value));
}

#[library_benchmark]
#[bench::uncached_rs256(setup = uncached_setup, teardown = dispose)]
fn bearer_uncached(
    (rt, token, providers): (Runtime, String, Vec<Arc<Provider>>),
) -> (bool, Runtime, Vec<Arc<Provider>>) {
    let ok = rt
        .block_on(bearer::verify(&providers, None, black_box(&token), now()))
        .is_ok();
    (black_box(ok), rt, providers)
}

/// Tokens of the distinct-token benchmark.
const DISTINCT: usize = 10;

fn distinct_setup() -> (Runtime, Vec<String>, BearerAuthenticator) {
    let key = SigningKey::generate(TestAlg::RS256, "k1");
    let rt = runtime();
    let authenticator = BearerAuthenticator::new(
        vec![Arc::new(test_provider([&key]))],
        TokenCache::new(10_000, Duration::from_secs(3600)),
        headers(),
        Arc::new(Metrics::new()),
    );
    // Warm-up: the key's first use, the cache's first insert, and enough earlier tokens that the cache is
    // not empty.
    for i in 0..HITS {
        let warm = key.mint(&test_claims(&format!("warm-{i}@contoso.com"), 3600));
        assert!(rt.block_on(authenticator.authenticate(&warm, None)).is_ok());
    }
    let tokens = (0..DISTINCT)
        .map(|i| key.mint(&test_claims(&format!("user-{i}@contoso.com"), 3600)))
        .collect();
    (rt, tokens, authenticator)
}

#[library_benchmark]
#[bench::distinct_rs256_x10(setup = distinct_setup, teardown = dispose)]
fn bearer_distinct(
    (rt, tokens, authenticator): (Runtime, Vec<String>, BearerAuthenticator),
) -> (usize, Runtime, Vec<String>, BearerAuthenticator) {
    let verified = tokens
        .iter()
        .filter(|token| rt.block_on(authenticator.authenticate(black_box(token), None)).is_ok())
        .count();
    (black_box(verified), rt, tokens, authenticator)
}

fn cached_setup() -> (Runtime, String, BearerAuthenticator) {
    let (token, providers) = token_and_provider();
    let rt = runtime();
    let cached = BearerAuthenticator::new(
        providers,
        TokenCache::new(10_000, Duration::from_secs(3600)),
        headers(),
        Arc::new(Metrics::new()),
    );
    for _ in 0..=HITS {
        assert!(rt.block_on(cached.authenticate(&token, None)).is_ok());
    }
    (rt, token, cached)
}

#[library_benchmark]
#[bench::cached_rs256_x100(setup = cached_setup)]
fn bearer_cached((rt, token, cached): (Runtime, String, BearerAuthenticator)) -> usize {
    (0..HITS)
        .filter(|_| rt.block_on(cached.authenticate(black_box(&token), None)).is_ok())
        .count()
}

fn authenticator_setup() -> (Runtime, Vec<u8>, Authenticator, RoutePolicy) {
    let (token, providers) = token_and_provider();
    let rt = runtime();
    let metrics = Arc::new(Metrics::new());
    let bearer = BearerAuthenticator::new(
        providers,
        TokenCache::new(10_000, Duration::from_secs(3600)),
        headers(),
        metrics.clone(),
    );
    let authenticator = Authenticator::new(None, bearer, MAX_TOKEN, metrics);
    let policy = RoutePolicy {
        basic: true,
        bearer: true,
        providers: None,
        allowed_user_managers: vec![UserManager::Ad, UserManager::Aad],
    };
    let header = format!("Bearer {token}").into_bytes();
    for _ in 0..=HITS {
        let decision = rt.block_on(authenticator.authenticate(&[&header], None, &policy));
        assert!(decision.result.is_ok());
    }
    (rt, header, authenticator, policy)
}

#[library_benchmark]
#[bench::bearer_cached_x100(setup = authenticator_setup, teardown = dispose)]
fn authenticator(
    (rt, header, authenticator, policy): (Runtime, Vec<u8>, Authenticator, RoutePolicy),
) -> (usize, Runtime, Authenticator) {
    let allowed = (0..HITS)
        .filter(|_| {
            rt.block_on(authenticator.authenticate(&[black_box(header.as_slice())], None, &policy))
                .result
                .is_ok()
        })
        .count();
    (black_box(allowed), rt, authenticator)
}

fn alice() -> BasicCredentials {
    BasicCredentials {
        user: "alice".into(),
        password: "alice-password".to_string().into(),
    }
}

fn basic_setup() -> (Runtime, BasicAuthenticator) {
    let entry = UserEntry {
        name: "alice".into(),
        user_manager: "ad".into(),
        domain: Some("CONTOSO".into()),
        password_hash: Some(cheap_hash("alice-password")),
        mfa: false,
        email: Some("alice@contoso.com".into()),
        display_name: Some("Alice".into()),
        groups: vec!["Finance".into()],
        manager: None,
        disabled: false,
    };
    let basic = BasicAuthenticator::new(
        Arc::new(EmbeddedDirectory::from_entries(vec![entry]).expect("one valid user")),
        BasicSettings {
            credentials: Arc::new(CredentialCache::new(1000, Duration::from_secs(3600))),
            lockout: Arc::new(Lockout::new(&LockoutConfig::default())),
            fqn: FqnFormats::default(),
        },
        headers(),
        Arc::new(Metrics::new()),
    );
    let rt = runtime();
    for _ in 0..=HITS {
        assert!(rt.block_on(basic.authenticate(&alice(), None)).is_ok());
    }
    (rt, basic)
}

#[library_benchmark]
#[bench::cached_x100(setup = basic_setup)]
fn basic((rt, basic): (Runtime, BasicAuthenticator)) -> usize {
    (0..HITS)
        .filter(|_| {
            let credentials = alice();
            rt.block_on(basic.authenticate(black_box(&credentials), None)).is_ok()
        })
        .count()
}

fn identity_setup() -> (Arc<HeaderSet>, Identity) {
    // ES256: the identity is the same whatever signed the token, and a P-256 key is quick to make under valgrind.
    let key = SigningKey::generate(TestAlg::ES256, "k1");
    let token = key.mint(&test_claims("alice@contoso.com", 3600));
    let providers = vec![Arc::new(test_provider([&key]))];
    let verified = runtime()
        .block_on(bearer::verify(&providers, None, &token, now()))
        .expect("a valid token");
    (headers(), verified.identity)
}

#[library_benchmark]
#[bench::render(setup = identity_setup)]
fn identity_headers((set, identity): (Arc<HeaderSet>, Identity)) -> usize {
    black_box(set.render(black_box(&identity)).len())
}

/// A request as row d of the load bench sends it, after the rewrite (its `Authorization` removed, `X-Request-Id`
/// set), and a cached identity whose field lines were rendered by an earlier request.
fn head_setup() -> (RequestHeader, Arc<Authenticated>) {
    let (set, identity) = identity_setup();
    let auth = Arc::new(Authenticated::new(identity.clone(), set.render(&identity)));
    let mut req = RequestHeader::build("GET", b"/api/whoami", None).expect("a valid request line");
    for (name, value) in [
        ("Host", "127.0.0.1:8080"),
        ("User-Agent", "wrk"),
        ("Accept", "*/*"),
        ("x-request-id", "0123456789abcdef-42"),
    ] {
        req.append_header(name, value).expect("a valid header");
    }
    wire::request_head(&req, std::iter::empty(), Some(&auth), None).expect("a head");
    (req, auth)
}

#[library_benchmark]
#[bench::bytes_x100(setup = head_setup, teardown = dispose)]
fn upstream_head((req, auth): (RequestHeader, Arc<Authenticated>)) -> (RequestHeader, Arc<Authenticated>) {
    for _ in 0..HITS {
        // Copied as the fast path copies the client's request before its rewrite (so is the comparison's).
        let upstream = black_box(&req).clone();
        let head = wire::request_head(&upstream, std::iter::empty(), Some(&auth), None).expect("a head");
        black_box(head.len());
    }
    (req, auth)
}

// The same head built the way pingora's path builds it (the identity appended to a copy of the request, then
// written), for comparison with `upstream_head::bytes_x100`.
#[library_benchmark]
#[bench::request_header_x100(setup = head_setup, teardown = dispose)]
fn upstream_head_via_pingora((req, auth): (RequestHeader, Arc<Authenticated>)) -> (RequestHeader, Arc<Authenticated>) {
    for _ in 0..HITS {
        let mut upstream = black_box(&req).clone();
        for (name, value) in &auth.headers {
            upstream
                .append_header(name.clone(), value.clone())
                .expect("a valid header");
        }
        let head = http_req_header_to_wire(&upstream).expect("a head");
        black_box(head.len());
    }
    (req, auth)
}

fn route(name: &str, prefix: &str, index: usize) -> Route {
    Route {
        name: name.into(),
        prefix: normalize_prefix(prefix),
        upstream: Upstream::Builtin("api.sock".into()),
        peer: UpstreamPeer::new(&Upstream::Builtin("api.sock".into()), &Default::default()).unwrap(),
        disabled: None,
        auth: None,
        forward: ForwardCredentials::None,
        path: PathPolicy::default(),
        limits: RouteLimits::default(),
        index,
        assertion_audience: String::new(),
        outbound: None,
        metrics: Default::default(),
    }
}

fn routing_setup(target: &str) -> (RouteTable, RequestHeader) {
    let table = RouteTable::new(
        [
            ("root", "/"),
            ("workflow", "/api/workflow/v1"),
            ("odata", "/api/odata/v4"),
            ("whoami", "/api/whoami"),
            ("public", "/public"),
            ("legacy", "/legacy/api"),
        ]
        .iter()
        .enumerate()
        .map(|(i, (name, prefix))| route(name, prefix, i))
        .collect(),
    );
    let mut req = RequestHeader::build("GET", target.as_bytes(), None).expect("a valid request line");
    req.insert_header("host", "gateway.example").expect("a valid host");
    (table, req)
}

#[library_benchmark]
#[bench::resolve_plain(args = ("/api/workflow/v1/tasks/1_1/actions/Approve"), setup = routing_setup, teardown = dispose)]
#[bench::resolve_rewritten(args = ("/public/%2e%2e/api//workflow/v1/./tasks"), setup = routing_setup, teardown = dispose)]
fn routing((table, req): (RouteTable, RequestHeader)) -> (bool, RouteTable, RequestHeader) {
    let ok = target::resolve(black_box(&req), &table).is_ok();
    (black_box(ok), table, req)
}

#[library_benchmark]
#[bench::normalize_rewritten("/public/%2e%2e/api//workflow/v1/./tasks")]
fn normalize(path: &str) -> usize {
    black_box(authgate_core::http::path::normalize(black_box(path)).map_or(0, |n| n.path.len()))
}

/// The route is boxed so that moving it in and out of the benchmark (a `memcpy` of the whole struct, peer included)
/// is not counted as if it were per-request work.
fn metrics_setup() -> (Metrics, Box<Route>) {
    let metrics = Metrics::new();
    let route = Box::new(route("workflow", "/api/workflow/v1", 1));
    for _ in 0..=HITS {
        route.metrics.count_request(&metrics, &route.name, 200);
        route.metrics.observe_upstream(&metrics, &route.name, 0.001);
    }
    (metrics, route)
}

#[library_benchmark]
#[bench::resolved_x100(setup = metrics_setup, teardown = dispose)]
fn route_metrics((metrics, route): (Metrics, Box<Route>)) -> (Metrics, Box<Route>) {
    for _ in 0..HITS {
        route
            .metrics
            .count_request(&metrics, black_box(&route.name), black_box(200));
        route
            .metrics
            .observe_upstream(&metrics, black_box(&route.name), black_box(0.001));
    }
    (metrics, route)
}

library_benchmark_group!(name = request_path; benchmarks = credentials, bearer_uncached, bearer_distinct,
    bearer_cached, authenticator, basic, identity_headers, upstream_head, upstream_head_via_pingora, routing,
    normalize, route_metrics);

main!(library_benchmark_groups = request_path);
