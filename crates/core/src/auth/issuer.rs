//! Issuer (`iss`) matching: a literal issuer for OIDC providers; for Azure AD the v1
//! (`https://sts.windows.net/{tid}/`) and v2 (`https://login.microsoftonline.com/{tid}/v2.0`) forms of the same
//! tenant, and a `{tenantid}` template restricted to a tenant allow-list.

use std::collections::BTreeSet;

const TEMPLATE: &str = "{tenantid}";
const AAD_V1: (&str, &str) = ("https://sts.windows.net/", "/");
const AAD_V2: (&str, &str) = ("https://login.microsoftonline.com/", "/v2.0");

/// Which tenants a template issuer accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantAllowList {
    /// Only these tenant ids (compared case-insensitively: they are GUIDs).
    Only(BTreeSet<String>),
    /// Any tenant (`tenants: ["*"]`): an explicit multi-tenant opt-in.
    Any,
}

/// One accepted issuer shape: `prefix{tenantid}suffix`, or a literal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Literal { issuer: String, tenant: Option<String> },
    Template { prefix: String, suffix: String },
}

/// The issuers one provider accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerPolicy {
    patterns: Vec<Pattern>,
    tenants: TenantAllowList,
    display: String,
}

/// A matched issuer, with the tenant it names (AAD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerMatch {
    /// The tenant id embedded in the issuer, if any.
    pub tenant: Option<String>,
}

/// Why an issuer configuration is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuerConfigError {
    /// `{tenantid}` used without `tenants`.
    #[error(
        "issuer uses {{tenantid}} but `tenants` is empty: list the allowed tenant ids, or [\"*\"] to accept any tenant"
    )]
    TemplateWithoutTenants,
    /// `{tenantid}` in an OIDC provider, or twice.
    #[error("{{tenantid}} may appear once, and only in an issuer of a provider with kind: aad")]
    BadTemplate,
    /// Not an absolute URL.
    #[error("issuer must be an absolute https:// or http:// URL")]
    NotUrl,
}

impl IssuerPolicy {
    /// A literal OIDC issuer.
    pub fn oidc(issuer: &str) -> Result<Self, IssuerConfigError> {
        if issuer.contains(TEMPLATE) {
            return Err(IssuerConfigError::BadTemplate);
        }
        check_url(issuer)?;
        Ok(Self {
            patterns: vec![Pattern::Literal {
                issuer: issuer.to_string(),
                tenant: None,
            }],
            tenants: TenantAllowList::Only(BTreeSet::new()),
            display: format!("'{issuer}'"),
        })
    }

    /// An Azure AD issuer: literal or `{tenantid}` template, accepted in both its v1 and v2 forms.
    pub fn aad(issuer: &str, tenants: &[String]) -> Result<Self, IssuerConfigError> {
        check_url(issuer)?;
        if issuer.matches(TEMPLATE).count() > 1 {
            return Err(IssuerConfigError::BadTemplate);
        }
        let tenants = if tenants.iter().any(|t| t == "*") {
            TenantAllowList::Any
        } else {
            TenantAllowList::Only(tenants.iter().map(|t| t.to_ascii_lowercase()).collect())
        };
        let mut forms = vec![issuer.to_string()];
        if let Some(tenant) = aad_tenant_of(issuer) {
            for (prefix, suffix) in [AAD_V1, AAD_V2] {
                let twin = format!("{prefix}{tenant}{suffix}");
                if !forms.contains(&twin) {
                    forms.push(twin);
                }
            }
        }
        let mut patterns = Vec::new();
        for form in &forms {
            match form.split_once(TEMPLATE) {
                Some((prefix, suffix)) => {
                    if tenants == TenantAllowList::Only(BTreeSet::new()) {
                        return Err(IssuerConfigError::TemplateWithoutTenants);
                    }
                    patterns.push(Pattern::Template {
                        prefix: prefix.to_string(),
                        suffix: suffix.to_string(),
                    });
                }
                None => patterns.push(Pattern::Literal {
                    issuer: form.clone(),
                    tenant: aad_tenant_of(form).map(str::to_string),
                }),
            }
        }
        let display = forms.iter().map(|f| format!("'{f}'")).collect::<Vec<_>>().join(" or ");
        Ok(Self {
            patterns,
            tenants,
            display,
        })
    }

    /// The accepted issuers, for messages: `'https://...' or 'https://...'`.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// Whether `iss` is one of this provider's issuers; `Err(tenant)` when it has the right shape but its tenant
    /// is not allowed; `Ok(None)` when it is not this provider's issuer at all.
    pub fn matches(&self, iss: &str) -> Result<Option<IssuerMatch>, String> {
        for pattern in &self.patterns {
            match pattern {
                Pattern::Literal { issuer, tenant } if issuer == iss => {
                    return Ok(Some(IssuerMatch { tenant: tenant.clone() }));
                }
                Pattern::Literal { .. } => {}
                Pattern::Template { prefix, suffix } => {
                    let Some(tenant) = iss
                        .strip_prefix(prefix.as_str())
                        .and_then(|r| r.strip_suffix(suffix.as_str()))
                    else {
                        continue;
                    };
                    if tenant.is_empty() || tenant.contains('/') {
                        continue;
                    }
                    let allowed = match &self.tenants {
                        TenantAllowList::Any => true,
                        TenantAllowList::Only(set) => set.contains(&tenant.to_ascii_lowercase()),
                    };
                    return if allowed {
                        Ok(Some(IssuerMatch {
                            tenant: Some(tenant.to_string()),
                        }))
                    } else {
                        Err(tenant.to_string())
                    };
                }
            }
        }
        Ok(None)
    }
}

fn check_url(issuer: &str) -> Result<(), IssuerConfigError> {
    if issuer.starts_with("https://") || issuer.starts_with("http://") {
        Ok(())
    } else {
        Err(IssuerConfigError::NotUrl)
    }
}

/// The tenant segment of a public-cloud AAD v1 or v2 issuer (literal or `{tenantid}`).
fn aad_tenant_of(issuer: &str) -> Option<&str> {
    [AAD_V1, AAD_V2].into_iter().find_map(|(prefix, suffix)| {
        issuer
            .strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(suffix))
            .filter(|t| !t.is_empty() && !t.contains('/'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn oidc_issuer_is_literal() {
        let p = IssuerPolicy::oidc("https://idp.example/").unwrap();
        assert_eq!(
            p.matches("https://idp.example/"),
            Ok(Some(IssuerMatch { tenant: None }))
        );
        assert_eq!(p.matches("https://idp.example"), Ok(None));
        assert!(IssuerPolicy::oidc("https://x/{tenantid}/").is_err());
        assert!(IssuerPolicy::oidc("idp.example").is_err());
    }

    #[test]
    fn aad_literal_tenant_accepts_v1_and_v2() {
        let p = IssuerPolicy::aad(&format!("https://login.microsoftonline.com/{TID}/v2.0"), &[]).unwrap();
        let v1 = format!("https://sts.windows.net/{TID}/");
        let v2 = format!("https://login.microsoftonline.com/{TID}/v2.0");
        assert_eq!(p.matches(&v1).unwrap().unwrap().tenant.as_deref(), Some(TID));
        assert_eq!(p.matches(&v2).unwrap().unwrap().tenant.as_deref(), Some(TID));
        assert_eq!(p.matches("https://sts.windows.net/other/"), Ok(None));
    }

    #[test]
    fn aad_template_requires_allowed_tenant() {
        let p = IssuerPolicy::aad(
            "https://login.microsoftonline.com/{tenantid}/v2.0",
            &[TID.to_uppercase()],
        )
        .unwrap();
        assert!(p.matches(&format!("https://sts.windows.net/{TID}/")).unwrap().is_some());
        assert_eq!(
            p.matches("https://login.microsoftonline.com/evil-tenant/v2.0"),
            Err("evil-tenant".to_string())
        );
        assert_eq!(p.matches("https://login.microsoftonline.com/a/b/v2.0"), Ok(None));
        assert_eq!(
            IssuerPolicy::aad("https://login.microsoftonline.com/{tenantid}/v2.0", &[]),
            Err(IssuerConfigError::TemplateWithoutTenants)
        );
    }

    #[test]
    fn aad_any_tenant_is_explicit() {
        let p = IssuerPolicy::aad("https://sts.windows.net/{tenantid}/", &["*".into()]).unwrap();
        assert!(p
            .matches("https://login.microsoftonline.com/whatever/v2.0")
            .unwrap()
            .is_some());
    }
}
