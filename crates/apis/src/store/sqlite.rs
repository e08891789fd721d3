//! SQLite plumbing: opening with durable settings, named migrations, and running closures on the blocking
//! pool against the writer (inside an immediate transaction) or one of the readers.

use super::StoreError;
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

impl Database {
    /// Opens (creating if needed) the database at `path` with `readers` read connections.
    pub fn open(path: &Path, readers: usize) -> Result<Self, StoreError> {
        let open_error = |reason: String| StoreError::Open {
            path: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_error(e.to_string()))?;
        }
        let writer = Connection::open(path).map_err(|e| open_error(e.to_string()))?;
        configure(&writer).map_err(|e| open_error(e.to_string()))?;
        writer
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)",
            )
            .map_err(|e| open_error(e.to_string()))?;
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

    /// Applies migration `name` (a batch of SQL) once; later calls with the same name do nothing.
    pub fn migrate(&self, name: &str, sql: &str) -> Result<(), StoreError> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| StoreError::Task("writer lock poisoned".into()))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE name = ?1)",
            [name],
            |row| row.get(0),
        )?;
        if !applied {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?1, strftime('%s','now'))",
                [name],
            )?;
        }
        tx.commit()?;
        Ok(())
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
                .map_err(|_| StoreError::Task("reader lock poisoned".into()))?;
            f(&conn)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
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
            .map_err(|e| StoreError::Task(e.to_string()))?
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
        .map_err(|_| StoreError::Task("writer lock poisoned".into()))?;
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
        let db = Database::open(&dir.path().join("sub/test.db"), 2).unwrap();
        db.migrate(
            "001_items",
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        )
        .unwrap();
        db.migrate(
            "001_items",
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        )
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
