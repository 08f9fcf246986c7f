//! PostgreSQL with a short-lived password (the shape of RDS IAM, Entra ID and
//! Cloud SQL IAM auth), against a private server that checks passwords
//! (scram-sha-256): the pool opens connections with the current token and
//! keeps connecting after the token rotates; a missing or wrong token is a
//! typed error that never shows the token.
//!
//! The token source here hands out whatever password the server currently
//! has; the cloud sources themselves (e.g. `strata_aws::RdsAuthTokenSource`)
//! are unit-tested for their token format.

#![allow(clippy::unwrap_used)]

#[path = "support/pg_private.rs"]
#[allow(dead_code)] // the TLS helpers are for other tests
mod pg_private;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use strata_core::sqldb::{AuthToken, AuthTokenSource, CachedToken, DatabaseDriver, SqlValue};
use strata_core::{Error, ErrorCode, Result};
use strata_providers::postgres::{PostgresDatabase, PostgresOptions};

/// Hands out the password the test last set, valid for `lifetime`; or fails
/// while `fail` is set.
#[derive(Debug)]
struct RotatingPassword {
    password: Mutex<String>,
    lifetime: Duration,
    fetches: AtomicU32,
    fail: Mutex<Option<String>>,
}

impl RotatingPassword {
    fn new(password: &str, lifetime: Duration) -> Arc<Self> {
        Arc::new(Self {
            password: Mutex::new(password.to_owned()),
            lifetime,
            fetches: AtomicU32::new(0),
            fail: Mutex::new(None),
        })
    }

    fn set(&self, password: &str) {
        *self.password.lock().unwrap() = password.to_owned();
    }
}

#[async_trait]
impl AuthTokenSource for RotatingPassword {
    async fn fetch(&self) -> Result<AuthToken> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        if let Some(reason) = self.fail.lock().unwrap().clone() {
            return Err(Error::permission_denied(reason));
        }
        let secret = self.password.lock().unwrap().clone();
        Ok(AuthToken::new(secret, SystemTime::now() + self.lifetime))
    }

    fn describe(&self) -> String {
        "test auth token".to_owned()
    }
}

/// Connects to `cluster` as `postgres` with no password in the URL: the
/// token from `source` (refreshed `margin` before expiry) is the password.
async fn connect(
    cluster: &pg_private::PrivateCluster,
    source: Arc<RotatingPassword>,
    margin: Duration,
    pool_size: u32,
) -> Result<PostgresDatabase> {
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        cluster.server.port()
    );
    let mut options = PostgresOptions::new(url);
    options.max_connections = pool_size;
    options.connect_timeout = Duration::from_secs(10);
    options.acquire_timeout = Duration::from_secs(10);
    PostgresDatabase::connect_with_auth_token(options, CachedToken::new(source).with_margin(margin))
        .await
}

#[tokio::test]
async fn new_connections_use_the_token_current_at_their_opening() {
    let cluster = pg_private::start(Some("token-1"), Vec::new()).await;
    // Tokens live 1.5 s and are replaced 1 s before expiry: every ~0.5 s.
    let source = RotatingPassword::new("token-1", Duration::from_millis(1_500));
    let db = connect(&cluster, source.clone(), Duration::from_secs(1), 8)
        .await
        .unwrap();
    let one = db.query("SELECT 1 AS one", &[]).await.unwrap();
    assert_eq!(one[0].get("one"), Some(&SqlValue::Int(1)));

    // The server rotates the password; the source follows, as IAM would.
    db.execute("ALTER ROLE postgres PASSWORD 'token-2'", &[])
        .await
        .unwrap();
    source.set("token-2");
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    // Eight concurrent sleeps need eight connections: at least seven are new,
    // and each new one authenticates with the refreshed token.
    let calls = (0..8).map(|_| db.query("SELECT pg_sleep(0.3)::text AS slept", &[]));
    let results = futures::future::join_all(calls).await;
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failed.is_empty(), "{failed:?}");
    let connections = db
        .query(
            "SELECT count(*)::int8 AS n FROM pg_stat_activity WHERE backend_type = 'client backend'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(connections[0].get("n"), Some(&SqlValue::Int(8)));
    assert!(source.fetches.load(Ordering::SeqCst) >= 2);
    db.close().await;
}

#[tokio::test]
async fn a_wrong_token_is_permission_denied_without_the_token() {
    let cluster = pg_private::start(Some("right-token"), Vec::new()).await;
    let source = RotatingPassword::new("wrong-token-d41d8cd9", Duration::from_secs(900));
    let err = connect(&cluster, source.clone(), CachedToken::DEFAULT_MARGIN, 2)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("wrong-token-d41d8cd9"), "{shown}");
}

#[tokio::test]
async fn no_token_to_be_had_fails_the_connect_naming_the_source() {
    let cluster = pg_private::start(Some("right-token"), Vec::new()).await;
    let source = RotatingPassword::new("right-token", Duration::from_secs(900));
    *source.fail.lock().unwrap() = Some("no AWS credentials to sign the token with".into());
    let err = connect(&cluster, source.clone(), CachedToken::DEFAULT_MARGIN, 2)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
    assert!(err.message().contains("test auth token"), "{err}");
    assert!(err.message().contains("no AWS credentials"), "{err}");
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_pool_on_the_last_token() {
    let cluster = pg_private::start(Some("token-1"), Vec::new()).await;
    let source = RotatingPassword::new("token-1", Duration::from_secs(3));
    let db = connect(&cluster, source.clone(), Duration::from_millis(2_500), 4)
        .await
        .unwrap();
    *source.fail.lock().unwrap() = Some("the identity service is down".into());
    tokio::time::sleep(Duration::from_millis(800)).await;
    // The refresh failed, the last token is still valid: new connections work.
    let calls = (0..4).map(|_| db.query("SELECT pg_sleep(0.2)::text AS slept", &[]));
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert!(
        source.fetches.load(Ordering::SeqCst) >= 2,
        "a refresh was tried"
    );
    db.close().await;
}
