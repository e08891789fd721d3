//! The store conformance suite (`authgate_apis::store::conformance`) against every backend: each is a
//! factory of fresh stores on an empty database. SQLite gets a file in a temporary directory; PostgreSQL a
//! fresh database (`CREATE DATABASE`) on one cluster the test starts for the whole suite.

use crate::servers::postgres::Postgres;
use authgate_apis::store::conformance::{run_all, Fresh};
use authgate_apis::store::postgres;
use std::sync::Arc;

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

fn options() -> postgres::Options {
    postgres::Options {
        pool_size: 4,
        ..postgres::Options::default()
    }
}

/// Starts a cluster on a runtime of its own (the suite runs on another).
fn cluster() -> Arc<Postgres> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    Arc::new(runtime.block_on(Postgres::start()))
}

#[test]
fn postgres_conforms_to_the_store_traits() {
    let server = cluster();
    let factory = {
        let server = server.clone();
        move || -> std::pin::Pin<Box<dyn std::future::Future<Output = Fresh> + Send>> {
            let server = server.clone();
            Box::pin(async move {
                let url = server.create_database();
                let stores = postgres::open(&url, options())
                    .await
                    .unwrap_or_else(|e| panic!("the database opens: {e}"));
                Fresh {
                    stores,
                    guard: Box::new(server),
                }
            })
        }
    };
    run_all(&factory);
}

/// Replicas starting together on an empty database: both opens succeed and each migration is applied (and
/// recorded) once, because the migrations run under an advisory lock.
#[test]
fn postgres_migrations_run_once_when_replicas_open_together() {
    let server = cluster();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    for _ in 0..3 {
        let url = server.create_database();
        let name = url.rsplit('/').next().expect("a database name").to_string();
        let (a, b, c) = runtime.block_on(async {
            tokio::join!(
                postgres::open(&url, options()),
                postgres::open(&url, options()),
                postgres::open(&url, options())
            )
        });
        for opened in [a, b, c] {
            if let Err(e) = opened {
                panic!("every replica opens: {e}");
            }
        }
        assert_eq!(
            server.psql(&name, "SELECT version, name FROM schema_migrations ORDER BY version"),
            "1|workflow_001\n2|workflow_002\n3|odata_statistics_001\n4|oauth_001\n5|admin_001\n6|admin_002\n"
        );
        runtime
            .block_on(postgres::open(&url, options()))
            .unwrap_or_else(|e| panic!("opening again is a no-op: {e}"));
    }
}

/// The URL's password never appears in an error (the log and `check` print them).
#[test]
fn postgres_errors_never_show_the_password() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let port = crate::support::free_port();
    let url = format!("postgres://authgate:s3cret-pw@127.0.0.1:{port}/nothing");
    let err = match runtime.block_on(postgres::open(
        &url,
        postgres::Options {
            connect_timeout: std::time::Duration::from_secs(2),
            ..options()
        },
    )) {
        Ok(_) => panic!("nothing listens on port {port}"),
        Err(e) => e.to_string(),
    };
    assert!(!err.contains("s3cret-pw"), "{err}");
    assert!(err.contains("127.0.0.1"), "the error names the server: {err}");
    assert_eq!(
        postgres::redact("postgresql://u:p%40ss@db.example:5432/x?sslmode=require"),
        "postgresql://u:***@db.example:5432/x?sslmode=require"
    );
}
