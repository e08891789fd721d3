//! Audience (`aud`) matching: exact by default, trailing slash significant, and a mismatch that explains
//! itself. `https://api.k2.com/` is not `https://api.k2.com`; the message says so in those words.

use crate::config::AudienceMatch;
use std::fmt;

/// The configured audiences of one provider and how they are compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudiencePolicy {
    expected: Vec<String>,
    mode: AudienceMatch,
}

/// Why the token's audience did not match, with the values involved and a hint when they are near misses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceMismatch {
    /// The audiences the token carried.
    pub token: Vec<String>,
    /// The audiences the gateway accepts.
    pub expected: Vec<String>,
    /// A near miss, if one explains the mismatch.
    pub near_miss: Option<NearMiss>,
}

/// A pair that differs only in a way operators often get wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearMiss {
    /// The token's value.
    pub token: String,
    /// The configured value.
    pub expected: String,
    /// How they differ.
    pub kind: NearMissKind,
}

/// The kind of near miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NearMissKind {
    /// The configured audience ends in `/`, the token's does not.
    TokenLacksTrailingSlash,
    /// The token's audience ends in `/`, the configured one does not.
    TokenHasExtraTrailingSlash,
    /// They differ only in letter case.
    Case,
}

impl fmt::Display for AudienceMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[String]| v.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ");
        write!(
            f,
            "token audience {} does not match the expected audience {}",
            list(&self.token),
            list(&self.expected)
        )?;
        if let Some(near) = &self.near_miss {
            match near.kind {
                NearMissKind::TokenLacksTrailingSlash => write!(
                    f,
                    ": they differ only by a trailing slash ('{}' has none, '{}' ends with '/'); request the token for resource/audience '{}' exactly",
                    near.token, near.expected, near.expected
                ),
                NearMissKind::TokenHasExtraTrailingSlash => write!(
                    f,
                    ": they differ only by a trailing slash ('{}' ends with '/', '{}' has none); request the token for resource/audience '{}' exactly",
                    near.token, near.expected, near.expected
                ),
                NearMissKind::Case => write!(
                    f,
                    ": they differ only in letter case; audiences are compared exactly"
                ),
            }?;
        }
        Ok(())
    }
}

impl AudiencePolicy {
    /// A policy accepting `expected` (non-empty) under `mode`.
    pub fn new(expected: Vec<String>, mode: AudienceMatch) -> Self {
        Self { expected, mode }
    }

    /// The configured audiences.
    pub fn expected(&self) -> &[String] {
        &self.expected
    }

    /// Accepts when any of the token's audiences matches any configured one.
    pub fn check<'a>(
        &self,
        token_audiences: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<(), AudienceMismatch> {
        let matched = token_audiences
            .clone()
            .into_iter()
            .any(|aud| self.expected.iter().any(|exp| self.matches(aud, exp)));
        if matched {
            return Ok(());
        }
        let token: Vec<String> = token_audiences.into_iter().map(str::to_string).collect();
        let near_miss = token
            .iter()
            .find_map(|t| self.expected.iter().find_map(|e| near_miss(t, e)));
        Err(AudienceMismatch {
            token,
            expected: self.expected.clone(),
            near_miss,
        })
    }

    fn matches(&self, token: &str, expected: &str) -> bool {
        match self.mode {
            AudienceMatch::Exact => token == expected,
            AudienceMatch::Normalized => {
                let norm = |s: &str| s.strip_suffix('/').unwrap_or(s).to_ascii_lowercase();
                norm(token) == norm(expected)
            }
        }
    }
}

fn near_miss(token: &str, expected: &str) -> Option<NearMiss> {
    let kind = if expected.strip_suffix('/') == Some(token) {
        NearMissKind::TokenLacksTrailingSlash
    } else if token.strip_suffix('/') == Some(expected) {
        NearMissKind::TokenHasExtraTrailingSlash
    } else if token.eq_ignore_ascii_case(expected) {
        NearMissKind::Case
    } else {
        return None;
    };
    Some(NearMiss {
        token: token.to_string(),
        expected: expected.to_string(),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(v: &[&str]) -> AudiencePolicy {
        AudiencePolicy::new(v.iter().map(|s| s.to_string()).collect(), AudienceMatch::Exact)
    }

    #[test]
    fn exact_match_accepts_only_identical_strings() {
        let p = exact(&["https://api.k2.com/"]);
        assert!(p.check(["https://api.k2.com/"]).is_ok());
        assert!(p.check(["https://api.k2.com"]).is_err());
        assert!(p.check(["https://API.k2.com/"]).is_err());
    }

    #[test]
    fn missing_trailing_slash_is_explained() {
        let err = exact(&["https://api.k2.com/"])
            .check(["https://api.k2.com"])
            .unwrap_err();
        assert_eq!(
            err.near_miss.as_ref().unwrap().kind,
            NearMissKind::TokenLacksTrailingSlash
        );
        let text = err.to_string();
        assert!(text.contains("'https://api.k2.com'"), "{text}");
        assert!(text.contains("'https://api.k2.com/'"), "{text}");
        assert!(text.contains("differ only by a trailing slash"), "{text}");
    }

    #[test]
    fn extra_trailing_slash_is_explained() {
        let err = exact(&["https://api.k2.com"])
            .check(["https://api.k2.com/"])
            .unwrap_err();
        assert_eq!(err.near_miss.unwrap().kind, NearMissKind::TokenHasExtraTrailingSlash);
    }

    #[test]
    fn unrelated_audience_has_no_hint() {
        let err = exact(&["https://api.k2.com/"])
            .check(["https://graph.microsoft.com"])
            .unwrap_err();
        assert!(err.near_miss.is_none());
        assert!(!err.to_string().contains("trailing slash"));
    }

    #[test]
    fn any_of_an_audience_array_matches() {
        let p = exact(&["https://api.k2.com/", "api://k2"]);
        assert!(p.check(["https://other", "api://k2"]).is_ok());
        assert!(p.check(Vec::<&str>::new()).is_err());
    }

    #[test]
    fn normalized_mode_is_opt_in() {
        let p = AudiencePolicy::new(vec!["https://api.k2.com/".into()], AudienceMatch::Normalized);
        assert!(p.check(["https://api.k2.com"]).is_ok());
        assert!(p.check(["HTTPS://API.K2.COM/"]).is_ok());
        assert!(p.check(["https://api.k2.com.evil"]).is_err());
    }
}
