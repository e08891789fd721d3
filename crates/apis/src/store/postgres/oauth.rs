//! [`OAuthStore`] on PostgreSQL. A state is consumed by `DELETE ... RETURNING` (of concurrent callers, on any
//! replica, exactly one gets the row). The refresh lock is the connection's row, read `SELECT ... FOR UPDATE`
//! in a transaction held while the refresh runs: a second holder (another task or another replica) waits on
//! the row, then reads what the first committed.

use super::Database;
use crate::outbound::store::{
    user_key, AuthorizationState, ConnectionRecord, ConnectionStatus, OAuthStore, RefreshFn, RefreshOutcome,
    TokenUpdate,
};
use crate::outbound::vault::Sealed;
use crate::store::StoreError;
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use std::sync::Arc;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

/// The PostgreSQL outbound OAuth store.
pub struct PgOAuthStore {
    db: Arc<Database>,
}

impl PgOAuthStore {
    /// Uses `db` (opened, so migrated).
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }
}

const CONNECTION_COLUMNS: &str =
    "user_name, resource, resource_type, access_token, refresh_token, expires_at, status, created_at, updated_at";

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, index: usize) -> Result<T, StoreError> {
    row.try_get(index)
        .map_err(|e| StoreError::Backend(format!("column {index}: {e}")))
}

fn connection_from(row: &Row) -> Result<ConnectionRecord, StoreError> {
    let status: String = get(row, 6)?;
    Ok(ConnectionRecord {
        user: get(row, 0)?,
        resource: get(row, 1)?,
        resource_type: get(row, 2)?,
        access_token: Sealed(get(row, 3)?),
        refresh_token: get::<Option<Vec<u8>>>(row, 4)?.map(Sealed),
        expires_at: get(row, 5)?,
        status: ConnectionStatus::parse(&status)
            .ok_or_else(|| StoreError::Backend(format!("unknown connection status '{status}'")))?,
        created_at: get(row, 7)?,
        updated_at: get(row, 8)?,
    })
}

async fn read_connection(
    client: &impl GenericClient,
    user: &str,
    resource: &str,
    lock: bool,
) -> Result<Option<ConnectionRecord>, StoreError> {
    let sql = format!(
        "SELECT {CONNECTION_COLUMNS} FROM oauth_connections WHERE user_key = $1 AND resource = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    client
        .query_opt(&sql, &[&user_key(user), &resource])
        .await?
        .as_ref()
        .map(connection_from)
        .transpose()
}

async fn list(
    client: &impl GenericClient,
    filter: &str,
    args: &[&(dyn ToSql + Sync)],
) -> Result<Vec<ConnectionRecord>, StoreError> {
    let sql = format!("SELECT {CONNECTION_COLUMNS} FROM oauth_connections {filter} ORDER BY user_key, resource");
    client.query(&sql, args).await?.iter().map(connection_from).collect()
}

async fn upsert(
    client: &impl GenericClient,
    user: &str,
    resource: &str,
    tokens: &TokenUpdate,
    now: i64,
) -> Result<ConnectionRecord, StoreError> {
    let row = client
        .query_one(
            &format!(
                "INSERT INTO oauth_connections (user_key, user_name, resource, resource_type, access_token, \
                   refresh_token, expires_at, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'connected', $8, $8) \
                 ON CONFLICT (user_key, resource) DO UPDATE SET resource_type = EXCLUDED.resource_type, \
                   access_token = EXCLUDED.access_token, \
                   refresh_token = COALESCE(EXCLUDED.refresh_token, oauth_connections.refresh_token), \
                   expires_at = EXCLUDED.expires_at, status = 'connected', updated_at = EXCLUDED.updated_at \
                 RETURNING {CONNECTION_COLUMNS}"
            ),
            &[
                &user_key(user),
                &user,
                &resource,
                &tokens.resource_type,
                &tokens.access_token.0,
                &tokens.refresh_token.as_ref().map(|s| &s.0),
                &tokens.expires_at,
                &now,
            ],
        )
        .await?;
    connection_from(&row)
}

#[async_trait]
impl OAuthStore for PgOAuthStore {
    async fn create_state(&self, state: AuthorizationState) -> Result<(), StoreError> {
        let client = self.db.client().await?;
        let inserted = client
            .execute(
                "INSERT INTO oauth_states (id, user_name, resource, pkce_verifier, return_url, browser_binding, \
                   expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                &[
                    &state.id,
                    &state.user,
                    &state.resource,
                    &state.pkce_verifier.as_ref().map(|s| &s.0),
                    &state.return_url,
                    &state.browser_binding,
                    &state.expires_at,
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::Conflict(
                "an authorization state with this id exists".into(),
            ));
        }
        Ok(())
    }

    async fn consume_state(&self, id: &str, now: i64) -> Result<Option<AuthorizationState>, StoreError> {
        let client = self.db.client().await?;
        let row = client
            .query_opt(
                "DELETE FROM oauth_states WHERE id = $1 RETURNING id, user_name, resource, pkce_verifier, \
                 return_url, browser_binding, expires_at",
                &[&id],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let state = AuthorizationState {
            id: get(&row, 0)?,
            user: get(&row, 1)?,
            resource: get(&row, 2)?,
            pkce_verifier: get::<Option<Vec<u8>>>(&row, 3)?.map(Sealed),
            return_url: get(&row, 4)?,
            browser_binding: get(&row, 5)?,
            expires_at: get(&row, 6)?,
        };
        Ok((state.expires_at > now).then_some(state))
    }

    async fn purge_expired_states(&self, now: i64) -> Result<u64, StoreError> {
        let client = self.db.client().await?;
        Ok(client
            .execute("DELETE FROM oauth_states WHERE expires_at <= $1", &[&now])
            .await?)
    }

    async fn upsert_connection(
        &self,
        user: &str,
        resource: &str,
        tokens: TokenUpdate,
        now: i64,
    ) -> Result<ConnectionRecord, StoreError> {
        let client = self.db.client().await?;
        upsert(&client, user, resource, &tokens, now).await
    }

    async fn connection(&self, user: &str, resource: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let client = self.db.client().await?;
        read_connection(&client, user, resource, false).await
    }

    async fn connections_of(&self, user: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        let client = self.db.client().await?;
        list(&client, "WHERE user_key = $1", &[&user_key(user)]).await
    }

    async fn all_connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        let client = self.db.client().await?;
        list(&client, "", &[]).await
    }

    async fn revoke(&self, user: &str, resource: &str) -> Result<bool, StoreError> {
        let client = self.db.client().await?;
        Ok(client
            .execute(
                "DELETE FROM oauth_connections WHERE user_key = $1 AND resource = $2",
                &[&user_key(user), &resource],
            )
            .await?
            > 0)
    }

    async fn revoke_all(&self, user: &str) -> Result<u64, StoreError> {
        let client = self.db.client().await?;
        Ok(client
            .execute("DELETE FROM oauth_connections WHERE user_key = $1", &[&user_key(user)])
            .await?)
    }

    async fn with_refresh_lock(
        &self,
        user: &str,
        resource: &str,
        now: i64,
        refresh: RefreshFn,
    ) -> Result<ConnectionRecord, StoreError> {
        let mut client = self.db.client().await?;
        let tx = client.transaction().await?;
        let current = read_connection(&tx, user, resource, true)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no connection to '{resource}' for this user")))?;
        let decided = refresh(current.clone()).await;
        let left = match decided {
            RefreshOutcome::Keep => current,
            RefreshOutcome::Tokens(tokens) => upsert(&tx, &current.user, &current.resource, &tokens, now).await?,
            RefreshOutcome::NeedsReauthorization => {
                let row = tx
                    .query_one(
                        &format!(
                            "UPDATE oauth_connections SET status = 'needs_reauthorization', updated_at = $3 \
                             WHERE user_key = $1 AND resource = $2 RETURNING {CONNECTION_COLUMNS}"
                        ),
                        &[&user_key(&current.user), &current.resource, &now],
                    )
                    .await?;
                connection_from(&row)?
            }
        };
        tx.commit().await?;
        Ok(left)
    }
}
