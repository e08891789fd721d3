//! `builtin`, `workflow` and `odata`: the built-in APIs' socket, database and threads, the workflow definitions
//! and links, and the published SmartObjects. [`ApiSettings::open_stores`] opens their stores and
//! [`ApiSettings::parts`] gives what the APIs are built from, so the serve wiring never sees a storage backend.

use super::oauth::OAuthSettings;
use super::Issues;
use authgate_apis::odata::catalog::Catalog;
use authgate_apis::store::postgres;
use authgate_apis::workflow::definitions::Definitions;
use authgate_apis::workflow::links::Links;
use authgate_apis::ApiParts;
use authgate_core::config::schema::PostgresConfig;
use authgate_core::config::{yaml_files, ConfigFile, ConfigIssue};
use authgate_core::directory::people::PeopleIndex;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the built-in APIs keep their state (`builtin.database`).
pub enum Database {
    /// A SQLite file (the embedded default, for one process).
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by replicas: a `postgres://` / `postgresql://` URL, which may hold a
    /// password (shown only through [`Database`]'s `Display`, which hides it).
    Postgres(String),
}

impl Database {
    /// The backend `value` selects: a `postgres://` / `postgresql://` URL, else a SQLite path resolved against
    /// the configuration file.
    fn from_config(file: &ConfigFile, value: &std::path::Path) -> Result<Self, String> {
        match value.to_str() {
            Some(text) if postgres::is_url(text) => {
                postgres::check_url(text)?;
                Ok(Self::Postgres(text.to_string()))
            }
            _ => Ok(Self::Sqlite(file.resolve(value))),
        }
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "SQLite {}", path.display()),
            Self::Postgres(url) => write!(f, "PostgreSQL {}", postgres::redact(url)),
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// `builtin.postgres` as the backend's options; a value out of range is an issue at its path.
fn postgres_options(cfg: &PostgresConfig, issues: &mut Issues) -> postgres::Options {
    let mut within = |field: &str, value: u64, low: u64, high: u64| {
        if !(low..=high).contains(&value) {
            issues.add(
                format!("builtin.postgres.{field}"),
                format!("must be between {low} and {high}"),
            );
        }
    };
    within("pool_size", cfg.pool_size as u64, 1, 1000);
    within("statement_timeout_ms", cfg.statement_timeout_ms, 10, 3_600_000);
    within("connect_timeout_ms", cfg.connect_timeout_ms, 10, 600_000);
    postgres::Options {
        pool_size: cfg.pool_size,
        statement_timeout: Duration::from_millis(cfg.statement_timeout_ms),
        connect_timeout: Duration::from_millis(cfg.connect_timeout_ms),
    }
}

/// The built-in APIs' settings, validated.
pub struct ApiSettings {
    /// The unix socket the APIs listen on.
    pub socket: PathBuf,
    /// Their database.
    pub database: Database,
    /// Pool and timeouts when the database is PostgreSQL.
    pub postgres: postgres::Options,
    /// Worker threads of their server (and readers of their database).
    pub threads: usize,
    /// Workflow definitions.
    pub definitions: Arc<Definitions>,
    /// `formURL` / `viewFlowURL` settings.
    pub links: Arc<Links>,
    /// SmartObjects: defined, and published by the exposure rules.
    pub catalog: Arc<Catalog>,
    /// Most OData entities in one response.
    pub page_size: u64,
    /// The OData service roots.
    pub base_paths: Arc<[String]>,
    /// The external URL OData links are built from.
    pub public_url: Option<String>,
    /// Directories and files whose change triggers a reload (definitions, SmartObjects, OAuth resources and
    /// vault key files).
    pub watched: Vec<PathBuf>,
    /// Outbound OAuth, when `oauth:` is configured.
    pub oauth: Option<OAuthSettings>,
}

impl ApiSettings {
    /// The settings of `file`, or every issue found in `builtin`, `workflow` and `odata`.
    pub fn from_config(file: &ConfigFile) -> Result<Self, Vec<ConfigIssue>> {
        let cfg = &file.config;
        let mut issues = Issues::default();

        let definitions_dir = file.resolve(&cfg.workflow.definitions);
        let definitions = Definitions::load_dir(&definitions_dir).unwrap_or_else(|e| {
            issues.add("workflow.definitions", e.to_string());
            Definitions::default()
        });
        let links = match Links::from_config(&cfg.workflow) {
            Ok(links) => {
                issues.0.extend(links.check(&definitions));
                links
            }
            Err(found) => {
                issues.0.extend(found);
                Links::default()
            }
        };

        let smartobjects_dir = file.resolve(&cfg.odata.smartobjects);
        let catalog = match authgate_apis::odata::smartobject::load_dir(&smartobjects_dir) {
            Ok(defined) => Catalog::build(defined, &cfg.odata).unwrap_or_else(|found| {
                issues.0.extend(found);
                Catalog::default()
            }),
            Err(e) => {
                issues.add("odata.smartobjects", e.to_string());
                Catalog::default()
            }
        };
        if cfg.odata.page_size == 0 {
            issues.add("odata.page_size", "must be at least 1");
        }
        issues.0.extend(authgate_apis::odata::check_config(&cfg.odata));

        let database = Database::from_config(file, &cfg.builtin.database).unwrap_or_else(|e| {
            issues.add("builtin.database", e);
            Database::Sqlite(PathBuf::new())
        });

        let postgres = postgres_options(&cfg.builtin.postgres, &mut issues);
        let oauth = OAuthSettings::from_config(file).unwrap_or_else(|found| {
            issues.0.extend(found);
            None
        });

        // An `oauth:` section that failed to load has been reported already.
        if cfg.oauth.is_none() || oauth.is_some() {
            issues.0.extend(authgate_apis::odata::rest::check_resources(
                catalog.defined(),
                oauth.as_ref().map(|o| &o.catalog),
            ));
        }

        let watched = std::iter::once(definitions_dir.clone())
            .chain(yaml_files(&definitions_dir).unwrap_or_default())
            .chain(std::iter::once(smartobjects_dir.clone()))
            .chain(yaml_files(&smartobjects_dir).unwrap_or_default())
            .chain(oauth.iter().flat_map(|o| o.watched.iter().cloned()))
            .collect();
        issues.into_result(Self {
            socket: file.resolve(&cfg.builtin.socket),
            database,
            postgres,
            threads: cfg.builtin.threads,
            definitions: Arc::new(definitions),
            links: Arc::new(links),
            catalog: Arc::new(catalog),
            page_size: u64::from(cfg.odata.page_size),
            base_paths: cfg.odata.base_paths.clone().into(),
            public_url: cfg.odata.public_url.clone(),
            watched,
            oauth,
        })
    }

    /// What the APIs serve, with `people` from the directory.
    pub fn parts(&self, people: Arc<PeopleIndex>) -> ApiParts {
        ApiParts {
            definitions: self.definitions.clone(),
            people,
            links: self.links.clone(),
            catalog: self.catalog.clone(),
            page_size: self.page_size,
            base_paths: self.base_paths.clone(),
            public_url: self.public_url.clone(),
            oauth: self.oauth.as_ref().map(OAuthSettings::parts),
        }
    }

    /// One line for `authgate check`: the backend and, for PostgreSQL, whether the server answers `SELECT 1`
    /// now (an unreachable server is reported, not a configuration error: it may come up before the gateway).
    pub fn describe_database(&self) -> String {
        match &self.database {
            Database::Sqlite(path) => format!(
                "sqlite {}{}",
                path.display(),
                if path.exists() { "" } else { " (created at start)" }
            ),
            Database::Postgres(url) => {
                let shown = postgres::redact(url);
                let reached = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| authgate_apis::store::StoreError::Unavailable(e.to_string()))
                    .and_then(|runtime| runtime.block_on(postgres::ping(url, self.postgres)));
                match reached {
                    Ok(()) => format!("postgres {shown}, reachable"),
                    Err(e) => format!("postgres {shown}, UNREACHABLE: {e}"),
                }
            }
        }
    }

    /// Opens (and migrates) the stores (also for the `oauth` commands).
    pub async fn open_stores(&self) -> anyhow::Result<authgate_apis::store::Stores> {
        Ok(match &self.database {
            Database::Sqlite(path) => authgate_apis::store::sqlite::open(path, self.threads.max(2)).await?,
            Database::Postgres(url) => postgres::open(url, self.postgres).await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::test_support::{config_file, messages};
    use std::path::Path;

    fn file(dir: &Path, rest: &str) -> ConfigFile {
        config_file(
            &dir.join("gateway.yaml"),
            &format!("listeners: []\nroutes: []\n{rest}\n"),
        )
    }

    fn issues(file: &ConfigFile) -> Vec<String> {
        messages(ApiSettings::from_config(file))
    }

    #[test]
    fn paths_resolve_against_the_configuration_and_absent_directories_define_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = ApiSettings::from_config(&file(
            dir.path(),
            "builtin: {socket: run/api.sock, database: data/apis.db}\nworkflow: {definitions: defs}\nodata: {smartobjects: sos}",
        ))
        .expect("valid");
        assert_eq!(settings.socket, dir.path().join("run/api.sock"));
        assert!(
            matches!(&settings.database, Database::Sqlite(p) if *p == dir.path().join("data/apis.db")),
            "{}",
            settings.database
        );
        assert!(settings.watched.contains(&dir.path().join("defs")));
        assert!(settings.watched.contains(&dir.path().join("sos")));
        assert_eq!(&*settings.base_paths, ["/api/odata/v4", "/api/odatav4/v4"]);
    }

    #[test]
    fn broken_definitions_broken_smartobjects_and_a_zero_page_size_are_reported_together() {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["defs", "sos"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
            std::fs::write(dir.path().join(sub).join("broken.yaml"), "name: [\n").expect("writes");
        }
        let found = issues(&file(
            dir.path(),
            "workflow: {definitions: defs}\nodata: {smartobjects: sos, page_size: 0}",
        ));
        let paths: Vec<&str> = found.iter().filter_map(|f| f.split(':').next()).collect();
        assert_eq!(
            paths,
            ["workflow.definitions", "odata.smartobjects", "odata.page_size"],
            "{found:?}"
        );
    }

    #[test]
    fn odata_base_paths_are_checked() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("defs")).expect("mkdir");
        std::fs::create_dir(dir.path().join("sos")).expect("mkdir");
        let found = issues(&file(
            dir.path(),
            "workflow: {definitions: defs}\nodata: {smartobjects: sos, base_paths: []}",
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("odata.base_paths"), "{found:?}");
    }

    #[test]
    fn a_postgres_url_selects_postgres_and_its_password_is_never_shown() {
        let dir = tempfile::tempdir().expect("temp dir");
        for scheme in ["postgres", "postgresql"] {
            let settings = ApiSettings::from_config(&file(
                dir.path(),
                &format!("builtin: {{database: '{scheme}://authgate:pa55-word@db.internal:5432/authgate'}}"),
            ))
            .expect("valid");
            assert!(matches!(&settings.database, Database::Postgres(url) if url.contains("pa55-word")));
            let shown = format!("{} {:?}", settings.database, settings.database);
            assert!(!shown.contains("pa55-word"), "{shown}");
            assert!(shown.contains("PostgreSQL postgres"), "{shown}");
        }
        let found = issues(&file(
            dir.path(),
            "builtin: {database: 'postgres://authgate:pa55-word@db.internal:notaport/authgate'}",
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("builtin.database"), "{found:?}");
        assert!(!found[0].contains("pa55-word"), "{found:?}");
    }

    #[test]
    fn postgres_pool_and_timeouts_default_are_read_and_checked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let defaults = ApiSettings::from_config(&file(dir.path(), "")).expect("valid");
        assert_eq!(defaults.postgres.pool_size, 16);
        assert_eq!(defaults.postgres.statement_timeout, Duration::from_secs(5));
        assert_eq!(defaults.postgres.connect_timeout, Duration::from_secs(2));
        let set = ApiSettings::from_config(&file(
            dir.path(),
            "builtin: {postgres: {pool_size: 4, statement_timeout_ms: 750, connect_timeout_ms: 300}}",
        ))
        .expect("valid");
        assert_eq!(set.postgres.pool_size, 4);
        assert_eq!(set.postgres.statement_timeout, Duration::from_millis(750));
        assert_eq!(set.postgres.connect_timeout, Duration::from_millis(300));
        let found = issues(&file(
            dir.path(),
            "builtin: {postgres: {pool_size: 0, statement_timeout_ms: 0, connect_timeout_ms: 9999999}}",
        ));
        assert_eq!(
            found,
            [
                "builtin.postgres.pool_size: must be between 1 and 1000",
                "builtin.postgres.statement_timeout_ms: must be between 10 and 3600000",
                "builtin.postgres.connect_timeout_ms: must be between 10 and 600000",
            ],
        );
    }
}
