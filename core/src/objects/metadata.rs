//! The portable rule for user metadata names, checked once by
//! [`Bucket`](super::Bucket) for every provider.
//!
//! A name is kept as given only if every provider keeps it: S3 lowercases
//! names (they are `x-amz-meta-*` headers), Blob Storage takes C#
//! identifiers (the Azure provider maps `-` and a leading digit reversibly,
//! see `strata_azure`'s `objects/metadata.rs`), GCS and the embedded
//! providers take anything. So a name is 1 to [`MAX_METADATA_NAME_BYTES`]
//! lowercase ASCII letters, digits, `-` and `_`, on every provider; any
//! other name is `InvalidArgument` everywhere, rather than renamed on one
//! cloud. Values are any text (see [`metadata_words`](super::metadata_words)).

use super::Metadata;
use crate::{Error, Result};

/// The longest metadata name, in bytes.
pub const MAX_METADATA_NAME_BYTES: usize = 128;

/// Checks every name of `metadata` against the portable rule.
///
/// # Errors
/// `InvalidArgument` naming the first name that breaks the rule, and the rule.
///
/// ```
/// use strata_core::objects::{Metadata, validate_metadata};
/// let ok = Metadata::from([("content-hash".to_owned(), "Grüße".to_owned())]);
/// assert!(validate_metadata(&ok).is_ok());
/// let upper = Metadata::from([("userId".to_owned(), "1".to_owned())]);
/// assert!(validate_metadata(&upper).is_err());
/// ```
pub fn validate_metadata(metadata: &Metadata) -> Result<()> {
    for name in metadata.keys() {
        let ok = !name.is_empty()
            && name.len() <= MAX_METADATA_NAME_BYTES
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'));
        if !ok {
            return Err(Error::invalid_argument(format!(
                "metadata name `{}` is not portable: use 1 to {MAX_METADATA_NAME_BYTES} \
                 lowercase ASCII letters, digits, `-` and `_` (S3 lowercases names and \
                 Blob Storage refuses most other characters)",
                name.escape_debug()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn check(name: &str) -> Result<()> {
        validate_metadata(&Metadata::from([(name.to_owned(), "v".to_owned())]))
    }

    #[test]
    fn lowercase_letters_digits_dashes_and_underscores_are_portable() {
        for name in [
            "note",
            "content-hash",
            "purpose_tag",
            "2nd",
            "-",
            "_x",
            &"a".repeat(128),
        ] {
            assert!(check(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn other_names_are_invalid_arguments_naming_the_rule() {
        for name in [
            "",
            "userId",
            "clé",
            "a.b",
            "a b",
            "a:b",
            "日本",
            &"a".repeat(129),
        ] {
            let err = check(name).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidArgument, "{name}");
            assert!(err.message().contains("lowercase ASCII letters"), "{err}");
        }
    }
}
