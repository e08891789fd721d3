//! The admin API's storage: runtime settings (overrides of `gateway.yaml`, shared by every replica through the
//! database, with a version every change bumps), the audit log of administrators' changes, and named random
//! keys (the CSRF key every replica signs with), and the replicas' heartbeats (the console's "replicas seen").
//! Records name no backend.

use super::StoreError;
use async_trait::async_trait;

/// One stored setting: an override of a `gateway.yaml` value.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingRecord {
    /// Its key (`workflow`, `odata`, `odata.expose`, `odata.page_size`).
    pub key: String,
    /// Its value, as JSON.
    pub value: serde_json::Value,
    /// The administrator who set it.
    pub changed_by: String,
    /// When (RFC 3339, UTC).
    pub changed_at: String,
}

/// Every stored setting and the version they are at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsSnapshot {
    /// Bumped by every write; 0 before the first.
    pub version: i64,
    /// The settings, by key.
    pub entries: Vec<SettingRecord>,
}

/// One audit entry to write. Never holds a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Who (the administrator's name).
    pub who: String,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// What was done (`settings.update`, `lockout.unlock`...).
    pub action: String,
    /// What it was done to (a setting key, a user...).
    pub target: String,
    /// The value before, as JSON (`null` when there was none).
    pub before: serde_json::Value,
    /// The value after, as JSON (`null` when there is none).
    pub after: serde_json::Value,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Increasing with time; the `before` cursor of the next page.
    pub id: i64,
    /// The entry.
    pub record: AuditRecord,
}

/// A gateway process sharing the store, as its last heartbeat left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRecord {
    /// Unique per process (host name, process id and start time).
    pub id: String,
    /// The authgate version it runs.
    pub version: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// Its last heartbeat, Unix seconds.
    pub seen_at: i64,
}

/// How long a replica that stopped beating stays in the table before a heartbeat of another removes it.
pub const REPLICA_RETENTION_SECS: i64 = 86_400;

/// Settings, audit and keys of the admin API.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// The current settings version (cheap: every replica polls it).
    async fn settings_version(&self) -> Result<i64, StoreError>;

    /// Every stored setting.
    async fn settings(&self) -> Result<SettingsSnapshot, StoreError>;

    /// Writes `changes` (each replacing the stored value of its key) and their `audit` entries in one
    /// transaction, if the version is still `expected_version`; else [`StoreError::Conflict`] and nothing is
    /// written. Returns the new version.
    async fn write_settings(
        &self,
        expected_version: i64,
        changes: Vec<SettingRecord>,
        audit: Vec<AuditRecord>,
    ) -> Result<i64, StoreError>;

    /// Appends one audit entry.
    async fn append_audit(&self, record: AuditRecord) -> Result<(), StoreError>;

    /// At most `limit` audit entries with an id below `before` (all when `None`), newest first.
    async fn audit(&self, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;

    /// The key called `name`: `fresh` is stored the first time; afterwards every caller (on every replica) gets
    /// the stored one.
    async fn key(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>, StoreError>;

    /// Records `replica`'s heartbeat (inserted or replaced by id), and removes replicas not seen for
    /// [`REPLICA_RETENTION_SECS`] before its `seen_at`.
    async fn heartbeat(&self, replica: ReplicaRecord) -> Result<(), StoreError>;

    /// The replicas whose last heartbeat is at or after `seen_since` (Unix seconds), by id.
    async fn replicas(&self, seen_since: i64) -> Result<Vec<ReplicaRecord>, StoreError>;
}

/// JSON text as stored.
pub(crate) fn to_text(value: &serde_json::Value) -> String {
    value.to_string()
}

/// Stored JSON text, read back.
pub(crate) fn from_text(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(format!("stored JSON is invalid: {e}")))
}
