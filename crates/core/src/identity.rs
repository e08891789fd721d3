//! The authenticated identity that the gateway forwards upstream.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// A user manager: the directory an identity comes from. Only [`UserManager::Ad`] and [`UserManager::Aad`]
/// may use the platform APIs; everything else is carried by its label so the refusal can name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserManager {
    /// On-premises Active Directory.
    Ad,
    /// Azure AD / Entra ID.
    Aad,
    /// Any other user manager (`sql`, `forms`, `sharepoint`...), by its lower-case label.
    Other(Arc<str>),
}

impl UserManager {
    /// Parses a label case-insensitively: `ad`, `aad` (or `entra`), anything else is `Other`.
    pub fn from_label(label: &str) -> Self {
        let lower = label.trim().to_ascii_lowercase();
        match lower.as_str() {
            "ad" => Self::Ad,
            "aad" | "entra" => Self::Aad,
            _ => Self::Other(lower.into()),
        }
    }

    /// The lower-case label (`ad`, `aad`, `sql`).
    pub fn label(&self) -> &str {
        match self {
            Self::Ad => "ad",
            Self::Aad => "aad",
            Self::Other(label) => label,
        }
    }

    /// A human name for messages.
    pub fn display_name(&self) -> String {
        match self {
            Self::Ad => "Active Directory (AD)".into(),
            Self::Aad => "Azure Active Directory (AAD)".into(),
            Self::Other(label) => format!("'{label}'"),
        }
    }
}

impl fmt::Display for UserManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// `Authorization: Basic`.
    Basic,
    /// `Authorization: Bearer` (OAuth 2.0).
    OAuth,
}

impl AuthMethod {
    /// `basic` or `oauth`, as forwarded in the auth-method header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::OAuth => "oauth",
        }
    }
}

/// An authenticated user. Built once per verification and shared (`Arc`) by the caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Login name: `alice` (AD), `alice@contoso.com` (AAD).
    pub name: String,
    /// Fully qualified name forwarded upstream: `K2:CONTOSO\alice`, `AAD:alice@contoso.com`.
    pub fqn: String,
    /// The user manager the identity belongs to.
    pub user_manager: UserManager,
    /// How this request authenticated.
    pub auth_method: AuthMethod,
    /// E-mail address, when known.
    pub email: Option<String>,
    /// Display name, when known.
    pub display_name: Option<String>,
    /// Group names.
    pub groups: Vec<String>,
    /// Whether the account has multi-factor authentication enabled (directory) or used it (`amr`).
    pub mfa: bool,
    /// Azure AD tenant id, when known.
    pub tenant: Option<String>,
    /// OAuth scopes granted (`scp` / `scope`); empty for Basic.
    pub scopes: Vec<String>,
    /// App roles granted (`roles`); empty for Basic.
    pub roles: Vec<String>,
    /// The provider that issued the token, for OAuth.
    pub provider: Option<String>,
}

/// FQN formatting of one user manager: `{prefix}{DOMAIN}\{name}` for AD, `{prefix}{name}` otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FqnFormat {
    /// e.g. `K2:` or `AAD:`.
    pub prefix: String,
    /// AD NetBIOS domain, when names are domain-qualified.
    pub domain: Option<String>,
}

impl FqnFormat {
    /// The default format of a user manager: `K2:` for AD, `AAD:` for AAD, `LABEL:` for others.
    pub fn default_for(manager: &UserManager) -> Self {
        let prefix = match manager {
            UserManager::Ad => "K2:".to_string(),
            UserManager::Aad => "AAD:".to_string(),
            UserManager::Other(label) => format!("{}:", label.to_ascii_uppercase()),
        };
        Self { prefix, domain: None }
    }

    /// The FQN of `name`, with `domain` overriding the configured one (AD users may name their own).
    pub fn fqn(&self, name: &str, domain: Option<&str>) -> String {
        match domain.or(self.domain.as_deref()) {
            Some(domain) if !name.contains('\\') && !name.contains('@') => {
                format!("{}{}\\{}", self.prefix, domain, name)
            }
            _ => format!("{}{}", self.prefix, name),
        }
    }
}

/// FQN formats by user manager, with defaults for managers not configured.
#[derive(Debug, Clone, Default)]
pub struct FqnFormats(HashMap<UserManager, FqnFormat>);

impl FqnFormats {
    /// From configured formats.
    pub fn new(formats: HashMap<UserManager, FqnFormat>) -> Self {
        Self(formats)
    }

    /// The format of `manager`.
    pub fn get(&self, manager: &UserManager) -> FqnFormat {
        self.0
            .get(manager)
            .cloned()
            .unwrap_or_else(|| FqnFormat::default_for(manager))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_case_insensitively() {
        assert_eq!(UserManager::from_label("AD"), UserManager::Ad);
        assert_eq!(UserManager::from_label("aad"), UserManager::Aad);
        assert_eq!(UserManager::from_label("Entra"), UserManager::Aad);
        assert_eq!(UserManager::from_label("SQL").label(), "sql");
    }

    #[test]
    fn fqn_formats() {
        let ad = FqnFormat {
            prefix: "K2:".into(),
            domain: Some("CONTOSO".into()),
        };
        assert_eq!(ad.fqn("alice", None), "K2:CONTOSO\\alice");
        assert_eq!(ad.fqn("alice", Some("EMEA")), "K2:EMEA\\alice");
        let aad = FqnFormat::default_for(&UserManager::Aad);
        assert_eq!(aad.fqn("alice@contoso.com", None), "AAD:alice@contoso.com");
        let sql = FqnFormat::default_for(&UserManager::from_label("sql"));
        assert_eq!(sql.fqn("bob", None), "SQL:bob");
    }
}
