//! Bearer-token verification: one provider's rules and the steps a token goes through.
//!
//! Each step is its own function; [`pipeline`] defines their order once. The request path ([`verify`]) runs
//! it and stops at the first failure; `authgate token inspect` runs it to the end and explains every outcome.

pub mod pipeline;

use super::audience::AudiencePolicy;
use super::errors::TokenError;
use super::issuer::{IssuerMatch, IssuerPolicy};
use super::jwks::{Candidates, KeyStore};
use super::token_cache::TokenCache;
use super::{Authenticated, HeaderSet};
use crate::auth::jwt::{AlgorithmSet, Claims, JoseHeader, JwsAlgorithm, UnverifiedJwt};
use crate::config::ProviderKind;
use crate::identity::{AuthMethod, FqnFormat, Identity, UserManager};
use crate::metrics::Metrics;
use pipeline::{KeyAccess, StopAtFirstFailure, Verdict};
use std::sync::Arc;
use std::time::Instant;

/// A claim that can name the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserClaim {
    /// `upn`.
    Upn,
    /// `unique_name`.
    UniqueName,
    /// `preferred_username`.
    PreferredUsername,
    /// `oid`.
    Oid,
    /// `email`.
    Email,
    /// `sub`.
    Sub,
    /// `appid` (AAD v1 application tokens).
    Appid,
    /// `azp`.
    Azp,
}

impl UserClaim {
    /// Every user claim, by name.
    pub const ALL: [(&'static str, UserClaim); 8] = [
        ("upn", Self::Upn),
        ("unique_name", Self::UniqueName),
        ("preferred_username", Self::PreferredUsername),
        ("oid", Self::Oid),
        ("email", Self::Email),
        ("sub", Self::Sub),
        ("appid", Self::Appid),
        ("azp", Self::Azp),
    ];

    /// Parses a claim name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }

    /// The claim name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, c)| *c == self).map_or("?", |(n, _)| n)
    }

    /// The default claims for a provider kind.
    pub fn defaults(kind: ProviderKind) -> Vec<Self> {
        match kind {
            ProviderKind::Aad => vec![Self::Upn, Self::UniqueName, Self::PreferredUsername, Self::Oid],
            ProviderKind::Oidc => vec![Self::PreferredUsername, Self::Email, Self::Sub],
        }
    }

    fn get(self, c: &Claims) -> Option<&str> {
        match self {
            Self::Upn => c.upn.as_deref(),
            Self::UniqueName => c.unique_name.as_deref(),
            Self::PreferredUsername => c.preferred_username.as_deref(),
            Self::Oid => c.oid.as_deref(),
            Self::Email => c.email.as_deref(),
            Self::Sub => c.sub.as_deref(),
            Self::Appid => c.appid.as_deref(),
            Self::Azp => c.azp.as_deref(),
        }
        .filter(|v| !v.is_empty())
    }
}

/// One trusted issuer and everything needed to verify its tokens.
pub struct Provider {
    /// Name for logs and metrics.
    pub name: String,
    /// Issuer family.
    pub kind: ProviderKind,
    /// Accepted issuers.
    pub issuer: IssuerPolicy,
    /// Accepted audiences.
    pub audience: AudiencePolicy,
    /// Allowed algorithms.
    pub algorithms: AlgorithmSet,
    /// Clock skew allowed on `exp`/`nbf`, seconds.
    pub leeway: u64,
    /// Refuse tokens without `typ`.
    pub require_typ: bool,
    /// Scopes a token must all carry.
    pub required_scopes: Vec<String>,
    /// Roles a token must all carry (alternative to scopes when both are set).
    pub required_roles: Vec<String>,
    /// User manager of identities from this issuer.
    pub user_manager: UserManager,
    /// FQN format of that user manager.
    pub fqn: FqnFormat,
    /// Claims tried for the user name, in order.
    pub user_claims: Vec<UserClaim>,
    /// Signing keys.
    pub keys: Arc<KeyStore>,
}

/// Structural header checks: no `alg: none`, no key-carrying headers, no unknown critical extensions.
pub fn check_header(header: &JoseHeader) -> Result<(), TokenError> {
    match header.alg.as_deref() {
        None => return Err(TokenError::Malformed("header has no 'alg'".into())),
        Some(alg) if alg.eq_ignore_ascii_case("none") => return Err(TokenError::AlgorithmNone),
        Some(_) => {}
    }
    if let Some(name) = header.forbidden_key_header() {
        return Err(TokenError::ForbiddenHeader(name));
    }
    if let Some(crit) = &header.crit {
        return Err(TokenError::UnsupportedCritical(crit.join(", ")));
    }
    Ok(())
}

/// `typ` must be `JWT` or `at+jwt` (optionally with the `application/` prefix), compared case-insensitively.
pub fn check_type(header: &JoseHeader, require_typ: bool) -> Result<(), TokenError> {
    match header.typ.as_deref() {
        None if require_typ => Err(TokenError::BadType("(absent)".into())),
        None => Ok(()),
        Some(typ) => {
            let t = typ.strip_prefix("application/").unwrap_or(typ);
            if t.eq_ignore_ascii_case("jwt") || t.eq_ignore_ascii_case("at+jwt") {
                Ok(())
            } else {
                Err(TokenError::BadType(typ.chars().take(40).collect()))
            }
        }
    }
}

/// The token's algorithm, if the provider allows it.
pub fn algorithm(header: &JoseHeader, allowed: AlgorithmSet) -> Result<JwsAlgorithm, TokenError> {
    let name = header.alg.as_deref().unwrap_or_default();
    match name.parse::<JwsAlgorithm>() {
        Ok(alg) if allowed.contains(alg) => Ok(alg),
        _ => Err(TokenError::AlgorithmNotAllowed {
            alg: name.chars().take(20).collect(),
            allowed: allowed.describe(),
        }),
    }
}

/// The provider that issued the token, among `providers` (already restricted to the route's).
pub fn select_provider<'a>(
    providers: impl Iterator<Item = (usize, &'a Provider)> + Clone,
    claims: &Claims,
) -> Result<(usize, &'a Provider, IssuerMatch), TokenError> {
    let iss = claims.iss.as_deref().ok_or(TokenError::MissingIssuer)?;
    for (index, provider) in providers.clone() {
        match provider.issuer.matches(iss) {
            Ok(Some(found)) => return Ok((index, provider, found)),
            Ok(None) => {}
            Err(tenant) => {
                return Err(TokenError::TenantNotAllowed {
                    tenant,
                    provider: provider.name.clone(),
                })
            }
        }
    }
    let trusted = providers
        .map(|(_, p)| p.issuer.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Err(TokenError::UntrustedIssuer {
        issuer: iss.chars().take(200).collect(),
        trusted: if trusted.is_empty() {
            "(none on this route)".into()
        } else {
            trusted
        },
    })
}

/// `exp` (required) and `nbf` against `now` with `leeway`; returns `exp`.
pub fn check_times(claims: &Claims, leeway: u64, now: i64) -> Result<i64, TokenError> {
    let leeway_i = i64::try_from(leeway).unwrap_or(i64::MAX);
    let exp = claims.exp.ok_or(TokenError::MissingExpiry)?.0;
    if now > exp.saturating_add(leeway_i) {
        return Err(TokenError::Expired {
            exp,
            ago: now - exp,
            leeway,
        });
    }
    if let Some(nbf) = claims.nbf {
        if nbf.0 > now.saturating_add(leeway_i) {
            return Err(TokenError::NotYetValid {
                nbf: nbf.0,
                ahead: nbf.0 - now,
                leeway,
            });
        }
    }
    Ok(exp)
}

/// `aud` against the provider's audiences.
pub fn check_audience(policy: &AudiencePolicy, claims: &Claims) -> Result<(), TokenError> {
    let expected = || {
        policy
            .expected()
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let aud = claims
        .aud
        .as_ref()
        .ok_or_else(|| TokenError::MissingAudience { expected: expected() })?;
    policy.check(aud.iter()).map_err(TokenError::AudienceMismatch)
}

/// In AAD tokens, `tid` must name the issuer's tenant.
pub fn check_tenant(found: &IssuerMatch, claims: &Claims) -> Result<(), TokenError> {
    match (&found.tenant, &claims.tid) {
        (Some(issuer_tenant), Some(tid)) if !issuer_tenant.eq_ignore_ascii_case(tid) => Err(TokenError::Malformed(
            format!("'tid' ({tid}) does not match the tenant of the issuer ({issuer_tenant})"),
        )),
        _ => Ok(()),
    }
}

/// Granted scopes (`scp`, else `scope`), split on whitespace.
pub fn scopes(claims: &Claims) -> Vec<String> {
    claims
        .scp
        .as_deref()
        .or(claims.scope.as_deref())
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Required scopes or roles: with both configured, either full set suffices.
pub fn check_scopes(provider: &Provider, claims: &Claims) -> Result<(), TokenError> {
    if provider.required_scopes.is_empty() && provider.required_roles.is_empty() {
        return Ok(());
    }
    let granted = scopes(claims);
    let roles: &[String] = claims.roles.as_deref().unwrap_or_default();
    let missing = |required: &[String], have: &[String]| -> Vec<String> {
        required.iter().filter(|r| !have.contains(r)).cloned().collect()
    };
    let missing_scopes = missing(&provider.required_scopes, &granted);
    let missing_roles = missing(&provider.required_roles, roles);
    let scopes_ok = !provider.required_scopes.is_empty() && missing_scopes.is_empty();
    let roles_ok = !provider.required_roles.is_empty() && missing_roles.is_empty();
    if scopes_ok || roles_ok {
        return Ok(());
    }
    let mut parts = Vec::new();
    if !provider.required_scopes.is_empty() {
        parts.push(format!("scope(s) {}", missing_scopes.join(" ")));
    }
    if !provider.required_roles.is_empty() {
        parts.push(format!("role(s) {}", missing_roles.join(" ")));
    }
    Err(TokenError::InsufficientScope(format!(
        "token lacks required {}",
        parts.join(", or ")
    )))
}

/// The identity named by the token.
pub fn map_identity(provider: &Provider, claims: &Claims, found: &IssuerMatch) -> Result<Identity, TokenError> {
    let name = provider
        .user_claims
        .iter()
        .find_map(|c| c.get(claims))
        .ok_or_else(|| {
            TokenError::MissingUserClaim(
                provider
                    .user_claims
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?
        .to_string();
    Ok(Identity {
        fqn: provider.fqn.fqn(&name, None),
        email: claims
            .email
            .clone()
            .or_else(|| claims.upn.clone().filter(|u| u.contains('@'))),
        display_name: claims.name.clone(),
        groups: claims.groups.clone().unwrap_or_default(),
        mfa: claims.amr.as_ref().is_some_and(|a| a.iter().any(|m| m == "mfa")),
        tenant: claims.tid.clone().or_else(|| found.tenant.clone()),
        scopes: scopes(claims),
        roles: claims.roles.clone().unwrap_or_default(),
        provider: Some(provider.name.clone()),
        user_manager: provider.user_manager.clone(),
        auth_method: AuthMethod::OAuth,
        name,
    })
}

/// Verifies the signature with the key the header names, refetching keys if it is unknown.
pub async fn verify_signature(
    provider: &Provider,
    alg: JwsAlgorithm,
    jwt: &UnverifiedJwt<'_>,
) -> Result<(), TokenError> {
    match provider.keys.find(jwt.header.kid.as_deref()).await? {
        Candidates::One(key) => key.verify(alg, jwt.signing_input, &jwt.signature),
        Candidates::Any(keys) => {
            let mut fitting = keys.iter().filter(|k| k.key_type.fits(alg)).peekable();
            if fitting.peek().is_none() {
                return Err(TokenError::UnknownKey {
                    kid: None,
                    provider: provider.name.clone(),
                });
            }
            if fitting.any(|k| k.verify(alg, jwt.signing_input, &jwt.signature).is_ok()) {
                Ok(())
            } else {
                Err(TokenError::BadSignature)
            }
        }
    }
}

/// A successfully verified token.
#[derive(Debug)]
pub struct Verified {
    /// Who it names.
    pub identity: Identity,
    /// `exp`.
    pub exp: i64,
    /// Index of the provider that issued it.
    pub provider_index: usize,
}

/// Verifies `token` against `providers` (restricted to `allowed` indices, if given): the [`pipeline`], stopping
/// at the first failure.
pub async fn verify(
    providers: &[Arc<Provider>],
    allowed: Option<&[usize]>,
    token: &str,
    now: i64,
) -> Result<Verified, TokenError> {
    let verdict = pipeline::run(
        providers,
        allowed,
        token,
        now,
        KeyAccess::Stored,
        &mut StopAtFirstFailure,
    )
    .await;
    match verdict {
        Verdict::Accepted(verified) => Ok(verified),
        Verdict::Refused(err) => Err(err),
        // With stored keys no step is skipped unless an earlier one failed, which is `Refused`.
        Verdict::Unconfirmed => Err(TokenError::Malformed("verification did not complete".into())),
    }
}

/// Bearer authentication: the providers, the verified-token cache, and the header renderer.
pub struct BearerAuthenticator {
    providers: Vec<Arc<Provider>>,
    cache: TokenCache,
    headers: Arc<HeaderSet>,
    metrics: Arc<Metrics>,
}

impl BearerAuthenticator {
    /// Builds the authenticator.
    pub fn new(
        providers: Vec<Arc<Provider>>,
        cache: TokenCache,
        headers: Arc<HeaderSet>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            providers,
            cache,
            headers,
            metrics,
        }
    }

    /// The providers, in configuration order.
    pub fn providers(&self) -> &[Arc<Provider>] {
        &self.providers
    }

    /// The result for `token` when it was verified before and was issued by a provider in `allowed`; `None`
    /// otherwise (nothing is counted then: [`BearerAuthenticator::authenticate`] looks again and says why).
    /// The token's bytes need no check first: the cache holds only tokens that passed credential parsing and
    /// verification, and compares the whole token.
    pub fn cached(&self, token: &[u8], allowed: Option<&[usize]>) -> Option<Arc<Authenticated>> {
        let hit = self.cache.get(token, crate::clock::unix_now())?;
        permitted(&hit, allowed).then(|| {
            self.metrics.token_cache_hits.inc();
            hit
        })
    }

    /// Authenticates `token`, from the cache when it was verified before (a token is cached on its second
    /// verification: [`TokenCache::insert`]).
    pub async fn authenticate(&self, token: &str, allowed: Option<&[usize]>) -> Result<Arc<Authenticated>, TokenError> {
        let now = crate::clock::unix_now();
        if let Some(hit) = self.cache.get(token, now) {
            self.metrics.token_cache_hits.inc();
            if permitted(&hit, allowed) {
                return Ok(hit);
            }
            // Issued by a provider this route does not trust: re-run to produce the precise error.
        } else {
            self.metrics.token_cache_misses.inc();
        }
        let started = Instant::now();
        let verified = verify(&self.providers, allowed, token, now).await;
        self.metrics.token_verify.observe(started.elapsed().as_secs_f64());
        let verified = verified?;
        let headers = self.headers.render(&verified.identity);
        let mut authenticated = Authenticated::new(verified.identity, headers);
        authenticated.provider_index = Some(verified.provider_index);
        let authenticated = Arc::new(authenticated);
        self.cache.insert(token, authenticated.clone(), verified.exp, now);
        Ok(authenticated)
    }
}

/// Whether `hit` was issued by a provider in `allowed` (`None`: any).
fn permitted(hit: &Authenticated, allowed: Option<&[usize]>) -> bool {
    match (allowed, hit.provider_index) {
        (None, _) => true,
        (Some(list), Some(index)) => list.contains(&index),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::unix_now as now;
    use crate::minting::{provider_for, DEFAULT_AUDIENCE, DEFAULT_ISSUER};
    use crate::signing::{SigningAlg as TestAlg, SigningKey};

    fn test_provider<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> Provider {
        provider_for(keys, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap()
    }
    use serde_json::json;

    struct Fixture {
        key: SigningKey,
        providers: Vec<Arc<Provider>>,
    }

    async fn fixture(alg: TestAlg) -> Fixture {
        let key = SigningKey::generate(alg, "k1");
        let providers = vec![Arc::new(test_provider([&key]))];
        Fixture { key, providers }
    }

    fn claims() -> serde_json::Value {
        json!({"iss": DEFAULT_ISSUER, "aud": DEFAULT_AUDIENCE, "exp": now() + 300,
               "preferred_username": "alice@contoso.com", "tid": "t1", "groups": ["g1"], "amr": ["pwd", "mfa"]})
    }

    #[tokio::test]
    async fn valid_tokens_of_every_algorithm_verify() {
        for alg in [
            TestAlg::RS256,
            TestAlg::PS256,
            TestAlg::ES256,
            TestAlg::ES384,
            TestAlg::EdDSA,
        ] {
            let f = fixture(alg).await;
            let v = verify(&f.providers, None, &f.key.mint(&claims()), now()).await.unwrap();
            assert_eq!(v.identity.fqn, "AAD:alice@contoso.com");
            assert_eq!(v.identity.tenant.as_deref(), Some("t1"));
            assert!(v.identity.mfa);
        }
    }

    #[tokio::test]
    async fn tokens_signed_by_jsonwebtoken_verify() {
        for (alg, jwt_alg) in [
            (TestAlg::ES256, jsonwebtoken::Algorithm::ES256),
            (TestAlg::EdDSA, jsonwebtoken::Algorithm::EdDSA),
        ] {
            let f = fixture(alg).await;
            let der = f.key.pkcs8_der().unwrap();
            let encoding = match alg {
                TestAlg::EdDSA => jsonwebtoken::EncodingKey::from_ed_der(&der),
                _ => jsonwebtoken::EncodingKey::from_ec_der(&der),
            };
            let mut header = jsonwebtoken::Header::new(jwt_alg);
            header.kid = Some("k1".into());
            let token = jsonwebtoken::encode(&header, &claims(), &encoding).unwrap();
            let v = verify(&f.providers, None, &token, now()).await.unwrap();
            assert_eq!(v.identity.name, "alice@contoso.com");
        }
    }

    #[tokio::test]
    async fn tampered_claims_fail_the_signature() {
        let f = fixture(TestAlg::ES256).await;
        let token = f.key.mint(&claims());
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims();
        forged["preferred_username"] = json!("mallory@contoso.com");
        let forged_b64 = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, forged.to_string());
        parts[1] = &forged_b64;
        let err = verify(&f.providers, None, &parts.join("."), now()).await.err().unwrap();
        assert_eq!(err, TokenError::BadSignature);
    }

    #[tokio::test]
    async fn attack_headers_are_refused() {
        let f = fixture(TestAlg::RS256).await;
        let cases = [
            (json!({"alg": "none", "kid": "k1"}), "alg_none"),
            (json!({"alg": "HS256", "kid": "k1"}), "alg_not_allowed"),
            (
                json!({"alg": "RS256", "kid": "k1", "jku": "https://evil/jwks"}),
                "forbidden_header",
            ),
            (
                json!({"alg": "RS256", "kid": "k1", "x5u": "https://evil/cert"}),
                "forbidden_header",
            ),
            (
                json!({"alg": "RS256", "kid": "k1", "jwk": {"kty": "RSA"}}),
                "forbidden_header",
            ),
            (json!({"alg": "RS256", "kid": "k1", "crit": ["exp"]}), "crit"),
            (json!({"alg": "RS256", "kid": "k1", "typ": "JOSE+JSON"}), "typ"),
            (json!({"alg": "ES256", "kid": "k1"}), "key_alg_mismatch"),
            (json!({"alg": "RS256", "kid": "nope"}), "unknown_kid"),
        ];
        for (header, reason) in cases {
            let token = f.key.mint_with_header(&header, &claims());
            let err = verify(&f.providers, None, &token, now()).await.err().unwrap();
            assert_eq!(err.reason(), reason, "{header}: {err}");
        }
    }

    #[tokio::test]
    async fn claim_checks() {
        let f = fixture(TestAlg::ES256).await;
        let with = |patch: serde_json::Value| {
            let mut c = claims();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    c.as_object_mut().unwrap().remove(k);
                } else {
                    c[k] = v.clone();
                }
            }
            f.key.mint(&c)
        };
        let cases = [
            (json!({"exp": now() - 120}), "expired"),
            (json!({"exp": null}), "expired"),
            (json!({"nbf": now() + 120}), "not_yet_valid"),
            (json!({"iss": "https://evil/"}), "issuer"),
            (json!({"aud": "https://api.k2.com"}), "audience"),
            (json!({"aud": null}), "audience"),
            (
                json!({"preferred_username": null, "sub": null, "email": null}),
                "claims",
            ),
        ];
        for (patch, reason) in cases {
            let err = verify(&f.providers, None, &with(patch.clone()), now())
                .await
                .err()
                .unwrap();
            assert_eq!(err.reason(), reason, "{patch}: {err}");
        }
        // Within leeway, and audience arrays.
        assert!(verify(&f.providers, None, &with(json!({"exp": now() - 30})), now())
            .await
            .is_ok());
        let aud_array = with(json!({"aud": ["other", "https://api.k2.com/"]}));
        assert!(verify(&f.providers, None, &aud_array, now()).await.is_ok());
    }

    #[tokio::test]
    async fn required_scopes_refuse_with_insufficient_scope() {
        let f = fixture(TestAlg::ES256).await;
        let mut provider = Arc::try_unwrap(f.providers.into_iter().next().unwrap()).ok().unwrap();
        provider.required_scopes = vec!["Access.K2API".into()];
        provider.required_roles = vec!["K2.App".into()];
        let providers = vec![Arc::new(provider)];
        let mut c = claims();
        c["scp"] = json!("openid profile");
        let err = verify(&providers, None, &f.key.mint(&c), now()).await.err().unwrap();
        assert_eq!(err.reason(), "scope");
        assert!(err.to_string().contains("Access.K2API"), "{err}");
        c["scp"] = json!("openid Access.K2API");
        assert!(verify(&providers, None, &f.key.mint(&c), now()).await.is_ok());
        c["scp"] = json!("openid");
        c["roles"] = json!(["K2.App"]);
        assert!(verify(&providers, None, &f.key.mint(&c), now()).await.is_ok());
    }
}
