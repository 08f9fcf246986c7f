//! The `postgres` entries of the infra config become [`PostgresOptions`].

use std::path::Path;
use std::time::Duration;

use strata_core::config::{DatabaseConfig, parse_config};
use strata_core::{Error, ErrorCode};
use strata_infra::registry;
use strata_providers::postgres::{PostgresDatabaseOptions, PostgresOptions, PostgresSslMode};

fn parse(text: &str) -> strata_core::Result<strata_core::config::InfraConfig> {
    parse_config(text, "infra.config.json", registry(), &|name| {
        (name == "PG_URL").then(|| "postgres://app:pw@db:5432/main".to_owned())
    })
}

/// The pool options of a database entry, as the provider reads them.
fn options_of(entry: &DatabaseConfig) -> strata_core::Result<PostgresOptions> {
    let own: PostgresDatabaseOptions = entry.options.parse("databases.main", registry())?;
    PostgresOptions::from_config(&own, entry.max_connections, Path::new("/app"))
}

fn config_error(text: &str) -> Error {
    let err = parse(text).expect_err("the config was accepted");
    assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
    err
}

#[test]
fn postgres_settings_become_options() {
    let config = parse(
        r#"{ "databases": { "main": {
            "provider": "postgres", "url": { "$env": "PG_URL" }, "max_connections": 4,
            "acquire_timeout_ms": 1500, "connect_timeout_ms": 2500, "statement_timeout_ms": 30000,
            "ssl_mode": "verify-full", "ssl_root_cert": "certs/ca.pem" } } }"#,
    )
    .unwrap();
    let options = options_of(&config.databases["main"]).unwrap();
    assert_eq!(options.url, "postgres://app:pw@db:5432/main");
    assert_eq!(options.max_connections, 4);
    assert_eq!(options.acquire_timeout, Duration::from_millis(1500));
    assert_eq!(options.connect_timeout, Duration::from_millis(2500));
    assert_eq!(options.statement_timeout, Some(Duration::from_secs(30)));
    assert_eq!(options.ssl_mode, Some(PostgresSslMode::VerifyFull));
    assert_eq!(
        options.ssl_root_cert.as_deref(),
        Some(Path::new("/app/certs/ca.pem"))
    );
    assert!(
        !format!("{options:?}").contains(":pw@"),
        "Debug hides the password"
    );

    let defaults = parse(
        r#"{ "databases": { "main": { "provider": "postgres", "url": "postgres://h/db" } } }"#,
    )
    .unwrap();
    let options = options_of(&defaults.databases["main"]).unwrap();
    assert_eq!(options.max_connections, 10);
    assert_eq!(options.ssl_mode, None);
}

#[test]
fn bad_postgres_settings_name_their_json_path() {
    let err = config_error(
        r#"{ "databases": { "main": { "provider": "postgres", "url": "postgres://h/db", "ssl_mode": "verify_full" } } }"#,
    );
    assert!(err.message().contains("databases.main.ssl_mode"), "{err}");
    assert!(err.message().contains("verify-full"), "{err}");
    let err = config_error(
        r#"{ "databases": { "main": { "provider": "sqlite", "ssl_mode": "require" } } }"#,
    );
    assert!(
        err.message().contains("only to the `postgres` provider"),
        "{err}"
    );
    let err = config_error(
        r#"{ "databases": { "main": { "provider": "postgres", "url": "postgres://h/db", "acquire_timeout_ms": 0 } } }"#,
    );
    assert!(err.message().contains("acquire_timeout_ms"), "{err}");
}

#[test]
fn a_local_postgres_needs_no_url_and_refuses_one() {
    let config =
        parse(r#"{ "databases": { "main": { "provider": "postgres", "local": true } } }"#).unwrap();
    let options = options_of(&config.databases["main"]).unwrap();
    assert_eq!(options.url, "", "the local server supplies the URL");
    let err = config_error(
        r#"{ "databases": { "main": { "provider": "postgres", "local": true, "url": "postgres://h/db" } } }"#,
    );
    assert!(err.message().contains("databases.main.local"), "{err}");
    let err = config_error(r#"{ "databases": { "main": { "provider": "postgres" } } }"#);
    assert!(err.message().contains("\"local\": true"), "{err}");
    let err =
        config_error(r#"{ "databases": { "main": { "provider": "sqlite", "local": true } } }"#);
    assert!(
        err.message().contains("only to the `postgres` provider"),
        "{err}"
    );
}
