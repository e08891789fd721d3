//! Who people are, by FQN: display name, e-mail and manager, for the built-in APIs (workflow destinations
//! such as "the originator's manager", and originator details on tasks).

use super::embedded::EmbeddedDirectory;
use crate::auth::basic::FqnFormats;
use std::collections::HashMap;

/// A person as the built-in APIs show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Fully qualified name, e.g. `K2:CONTOSO\alice`.
    pub fqn: String,
    /// Login name, e.g. `alice`.
    pub username: String,
    /// Display name, when known.
    pub display_name: Option<String>,
    /// E-mail, when known.
    pub email: Option<String>,
    /// The manager's FQN, when the directory names one that it also knows.
    pub manager: Option<String>,
}

/// Looks people up by FQN (case-insensitively).
pub trait People: Send + Sync {
    /// The person with `fqn`, if the directory knows them.
    fn person(&self, fqn: &str) -> Option<Person>;
}

/// An index of the embedded directory's users by the FQN the gateway forwards for them.
#[derive(Debug, Default)]
pub struct PeopleIndex {
    by_fqn: HashMap<String, Person>,
}

impl PeopleIndex {
    /// Indexes every user of `directory`, naming them with `formats` as the gateway does.
    pub fn from_directory(directory: &EmbeddedDirectory, formats: &FqnFormats) -> Self {
        let fqn_of =
            |user: &super::DirectoryUser| formats.get(&user.user_manager).fqn(&user.name, user.domain.as_deref());
        let mut by_fqn = HashMap::new();
        for user in directory.users() {
            let manager = user
                .manager
                .as_deref()
                .and_then(|login| directory.lookup(login))
                .map(fqn_of);
            let fqn = fqn_of(user);
            by_fqn.insert(
                fqn.to_lowercase(),
                Person {
                    fqn,
                    username: user.name.clone(),
                    display_name: user.display_name.clone(),
                    email: user.email.clone(),
                    manager,
                },
            );
        }
        Self { by_fqn }
    }

    /// Number of people indexed.
    pub fn len(&self) -> usize {
        self.by_fqn.len()
    }

    /// Whether nobody is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_fqn.is_empty()
    }
}

impl People for PeopleIndex {
    fn person(&self, fqn: &str) -> Option<Person> {
        self.by_fqn.get(&fqn.to_lowercase()).cloned()
    }
}

/// The login part of an FQN: `K2:CONTOSO\alice` -> `alice`, `AAD:carol@x.com` -> `carol@x.com`.
pub fn username_of(fqn: &str) -> &str {
    let after_prefix = fqn.split_once(':').map_or(fqn, |(_, rest)| rest);
    after_prefix.rsplit_once('\\').map_or(after_prefix, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::identity::{FqnFormat, UserManager};
    use crate::directory::embedded::UserEntry;

    fn entry(name: &str, um: &str, manager: Option<&str>) -> UserEntry {
        UserEntry {
            name: name.into(),
            user_manager: um.into(),
            domain: (um == "ad").then(|| "CONTOSO".into()),
            password_hash: None,
            mfa: false,
            email: Some(format!("{name}@contoso.com")),
            display_name: Some(name.to_uppercase()),
            groups: vec![],
            manager: manager.map(str::to_string),
            disabled: false,
        }
    }

    #[test]
    fn people_are_found_by_fqn_with_their_manager() {
        let dir = EmbeddedDirectory::from_entries(vec![
            entry("alice", "ad", Some("bob")),
            entry("bob", "ad", None),
            entry("erin@x.com", "aad", Some("bob")),
        ])
        .unwrap();
        let mut formats = HashMap::new();
        let mut ad = FqnFormat::default_for(&UserManager::Ad);
        ad.prefix = "K2:".into();
        formats.insert(UserManager::Ad, ad);
        let people = PeopleIndex::from_directory(&dir, &FqnFormats::new(formats));
        let alice = people.person("k2:contoso\\ALICE").unwrap();
        assert_eq!(alice.manager.as_deref(), Some("K2:CONTOSO\\bob"));
        assert_eq!(alice.username, "alice");
        let erin = people.person("AAD:erin@x.com").unwrap();
        assert_eq!(erin.manager.as_deref(), Some("K2:CONTOSO\\bob"));
        assert!(people.person("K2:CONTOSO\\nobody").is_none());
        assert_eq!(username_of("K2:CONTOSO\\alice"), "alice");
        assert_eq!(username_of("AAD:carol@x.com"), "carol@x.com");
    }
}
