//! The one versioned schema of the built-in APIs on SQLite: both APIs' tables in one list of numbered
//! migrations, because the OData workflow-statistics views read the workflow tables (one contract).
//!
//! `schema_migrations (version, name, applied_at)` records what was applied. At open, every migration not
//! recorded is applied in version order, each in its own immediate transaction with its record, so a crash
//! leaves either all of a migration or none of it, and opening again is a no-op. Databases created before
//! versions existed (a `schema_migrations (name, applied_at)` table naming `workflow_001`, `workflow_002`,
//! `odata_statistics_001`) are adopted: their rows are carried over under the version of the same name.
//!
//! SmartObject tables are not here: they follow the operator's definitions (one table per SmartObject, columns
//! added on reload) and are kept in step by `SmartObjectStore::sync_schema`.

use crate::store::StoreError;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number; applied in increasing order.
    pub version: i64,
    /// Its name (the name it had before migrations were numbered, for the older ones).
    pub name: &'static str,
    /// The SQL batch.
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "workflow_001",
        sql: WORKFLOW_TABLES,
    },
    Migration {
        version: 2,
        name: "workflow_002",
        sql: ITEM_REFERENCES,
    },
    Migration {
        version: 3,
        name: "odata_statistics_001",
        sql: STATISTICS_VIEWS,
    },
    Migration {
        version: 4,
        name: "oauth_001",
        sql: OAUTH_TABLES,
    },
    Migration {
        version: 5,
        name: "admin_001",
        sql: ADMIN_TABLES,
    },
    Migration {
        version: 6,
        name: "admin_002",
        sql: ADMIN_REPLICAS,
    },
];

/// Applies every migration not yet recorded, adopting a database from before versions first.
pub fn apply(conn: &mut Connection) -> Result<(), StoreError> {
    adopt_unversioned(conn)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
         applied_at INTEGER NOT NULL)",
    )?;
    for migration in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [migration.version],
            |row| row.get(0),
        )?;
        if !applied {
            tx.execute_batch(migration.sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, strftime('%s','now'))",
                rusqlite::params![migration.version, migration.name],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}

/// The versions recorded, in order.
pub fn applied(conn: &Connection) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare("SELECT version FROM schema_migrations ORDER BY version")?;
    let versions = stmt.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?;
    Ok(versions)
}

/// Rewrites a `schema_migrations (name, applied_at)` table of a database from before versions into the
/// versioned form, in one transaction. A name this code does not know is refused (a newer database).
fn adopt_unversioned(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let exists = tx
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    let versioned: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM pragma_table_info('schema_migrations') WHERE name = 'version')",
        [],
        |row| row.get(0),
    )?;
    if !exists || versioned {
        return Ok(());
    }
    let rows: Vec<(String, i64)> = {
        let mut stmt = tx.prepare("SELECT name, applied_at FROM schema_migrations")?;
        let rows = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        rows
    };
    tx.execute_batch(
        "DROP TABLE schema_migrations; CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, \
         name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )?;
    for (name, applied_at) in rows {
        let Some(migration) = MIGRATIONS.iter().find(|m| m.name == name) else {
            return Err(StoreError::Unavailable(format!(
                "the database records migration '{name}', which this version does not know (written by a newer \
                 authgate?)"
            )));
        };
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![migration.version, migration.name, applied_at],
        )?;
    }
    tx.commit()?;
    tracing::info!("adopted a database from before numbered migrations");
    Ok(())
}

/// Version 1 (`workflow_001`): the workflow tables. Their column names and meanings are a contract with the
/// statistics views (see `docs/architecture.md`).
const WORKFLOW_TABLES: &str = r#"
CREATE TABLE wf_instances (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  workflow_id INTEGER NOT NULL,
  workflow_name TEXT NOT NULL,
  folio TEXT NOT NULL,
  priority INTEGER NOT NULL,
  status TEXT NOT NULL,
  originator TEXT NOT NULL,
  current_activity TEXT,
  data_fields TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  xml_fields TEXT NOT NULL DEFAULT '{}',
  expected_duration INTEGER NOT NULL DEFAULT 0,
  originator_display_name TEXT,
  originator_email TEXT
);
CREATE INDEX wf_instances_originator ON wf_instances(originator COLLATE NOCASE);
CREATE INDEX wf_instances_workflow_status ON wf_instances(workflow_id, status);
CREATE TABLE wf_tasks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  instance_id INTEGER NOT NULL REFERENCES wf_instances(id),
  serial_number TEXT NOT NULL UNIQUE,
  activity TEXT NOT NULL,
  destination_kind TEXT NOT NULL,
  destination TEXT NOT NULL,
  allocated_to TEXT,
  status TEXT NOT NULL,
  action TEXT,
  actioned_by TEXT,
  created_at INTEGER NOT NULL,
  completed_at INTEGER,
  prior_status TEXT,
  sleep_until INTEGER
);
CREATE INDEX wf_tasks_instance ON wf_tasks(instance_id);
CREATE INDEX wf_tasks_open_by_user ON wf_tasks(allocated_to COLLATE NOCASE, id) WHERE completed_at IS NULL;
CREATE INDEX wf_tasks_open_by_group ON wf_tasks(destination COLLATE NOCASE, id)
  WHERE completed_at IS NULL AND allocated_to IS NULL;
CREATE TABLE wf_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  instance_id INTEGER NOT NULL REFERENCES wf_instances(id),
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  event TEXT NOT NULL,
  activity TEXT,
  serial_number TEXT,
  detail TEXT
);
CREATE INDEX wf_history_instance ON wf_history(instance_id, id);
"#;

/// Version 2 (`workflow_002`, issue 14): item references of an instance. Additive: a database created before it
/// keeps working, its instances having none.
const ITEM_REFERENCES: &str = r#"
ALTER TABLE wf_instances ADD COLUMN item_references TEXT NOT NULL DEFAULT '{}';
"#;

/// The views; applied as migration `odata_statistics_001`, after the workflow store's own migration.
/// (Version 3, `odata_statistics_001`.)
const STATISTICS_VIEWS: &str = r#"
CREATE VIEW odata_workflow_instances AS SELECT
  i.id AS Id,
  i.workflow_name AS Workflow,
  i.folio AS Folio,
  i.status AS Status,
  i.priority AS Priority,
  i.originator AS Originator,
  i.originator_display_name AS OriginatorName,
  i.current_activity AS CurrentActivity,
  strftime('%Y-%m-%dT%H:%M:%S.0000000Z', i.started_at, 'unixepoch') AS StartDate,
  CASE WHEN i.finished_at IS NULL THEN NULL
       ELSE strftime('%Y-%m-%dT%H:%M:%S.0000000Z', i.finished_at, 'unixepoch') END AS FinishDate,
  i.finished_at - i.started_at AS DurationSeconds,
  CASE WHEN i.expected_duration > 0 THEN i.expected_duration * 60 END AS ExpectedDurationSeconds
FROM wf_instances i;
CREATE VIEW odata_workflow_tasks AS SELECT
  t.serial_number AS SerialNumber,
  t.instance_id AS InstanceId,
  i.workflow_name AS Workflow,
  i.folio AS Folio,
  t.activity AS Activity,
  t.destination_kind AS DestinationType,
  t.destination AS Destination,
  t.allocated_to AS AllocatedTo,
  t.status AS Status,
  t.action AS Action,
  t.actioned_by AS ActionedBy,
  strftime('%Y-%m-%dT%H:%M:%S.0000000Z', t.created_at, 'unixepoch') AS StartDate,
  CASE WHEN t.completed_at IS NULL THEN NULL
       ELSE strftime('%Y-%m-%dT%H:%M:%S.0000000Z', t.completed_at, 'unixepoch') END AS FinishDate,
  t.completed_at - t.created_at AS DurationSeconds
FROM wf_tasks t JOIN wf_instances i ON i.id = t.instance_id;
"#;

/// Version 4 (`oauth_001`, issue 17): outbound OAuth connections (tokens as vault ciphertexts) and pending
/// authorization states. Users are matched by `user_key` (the name in lower case, made by the store).
const OAUTH_TABLES: &str = r#"
CREATE TABLE oauth_connections (
  user_key TEXT NOT NULL,
  user_name TEXT NOT NULL,
  resource TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  access_token BLOB NOT NULL,
  refresh_token BLOB,
  expires_at INTEGER,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (user_key, resource)
);
CREATE TABLE oauth_states (
  id TEXT PRIMARY KEY,
  user_name TEXT NOT NULL,
  resource TEXT NOT NULL,
  pkce_verifier BLOB,
  return_url TEXT,
  browser_binding TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states(expires_at);
"#;

/// Version 5 (`admin_001`, issue 19): runtime settings (overrides of `gateway.yaml`, JSON values) with the
/// one-row version every replica polls, the audit log, and named keys (the CSRF key).
const ADMIN_TABLES: &str = r#"
CREATE TABLE admin_settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  changed_by TEXT NOT NULL,
  changed_at TEXT NOT NULL
);
CREATE TABLE admin_settings_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL
);
INSERT INTO admin_settings_version (id, version) VALUES (1, 0);
CREATE TABLE admin_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  who TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  before TEXT NOT NULL,
  after TEXT NOT NULL
);
CREATE TABLE admin_keys (
  name TEXT PRIMARY KEY,
  value BLOB NOT NULL
);
"#;

/// Version 6 (`admin_002`, issue 19): each replica's heartbeat, for the console's "replicas seen".
const ADMIN_REPLICAS: &str = r#"
CREATE TABLE admin_replicas (
  id TEXT PRIMARY KEY,
  version TEXT NOT NULL,
  started_at TEXT NOT NULL,
  seen_at INTEGER NOT NULL
);
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(names: &[&str]) -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
            .unwrap();
        for name in names {
            let migration = MIGRATIONS.iter().find(|m| m.name == *name).unwrap();
            conn.execute_batch(migration.sql).unwrap();
            conn.execute("INSERT INTO schema_migrations VALUES (?1, 1700000000)", [name])
                .unwrap();
        }
        apply(&mut conn).unwrap_or_else(|e| panic!("{names:?}: {e}"));
        conn
    }

    #[test]
    fn a_new_database_gets_every_version_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        apply(&mut conn).expect("applying again is a no-op");
        assert_eq!(applied(&conn).unwrap(), [1, 2, 3, 4, 5, 6]);
        let names: Vec<String> = conn
            .prepare("SELECT name FROM schema_migrations ORDER BY version")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            names,
            [
                "workflow_001",
                "workflow_002",
                "odata_statistics_001",
                "oauth_001",
                "admin_001",
                "admin_002"
            ]
        );
    }

    /// Every layout the code before versions could leave is adopted without re-applying what it has (the
    /// `ALTER TABLE` of version 2 or the views of version 3 would fail if run twice), and what it lacks is
    /// applied.
    #[test]
    fn databases_from_before_versions_are_adopted() {
        for names in [
            &["workflow_001"][..],
            &["workflow_001", "odata_statistics_001"],
            &["workflow_001", "workflow_002"],
            &["workflow_001", "workflow_002", "odata_statistics_001"],
        ] {
            let conn = legacy(names);
            assert_eq!(applied(&conn).unwrap(), [1, 2, 3, 4, 5, 6], "{names:?}");
            let kept: i64 = conn
                .query_row("SELECT applied_at FROM schema_migrations WHERE version = 1", [], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(kept, 1_700_000_000, "the original record is kept");
            conn.execute_batch("SELECT item_references FROM wf_instances; SELECT * FROM odata_workflow_tasks;")
                .unwrap();
        }
    }

    #[test]
    fn a_database_naming_an_unknown_migration_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL);
             INSERT INTO schema_migrations VALUES ('workflow_009', 1);",
        )
        .unwrap();
        let err = apply(&mut conn).unwrap_err();
        assert!(err.to_string().contains("'workflow_009'"), "{err}");
    }
}
