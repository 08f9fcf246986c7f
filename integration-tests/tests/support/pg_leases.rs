//! How the pool lends connections: a finished statement's connection serves
//! the next one at once (one `Sync` on the wire per statement, no test round
//! trip), a cancelled statement's connection is tested before reuse so no
//! answer lands on the wrong call, and a transaction keeps its connection
//! until it ends. The wire is read through a tap between the pool and the
//! shared server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_core::ErrorCode;
use strata_core::sqldb::{Database, SqlValue};
use strata_providers::postgres::{PostgresDatabase, PostgresOptions, PostgresSslMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::run;
use super::shared::FreshDatabases;

/// A TCP forwarder that keeps a copy of what each client connection sent.
struct Tap {
    port: u16,
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Tap {
    async fn start(target: String) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
        let streams = sent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&target).await.unwrap();
                let index = {
                    let mut streams = streams.lock().unwrap();
                    streams.push(Vec::new());
                    streams.len() - 1
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                });
                let streams = streams.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match from_client.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        streams.lock().unwrap()[index].extend_from_slice(&buf[..n]);
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Tap { port, sent }
    }

    fn connections(&self) -> usize {
        self.sent.lock().unwrap().len()
    }

    /// `Sync` messages sent so far on every connection: one ends each
    /// statement, and one is all sqlx's test of a returned connection sends.
    fn syncs(&self) -> usize {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|stream| message_types(stream).filter(|t| *t == b'S').count())
            .sum()
    }
}

/// The types of the messages a client sent after its startup message (which
/// has no type byte; TLS is off, so no SSLRequest comes first).
fn message_types(stream: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let length = |at: usize| {
        stream
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let mut at = length(0).unwrap_or(stream.len());
    std::iter::from_fn(move || {
        let kind = *stream.get(at)?;
        at += 1 + length(at + 1)?;
        Some(kind)
    })
}

/// A fresh database reached through a tap, with a pool of `size`.
async fn tapped(harness: &FreshDatabases, size: u32) -> (Tap, Database) {
    let (name, url) = harness.create().await;
    // postgres://user@host:port/db?query → host:port
    let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let server = after_scheme.split('/').next().unwrap_or_default();
    let host_port = server.rsplit_once('@').map_or(server, |(_, hp)| hp);
    let target = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    let tap = Tap::start(target.clone()).await;
    let mut options =
        PostgresOptions::new(url.replacen(&target, &format!("127.0.0.1:{}", tap.port), 1));
    options.ssl_mode = Some(PostgresSslMode::Disable);
    options.max_connections = size;
    options.acquire_timeout = Duration::from_millis(500);
    let driver = PostgresDatabase::connect(options).await.unwrap();
    (tap, Database::new(name, Arc::new(driver)))
}

async fn echo(db: &Database, n: i64) -> strata_core::Result<i64> {
    let rows = db
        .query("SELECT $1::int8 AS n", &[SqlValue::Int(n)])
        .await?;
    match rows.first().and_then(|row| row.get("n")) {
        Some(SqlValue::Int(v)) => Ok(*v),
        other => panic!("SELECT {n} answered {other:?}"),
    }
}

/// Sleeps 50 ms on the server, then answers `n`.
async fn slow(db: &Database, n: i64) -> strata_core::Result<Vec<strata_core::sqldb::Row>> {
    db.query("SELECT pg_sleep(0.05), $1::int8 AS n", &[SqlValue::Int(n)])
        .await
}

#[tokio::test]
async fn a_finished_statement_reuses_its_connection_without_a_test_round_trip() {
    run(60, async {
        let harness = FreshDatabases::new().await;
        let (tap, db) = tapped(&harness, 1).await;
        echo(&db, 0).await.unwrap(); // prepares the statement
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = tap.syncs();

        let mut statements = 0;
        for n in 1..=50 {
            assert_eq!(echo(&db, n).await.unwrap(), n);
            statements += 1;
            if n % 10 == 0 {
                // The server's own error leaves the connection at rest too.
                let err = db.query("SELEC broken", &[]).await.unwrap_err();
                assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
                statements += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;

        assert_eq!(
            tap.syncs() - before,
            statements,
            "one Sync per statement; more means connections were tested on their way back"
        );
        assert_eq!(
            tap.connections(),
            2,
            "the check at connect, then one pooled connection"
        );
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn cancelled_statements_are_tested_before_reuse_and_answers_stay_with_their_calls() {
    run(120, async {
        let harness = FreshDatabases::new().await;
        let (tap, db) = tapped(&harness, 1).await;
        slow(&db, 0).await.unwrap(); // prepares both statements
        echo(&db, 0).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = tap.syncs();

        let (mut cancelled, mut answered) = (0, 0);
        for round in 1..=20i64 {
            // Abandoned while the server is still sleeping on it.
            if tokio::time::timeout(Duration::from_millis(5), slow(&db, -round))
                .await
                .is_err()
            {
                cancelled += 1;
            }
            for k in 0..5 {
                let n = round * 100 + k;
                // The only connection is being tested: the call waits for it.
                assert_eq!(echo(&db, n).await.unwrap(), n);
                answered += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;

        assert_eq!(
            cancelled, 20,
            "every slow statement was abandoned mid-flight"
        );
        assert_eq!(answered, 100);
        assert_eq!(
            tap.syncs() - before,
            cancelled * 2 + answered,
            "each abandoned statement's connection was tested once before reuse"
        );
        assert_eq!(tap.connections(), 2, "the tested connection was kept");
        db.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_transaction_keeps_its_connection_until_it_ends() {
    run(60, async {
        let harness = FreshDatabases::new().await;
        let (_tap, db) = tapped(&harness, 1).await;
        db.execute("CREATE TABLE t (id int8 PRIMARY KEY)", &[])
            .await
            .unwrap();

        let mut tx = db.begin().await.unwrap();
        tx.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
        let err = echo(&db, 7).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
        tx.commit().await.unwrap();

        assert_eq!(echo(&db, 8).await.unwrap(), 8);
        let rows = db.query("SELECT count(*) AS c FROM t", &[]).await.unwrap();
        assert_eq!(rows[0].get("c"), Some(&SqlValue::Int(1)));

        // A transaction dropped without commit rolls back and frees the connection.
        let mut tx = db.begin().await.unwrap();
        tx.execute("INSERT INTO t VALUES (2)", &[]).await.unwrap();
        drop(tx);
        let rows = db.query("SELECT count(*) AS c FROM t", &[]).await.unwrap();
        assert_eq!(rows[0].get("c"), Some(&SqlValue::Int(1)));
        db.close().await;
    })
    .await;
}
