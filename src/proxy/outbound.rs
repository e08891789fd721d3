//! Outbound routes: the authenticated user's OAuth token for the route's resource, obtained before the request
//! goes upstream (it replaces the client's credentials there), or the refusal when there is none: JSON naming
//! the resource and its authorize URL (401/403/503), or for a browser a redirect to the authorize URL.

use super::routes::OutboundResource;
use super::state::ProxyState;
use authgate_apis::outbound::refusal::{result_label, Refusal};
use authgate_apis::outbound::service::Outbound;
use authgate_apis::outbound::tokens::{AccessToken, Principal, TokenError};
use authgate_core::auth::Authenticated;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION};
use pingora::prelude::*;

/// The bearer token the client authenticated with, if it authenticated with one.
fn inbound_bearer<'a>(session: &'a Session, auth: &Authenticated) -> Option<&'a str> {
    auth.provider_index?;
    let value = session.req_header().headers.get(AUTHORIZATION)?.to_str().ok()?;
    let scheme = value.get(..7)?;
    scheme
        .eq_ignore_ascii_case("bearer ")
        .then(|| value[7..].trim())
        .filter(|t| !t.is_empty())
}

/// The user's token for `resource`, counted in `authgate_outbound_tokens_total`.
pub async fn token(
    outbound: Option<&Outbound>,
    session: &Session,
    auth: &Authenticated,
    resource: &OutboundResource,
    state: &ProxyState,
) -> Result<AccessToken, Refusal> {
    let result = match outbound {
        Some(outbound) => {
            let caller = Principal {
                user: &auth.identity.fqn,
                inbound_bearer: inbound_bearer(session, auth),
            };
            outbound.token_for(caller, &resource.resource).await
        }
        None => Err(TokenError::Unavailable {
            resource: resource.resource.clone(),
            reason: "outbound OAuth is not running in this gateway".into(),
        }),
    };
    state
        .metrics
        .outbound_tokens
        .with_label_values(&[resource.kind, result_label(&result)])
        .inc();
    result.map_err(|e| Refusal::from_error(&e))
}

/// Answers `refusal`: a redirect to the authorize URL for a browser that can fix it, JSON otherwise.
pub async fn refuse(session: &mut Session, refusal: &Refusal, realm: &str, request_id: &str) -> Result<()> {
    let req = session.req_header();
    let accept = req.headers.get(ACCEPT).and_then(|v| v.to_str().ok());
    let original = req.uri.path_and_query().map_or("/", |p| p.as_str());
    let location = refusal.redirect(accept, original);
    if !session.is_body_empty() {
        session.set_keepalive(None);
    }
    let (status, body, content_type) = match &location {
        Some(_) => (302, Vec::new(), None),
        None => (refusal.status, refusal.json(request_id), Some("application/json")),
    };
    let mut header = ResponseHeader::build(status, Some(6))?;
    if let Some(content_type) = content_type {
        header.insert_header("content-type", content_type)?;
    }
    header.insert_header("content-length", body.len().to_string())?;
    header.insert_header("cache-control", "no-store")?;
    header.insert_header("x-request-id", request_id)?;
    if let Some(location) = location {
        header.insert_header("location", location)?;
    } else if let Some(challenge) = refusal.www_authenticate(realm) {
        header.insert_header("www-authenticate", challenge)?;
    }
    session.write_response_header(Box::new(header), body.is_empty()).await?;
    if !body.is_empty() {
        session.write_response_body(Some(Bytes::from(body)), true).await?;
    }
    Ok(())
}
