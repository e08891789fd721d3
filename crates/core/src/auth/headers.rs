//! The identity headers forwarded upstream: their names, how an identity renders into them, and which
//! inbound headers count as identity headers (and are therefore always stripped).

use crate::config::{ConfigIssue, HeaderNamesConfig};
use crate::identity::{Identity, UserManager};
use http::{HeaderName, HeaderValue};

/// Every inbound header starting with this is stripped, whatever the configured names.
pub const RESERVED_PREFIX: &str = "x-authgate-";

/// The configured identity header names.
#[derive(Debug, Clone)]
pub struct HeaderSet {
    user: HeaderName,
    user_manager: HeaderName,
    auth_method: HeaderName,
    email: HeaderName,
    groups: HeaderName,
    tenant: HeaderName,
    display_name: HeaderName,
    /// Every name an inbound header may not have, `_` written as `-` (the identity names and reserved ones
    /// such as the assertion header).
    stripped: Vec<Box<[u8]>>,
}

/// `_` and `-` alike: CGI-style servers (and nginx with `underscores_in_headers`) read `X_Authgate_User` as the
/// same variable as `X-Authgate-User`. Header names are already lower case.
fn dashed(b: u8) -> u8 {
    if b == b'_' {
        b'-'
    } else {
        b
    }
}

fn same_name(inbound: &[u8], dashed_name: &[u8]) -> bool {
    inbound.len() == dashed_name.len() && inbound.iter().zip(dashed_name).all(|(&a, &b)| dashed(a) == b)
}

impl HeaderSet {
    /// Parses the configured names; invalid names are reported at `headers.<field>`.
    pub fn from_config(cfg: &HeaderNamesConfig) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut parse = |field: &str, value: &str| match HeaderName::from_bytes(value.as_bytes()) {
            Ok(name) => name,
            Err(_) => {
                issues.push(ConfigIssue::new(
                    format!("headers.{field}"),
                    format!("'{value}' is not a valid header name"),
                ));
                HeaderName::from_static("x-invalid")
            }
        };
        let mut set = Self {
            user: parse("user", &cfg.user),
            user_manager: parse("user_manager", &cfg.user_manager),
            auth_method: parse("auth_method", &cfg.auth_method),
            email: parse("email", &cfg.email),
            groups: parse("groups", &cfg.groups),
            tenant: parse("tenant", &cfg.tenant),
            display_name: parse("display_name", &cfg.display_name),
            stripped: Vec::new(),
        };
        for name in set.names().map(HeaderName::clone) {
            set.reserve(name);
        }
        for name in set.names() {
            if matches!(
                name.as_str(),
                "authorization" | "host" | "content-length" | "transfer-encoding" | "cookie"
            ) {
                issues.push(ConfigIssue::new(
                    "headers",
                    format!("'{name}' cannot be used as an identity header"),
                ));
            }
        }
        if issues.is_empty() {
            Ok(set)
        } else {
            Err(issues)
        }
    }

    /// The configured names.
    pub fn names(&self) -> [&HeaderName; 7] {
        [
            &self.user,
            &self.user_manager,
            &self.auth_method,
            &self.email,
            &self.groups,
            &self.tenant,
            &self.display_name,
        ]
    }

    /// Also strips inbound headers named `name` (e.g. the assertion header).
    pub fn reserve(&mut self, name: HeaderName) {
        let dashed_name: Box<[u8]> = name.as_str().bytes().map(dashed).collect();
        if !dashed_name.starts_with(RESERVED_PREFIX.as_bytes()) && !self.stripped.contains(&dashed_name) {
            self.stripped.push(dashed_name);
        }
    }

    /// Whether an inbound header with `name` must be removed before forwarding: it is an identity header, a
    /// reserved one or starts with `x-authgate-`, once `_` and `-` are treated alike.
    pub fn is_identity_header(&self, name: &HeaderName) -> bool {
        let name = name.as_str().as_bytes();
        let prefix = RESERVED_PREFIX.as_bytes();
        name.get(..prefix.len()).is_some_and(|start| same_name(start, prefix))
            || self.stripped.iter().any(|reserved| same_name(name, reserved))
    }

    /// The headers that carry `identity` upstream. Values that cannot be header values are sanitised
    /// (control characters dropped); absent values are omitted.
    pub fn render(&self, identity: &Identity) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::with_capacity(7);
        let push = |out: &mut Vec<_>, name: &HeaderName, value: &str| {
            if let Some(v) = header_value(value) {
                out.push((name.clone(), v));
            }
        };
        push(&mut out, &self.user, &identity.fqn);
        // Constants of ours need no copy.
        match &identity.user_manager {
            UserManager::Ad => out.push((self.user_manager.clone(), HeaderValue::from_static("ad"))),
            UserManager::Aad => out.push((self.user_manager.clone(), HeaderValue::from_static("aad"))),
            other => push(&mut out, &self.user_manager, other.label()),
        }
        let method = HeaderValue::from_static(identity.auth_method.as_str());
        out.push((self.auth_method.clone(), method));
        if let Some(email) = &identity.email {
            push(&mut out, &self.email, email);
        }
        if !identity.groups.is_empty() {
            push(&mut out, &self.groups, &join_groups(&identity.groups));
        }
        if let Some(tenant) = &identity.tenant {
            push(&mut out, &self.tenant, tenant);
        }
        if let Some(display) = &identity.display_name {
            push(&mut out, &self.display_name, display);
        }
        out
    }
}

/// The groups as one value: comma-separated, with `%` and `,` inside a name percent-encoded.
fn join_groups(groups: &[String]) -> String {
    let mut joined = String::with_capacity(groups.iter().map(|g| g.len() + 1).sum());
    for (i, group) in groups.iter().enumerate() {
        if i > 0 {
            joined.push(',');
        }
        for c in group.chars() {
            match c {
                '%' => joined.push_str("%25"),
                ',' => joined.push_str("%2C"),
                c => joined.push(c),
            }
        }
    }
    joined
}

/// `value` without control characters and surrounding white space, as a header value; `None` when nothing is
/// left or it cannot be one. The usual, already clean value is not copied first.
fn header_value(value: &str) -> Option<HeaderValue> {
    let sanitised;
    let clean = if value.chars().any(char::is_control) {
        sanitised = value.chars().filter(|c| !c.is_control()).collect::<String>();
        sanitised.trim()
    } else {
        value.trim()
    };
    if clean.is_empty() {
        return None;
    }
    HeaderValue::from_str(clean).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::AuthMethod;

    fn identity() -> Identity {
        Identity {
            name: "alice".into(),
            fqn: "K2:CONTOSO\\alice".into(),
            user_manager: UserManager::Ad,
            auth_method: AuthMethod::Basic,
            email: Some("alice@contoso.com".into()),
            display_name: Some("Alice\r\nX-Injected: 1".into()),
            groups: vec!["Finance".into(), "A,B".into(), "50%".into()],
            mfa: false,
            tenant: None,
            scopes: vec![],
            roles: vec![],
            provider: None,
        }
    }

    #[test]
    fn renders_default_headers_and_sanitises() {
        let set = HeaderSet::from_config(&HeaderNamesConfig::default()).unwrap();
        let rendered = set.render(&identity());
        let get = |n: &str| {
            rendered
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.to_str().unwrap().to_string())
        };
        assert_eq!(get("x-authgate-user").as_deref(), Some("K2:CONTOSO\\alice"));
        assert_eq!(get("x-authgate-user-manager").as_deref(), Some("ad"));
        assert_eq!(get("x-authgate-auth-method").as_deref(), Some("basic"));
        assert_eq!(get("x-authgate-groups").as_deref(), Some("Finance,A%2CB,50%25"));
        assert_eq!(get("x-authgate-display-name").as_deref(), Some("AliceX-Injected: 1"));
        assert_eq!(get("x-authgate-tenant"), None);
    }

    #[test]
    fn identity_headers_include_prefix_and_custom_names() {
        let cfg = HeaderNamesConfig {
            user: "X-Remote-User".into(),
            ..Default::default()
        };
        let set = HeaderSet::from_config(&cfg).unwrap();
        assert!(set.is_identity_header(&HeaderName::from_static("x-remote-user")));
        assert!(set.is_identity_header(&HeaderName::from_static("x-authgate-anything")));
        assert!(!set.is_identity_header(&HeaderName::from_static("accept")));
    }

    #[test]
    fn underscores_and_dashes_are_alike() {
        let cfg = HeaderNamesConfig {
            user: "X-Remote-User".into(),
            email: "X_Mail".into(),
            ..Default::default()
        };
        let mut set = HeaderSet::from_config(&cfg).unwrap();
        set.reserve(HeaderName::from_static("x-identity-assertion"));
        for spoofed in [
            "x_authgate_user",
            "x-authgate_user",
            "x_authgate-user",
            "x_authgate_",
            "x_remote_user",
            "x-remote_user",
            "x-mail",
            "x_mail",
            "x_identity_assertion",
            "x-identity-assertion",
        ] {
            assert!(
                set.is_identity_header(&HeaderName::from_bytes(spoofed.as_bytes()).unwrap()),
                "{spoofed}"
            );
        }
        for other in [
            "x-authgate",
            "x_authgatex",
            "x-remote-users",
            "x-remote",
            "accept_language",
            "x-mai",
        ] {
            assert!(
                !set.is_identity_header(&HeaderName::from_bytes(other.as_bytes()).unwrap()),
                "{other}"
            );
        }
    }

    #[test]
    fn invalid_or_dangerous_names_are_config_errors() {
        let cfg = HeaderNamesConfig {
            user: "bad name".into(),
            email: "Authorization".into(),
            ..Default::default()
        };
        let issues = HeaderSet::from_config(&cfg).unwrap_err();
        assert_eq!(issues.len(), 2, "{issues:?}");
    }
}
