//! The `postgres` database config through `Infra`: a `"local": true` server
//! where PostgreSQL's binaries are missing (an error saying so, or the SQLite
//! fallback when the config allows it), and RDS IAM auth (`"auth": "aws_iam"`).
//!
//! The missing-binaries cases run in a child process of this test binary with
//! `STRATA_POSTGRES_BIN_DIR` pointing at an empty folder, so no other test
//! sees that environment.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use strata_core::ErrorCode;
use strata_core::config::{LoadedConfig, parse_config};
use strata_core::sqldb::SqlValue;
use strata_infra::{Infra, registry};
use strata_providers::postgres::POSTGRES_BIN_DIR_ENV;

fn loaded(dir: &Path, text: &str) -> LoadedConfig {
    LoadedConfig {
        config: parse_config(text, "infra.config.json", registry(), &|_| None).unwrap(),
        base_dir: dir.to_path_buf(),
        file: Some(dir.join("infra.config.json")),
    }
}

/// Set in the child process that runs the missing-binaries cases.
const CHILD: &str = "STRATA_TEST_MISSING_PG_BINARIES";

/// Runs `test` of this binary in a child process without PostgreSQL's binaries.
fn in_child_without_binaries(test: &str) {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--include-ignored"])
        .env(POSTGRES_BIN_DIR_ENV, empty.path())
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{test} in a child process:\n{text}");
    assert!(text.contains("1 passed"), "{test} did not run:\n{text}");
}

#[test]
fn local_without_binaries_uses_the_sqlite_fallback_the_config_allows() {
    in_child_without_binaries("child_local_with_fallback");
}

#[test]
fn local_without_binaries_and_no_fallback_says_what_is_missing() {
    in_child_without_binaries("child_local_without_fallback");
}

#[tokio::test]
#[ignore = "runs in a child process (see in_child_without_binaries)"]
async fn child_local_with_fallback() {
    assert!(std::env::var_os(CHILD).is_some());
    let dir = tempfile::tempdir().unwrap();
    let config = r#"{ "databases": { "main": { "provider": "postgres", "local": true, "fallback": "sqlite" } } }"#;
    let infra = Infra::from_config(loaded(dir.path(), config))
        .await
        .unwrap();
    let db = infra.database("main").await.unwrap();
    db.execute("CREATE TABLE t (v INTEGER)", &[]).await.unwrap();
    db.execute("INSERT INTO t VALUES ($1)", &[SqlValue::Int(7)])
        .await
        .unwrap();
    let rows = db.query("SELECT v FROM t", &[]).await.unwrap();
    assert_eq!(rows[0].get("v"), Some(&SqlValue::Int(7)));
    infra.close().await.unwrap();
    assert!(dir.path().join(".strata").join("main.db").is_file());
    assert!(!dir.path().join(".strata").join("postgres").exists());
}

#[tokio::test]
#[ignore = "runs in a child process (see in_child_without_binaries)"]
async fn child_local_without_fallback() {
    assert!(std::env::var_os(CHILD).is_some());
    let dir = tempfile::tempdir().unwrap();
    let config = r#"{ "databases": { "main": { "provider": "postgres", "local": true } } }"#;
    // Declared databases open at startup: the load itself fails.
    let err = Infra::from_config(loaded(dir.path(), config))
        .await
        .map(drop)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(err.message().contains("initdb"), "{err}");
    assert!(err.message().contains(POSTGRES_BIN_DIR_ENV), "{err}");
}

#[cfg(feature = "aws")]
mod aws_iam {
    use super::*;

    fn rds_config(credentials: &str) -> String {
        format!(
            r#"{{
            "providers": {{ "aws": {{ "region": "eu-west-1", "credentials": {credentials} }} }},
            "databases": {{ "main": {{ "provider": "postgres", "auth": "aws_iam", "ssl_mode": "disable",
                "url": "postgres://postgres@127.0.0.1:5432/test", "connect_timeout_ms": 5000 }} }}
        }}"#
        )
    }

    /// The local server trusts 127.0.0.1, so the token is sent and ignored:
    /// this proves the config builds the token source and connects with it.
    #[tokio::test]
    async fn aws_iam_auth_signs_a_token_and_connects() {
        let dir = tempfile::tempdir().unwrap();
        let text =
            rds_config(r#"{ "access_key_id": "AKIDEXAMPLE", "secret_access_key": "secret" }"#);
        let infra = Infra::from_config(loaded(dir.path(), &text)).await.unwrap();
        let db = infra.database("main").await.unwrap();
        let rows = db.query("SELECT 1 AS one", &[]).await.unwrap();
        assert_eq!(rows[0].get("one"), Some(&SqlValue::Int(1)));
        infra.close().await.unwrap();
    }

    #[tokio::test]
    async fn aws_iam_auth_without_credentials_is_permission_denied() {
        let dir = tempfile::tempdir().unwrap();
        let text = rds_config(r#"{ "anonymous": true }"#);
        let err = Infra::from_config(loaded(dir.path(), &text))
            .await
            .map(drop)
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
        assert!(
            err.message()
                .contains("RDS IAM auth token for postgres@127.0.0.1:5432"),
            "{err}"
        );
    }
}
