//! `oauth`: outbound OAuth's resource types and resources (the catalog, from two directories of YAML files)
//! and the token vault's keys. Both reload with the configuration (SIGHUP, or a change of `gateway.yaml`, of a
//! resource file or of a `key_file`); adding or removing the whole `oauth:` section needs a restart.
//!
//! The built-in APIs build [`Outbound`](authgate_apis::outbound::service::Outbound) from these settings on
//! their store, once the database is open.

use authgate_apis::outbound::resource::{Catalog, GrantKind};
use authgate_apis::outbound::vault::Vault;
use authgate_apis::OAuthParts;
use authgate_core::config::{yaml_files, ConfigFile, ConfigIssue};
use std::path::PathBuf;
use std::sync::Arc;

/// Outbound OAuth's settings, validated.
pub struct OAuthSettings {
    /// Resource types and resources.
    pub catalog: Catalog,
    /// The token vault.
    pub vault: Arc<Vault>,
    /// The resource types' directory.
    pub types_dir: PathBuf,
    /// The resources' directory.
    pub resources_dir: PathBuf,
    /// The directories, their files and the key files: a change triggers a reload.
    pub watched: Vec<PathBuf>,
}

impl OAuthSettings {
    /// The settings of `file`'s `oauth:` section (`None` when absent), or every issue found: a type or
    /// resource file that does not parse or validate (named with its path), a vault key that is missing or
    /// malformed (named by its id, never shown).
    pub fn from_config(file: &ConfigFile) -> Result<Option<Self>, Vec<ConfigIssue>> {
        let Some(cfg) = &file.config.oauth else {
            return Ok(None);
        };
        let mut issues = Vec::new();
        let types_dir = file.resolve(&cfg.types);
        let resources_dir = file.resolve(&cfg.resources);
        let catalog = Catalog::load(&types_dir, &resources_dir).unwrap_or_else(|e| {
            issues.push(ConfigIssue::new("oauth", e.to_string()));
            Catalog::default()
        });
        let vault = Vault::from_config(&cfg.vault, "oauth.vault", |p| file.resolve(p))
            .map_err(|found| issues.extend(found))
            .ok();
        let watched = [types_dir.clone(), resources_dir.clone()]
            .into_iter()
            .flat_map(|dir| {
                let files = yaml_files(&dir).unwrap_or_default();
                std::iter::once(dir).chain(files)
            })
            .chain(
                cfg.vault
                    .keys
                    .iter()
                    .filter_map(|k| k.key_file.as_ref())
                    .map(|p| file.resolve(p)),
            )
            .collect();
        match vault {
            Some(vault) if issues.is_empty() => Ok(Some(Self {
                catalog,
                vault: Arc::new(vault),
                types_dir,
                resources_dir,
                watched,
            })),
            _ => Err(issues),
        }
    }

    /// What the built-in APIs serve from these settings.
    pub fn parts(&self) -> OAuthParts {
        OAuthParts {
            catalog: self.catalog.clone(),
            vault: self.vault.clone(),
        }
    }

    /// Lines for `authgate check`: the types, the resources (name, type, endpoints; never a parameter value),
    /// the vault's key ids. `used_by` gives the routes that use a resource.
    pub fn describe(&self, used_by: impl Fn(&str) -> Vec<String>) -> Vec<String> {
        let mut out = vec![format!(
            "oauth: {} resource types from {}, {} resources from {}; vault keys {} (the first encrypts)",
            self.catalog.types.len(),
            self.types_dir.display(),
            self.catalog.resources.len(),
            self.resources_dir.display(),
            self.vault.key_ids().join(", ")
        )];
        for ty in &self.catalog.types {
            let kind = match ty.kind {
                GrantKind::AuthorizationCode => {
                    if ty.pkce {
                        "authorization_code + PKCE"
                    } else {
                        "authorization_code"
                    }
                }
                GrantKind::OnBehalfOf => "on_behalf_of",
                GrantKind::TokenExchange => "token_exchange",
            };
            let names: Vec<&str> = ty.parameters.iter().map(|p| p.name.as_str()).collect();
            out.push(format!("  type '{}': {kind}; parameters {}", ty.name, names.join(", ")));
        }
        for r in &self.catalog.resources {
            let routes = used_by(&r.name);
            out.push(format!(
                "  resource '{}' (type '{}'): {}token {}{}; {}",
                r.name,
                r.type_name,
                r.authorization_endpoint
                    .as_ref()
                    .map(|u| format!("authorize {u}, "))
                    .unwrap_or_default(),
                r.token_endpoint,
                if r.refresh_endpoint != r.token_endpoint {
                    format!(", refresh {}", r.refresh_endpoint)
                } else {
                    String::new()
                },
                if routes.is_empty() {
                    "used by no route".to_string()
                } else {
                    format!("used by routes {}", routes.join(", "))
                }
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::test_support::{config_file, messages};
    use std::path::Path;

    const KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn settings(dir: &Path, oauth: &str) -> Result<Option<OAuthSettings>, Vec<ConfigIssue>> {
        OAuthSettings::from_config(&config_file(
            &dir.join("gateway.yaml"),
            &format!("listeners: []\nroutes: []\n{oauth}\n"),
        ))
    }

    fn example(dir: &Path) {
        write(
            dir,
            "oauth/types/t.yaml",
            "name: Generic\nparameters:\n  - {name: client_id, stages: [authorization, token, refresh]}\n  - {name: client_secret, stages: [token, refresh]}\n",
        );
        write(
            dir,
            "oauth/resources/r.yaml",
            "name: Files\ntype: Generic\nauthorization_endpoint: https://idp.example/authorize\ntoken_endpoint: https://idp.example/token\nparameters:\n  client_id: {authorization: app}\n  client_secret: {token: hunter2, refresh: hunter2}\n",
        );
        write(dir, "keys/old", KEY);
    }

    #[test]
    fn absent_means_no_outbound_oauth() {
        let dir = tempfile::tempdir().unwrap();
        assert!(settings(dir.path(), "").unwrap().is_none());
    }

    #[test]
    fn the_catalog_and_vault_load_and_check_shows_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        example(dir.path());
        let s = settings(
            dir.path(),
            &format!(
                "oauth:\n  types: oauth/types\n  resources: oauth/resources\n  vault:\n    keys:\n      - {{id: new, key: '{KEY}'}}\n      - {{id: old, key_file: keys/old}}\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
        .unwrap();
        assert!(s.catalog.resource("files").is_some());
        assert_eq!(s.vault.current_key_id(), "new");
        assert!(s.watched.contains(&dir.path().join("oauth/resources/r.yaml")));
        assert!(s.watched.contains(&dir.path().join("keys/old")));
        let shown = s
            .describe(|r| if r == "Files" { vec!["files-api".into()] } else { vec![] })
            .join("\n");
        assert!(shown.contains("vault keys new, old"), "{shown}");
        assert!(shown.contains("resource 'Files' (type 'Generic')"), "{shown}");
        assert!(shown.contains("used by routes files-api"), "{shown}");
        assert!(!shown.contains("hunter2") && !shown.contains(KEY), "{shown}");
    }

    #[test]
    fn a_bad_file_and_a_bad_key_are_both_reported() {
        let dir = tempfile::tempdir().unwrap();
        example(dir.path());
        write(
            dir.path(),
            "oauth/resources/bad.yaml",
            "name: Bad\ntype: Nope\ntoken_endpoint: https://x.example/t\n",
        );
        let got = messages(settings(
            dir.path(),
            "oauth:\n  types: oauth/types\n  resources: oauth/resources\n  vault:\n    keys:\n      - {id: k, key: 'c2hvcnQ='}\n",
        ));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].contains("bad.yaml"), "{got:?}");
        assert!(got[1].starts_with("oauth.vault.keys[0].key:"), "{got:?}");
        assert!(!got[1].contains("c2hvcnQ="), "{got:?}");
    }
}
