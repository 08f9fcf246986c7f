//! Physical names → NATS names.
//!
//! JetStream stream and consumer names may not contain whitespace, `.`, `*`
//! or `>` (and the server stores them as directory names, so `/` and `\` are
//! out too); a subject splits on `.` and treats `*` and `>` as wildcards.
//! A topic's stream name and its subject are therefore one escaped token:
//! ASCII letters, digits and `-` pass through, and every other byte,
//! `_` included, becomes `_XX` (two upper-case hex digits). The escape is
//! injective (`_` never passes through), so two physical names never meet
//! in one stream, and the result never contains a wildcard or a separator:
//! `orders.v1` is stream `orders_2Ev1`, subject `strata.orders_2Ev1`.

use strata_core::{Error, Result};

/// The subject prefix of every Strata topic: one stream per topic captures
/// exactly `strata.<stream name>`, a literal subject.
pub const SUBJECT_PREFIX: &str = "strata.";

/// The longest escaped name accepted: the server keeps each stream and
/// consumer in a directory of that name, and file systems stop at 255 bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// Escapes `physical` into a stream or consumer name (see the module).
///
/// # Errors
/// `InvalidArgument` for an empty name or one whose escaped form is longer
/// than [`MAX_NAME_BYTES`].
pub fn escape(physical: &str) -> Result<String> {
    if physical.is_empty() {
        return Err(Error::invalid_argument(
            "a NATS stream or consumer name cannot be empty",
        ));
    }
    let mut out = String::with_capacity(physical.len());
    for byte in physical.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            out.push(char::from(byte));
        } else {
            out.push('_');
            out.push_str(&format!("{byte:02X}"));
        }
    }
    if out.len() > MAX_NAME_BYTES {
        return Err(Error::invalid_argument(format!(
            "the NATS name for a {}-byte name is {} bytes once escaped, over the limit of \
             {MAX_NAME_BYTES}",
            physical.len(),
            out.len()
        )));
    }
    Ok(out)
}

/// The stream name and subject of topic `physical`.
///
/// # Errors
/// As [`escape`].
pub fn topic_names(physical: &str) -> Result<(String, String)> {
    let stream = escape(physical)?;
    let subject = format!("{SUBJECT_PREFIX}{stream}");
    Ok((stream, subject))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn letters_digits_and_dashes_pass_through() {
        assert_eq!(escape("orders-v1").unwrap(), "orders-v1");
    }

    #[test]
    fn forbidden_characters_are_escaped_never_kept() {
        for (name, want) in [
            ("orders.v1", "orders_2Ev1"),
            ("a b", "a_20b"),
            ("all*", "all_2A"),
            ("rest>", "rest_3E"),
            ("a_b", "a_5Fb"),
            ("dir/x\\y", "dir_2Fx_5Cy"),
            ("é", "_C3_A9"),
        ] {
            let escaped = escape(name).unwrap();
            assert_eq!(escaped, want, "{name}");
            assert!(
                !escaped.contains(['.', '*', '>', ' ', '/', '\\']),
                "{escaped}"
            );
        }
    }

    #[test]
    fn the_escape_is_injective() {
        // `_` itself is escaped, so a name that looks like an escape differs.
        assert_ne!(escape("a.b").unwrap(), escape("a_2Eb").unwrap());
        assert_ne!(escape("a b").unwrap(), escape("a_b").unwrap());
    }

    #[test]
    fn empty_and_overlong_names_are_refused() {
        assert!(escape("").is_err());
        assert!(escape(&"a".repeat(MAX_NAME_BYTES)).is_ok());
        assert!(escape(&"a".repeat(MAX_NAME_BYTES + 1)).is_err());
        assert!(escape(&".".repeat(70)).is_err(), "210 bytes once escaped");
    }

    #[test]
    fn a_topic_subject_is_one_literal_token_under_the_prefix() {
        let (stream, subject) = topic_names("a.*.>").unwrap();
        assert_eq!(stream, "a_2E_2A_2E_3E");
        assert_eq!(subject, "strata.a_2E_2A_2E_3E");
        assert_eq!(subject.matches('.').count(), 1);
    }
}
