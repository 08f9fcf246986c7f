//! The database conformance suite against [`SqliteDatabase`]: in memory, and
//! on a file in WAL mode.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use strata_core::sqldb::{Database, SqlValue};
use strata_core::testkit::sqldb::{self as suite, DatabaseHarness};
use strata_providers::sqlite::{SqliteDatabase, SqliteOptions};

/// A fresh in-memory database per call.
struct InMemory;

#[async_trait]
impl DatabaseHarness for InMemory {
    async fn database(&self) -> Database {
        let driver = SqliteDatabase::open(SqliteOptions::in_memory())
            .await
            .unwrap();
        Database::new("test", Arc::new(driver))
    }
}

/// A fresh database file per call, in a folder removed with the harness.
struct OnFile {
    dir: tempfile::TempDir,
}

impl OnFile {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
}

#[async_trait]
impl DatabaseHarness for OnFile {
    async fn database(&self) -> Database {
        let path = self
            .dir
            .path()
            .join(format!("{:016x}.db", fastrand::u64(..)));
        let driver = SqliteDatabase::open(SqliteOptions::file(path))
            .await
            .unwrap();
        Database::new("test", Arc::new(driver))
    }
}

/// Every case gets a time limit, so a hang fails instead of blocking CI.
async fn run<F: Future<Output = ()>>(case: F) {
    tokio::time::timeout(Duration::from_secs(60), case)
        .await
        .expect("case timed out");
}

mod in_memory {
    use super::*;

    strata_core::sqldb_conformance! {
        #[tokio::test]
        harness: InMemory,
        run: run,
        skip: {},
    }
}

mod on_file {
    use super::*;

    strata_core::sqldb_conformance! {
        #[tokio::test]
        harness: OnFile::new(),
        run: run,
        skip: {},
    }
}

#[tokio::test]
async fn run_all_passes_in_memory() {
    run(suite::run_all(&InMemory)).await;
}

#[tokio::test]
async fn file_databases_use_wal_and_foreign_keys() {
    run(async {
        let harness = OnFile::new();
        let db = harness.database().await;
        let mode = db
            .query_one("PRAGMA journal_mode", &[])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(mode.values, [SqlValue::Text("wal".to_owned())]);
        let fk = db
            .query_one("PRAGMA foreign_keys", &[])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fk.values, [SqlValue::Int(1)]);
    })
    .await;
}

#[tokio::test]
async fn file_database_keeps_data_across_reopen() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keep.db");
        let db = SqliteDatabase::open(SqliteOptions::file(&path))
            .await
            .unwrap();
        let db = Database::new("keep", Arc::new(db));
        db.execute("CREATE TABLE t (v TEXT)", &[]).await.unwrap();
        db.execute("INSERT INTO t (v) VALUES ($1)", &["kept".into()])
            .await
            .unwrap();
        db.close().await;

        let db = SqliteDatabase::open(SqliteOptions::file(&path))
            .await
            .unwrap();
        let db = Database::new("keep", Arc::new(db));
        let rows = db.query("SELECT v FROM t", &[]).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get("v"), Some(&SqlValue::Text("kept".to_owned())));
    })
    .await;
}

#[tokio::test]
async fn in_memory_databases_are_private_and_shared_by_the_pool() {
    run(async {
        let a = InMemory.database().await;
        let b = InMemory.database().await;
        a.execute("CREATE TABLE only_in_a (v INTEGER)", &[])
            .await
            .unwrap();
        let err = b.query("SELECT * FROM only_in_a", &[]).await.unwrap_err();
        assert_eq!(err.code(), strata_core::ErrorCode::InvalidArgument, "{err}");
        // A table made on one pooled connection is seen by the others: hold
        // one connection in a transaction while the pool answers on another.
        let mut tx = a.begin().await.unwrap();
        tx.query("SELECT * FROM only_in_a", &[]).await.unwrap();
        a.query("SELECT * FROM only_in_a", &[]).await.unwrap();
        tx.commit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn missing_file_without_create_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        create_if_missing: false,
        ..SqliteOptions::file(dir.path().join("absent.db"))
    };
    let err = SqliteDatabase::open(options).await.unwrap_err();
    assert_eq!(err.code(), strata_core::ErrorCode::NotFound, "{err}");
    assert!(err.message().contains("absent.db"), "{err}");
    assert!(!dir.path().join("absent.db").exists());
}

#[tokio::test]
async fn opening_creates_the_folder_of_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/main.db");
    let db = SqliteDatabase::open(SqliteOptions::file(&path))
        .await
        .unwrap();
    let db = Database::new("nested", Arc::new(db));
    db.execute("CREATE TABLE t (v INTEGER)", &[]).await.unwrap();
    assert!(path.exists());
    db.close().await;
}

#[tokio::test]
async fn a_file_that_is_not_a_database_fails_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let err = SqliteDatabase::open(SqliteOptions::file(&path))
        .await
        .unwrap_err();
    assert!(err.message().contains("garbage.db"), "{err}");
}

#[tokio::test]
async fn close_with_an_open_transaction_does_not_hang() {
    run(async {
        let db = InMemory.database().await;
        db.execute("CREATE TABLE t (v INTEGER)", &[]).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        tx.execute("INSERT INTO t (v) VALUES (1)", &[])
            .await
            .unwrap();
        let closing = std::time::Instant::now();
        db.close().await;
        assert!(
            closing.elapsed() < Duration::from_secs(10),
            "close waited {:?}",
            closing.elapsed()
        );
        let err = db.query("SELECT v FROM t", &[]).await.unwrap_err();
        assert_eq!(err.code(), strata_core::ErrorCode::Closed, "{err}");
        // The open transaction keeps its connection until it ends.
        tx.query("SELECT v FROM t", &[]).await.unwrap();
        tx.rollback().await.unwrap();
    })
    .await;
}

/// SQLite stores a bound NaN as NULL, so NaN is refused rather than lost;
/// the infinities are REAL values SQLite keeps.
#[tokio::test]
async fn nan_parameters_are_refused_and_infinities_round_trip() {
    run(async {
        let db = InMemory.database().await;
        db.execute("CREATE TABLE f (id INTEGER PRIMARY KEY, x REAL)", &[])
            .await
            .unwrap();
        let err = db
            .execute(
                "INSERT INTO f (id, x) VALUES (1, $1)",
                &[SqlValue::Float(f64::NAN)],
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), strata_core::ErrorCode::InvalidArgument, "{err}");
        assert!(err.message().contains("NaN"), "{err}");
        assert!(err.message().contains("$1"), "{err}");
        let rows = db.query("SELECT id FROM f", &[]).await.unwrap();
        assert!(rows.is_empty(), "a NaN insert stored {rows:?}");

        for (id, x) in [(2, f64::INFINITY), (3, f64::NEG_INFINITY)] {
            db.execute(
                "INSERT INTO f (id, x) VALUES ($1, $2)",
                &[SqlValue::Int(id), SqlValue::Float(x)],
            )
            .await
            .unwrap();
            let row = db
                .query_one("SELECT x FROM f WHERE id = $1", &[SqlValue::Int(id)])
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.get("x"), Some(&SqlValue::Float(x)));
        }
    })
    .await;
}
