//! Who people are, by FQN: display name, e-mail and manager, for the built-in APIs (workflow destinations
//! such as "the originator's manager", and originator details on tasks).

use super::embedded::EmbeddedDirectory;
use crate::identity::FqnFormats;
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

    /// Everyone the directory knows whose login name is `username` (case-insensitive). Default: nobody.
    fn named(&self, username: &str) -> Vec<Person> {
        let _ = username;
        Vec::new()
    }
}

/// A user named the way K2 clients name them (`RedirectTo`), resolved to an FQN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// The FQN.
    Fqn(String),
    /// The directory knows nobody by that name.
    Nobody,
    /// Several people have that name: their FQNs.
    Ambiguous(Vec<String>),
}

/// Resolves `name` as K2 does for a redirect: a full FQN (`K2:CONTOSO\bob`), `label:user` (`K2:bob`),
/// `label:domain\user`, `domain\user` or a bare login name (`bob`), through the people the directory knows.
/// Labels and names match case-insensitively. A name with a label that the directory does not know is taken
/// as written (users of a directory that is not indexed, such as LDAP, are named by their FQN).
pub fn resolve_user(people: &dyn People, name: &str) -> Resolved {
    let name = name.trim();
    if let Some(p) = people.person(name) {
        return Resolved::Fqn(p.fqn);
    }
    let (label, rest) = match name.split_once(':') {
        Some((label, rest)) => (Some(label), rest),
        None => (None, name),
    };
    let after_label = |fqn: &str| fqn.split_once(':').map_or(fqn.to_string(), |(_, r)| r.to_string());
    let label_of = |fqn: &str| fqn.split_once(':').map(|(l, _)| l.to_string()).unwrap_or_default();
    let mut found: Vec<String> = people
        .named(username_of(rest))
        .into_iter()
        .map(|p| p.fqn)
        .filter(|fqn| label.is_none_or(|l| label_of(fqn).eq_ignore_ascii_case(l)))
        .filter(|fqn| !rest.contains('\\') || after_label(fqn).eq_ignore_ascii_case(rest))
        .collect();
    found.sort();
    found.dedup();
    match (found.len(), label) {
        (1, _) => Resolved::Fqn(found.remove(0)),
        (0, Some(_)) if !rest.is_empty() => Resolved::Fqn(name.to_string()),
        (0, _) => Resolved::Nobody,
        _ => Resolved::Ambiguous(found),
    }
}

/// An index of the embedded directory's users by the FQN the gateway forwards for them.
#[derive(Debug, Default)]
pub struct PeopleIndex {
    by_fqn: HashMap<String, Person>,
    /// Lower-cased login name → lower-cased FQNs.
    by_username: HashMap<String, Vec<String>>,
}

impl PeopleIndex {
    /// Indexes every user of `directory`, naming them with `formats` as the gateway does.
    pub fn from_directory(directory: &EmbeddedDirectory, formats: &FqnFormats) -> Self {
        let fqn_of =
            |user: &super::DirectoryUser| formats.get(&user.user_manager).fqn(&user.name, user.domain.as_deref());
        let mut by_fqn = HashMap::new();
        let mut by_username: HashMap<String, Vec<String>> = HashMap::new();
        for user in directory.users() {
            let manager = user
                .manager
                .as_deref()
                .and_then(|login| directory.lookup(login))
                .map(fqn_of);
            let fqn = fqn_of(user);
            by_username
                .entry(user.name.to_lowercase())
                .or_default()
                .push(fqn.to_lowercase());
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
        Self { by_fqn, by_username }
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

    fn named(&self, username: &str) -> Vec<Person> {
        self.by_username
            .get(&username.to_lowercase())
            .into_iter()
            .flatten()
            .filter_map(|fqn| self.by_fqn.get(fqn).cloned())
            .collect()
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
    use crate::directory::embedded::UserEntry;
    use crate::identity::{FqnFormat, UserManager};

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

    #[test]
    fn users_are_resolved_from_the_names_k2_clients_use() {
        let dir = EmbeddedDirectory::from_entries(vec![
            entry("alice", "ad", None),
            entry("bob", "ad", None),
            entry("erin@x.com", "aad", None),
        ])
        .unwrap();
        let mut formats = HashMap::new();
        let mut ad = FqnFormat::default_for(&UserManager::Ad);
        ad.prefix = "K2:".into();
        formats.insert(UserManager::Ad, ad);
        let people = PeopleIndex::from_directory(&dir, &FqnFormats::new(formats));
        let fqn = |s: &str| Resolved::Fqn(s.into());
        assert_eq!(resolve_user(&people, "K2:CONTOSO\\ALICE"), fqn("K2:CONTOSO\\alice"));
        assert_eq!(resolve_user(&people, "alice"), fqn("K2:CONTOSO\\alice"));
        assert_eq!(resolve_user(&people, " Alice "), fqn("K2:CONTOSO\\alice"));
        assert_eq!(resolve_user(&people, "k2:alice"), fqn("K2:CONTOSO\\alice"));
        assert_eq!(resolve_user(&people, "contoso\\alice"), fqn("K2:CONTOSO\\alice"));
        assert_eq!(resolve_user(&people, "K2:bob"), fqn("K2:CONTOSO\\bob"));
        assert_eq!(resolve_user(&people, "erin@x.com"), fqn("AAD:erin@x.com"));
        struct TwoBobs;
        impl People for TwoBobs {
            fn person(&self, _: &str) -> Option<Person> {
                None
            }
            fn named(&self, username: &str) -> Vec<Person> {
                ["K2:CONTOSO\\bob", "K2:FABRIKAM\\bob"]
                    .iter()
                    .filter(|_| username == "bob")
                    .map(|fqn| Person {
                        fqn: fqn.to_string(),
                        username: "bob".into(),
                        display_name: None,
                        email: None,
                        manager: None,
                    })
                    .collect()
            }
        }
        assert!(matches!(resolve_user(&TwoBobs, "bob"), Resolved::Ambiguous(list) if list.len() == 2));
        assert_eq!(resolve_user(&TwoBobs, "fabrikam\\bob"), fqn("K2:FABRIKAM\\bob"));
        assert_eq!(resolve_user(&people, "nobody"), Resolved::Nobody);
        assert_eq!(resolve_user(&people, "OTHER\\alice"), Resolved::Nobody);
        assert_eq!(
            resolve_user(&people, "K2:FABRIKAM\\zoe"),
            fqn("K2:FABRIKAM\\zoe"),
            "an FQN outside the indexed directory is taken as written"
        );
        assert_eq!(resolve_user(&people, "K2:"), Resolved::Nobody);
    }
}
