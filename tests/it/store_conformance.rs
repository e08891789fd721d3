//! The store conformance suite (`authgate_apis::store::conformance`) against every backend: each is a
//! factory of fresh stores on an empty database. A new backend (PostgreSQL) adds its factory here.

use authgate_apis::store::conformance::{run_all, Fresh};

/// SQLite: a database file in a fresh temporary directory.
fn sqlite() -> std::pin::Pin<Box<dyn std::future::Future<Output = Fresh> + Send>> {
    Box::pin(async {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let stores = authgate_apis::store::sqlite::open(&dir.path().join("conformance.db"), 2)
            .await
            .expect("the database opens");
        Fresh {
            stores,
            guard: Box::new(dir),
        }
    })
}

#[test]
fn sqlite_conforms_to_the_store_traits() {
    run_all(&sqlite);
}
