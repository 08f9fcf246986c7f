//! Checks that span the portable fields: names and cross references. Each
//! provider's own fields are checked by its options type.

use super::model::InfraConfig;

type PathError = (String, String);

/// Logical names are used in code, in physical names and in file paths: one
/// rule for all of them ([`crate::names`]).
fn check_name(block: &str, name: &str) -> Result<(), PathError> {
    match crate::names::broken_rule(name) {
        None => Ok(()),
        Some(rule) => Err((block.to_owned(), format!("logical name {name:?}: {rule}"))),
    }
}

/// The largest pool a config may ask for: a bound, so a typo cannot make the
/// pool reserve memory for billions of connections.
pub const MAX_CONNECTIONS: u32 = 1000;

fn at_least_one(path: String, value: Option<u64>) -> Result<(), PathError> {
    if value == Some(0) {
        Err((path, "expected at least 1".into()))
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
            for (field, value) in [
                ("max_attempts", sub.max_attempts),
                ("max_concurrency", sub.max_concurrency),
                ("lease_seconds", sub.lease_seconds),
                ("handler_timeout_seconds", sub.handler_timeout_seconds),
            ] {
                at_least_one(format!("{path}.{field}"), value.map(u64::from))?;
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
    for name in config.objects.keys() {
        check_name("objects", name)?;
    }
    for (name, cache) in &config.caches {
        check_name("caches", name)?;
        at_least_one(
            format!("caches.{name}.default_ttl_ms"),
            cache.default_ttl_ms,
        )?;
    }
    for (name, db) in &config.databases {
        check_name("databases", name)?;
        let path = format!("databases.{name}.max_connections");
        at_least_one(path.clone(), db.max_connections.map(u64::from))?;
        if let Some(n) = db.max_connections
            && n > MAX_CONNECTIONS
        {
            return Err((path, format!("expected at most {MAX_CONNECTIONS}")));
        }
    }
    Ok(())
}
