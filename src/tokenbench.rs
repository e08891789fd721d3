//! `authgate bench-tokens`: mints tokens in-process and measures how fast this gateway's bearer path
//! validates them, on all cores, without a load generator.
//!
//! Each validation is the request path's [`BearerAuthenticator::authenticate`]: SHA-256 of the token and
//! cache probe, then (on a miss) parsing, header and claim checks, key lookup, signature verification,
//! identity mapping and identity-header rendering. With the token cache off every validation verifies the
//! signature; with it on, each distinct token is verified twice (the cache admits a token on its second
//! verification) and then served from the cache.
//! Latencies are taken around each call with [`Instant`] (two clock reads, tens of nanoseconds, included).

use authgate_core::auth::bearer::{BearerAuthenticator, Provider};
use authgate_core::auth::errors::TokenError;
use authgate_core::auth::issuer::IssuerConfigError;
use authgate_core::auth::token_cache::TokenCache;
use authgate_core::auth::HeaderSet;
use authgate_core::config::HeaderNamesConfig;
use authgate_core::metrics::Metrics;
use authgate_core::minting::{claims as test_claims, provider_for};
use authgate_core::signing::{jwks, SigningAlg, SigningKey};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;
use std::io::Write;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Name of the user the default claims describe.
pub const BENCH_USER: &str = "alice@contoso.com";

/// Why a benchmark cannot run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// `--claims` is not a JSON object.
    #[error("the claims must be a JSON object, e.g. {{\"groups\": [\"Finance\"]}}")]
    ClaimsNotObject,
    /// `iss` or `aud` missing or not a string after merging the claims.
    #[error("the claims need a string '{0}' (the verifier is configured from it)")]
    MissingClaim(&'static str),
    /// `iss` is not a URL the verifier accepts.
    #[error("the 'iss' claim cannot configure a verifier: {0}")]
    Issuer(#[from] IssuerConfigError),
    /// The verifier refused a minted token before the clock started.
    #[error("the verifier refuses the minted tokens ({0}); check exp/nbf/iss/aud in the claims")]
    Refused(TokenError),
    /// A thread's runtime could not be built.
    #[error("cannot start a benchmark thread: {0}")]
    Runtime(#[from] std::io::Error),
}

/// What to mint.
#[derive(Debug, Clone)]
pub struct MintOptions {
    /// Signing algorithm (and key type).
    pub alg: SigningAlg,
    /// How many distinct tokens (each has its own `jti`).
    pub distinct: NonZeroUsize,
    /// Seconds until `exp`.
    pub lifetime: u32,
    /// Claims merged over the defaults (user values win); `iss` and `aud` configure the verifier.
    pub claims: Map<String, Value>,
    /// Threads used to sign.
    pub threads: NonZeroUsize,
}

/// A signing key, the tokens it minted, and a verifier configured for their issuer and audience.
pub struct TokenSet {
    key: SigningKey,
    tokens: Vec<String>,
    provider: Arc<Provider>,
}

impl TokenSet {
    /// Generates a key and mints `options.distinct` tokens with it, signing on `options.threads` threads.
    pub fn mint(options: &MintOptions) -> Result<Self, BenchError> {
        let mut claims = match test_claims(BENCH_USER, i64::from(options.lifetime)) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        claims.extend(options.claims.clone());
        let issuer = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(BenchError::MissingClaim("iss"))?;
        let audience = match claims.get("aud") {
            Some(Value::String(aud)) => Some(aud.as_str()),
            Some(Value::Array(list)) => list.iter().find_map(Value::as_str),
            _ => None,
        }
        .ok_or(BenchError::MissingClaim("aud"))?;
        let key = SigningKey::generate(options.alg, &format!("bench-{}", options.alg.name().to_lowercase()));
        let provider = Arc::new(provider_for([&key], issuer, audience)?);
        let tokens = mint_parallel(&key, &claims, options.distinct.get(), options.threads.get());
        Ok(Self { key, tokens, provider })
    }

    /// The tokens, in minting order.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The JWKS that verifies them.
    pub fn jwks(&self) -> Value {
        jwks([&self.key])
    }

    /// Writes the tokens, one per line.
    pub fn write_tokens(&self, out: &mut impl Write) -> std::io::Result<()> {
        for token in &self.tokens {
            writeln!(out, "{token}")?;
        }
        Ok(())
    }
}

/// Signs one token per `jti` 0..count, spread over `threads` threads.
fn mint_parallel(key: &SigningKey, claims: &Map<String, Value>, count: usize, threads: usize) -> Vec<String> {
    let per_thread = count.div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * per_thread).min(count)..((t + 1) * per_thread).min(count);
                scope.spawn(move || {
                    range
                        .map(|i| {
                            let mut claims = claims.clone();
                            claims.insert("jti".into(), Value::String(format!("bench-{i}")));
                            key.mint(&Value::Object(claims))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

/// How to validate.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Validations in total.
    pub count: u64,
    /// Threads validating at once.
    pub threads: NonZeroUsize,
    /// Whether the verified-token cache is on (capacity: the distinct tokens).
    pub cache: bool,
}

/// Latency distribution of single validations.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Latency {
    /// Median, nanoseconds.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Slowest.
    pub max_ns: u64,
    /// Mean.
    pub mean_ns: u64,
}

impl Latency {
    /// The distribution of `samples` (nanoseconds; sorted in place).
    pub fn of(samples: &mut [u64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
        let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
        Self {
            p50_ns: at(0.50),
            p90_ns: at(0.90),
            p99_ns: at(0.99),
            p999_ns: at(0.999),
            max_ns: samples[samples.len() - 1],
            mean_ns: (sum / samples.len() as u128) as u64,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// JOSE algorithm.
    pub alg: &'static str,
    /// Key type and size.
    pub key: &'static str,
    /// Length of the first token.
    pub token_bytes: usize,
    /// Distinct tokens.
    pub distinct: usize,
    /// Validations done.
    pub validations: u64,
    /// Threads.
    pub threads: usize,
    /// Token cache on.
    pub cache: bool,
    /// Validations answered from the cache.
    pub cache_hits: u64,
    /// Validations that failed (tokens expiring during the run).
    pub failures: u64,
    /// The first failure.
    pub first_failure: Option<String>,
    /// Wall time, seconds.
    pub elapsed_seconds: f64,
    /// Validations per second, all threads together.
    pub validations_per_second: f64,
    /// Thread time per validation, nanoseconds (elapsed x threads / validations).
    pub thread_ns_per_validation: f64,
    /// Per-validation latency.
    pub latency: Latency,
}

/// Validates `set`'s tokens `options.count` times on `options.threads` threads, token `i % distinct` at
/// operation `i`, and reports throughput and latency.
pub fn run(set: &TokenSet, options: RunOptions) -> Result<Report, BenchError> {
    let metrics = Arc::new(Metrics::new());
    let capacity = if options.cache { set.tokens.len() as u64 } else { 0 };
    let headers =
        HeaderSet::from_config(&HeaderNamesConfig::default()).expect("the default identity header names are valid");
    let authenticator = BearerAuthenticator::new(
        vec![set.provider.clone()],
        TokenCache::new(capacity, Duration::from_secs(86_400)),
        Arc::new(headers),
        metrics.clone(),
    );
    let probe = runtime()?;
    if let Some(first) = set.tokens.first() {
        probe
            .block_on(authenticator.authenticate(first, None))
            .map_err(BenchError::Refused)?;
    }
    let hits_before = metrics.token_cache_hits.get();
    let threads = options.threads.get();
    let started = Instant::now();
    let outcomes = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let authenticator = &authenticator;
                scope.spawn(move || validate_share(authenticator, &set.tokens, options.count, t, threads))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let elapsed = started.elapsed();
    let mut samples = Vec::with_capacity(options.count as usize);
    let (mut failures, mut first_failure) = (0, None);
    for share in outcomes {
        samples.extend(share.samples);
        failures += share.failures;
        first_failure = first_failure.or(share.first_failure);
    }
    let validations = samples.len() as u64;
    let seconds = elapsed.as_secs_f64();
    Ok(Report {
        alg: set.key.alg().name(),
        key: key_description(set.key.alg()),
        token_bytes: set.tokens.first().map_or(0, String::len),
        distinct: set.tokens.len(),
        validations,
        threads,
        cache: options.cache,
        cache_hits: metrics.token_cache_hits.get() - hits_before,
        failures,
        first_failure,
        elapsed_seconds: seconds,
        validations_per_second: if seconds > 0.0 {
            validations as f64 / seconds
        } else {
            0.0
        },
        thread_ns_per_validation: if validations > 0 {
            seconds * 1e9 * threads as f64 / validations as f64
        } else {
            0.0
        },
        latency: Latency::of(&mut samples),
    })
}

/// One thread's samples and failures.
struct Share {
    samples: Vec<u64>,
    failures: u64,
    first_failure: Option<String>,
}

/// Operations `thread`, `thread + threads`, ... below `count`.
fn validate_share(
    authenticator: &BearerAuthenticator,
    tokens: &[String],
    count: u64,
    thread: usize,
    threads: usize,
) -> Result<Share, BenchError> {
    let rt = runtime()?;
    let mut share = Share {
        samples: Vec::with_capacity((count / threads as u64 + 1) as usize),
        failures: 0,
        first_failure: None,
    };
    let mut op = thread as u64;
    while op < count {
        let token = &tokens[(op % tokens.len() as u64) as usize];
        let started = Instant::now();
        let outcome = rt.block_on(authenticator.authenticate(token, None));
        share.samples.push(started.elapsed().as_nanos() as u64);
        if let Err(e) = outcome {
            share.failures += 1;
            share.first_failure.get_or_insert_with(|| e.to_string());
        }
        op += threads as u64;
    }
    Ok(share)
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_time().build()
}

/// Key type and size of what `alg` signs with here.
pub fn key_description(alg: SigningAlg) -> &'static str {
    match alg {
        SigningAlg::RS256 | SigningAlg::PS256 => "RSA-2048",
        SigningAlg::ES256 => "EC P-256",
        SigningAlg::ES384 => "EC P-384",
        SigningAlg::EdDSA => "Ed25519",
    }
}

/// A duration in nanoseconds, in the unit that reads best.
pub fn human_ns(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.2} s", n / 1e9),
        n if n >= 1e6 => format!("{:.2} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.2} µs", n / 1e3),
        n => format!("{n:.0} ns"),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.latency;
        let ns = |v: u64| human_ns(v as f64);
        writeln!(f, "{} ({}), tokens of {} bytes", self.alg, self.key, self.token_bytes)?;
        writeln!(
            f,
            "  {} validations of {} distinct tokens on {} threads, token cache {}",
            self.validations,
            self.distinct,
            self.threads,
            if self.cache {
                format!("on ({} hits)", self.cache_hits)
            } else {
                "off (every signature verified)".into()
            }
        )?;
        writeln!(
            f,
            "  {:.0} validations/s in {:.2} s; {} of thread time per validation",
            self.validations_per_second,
            self.elapsed_seconds,
            human_ns(self.thread_ns_per_validation)
        )?;
        write!(
            f,
            "  latency p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {}",
            ns(l.p50_ns),
            ns(l.p90_ns),
            ns(l.p99_ns),
            ns(l.p999_ns),
            ns(l.max_ns),
            ns(l.mean_ns)
        )?;
        if self.failures > 0 {
            write!(
                f,
                "\n  {} validations FAILED, first: {}",
                self.failures,
                self.first_failure.as_deref().unwrap_or("?")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options(alg: SigningAlg, distinct: usize, claims: Value) -> MintOptions {
        MintOptions {
            alg,
            distinct: NonZeroUsize::new(distinct).unwrap(),
            lifetime: 600,
            claims: claims.as_object().cloned().unwrap_or_default(),
            threads: NonZeroUsize::new(2).unwrap(),
        }
    }

    fn two() -> NonZeroUsize {
        NonZeroUsize::new(2).unwrap()
    }

    #[test]
    fn every_algorithm_mints_distinct_tokens_that_validate_uncached() {
        for alg in [
            SigningAlg::RS256,
            SigningAlg::PS256,
            SigningAlg::ES256,
            SigningAlg::ES384,
            SigningAlg::EdDSA,
        ] {
            let set = TokenSet::mint(&options(alg, 5, json!({}))).unwrap();
            let unique: std::collections::HashSet<_> = set.tokens().iter().collect();
            assert_eq!(unique.len(), 5, "{alg:?}");
            let report = run(
                &set,
                RunOptions {
                    count: 20,
                    threads: two(),
                    cache: false,
                },
            )
            .unwrap();
            assert_eq!(report.validations, 20);
            assert_eq!((report.failures, report.cache_hits), (0, 0), "{alg:?}: {report}");
            assert_eq!(report.alg, alg.name());
            assert!(report.latency.p50_ns > 0 && report.latency.p50_ns <= report.latency.max_ns);
        }
    }

    #[test]
    fn with_the_cache_each_distinct_token_is_verified_twice() {
        let set = TokenSet::mint(&options(SigningAlg::ES256, 4, json!({}))).unwrap();
        let report = run(
            &set,
            RunOptions {
                count: 40,
                threads: two(),
                cache: true,
            },
        )
        .unwrap();
        assert_eq!(report.failures, 0);
        // A token is cached on its second verification. The probe verified token 0 once before the clock
        // started, so it misses once more; the other three miss twice each. (Thread t validates operations
        // t, t + 2, ...: tokens 0 and 2 on one thread, 1 and 3 on the other, so no two threads race on one.)
        assert_eq!(report.cache_hits, 40 - 7);
    }

    #[test]
    fn user_claims_configure_the_verifier_and_land_in_the_tokens() {
        let claims = json!({"iss": "https://sts.example/", "aud": ["api://bench"], "roles": ["Reader"]});
        let set = TokenSet::mint(&options(SigningAlg::EdDSA, 1, claims)).unwrap();
        let report = run(
            &set,
            RunOptions {
                count: 3,
                threads: two(),
                cache: false,
            },
        )
        .unwrap();
        assert_eq!(report.failures, 0);
        let payload = set.tokens()[0].split('.').nth(1).unwrap();
        let decoded = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap();
        let claims: Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(claims["iss"], "https://sts.example/");
        assert_eq!(claims["roles"], json!(["Reader"]));
        assert_eq!(claims["jti"], "bench-0");
    }

    #[test]
    fn claims_the_verifier_refuses_stop_the_run_before_it_starts() {
        let expired = json!({"exp": 1_000_000_000});
        let set = TokenSet::mint(&options(SigningAlg::ES256, 1, expired)).unwrap();
        let err = run(
            &set,
            RunOptions {
                count: 3,
                threads: two(),
                cache: false,
            },
        )
        .unwrap_err();
        assert!(matches!(err, BenchError::Refused(_)), "{err}");
        assert!(err.to_string().contains("check exp"), "{err}");
        let no_aud = json!({"aud": 42});
        let err = TokenSet::mint(&options(SigningAlg::ES256, 1, no_aud)).err().unwrap();
        assert_eq!(
            err.to_string(),
            "the claims need a string 'aud' (the verifier is configured from it)"
        );
        let bad_iss = json!({"iss": "not a url"});
        assert!(matches!(
            TokenSet::mint(&options(SigningAlg::ES256, 1, bad_iss)),
            Err(BenchError::Issuer(_))
        ));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut samples: Vec<u64> = (1..=1000).rev().collect();
        let l = Latency::of(&mut samples);
        assert_eq!(
            (l.p50_ns, l.p90_ns, l.p99_ns, l.p999_ns, l.max_ns),
            (500, 900, 990, 999, 1000)
        );
        assert_eq!(l.mean_ns, 500);
        assert_eq!(Latency::of(&mut []), Latency::default());
    }

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(human_ns(850.0), "850 ns");
        assert_eq!(human_ns(17_800.0), "17.80 µs");
        assert_eq!(human_ns(2_500_000.0), "2.50 ms");
    }
}
