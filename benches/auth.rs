//! Token and credential verification costs (criterion). Run: `cargo bench --bench auth`.
//!
//! Every benchmark is one operation with `Throughput::Elements(1)`, so criterion prints ns/op (time) and
//! ops/s (thrpt).
//! - `raw_verify/*`: aws-lc signature verification alone, with a pre-parsed key (the floor). `HS256` is
//!   HMAC-SHA256 over the same token shape, a reference only: authgate does not accept HMAC tokens.
//! - `verify_uncached/*`: authgate's full bearer path without cache: parse, header and claim checks, key
//!   lookup, signature, identity mapping.
//! - `jsonwebtoken_decode/RS256`: jsonwebtoken 11's `decode` (aws-lc backend) on the same token, the
//!   library path authgate does not use on the hot path.
//! - `bearer_cached/RS256`: a repeated token through `BearerAuthenticator` (SHA-256 + cache probe).
//! - `jwks_lookup`: finding a key by `kid` in a six-key JWKS (Azure AD publishes about that many).
//! - `identity_headers`: rendering the identity headers set upstream.
//! - `basic_cached` / `basic_uncached`: Basic through the credential cache / through argon2id.

use authgate_core::auth::basic::{BasicAuthenticator, BasicSettings, CredentialCache};
use authgate_core::auth::bearer::{self, BearerAuthenticator};
use authgate_core::auth::credentials::BasicCredentials;
use authgate_core::auth::keys::KeySet;
use authgate_core::auth::lockout::Lockout;
use authgate_core::auth::token_cache::TokenCache;
use authgate_core::auth::HeaderSet;
use authgate_core::config::{HeaderNamesConfig, LockoutConfig};
use authgate_core::directory::embedded::{hash_password, EmbeddedDirectory, UserEntry};
use authgate_core::identity::FqnFormats;
use authgate_core::metrics::Metrics;
use authgate_testkit::{jwks, now, test_claims, test_provider, SigningKey, TestAlg};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

const ALGORITHMS: [TestAlg; 5] = [
    TestAlg::RS256,
    TestAlg::PS256,
    TestAlg::ES256,
    TestAlg::ES384,
    TestAlg::EdDSA,
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn headers() -> Arc<HeaderSet> {
    Arc::new(HeaderSet::from_config(&HeaderNamesConfig::default()).unwrap())
}

fn decode_signature(token: &str) -> (&str, Vec<u8>) {
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let sig = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature).unwrap();
    (signing_input, sig)
}

fn bench_raw_verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("raw_verify");
    group.throughput(Throughput::Elements(1));
    for alg in ALGORITHMS {
        let key = SigningKey::generate(alg, "k1");
        let token = key.mint(&test_claims("alice@contoso.com", 3600));
        let (signing_input, sig) = decode_signature(&token);
        let set = KeySet::from_jwks(jwks([&key]).to_string().as_bytes()).unwrap().keys;
        let vk = set.get("k1").unwrap().clone();
        let jws_alg = alg.name().parse().unwrap();
        group.bench_function(alg.name(), |b| {
            b.iter(|| {
                vk.verify(jws_alg, black_box(signing_input.as_bytes()), black_box(&sig))
                    .unwrap()
            })
        });
    }
    // Reference: what an HMAC check of a same-sized token costs (authgate refuses HS* tokens by design).
    let secret = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[7u8; 32]);
    let key = SigningKey::generate(TestAlg::RS256, "k1");
    let token = key.mint(&test_claims("alice@contoso.com", 3600));
    let (signing_input, _) = decode_signature(&token);
    let tag = aws_lc_rs::hmac::sign(&secret, signing_input.as_bytes());
    group.bench_function("HS256", |b| {
        b.iter(|| {
            aws_lc_rs::hmac::verify(&secret, black_box(signing_input.as_bytes()), black_box(tag.as_ref())).unwrap()
        })
    });
    group.finish();
}

fn bench_bearer(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("verify_uncached");
    group.throughput(Throughput::Elements(1));
    for alg in ALGORITHMS {
        let key = SigningKey::generate(alg, "k1");
        let token = key.mint(&test_claims("alice@contoso.com", 3600));
        let providers = vec![Arc::new(test_provider([&key]))];
        group.bench_function(alg.name(), |b| {
            b.iter(|| {
                rt.block_on(bearer::verify(&providers, None, black_box(&token), now()))
                    .unwrap()
            })
        });
    }
    group.finish();

    let key = SigningKey::generate(TestAlg::RS256, "k1");
    let token = key.mint(&test_claims("alice@contoso.com", 3600));
    let providers = vec![Arc::new(test_provider([&key]))];
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.public_jwk()).unwrap();
    let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[authgate_testkit::TEST_AUDIENCE]);
    validation.set_issuer(&[authgate_testkit::TEST_ISSUER]);
    let mut group = c.benchmark_group("bearer");
    group.throughput(Throughput::Elements(1));
    group.bench_function("jsonwebtoken_decode/RS256", |b| {
        b.iter(|| jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &decoding, &validation).unwrap())
    });
    let cached = BearerAuthenticator::new(
        providers.clone(),
        TokenCache::new(10_000, Duration::from_secs(3600)),
        headers(),
        Arc::new(Metrics::new()),
    );
    // Cached on its second verification.
    rt.block_on(cached.authenticate(&token, None)).unwrap();
    rt.block_on(cached.authenticate(&token, None)).unwrap();
    group.bench_function("bearer_cached/RS256", |b| {
        b.iter(|| rt.block_on(cached.authenticate(black_box(&token), None)).unwrap())
    });

    // Six keys of mixed types, as an Azure AD tenant publishes; the token names the fourth.
    let keys: Vec<SigningKey> = (0..6)
        .map(|i| {
            SigningKey::generate(
                if i % 2 == 0 { TestAlg::RS256 } else { TestAlg::ES256 },
                &format!("kid-{i}"),
            )
        })
        .collect();
    let provider = test_provider(keys.iter());
    group.bench_function("jwks_lookup", |b| {
        b.iter(|| rt.block_on(provider.keys.find(black_box(Some("kid-3")))).unwrap())
    });

    let identity = rt
        .block_on(bearer::verify(&providers, None, &token, now()))
        .unwrap()
        .identity;
    let header_set = headers();
    group.bench_function("identity_headers", |b| {
        b.iter(|| header_set.render(black_box(&identity)))
    });
    group.finish();
}

fn basic(cache_capacity: u64) -> BasicAuthenticator {
    let entry = UserEntry {
        name: "alice".into(),
        user_manager: "ad".into(),
        domain: Some("CONTOSO".into()),
        password_hash: Some(hash_password("alice-password").unwrap()),
        mfa: false,
        email: Some("alice@contoso.com".into()),
        display_name: Some("Alice".into()),
        groups: vec!["Finance".into()],
        manager: None,
        disabled: false,
    };
    BasicAuthenticator::new(
        Arc::new(EmbeddedDirectory::from_entries(vec![entry]).unwrap()),
        BasicSettings {
            credentials: Arc::new(CredentialCache::new(cache_capacity, Duration::from_secs(3600))),
            lockout: Arc::new(Lockout::new(&LockoutConfig::default())),
            fqn: FqnFormats::default(),
        },
        headers(),
        Arc::new(Metrics::new()),
    )
}

fn bench_basic(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let creds = || BasicCredentials {
        user: "alice".into(),
        password: "alice-password".to_string().into(),
    };
    let cached = basic(1000);
    rt.block_on(cached.authenticate(&creds(), None)).unwrap();
    let mut group = c.benchmark_group("basic");
    group.throughput(Throughput::Elements(1));
    group.bench_function("basic_cached", |b| {
        b.iter_batched(
            creds,
            |cr| rt.block_on(cached.authenticate(&cr, None)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    let uncached = basic(0);
    let mut group = c.benchmark_group("basic_uncached");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    group.bench_function("argon2id_default_params", |b| {
        b.iter_batched(
            creds,
            |cr| rt.block_on(uncached.authenticate(&cr, None)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench_raw_verify, bench_bearer, bench_basic
}
criterion_main!(benches);
