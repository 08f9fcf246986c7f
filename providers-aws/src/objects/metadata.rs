//! User metadata as S3 carries it: `x-amz-meta-*` HTTP headers.
//!
//! A header value is printable ASCII without leading or trailing spaces, so
//! a value with any other character is sent as RFC 2047 encoded-words
//! (`=?UTF-8?B?…?=`), as S3 documents for non-ASCII metadata: S3 decodes
//! them on write and returns a stored non-ASCII value encoded the same way
//! (LocalStack does the same; moto keeps the words as sent). Reading decodes
//! a value that is a run of encoded-words, so the string a user stored is the
//! string they get back, and other S3 clients (boto3, the CLI) see the
//! encoded-words, as they do for any non-ASCII value S3 returns.
//!
//! An ASCII value S3 would change is refused: one with control characters or
//! leading or trailing spaces (a header cannot carry them, and S3 decodes
//! encoded-words before storing, so the stored ASCII value would come back
//! bare and trimmed), or one that itself reads as encoded-words (it would
//! come back decoded).

use std::collections::HashMap;

use strata_core::objects::Metadata;
use strata_core::{Error, Result};

/// The longest encoded-word RFC 2047 allows is 75 characters: 12 of framing
/// and at most 60 of base64, which is 45 bytes of text.
const MAX_WORD_BYTES: usize = 45;
const PREFIX: &str = "=?UTF-8?B?";
const SUFFIX: &str = "?=";

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
        Ok(encode_value(value))
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
            let value = decode_value(&value).unwrap_or(value);
            (name, value)
        })
        .collect()
}

fn is_plain(value: &str) -> bool {
    value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && decode_value(value).is_none()
}

/// `value` as encoded-words of whole characters separated by a space.
fn encode_value(value: &str) -> String {
    let mut words = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for (at, c) in value.char_indices() {
        if at + c.len_utf8() - start > MAX_WORD_BYTES {
            words.push(&value[start..end]);
            start = at;
        }
        end = at + c.len_utf8();
    }
    words.push(&value[start..end]);
    words
        .iter()
        .map(|word| {
            format!(
                "{PREFIX}{}{SUFFIX}",
                aws_smithy_types::base64::encode(word.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The text of `value` when it is one or more encoded-words (charset UTF-8
/// or US-ASCII, `B` or `Q` encoding) separated by whitespace; `None`
/// otherwise, and for one that does not decode to UTF-8.
fn decode_value(value: &str) -> Option<String> {
    if !value.starts_with("=?") {
        return None;
    }
    let mut bytes = Vec::new();
    for word in value.split([' ', '\t']).filter(|w| !w.is_empty()) {
        let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
        let mut parts = inner.splitn(3, '?');
        let (charset, encoding, text) = (parts.next()?, parts.next()?, parts.next()?);
        // RFC 2231 allows a language after `*`: `UTF-8*en`.
        let charset = charset.split('*').next().unwrap_or(charset);
        if !(charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("us-ascii")) {
            return None;
        }
        if encoding.eq_ignore_ascii_case("b") {
            bytes.extend(aws_smithy_types::base64::decode(text).ok()?);
        } else if encoding.eq_ignore_ascii_case("q") {
            bytes.extend(decode_q(text)?);
        } else {
            return None;
        }
    }
    String::from_utf8(bytes).ok()
}

/// RFC 2047 `Q` encoding: `_` is a space, `=XX` a byte.
fn decode_q(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = [bytes.next()?, bytes.next()?];
                let hex = std::str::from_utf8(&hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
            }
            b'?' => return None,
            _ => out.push(b),
        }
    }
    Some(out)
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
    fn words_are_at_most_75_characters_of_whole_characters() {
        let long = "ü".repeat(100);
        let sent = encode_value(&long);
        for word in sent.split(' ') {
            assert!(word.len() <= 75, "{word}");
            let text = decode_value(word).unwrap();
            assert!(text.chars().all(|c| c == 'ü'));
        }
    }

    #[test]
    fn encoded_words_from_s3_and_other_clients_decode() {
        // What S3 returns for non-ASCII metadata, and Q-encoded forms.
        assert_eq!(
            decode_value("=?UTF-8?B?R3LDvMOfZQ==?=").as_deref(),
            Some("Grüße")
        );
        assert_eq!(
            decode_value("=?utf-8?q?Gr=C3=BC=C3=9Fe_du?=").as_deref(),
            Some("Grüße du")
        );
        assert_eq!(decode_value("=?ISO-8859-1?Q?caf=E9?="), None);
        assert_eq!(decode_value("not encoded"), None);
        let kept = from_headers(Some(HashMap::from([("a".to_owned(), "=?bad".to_owned())])));
        assert_eq!(kept["a"], "=?bad", "what does not decode is kept");
    }
}
