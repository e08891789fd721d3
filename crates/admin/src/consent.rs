//! The AAD consent page's API: the admin-consent URL in the platform's form, built by the same function as
//! `authgate consent-url` ([`authgate_core::directory::consent`]), with the explanation of when it is needed.
//! Nothing is stored or changed, so a GET.

use crate::api::ApiError;
use authgate_core::directory::consent::{
    admin_consent_url, ConsentError, ConsentRequest, DEFAULT_AUTHORITY, DEFAULT_RESOURCE,
};
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

/// When and why a tenant administrator opens the URL (the platform's explanation).
pub const EXPLANATION: &str = "A tenant administrator opens this URL once, signed in with a Global (tenant) \
administrator account, so that the application may sign users of the tenant in and read the directory \
(Directory.Read.All, User.Read, Directory.AccessAsUser.All). It is needed when users sign in with Azure Active \
Directory (an aad user manager or bearer tokens from Azure AD) and AAD was configured by hand; until it is done \
Azure AD refuses with AADSTS65001 or AADSTS90094 (\"The grant requires admin permission\"). It is not needed for \
Active Directory (LDAP) users. Azure AD then redirects to the redirect URI, which must be registered on the \
application.";

#[derive(Deserialize)]
pub(crate) struct ConsentQuery {
    tenant: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    /// The API resource (default `https://api.k2.com`); empty leaves it out.
    resource: Option<String>,
}

/// The API's field for a builder refusal, and its message.
fn refusal(e: &ConsentError) -> ApiError {
    let (field, message) = match e {
        ConsentError::Tenant(t) => (
            "tenant",
            format!("{t:?} is neither a tenant id (GUID) nor a domain such as contoso.onmicrosoft.com"),
        ),
        ConsentError::ClientId => ("client_id", "the application (client) id, without spaces".to_string()),
        ConsentError::Url("redirect-uri", v) => ("redirect_uri", format!("{v:?} is not an absolute http(s) URL")),
        ConsentError::Url("resource", v) => ("resource", format!("{v:?} is not an absolute http(s) URL")),
        ConsentError::Url(_, v) => ("authority", format!("{v:?} is not an absolute http(s) URL")),
    };
    ApiError::Field { field, message }
}

/// The URL for `query`.
fn build(query: &ConsentQuery) -> Result<String, ApiError> {
    let required = |field: &'static str, value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or(ApiError::Field {
                field,
                message: "required".into(),
            })
    };
    let tenant = required("tenant", &query.tenant)?;
    let client_id = required("client_id", &query.client_id)?;
    let redirect_uri = required("redirect_uri", &query.redirect_uri)?;
    let resource = match query.resource.as_deref().map(str::trim) {
        None => Some(DEFAULT_RESOURCE),
        Some("") => None,
        Some(r) => Some(r),
    };
    admin_consent_url(&ConsentRequest {
        tenant: &tenant,
        client_id: &client_id,
        redirect_uri: &redirect_uri,
        resource,
        authority: DEFAULT_AUTHORITY,
    })
    .map_err(|e| refusal(&e))
}

/// `GET consent-url?tenant=&client_id=&redirect_uri=&resource=`.
pub(crate) async fn consent_url(Query(query): Query<ConsentQuery>) -> Result<Response, ApiError> {
    let url = build(&query)?;
    Ok(Json(json!({"url": url, "explanation": EXPLANATION})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(tenant: &str, redirect_uri: &str, resource: Option<&str>) -> ConsentQuery {
        ConsentQuery {
            tenant: Some(tenant.into()),
            client_id: Some("57928c92-7074-45f8-b89e-fe2556ac187f".into()),
            redirect_uri: Some(redirect_uri.into()),
            resource: resource.map(Into::into),
        }
    }

    fn field(result: Result<String, ApiError>) -> &'static str {
        match result {
            Err(ApiError::Field { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_seed_s_url_and_refusals_naming_the_field() {
        let url = build(&query(
            "contoso.onmicrosoft.com",
            "https://help.nintex.com/en-US/HELP_DOC/AADpages/AADSuccess.html",
            None,
        ))
        .unwrap();
        assert!(
            url.starts_with(
                "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/authorize\
                 ?client_id=57928c92-7074-45f8-b89e-fe2556ac187f&response_type=code&redirect_uri="
            ) && url.ends_with("&resource=https%3A%2F%2Fapi.k2.com&prompt=admin_consent"),
            "{url}"
        );
        let without = build(&query("contoso.com", "https://app/cb", Some(""))).unwrap();
        assert!(!without.contains("resource="), "{without}");
        assert_eq!(field(build(&query("a/b", "https://app/cb", None))), "tenant");
        assert_eq!(field(build(&query("contoso.com", "not a url", None))), "redirect_uri");
        assert_eq!(
            field(build(&query("contoso.com", "https://app/cb", Some("x")))),
            "resource"
        );
        let mut missing = query("contoso.com", "https://app/cb", None);
        missing.client_id = None;
        assert_eq!(field(build(&missing)), "client_id");
    }
}
