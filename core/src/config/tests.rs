//! Config parsing: every bad input gets one clear message naming where and what.

use super::parse::env_from;
use super::*;

const BUILD: ProviderCatalog = ProviderCatalog {
    pubsub: &["memory"],
    objects: &["memory", "filesystem"],
    caches: &["memory"],
    databases: &["sqlite"],
};

fn parse(text: &str) -> Result<InfraConfig> {
    parse_config(
        text,
        "infra.config.json",
        &BUILD,
        &env_from(&[("BUCKET", "prod-uploads")]),
    )
}

fn error_of(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("expected an error, parsed {config:?}"),
        Err(e) => {
            assert_eq!(e.code(), crate::ErrorCode::InvalidConfig, "{e}");
            e.to_string()
        }
    }
}

#[test]
fn full_config_parses_with_env_references_resolved() {
    let config = parse(
        r#"{
        "$schema": "./schema/infra.config.schema.json",
        "pubsub": {
            "orders": { "provider": "memory", "ordering": true, "subscriptions": {
                "send-email": { "max_concurrency": 8, "max_attempts": 3, "dead_letter_topic": "orders-dlq" }
            } },
            "orders-dlq": { "provider": "memory" }
        },
        "objects": { "uploads": { "provider": "filesystem", "name": { "$env": "BUCKET" }, "root": "data/uploads" } },
        "caches": { "sessions": { "provider": "memory", "default_ttl_ms": 60000, "max_entries": 10 } },
        "databases": { "main": { "provider": "sqlite", "path": ":memory:", "migrations": "migrations" } }
    }"#,
    )
    .expect("valid config");
    assert_eq!(
        config.objects["uploads"].name.as_deref(),
        Some("prod-uploads")
    );
    let sub = &config.pubsub["orders"].subscriptions["send-email"];
    assert_eq!(sub.max_attempts, Some(3));
    assert_eq!(config.caches["sessions"].max_entries, Some(10));
}

#[test]
fn empty_object_is_a_valid_config() {
    assert_eq!(parse("{}").expect("valid"), InfraConfig::default());
}

#[test]
fn malformed_json_names_line_and_column() {
    let msg = error_of("{ \"pubsub\": { \"orders\": { \"provider\": \"memory\", } } }");
    assert!(msg.contains("not valid JSON"), "{msg}");
    assert!(msg.contains("line 1 column"), "{msg}");
}

#[test]
fn top_level_must_be_an_object() {
    let msg = error_of("[1, 2]");
    assert!(
        msg.contains("expected a JSON object at the top, found an array"),
        "{msg}"
    );
}

#[test]
fn wrong_type_names_path_and_expectation() {
    let msg = error_of(
        r#"{ "pubsub": { "orders": { "provider": "memory", "subscriptions": { "s": { "max_attempts": "five" } } } } }"#,
    );
    assert!(
        msg.contains("`pubsub.orders.subscriptions.s.max_attempts`"),
        "{msg}"
    );
    assert!(msg.contains("expected u32"), "{msg}");
}

#[test]
fn unknown_field_lists_the_expected_ones() {
    let msg = error_of(r#"{ "objects": { "uploads": { "provider": "filesystem", "rot": "x" } } }"#);
    assert!(
        msg.contains("`objects.uploads.rot`") || msg.contains("`objects.uploads`"),
        "{msg}"
    );
    assert!(msg.contains("unknown field `rot`"), "{msg}");
    assert!(msg.contains("`root`"), "{msg}");
}

#[test]
fn unknown_top_level_section_is_rejected() {
    let msg = error_of(r#"{ "topics": {} }"#);
    assert!(msg.contains("unknown field `topics`"), "{msg}");
}

#[test]
fn unknown_provider_lists_what_this_build_has() {
    let msg = error_of(r#"{ "pubsub": { "orders": { "provider": "kafka" } } }"#);
    assert_eq!(
        msg,
        "InvalidConfig: infra.config.json at `pubsub.orders.provider`: unknown pubsub provider \
         `kafka`; this build has: memory"
    );
}

#[test]
fn compiled_out_provider_names_the_feature() {
    let msg = error_of(r#"{ "objects": { "uploads": { "provider": "aws" } } }"#);
    assert!(msg.contains("not compiled into this build"), "{msg}");
    assert!(msg.contains("cargo feature `aws`"), "{msg}");
    assert!(msg.contains("this build has: memory, filesystem"), "{msg}");
}

#[test]
fn missing_provider_field_is_reported() {
    let msg = error_of(r#"{ "caches": { "sessions": { "prefix": "s:" } } }"#);
    assert!(msg.contains("missing field `provider`"), "{msg}");
}

#[test]
fn missing_env_variable_is_named() {
    let msg = error_of(
        r#"{ "objects": { "uploads": { "provider": "memory", "name": { "$env": "NOPE_NOT_SET" } } } }"#,
    );
    assert!(msg.contains("`objects.uploads.name`"), "{msg}");
    assert!(
        msg.contains("environment variable `NOPE_NOT_SET` is not set"),
        "{msg}"
    );
}

#[test]
fn env_reference_must_be_a_lone_string() {
    let msg =
        error_of(r#"{ "objects": { "u": { "provider": "memory", "name": { "$env": 5 } } } }"#);
    assert!(msg.contains("found a number"), "{msg}");
    let msg = error_of(
        r#"{ "objects": { "u": { "provider": "memory", "name": { "$env": "BUCKET", "x": 1 } } } }"#,
    );
    assert!(msg.contains("takes no other keys"), "{msg}");
}

#[test]
fn duplicate_logical_names_are_rejected() {
    let msg = error_of(
        r#"{ "pubsub": { "orders": { "provider": "memory" }, "orders": { "provider": "memory" } } }"#,
    );
    assert!(msg.contains("duplicate key `orders`"), "{msg}");
    assert!(msg.contains("line 1"), "{msg}");
}

#[test]
fn dead_letter_topic_must_exist() {
    let msg = error_of(
        r#"{ "pubsub": { "orders": { "provider": "memory", "subscriptions": { "s": { "dead_letter_topic": "dlq", "max_attempts": 2 } } } } }"#,
    );
    assert!(
        msg.contains("`pubsub.orders.subscriptions.s.dead_letter_topic`"),
        "{msg}"
    );
    assert!(msg.contains("no topic named `dlq`"), "{msg}");
}

#[test]
fn max_attempts_without_dead_letter_topic_is_rejected() {
    let msg = error_of(
        r#"{ "pubsub": { "orders": { "provider": "memory", "subscriptions": { "s": { "max_attempts": 2 } } } } }"#,
    );
    assert!(msg.contains("needs `dead_letter_topic`"), "{msg}");
}

#[test]
fn option_of_another_provider_is_rejected() {
    let msg = error_of(r#"{ "objects": { "uploads": { "provider": "memory", "root": "x" } } }"#);
    assert!(
        msg.contains("`root` applies only to the `filesystem` provider"),
        "{msg}"
    );
}

#[test]
fn invalid_logical_name_is_rejected() {
    let msg = error_of(r#"{ "caches": { "my cache": { "provider": "memory" } } }"#);
    assert!(msg.contains("logical name `my cache`"), "{msg}");
}

#[test]
fn missing_named_file_is_an_error_not_a_fallback() {
    let err = load_config(Some(Path::new("/definitely/not/here.json")), &BUILD)
        .expect_err("missing explicit file");
    assert_eq!(err.code(), crate::ErrorCode::InvalidConfig);
    assert!(
        err.to_string().contains("/definitely/not/here.json"),
        "{err}"
    );
}

#[test]
fn committed_json_schema_matches_the_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/infra.config.schema.json");
    let generated = serde_json::to_string_pretty(&json_schema()).expect("schema serializes") + "\n";
    if std::env::var_os("STRATA_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/infra.config.schema.json is out of date: run \
         `STRATA_UPDATE_SCHEMA=1 cargo test -p strata-core committed_json_schema` and commit it"
    );
}

fn parse_with_postgres(text: &str) -> Result<InfraConfig> {
    const WITH_POSTGRES: ProviderCatalog = ProviderCatalog {
        databases: &["sqlite", "postgres"],
        ..BUILD
    };
    parse_config(text, "infra.config.json", &WITH_POSTGRES, &env_from(&[]))
}

#[test]
fn postgres_auth_and_local_fallback_parse() {
    let config = parse_with_postgres(
        r#"{ "databases": {
            "rds": { "provider": "postgres", "url": "postgres://app@db.example:5432/main", "auth": "aws_iam" },
            "sql": { "provider": "postgres", "url": "postgres://app%40demo.iam@10.0.0.3/main", "auth": "gcp_iam" },
            "flex": { "provider": "postgres", "url": "postgres://strata-app@demo.postgres.database.azure.com/main?sslmode=require", "auth": "azure_entra" },
            "dev": { "provider": "postgres", "local": true, "fallback": "sqlite" }
        } }"#,
    )
    .expect("valid config");
    assert_eq!(config.databases["rds"].auth, Some(DatabaseAuth::AwsIam));
    assert_eq!(config.databases["sql"].auth, Some(DatabaseAuth::GcpIam));
    assert_eq!(
        config.databases["flex"].auth,
        Some(DatabaseAuth::AzureEntra)
    );
    assert_eq!(
        config.databases["dev"].fallback,
        Some(DatabaseFallback::Sqlite)
    );
}

#[test]
fn postgres_auth_and_fallback_errors_name_the_field() {
    let cases = [
        (
            r#"{ "databases": { "m": { "provider": "postgres", "url": "postgres://a@h/d", "auth": "kerberos" } } }"#,
            "databases.m.auth",
        ),
        (
            r#"{ "databases": { "m": { "provider": "sqlite", "auth": "aws_iam" } } }"#,
            "databases.m.auth",
        ),
        (
            r#"{ "databases": { "m": { "provider": "postgres", "url": "postgres://a@h/d", "fallback": "sqlite" } } }"#,
            "databases.m.fallback",
        ),
        (
            r#"{ "databases": { "m": { "provider": "postgres", "local": true, "auth": "aws_iam" } } }"#,
            "databases.m.auth",
        ),
        (
            r#"{ "databases": { "m": { "provider": "sqlite", "auth": "gcp_iam" } } }"#,
            "databases.m.auth",
        ),
        (
            r#"{ "databases": { "m": { "provider": "postgres", "local": true, "auth": "gcp_iam" } } }"#,
            "databases.m.auth",
        ),
        (
            r#"{ "databases": { "m": { "provider": "postgres", "url": "postgres://a@h/d", "auth": "GCP_IAM" } } }"#,
            "databases.m.auth",
        ),
        (
            r#"{ "databases": { "m": { "provider": "sqlite", "auth": "azure_entra" } } }"#,
            "databases.m.auth",
        ),
        (
            r#"{ "databases": { "m": { "provider": "postgres", "local": true, "auth": "azure_entra" } } }"#,
            "databases.m.auth",
        ),
    ];
    for (text, path) in cases {
        let err = parse_with_postgres(text).expect_err(text);
        assert_eq!(err.code(), crate::ErrorCode::InvalidConfig);
        assert!(err.message().contains(path), "{path}: {err}");
    }
    let err = parse_with_postgres(cases[0].0).expect_err("unknown auth");
    assert!(
        err.message().contains("`gcp_iam`") && err.message().contains("`azure_entra`"),
        "names the choices: {err}"
    );
}
