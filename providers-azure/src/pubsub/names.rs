//! Service Bus entity names, checked at load and before any request so a
//! bad name fails with `InvalidArgument` saying what is allowed.
//!
//! Topics: 1 to 260 characters of letters, digits, `.`, `-`, `_` and `/`
//! (a path), each `/`-separated segment starting and ending with a letter
//! or digit. Subscriptions: 1 to 50 characters of letters, digits, `.`,
//! `-` and `_`, starting and ending with a letter or digit.

/// The longest topic name.
pub const MAX_TOPIC_CHARS: usize = 260;
/// The longest subscription name.
pub const MAX_SUBSCRIPTION_CHARS: usize = 50;

/// The rule a topic name breaks, if any (never repeating the name).
///
/// ```
/// use strata_azure::pubsub::names::topic_rule;
/// assert!(topic_rule("orders").is_none());
/// assert!(topic_rule("orders/").is_some());
/// ```
pub fn topic_rule(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > MAX_TOPIC_CHARS {
        return Some(format!(
            "a Service Bus topic name is 1 to {MAX_TOPIC_CHARS} characters"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_/".contains(c))
    {
        return Some(
            "a Service Bus topic name has only letters, digits, `.`, `-`, `_` and `/`".to_owned(),
        );
    }
    if !name.split('/').all(edges_alphanumeric) {
        return Some(
            "each `/`-separated part of a Service Bus topic name starts and ends with a letter \
             or digit"
                .to_owned(),
        );
    }
    None
}

/// The rule a subscription name breaks, if any (never repeating the name).
///
/// ```
/// use strata_azure::pubsub::names::subscription_rule;
/// assert!(subscription_rule("send-email").is_none());
/// assert!(subscription_rule("a/b").is_some());
/// ```
pub fn subscription_rule(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > MAX_SUBSCRIPTION_CHARS {
        return Some(format!(
            "a Service Bus subscription name is 1 to {MAX_SUBSCRIPTION_CHARS} characters"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
    {
        return Some(
            "a Service Bus subscription name has only letters, digits, `.`, `-` and `_`".to_owned(),
        );
    }
    if !edges_alphanumeric(name) {
        return Some(
            "a Service Bus subscription name starts and ends with a letter or digit".to_owned(),
        );
    }
    None
}

fn edges_alphanumeric(part: &str) -> bool {
    let ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    ok(part.chars().next()) && ok(part.chars().last())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_service_rules() {
        assert!(topic_rule("orders.v1/eu-west_2").is_none());
        assert!(topic_rule("").is_some());
        assert!(topic_rule(&"t".repeat(261)).is_some());
        assert!(topic_rule("a//b").is_some());
        assert!(topic_rule("-orders").is_some());
        assert!(subscription_rule("send-email").is_none());
        assert!(subscription_rule(&"s".repeat(51)).is_some());
        assert!(subscription_rule("send email").is_some());
        assert!(subscription_rule("send.").is_some());
    }
}
