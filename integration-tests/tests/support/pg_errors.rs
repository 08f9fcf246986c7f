//! Bad input gives a typed error naming the cause (and the SQLSTATE when
//! PostgreSQL found it).

use std::time::{Duration, Instant};

use strata_core::sqldb::{Database, SqlValue};
use strata_core::{Error, ErrorCode};
use strata_providers::postgres::{PostgresDatabase, PostgresOptions};

use super::run;
use super::shared::{FreshDatabases, admin_url, url_for};

fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.to_owned())
}

fn expect_err<T: std::fmt::Debug>(
    result: strata_core::Result<T>,
    code: ErrorCode,
    needles: &[&str],
) -> Error {
    let err = result.expect_err("expected an error");
    assert_eq!(err.code(), code, "{err}");
    for needle in needles {
        assert!(
            err.message().contains(needle),
            "{needle:?} missing from: {err}"
        );
    }
    err
}

async fn with_table() -> (FreshDatabases, Database) {
    let dbs = FreshDatabases::new().await;
    let db = dbs.database_with(PostgresOptions::new("")).await;
    db.execute(
        "CREATE TABLE t (id int4 PRIMARY KEY, email text UNIQUE, short varchar(5), \
         small int2, money numeric(5, 2), u uuid)",
        &[],
    )
    .await
    .unwrap();
    (dbs, db)
}

#[tokio::test]
async fn syntax_errors_name_sqlstate_42601() {
    run(60, async {
        let (_dbs, db) = with_table().await;
        expect_err(
            db.query("SELEC id FROM t", &[]).await,
            ErrorCode::InvalidArgument,
            &["42601", "syntax_error", "SELEC"],
        );
        expect_err(
            db.query("SELECT nope FROM missing_table", &[]).await,
            ErrorCode::InvalidArgument,
            &["42P01", "undefined_table", "missing_table"],
        );
        expect_err(
            db.query("SELECT nope FROM t", &[]).await,
            ErrorCode::InvalidArgument,
            &["42703", "nope"],
        );
    })
    .await;
}

#[tokio::test]
async fn unique_violation_is_conflict_naming_the_constraint() {
    run(60, async {
        let (_dbs, db) = with_table().await;
        let insert = "INSERT INTO t (id, email) VALUES ($1, $2)";
        db.execute(insert, &[SqlValue::Int(1), text("a@x")])
            .await
            .unwrap();
        expect_err(
            db.execute(insert, &[SqlValue::Int(2), text("a@x")]).await,
            ErrorCode::Conflict,
            &["23505", "unique_violation", "t_email_key", "a@x"],
        );
    })
    .await;
}

#[tokio::test]
async fn wrong_parameter_count_is_invalid_argument() {
    run(60, async {
        let (_dbs, db) = with_table().await;
        let sql = "SELECT id FROM t WHERE id = $1 AND email = $2";
        expect_err(
            db.query(sql, &[SqlValue::Int(1)]).await,
            ErrorCode::InvalidArgument,
            &["2 placeholder", "1 parameter"],
        );
        expect_err(
            db.query(sql, &[SqlValue::Int(1), text("a"), text("b")])
                .await,
            ErrorCode::InvalidArgument,
            &["2 placeholder", "3 parameter"],
        );
        // The pool is still usable afterwards.
        db.query(sql, &[SqlValue::Int(1), text("a")]).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn wrong_parameter_type_names_the_parameter_its_type_and_the_value() {
    run(60, async {
        let (_dbs, db) = with_table().await;
        expect_err(
            db.execute("INSERT INTO t (id) VALUES ($1)", &[text("abc")])
                .await,
            ErrorCode::InvalidArgument,
            &["$1", "int4", "\"abc\""],
        );
        expect_err(
            db.execute(
                "INSERT INTO t (id, u) VALUES (1, $1)",
                &[SqlValue::Bool(true)],
            )
            .await,
            ErrorCode::InvalidArgument,
            &["$1", "uuid", "Bool"],
        );
        expect_err(
            db.execute(
                "INSERT INTO t (id, u) VALUES (1, $1)",
                &[text("not-a-uuid")],
            )
            .await,
            ErrorCode::InvalidArgument,
            &["not a UUID"],
        );
        expect_err(
            db.execute(
                "INSERT INTO t (id, email) VALUES (1, $1)",
                &[SqlValue::Bytes(vec![1])],
            )
            .await,
            ErrorCode::InvalidArgument,
            &["$1", "text", "Bytes"],
        );
        assert_eq!(db.query("SELECT id FROM t", &[]).await.unwrap().len(), 0);
    })
    .await;
}

#[tokio::test]
async fn values_too_large_for_their_type_are_invalid_argument() {
    run(60, async {
        let (_dbs, db) = with_table().await;
        expect_err(
            db.execute(
                "INSERT INTO t (id, short) VALUES (1, $1)",
                &[text("too long")],
            )
            .await,
            ErrorCode::InvalidArgument,
            &["22001", "string_data_right_truncation", "varying(5)"],
        );
        expect_err(
            db.execute(
                "INSERT INTO t (id, money) VALUES (1, $1)",
                &[SqlValue::Numeric("12345.6".into())],
            )
            .await,
            ErrorCode::InvalidArgument,
            &["22003", "numeric_value_out_of_range"],
        );
        expect_err(
            db.execute(
                "INSERT INTO t (id, small) VALUES (1, $1)",
                &[SqlValue::Int(70_000)],
            )
            .await,
            ErrorCode::InvalidArgument,
            &["$1", "out of range for smallint", "70000"],
        );
        expect_err(
            db.query(
                "SELECT 2147483647::int4 + $1::int4 AS x",
                &[SqlValue::Int(1)],
            )
            .await,
            ErrorCode::InvalidArgument,
            &["22003", "integer out of range"],
        );
    })
    .await;
}

#[tokio::test]
async fn serialization_failure_is_conflict() {
    run(60, async {
        let (_dbs, db) = with_table().await;
        let mut a = db.begin().await.unwrap();
        let mut b = db.begin().await.unwrap();
        for tx in [&mut a, &mut b] {
            tx.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", &[])
                .await
                .unwrap();
            tx.query("SELECT count(*) FROM t", &[]).await.unwrap();
        }
        a.execute("INSERT INTO t (id) VALUES (1)", &[])
            .await
            .unwrap();
        b.execute("INSERT INTO t (id) VALUES (2)", &[])
            .await
            .unwrap();
        a.commit().await.unwrap();
        expect_err(
            b.commit().await,
            ErrorCode::Conflict,
            &["40001", "serialization_failure"],
        );
    })
    .await;
}

#[tokio::test]
async fn statement_timeout_is_timeout() {
    run(60, async {
        let dbs = FreshDatabases::new().await;
        let mut options = PostgresOptions::new("");
        options.statement_timeout = Some(Duration::from_millis(200));
        let db = dbs.database_with(options).await;
        let started = Instant::now();
        expect_err(
            db.query("SELECT pg_sleep(5)", &[]).await,
            ErrorCode::Timeout,
            &["57014"],
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        db.query("SELECT 1 AS one", &[]).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_missing_database_is_not_found() {
    run(60, async {
        let url = url_for(&admin_url(), "strata_no_such_database");
        expect_err(
            PostgresDatabase::connect(PostgresOptions::new(url)).await,
            ErrorCode::NotFound,
            &["3D000", "strata_no_such_database"],
        );
    })
    .await;
}

#[tokio::test]
async fn no_server_on_the_port_is_unavailable_quickly() {
    run(60, async {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut options = PostgresOptions::new(format!("postgres://u:pw@127.0.0.1:{port}/db"));
        options.connect_timeout = Duration::from_secs(3);
        let started = Instant::now();
        let err = expect_err(
            PostgresDatabase::connect(options).await,
            ErrorCode::Unavailable,
            &["u:***@127.0.0.1"],
        );
        assert!(!err.message().contains("pw@"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    })
    .await;
}
