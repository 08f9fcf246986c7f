//! Checks that span fields: names, cross references and per-provider options.

use super::model::{
    CacheConfig, CacheProviderKind, DatabaseAuth, DatabaseProviderKind, InfraConfig,
    ObjectsProviderKind,
};

type PathError = (String, String);

/// libpq's `sslmode` values, accepted by `databases.*.ssl_mode`.
const SSL_MODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// Logical names are used in code and in physical names: keep them portable.
fn check_name(block: &str, name: &str) -> Result<(), PathError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err((
            block.to_owned(),
            format!(
                "logical name `{name}` must be 1 to 63 characters of letters, digits, `-`, `_` or `.`"
            ),
        ))
    }
}

fn only_for(path: String, field: &str, provider: &str, present: bool) -> Result<(), PathError> {
    if present {
        Err((
            path,
            format!("`{field}` applies only to the `{provider}` provider"),
        ))
    } else {
        Ok(())
    }
}

/// The `redis` cache fields that can be checked without connecting.
fn check_redis_cache(path: &str, cache: &CacheConfig) -> Result<(), PathError> {
    let Some(url) = &cache.url else {
        return Err((
            format!("{path}.url"),
            "the `redis` provider needs a `url` (redis:// or rediss://)".into(),
        ));
    };
    // Never echo the URL: it may carry a password.
    let tls = if url.starts_with("rediss://") {
        true
    } else if url.starts_with("redis://") {
        false
    } else {
        return Err((
            format!("{path}.url"),
            "expected a URL starting with `redis://` or `rediss://` (TLS)".into(),
        ));
    };
    if cache.tls_ca_file.is_some() && !tls {
        return Err((
            format!("{path}.tls_ca_file"),
            "`tls_ca_file` needs a `rediss://` (TLS) url".into(),
        ));
    }
    for (field, value) in [
        ("connect_timeout_ms", cache.connect_timeout_ms),
        ("response_timeout_ms", cache.response_timeout_ms),
    ] {
        if value == Some(0) {
            return Err((format!("{path}.{field}"), "expected at least 1".into()));
        }
    }
    Ok(())
}

/// Runs every cross-field check; the first failure wins.
pub(super) fn validate(config: &InfraConfig) -> Result<(), PathError> {
    for (name, topic) in &config.pubsub {
        check_name("pubsub", name)?;
        for (sub_name, sub) in &topic.subscriptions {
            let path = format!("pubsub.{name}.subscriptions.{sub_name}");
            check_name(&format!("pubsub.{name}.subscriptions"), sub_name)?;
            if let Some(dlt) = &sub.dead_letter_topic {
                if dlt == name {
                    return Err((
                        format!("{path}.dead_letter_topic"),
                        "a topic cannot be its own dead-letter topic".into(),
                    ));
                }
                if !config.pubsub.contains_key(dlt) {
                    let known: Vec<&str> = config.pubsub.keys().map(String::as_str).collect();
                    return Err((
                        format!("{path}.dead_letter_topic"),
                        format!(
                            "no topic named `{dlt}` in `pubsub` (it has: {})",
                            known.join(", ")
                        ),
                    ));
                }
            }
            if sub.max_attempts.is_some() && sub.dead_letter_topic.is_none() {
                return Err((
                    format!("{path}.max_attempts"),
                    "`max_attempts` needs `dead_letter_topic`: without a destination a failing \
                     message is retried until it succeeds, never dropped"
                        .into(),
                ));
            }
            if sub.max_attempts == Some(0) {
                return Err((format!("{path}.max_attempts"), "expected at least 1".into()));
            }
            if sub.max_concurrency == Some(0) {
                return Err((
                    format!("{path}.max_concurrency"),
                    "expected at least 1".into(),
                ));
            }
            if let (Some(min), Some(max)) = (sub.min_backoff_ms, sub.max_backoff_ms)
                && min > max
            {
                return Err((
                    format!("{path}.min_backoff_ms"),
                    format!("min_backoff_ms ({min}) is larger than max_backoff_ms ({max})"),
                ));
            }
        }
    }
    for (name, bucket) in &config.objects {
        check_name("objects", name)?;
        let path = format!("objects.{name}");
        let is_fs = bucket.provider == ObjectsProviderKind::Filesystem;
        only_for(
            format!("{path}.root"),
            "root",
            "filesystem",
            !is_fs && bucket.root.is_some(),
        )?;
    }
    for (name, cache) in &config.caches {
        check_name("caches", name)?;
        let path = format!("caches.{name}");
        let is_memory = cache.provider == CacheProviderKind::Memory;
        only_for(
            format!("{path}.max_entries"),
            "max_entries",
            "memory",
            !is_memory && cache.max_entries.is_some(),
        )?;
        only_for(
            format!("{path}.url"),
            "url",
            "redis",
            is_memory && cache.url.is_some(),
        )?;
        let redis_only = [
            ("username", cache.username.is_some()),
            ("password", cache.password.is_some()),
            ("db", cache.db.is_some()),
            ("tls_ca_file", cache.tls_ca_file.is_some()),
            ("connect_timeout_ms", cache.connect_timeout_ms.is_some()),
            ("response_timeout_ms", cache.response_timeout_ms.is_some()),
        ];
        for (field, present) in redis_only {
            only_for(
                format!("{path}.{field}"),
                field,
                "redis",
                is_memory && present,
            )?;
        }
        if cache.provider == CacheProviderKind::Redis {
            check_redis_cache(&path, cache)?;
        }
    }
    for (name, db) in &config.databases {
        check_name("databases", name)?;
        let path = format!("databases.{name}");
        let is_sqlite = db.provider == DatabaseProviderKind::Sqlite;
        only_for(
            format!("{path}.path"),
            "path",
            "sqlite",
            !is_sqlite && db.path.is_some(),
        )?;
        only_for(
            format!("{path}.url"),
            "url",
            "postgres",
            is_sqlite && db.url.is_some(),
        )?;
        let local = db.local == Some(true);
        if db.provider == DatabaseProviderKind::Postgres && db.url.is_none() && !local {
            return Err((
                format!("{path}.url"),
                "the `postgres` provider needs a `url` (postgres://…), or `\"local\": true` \
                 for a private server run by Strata"
                    .into(),
            ));
        }
        if db.fallback.is_some() && !local {
            return Err((
                format!("{path}.fallback"),
                "`fallback` applies only to a `\"local\": true` PostgreSQL".into(),
            ));
        }
        if local && db.auth.is_some_and(|auth| auth != DatabaseAuth::Password) {
            return Err((
                format!("{path}.auth"),
                "a `local` server uses its own password; cloud IAM auth needs a `url`".into(),
            ));
        }
        if local && db.url.is_some() {
            return Err((
                format!("{path}.local"),
                "`local` runs a private server; it cannot go with a `url`".into(),
            ));
        }
        for (field, present) in [
            ("acquire_timeout_ms", db.acquire_timeout_ms.is_some()),
            ("connect_timeout_ms", db.connect_timeout_ms.is_some()),
            ("statement_timeout_ms", db.statement_timeout_ms.is_some()),
            ("ssl_mode", db.ssl_mode.is_some()),
            ("ssl_root_cert", db.ssl_root_cert.is_some()),
            ("local", db.local.is_some()),
            ("auth", db.auth.is_some()),
        ] {
            only_for(
                format!("{path}.{field}"),
                field,
                "postgres",
                is_sqlite && present,
            )?;
        }
        for (field, value) in [
            ("acquire_timeout_ms", db.acquire_timeout_ms),
            ("connect_timeout_ms", db.connect_timeout_ms),
            ("statement_timeout_ms", db.statement_timeout_ms),
        ] {
            if value == Some(0) {
                return Err((format!("{path}.{field}"), "expected at least 1".into()));
            }
        }
        if let Some(mode) = &db.ssl_mode
            && !SSL_MODES.contains(&mode.as_str())
        {
            return Err((
                format!("{path}.ssl_mode"),
                format!(
                    "unknown ssl_mode `{mode}`; expected one of {}",
                    SSL_MODES.join(", ")
                ),
            ));
        }
    }
    Ok(())
}
