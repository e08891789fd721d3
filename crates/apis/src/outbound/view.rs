//! The Tokens view (as the platform's Tokens page): one row per connection, shared by the self-service JSON,
//! `authgate oauth tokens list` and the administrators' console. No token or secret is in a row: the
//! resource's audience is its `resource` or `scope` parameter, or else its token endpoint.

use super::resource::{Catalog, Stage};
use super::store::{ConnectionRecord, ConnectionStatus};
use serde::Serialize;

/// How a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    /// Usable.
    Connected,
    /// Usable, but the refresh token expires within the type's `expiration_warning_days`.
    Expiring,
    /// The refresh token's known lifetime has passed: the user must authorize again.
    Expired,
    /// The provider refused the refresh token: the user must authorize again.
    NeedsReauthorization,
}

impl RowStatus {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Connected => "connected",
            RowStatus::Expiring => "expiring",
            RowStatus::Expired => "expired",
            RowStatus::NeedsReauthorization => "needs_reauthorization",
        }
    }
}

/// One row of the Tokens view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRow {
    /// The resource's name.
    pub resource: String,
    /// Its type's name.
    pub resource_type: String,
    /// What the tokens are for: the resource's `resource` or `scope` value, or its token endpoint.
    pub audience: String,
    /// The primary credential: the user's fully qualified name.
    pub primary_credential: String,
    /// The user's name (the FQN without its manager label and domain).
    pub user_name: String,
    /// Seconds until the access token expires (0 once expired: it is refreshed on next use); none if unknown.
    pub expires_in_seconds: Option<i64>,
    /// How the connection stands.
    pub status: RowStatus,
}

/// The user name in a fully qualified name: `K2:CONTOSO\alice` -> `alice`, `K2:alice@contoso.com` ->
/// `alice@contoso.com`.
pub fn user_name(fqn: &str) -> &str {
    let rest = fqn.split_once(':').map_or(fqn, |(_, rest)| rest);
    rest.rsplit_once('\\').map_or(rest, |(_, name)| name)
}

/// The row of `record`, at `now` (Unix seconds), with what `catalog` says of its resource.
pub fn row(catalog: &Catalog, record: &ConnectionRecord, now: i64) -> TokenRow {
    let resource = catalog.resource(&record.resource);
    let ty = resource.and_then(|r| catalog.type_of(r));
    let audience = resource
        .map(|r| {
            ["resource", "scope"]
                .iter()
                .find_map(|name| {
                    let values = r.values.get(*name)?;
                    values
                        .get(&Stage::Authorization)
                        .or_else(|| values.get(&Stage::Token))
                        .map(|v| v.expose().to_string())
                })
                .or_else(|| {
                    ty.and_then(|t| {
                        ["resource", "scope"].iter().find_map(|name| {
                            let def = t.parameter(name)?;
                            def.defaults
                                .get(&Stage::Authorization)
                                .or_else(|| def.defaults.get(&Stage::Token))
                                .map(|v| v.expose().to_string())
                        })
                    })
                })
                .unwrap_or_else(|| r.token_endpoint.to_string())
        })
        .unwrap_or_default();
    let status = match record.status {
        ConnectionStatus::NeedsReauthorization => RowStatus::NeedsReauthorization,
        ConnectionStatus::Connected => match ty.and_then(|t| t.refresh_token_expiration_days) {
            Some(days) => {
                let ends = record.updated_at + i64::from(days) * 86_400;
                let warn = ty.and_then(|t| t.expiration_warning_days).map_or(0, i64::from) * 86_400;
                if now >= ends {
                    RowStatus::Expired
                } else if now >= ends - warn {
                    RowStatus::Expiring
                } else {
                    RowStatus::Connected
                }
            }
            None => RowStatus::Connected,
        },
    };
    TokenRow {
        resource: record.resource.clone(),
        resource_type: record.resource_type.clone(),
        audience,
        primary_credential: record.user.clone(),
        user_name: user_name(&record.user).to_string(),
        expires_in_seconds: record.expires_at.map(|e| (e - now).max(0)),
        status,
    }
}

/// The rows of `records`.
pub fn rows(catalog: &Catalog, records: &[ConnectionRecord], now: i64) -> Vec<TokenRow> {
    records.iter().map(|r| row(catalog, r, now)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::resource::tests::shipped_catalog;
    use crate::outbound::vault::Sealed;

    fn record(resource: &str, updated_at: i64, status: ConnectionStatus) -> ConnectionRecord {
        ConnectionRecord {
            user: "K2:CONTOSO\\Alice".into(),
            resource: resource.into(),
            resource_type: "Salesforce".into(),
            access_token: Sealed(vec![1]),
            refresh_token: None,
            expires_at: Some(1_000 + 3_600),
            status,
            created_at: 0,
            updated_at,
        }
    }

    #[test]
    fn user_names_drop_the_label_and_domain() {
        assert_eq!(user_name("K2:CONTOSO\\alice"), "alice");
        assert_eq!(user_name("K2:alice@contoso.com"), "alice@contoso.com");
        assert_eq!(user_name("bob"), "bob");
    }

    #[test]
    fn a_row_shows_no_secret_and_the_status_follows_the_type() {
        let catalog = shipped_catalog();
        let ty = catalog.resource_type("Salesforce").unwrap();
        let row = row(
            &catalog,
            &record("Salesforce example", 1_000, ConnectionStatus::Connected),
            1_000,
        );
        assert_eq!(row.user_name, "Alice");
        assert_eq!(row.primary_credential, "K2:CONTOSO\\Alice");
        assert_eq!(row.expires_in_seconds, Some(3_600));
        assert!(!format!("{row:?}").contains("s3cret"), "{row:?}");
        if let (Some(life), Some(warn)) = (ty.refresh_token_expiration_days, ty.expiration_warning_days) {
            assert_eq!(row.status, RowStatus::Connected);
            let day = 86_400;
            let at = 1_000 + i64::from(life - warn) * day + 1;
            let later = super::row(
                &catalog,
                &record("Salesforce example", 1_000, ConnectionStatus::Connected),
                at,
            );
            assert_eq!(later.status, RowStatus::Expiring);
            assert_eq!(later.expires_in_seconds, Some(0));
            let gone = super::row(
                &catalog,
                &record("Salesforce example", 1_000, ConnectionStatus::Connected),
                1_000 + i64::from(life) * day,
            );
            assert_eq!(gone.status, RowStatus::Expired);
        }
        let marked = super::row(
            &catalog,
            &record("Salesforce example", 1_000, ConnectionStatus::NeedsReauthorization),
            1_000,
        );
        assert_eq!(marked.status, RowStatus::NeedsReauthorization);
    }
}
