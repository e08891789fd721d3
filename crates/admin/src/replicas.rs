//! The replicas sharing the store: each process beats every [`HEARTBEAT`] (from the binary's control loop),
//! and the overview lists those seen within [`SEEN_WITHIN_SECS`].

use authgate_apis::store::admin::{AdminStore, ReplicaRecord};
use authgate_apis::store::StoreError;
use serde_json::{json, Value};
use std::time::Duration;

/// How often a replica beats.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// A replica is "seen" when its last beat is at most this old (several missed beats).
pub const SEEN_WITHIN_SECS: i64 = 30;

/// This process, as its heartbeats name it.
#[derive(Debug, Clone)]
pub struct ThisReplica {
    id: String,
    started_at: String,
}

impl ThisReplica {
    /// Names this process: host name, process id and start time (unique across restarts and hosts).
    pub fn new() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        let started = jiff::Timestamp::now();
        Self {
            id: format!("{host}/{}/{}", std::process::id(), started.as_second()),
            started_at: crate::api::rfc3339(started),
        }
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Records a beat now.
    pub async fn beat(&self, store: &dyn AdminStore) -> Result<(), StoreError> {
        store
            .heartbeat(ReplicaRecord {
                id: self.id.clone(),
                version: env!("CARGO_PKG_VERSION").into(),
                started_at: self.started_at.clone(),
                seen_at: jiff::Timestamp::now().as_second(),
            })
            .await
    }
}

impl Default for ThisReplica {
    fn default() -> Self {
        Self::new()
    }
}

/// The replicas seen recently, as the overview shows them.
pub async fn seen(store: &dyn AdminStore) -> Result<Value, StoreError> {
    let now = jiff::Timestamp::now().as_second();
    let replicas = store.replicas(now - SEEN_WITHIN_SECS).await?;
    Ok(Value::Array(
        replicas
            .into_iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "version": r.version,
                    "started_at": r.started_at,
                    "seconds_since_seen": (now - r.seen_at).max(0),
                })
            })
            .collect(),
    ))
}
