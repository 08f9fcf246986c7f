//! The embedded SQLite default under concurrent writers: writers wait their
//! turn instead of failing with "database is locked".
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use strata_core::sqldb::{Database, SqlValue};
use strata_providers::sqlite::{SqliteDatabase, SqliteOptions};

async fn counter_db(dir: &std::path::Path) -> Database {
    counter_db_with(SqliteOptions::file(dir.join("w.db"))).await
}

async fn counter_db_with(options: SqliteOptions) -> Database {
    let driver = SqliteDatabase::open(options).await.unwrap();
    let db = Database::new("w", Arc::new(driver));
    db.execute("CREATE TABLE c (id INTEGER PRIMARY KEY, n INTEGER)", &[])
        .await
        .unwrap();
    db.execute("INSERT INTO c VALUES (1, 0)", &[])
        .await
        .unwrap();
    db
}

async fn count(db: &Database) -> SqlValue {
    let row = db
        .query_one("SELECT n FROM c WHERE id = 1", &[])
        .await
        .unwrap();
    row.unwrap().get("n").cloned().unwrap()
}

/// Each transaction reads the counter, then writes it plus one: with deferred
/// transactions most of them fail at the upgrade to a write lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_read_then_write_transactions_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    read_then_write_20(counter_db(dir.path()).await).await;
    read_then_write_20(counter_db_with(SqliteOptions::in_memory()).await).await;
}

async fn read_then_write_20(db: Database) {
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut tx = db.begin().await?;
                let row = tx.query_one("SELECT n FROM c WHERE id = 1", &[]).await?;
                let Some(SqlValue::Int(n)) = row.and_then(|r| r.get("n").cloned()) else {
                    panic!("no counter");
                };
                tokio::time::sleep(Duration::from_millis(5)).await;
                tx.execute("UPDATE c SET n = $1 WHERE id = 1", &[SqlValue::Int(n + 1)])
                    .await?;
                tx.commit().await
            })
        })
        .collect();
    let mut failed = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.unwrap() {
            failed.push(e.to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of 20 failed: {failed:?}",
        failed.len()
    );
    assert_eq!(count(&db).await, SqlValue::Int(20), "no update lost");
    db.close().await;
}

/// A write through the pool while a transaction holds the write lock waits
/// for the commit, even past the busy timeout (5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waits_for_an_open_transaction_to_commit() {
    let dir = tempfile::tempdir().unwrap();
    let db = counter_db(dir.path()).await;
    let mut tx = db.begin().await.unwrap();
    tx.execute("UPDATE c SET n = n + 1 WHERE id = 1", &[])
        .await
        .unwrap();
    let writer = {
        let db = db.clone();
        tokio::spawn(async move {
            db.execute("UPDATE c SET n = n + 10 WHERE id = 1", &[])
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    assert!(
        !writer.is_finished(),
        "the write went past the open transaction"
    );
    tx.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(count(&db).await, SqlValue::Int(11));
    db.close().await;
}
