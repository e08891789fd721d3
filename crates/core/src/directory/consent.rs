//! The Azure AD admin-consent URL (`authgate consent-url`): a tenant administrator opens it once so that the
//! gateway's application may sign users in (without it Azure AD answers AADSTS65001 / AADSTS90094).
//!
//! The form is the platform's: `{authority}/{tenant}/oauth2/authorize?client_id=...&response_type=code&
//! redirect_uri=...&resource=...&prompt=admin_consent`, every value form-urlencoded.

use thiserror::Error;

/// The platform's API resource, as its own admin-consent URL names it.
pub const DEFAULT_RESOURCE: &str = "https://api.k2.com";
/// The Azure AD authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// What goes into an admin-consent URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRequest<'a> {
    /// Tenant id (GUID) or domain (`contoso.onmicrosoft.com`).
    pub tenant: &'a str,
    /// The application (client) id to consent to.
    pub client_id: &'a str,
    /// Where Azure AD sends the administrator afterwards; must be registered on the application.
    pub redirect_uri: &'a str,
    /// The resource, e.g. `https://api.k2.com`; `None` leaves the parameter out.
    pub resource: Option<&'a str>,
    /// `https://login.microsoftonline.com` unless a national cloud.
    pub authority: &'a str,
}

/// Why no URL could be built.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ConsentError {
    /// Not a tenant id or domain.
    #[error("--tenant '{0}' is neither a tenant id (GUID) nor a domain such as contoso.onmicrosoft.com")]
    Tenant(String),
    /// Empty or containing white space.
    #[error("--client-id must be the application (client) id, without spaces")]
    ClientId,
    /// Not an absolute http(s) URL.
    #[error("--{0} '{1}' is not an absolute http(s) URL")]
    Url(&'static str, String),
}

/// Whether `tenant` can be a tenant id or domain name: letters, digits, `.` and `-`, not at the ends.
pub fn is_valid_tenant(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 253
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !tenant.starts_with(['.', '-'])
        && !tenant.ends_with(['.', '-'])
        && !tenant.contains("..")
}

fn absolute_url(flag: &'static str, value: &str) -> Result<url::Url, ConsentError> {
    url::Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
        .ok_or_else(|| ConsentError::Url(flag, value.to_string()))
}

/// The admin-consent URL for `request`.
pub fn admin_consent_url(request: &ConsentRequest<'_>) -> Result<String, ConsentError> {
    if !is_valid_tenant(request.tenant) {
        return Err(ConsentError::Tenant(request.tenant.to_string()));
    }
    if request.client_id.is_empty() || request.client_id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConsentError::ClientId);
    }
    absolute_url("redirect-uri", request.redirect_uri)?;
    if let Some(resource) = request.resource {
        absolute_url("resource", resource)?;
    }
    let mut url = absolute_url("authority", request.authority.trim_end_matches('/'))?;
    url.set_query(None);
    url.path_segments_mut()
        .map_err(|_| ConsentError::Url("authority", request.authority.to_string()))?
        .pop_if_empty()
        .extend([request.tenant, "oauth2", "authorize"]);
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", request.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", request.redirect_uri);
        if let Some(resource) = request.resource {
            query.append_pair("resource", resource);
        }
        query.append_pair("prompt", "admin_consent");
    }
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(tenant: &'a str, redirect_uri: &'a str) -> ConsentRequest<'a> {
        ConsentRequest {
            tenant,
            client_id: "57928c92-7074-45f8-b89e-fe2556ac187f",
            redirect_uri,
            resource: Some(DEFAULT_RESOURCE),
            authority: DEFAULT_AUTHORITY,
        }
    }

    #[test]
    fn the_platform_form_encoded() {
        let url = admin_consent_url(&request(
            "contoso.onmicrosoft.com",
            "https://help.nintex.com/en-US/HELP_DOC/AADpages/AADSuccess.html",
        ))
        .unwrap();
        assert_eq!(
            url,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/authorize\
             ?client_id=57928c92-7074-45f8-b89e-fe2556ac187f&response_type=code\
             &redirect_uri=https%3A%2F%2Fhelp.nintex.com%2Fen-US%2FHELP_DOC%2FAADpages%2FAADSuccess.html\
             &resource=https%3A%2F%2Fapi.k2.com&prompt=admin_consent"
        );
    }

    #[test]
    fn query_characters_in_values_are_encoded() {
        let url = admin_consent_url(&request("contoso.com", "https://app/cb?x=1&prompt=none#f")).unwrap();
        assert!(
            url.contains("redirect_uri=https%3A%2F%2Fapp%2Fcb%3Fx%3D1%26prompt%3Dnone%23f&"),
            "{url}"
        );
        assert_eq!(url.matches("prompt=").count(), 1);
    }

    #[test]
    fn refuses_what_cannot_be_a_tenant_or_url() {
        for tenant in ["", "../x", "a/b", "contoso.com?x", "-x", "a..b"] {
            assert!(
                admin_consent_url(&request(tenant, "https://app/cb")).is_err(),
                "{tenant}"
            );
        }
        assert_eq!(
            admin_consent_url(&request("contoso.com", "not a url")),
            Err(ConsentError::Url("redirect-uri", "not a url".into()))
        );
        assert!(is_valid_tenant("72f988bf-86f1-41af-91ab-2d7cd011db47"));
    }
}
