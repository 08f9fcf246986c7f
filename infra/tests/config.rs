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
        format!(
            r#"{{ "databases": {{ "d": {{ "provider": "postgres", "url": "postgres://app:{SECRET}@db:port{SECRET}/main" }} }} }}"#
        ),
        format!(
            r#"{{ "caches": {{ "c": {{ "provider": "memory", "max_entries": {SECRET} }} }} }}"#
        ),
        format!(r#"{{ "caches": {{ "c": [{SECRET}] }} }}"#),
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

// ----- issue 14, item 5: bounds on every count and size; the file itself --------

/// Every count and size has an upper bound, stated in the schema and
/// enforced at load with the JSON path; the message gives the bound, never
/// the value.
#[test]
fn counts_and_sizes_above_their_bound_are_refused_with_the_path() {
    const HUGE: &str = "4294967295";
    let sub = |field: &str| {
        format!(
            r#"{{ "pubsub": {{ "t": {{ "provider": "memory", "subscriptions": {{ "s": {{ "dead_letter_topic": "d", "{field}": {HUGE} }} }} }}, "d": {{ "provider": "memory" }} }} }}"#
        )
    };
    let mut cases: Vec<(String, &str, &str)> = [
        ("max_concurrency", "10000"),
        ("min_backoff_ms", "86400000"),
        ("max_backoff_ms", "86400000"),
        ("max_attempts", "1000"),
        ("lease_seconds", "43200"),
        ("handler_timeout_seconds", "43200"),
    ]
    .into_iter()
    .map(|(field, max)| {
        let path: &str = Box::leak(format!("pubsub.t.subscriptions.s.{field}").into_boxed_str());
        (sub(field), path, max)
    })
    .collect();
    cases.extend([
        (
            format!(r#"{{ "caches": {{ "c": {{ "provider": "memory", "default_ttl_ms": {HUGE}000 }} }} }}"#),
            "caches.c.default_ttl_ms",
            "31536000000",
        ),
        (
            format!(r#"{{ "caches": {{ "c": {{ "provider": "memory", "max_entries": {HUGE} }} }} }}"#),
            "caches.c.max_entries",
            "100000000",
        ),
        (
            format!(r#"{{ "databases": {{ "d": {{ "provider": "sqlite", "max_connections": {HUGE} }} }} }}"#),
            "databases.d.max_connections",
            "1000",
        ),
        (
            format!(r#"{{ "caches": {{ "c": {{ "provider": "redis", "url": "redis://h", "db": {HUGE} }} }} }}"#),
            "caches.c.db",
            "1000",
        ),
        (
            format!(r#"{{ "caches": {{ "c": {{ "provider": "redis", "url": "redis://h", "connect_timeout_ms": {HUGE} }} }} }}"#),
            "caches.c.connect_timeout_ms",
            "3600000",
        ),
        (
            format!(r#"{{ "caches": {{ "c": {{ "provider": "redis", "url": "redis://h", "response_timeout_ms": {HUGE} }} }} }}"#),
            "caches.c.response_timeout_ms",
            "3600000",
        ),
        (
            format!(r#"{{ "databases": {{ "d": {{ "provider": "postgres", "url": "postgres://h/d", "acquire_timeout_ms": {HUGE} }} }} }}"#),
            "databases.d.acquire_timeout_ms",
            "3600000",
        ),
        (
            format!(r#"{{ "databases": {{ "d": {{ "provider": "postgres", "url": "postgres://h/d", "connect_timeout_ms": {HUGE} }} }} }}"#),
            "databases.d.connect_timeout_ms",
            "3600000",
        ),
        (
            format!(r#"{{ "databases": {{ "d": {{ "provider": "postgres", "url": "postgres://h/d", "statement_timeout_ms": {HUGE} }} }} }}"#),
            "databases.d.statement_timeout_ms",
            "86400000",
        ),
    ]);
    for (text, path, max) in &cases {
        let msg = error_of(text);
        assert!(
            msg.starts_with(&format!(
                "InvalidConfig: infra.config.json at `{path}`: expected at most {max}"
            )),
            "{path}: {msg}"
        );
        assert!(!msg.contains(HUGE), "{msg}");
    }
}

/// Every numeric field of the schema has a maximum, so a new field without
/// one fails here.
#[test]
fn every_number_in_the_schema_has_an_upper_bound() {
    fn walk(node: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
        match node {
            serde_json::Value::Object(map) => {
                let numeric = match map.get("type") {
                    Some(serde_json::Value::String(t)) => t == "integer" || t == "number",
                    Some(serde_json::Value::Array(ts)) => {
                        ts.iter().any(|t| t == "integer" || t == "number")
                    }
                    _ => false,
                };
                if numeric && !map.contains_key("maximum") {
                    missing.push(path.to_owned());
                }
                for (k, v) in map {
                    walk(v, &format!("{path}/{k}"), missing);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{path}/{i}"), missing);
                }
            }
            _ => {}
        }
    }
    let mut missing = Vec::new();
    walk(&json_schema(registry()), "", &mut missing);
    assert!(missing.is_empty(), "numbers without a maximum: {missing:?}");
}

#[test]
fn values_at_their_bound_load() {
    parse(
        r#"{ "pubsub": { "t": { "provider": "memory", "subscriptions": { "s": {
            "max_concurrency": 10000, "min_backoff_ms": 0, "max_backoff_ms": 86400000, "max_attempts": 1000,
            "dead_letter_topic": "d", "lease_seconds": 43200, "handler_timeout_seconds": 43200 } } },
            "d": { "provider": "memory" } },
        "caches": { "c": { "provider": "memory", "default_ttl_ms": 31536000000, "max_entries": 100000000 } },
        "databases": { "d": { "provider": "sqlite", "max_connections": 1000 } } }"#,
    )
    .expect("bounds are inclusive");
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn a_config_file_over_one_mebibyte_is_refused_naming_file_and_cap() {
    let dir = temp_dir();
    let path = dir.path().join("infra.config.json");
    let mut text = String::from("{ \"$schema\": \"");
    text.push_str(&"x".repeat(1024 * 1024));
    text.push_str("\" }");
    std::fs::write(&path, &text).unwrap();
    let err = load_config(Some(&path), registry()).expect_err("too big");
    assert_eq!(err.code(), ErrorCode::InvalidConfig);
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("larger than 1048576 bytes (1 MiB)"), "{msg}");
}

#[cfg(unix)]
#[test]
fn a_config_path_that_is_not_a_regular_file_is_refused_without_reading() {
    // `/dev/zero` would be read until memory runs out.
    let err = load_config(Some(Path::new("/dev/zero")), registry()).expect_err("a device");
    assert_eq!(err.code(), ErrorCode::InvalidConfig);
    assert!(err.to_string().contains("`/dev/zero`"), "{err}");
    assert!(err.to_string().contains("is not a regular file"), "{err}");
    // A FIFO with no writer would block the open forever.
    let dir = temp_dir();
    let fifo = dir.path().join("infra.config.json");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let (tx, rx) = std::sync::mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        let _ = tx.send(load_config(Some(&path), registry()).map(|_| ()));
    });
    let result = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("load_config returned instead of blocking on the FIFO");
    let err = result.expect_err("a FIFO");
    assert!(err.to_string().contains("is not a regular file"), "{err}");
    // A folder, too.
    let err = load_config(Some(dir.path()), registry()).expect_err("a folder");
    assert!(err.to_string().contains("is not a regular file"), "{err}");
}

// ----- issue 14, item 7: what the schema refuses, the loader refuses ------------

/// serde reads a struct from an array positionally; the schema wants objects.
#[test]
fn arrays_where_objects_are_expected_are_refused_with_the_path() {
    let cases = [
        (r#"{ "caches": { "a": ["memory"] } }"#, "caches.a"),
        (r#"{ "pubsub": { "a": ["memory"] } }"#, "pubsub.a"),
        (
            r#"{ "objects": { "a": ["filesystem", "x"] } }"#,
            "objects.a",
        ),
        (r#"{ "databases": { "a": ["sqlite"] } }"#, "databases.a"),
        (
            r#"{ "pubsub": { "a": { "provider": "memory", "subscriptions": { "s": [null, 4] } } } }"#,
            "pubsub.a.subscriptions.s",
        ),
        (r#"{ "pubsub": ["memory"] }"#, "pubsub"),
        (r#"{ "providers": [] }"#, "providers"),
    ];
    for (text, path) in cases {
        let msg = error_of(text);
        assert!(
            msg.contains(&format!("at `{path}`: expected an object, found an array")),
            "{text}: {msg}"
        );
    }
    if cfg!(feature = "aws") {
        for (text, path) in [
            (
                r#"{ "providers": { "aws": ["us-east-1"] } }"#,
                "providers.aws",
            ),
            (
                r#"{ "providers": { "aws": { "endpoints": ["http://s3"] } } }"#,
                "providers.aws.endpoints",
            ),
            (
                r#"{ "providers": { "aws": { "credentials": ["id", "secret"] } } }"#,
                "providers.aws.credentials",
            ),
        ] {
            let msg = error_of(text);
            assert!(
                msg.contains(&format!("at `{path}`: expected an object, found an array")),
                "{text}: {msg}"
            );
        }
    }
}

/// The config refuses what its schema refuses: every `minimum` is enforced.
#[test]
fn values_below_the_schema_minimum_are_refused() {
    let sub = |field: &str, value: &str| {
        format!(
            r#"{{ "pubsub": {{ "t": {{ "provider": "memory", "subscriptions": {{ "s": {{ "dead_letter_topic": "d", "{field}": {value} }} }} }}, "d": {{ "provider": "memory" }} }} }}"#
        )
    };
    let mut cases = vec![
        (
            r#"{ "caches": { "c": { "provider": "memory", "default_ttl_ms": 0 } } }"#.to_owned(),
            "caches.c.default_ttl_ms",
        ),
        (
            r#"{ "caches": { "c": { "provider": "memory", "max_entries": 0 } } }"#.to_owned(),
            "caches.c.max_entries",
        ),
        (
            r#"{ "databases": { "d": { "provider": "sqlite", "max_connections": 0 } } }"#.to_owned(),
            "databases.d.max_connections",
        ),
        (
            r#"{ "caches": { "c": { "provider": "redis", "url": "redis://h", "connect_timeout_ms": 0 } } }"#.to_owned(),
            "caches.c.connect_timeout_ms",
        ),
        (
            r#"{ "databases": { "d": { "provider": "postgres", "url": "postgres://h/d", "statement_timeout_ms": 0 } } }"#.to_owned(),
            "databases.d.statement_timeout_ms",
        ),
    ];
    for field in [
        "max_concurrency",
        "max_attempts",
        "lease_seconds",
        "handler_timeout_seconds",
    ] {
        let path: &str = Box::leak(format!("pubsub.t.subscriptions.s.{field}").into_boxed_str());
        cases.push((sub(field, "0"), path));
    }
    for (text, path) in &cases {
        let msg = error_of(text);
        assert!(
            msg.contains(&format!("at `{path}`: expected at least 1")),
            "{text}: {msg}"
        );
    }
    // Negative numbers get the bound too, not serde's type name.
    let msg = error_of(&sub("min_backoff_ms", "-1"));
    assert!(
        msg.contains("at `pubsub.t.subscriptions.s.min_backoff_ms`: expected at least 0"),
        "{msg}"
    );
}

#[test]
fn a_byte_order_mark_in_front_of_a_valid_file_is_accepted() {
    let config = parse("\u{feff}{ \"caches\": { \"c\": { \"provider\": \"memory\" } } }")
        .expect("a BOM is not part of the JSON");
    assert_eq!(config.caches["c"].provider, "memory");
    let dir = temp_dir();
    let path = dir.path().join("infra.config.json");
    std::fs::write(&path, b"\xef\xbb\xbf{ \"objects\": {} }").unwrap();
    load_config(Some(&path), registry()).expect("a file written with a BOM loads");
}

// ----- issue 14, item 8: every config error names the file and the path ----------

/// A malformed PostgreSQL URL is refused at load, naming the field and never
/// the URL (it may hold a password), instead of failing to connect at startup.
#[test]
fn a_malformed_postgres_url_is_refused_at_load_with_the_path() {
    for url in [
        "postgres://app:hunter2@db:notaport/main",
        "postgres://app:hunter2@db:99999999/main",
        "not a url hunter2",
    ] {
        let text = format!(
            r#"{{ "databases": {{ "d": {{ "provider": "postgres", "url": "{url}" }} }} }}"#
        );
        let msg = error_of(&text);
        assert!(
            msg.starts_with(
                "InvalidConfig: infra.config.json at `databases.d.url`: not a PostgreSQL URL"
            ),
            "{url}: {msg}"
        );
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}

/// Physical names a cloud refuses are refused at load, naming the field,
/// before any request (each rule lives in its provider's crate).
#[cfg(feature = "aws")]
#[test]
fn names_aws_refuses_are_refused_at_load_with_the_path() {
    let cases = [
        (
            r#"{ "pubsub": { "t": { "provider": "aws", "name": "bad name!" } } }"#,
            "pubsub.t.name",
            "not a valid SNS topic name",
        ),
        (
            r#"{ "pubsub": { "t": { "provider": "aws", "subscriptions": { "s": { "name": "a queue" } } } } }"#,
            "pubsub.t.subscriptions.s.name",
            "not a valid SQS queue name",
        ),
        (
            r#"{ "objects": { "b": { "provider": "aws", "name": "UPPER_case!!" } } }"#,
            "objects.b.name",
            "not a valid S3 bucket name",
        ),
        (
            r#"{ "objects": { "ab": { "provider": "aws" } } }"#,
            "objects.ab",
            "not a valid S3 bucket name",
        ),
    ];
    for (text, path, rule) in cases {
        let msg = error_of(text);
        assert!(
            msg.starts_with(&format!(
                "InvalidConfig: infra.config.json at `{path}`: {rule}"
            )),
            "{msg}"
        );
    }
    parse(r#"{ "pubsub": { "t": { "provider": "aws", "ordering": true, "subscriptions": { "s": {} } } }, "objects": { "b": { "provider": "aws", "name": "my-bucket.v2" } } }"#)
        .expect("valid names");
}

#[cfg(feature = "gcp")]
#[test]
fn names_gcp_refuses_are_refused_at_load_with_the_path() {
    let cases = [
        (
            r#"{ "pubsub": { "t": { "provider": "gcp", "name": "x" } } }"#,
            "pubsub.t.name",
            "the Pub/Sub topic id is 1 characters",
        ),
        (
            r#"{ "pubsub": { "orders": { "provider": "gcp", "subscriptions": { "s": { "name": "goog-sub" } } } } }"#,
            "pubsub.orders.subscriptions.s.name",
            "the Pub/Sub subscription id must not start with `goog`",
        ),
        (
            r#"{ "objects": { "b": { "provider": "gcp", "name": "UPPER_case!!" } } }"#,
            "objects.b.name",
            "not valid on Cloud Storage",
        ),
        (
            r#"{ "objects": { "b": { "provider": "gcp", "name": "my-google-files" } } }"#,
            "objects.b.name",
            "not valid on Cloud Storage: it must not start with `goog` nor contain `google`",
        ),
    ];
    for (text, path, rule) in cases {
        let msg = error_of(text);
        assert!(
            msg.starts_with(&format!(
                "InvalidConfig: infra.config.json at `{path}`: {rule}"
            )),
            "{msg}"
        );
    }
    parse(r#"{ "pubsub": { "orders": { "provider": "gcp", "subscriptions": { "email": {} } } }, "objects": { "b": { "provider": "gcp", "name": "my-bucket_1" } } }"#)
        .expect("valid names");
}

#[cfg(feature = "azure")]
#[test]
fn names_and_accounts_azure_refuses_are_refused_at_load_with_the_path() {
    let cases = [
        (
            r#"{ "objects": { "b": { "provider": "azure", "name": "my_container" } } }"#,
            "objects.b.name",
            "not valid on Blob Storage",
        ),
        (
            r#"{ "objects": { "b": { "provider": "azure", "name": "a--b" } } }"#,
            "objects.b.name",
            "not valid on Blob Storage",
        ),
        (
            r#"{ "objects": { "ab": { "provider": "azure" } } }"#,
            "objects.ab",
            "not valid on Blob Storage",
        ),
        (
            r#"{ "providers": { "azure": { "account": "Not_An_Account" } } }"#,
            "providers.azure.account",
            "not a storage account name",
        ),
        (
            r#"{ "providers": { "azure": { "credentials": { "account_key": "k", "sas_token": "s" } } } }"#,
            "providers.azure.credentials",
            "give one of",
        ),
    ];
    for (text, path, rule) in cases {
        let msg = error_of(text);
        assert!(
            msg.starts_with(&format!(
                "InvalidConfig: infra.config.json at `{path}`: {rule}"
            )),
            "{msg}"
        );
        assert!(!msg.contains("Not_An_Account"), "{msg}");
    }
    parse(r#"{ "objects": { "b": { "provider": "azure", "name": "my-container-1" } } }"#)
        .expect("valid names");
}
