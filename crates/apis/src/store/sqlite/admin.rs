//! [`AdminStore`] on SQLite: each write is one immediate transaction on the writer, so the version check and
//! the write are one step.

use super::Database;
use crate::store::admin::{
    from_text, to_text, AdminStore, AuditEntry, AuditRecord, ReplicaRecord, SettingRecord, SettingsSnapshot,
    REPLICA_RETENTION_SECS,
};
use crate::store::StoreError;
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use std::sync::Arc;

/// The SQLite admin store.
pub struct SqliteAdminStore {
    db: Arc<Database>,
}

impl SqliteAdminStore {
    /// Uses `db` (opened, so migrated).
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }
}

fn version_on(conn: &rusqlite::Connection) -> Result<i64, StoreError> {
    Ok(
        conn.query_row("SELECT version FROM admin_settings_version WHERE id = 1", [], |r| {
            r.get(0)
        })?,
    )
}

fn insert_audit(tx: &rusqlite::Connection, a: &AuditRecord) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO admin_audit (at, who, action, target, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![a.at, a.who, a.action, a.target, to_text(&a.before), to_text(&a.after)],
    )?;
    Ok(())
}

#[async_trait]
impl AdminStore for SqliteAdminStore {
    async fn settings_version(&self) -> Result<i64, StoreError> {
        self.db.read(version_on).await
    }

    async fn settings(&self) -> Result<SettingsSnapshot, StoreError> {
        self.db
            .read(|conn| {
                // One read transaction: the version and the rows agree.
                conn.execute_batch("BEGIN")?;
                let read = (|| {
                    let version = version_on(conn)?;
                    let mut stmt =
                        conn.prepare("SELECT key, value, changed_by, changed_at FROM admin_settings ORDER BY key")?;
                    let rows = stmt
                        .query_map([], |r| {
                            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?))
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    let entries = rows
                        .into_iter()
                        .map(|(key, value, changed_by, changed_at)| {
                            Ok(SettingRecord {
                                key,
                                value: from_text(&value)?,
                                changed_by,
                                changed_at,
                            })
                        })
                        .collect::<Result<Vec<_>, StoreError>>()?;
                    Ok(SettingsSnapshot { version, entries })
                })();
                conn.execute_batch("COMMIT")?;
                read
            })
            .await
    }

    async fn write_settings(
        &self,
        expected_version: i64,
        changes: Vec<SettingRecord>,
        audit: Vec<AuditRecord>,
    ) -> Result<i64, StoreError> {
        self.db
            .write(move |tx| {
                let version = version_on(tx)?;
                if version != expected_version {
                    return Err(StoreError::Conflict(format!(
                        "the settings changed meanwhile (version {version}, not {expected_version})"
                    )));
                }
                for c in &changes {
                    tx.execute(
                        "INSERT INTO admin_settings (key, value, changed_by, changed_at) VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value, changed_by = excluded.changed_by, \
                         changed_at = excluded.changed_at",
                        params![c.key, to_text(&c.value), c.changed_by, c.changed_at],
                    )?;
                }
                for a in &audit {
                    insert_audit(tx, a)?;
                }
                tx.execute(
                    "UPDATE admin_settings_version SET version = version + 1 WHERE id = 1",
                    [],
                )?;
                Ok(version + 1)
            })
            .await
    }

    async fn append_audit(&self, record: AuditRecord) -> Result<(), StoreError> {
        self.db.write(move |tx| insert_audit(tx, &record)).await
    }

    async fn audit(&self, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT id, at, who, action, target, before, after FROM admin_audit WHERE id < ?1 \
                     ORDER BY id DESC LIMIT ?2",
                )?;
                let rows = stmt
                    .query_map(params![before.unwrap_or(i64::MAX), limit], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, String>(5)?,
                            r.get::<_, String>(6)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                rows.into_iter()
                    .map(|(id, at, who, action, target, before, after)| {
                        Ok(AuditEntry {
                            id,
                            record: AuditRecord {
                                who,
                                at,
                                action,
                                target,
                                before: from_text(&before)?,
                                after: from_text(&after)?,
                            },
                        })
                    })
                    .collect()
            })
            .await
    }

    async fn key(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let name = name.to_string();
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO admin_keys (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                    params![name, fresh],
                )?;
                tx.query_row("SELECT value FROM admin_keys WHERE name = ?1", params![name], |r| {
                    r.get(0)
                })
                .optional()?
                .ok_or_else(|| StoreError::Backend("the key vanished".into()))
            })
            .await
    }

    async fn heartbeat(&self, replica: ReplicaRecord) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO admin_replicas (id, version, started_at, seen_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (id) DO UPDATE SET version = excluded.version, started_at = excluded.started_at, \
                     seen_at = excluded.seen_at",
                    params![replica.id, replica.version, replica.started_at, replica.seen_at],
                )?;
                tx.execute(
                    "DELETE FROM admin_replicas WHERE seen_at < ?1",
                    params![replica.seen_at.saturating_sub(REPLICA_RETENTION_SECS)],
                )?;
                Ok(())
            })
            .await
    }

    async fn replicas(&self, seen_since: i64) -> Result<Vec<ReplicaRecord>, StoreError> {
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT id, version, started_at, seen_at FROM admin_replicas WHERE seen_at >= ?1 ORDER BY id",
                )?;
                let rows = stmt
                    .query_map(params![seen_since], |r| {
                        Ok(ReplicaRecord {
                            id: r.get(0)?,
                            version: r.get(1)?,
                            started_at: r.get(2)?,
                            seen_at: r.get(3)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }
}
