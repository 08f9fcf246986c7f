//! Config parsing with this build's registry: every bad input gets one clear
//! message naming the file, the JSON path and what was expected.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use strata_core::config::{InfraConfig, json_schema, load_config, parse_config};
use strata_core::{ErrorCode, Result};
use strata_infra::registry;
use strata_providers::memory::MemoryCacheOptions;
use strata_providers::postgres::{DatabaseFallback, PostgresDatabaseOptions};

fn env_from(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: std::collections::BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.get(name).cloned()
}

fn parse(text: &str) -> Result<InfraConfig> {
    parse_config(
        text,
        "infra.config.json",
        registry(),
        &env_from(&[("BUCKET", "prod-uploads")]),
    )
}

fn error_of(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("expected an error, parsed {config:?}"),
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::InvalidConfig, "{e}");
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
    let memory: MemoryCacheOptions = config.caches["sessions"]
        .options
        .parse("caches.sessions", registry())
        .unwrap();
    assert_eq!(memory.max_entries, Some(10));
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
    assert!(
        msg.starts_with(
            "InvalidConfig: infra.config.json at `pubsub.orders.provider`: unknown pubsub \
             provider `kafka`; this build has: memory"
        ),
        "{msg}"
    );
}

#[cfg(not(feature = "nats"))]
#[test]
fn compiled_out_nats_names_its_feature() {
    let msg = error_of(r#"{ "pubsub": { "orders": { "provider": "nats" } } }"#);
    assert!(msg.contains("not compiled into this build"), "{msg}");
    assert!(msg.contains("cargo feature `nats`"), "{msg}");
}

#[cfg(not(feature = "aws"))]
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
    assert!(msg.contains("`objects.uploads.root`"), "{msg}");
    assert!(msg.contains("unknown field `root`"), "{msg}");
    assert!(
        msg.contains("`root` applies only to the `filesystem` provider"),
        "{msg}"
    );
}

#[test]
fn invalid_logical_name_is_rejected() {
    let msg = error_of(r#"{ "caches": { "my cache": { "provider": "memory" } } }"#);
    assert!(msg.contains(r#"logical name "my cache""#), "{msg}");
    for name in ["..", ".", "../x", ".hidden", "a/b", "-x"] {
        let text = format!(r#"{{ "objects": {{ "{name}": {{ "provider": "filesystem" }} }} }}"#);
        let msg = error_of(&text);
        assert!(
            msg.contains("starting with a letter or a digit"),
            "{name}: {msg}"
        );
    }
}

#[test]
fn missing_named_file_is_an_error_not_a_fallback() {
    let err = load_config(Some(Path::new("/definitely/not/here.json")), registry())
        .expect_err("missing explicit file");
    assert_eq!(err.code(), ErrorCode::InvalidConfig);
    assert!(
        err.to_string().contains("/definitely/not/here.json"),
        "{err}"
    );
}

/// The committed schema is that of a build with every cloud and NATS, as the
/// test command builds it.
#[cfg(all(feature = "aws", feature = "gcp", feature = "azure", feature = "nats"))]
#[test]
fn committed_json_schema_matches_the_registry() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/infra.config.schema.json");
    let generated =
        serde_json::to_string_pretty(&json_schema(registry())).expect("schema serializes") + "\n";
    if std::env::var_os("STRATA_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/infra.config.schema.json is out of date: run `STRATA_UPDATE_SCHEMA=1 cargo test \
         -p strata-infra --features aws,gcp,azure,nats committed_json_schema` and commit it"
    );
}

#[test]
fn the_schema_lists_each_registered_provider_with_its_own_fields() {
    let schema = json_schema(registry());
    let shapes = schema["properties"]["caches"]["additionalProperties"]["oneOf"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = shapes
        .iter()
        .map(|s| s["properties"]["provider"]["const"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["memory", "redis"]);
    let redis = &shapes[1];
    assert!(redis["properties"]["url"].is_object(), "{redis}");
    assert!(
        redis["properties"]["prefix"].is_object(),
        "portable field: {redis}"
    );
    assert!(
        shapes[0]["properties"]["url"].is_null(),
        "memory has no url"
    );
    assert_eq!(redis["additionalProperties"], false);
}

fn parse_with_postgres(text: &str) -> Result<InfraConfig> {
    parse_config(text, "infra.config.json", registry(), &env_from(&[]))
}

fn postgres_options(config: &InfraConfig, name: &str) -> PostgresDatabaseOptions {
    config.databases[name]
        .options
        .parse(&format!("databases.{name}"), registry())
        .unwrap()
}

#[test]
fn postgres_auth_and_local_fallback_parse() {
    let mut text = String::from(
        r#"{ "databases": {
            "dev": { "provider": "postgres", "local": true, "fallback": "sqlite" }"#,
    );
    let methods = [
        ("rds", "aws_iam", cfg!(feature = "aws")),
        ("sql", "gcp_iam", cfg!(feature = "gcp")),
        ("flex", "azure_entra", cfg!(feature = "azure")),
    ];
    for (name, method, _) in methods.iter().filter(|(_, _, built)| *built) {
        text.push_str(&format!(
            r#", "{name}": {{ "provider": "postgres", "url": "postgres://app@db/main", "auth": "{method}" }}"#
        ));
    }
    text.push_str(" } }");
    let config = parse_with_postgres(&text).expect("valid config");
    for (name, method, _) in methods.iter().filter(|(_, _, built)| *built) {
        assert_eq!(
            postgres_options(&config, name).auth.as_deref(),
            Some(*method)
        );
    }
    assert_eq!(
        postgres_options(&config, "dev").fallback,
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
        assert_eq!(err.code(), ErrorCode::InvalidConfig);
        assert!(err.message().contains(path), "{path}: {err}");
    }
    let err = parse_with_postgres(cases[0].0).expect_err("unknown auth");
    assert!(
        err.message().contains("`password`"),
        "names the choices: {err}"
    );
    if cfg!(all(feature = "gcp", feature = "azure")) {
        assert!(
            err.message().contains("`gcp_iam`") && err.message().contains("`azure_entra`"),
            "names the choices: {err}"
        );
    }
}

/// A value in the wrong place may be a secret: no error message repeats it,
/// whatever the error (type, unknown variant, `$env` result, provider check).
#[test]
fn no_config_error_repeats_a_value_it_was_given() {
    const SECRET: &str = "918273645546372";
    let mut corpus = vec![
        format!(
            r#"{{ "caches": {{ "c": {{ "provider": "redis", "url": "redis://h", "password": {SECRET} }} }} }}"#
        ),
        format!(r#"{{ "caches": {{ "c": {{ "provider": "redis", "url": "x{SECRET}" }} }} }}"#),
        format!(
            r#"{{ "caches": {{ "c": {{ "provider": "redis", "url": {{ "$env": "S" }} }} }} }}"#
        ),
        format!(
            r#"{{ "caches": {{ "c": {{ "provider": "redis", "url": "redis://h", "db": "{SECRET}" }} }} }}"#
        ),
        format!(r#"{{ "databases": {{ "d": {{ "provider": "postgres", "url": {SECRET} }} }} }}"#),
        format!(
            r#"{{ "databases": {{ "d": {{ "provider": "postgres", "url": "postgres://h", "fallback": "{SECRET}" }} }} }}"#
        ),
        format!(
            r#"{{ "databases": {{ "d": {{ "provider": "postgres", "url": "postgres://h", "auth": "{SECRET}" }} }} }}"#
        ),
        format!(r#"{{ "databases": {{ "d": {{ "provider": "sqlite", "path": [{SECRET}] }} }} }}"#),
        format!(r#"{{ "objects": {{ "o": {{ "provider": "filesystem", "name": {SECRET} }} }} }}"#),
        format!(
            r#"{{ "pubsub": {{ "t": {{ "provider": "memory", "subscriptions": {{ "s": {{ "max_attempts": "{SECRET}" }} }} }} }} }}"#
        ),
    ];
    if cfg!(feature = "aws") {
        corpus.push(format!(
            r#"{{ "providers": {{ "aws": {{ "credentials": "{SECRET}" }} }} }}"#
        ));
        corpus.push(format!(r#"{{ "providers": {{ "aws": {{ "credentials": {{ "secret_access_key": {SECRET} }} }} }} }}"#));
        corpus.push(format!(
            r#"{{ "providers": {{ "aws": {{ "endpoint": "{SECRET}" }} }} }}"#
        ));
    }
    if cfg!(feature = "gcp") {
        corpus.push(format!(r#"{{ "providers": {{ "gcp": {{ "credentials": {{ "service_account_json": {SECRET} }} }} }} }}"#));
    }
    let env = |name: &str| (name == "S").then(|| format!("not-a-url-{SECRET}"));
    for text in &corpus {
        let err = parse_config(text, "infra.config.json", registry(), &env).expect_err(text);
        assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
        assert!(!err.to_string().contains(SECRET), "{text}\n→ {err}");
        assert!(err.to_string().contains(" at `"), "names the path: {err}");
    }
}
