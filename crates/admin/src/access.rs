//! Who may use the admin API: the administrators named in `admin.administrators` (users by FQN or e-mail,
//! and groups), compared case-insensitively. Nobody when both lists are empty.

use authgate_core::config::AdministratorsConfig;
use authgate_core::identity::Identity;

/// The administrators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Administrators {
    users: Vec<String>,
    groups: Vec<String>,
}

impl Administrators {
    /// From the configuration.
    pub fn from_config(cfg: &AdministratorsConfig) -> Self {
        let clean = |names: &[String]| {
            names
                .iter()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect()
        };
        Self {
            users: clean(&cfg.users),
            groups: clean(&cfg.groups),
        }
    }

    /// Whether `identity` is an administrator: its FQN, login name or e-mail is a listed user, or one of its
    /// groups is a listed group.
    pub fn admits(&self, identity: &Identity) -> bool {
        let user = |name: &str| self.users.iter().any(|u| u.eq_ignore_ascii_case(name));
        user(&identity.fqn)
            || identity.email.as_deref().is_some_and(user)
            || identity
                .groups
                .iter()
                .any(|g| self.groups.iter().any(|a| a.eq_ignore_ascii_case(g)))
    }

    /// Whether nobody is an administrator.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }

    /// The listed users.
    pub fn users(&self) -> &[String] {
        &self.users
    }

    /// The listed groups.
    pub fn groups(&self) -> &[String] {
        &self.groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authgate_core::identity::{AuthMethod, UserManager};

    fn identity(fqn: &str, email: Option<&str>, groups: &[&str]) -> Identity {
        Identity {
            name: "alice".into(),
            fqn: fqn.into(),
            user_manager: UserManager::Ad,
            auth_method: AuthMethod::Basic,
            email: email.map(str::to_string),
            display_name: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            mfa: false,
            tenant: None,
            scopes: Vec::new(),
            roles: Vec::new(),
            provider: None,
        }
    }

    #[test]
    fn users_by_fqn_or_email_and_groups_are_admitted_case_insensitively_and_nobody_else() {
        let admins = Administrators::from_config(&AdministratorsConfig {
            users: vec!["K2:CONTOSO\\Alice".into(), "carol@contoso.com".into(), " ".into()],
            groups: vec!["Gateway Admins".into()],
        });
        assert!(admins.admits(&identity("k2:contoso\\alice", None, &[])));
        assert!(admins.admits(&identity("AAD:carol", Some("Carol@Contoso.com"), &[])));
        assert!(admins.admits(&identity("K2:CONTOSO\\bob", None, &["gateway admins"])));
        assert!(!admins.admits(&identity("K2:CONTOSO\\bob", Some("bob@contoso.com"), &["Users"])));
        assert!(!admins.admits(&identity("", None, &[])), "an empty entry admits nobody");
        let nobody = Administrators::from_config(&AdministratorsConfig::default());
        assert!(nobody.is_empty());
        assert!(!nobody.admits(&identity("K2:CONTOSO\\alice", None, &["Gateway Admins"])));
    }
}
