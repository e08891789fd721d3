//! `assertion`: the identity assertion signer and the header it is sent in, when enabled.

use super::Issues;
use crate::proxy::state::Assertion;
use authgate_core::assertion::AssertionSigner;
use authgate_core::config::{AssertionConfig, ConfigIssue};
use authgate_core::signing::SigningAlg;
use std::sync::Arc;
use std::time::Duration;

/// The signer and its header (`None` when disabled), or every issue of `cfg`.
pub fn from_config(cfg: &AssertionConfig) -> Result<Option<Assertion>, Vec<ConfigIssue>> {
    let mut issues = Issues::default();
    let built = build(cfg, &mut issues);
    issues.into_result(built)
}

fn build(cfg: &AssertionConfig, issues: &mut Issues) -> Option<Assertion> {
    if !cfg.enabled {
        return None;
    }
    let alg = match cfg.algorithm.as_str() {
        "ES256" => Some(SigningAlg::ES256),
        "EdDSA" => Some(SigningAlg::EdDSA),
        other => {
            issues.add(
                "assertion.algorithm",
                format!("'{other}' is not supported; use ES256 or EdDSA"),
            );
            None
        }
    };
    let header = http::HeaderName::from_bytes(cfg.header.as_bytes())
        .map_err(|_| {
            issues.add(
                "assertion.header",
                format!("'{}' is not a valid header name", cfg.header),
            )
        })
        .ok();
    if cfg.ttl_seconds == 0 {
        issues.add("assertion.ttl_seconds", "must be at least 1");
    }
    Some(Assertion {
        signer: Arc::new(AssertionSigner::new(
            alg?,
            &cfg.issuer,
            Duration::from_secs(cfg.ttl_seconds.max(1)),
        )),
        header: header?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues(cfg: AssertionConfig) -> Vec<String> {
        crate::gateway::test_support::messages(from_config(&cfg))
    }

    #[test]
    fn disabled_builds_nothing_and_enabled_builds_a_signer() {
        assert!(from_config(&AssertionConfig::default()).unwrap().is_none());
        let enabled = AssertionConfig {
            enabled: true,
            ..Default::default()
        };
        let assertion = from_config(&enabled).unwrap().expect("a signer");
        assert_eq!(assertion.header, "x-authgate-assertion");
    }

    #[test]
    fn algorithm_header_and_ttl_are_checked() {
        let bad = AssertionConfig {
            enabled: true,
            algorithm: "RS256".into(),
            header: "bad header".into(),
            ttl_seconds: 0,
            ..Default::default()
        };
        assert_eq!(
            issues(bad),
            [
                "assertion.algorithm: 'RS256' is not supported; use ES256 or EdDSA",
                "assertion.header: 'bad header' is not a valid header name",
                "assertion.ttl_seconds: must be at least 1",
            ]
        );
        let eddsa = AssertionConfig {
            enabled: true,
            algorithm: "EdDSA".into(),
            ..Default::default()
        };
        assert!(issues(eddsa).is_empty());
    }
}
