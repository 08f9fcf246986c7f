//! The one set of object key rules that every provider shares.
//!
//! Keys are checked once, in the portable layer, so a key that works on the
//! filesystem provider also works on S3, GCS and Azure Blob, and no key can
//! address anything outside its bucket (`..`, absolute paths, backslashes).

use super::ObjectKey;
use crate::{Error, Result};

/// The longest key in bytes of UTF-8 (the S3 and GCS limit).
pub const MAX_KEY_BYTES: usize = 1024;

/// How much of an offending key an error message quotes.
const QUOTE_CHARS: usize = 80;

impl ObjectKey {
    /// Validates `key` against the portable rules and wraps it.
    ///
    /// A key is a non-empty, at most [`MAX_KEY_BYTES`]-byte string of `/`-separated
    /// segments. It must not start or end with `/`, contain an empty segment
    /// (`a//b`), a `.` or `..` segment, a segment ending with `.` (Blob
    /// Storage drops that dot from a blob's name, as Windows file systems do
    /// from a file's, so the object would be stored under another key), a
    /// backslash, or an ASCII control character (0x00-0x1F, 0x7F). Any other
    /// Unicode is fine.
    ///
    /// # Errors
    /// [`ErrorCode::InvalidArgument`](crate::ErrorCode) naming the broken rule.
    ///
    /// ```
    /// use strata_core::{ErrorCode, objects::ObjectKey};
    /// assert_eq!(ObjectKey::new("img/ü/日本.png").unwrap().as_str(), "img/ü/日本.png");
    /// assert_eq!(ObjectKey::new("a/../b").unwrap_err().code(), ErrorCode::InvalidArgument);
    /// ```
    pub fn new(key: impl Into<String>) -> Result<ObjectKey> {
        let key = key.into();
        if key.is_empty() {
            return Err(Error::invalid_argument("invalid object key: it is empty"));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(bad_key(
                &key,
                &format!(
                    "it is {} bytes long, the limit is {MAX_KEY_BYTES}",
                    key.len()
                ),
            ));
        }
        check_characters(&key, "object key")?;
        if key.starts_with('/') {
            return Err(bad_key(&key, "it must not start with `/`"));
        }
        if key.ends_with('/') {
            return Err(bad_key(&key, "it must not end with `/`"));
        }
        check_segments(&key, "object key", true)?;
        Ok(ObjectKey(key))
    }

    /// The key as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Validates a list prefix: the key rules, except that it may be empty and may
/// end with `/` (a "folder"). A prefix need not end on a segment boundary
/// (`img/ca` matches `img/cat.png`).
///
/// # Errors
/// [`ErrorCode::InvalidArgument`](crate::ErrorCode) naming the broken rule.
///
/// ```
/// use strata_core::objects::validate_prefix;
/// assert!(validate_prefix("").is_ok());
/// assert!(validate_prefix("img/").is_ok());
/// assert!(validate_prefix("img/../").is_err());
/// ```
pub fn validate_prefix(prefix: &str) -> Result<()> {
    if prefix.is_empty() {
        return Ok(());
    }
    if prefix.len() > MAX_KEY_BYTES {
        return Err(bad_prefix(
            prefix,
            &format!(
                "it is {} bytes long, the limit is {MAX_KEY_BYTES}",
                prefix.len()
            ),
        ));
    }
    check_characters(prefix, "list prefix")?;
    if prefix.starts_with('/') {
        return Err(bad_prefix(prefix, "it must not start with `/`"));
    }
    // A trailing `/` leaves one empty last segment, which is allowed here.
    // Without one, the last segment may be the start of a longer one
    // (`img/cat.` matches `img/cat.png`), so only whole segments are held to
    // the trailing-dot rule.
    match prefix.strip_suffix('/') {
        Some(body) => check_segments(body, "list prefix", true),
        None => check_segments(prefix, "list prefix", false),
    }
}

fn check_characters(s: &str, what: &str) -> Result<()> {
    if let Some(c) = s.chars().find(|c| c.is_ascii_control()) {
        return Err(bad(
            what,
            s,
            &format!("it contains the control character U+{:04X}", u32::from(c)),
        ));
    }
    if s.contains('\\') {
        return Err(bad(
            what,
            s,
            "it contains a backslash (a path separator on some filesystems)",
        ));
    }
    Ok(())
}

/// The segment rules; `last_is_whole` says whether the last segment is
/// complete (a key's) or may continue (a prefix's).
fn check_segments(s: &str, what: &str, last_is_whole: bool) -> Result<()> {
    let count = s.split('/').count();
    for (i, segment) in s.split('/').enumerate() {
        match segment {
            "" => return Err(bad(what, s, "it contains an empty segment (`//`)")),
            "." | ".." => {
                return Err(bad(what, s, &format!("it contains a `{segment}` segment")));
            }
            _ if segment.ends_with('.') && (last_is_whole || i + 1 < count) => {
                return Err(bad(
                    what,
                    s,
                    "a segment ends with `.`, which Blob Storage and Windows file systems drop",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn bad_key(key: &str, rule: &str) -> Error {
    bad("object key", key, rule)
}

fn bad_prefix(prefix: &str, rule: &str) -> Error {
    bad("list prefix", prefix, rule)
}

fn bad(what: &str, value: &str, rule: &str) -> Error {
    Error::invalid_argument(format!("invalid {what} {}: {rule}", quote(value)))
}

/// Quotes a key for a message: escaped (control characters become visible)
/// and cut after [`QUOTE_CHARS`] characters.
pub(crate) fn quote(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(QUOTE_CHARS).collect();
    if chars.next().is_some() {
        format!("{head:?}… ({} bytes)", value.len())
    } else {
        format!("{head:?}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn rejected(key: &str) -> String {
        let err = ObjectKey::new(key).expect_err(key);
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
        err.message().to_owned()
    }

    #[test]
    fn accepts_plain_nested_and_unicode_keys() {
        for key in [
            "a",
            "a/b/c.txt",
            "ü/日本語/ключ.txt",
            "emoji/🦀🚀",
            "with space/a b+c=d&e.txt",
            ".hidden",
            "a/..b/c..d",
            "%41%",
        ] {
            assert_eq!(ObjectKey::new(key).unwrap().as_str(), key);
        }
    }

    #[test]
    fn rejects_empty_key() {
        assert!(rejected("").contains("empty"));
    }

    #[test]
    fn accepts_exactly_1024_bytes_and_rejects_1025() {
        assert!(ObjectKey::new("k".repeat(MAX_KEY_BYTES)).is_ok());
        let msg = rejected(&"k".repeat(MAX_KEY_BYTES + 1));
        assert!(msg.contains("1025 bytes"), "{msg}");
        // The quote is truncated, not the whole kilobyte.
        assert!(msg.len() < 300, "{msg}");
        // Multi-byte characters count as bytes.
        assert!(ObjectKey::new("é".repeat(513)).is_err());
    }

    #[test]
    fn rejects_control_characters() {
        for key in ["a\0b", "a\nb", "tab\there", "del\u{7f}"] {
            let msg = rejected(key);
            assert!(msg.contains("control character"), "{msg}");
        }
        assert!(rejected("a\0b").contains("U+0000"));
    }

    #[test]
    fn rejects_leading_slash() {
        assert!(rejected("/a").contains("start with `/`"));
    }

    #[test]
    fn rejects_trailing_slash_and_empty_segments() {
        assert!(rejected("a/").contains("end with `/`"));
        assert!(rejected("a//b").contains("empty segment"));
    }

    #[test]
    fn rejects_segments_ending_with_a_dot_but_not_a_prefix_ending_with_one() {
        for key in ["a.", "dir./b", "a/b..", "x/y./z"] {
            let err = ObjectKey::new(key).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidArgument, "{key}");
            assert!(err.to_string().contains("ends with `.`"), "{err}");
        }
        assert!(ObjectKey::new("a.b/.hidden/c.txt").is_ok());
        assert!(validate_prefix("img/cat.").is_ok());
        assert!(validate_prefix("img./").is_err());
        assert!(validate_prefix("img./c").is_err());
    }

    #[test]
    fn rejects_dot_segments() {
        assert!(rejected("..").contains("`..` segment"));
        assert!(rejected("a/../b").contains("`..` segment"));
        assert!(rejected("a/..").contains("`..` segment"));
        assert!(rejected("./a").contains("`.` segment"));
        assert!(rejected("a/./b").contains("`.` segment"));
    }

    #[test]
    fn rejects_backslash() {
        assert!(rejected("a\\b").contains("backslash"));
        assert!(rejected("..\\etc").contains("backslash"));
    }

    #[test]
    fn messages_quote_the_key() {
        let msg = rejected("a/../secret");
        assert!(msg.contains("\"a/../secret\""), "{msg}");
    }

    #[test]
    fn prefix_may_be_empty_or_end_with_slash() {
        for prefix in ["", "a", "a/", "a/b/", "a/b/partial", "ü/日"] {
            assert!(validate_prefix(prefix).is_ok(), "{prefix}");
        }
    }

    #[test]
    fn prefix_follows_the_key_character_and_segment_rules() {
        for prefix in [
            "/", "/a", "a//", "a//b", "../", "a/../", "a/..", "./", "a\\b", "a\0", "a\r",
        ] {
            let err = validate_prefix(prefix).expect_err(prefix);
            assert_eq!(err.code(), ErrorCode::InvalidArgument);
            assert!(err.message().contains("list prefix"), "{err}");
        }
        assert!(validate_prefix(&"p".repeat(MAX_KEY_BYTES + 1)).is_err());
    }
}
