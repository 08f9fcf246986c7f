//! Checks that span fields: names, cross references and per-provider options.

use super::model::{CacheProviderKind, DatabaseProviderKind, InfraConfig, ObjectsProviderKind};

type PathError = (String, String);

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
        if cache.provider == CacheProviderKind::Redis && cache.url.is_none() {
            return Err((
                format!("{path}.url"),
                "the `redis` provider needs a `url` (redis:// or rediss://)".into(),
            ));
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
        if db.provider == DatabaseProviderKind::Postgres && db.url.is_none() {
            return Err((
                format!("{path}.url"),
                "the `postgres` provider needs a `url` (postgres://…)".into(),
            ));
        }
    }
    Ok(())
}
