//! The SQLite backend: [`Database`] (opening with durable settings and the versioned [`migrations`], running
//! closures on the blocking pool against the writer inside an immediate transaction or one of the readers),
//! the stores of both APIs on it ([`workflow`], [`smartobjects`]) and the OData query dialect ([`query`]).
//! rusqlite is named nowhere else.

pub mod admin;
pub mod migrations;
pub mod oauth;
pub mod query;
pub mod smartobjects;
pub mod workflow;

pub use admin::SqliteAdminStore;
pub use oauth::SqliteOAuthStore;
pub use smartobjects::SqliteSmartObjectStore;
pub use workflow::SqliteWorkflowStore;

use crate::store::{StoreError, Stores};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A SQLite database: one writer connection, several readers (WAL lets them read while it writes).
pub struct Database {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Vec<Arc<Mutex<Connection>>>,
    next_reader: AtomicUsize,
}

/// Registers `unicode_lower(text)` and `unicode_upper(text)`: SQLite's own `lower`/`upper` map ASCII only.
/// NULL stays NULL; a non-text value is returned unchanged.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    use rusqlite::types::{Value, ValueRef};
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    for (name, map) in [
        ("unicode_lower", str::to_lowercase as fn(&str) -> String),
        ("unicode_upper", str::to_uppercase),
    ] {
        conn.create_scalar_function(name, 1, flags, move |ctx| {
            Ok(match ctx.get_raw(0) {
                ValueRef::Text(t) => Value::Text(map(&String::from_utf8_lossy(t))),
                other => Value::from(other),
            })
        })?;
    }
    Ok(())
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    register_functions(conn)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // WAL: readers never block the writer. synchronous=FULL: a commit that returned is on disk, so an
    // acknowledged request survives a crash of the process or the machine.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Backend(err.to_string())
    }
}

/// Opens (creating and migrating if needed) the database at `path` with `readers` read connections, on the
/// blocking pool, and both APIs' stores on it.
pub async fn open(path: &Path, readers: usize) -> Result<Stores, StoreError> {
    let path = path.to_path_buf();
    let db = tokio::task::spawn_blocking(move || Database::open(&path, readers))
        .await
        .map_err(|e| StoreError::Backend(format!("storage task failed: {e}")))??;
    let db = Arc::new(db);
    Ok(Stores {
        workflow: Arc::new(SqliteWorkflowStore::new(db.clone())),
        smartobjects: Arc::new(SqliteSmartObjectStore::new(db.clone())),
        oauth: Arc::new(SqliteOAuthStore::new(db.clone())),
        admin: Arc::new(SqliteAdminStore::new(db)),
    })
}

impl Database {
    /// Opens (creating if needed) the database at `path` with `readers` read connections, and applies the
    /// migrations it lacks ([`migrations::apply`]). Blocks.
    pub fn open(path: &Path, readers: usize) -> Result<Self, StoreError> {
        let open_error =
            |reason: String| StoreError::Unavailable(format!("cannot open the database {}: {reason}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_error(e.to_string()))?;
        }
        let mut writer = Connection::open(path).map_err(|e| open_error(e.to_string()))?;
        configure(&writer).map_err(|e| open_error(e.to_string()))?;
        migrations::apply(&mut writer).map_err(|e| open_error(e.to_string()))?;
        let mut pool = Vec::new();
        for _ in 0..readers.max(1) {
            let reader = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
            )
            .map_err(|e| open_error(e.to_string()))?;
            reader
                .busy_timeout(Duration::from_secs(5))
                .and_then(|()| register_functions(&reader))
                .map_err(|e| open_error(e.to_string()))?;
            pool.push(Arc::new(Mutex::new(reader)));
        }
        Ok(Self {
            path: path.to_path_buf(),
            writer: Arc::new(Mutex::new(writer)),
            readers: pool,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a reader connection, on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let index = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let reader = self.readers[index].clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader
                .lock()
                .map_err(|_| StoreError::Backend("reader lock poisoned".into()))?;
            f(&conn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("storage task failed: {e}")))?
    }

    /// Runs `f` inside an immediate (write-locking) transaction on the writer, on the blocking pool; commits
    /// when `f` returns `Ok`, rolls back otherwise. Writes are serialised, so read-check-write inside `f` is
    /// race-free.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || write_on(&writer, f))
            .await
            .map_err(|e| StoreError::Backend(format!("storage task failed: {e}")))?
    }

    /// [`Database::write`] on the calling thread, for start-up and reload work (schema changes) that must be
    /// done before the caller goes on.
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    {
        write_on(&self.writer, f)
    }
}

fn write_on<T, F>(writer: &Mutex<Connection>, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
{
    let mut conn = writer
        .lock()
        .map_err(|_| StoreError::Backend("writer lock poisoned".into()))?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let value = f(&tx)?;
    tx.commit()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_apply_once_and_writes_are_visible_to_readers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/test.db");
        drop(Database::open(&path, 2).unwrap());
        let db = Database::open(&path, 2).unwrap();
        let versions = db.read(migrations::applied).await.unwrap();
        let all: Vec<i64> = migrations::MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(versions, all, "each migration applied once");
        db.write(|tx| Ok(tx.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")?))
            .await
            .unwrap();
        db.write(|tx| Ok(tx.execute("INSERT INTO items (name) VALUES ('a')", [])?))
            .await
            .unwrap();
        let failed: Result<(), StoreError> = db
            .write(|tx| {
                tx.execute("INSERT INTO items (name) VALUES ('rolled back')", [])?;
                Err(StoreError::Conflict("no".into()))
            })
            .await;
        assert!(failed.is_err());
        let names: Vec<String> = db
            .read(|c| {
                let mut stmt = c.prepare("SELECT name FROM items ORDER BY id")?;
                let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
                Ok(rows)
            })
            .await
            .unwrap();
        assert_eq!(names, vec!["a".to_string()]);
        let mode: String = db
            .read(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
