//! The one rule for logical names: the names code and config give topics,
//! subscriptions, buckets, caches and databases.
//!
//! Applications build names from input (`bucket(format!("tenant-{id}"))`), and
//! the embedded providers turn a name into a file path (`.strata/objects/<name>`,
//! `.strata/<name>.db`). So a name is checked once, by this rule, wherever one is
//! accepted — the config file and every runtime call — and the rule leaves no
//! way out of a folder: no separator, no `.`/`..`, no leading dot or dash, no
//! control character. Distinct names are distinct file names, so the mapping
//! from name to storage location is one-to-one (on a case-sensitive
//! filesystem; on a case-insensitive one, names differing only by case share
//! a location).

use crate::{Error, Result};

/// The longest logical name, in characters (a DNS label's length: the strictest
/// physical name a default is derived from).
pub const MAX_NAME_LEN: usize = 63;

/// How much of an offending name an error message quotes.
const QUOTE_CHARS: usize = 64;

/// Checks a logical name: 1 to [`MAX_NAME_LEN`] ASCII letters, digits, `-`, `_`
/// or `.`, starting with a letter or a digit.
///
/// `what` names the kind of thing for the error message (`"bucket"`,
/// `"subscription"`, …).
///
/// # Errors
/// [`ErrorCode::InvalidArgument`](crate::ErrorCode) naming the broken rule.
///
/// ```
/// use strata_core::{ErrorCode, names::check_logical_name};
/// assert!(check_logical_name("bucket", "tenant-42.uploads").is_ok());
/// assert_eq!(check_logical_name("bucket", "../x").unwrap_err().code(), ErrorCode::InvalidArgument);
/// assert!(check_logical_name("database", "a/b").is_err());
/// ```
pub fn check_logical_name(what: &str, name: &str) -> Result<()> {
    match broken_rule(name) {
        None => Ok(()),
        Some(rule) => Err(Error::invalid_argument(format!(
            "invalid {what} name {}: {rule}",
            quote(name)
        ))),
    }
}

/// The rule `name` breaks, if any; the text says what a name must be.
pub(crate) fn broken_rule(name: &str) -> Option<&'static str> {
    const RULE: &str = "a logical name is 1 to 63 ASCII letters, digits, `-`, `_` or `.`, \
                        starting with a letter or a digit";
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok = first_ok
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    (!ok).then_some(RULE)
}

/// The name as a Rust string literal (control characters escaped), cut short.
fn quote(name: &str) -> String {
    let cut: String = name.chars().take(QUOTE_CHARS).collect();
    if cut.len() < name.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn portable_names_pass() {
        for name in [
            "a",
            "orders",
            "tenant-42",
            "user_events.v2",
            "A1",
            &"x".repeat(63),
        ] {
            assert!(check_logical_name("topic", name).is_ok(), "{name}");
        }
    }

    #[test]
    fn names_that_could_leave_a_folder_or_alias_another_fail() {
        let long = "x".repeat(64);
        for name in [
            "",
            ".",
            "..",
            "../x",
            "../../escape",
            "/srv/x",
            "a/b",
            "alias/b",
            "a\\b",
            ".hidden",
            "-flag",
            "a\0b",
            "a\nb",
            "café",
            "a b",
            "C:",
            "a:b",
            &long,
        ] {
            let err = check_logical_name("bucket", name).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidArgument, "{name:?}");
            assert!(err.message().starts_with("invalid bucket name "), "{err}");
        }
    }

    #[test]
    fn errors_quote_the_name_escaped_and_short() {
        let err = check_logical_name("cache", "a\0b").unwrap_err();
        assert!(err.message().contains(r#""a\0b""#), "{err}");
        let err = check_logical_name("cache", &"y".repeat(10_000)).unwrap_err();
        assert!(err.message().len() < 300, "{}", err.message().len());
    }
}
