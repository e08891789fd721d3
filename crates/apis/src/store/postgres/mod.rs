//! The PostgreSQL backend: [`Database`] (a pool of connections, each with a statement timeout, and the
//! versioned [`migrations`] applied at open under an advisory lock), the stores of both APIs on it
//! ([`workflow`], [`smartobjects`]) and the OData query dialect ([`query`]). tokio-postgres and deadpool are
//! named nowhere else.
//!
//! Text columns are `COLLATE "C"`: values compare bytewise (UTF-8 byte order is code-point order), as SQLite's
//! `BINARY` collation and the reference evaluator do, whatever the database's locale.

pub mod admin;
pub mod migrations;
pub mod oauth;
pub mod query;
pub mod smartobjects;
pub mod tls;
pub mod workflow;

pub use admin::PgAdminStore;
pub use oauth::PgOAuthStore;
pub use smartobjects::PgSmartObjectStore;
pub use workflow::PgWorkflowStore;

use crate::store::{StoreError, Stores};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::error::SqlState;

/// How the pool is sized and how long anything may take.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Connections at most.
    pub pool_size: usize,
    /// `SET statement_timeout` on every connection: a statement running longer is cancelled (the request
    /// gets [`StoreError::Unavailable`]).
    pub statement_timeout: Duration,
    /// How long a request waits for a connection (to be free, or to be made) before it gets
    /// [`StoreError::Unavailable`].
    pub connect_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            pool_size: 16,
            statement_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// A PostgreSQL database: a pool of connections.
pub struct Database {
    pool: Pool,
}

/// Whether `text` names a PostgreSQL database (`postgres://` or `postgresql://`) rather than a SQLite path.
pub fn is_url(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// `url` with its password (if any) replaced by `***`, for logs and `check` output.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Cannot fail on a URL that already has a password (it has a host).
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<an unparsable PostgreSQL URL>".into(),
    }
}

/// Checks that `url` is a connection string we accept (libpq's `sslmode` values, a readable `sslrootcert`,
/// the rest as the driver understands it); the error never shows the password.
pub fn check_url(url: &str) -> Result<(), String> {
    connection(url).map(drop)
}

/// The driver's configuration and the TLS connector of `url` ([`tls::Settings`]); the error never shows the
/// password.
fn connection(url: &str) -> Result<(tokio_postgres::Config, tls::MakeRustlsConnect), String> {
    let invalid = |e: String| format!("the PostgreSQL URL {} is not valid: {e}", redact(url));
    let settings = tls::Settings::parse(url).map_err(invalid)?;
    let connector = settings.connector().map_err(invalid)?;
    Ok((settings.config, connector))
}

/// The message of a driver error: the server's code and message when it sent one.
fn describe(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(err) {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        },
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        let message = describe(&err);
        match err.code() {
            Some(code) if *code == SqlState::UNIQUE_VIOLATION => StoreError::Conflict(message),
            Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED => {
                StoreError::Conflict(message)
            }
            // The statement timeout, a server shutting down, too many connections...
            Some(code)
                if *code == SqlState::QUERY_CANCELED
                    || *code == SqlState::ADMIN_SHUTDOWN
                    || *code == SqlState::CANNOT_CONNECT_NOW
                    || *code == SqlState::TOO_MANY_CONNECTIONS =>
            {
                StoreError::Unavailable(message)
            }
            Some(_) => StoreError::Backend(message),
            // No server code: the connection failed or was closed.
            None => StoreError::Unavailable(format!("the PostgreSQL server cannot be reached: {message}")),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        match err {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Unavailable(format!("no PostgreSQL connection: {other}")),
        }
    }
}

/// Opens a pool on the database at `url` (a `postgres://` URL or a `key=value` connection string), applies the
/// migrations it lacks ([`migrations::apply`]), and opens both APIs' stores on it.
pub async fn open(url: &str, options: Options) -> Result<Stores, StoreError> {
    let db = Arc::new(Database::open(url, options).await?);
    Ok(Stores {
        workflow: Arc::new(PgWorkflowStore::new(db.clone())),
        smartobjects: Arc::new(PgSmartObjectStore::new(db.clone())),
        oauth: Arc::new(PgOAuthStore::new(db.clone())),
        admin: Arc::new(PgAdminStore::new(db)),
    })
}

/// Connects once to `url` (within `options.connect_timeout`) and runs `SELECT 1` (within
/// `options.statement_timeout`), without migrating: whether the server can be reached, for `authgate check`.
/// The error never shows the password.
pub async fn ping(url: &str, options: Options) -> Result<(), StoreError> {
    let (mut config, tls) = connection(url).map_err(StoreError::Unavailable)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(options.connect_timeout);
    }
    let within = options.connect_timeout + options.statement_timeout;
    let attempt = async {
        let (client, connection) = config.connect(tls).await?;
        let driver = tokio::spawn(connection);
        let answered = client.simple_query("SELECT 1").await.map(drop);
        drop(client);
        let _ = driver.await;
        answered
    };
    match tokio::time::timeout(within, attempt).await {
        Ok(result) => result.map_err(StoreError::from),
        Err(_) => Err(StoreError::Unavailable(format!(
            "the PostgreSQL server did not answer within {within:?}"
        ))),
    }
}

impl Database {
    /// Builds the pool, checks a connection can be made and migrates. The URL's password never appears in
    /// an error.
    pub async fn open(url: &str, options: Options) -> Result<Self, StoreError> {
        let shown = redact(url);
        let (mut config, tls) = connection(url).map_err(StoreError::Unavailable)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("authgate");
        }
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let timeout_ms = options.statement_timeout.as_millis().max(1);
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .post_create(deadpool_postgres::Hook::async_fn(move |client, _| {
                Box::pin(async move {
                    client
                        .batch_execute(&format!("SET statement_timeout = {timeout_ms}"))
                        .await
                        .map_err(deadpool_postgres::HookError::Backend)
                })
            }))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot build the PostgreSQL pool: {e}")))?;
        let db = Self { pool };
        let mut client = db
            .client()
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open the PostgreSQL database {shown}: {e}")))?;
        migrations::apply(&mut client)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot migrate the PostgreSQL database {shown}: {e}")))?;
        Ok(db)
    }

    /// A pooled connection.
    pub async fn client(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised_and_their_passwords_never_shown() {
        assert!(is_url("postgres://db/x"));
        assert!(is_url("PostgreSQL://u@db/x"));
        assert!(!is_url("data/authgate.db"));
        assert!(!is_url("/var/lib/postgres://x"));
        assert_eq!(redact("postgres://u:secret@db:5432/x"), "postgres://u:***@db:5432/x");
        assert_eq!(redact("postgres://u@db/x"), "postgres://u@db/x");
        let err = check_url("postgres://u:secret@db/x?sslmode=bogus").unwrap_err();
        assert!(!err.contains("secret"), "{err}");
        assert!(err.contains("u:***@"), "{err}");
        // A URL the redaction cannot parse is not shown at all.
        let err = check_url("postgres://u:secret@db:notaport/x").unwrap_err();
        assert!(!err.contains("secret"), "{err}");
    }
}
