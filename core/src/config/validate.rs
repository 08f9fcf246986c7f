//! Checks that span the portable fields: names and cross references. Bounds
//! are the schema's (`registry::conform`); each provider's own fields are
//! checked by its options type.

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
    for name in config.caches.keys() {
        check_name("caches", name)?;
    }
    for name in config.databases.keys() {
        check_name("databases", name)?;
    }
    Ok(())
}
