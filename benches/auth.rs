//! Token and credential verification costs (criterion). Run: `cargo bench --bench auth`.
//!
//! - `raw_verify/*`: aws-lc signature verification alone, with a pre-parsed key (the floor).
//! - `verify_uncached/*`: authgate's full bearer path without cache: parse, header and claim checks,
//!   signature, identity mapping.
//! - `jsonwebtoken_decode/RS256`: jsonwebtoken 11's `decode` (aws-lc backend) on the same token, the
//!   library path authgate does not use on the hot path.
//! - `bearer_cached`: a repeated token through `BearerAuthenticator` (SHA-256 + cache probe).
//! - `basic_cached` / `basic_uncached`: Basic through the credential cache / through argon2id.

use authgate::auth::basic::{BasicAuthenticator, BasicSettings, FqnFormats};
use authgate::auth::bearer::{self, BearerAuthenticator};
use authgate::auth::credentials::BasicCredentials;
use authgate::auth::keys::KeySet;
use authgate::auth::lockout::Lockout;
use authgate::auth::token_cache::TokenCache;
use authgate::auth::HeaderSet;
use authgate::config::{HeaderNamesConfig, LockoutConfig};
use authgate::directory::embedded::{hash_password, EmbeddedDirectory, UserEntry};
use authgate::metrics::Metrics;
use authgate::testkit::{jwks, now, test_claims, test_provider, SigningKey, TestAlg};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn headers() -> Arc<HeaderSet> {
    Arc::new(HeaderSet::from_config(&HeaderNamesConfig::default()).unwrap())
}

fn bench_bearer(c: &mut Criterion) {
    let rt = runtime();
    for alg in [TestAlg::RS256, TestAlg::ES256, TestAlg::EdDSA] {
        let key = SigningKey::generate(alg, "k1");
        let token = key.mint(&test_claims("alice@contoso.com", 3600));
        let providers = vec![Arc::new(test_provider([&key]))];
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let sig = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature).unwrap();
        let set = KeySet::from_jwks(jwks([&key]).to_string().as_bytes()).unwrap().keys;
        let vk = set.get("k1").unwrap().clone();
        let jws_alg = alg.name().parse().unwrap();
        c.bench_function(&format!("raw_verify/{}", alg.name()), |b| {
            b.iter(|| {
                vk.verify(jws_alg, black_box(signing_input.as_bytes()), black_box(&sig))
                    .unwrap()
            })
        });
        c.bench_function(&format!("verify_uncached/{}", alg.name()), |b| {
            b.iter(|| {
                rt.block_on(bearer::verify(&providers, None, black_box(&token), now()))
                    .unwrap()
            })
        });
        if alg == TestAlg::RS256 {
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.public_jwk()).unwrap();
            let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            validation.set_audience(&[authgate::testkit::TEST_AUDIENCE]);
            validation.set_issuer(&[authgate::testkit::TEST_ISSUER]);
            c.bench_function("jsonwebtoken_decode/RS256", |b| {
                b.iter(|| jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &decoding, &validation).unwrap())
            });
            let cached = BearerAuthenticator::new(
                providers.clone(),
                TokenCache::new(10_000, Duration::from_secs(3600)),
                headers(),
                Arc::new(Metrics::new()),
            );
            rt.block_on(cached.authenticate(&token, None)).unwrap();
            c.bench_function("bearer_cached/RS256", |b| {
                b.iter(|| rt.block_on(cached.authenticate(black_box(&token), None)).unwrap())
            });
        }
    }
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
            cache_capacity,
            cache_ttl: Duration::from_secs(3600),
            lockout: Lockout::new(&LockoutConfig::default()),
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
    c.bench_function("basic_cached", |b| {
        b.iter_batched(
            creds,
            |cr| rt.block_on(cached.authenticate(&cr, None)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let uncached = basic(0);
    let mut group = c.benchmark_group("basic_uncached");
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
    targets = bench_bearer, bench_basic
}
criterion_main!(benches);
