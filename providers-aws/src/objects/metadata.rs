//! User metadata as S3 carries it: `x-amz-meta-*` HTTP headers.
//!
//! A header value is printable ASCII without leading or trailing spaces, so
//! a value with any other character is sent as RFC 2047 encoded-words
//! (`=?UTF-8?B?…?=`), as S3 documents for non-ASCII metadata: S3 decodes
//! them on write and returns a stored non-ASCII value encoded the same way
//! (LocalStack does the same; moto keeps the words as sent). Reading decodes
//! a value that is a run of encoded-words, so the string a user stored is the
//! string they get back, and other S3 clients (boto3, the CLI) see the
//! encoded-words, as they do for any non-ASCII value S3 returns. The codec
//! is `strata_core::objects::metadata_words`, shared with Blob Storage.
//!
//! An ASCII value S3 would change is refused: one with control characters or
//! leading or trailing spaces (a header cannot carry them, and S3 decodes
//! encoded-words before storing, so the stored ASCII value would come back
//! bare and trimmed), or one that itself reads as encoded-words (it would
//! come back decoded).

use std::collections::HashMap;

use strata_core::objects::Metadata;
use strata_core::objects::metadata_words::{decode, encode, is_plain};
use strata_core::{Error, Result};

/// Metadata as S3 headers, each value sent as it is or as encoded-words.
///
/// # Errors
/// `InvalidArgument` for an ASCII value S3 would change (see the module docs).
pub(super) fn to_headers(metadata: &Metadata) -> Result<Option<HashMap<String, String>>> {
    if metadata.is_empty() {
        return Ok(None);
    }
    metadata
        .iter()
        .map(|(name, value)| Ok((name.clone(), header_value(name, value)?)))
        .collect::<Result<HashMap<_, _>>>()
        .map(Some)
}

/// `value` as it is when plain, as encoded-words when it has non-ASCII text.
fn header_value(name: &str, value: &str) -> Result<String> {
    if is_plain(value) {
        Ok(value.to_owned())
    } else if !value.is_ascii() {
        Ok(encode(value))
    } else {
        Err(Error::invalid_argument(format!(
            "metadata `{name}`: S3 cannot store an ASCII value with control characters, \
             leading or trailing spaces, or one that reads as RFC 2047 encoded-words \
             (`=?charset?B?…?=`) unchanged"
        )))
    }
}

/// Metadata read back from S3 headers.
pub(super) fn from_headers(headers: Option<HashMap<String, String>>) -> Metadata {
    headers
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            let value = decode(&value).unwrap_or(value);
            (name, value)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn round_trip(value: &str) -> String {
        let metadata = Metadata::from([("note".to_owned(), value.to_owned())]);
        let headers = to_headers(&metadata).unwrap().unwrap();
        let sent = &headers["note"];
        assert!(
            sent.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "`{sent}` is a valid header value"
        );
        assert_eq!(sent.trim(), sent, "no surrounding spaces");
        from_headers(Some(headers)).remove("note").unwrap()
    }

    #[test]
    fn any_text_with_non_ascii_characters_comes_back_as_stored() {
        for value in [
            "plain ascii",
            "Grüße ✓ 日本",
            " leading and trailing ü ",
            "line\nbreak\tand\u{1}control ü",
            "=?x?y?z?=",
            &"日本語".repeat(40),
            "",
            "🦀",
        ] {
            assert_eq!(round_trip(value), value);
        }
    }

    #[test]
    fn ascii_values_s3_would_change_are_invalid_arguments() {
        for value in [" padded", "tab\there", "=?UTF-8?B?SGk=?="] {
            let metadata = Metadata::from([("a".to_owned(), value.to_owned())]);
            let err = to_headers(&metadata).unwrap_err();
            assert_eq!(
                err.code(),
                strata_core::ErrorCode::InvalidArgument,
                "{value:?}"
            );
            assert!(err.message().contains("metadata `a`"), "{err}");
        }
    }

    #[test]
    fn plain_ascii_is_sent_as_it_is() {
        let metadata = Metadata::from([("a".to_owned(), "ada lovelace".to_owned())]);
        assert_eq!(to_headers(&metadata).unwrap().unwrap()["a"], "ada lovelace");
        assert_eq!(to_headers(&Metadata::new()).unwrap(), None);
    }
    #[test]
    fn what_does_not_decode_is_kept() {
        let kept = from_headers(Some(HashMap::from([("a".to_owned(), "=?bad".to_owned())])));
        assert_eq!(kept["a"], "=?bad");
    }
}
