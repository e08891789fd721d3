//! [`OAuthStore`] on SQLite. Every write is one immediate transaction on the writer, so a state is consumed
//! by exactly one caller (`DELETE ... RETURNING`).
//!
//! The refresh lock: SQLite serves one process (replicas share PostgreSQL), and a refresh calls the provider
//! while the lock is held, which must not keep the database's single writer locked for the whole call (every
//! other write would wait on it). So the lock is an in-process async mutex per (user, resource); once it is
//! held the row is re-read, and the outcome is written in an immediate transaction before it is released.

use super::Database;
use crate::outbound::store::{
    user_key, AuthorizationState, ConnectionRecord, ConnectionStatus, OAuthStore, RefreshFn, RefreshOutcome,
    TokenUpdate,
};
use crate::outbound::vault::Sealed;
use crate::store::StoreError;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// (user key, resource): the refresh lock of one connection.
type LockKey = (String, String);
/// The refresh locks held or awaited, by connection.
type LockTable = Mutex<HashMap<LockKey, Arc<tokio::sync::Mutex<()>>>>;

/// The SQLite outbound OAuth store.
pub struct SqliteOAuthStore {
    db: Arc<Database>,
    locks: LockTable,
}

impl SqliteOAuthStore {
    /// Uses `db` (opened, so migrated).
    pub fn new(db: Arc<Database>) -> Self {
        Self {
            db,
            locks: Mutex::new(HashMap::new()),
        }
    }

    fn lock_of(&self, key: &LockKey) -> Result<Arc<tokio::sync::Mutex<()>>, StoreError> {
        let mut locks = self
            .locks
            .lock()
            .map_err(|_| StoreError::Backend("refresh lock table poisoned".into()))?;
        Ok(locks.entry(key.clone()).or_default().clone())
    }

    /// Forgets the lock of `key` when no one else holds or waits for it.
    fn release(&self, key: &LockKey) {
        if let Ok(mut locks) = self.locks.lock() {
            if locks.get(key).is_some_and(|l| Arc::strong_count(l) == 1) {
                locks.remove(key);
            }
        }
    }
}

const CONNECTION_COLUMNS: &str =
    "user_name, resource, resource_type, access_token, refresh_token, expires_at, status, created_at, updated_at";

fn connection_from(row: &Row<'_>) -> rusqlite::Result<(ConnectionRecord, String)> {
    let status: String = row.get(6)?;
    Ok((
        ConnectionRecord {
            user: row.get(0)?,
            resource: row.get(1)?,
            resource_type: row.get(2)?,
            access_token: Sealed(row.get(3)?),
            refresh_token: row.get::<_, Option<Vec<u8>>>(4)?.map(Sealed),
            expires_at: row.get(5)?,
            status: ConnectionStatus::Connected,
            created_at: row.get(7)?,
            updated_at: row.get(8)?,
        },
        status,
    ))
}

fn with_status((mut record, status): (ConnectionRecord, String)) -> Result<ConnectionRecord, StoreError> {
    record.status = ConnectionStatus::parse(&status)
        .ok_or_else(|| StoreError::Backend(format!("unknown connection status '{status}'")))?;
    Ok(record)
}

fn read_connection(conn: &Connection, user: &str, resource: &str) -> Result<Option<ConnectionRecord>, StoreError> {
    conn.query_row(
        &format!("SELECT {CONNECTION_COLUMNS} FROM oauth_connections WHERE user_key = ?1 AND resource = ?2"),
        params![user_key(user), resource],
        connection_from,
    )
    .optional()?
    .map(with_status)
    .transpose()
}

fn list(conn: &Connection, filter: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<ConnectionRecord>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {CONNECTION_COLUMNS} FROM oauth_connections {filter} ORDER BY user_key, resource"
    ))?;
    let rows = stmt.query_map(args, connection_from)?.collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(with_status).collect()
}

fn upsert(
    conn: &Connection,
    user: &str,
    resource: &str,
    tokens: &TokenUpdate,
    now: i64,
) -> Result<ConnectionRecord, StoreError> {
    conn.execute(
        "INSERT INTO oauth_connections (user_key, user_name, resource, resource_type, access_token, refresh_token, \
           expires_at, status, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'connected', ?8, ?8) \
         ON CONFLICT (user_key, resource) DO UPDATE SET resource_type = excluded.resource_type, \
           access_token = excluded.access_token, \
           refresh_token = COALESCE(excluded.refresh_token, oauth_connections.refresh_token), \
           expires_at = excluded.expires_at, status = 'connected', updated_at = excluded.updated_at",
        params![
            user_key(user),
            user,
            resource,
            tokens.resource_type,
            tokens.access_token.0,
            tokens.refresh_token.as_ref().map(|s| &s.0),
            tokens.expires_at,
            now
        ],
    )?;
    read_connection(conn, user, resource)?.ok_or_else(|| StoreError::Backend("the upserted connection is gone".into()))
}

fn apply(
    conn: &Connection,
    current: &ConnectionRecord,
    outcome: RefreshOutcome,
    now: i64,
) -> Result<Option<ConnectionRecord>, StoreError> {
    match outcome {
        RefreshOutcome::Keep => Ok(None),
        RefreshOutcome::Tokens(tokens) => upsert(conn, &current.user, &current.resource, &tokens, now).map(Some),
        RefreshOutcome::NeedsReauthorization => {
            conn.execute(
                "UPDATE oauth_connections SET status = 'needs_reauthorization', updated_at = ?3 \
                 WHERE user_key = ?1 AND resource = ?2",
                params![user_key(&current.user), current.resource, now],
            )?;
            read_connection(conn, &current.user, &current.resource)
        }
    }
}

#[async_trait]
impl OAuthStore for SqliteOAuthStore {
    async fn create_state(&self, state: AuthorizationState) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                let inserted = tx.execute(
                    "INSERT INTO oauth_states (id, user_name, resource, pkce_verifier, return_url, browser_binding, \
                       expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
                    params![
                        state.id,
                        state.user,
                        state.resource,
                        state.pkce_verifier.as_ref().map(|s| &s.0),
                        state.return_url,
                        state.browser_binding,
                        state.expires_at
                    ],
                )?;
                if inserted == 0 {
                    return Err(StoreError::Conflict(
                        "an authorization state with this id exists".into(),
                    ));
                }
                Ok(())
            })
            .await
    }

    async fn consume_state(&self, id: &str, now: i64) -> Result<Option<AuthorizationState>, StoreError> {
        let id = id.to_string();
        self.db
            .write(move |tx| {
                let state = tx
                    .query_row(
                        "DELETE FROM oauth_states WHERE id = ?1 RETURNING id, user_name, resource, pkce_verifier, \
                         return_url, browser_binding, expires_at",
                        [&id],
                        |row| {
                            Ok(AuthorizationState {
                                id: row.get(0)?,
                                user: row.get(1)?,
                                resource: row.get(2)?,
                                pkce_verifier: row.get::<_, Option<Vec<u8>>>(3)?.map(Sealed),
                                return_url: row.get(4)?,
                                browser_binding: row.get(5)?,
                                expires_at: row.get(6)?,
                            })
                        },
                    )
                    .optional()?;
                Ok(state.filter(|s| s.expires_at > now))
            })
            .await
    }

    async fn purge_expired_states(&self, now: i64) -> Result<u64, StoreError> {
        self.db
            .write(move |tx| Ok(tx.execute("DELETE FROM oauth_states WHERE expires_at <= ?1", [now])? as u64))
            .await
    }

    async fn upsert_connection(
        &self,
        user: &str,
        resource: &str,
        tokens: TokenUpdate,
        now: i64,
    ) -> Result<ConnectionRecord, StoreError> {
        let (user, resource) = (user.to_string(), resource.to_string());
        self.db
            .write(move |tx| upsert(tx, &user, &resource, &tokens, now))
            .await
    }

    async fn connection(&self, user: &str, resource: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let (user, resource) = (user.to_string(), resource.to_string());
        self.db.read(move |c| read_connection(c, &user, &resource)).await
    }

    async fn connections_of(&self, user: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        let key = user_key(user);
        self.db.read(move |c| list(c, "WHERE user_key = ?1", &[&key])).await
    }

    async fn all_connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        self.db.read(|c| list(c, "", &[])).await
    }

    async fn revoke(&self, user: &str, resource: &str) -> Result<bool, StoreError> {
        let (key, resource) = (user_key(user), resource.to_string());
        self.db
            .write(move |tx| {
                Ok(tx.execute(
                    "DELETE FROM oauth_connections WHERE user_key = ?1 AND resource = ?2",
                    params![key, resource],
                )? > 0)
            })
            .await
    }

    async fn revoke_all(&self, user: &str) -> Result<u64, StoreError> {
        let key = user_key(user);
        self.db
            .write(move |tx| Ok(tx.execute("DELETE FROM oauth_connections WHERE user_key = ?1", [key])? as u64))
            .await
    }

    async fn with_refresh_lock(
        &self,
        user: &str,
        resource: &str,
        now: i64,
        refresh: RefreshFn,
    ) -> Result<ConnectionRecord, StoreError> {
        let key = (user_key(user), resource.to_string());
        let lock = self.lock_of(&key)?;
        let outcome = async {
            let _held = lock.lock().await;
            // Read through the writer: a reader could lag behind a commit made a moment ago.
            let (u, r) = (user.to_string(), resource.to_string());
            let current = self
                .db
                .write(move |tx| read_connection(tx, &u, &r))
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("no connection to '{resource}' for this user")))?;
            let decided = refresh(current.clone()).await;
            let kept = current.clone();
            let written = self.db.write(move |tx| apply(tx, &current, decided, now)).await?;
            Ok(written.unwrap_or(kept))
        }
        .await;
        drop(lock);
        self.release(&key);
        outcome
    }
}
