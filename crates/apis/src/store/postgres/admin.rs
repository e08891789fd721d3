//! [`AdminStore`] on PostgreSQL: a settings write takes the version row `FOR UPDATE`, so of two replicas
//! writing against the same version exactly one succeeds.

use super::Database;
use crate::store::admin::{
    from_text, to_text, AdminStore, AuditEntry, AuditRecord, ReplicaRecord, SettingRecord, SettingsSnapshot,
    REPLICA_RETENTION_SECS,
};
use crate::store::StoreError;
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use std::sync::Arc;

/// The PostgreSQL admin store.
pub struct PgAdminStore {
    db: Arc<Database>,
}

impl PgAdminStore {
    /// Uses `db` (opened, so migrated).
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a tokio_postgres::Row, index: usize) -> Result<T, StoreError> {
    row.try_get(index)
        .map_err(|e| StoreError::Backend(format!("column {index}: {e}")))
}

async fn insert_audit(client: &impl GenericClient, a: &AuditRecord) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO admin_audit (at, who, action, target, before, after) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &a.at,
                &a.who,
                &a.action,
                &a.target,
                &to_text(&a.before),
                &to_text(&a.after),
            ],
        )
        .await?;
    Ok(())
}

#[async_trait]
impl AdminStore for PgAdminStore {
    async fn settings_version(&self) -> Result<i64, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_one("SELECT version FROM admin_settings_version WHERE id = 1", &[])
            .await?;
        get(&row, 0)
    }

    async fn settings(&self) -> Result<SettingsSnapshot, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client
            .build_transaction()
            .read_only(true)
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .start()
            .await?;
        let version: i64 = get(
            &tx.query_one("SELECT version FROM admin_settings_version WHERE id = 1", &[])
                .await?,
            0,
        )?;
        let rows = tx
            .query(
                "SELECT key, value, changed_by, changed_at FROM admin_settings ORDER BY key",
                &[],
            )
            .await?;
        tx.commit().await?;
        let entries = rows
            .iter()
            .map(|row| {
                Ok(SettingRecord {
                    key: get(row, 0)?,
                    value: from_text(&get::<String>(row, 1)?)?,
                    changed_by: get(row, 2)?,
                    changed_at: get(row, 3)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(SettingsSnapshot { version, entries })
    }

    async fn write_settings(
        &self,
        expected_version: i64,
        changes: Vec<SettingRecord>,
        audit: Vec<AuditRecord>,
    ) -> Result<i64, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction().await?;
        let version: i64 = get(
            &tx.query_one(
                "SELECT version FROM admin_settings_version WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await?,
            0,
        )?;
        if version != expected_version {
            return Err(StoreError::Conflict(format!(
                "the settings changed meanwhile (version {version}, not {expected_version})"
            )));
        }
        for c in &changes {
            tx.execute(
                "INSERT INTO admin_settings (key, value, changed_by, changed_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, changed_by = excluded.changed_by, \
                 changed_at = excluded.changed_at",
                &[&c.key, &to_text(&c.value), &c.changed_by, &c.changed_at],
            )
            .await?;
        }
        for a in &audit {
            insert_audit(&tx, a).await?;
        }
        tx.execute(
            "UPDATE admin_settings_version SET version = version + 1 WHERE id = 1",
            &[],
        )
        .await?;
        tx.commit().await?;
        Ok(version + 1)
    }

    async fn append_audit(&self, record: AuditRecord) -> Result<(), StoreError> {
        let client = self.db.client().await?;
        insert_audit(&client, &record).await
    }

    async fn audit(&self, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query(
                "SELECT id, at, who, action, target, before, after FROM admin_audit WHERE id < $1 \
                 ORDER BY id DESC LIMIT $2",
                &[&before.unwrap_or(i64::MAX), &i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: get(row, 0)?,
                    record: AuditRecord {
                        at: get(row, 1)?,
                        who: get(row, 2)?,
                        action: get(row, 3)?,
                        target: get(row, 4)?,
                        before: from_text(&get::<String>(row, 5)?)?,
                        after: from_text(&get::<String>(row, 6)?)?,
                    },
                })
            })
            .collect()
    }

    async fn key(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let client = self.db.client().await?;
        client
            .execute(
                "INSERT INTO admin_keys (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &fresh],
            )
            .await?;
        let row = client
            .query_one("SELECT value FROM admin_keys WHERE name = $1", &[&name])
            .await?;
        get(&row, 0)
    }

    async fn heartbeat(&self, replica: ReplicaRecord) -> Result<(), StoreError> {
        let client = self.db.client().await?;
        client
            .execute(
                "INSERT INTO admin_replicas (id, version, started_at, seen_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version, started_at = excluded.started_at, \
                 seen_at = excluded.seen_at",
                &[&replica.id, &replica.version, &replica.started_at, &replica.seen_at],
            )
            .await?;
        client
            .execute(
                "DELETE FROM admin_replicas WHERE seen_at < $1",
                &[&replica.seen_at.saturating_sub(REPLICA_RETENTION_SECS)],
            )
            .await?;
        Ok(())
    }

    async fn replicas(&self, seen_since: i64) -> Result<Vec<ReplicaRecord>, StoreError> {
        let client = self.db.client().await?;
        client
            .query(
                "SELECT id, version, started_at, seen_at FROM admin_replicas WHERE seen_at >= $1 ORDER BY id",
                &[&seen_since],
            )
            .await?
            .iter()
            .map(|row| {
                Ok(ReplicaRecord {
                    id: get(row, 0)?,
                    version: get(row, 1)?,
                    started_at: get(row, 2)?,
                    seen_at: get(row, 3)?,
                })
            })
            .collect()
    }
}
