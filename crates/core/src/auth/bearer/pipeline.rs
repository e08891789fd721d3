//! The bearer-token verification steps and their order, defined once.
//!
//! The request path ([`super::verify`]) and `authgate token inspect` both run [`run`]; they differ only in
//! the [`Observer`] that sees each step's [`Outcome`]:
//! - [`StopAtFirstFailure`] (the request path) is zero-sized and stops at the first step that does not pass.
//!   Monomorphised, it costs no allocation, no dynamic dispatch and no text per step: a passed step's detail
//!   ([`Passed`]) is only rendered when an observer formats it.
//! - a collecting observer (inspect's report) continues after failures, so every problem shows at once. A step
//!   that needs something an earlier step failed to provide is reported as skipped ([`Skip`]).
//!
//! Cheap checks run before the signature, so expired or mis-addressed tokens never cost a signature
//! verification or a key refetch. Step functions live in [`super`]; this module owns their order and
//! dependencies.

use super::{
    algorithm, check_audience, check_header, check_scopes, check_tenant, check_times, check_type, map_identity,
    select_provider, verify_signature, Provider, Verified,
};
use crate::auth::audience::AudiencePolicy;
use crate::auth::errors::TokenError;
use crate::auth::jwks::KeySource;
use crate::auth::jwt::{self, JoseHeader, JwsAlgorithm};
use crate::identity::Identity;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

/// One verification step, in pipeline order. [`Step::name`] is stable: inspect's report shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Compact JWS with JSON header and claims.
    Format,
    /// No `alg: none`, no key-carrying headers, no unknown critical extensions.
    Header,
    /// `iss` names a provider trusted here (the provider every later step uses).
    Issuer,
    /// The provider allows the token's `alg`.
    Algorithm,
    /// `typ`, when present or required.
    Type,
    /// `exp` and `nbf` with the provider's leeway.
    Lifetime,
    /// `aud` against the provider's audiences, and (AAD) `tid` against the issuer's tenant.
    Audience,
    /// The signature, with the key the header names.
    Signature,
    /// Required scopes or roles.
    Scopes,
    /// The user claim that names the identity.
    Identity,
}

impl Step {
    /// Every step, in the order the pipeline runs them.
    pub const ALL: [Step; 10] = [
        Self::Format,
        Self::Header,
        Self::Issuer,
        Self::Algorithm,
        Self::Type,
        Self::Lifetime,
        Self::Audience,
        Self::Signature,
        Self::Scopes,
        Self::Identity,
    ];

    /// The step's stable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Format => "format",
            Self::Header => "header",
            Self::Issuer => "issuer",
            Self::Algorithm => "algorithm",
            Self::Type => "type",
            Self::Lifetime => "lifetime",
            Self::Audience => "audience",
            Self::Signature => "signature",
            Self::Scopes => "scopes",
            Self::Identity => "identity",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a step did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The token did not parse.
    Unparsed,
    /// No provider was selected for the token's issuer.
    NoProvider,
    /// The algorithm is not allowed, so no key can be used.
    AlgorithmNotAllowed,
    /// The caller asked for no key access ([`KeyAccess::Offline`]).
    KeysNotFetched,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unparsed => "the token does not parse",
            Self::NoProvider => "no provider for this issuer",
            Self::AlgorithmNotAllowed => "algorithm not allowed",
            Self::KeysNotFetched => "keys not fetched",
        })
    }
}

/// What a passed step found; [`fmt::Display`] renders it as inspect's detail text.
#[derive(Clone, Copy)]
pub enum Passed<'a> {
    /// [`Step::Format`].
    Format,
    /// [`Step::Header`].
    Header(&'a JoseHeader),
    /// [`Step::Issuer`]: the token's `iss` and the provider it selects.
    Issuer {
        /// `iss`.
        iss: &'a str,
        /// The selected provider.
        provider: &'a Provider,
    },
    /// [`Step::Algorithm`].
    Algorithm(JwsAlgorithm),
    /// [`Step::Type`]: `typ`, when present.
    Type(Option<&'a str>),
    /// [`Step::Lifetime`].
    Lifetime {
        /// Seconds until `exp` (negative within the leeway).
        expires_in: i64,
        /// The provider's leeway, seconds.
        leeway: u64,
    },
    /// [`Step::Audience`]: the policy matched.
    Audience(&'a AudiencePolicy),
    /// [`Step::Signature`]: where the key came from.
    Signature(&'a KeySource),
    /// [`Step::Scopes`]: whether any scope or role was required.
    Scopes {
        /// Scopes or roles were configured.
        required: bool,
    },
    /// [`Step::Identity`].
    Identity(&'a Identity),
}

impl fmt::Display for Passed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format => f.write_str("compact JWS with JSON header and claims"),
            Self::Header(h) => write!(
                f,
                "alg {}, kid {}",
                h.alg.as_deref().unwrap_or("-"),
                h.kid.as_deref().unwrap_or("-")
            ),
            Self::Issuer { iss, provider } => write!(f, "'{iss}' is provider '{}'", provider.name),
            Self::Algorithm(alg) => write!(f, "{alg} is allowed"),
            Self::Type(typ) => write!(f, "typ {}", typ.unwrap_or("(absent, accepted)")),
            Self::Lifetime { expires_in, leeway } => write!(f, "expires in {expires_in}s (leeway {leeway}s)"),
            Self::Audience(policy) => write!(f, "matches {}", policy.expected().join(", ")),
            Self::Signature(source) => write!(f, "verified with a key from {}", source.describe()),
            Self::Scopes { required: false } => f.write_str("none required"),
            Self::Scopes { required: true } => f.write_str("required scopes/roles present"),
            Self::Identity(identity) => write!(f, "{} (user manager {})", identity.fqn, identity.user_manager),
        }
    }
}

impl fmt::Debug for Passed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Passed").field(&format_args!("{self}")).finish()
    }
}

/// The outcome of one step.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The step passed.
    Passed(Passed<'a>),
    /// The step failed: the token is refused.
    Failed(&'a TokenError),
    /// The step could not run.
    Skipped(Skip),
}

/// Sees each step's outcome, in order, and decides whether the pipeline goes on.
pub trait Observer {
    /// Called once per step that the pipeline reaches; `Break` stops the pipeline.
    fn step(&mut self, step: Step, outcome: Outcome<'_>) -> ControlFlow<()>;
}

/// The request path's observer: stops at the first step that does not pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct StopAtFirstFailure;

impl Observer for StopAtFirstFailure {
    #[inline]
    fn step(&mut self, _step: Step, outcome: Outcome<'_>) -> ControlFlow<()> {
        match outcome {
            Outcome::Passed(_) => ControlFlow::Continue(()),
            Outcome::Failed(_) | Outcome::Skipped(_) => ControlFlow::Break(()),
        }
    }
}

/// How the signature step reaches the provider's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAccess {
    /// The stored keys, refetching (rate-limited) when the `kid` is unknown: the request path.
    Stored,
    /// Fetch the keys now, then verify (`token inspect`).
    Refresh,
    /// Never touch the keys: the signature step is skipped (`token inspect --offline`).
    Offline,
}

/// The pipeline's result.
#[derive(Debug)]
pub enum Verdict {
    /// Every step passed.
    Accepted(Verified),
    /// A step failed; the first failure.
    Refused(TokenError),
    /// Nothing failed, but a step was skipped ([`KeyAccess::Offline`]).
    Unconfirmed,
}

/// Runs every step on `token` against `providers` (restricted to the indices in `allowed`, if given) at
/// `now`, reporting each outcome to `observer` until it breaks.
pub async fn run<O: Observer>(
    providers: &[Arc<Provider>],
    allowed: Option<&[usize]>,
    token: &str,
    now: i64,
    keys: KeyAccess,
    observer: &mut O,
) -> Verdict {
    let mut recorder = Recorder {
        observer,
        first_failure: None,
        skipped: false,
    };
    let verified = steps(&mut recorder, providers, allowed, token, now, keys).await;
    match (recorder.first_failure, verified) {
        (Some(err), _) => Verdict::Refused(err),
        (None, ControlFlow::Continue(Some(verified))) if !recorder.skipped => Verdict::Accepted(verified),
        (None, _) => Verdict::Unconfirmed,
    }
}

/// Forwards outcomes to the observer and remembers the first failure.
struct Recorder<'o, O> {
    observer: &'o mut O,
    first_failure: Option<TokenError>,
    skipped: bool,
}

impl<O: Observer> Recorder<'_, O> {
    #[inline]
    fn pass(&mut self, step: Step, passed: Passed<'_>) -> ControlFlow<()> {
        self.observer.step(step, Outcome::Passed(passed))
    }

    fn fail(&mut self, step: Step, err: TokenError) -> ControlFlow<()> {
        let flow = self.observer.step(step, Outcome::Failed(&err));
        self.first_failure.get_or_insert(err);
        flow
    }

    fn skip(&mut self, step: Step, why: Skip) -> ControlFlow<()> {
        self.skipped = true;
        self.observer.step(step, Outcome::Skipped(why))
    }

    /// Skips every step after `failed`: they all depend on what it would have provided.
    fn skip_after(&mut self, failed: Step, why: Skip) -> ControlFlow<()> {
        for step in Step::ALL.into_iter().skip_while(|s| *s != failed).skip(1) {
            self.skip(step, why)?;
        }
        ControlFlow::Continue(())
    }

    /// Reports `result` for `step` and hands its value on when it passed.
    fn check<'p, T>(
        &mut self,
        step: Step,
        result: Result<T, TokenError>,
        passed: impl FnOnce(&T) -> Passed<'p>,
    ) -> ControlFlow<(), Option<T>> {
        match result {
            Ok(value) => {
                self.pass(step, passed(&value))?;
                ControlFlow::Continue(Some(value))
            }
            Err(err) => {
                self.fail(step, err)?;
                ControlFlow::Continue(None)
            }
        }
    }
}

/// The steps in order. `Continue(Some(..))` only when every step passed.
async fn steps<O: Observer>(
    r: &mut Recorder<'_, O>,
    providers: &[Arc<Provider>],
    allowed: Option<&[usize]>,
    token: &str,
    now: i64,
    keys: KeyAccess,
) -> ControlFlow<(), Option<Verified>> {
    let Some(jwt) = r.check(Step::Format, jwt::parse(token), |_| Passed::Format)? else {
        r.skip_after(Step::Format, Skip::Unparsed)?;
        return ControlFlow::Continue(None);
    };
    r.check(Step::Header, check_header(&jwt.header), |()| {
        Passed::Header(&jwt.header)
    })?;

    let candidates = providers
        .iter()
        .enumerate()
        .filter(|(i, _)| allowed.is_none_or(|a| a.contains(i)))
        .map(|(i, p)| (i, p.as_ref()));
    let iss = jwt.claims.iss.as_deref().unwrap_or_default();
    let selected = r.check(
        Step::Issuer,
        select_provider(candidates, &jwt.claims),
        |(_, provider, _)| Passed::Issuer { iss, provider },
    )?;
    let Some((provider_index, provider, found)) = selected else {
        r.skip_after(Step::Issuer, Skip::NoProvider)?;
        return ControlFlow::Continue(None);
    };

    let alg = r.check(Step::Algorithm, algorithm(&jwt.header, provider.algorithms), |alg| {
        Passed::Algorithm(*alg)
    })?;
    r.check(Step::Type, check_type(&jwt.header, provider.require_typ), |()| {
        Passed::Type(jwt.header.typ.as_deref())
    })?;
    let exp = r.check(Step::Lifetime, check_times(&jwt.claims, provider.leeway, now), |exp| {
        Passed::Lifetime {
            expires_in: exp - now,
            leeway: provider.leeway,
        }
    })?;
    let audience = check_audience(&provider.audience, &jwt.claims).and_then(|()| check_tenant(&found, &jwt.claims));
    r.check(Step::Audience, audience, |()| Passed::Audience(&provider.audience))?;

    match (alg, keys) {
        (None, _) => r.skip(Step::Signature, Skip::AlgorithmNotAllowed)?,
        (Some(_), KeyAccess::Offline) => r.skip(Step::Signature, Skip::KeysNotFetched)?,
        (Some(alg), KeyAccess::Stored | KeyAccess::Refresh) => {
            let loaded = match keys {
                KeyAccess::Refresh => {
                    provider
                        .keys
                        .refresh()
                        .await
                        .map(drop)
                        .map_err(|e| TokenError::KeysUnavailable {
                            provider: provider.name.clone(),
                            reason: e.to_string(),
                            retry_after: provider.keys.until_next_fetch(),
                        })
                }
                KeyAccess::Stored | KeyAccess::Offline => Ok(()),
            };
            let verified = match loaded {
                Ok(()) => verify_signature(provider, alg, &jwt).await,
                Err(err) => Err(err),
            };
            r.check(Step::Signature, verified, |()| {
                Passed::Signature(provider.keys.source())
            })?;
        }
    }

    r.check(Step::Scopes, check_scopes(provider, &jwt.claims), |()| Passed::Scopes {
        required: !(provider.required_scopes.is_empty() && provider.required_roles.is_empty()),
    })?;
    let identity = match map_identity(provider, &jwt.claims, &found) {
        Ok(identity) => {
            r.pass(Step::Identity, Passed::Identity(&identity))?;
            Some(identity)
        }
        Err(err) => {
            r.fail(Step::Identity, err)?;
            None
        }
    };
    ControlFlow::Continue(identity.zip(exp).map(|(identity, exp)| Verified {
        identity,
        exp,
        provider_index,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::unix_now as now;
    use crate::minting::{provider_for, DEFAULT_AUDIENCE, DEFAULT_ISSUER};
    use crate::signing::{SigningAlg, SigningKey};
    use serde_json::json;

    /// What an observer saw of one step.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Seen {
        Passed(String),
        Failed(&'static str),
        Skipped(Skip),
    }

    /// Records every step; breaks at the first failure when `stop`.
    #[derive(Default)]
    struct Record {
        stop: bool,
        seen: Vec<(Step, Seen)>,
    }

    impl Observer for Record {
        fn step(&mut self, step: Step, outcome: Outcome<'_>) -> ControlFlow<()> {
            let seen = match outcome {
                Outcome::Passed(p) => Seen::Passed(p.to_string()),
                Outcome::Failed(e) => Seen::Failed(e.reason()),
                Outcome::Skipped(s) => Seen::Skipped(s),
            };
            let failed = !matches!(seen, Seen::Passed(_));
            self.seen.push((step, seen));
            if self.stop && failed {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    }

    impl Record {
        fn steps(&self) -> Vec<Step> {
            self.seen.iter().map(|(s, _)| *s).collect()
        }

        fn of(&self, step: Step) -> &Seen {
            &self.seen.iter().find(|(s, _)| *s == step).unwrap().1
        }
    }

    struct Fixture {
        key: SigningKey,
        providers: Vec<Arc<Provider>>,
    }

    fn fixture() -> Fixture {
        let key = SigningKey::generate(SigningAlg::ES256, "k1");
        let providers = vec![Arc::new(
            provider_for([&key], DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap(),
        )];
        Fixture { key, providers }
    }

    fn claims() -> serde_json::Value {
        json!({"iss": DEFAULT_ISSUER, "aud": DEFAULT_AUDIENCE, "exp": now() + 300,
               "preferred_username": "alice@contoso.com"})
    }

    /// `token` with its signature replaced by that of another key.
    fn forged(token: &str) -> String {
        let other = SigningKey::generate(SigningAlg::ES256, "k1").mint(&claims());
        let (signed, _) = token.rsplit_once('.').unwrap();
        format!("{signed}.{}", other.rsplit_once('.').unwrap().1)
    }

    async fn collect(f: &Fixture, token: &str, keys: KeyAccess) -> (Verdict, Record) {
        let mut record = Record::default();
        let verdict = run(&f.providers, None, token, now(), keys, &mut record).await;
        (verdict, record)
    }

    #[tokio::test]
    async fn a_good_token_passes_every_step_in_order() {
        let f = fixture();
        let (verdict, record) = collect(&f, &f.key.mint(&claims()), KeyAccess::Stored).await;
        assert_eq!(record.steps(), Step::ALL);
        assert!(
            record.seen.iter().all(|(_, s)| matches!(s, Seen::Passed(_))),
            "{:?}",
            record.seen
        );
        assert_eq!(
            record.of(Step::Identity),
            &Seen::Passed("AAD:alice@contoso.com (user manager aad)".into())
        );
        let Verdict::Accepted(verified) = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(verified.identity.name, "alice@contoso.com");
        let names: Vec<&str> = Step::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
                "format",
                "header",
                "issuer",
                "algorithm",
                "type",
                "lifetime",
                "audience",
                "signature",
                "scopes",
                "identity"
            ]
        );
    }

    #[tokio::test]
    async fn stop_at_first_failure_does_not_verify_the_signature_of_a_misaddressed_token() {
        let f = fixture();
        let mut c = claims();
        c["aud"] = json!("https://elsewhere/");
        // Both the audience and the signature are wrong: only the audience is reported.
        let token = forged(&f.key.mint(&c));
        let mut record = Record {
            stop: true,
            ..Record::default()
        };
        let verdict = run(&f.providers, None, &token, now(), KeyAccess::Stored, &mut record).await;
        assert_eq!(record.steps(), &Step::ALL[..7]);
        assert_eq!(record.of(Step::Audience), &Seen::Failed("audience"));
        let Verdict::Refused(err) = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(err.reason(), "audience");
        // The request path's observer stops at the same step.
        let Verdict::Refused(err) = run(
            &f.providers,
            None,
            &token,
            now(),
            KeyAccess::Stored,
            &mut StopAtFirstFailure,
        )
        .await
        else {
            panic!("refused expected")
        };
        assert_eq!(err.reason(), "audience");
        assert_eq!(
            super::super::verify(&f.providers, None, &token, now())
                .await
                .err()
                .map(|e| e.reason()),
            Some("audience")
        );
    }

    #[tokio::test]
    async fn collect_all_reports_every_failure_and_keeps_the_first() {
        let f = fixture();
        let mut c = claims();
        c["aud"] = json!("https://elsewhere/");
        c["exp"] = json!(now() - 3600);
        let token = forged(&f.key.mint(&c));
        let (verdict, record) = collect(&f, &token, KeyAccess::Stored).await;
        assert_eq!(record.steps(), Step::ALL);
        assert_eq!(record.of(Step::Lifetime), &Seen::Failed("expired"));
        assert_eq!(record.of(Step::Audience), &Seen::Failed("audience"));
        assert_eq!(record.of(Step::Signature), &Seen::Failed("signature"));
        assert!(matches!(record.of(Step::Identity), Seen::Passed(_)));
        let Verdict::Refused(err) = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(err.reason(), "expired");
    }

    #[tokio::test]
    async fn collect_all_skips_what_an_unknown_issuer_or_algorithm_leaves_undecidable() {
        let f = fixture();
        let mut c = claims();
        c["iss"] = json!("https://evil/");
        let (_, record) = collect(&f, &f.key.mint(&c), KeyAccess::Stored).await;
        assert_eq!(record.steps(), Step::ALL);
        assert_eq!(record.of(Step::Issuer), &Seen::Failed("issuer"));
        for step in &Step::ALL[3..] {
            assert_eq!(record.of(*step), &Seen::Skipped(Skip::NoProvider), "{step}");
        }

        let token = f.key.mint_with_header(&json!({"alg": "HS256", "kid": "k1"}), &claims());
        let (_, record) = collect(&f, &token, KeyAccess::Stored).await;
        assert_eq!(record.of(Step::Algorithm), &Seen::Failed("alg_not_allowed"));
        assert_eq!(record.of(Step::Signature), &Seen::Skipped(Skip::AlgorithmNotAllowed));
        assert!(matches!(record.of(Step::Identity), Seen::Passed(_)));

        let (verdict, record) = collect(&f, "not-a-token", KeyAccess::Stored).await;
        assert_eq!(record.steps(), Step::ALL);
        assert_eq!(record.of(Step::Format), &Seen::Failed("malformed"));
        assert!(record.seen[1..]
            .iter()
            .all(|(_, s)| *s == Seen::Skipped(Skip::Unparsed)));
        assert!(matches!(verdict, Verdict::Refused(_)));
    }

    #[tokio::test]
    async fn offline_skips_the_signature_and_confirms_nothing() {
        let f = fixture();
        // A forged signature goes unnoticed offline, so the verdict cannot be "accepted".
        let (verdict, record) = collect(&f, &forged(&f.key.mint(&claims())), KeyAccess::Offline).await;
        assert_eq!(record.of(Step::Signature), &Seen::Skipped(Skip::KeysNotFetched));
        assert_eq!(
            record.seen.iter().filter(|(_, s)| matches!(s, Seen::Passed(_))).count(),
            9
        );
        assert!(matches!(verdict, Verdict::Unconfirmed), "{verdict:?}");
    }
}
