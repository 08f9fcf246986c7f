//! Conformance cases for SQL database providers.
//!
//! A provider implements [`DatabaseHarness`] and runs the cases of
//! the table, [`sqldb_conformance!`](crate::sqldb_conformance), one
//! `#[tokio::test]` each (or [`run_all`]). Cases panic with a message naming the
//! broken behaviour. SQL in the cases is portable (it runs on PostgreSQL and
//! SQLite); where the dialects must differ the case branches on
//! [`DatabaseCapabilities::dialect`](crate::sqldb::DatabaseCapabilities).

// Test code: a failed call is a failed case, reported with its message.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use serde_json::json;

use crate::sqldb::{Database, SqlDialect, SqlValue};
use crate::{Error, ErrorCode};

mod migrations;

pub use migrations::{
    changed_migration_is_rejected, failing_migration_rolls_back_and_names_the_file,
    migrations_apply_once_then_are_idempotent,
};

/// Makes databases of the provider under test.
#[async_trait]
pub trait DatabaseHarness: Send + Sync {
    /// A fresh, empty database (no tables) that no other case uses.
    async fn database(&self) -> Database;
}

fn assert_code<T: std::fmt::Debug>(result: crate::Result<T>, code: ErrorCode, what: &str) -> Error {
    match result {
        Err(err) => {
            assert_eq!(err.code(), code, "{what}: expected {code}, got {err}");
            err
        }
        Ok(v) => panic!("{what}: expected {code}, got Ok({v:?})"),
    }
}

async fn count(db: &Database, table: &str) -> i64 {
    let row = db
        .query_one(&format!("SELECT COUNT(*) AS n FROM {table}"), &[])
        .await
        .unwrap()
        .expect("COUNT(*) returned no row");
    match row.get("n") {
        Some(SqlValue::Int(n)) => *n,
        other => panic!("COUNT(*) returned {other:?}"),
    }
}

async fn create_items(db: &Database) {
    db.execute(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER)",
        &[],
    )
    .await
    .unwrap();
}

fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.to_owned())
}

/// Every value type the provider claims round trips, and so does NULL.
pub async fn types_round_trip(h: &impl DatabaseHarness) {
    let db = h.database().await;
    let caps = db.capabilities().clone();
    let (bytes_type, json_type) = match caps.dialect {
        SqlDialect::Postgres => ("BYTEA", "JSONB"),
        SqlDialect::Sqlite => ("BLOB", "JSON"),
    };
    db.execute(
        &format!(
            "CREATE TABLE typed (id INTEGER PRIMARY KEY, b BOOLEAN, i BIGINT, f DOUBLE PRECISION, \
             n NUMERIC, s TEXT, bin {bytes_type}, j {json_type}, ts TIMESTAMPTZ, u UUID)"
        ),
        &[],
    )
    .await
    .unwrap();
    let columns = ["id", "b", "i", "f", "n", "s", "bin", "j", "ts", "u"];
    // Without JSON support the column is left NULL.
    let json = |value: serde_json::Value| {
        if caps.json {
            SqlValue::Json(value)
        } else {
            SqlValue::Null
        }
    };
    let rows = [
        vec![
            SqlValue::Int(1),
            SqlValue::Bool(true),
            SqlValue::Int(i64::MAX),
            SqlValue::Float(1.5),
            SqlValue::Numeric("12.5".to_owned()),
            text("héllo wörld ✓ 😀 \"quoted\" 'single'"),
            SqlValue::Bytes(vec![0, 1, 0, 255, 0]),
            json(json!({"a": [1, 2.5, {"b": null}], "s": "x ✓", "t": true})),
            SqlValue::Timestamp(1_700_000_000_123_456),
            SqlValue::Uuid("6f9619ff-8b86-d011-b42d-00c04fc964ff".to_owned()),
        ],
        vec![
            SqlValue::Int(2),
            SqlValue::Bool(false),
            SqlValue::Int(i64::MIN),
            SqlValue::Float(-0.25),
            SqlValue::Numeric("-3".to_owned()),
            text(""),
            SqlValue::Bytes(Vec::new()),
            json(json!("just a string")),
            SqlValue::Timestamp(-1_000_000),
            SqlValue::Uuid("00000000-0000-0000-0000-000000000000".to_owned()),
        ],
        std::iter::once(SqlValue::Int(3))
            .chain(std::iter::repeat_n(SqlValue::Null, columns.len() - 1))
            .collect(),
    ];
    for row in &rows {
        let inserted = db
            .execute(
                "INSERT INTO typed (id, b, i, f, n, s, bin, j, ts, u) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                row,
            )
            .await
            .unwrap();
        assert_eq!(inserted, 1);
    }
    let read = db
        .query("SELECT * FROM typed ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(read.len(), rows.len(), "rows read back");
    for (got, want) in read.iter().zip(&rows) {
        assert_eq!(&*got.columns, columns.as_slice(), "column names in order");
        for ((name, got), want) in columns.iter().zip(&got.values).zip(want) {
            assert_eq!(got, want, "column `{name}` did not round trip");
        }
    }

    if caps.arrays {
        db.execute("CREATE TABLE arr (id INTEGER PRIMARY KEY, v BIGINT[])", &[])
            .await
            .unwrap();
        let value = SqlValue::Array(vec![SqlValue::Int(1), SqlValue::Int(-2)]);
        db.execute(
            "INSERT INTO arr (id, v) VALUES (1, $1)",
            std::slice::from_ref(&value),
        )
        .await
        .unwrap();
        let row = db
            .query_one("SELECT v FROM arr", &[])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.get("v"), Some(&value), "array did not round trip");
    } else {
        // A provider without arrays must say so, not store something else.
        let err = db
            .execute(
                "INSERT INTO typed (id, s) VALUES (9, $1)",
                &[SqlValue::Array(vec![SqlValue::Int(1)])],
            )
            .await
            .expect_err("binding an array succeeded on a provider claiming arrays = false");
        assert!(
            matches!(
                err.code(),
                ErrorCode::InvalidArgument | ErrorCode::Unsupported
            ),
            "binding an array: {err}"
        );
    }
}

/// Values are bound, never interpolated: quotes and SQL in them stay data.
pub async fn parameters_are_bound_not_interpolated(h: &impl DatabaseHarness) {
    let db = h.database().await;
    create_items(&db).await;
    let nasty = [
        "Robert'); DROP TABLE items;--",
        "'$1'",
        "$2",
        "\"double\" `back` [bracket] -- comment /* c */",
    ];
    for (i, name) in nasty.iter().enumerate() {
        db.execute(
            "INSERT INTO items (id, name, qty) VALUES ($1, $2, $3)",
            &[SqlValue::Int(i as i64 + 1), text(name), SqlValue::Int(7)],
        )
        .await
        .unwrap();
    }
    assert_eq!(
        count(&db, "items").await,
        nasty.len() as i64,
        "table survived"
    );
    for name in nasty {
        let row = db
            .query_one(
                "SELECT '$1' AS lit, name FROM items WHERE name = $1",
                &[text(name)],
            )
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name:?} not found by binding it"));
        assert_eq!(row.get("name"), Some(&text(name)));
        assert_eq!(
            row.get("lit"),
            Some(&text("$1")),
            "'$1' in a literal is not a placeholder"
        );
    }
    let err = assert_code(
        db.query("SELECT name FROM items WHERE id = $1", &[]).await,
        ErrorCode::InvalidArgument,
        "a placeholder without a parameter",
    );
    assert!(!err.message().is_empty());
}

/// `execute` reports how many rows a statement changed.
pub async fn execute_reports_rows_affected(h: &impl DatabaseHarness) {
    let db = h.database().await;
    create_items(&db).await;
    for id in 1..=3 {
        let n = db
            .execute(
                "INSERT INTO items (id, name, qty) VALUES ($1, $2, $3)",
                &[SqlValue::Int(id), text("x"), SqlValue::Int(id * 10)],
            )
            .await
            .unwrap();
        assert_eq!(n, 1, "an insert affects one row");
    }
    let updated = db
        .execute(
            "UPDATE items SET qty = qty + 1 WHERE qty >= $1",
            &[SqlValue::Int(20)],
        )
        .await
        .unwrap();
    assert_eq!(updated, 2);
    let none = db
        .execute(
            "UPDATE items SET qty = 0 WHERE id = $1",
            &[SqlValue::Int(99)],
        )
        .await
        .unwrap();
    assert_eq!(none, 0);
    assert_eq!(db.execute("DELETE FROM items", &[]).await.unwrap(), 3);
    let row = db.query_one("SELECT * FROM items", &[]).await.unwrap();
    assert_eq!(row, None, "query_one of no rows is None");
}

/// A transaction closure that returns `Ok` commits, and its value comes back.
pub async fn transaction_commit_is_visible(h: &impl DatabaseHarness) {
    let db = h.database().await;
    create_items(&db).await;
    // The closure borrows from this scope.
    let names = vec![text("first"), text("second")];
    let names_ref = &names;
    let inserted = db
        .transaction(|tx| {
            Box::pin(async move {
                let mut n = 0;
                for (id, name) in (1..).zip(names_ref) {
                    n += tx
                        .execute(
                            "INSERT INTO items (id, name) VALUES ($1, $2)",
                            &[SqlValue::Int(id), name.clone()],
                        )
                        .await?;
                }
                let seen = tx.query("SELECT id FROM items", &[]).await?.len();
                assert_eq!(seen, 2, "a transaction sees its own writes");
                Ok(n)
            })
        })
        .await
        .unwrap();
    assert_eq!(inserted, 2);
    assert_eq!(count(&db, "items").await, 2, "committed rows are visible");
}

/// A transaction closure that returns `Err` rolls back; the error comes back.
pub async fn transaction_rolls_back_on_error(h: &impl DatabaseHarness) {
    let db = h.database().await;
    create_items(&db).await;
    let result: crate::Result<()> = db
        .transaction(|tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO items (id, name) VALUES (1, 'doomed')", &[])
                    .await?;
                Err(Error::precondition_failed("business rule says no"))
            })
        })
        .await;
    let err = assert_code(result, ErrorCode::PreconditionFailed, "closure error");
    assert_eq!(
        err.message(),
        "business rule says no",
        "the closure's own error"
    );
    assert_eq!(
        count(&db, "items").await,
        0,
        "nothing of the failed transaction stays"
    );

    // A failing statement inside the closure rolls back the earlier ones.
    let result: crate::Result<()> = db
        .transaction(|tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO items (id, name) VALUES (1, 'a')", &[])
                    .await?;
                tx.execute("INSERT INTO items (id, name) VALUES (1, 'dup')", &[])
                    .await?;
                Ok(())
            })
        })
        .await;
    assert_code(
        result,
        ErrorCode::Conflict,
        "duplicate key inside a transaction",
    );
    assert_eq!(count(&db, "items").await, 0);
}

/// `begin` / `rollback` / `commit` by hand; dropping rolls back.
pub async fn explicit_rollback_discards_and_commit_keeps(h: &impl DatabaseHarness) {
    let db = h.database().await;
    create_items(&db).await;
    let insert = "INSERT INTO items (id, name) VALUES ($1, 'x')";

    let mut tx = db.begin().await.unwrap();
    tx.execute(insert, &[SqlValue::Int(1)]).await.unwrap();
    assert_eq!(
        tx.query("SELECT id FROM items", &[]).await.unwrap().len(),
        1
    );
    tx.rollback().await.unwrap();
    assert_eq!(count(&db, "items").await, 0, "rolled back");

    let mut tx = db.begin().await.unwrap();
    tx.execute(insert, &[SqlValue::Int(2)]).await.unwrap();
    drop(tx);
    assert_eq!(
        count(&db, "items").await,
        0,
        "a dropped transaction rolls back"
    );

    let mut tx = db.begin().await.unwrap();
    tx.execute(insert, &[SqlValue::Int(3)]).await.unwrap();
    let row = tx
        .query_one("SELECT id FROM items", &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.get("id"), Some(&SqlValue::Int(3)));
    tx.commit().await.unwrap();
    assert_eq!(count(&db, "items").await, 1, "committed");
}

/// The declared dialect is the engine's: its own version function answers.
pub async fn dialect_matches_the_engine(h: &impl DatabaseHarness) {
    let db = h.database().await;
    let (sql, other) = match db.capabilities().dialect {
        SqlDialect::Sqlite => ("SELECT sqlite_version() AS v", "SELECT version() AS v"),
        SqlDialect::Postgres => (
            "SELECT current_setting('server_version') AS v",
            "SELECT sqlite_version() AS v",
        ),
    };
    let row = db.query_one(sql, &[]).await.unwrap().unwrap();
    assert!(
        matches!(row.get("v"), Some(SqlValue::Text(v)) if !v.is_empty()),
        "{sql} returned {row:?}"
    );
    assert_code(
        db.query(other, &[]).await,
        ErrorCode::InvalidArgument,
        "the other dialect's version function",
    );
}

/// Bad SQL is `InvalidArgument`.
pub async fn syntax_error_is_invalid_argument(h: &impl DatabaseHarness) {
    let db = h.database().await;
    assert_code(
        db.query("SELEC 1", &[]).await,
        ErrorCode::InvalidArgument,
        "SELEC 1",
    );
    assert_code(
        db.execute("CREATE TABLE (", &[]).await,
        ErrorCode::InvalidArgument,
        "CREATE TABLE (",
    );
    assert_code(
        db.query("SELECT nope FROM missing_table", &[]).await,
        ErrorCode::InvalidArgument,
        "unknown table",
    );
    let mut tx = db.begin().await.unwrap();
    assert_code(
        tx.execute_script("BOGUS;").await,
        ErrorCode::InvalidArgument,
        "script",
    );
}

/// A NUL byte in SQL text is `InvalidArgument` at once (SQLite used to spin on
/// it and lose the connection), in statements and transactions alike, and the
/// database keeps working; a NUL in a bound value is data for the engine.
pub async fn nul_in_sql_is_invalid_argument(h: &impl DatabaseHarness) {
    let db = h.database().await;
    for sql in ["SELECT 1\0", "SELECT\0 1", "\0"] {
        let result = promptly("query", db.query(sql, &[])).await;
        assert_code(result, ErrorCode::InvalidArgument, "query with a NUL");
        let result = promptly("execute", db.execute(sql, &[])).await;
        assert_code(result, ErrorCode::InvalidArgument, "execute with a NUL");
    }
    let mut tx = db.begin().await.unwrap();
    let result = promptly("tx.query", tx.query("SELECT 2\0", &[])).await;
    assert_code(result, ErrorCode::InvalidArgument, "tx.query with a NUL");
    let result = promptly("tx.execute_script", tx.execute_script("SELECT 2;\0")).await;
    assert_code(result, ErrorCode::InvalidArgument, "a script with a NUL");
    tx.rollback().await.unwrap();
    // A NUL in a bound value is data, for the engine to judge: SQLite stores
    // it in text; PostgreSQL's text type cannot hold it (bytea can).
    let bound = db.query_one("SELECT $1 AS v", &[text("a\0b")]).await;
    match db.capabilities().dialect {
        SqlDialect::Sqlite => {
            let row = bound.unwrap().expect("a row");
            assert_eq!(row.get("v"), Some(&text("a\0b")), "a NUL in bound text");
        }
        SqlDialect::Postgres => {
            assert_code(bound, ErrorCode::InvalidArgument, "a NUL in bound text");
        }
    }
    let row = db.query_one("SELECT 1 AS one", &[]).await.unwrap();
    assert_eq!(
        row.and_then(|r| r.get("one").cloned()),
        Some(SqlValue::Int(1)),
        "the database works after refusing NUL"
    );
}

/// `call`'s result, failing the case if it takes more than five seconds.
async fn promptly<T>(what: &str, call: impl Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(5), call)
        .await
        .unwrap_or_else(|_| panic!("{what} did not settle within 5 s"))
}

/// A unique violation is `Conflict`; other constraint violations are
/// `InvalidArgument`.
pub async fn constraint_violations_map_to_conflict_or_invalid(h: &impl DatabaseHarness) {
    let db = h.database().await;
    db.execute_script(
        "CREATE TABLE parents (id INTEGER PRIMARY KEY, email TEXT UNIQUE, \
             age INTEGER CHECK (age >= 0), name TEXT NOT NULL);\n\
         CREATE TABLE children (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parents (id));",
    )
    .await
    .unwrap();
    let insert = "INSERT INTO parents (id, email, age, name) VALUES ($1, $2, $3, $4)";
    let row = |id: i64, email: &str, age: i64, name: Option<&str>| {
        vec![
            SqlValue::Int(id),
            text(email),
            SqlValue::Int(age),
            name.into(),
        ]
    };
    db.execute(insert, &row(1, "a@x", 30, Some("A")))
        .await
        .unwrap();
    assert_code(
        db.execute(insert, &row(2, "a@x", 30, Some("B"))).await,
        ErrorCode::Conflict,
        "unique",
    );
    assert_code(
        db.execute(insert, &row(1, "b@x", 30, Some("B"))).await,
        ErrorCode::Conflict,
        "primary key",
    );
    assert_code(
        db.execute(insert, &row(3, "c@x", -1, Some("C"))).await,
        ErrorCode::InvalidArgument,
        "check",
    );
    assert_code(
        db.execute(insert, &row(4, "d@x", 1, None)).await,
        ErrorCode::InvalidArgument,
        "not null",
    );
    assert_code(
        db.execute("INSERT INTO children (id, parent_id) VALUES (1, 99)", &[])
            .await,
        ErrorCode::InvalidArgument,
        "foreign key",
    );
    assert_eq!(count(&db, "parents").await, 1);
}

/// After `close`, every call is `Closed`.
pub async fn query_after_close_is_closed(h: &impl DatabaseHarness) {
    let db = h.database().await;
    db.query("SELECT 1 AS one", &[]).await.unwrap();
    db.close().await;
    assert_code(
        db.query("SELECT 1 AS one", &[]).await,
        ErrorCode::Closed,
        "query after close",
    );
    assert_code(
        db.execute("SELECT 1", &[]).await,
        ErrorCode::Closed,
        "execute after close",
    );
    assert_code(db.begin().await, ErrorCode::Closed, "begin after close");
}

/// Fifty concurrent queries (half writes) all succeed on the pool.
pub async fn concurrent_queries_share_the_pool(h: &impl DatabaseHarness) {
    let db = h.database().await;
    create_items(&db).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    db.execute(
                        "INSERT INTO items (id, name, qty) VALUES ($1, $2, $3)",
                        &[SqlValue::Int(i), text("c"), SqlValue::Int(i)],
                    )
                    .await
                    .map(|_| ())
                } else {
                    db.query(
                        "SELECT id, name FROM items WHERE qty < $1",
                        &[SqlValue::Int(i)],
                    )
                    .await
                    .map(|_| ())
                }
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await {
            Ok(Ok(())) => ok += 1,
            Ok(Err(err)) => panic!("a concurrent query failed: {err}"),
            Err(join) => panic!("a concurrent query panicked: {join}"),
        }
    }
    assert_eq!(ok, 50);
    assert_eq!(
        count(&db, "items").await,
        25,
        "every concurrent insert landed"
    );
}

/// The database case table, and the tests it makes for one harness.
///
/// ```ignore
/// strata_core::sqldb_conformance! {
///     #[tokio::test]      // the attributes of every test
///     harness: MyHarness::new().await,  // made afresh per test
///     run: run,           // optional: wraps each case's future
///     skip: { some_case: "why this provider does not run it" },
/// }
/// ```
///
/// expands to one test per case, named after the case; a skipped case is
/// `#[ignore = "why"]`. A skip that names no case, or one case twice, does
/// not compile. See [the testkit](crate::testkit).
#[macro_export]
macro_rules! sqldb_conformance {
    (@table $then:path { $($args:tt)* }) => {
        $then! {
            ($)
            [
                types_round_trip,
                parameters_are_bound_not_interpolated,
                execute_reports_rows_affected,
                transaction_commit_is_visible,
                transaction_rolls_back_on_error,
                explicit_rollback_discards_and_commit_keeps,
                migrations_apply_once_then_are_idempotent,
                changed_migration_is_rejected,
                failing_migration_rolls_back_and_names_the_file,
                dialect_matches_the_engine,
                syntax_error_is_invalid_argument,
                nul_in_sql_is_invalid_argument,
                constraint_violations_map_to_conflict_or_invalid,
                query_after_close_is_closed,
                concurrent_queries_share_the_pool,
            ]
            $($args)*
        }
    };
    ($($args:tt)*) => {
        $crate::sqldb_conformance! { @table $crate::__conformance_tests { sqldb $($args)* } }
    };
}

crate::sqldb_conformance! { @table crate::testkit::case_list { DatabaseHarness } }
