//! Pub/Sub resource names: `projects/P/topics/T` and
//! `projects/P/subscriptions/S`, and the rules for the ids in them.
//!
//! Ids are checked here, before any request, so a bad name fails with
//! `InvalidArgument` saying what is allowed instead of a server error.

use strata_core::{Error, Result};

/// The shortest id Pub/Sub accepts.
pub const MIN_ID_CHARS: usize = 3;
/// The longest id Pub/Sub accepts.
pub const MAX_ID_CHARS: usize = 255;

/// Checks a topic or subscription id: 3 to 255 characters, starting with a
/// letter, of letters, digits and `-_.~+%`, not starting with `goog`.
///
/// ```
/// use strata_gcp::pubsub::names::check_id;
/// assert!(check_id("topic", "orders").is_ok());
/// assert!(check_id("topic", "t1").is_err());
/// ```
///
/// # Errors
/// `InvalidArgument` naming the rule that was broken.
pub fn check_id(kind: &str, id: &str) -> Result<()> {
    match id_problem(id) {
        None => Ok(()),
        Some(problem) => Err(Error::invalid_argument(format!(
            "Pub/Sub {kind} id `{id}` {problem}"
        ))),
    }
}

/// What is wrong with a topic or subscription id, without repeating it.
fn id_problem(id: &str) -> Option<String> {
    let len = id.chars().count();
    if !(MIN_ID_CHARS..=MAX_ID_CHARS).contains(&len) {
        Some(format!(
            "is {len} characters; Pub/Sub ids are {MIN_ID_CHARS} to {MAX_ID_CHARS}"
        ))
    } else if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        Some("must start with a letter".to_owned())
    } else if id.to_ascii_lowercase().starts_with("goog") {
        Some("must not start with `goog`".to_owned())
    } else if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.~+%".contains(c))
    {
        Some("contains a character other than letters, digits and - _ . ~ + %".to_owned())
    } else {
        None
    }
}

/// The rule a topic or subscription name of the config breaks, if any: an
/// id, or a full name (`projects/P/topics/ID`) whose id is checked. The
/// message never repeats the name.
pub fn name_rule(kind: &str, collection: &str, name: &str) -> Option<String> {
    let id = match name.strip_prefix("projects/") {
        Some(rest) => match rest.split('/').collect::<Vec<_>>().as_slice() {
            [p, c, id] if !p.is_empty() && *c == collection => *id,
            _ => {
                return Some(format!(
                    "not a Pub/Sub {kind} name (expected an id, or projects/PROJECT/{collection}/ID)"
                ));
            }
        },
        None => name,
    };
    id_problem(id).map(|problem| format!("the Pub/Sub {kind} id {problem}"))
}

/// The full name of topic `id` in `project`, or `id` itself when it already is
/// a full name (`projects/…/topics/…`), e.g. a topic of another project.
///
/// # Errors
/// `InvalidArgument` for an invalid id.
pub fn topic_path(project: &str, id: &str) -> Result<String> {
    full_path(project, "topics", "topic", id)
}

/// The full name of subscription `id` in `project` (or `id` when it already is
/// a full name).
///
/// # Errors
/// `InvalidArgument` for an invalid id.
pub fn subscription_path(project: &str, id: &str) -> Result<String> {
    full_path(project, "subscriptions", "subscription", id)
}

fn full_path(project: &str, collection: &str, kind: &str, id: &str) -> Result<String> {
    if let Some(rest) = id.strip_prefix("projects/") {
        let parts: Vec<&str> = rest.split('/').collect();
        return match parts.as_slice() {
            [p, c, short] if !p.is_empty() && *c == collection => {
                check_id(kind, short)?;
                Ok(id.to_owned())
            }
            _ => Err(Error::invalid_argument(format!(
                "`{id}` is not a Pub/Sub {kind} name (expected projects/PROJECT/{collection}/ID)"
            ))),
        };
    }
    check_id(kind, id)?;
    Ok(format!("projects/{project}/{collection}/{id}"))
}

/// The id at the end of a full name.
pub fn short_id(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use strata_core::ErrorCode;

    #[test]
    fn ids_follow_the_pubsub_rules() {
        for good in ["abc", "orders-email", "a.b_c~d+e%f", &"x".repeat(255)] {
            assert!(check_id("topic", good).is_ok(), "{good}");
        }
        for bad in [
            "t1",
            "1abc",
            "googly",
            "has space",
            "slash/y",
            &"x".repeat(256),
        ] {
            let err = check_id("topic", bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidArgument, "{bad}");
            assert!(err.message().contains(bad), "{err}");
            let rule = name_rule("topic", "topics", bad).unwrap();
            assert!(!rule.contains(bad), "{rule}");
        }
    }

    #[test]
    fn config_names_get_the_rule_without_the_name() {
        assert_eq!(name_rule("topic", "topics", "orders"), None);
        assert_eq!(
            name_rule("topic", "topics", "projects/p/topics/orders"),
            None
        );
        assert_eq!(
            name_rule("topic", "topics", "x").unwrap(),
            "the Pub/Sub topic id is 1 characters; Pub/Sub ids are 3 to 255"
        );
        assert!(
            name_rule("subscription", "subscriptions", "projects/p/topics/t")
                .unwrap()
                .contains("not a Pub/Sub subscription name")
        );
        assert!(
            name_rule("topic", "topics", "bad name!")
                .unwrap()
                .contains("other than letters")
        );
    }

    #[test]
    fn paths_are_built_or_taken_as_given() {
        assert_eq!(
            topic_path("p", "orders").unwrap(),
            "projects/p/topics/orders"
        );
        assert_eq!(
            subscription_path("p", "projects/q/subscriptions/sub").unwrap(),
            "projects/q/subscriptions/sub"
        );
        assert!(topic_path("p", "projects/q/subscriptions/sub").is_err());
        assert_eq!(short_id("projects/p/topics/orders"), "orders");
    }
}
