//! Faults on private clusters: a restart under load, wrong passwords, TLS
//! modes, and the local PostgreSQL that Strata starts itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use strata_core::ErrorCode;
use strata_core::sqldb::{Database, DatabaseDriver, SqlValue};
use strata_providers::postgres::{
    LocalPostgresDatabase, LocalPostgresOptions, PostgresDatabase, PostgresOptions, PostgresSslMode,
};

use super::private::{self, make_tls_files};
use super::run;

async fn connect(options: PostgresOptions) -> Database {
    let driver = PostgresDatabase::connect(options).await.unwrap();
    Database::new("private", Arc::new(driver))
}

#[tokio::test]
async fn restart_under_load_fails_in_flight_calls_with_unavailable_then_heals() {
    run(240, async {
        let cluster = private::start(None, Vec::new()).await;
        let mut options = PostgresOptions::new(cluster.server.url("postgres"));
        options.max_connections = 8;
        options.acquire_timeout = Duration::from_secs(10);
        let db = connect(options).await;
        db.execute("CREATE TABLE hits (id int8 PRIMARY KEY)", &[])
            .await
            .unwrap();

        const TOTAL: usize = 1_000;
        const CONCURRENCY: usize = 16;
        let next = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let ok_inserts = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..CONCURRENCY {
            let (db, next, done, ok_inserts) =
                (db.clone(), next.clone(), done.clone(), ok_inserts.clone());
            workers.push(tokio::spawn(async move {
                let (mut ok, mut unavailable, mut other) = (0usize, 0usize, Vec::new());
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= TOTAL {
                        break;
                    }
                    let id = SqlValue::Int(i64::try_from(i).unwrap());
                    // Half writes, half short sleeps, so calls are in flight
                    // whenever the server goes down.
                    let call = async {
                        if i % 2 == 0 {
                            db.execute("INSERT INTO hits (id) VALUES ($1)", &[id])
                                .await
                                .map(|_| true)
                        } else {
                            db.query("SELECT pg_sleep(0.005), $1::int8 AS id", &[id])
                                .await
                                .map(|_| false)
                        }
                    };
                    match tokio::time::timeout(Duration::from_secs(30), call).await {
                        Ok(Ok(inserted)) => {
                            ok += 1;
                            if inserted {
                                ok_inserts.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok(Err(err)) if err.code() == ErrorCode::Unavailable => unavailable += 1,
                        Ok(Err(err)) => other.push(err.to_string()),
                        Err(_) => other.push(format!("call {i} hung for 30 s")),
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                (ok, unavailable, other)
            }));
        }

        // Restart once a fifth of the load is done.
        while done.load(Ordering::Relaxed) < TOTAL / 5 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        cluster.server.restart().await.unwrap();
        let done_at_restart = done.load(Ordering::Relaxed);

        let (mut ok, mut unavailable, mut other) = (0, 0, Vec::new());
        for worker in workers {
            let (o, u, e) = worker.await.expect("a worker panicked");
            ok += o;
            unavailable += u;
            other.extend(e);
        }
        println!(
            "restart under load: {TOTAL} calls, {ok} ok, {unavailable} Unavailable, {} other; \
             restart finished after {done_at_restart} calls",
            other.len()
        );
        assert!(other.is_empty(), "unexpected errors: {other:?}");
        assert_eq!(ok + unavailable, TOTAL, "every call answered");
        assert!(
            unavailable > 0,
            "no call was in flight when the server restarted"
        );
        assert!(ok > TOTAL / 2, "most calls succeed ({ok})");

        // The pool healed: every later call succeeds.
        for i in 0..20 {
            db.query("SELECT $1::int8 AS i", &[SqlValue::Int(i)])
                .await
                .unwrap();
        }
        // Every acknowledged insert is there.
        let row = db
            .query_one("SELECT count(*) AS n FROM hits", &[])
            .await
            .unwrap()
            .unwrap();
        let stored = match row.get("n") {
            Some(SqlValue::Int(n)) => usize::try_from(*n).unwrap(),
            other => panic!("count returned {other:?}"),
        };
        assert!(
            stored >= ok_inserts.load(Ordering::Relaxed),
            "{stored} rows stored but {} inserts acknowledged",
            ok_inserts.load(Ordering::Relaxed)
        );
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn wrong_password_is_permission_denied_and_never_shown() {
    run(180, async {
        let right = "Right-Pa55word";
        let wrong = "Wr0ng+Secret/Pass";
        let cluster = private::start(Some(right), Vec::new()).await;
        let good_url = cluster.server.url("postgres");
        let port = cluster.server.port();
        let encoded = "Wr0ng%2BSecret%2FPass";
        for url in [
            format!("postgres://postgres:{encoded}@127.0.0.1:{port}/postgres"),
            format!("postgres://postgres@127.0.0.1:{port}/postgres?password={encoded}"),
        ] {
            let err = PostgresDatabase::connect(PostgresOptions::new(url))
                .await
                .expect_err("a wrong password connected");
            assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
            assert!(err.message().contains("28P01"), "{err}");
            let shown = format!("{err} {err:?} {:?}", std::error::Error::source(&err));
            for secret in [wrong, encoded, right] {
                assert!(!shown.contains(secret), "{secret:?} appears in: {shown}");
            }
            assert!(shown.contains("***"), "the URL is shown redacted: {shown}");
        }
        let db = connect(PostgresOptions::new(good_url.clone())).await;
        db.query("SELECT 1 AS one", &[]).await.unwrap();
        let driver = PostgresDatabase::connect(PostgresOptions::new(good_url))
            .await
            .unwrap();
        assert!(!format!("{driver:?}").contains(right));
        assert!(!driver.redacted_url().contains(right));
    })
    .await;
}

#[tokio::test]
async fn tls_modes_verify_the_server_against_the_given_ca() {
    run(180, async {
        let dir = tempfile::tempdir().unwrap();
        let tls = make_tls_files(dir.path());
        let settings = vec![
            ("ssl".to_owned(), "on".to_owned()),
            ("ssl_cert_file".to_owned(), tls.cert.display().to_string()),
            ("ssl_key_file".to_owned(), tls.key.display().to_string()),
        ];
        let cluster = private::start_in(dir, None, settings).await;
        let port = cluster.server.port();
        let uses_tls = |db: Database| async move {
            let row = db
                .query_one(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )
                .await
                .unwrap()
                .unwrap();
            db.close().await;
            row.values[0] == SqlValue::Bool(true)
        };
        let options = |host: &str, mode: PostgresSslMode, ca: Option<&std::path::Path>| {
            let mut o = PostgresOptions::new(format!("postgres://postgres@{host}:{port}/postgres"));
            o.ssl_mode = Some(mode);
            o.ssl_root_cert = ca.map(std::path::Path::to_path_buf);
            o
        };
        for host in ["127.0.0.1", "localhost"] {
            let db = connect(options(host, PostgresSslMode::VerifyFull, Some(&tls.ca))).await;
            assert!(uses_tls(db).await, "verify-full to {host} uses TLS");
        }
        let db = connect(options(
            "127.0.0.1",
            PostgresSslMode::VerifyCa,
            Some(&tls.ca),
        ))
        .await;
        assert!(uses_tls(db).await);
        let db = connect(options("127.0.0.1", PostgresSslMode::Require, None)).await;
        assert!(uses_tls(db).await, "require uses TLS without checking");
        let db = connect(options("127.0.0.1", PostgresSslMode::Disable, None)).await;
        assert!(!uses_tls(db).await, "disable does not use TLS");

        let err = PostgresDatabase::connect(options(
            "127.0.0.1",
            PostgresSslMode::VerifyFull,
            Some(&tls.other_ca),
        ))
        .await
        .expect_err("a server signed by another CA was trusted");
        assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
        assert!(err.message().contains("TLS"), "{err}");
        let err = PostgresDatabase::connect(options(
            "127.0.0.1",
            PostgresSslMode::VerifyFull,
            Some(std::path::Path::new("/no/such/ca.pem")),
        ))
        .await
        .expect_err("a missing CA file was accepted");
        assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
        assert!(err.message().contains("/no/such/ca.pem"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn local_postgres_starts_keeps_data_and_stops_on_close() {
    run(240, async {
        let dir = tempfile::tempdir().unwrap();
        let start = || {
            LocalPostgresDatabase::start(
                LocalPostgresOptions::for_database(dir.path(), "main"),
                PostgresOptions::new(""),
            )
        };
        let local = start().await.unwrap();
        assert!(local.server().dir().ends_with(".strata/postgres/main"));
        let port = local.server().port();
        local
            .execute("CREATE TABLE kept (v text)", &[])
            .await
            .unwrap();
        local
            .execute(
                "INSERT INTO kept VALUES ($1)",
                &[SqlValue::Text("x".into())],
            )
            .await
            .unwrap();
        local.close().await;
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "the server still listens after close"
        );

        let again = start().await.unwrap();
        let rows = again.query("SELECT v FROM kept", &[]).await.unwrap();
        assert_eq!(rows.len(), 1, "data survives a restart of the local server");
        again.close().await;
        drop(again);
    })
    .await;
}
