//! The caller of a built-in API: the identity the proxy forwarded in its headers. Handlers never see
//! credentials; a request without the identity headers is refused (401).

use super::{ApiError, ApiState};
use authgate_core::auth::HeaderSet;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use serde::Serialize;
use std::sync::Arc;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    /// FQN, e.g. `K2:CONTOSO\alice`.
    pub user: String,
    /// User manager label (`ad`, `aad`).
    pub user_manager: String,
    /// `basic` or `oauth`.
    pub auth_method: String,
    /// E-mail.
    pub email: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// AAD tenant.
    pub tenant: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
}

impl Caller {
    /// Reads the identity headers; `None` when the user, user-manager or method header is missing.
    pub fn from_headers(names: &HeaderSet, headers: &HeaderMap) -> Option<Self> {
        let [user, user_manager, auth_method, email, groups, tenant, display_name] = names.names();
        let get = |n: &HeaderName| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        Some(Self {
            user: get(user)?,
            user_manager: get(user_manager)?,
            auth_method: get(auth_method)?,
            email: get(email),
            groups: get(groups)
                .map(|g| {
                    g.split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| s.replace("%2C", ",").replace("%25", "%"))
                        .collect()
                })
                .unwrap_or_default(),
            tenant: get(tenant),
            display_name: get(display_name),
        })
    }

    /// Whether the caller is `fqn` (case-insensitive) or belongs to group `group`.
    pub fn is_user(&self, fqn: &str) -> bool {
        self.user.eq_ignore_ascii_case(fqn)
    }

    /// Whether the caller is in `group` (case-insensitive).
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g.eq_ignore_ascii_case(group))
    }
}

impl FromRequestParts<Arc<ApiState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<ApiState>) -> Result<Self, ApiError> {
        Caller::from_headers(&state.headers, &parts.headers).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "requests to the built-in APIs must come through the gateway, which sets the identity headers",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authgate_core::config::HeaderNamesConfig;

    #[test]
    fn reads_forwarded_identity_and_decodes_groups() {
        let names = HeaderSet::from_config(&HeaderNamesConfig::default()).unwrap();
        let mut h = HeaderMap::new();
        assert!(Caller::from_headers(&names, &h).is_none());
        h.insert("x-authgate-user", "K2:CONTOSO\\alice".parse().unwrap());
        h.insert("x-authgate-user-manager", "ad".parse().unwrap());
        h.insert("x-authgate-auth-method", "basic".parse().unwrap());
        h.insert("x-authgate-groups", "Finance,A%2CB".parse().unwrap());
        let caller = Caller::from_headers(&names, &h).unwrap();
        assert_eq!(caller.groups, vec!["Finance".to_string(), "A,B".to_string()]);
        assert!(caller.is_user("k2:contoso\\ALICE"));
        assert!(caller.in_group("finance"));
    }
}
