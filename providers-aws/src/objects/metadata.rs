//! User metadata as S3 carries it: `x-amz-meta-*` HTTP headers.
//!
//! A header value is printable ASCII without leading or trailing spaces, so
//! any other value is sent as RFC 2047 encoded-words (`=?UTF-8?B?…?=`, as S3
//! documents for non-ASCII metadata: it decodes them on write and returns
//! stored non-ASCII values encoded the same way). Reading decodes a value
//! that is a run of encoded-words. So is an ASCII value that would read as
//! encoded-words, which keeps the mapping reversible: the string a user
//! stored is the string they get back. Other S3 clients (boto3, the CLI) see
//! the encoded-words, as they do for any non-ASCII value S3 returns.

use std::collections::HashMap;

use strata_core::objects::Metadata;

/// The longest encoded-word RFC 2047 allows is 75 characters: 12 of framing
/// and at most 60 of base64, which is 45 bytes of text.
const MAX_WORD_BYTES: usize = 45;
const PREFIX: &str = "=?UTF-8?B?";
const SUFFIX: &str = "?=";

/// Metadata as S3 headers, each value sent as it is or as encoded-words.
pub(super) fn to_headers(metadata: &Metadata) -> Option<HashMap<String, String>> {
    (!metadata.is_empty()).then(|| {
        metadata
            .iter()
            .map(|(name, value)| (name.clone(), encode_value(value)))
            .collect()
    })
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

/// `value` as a header value: as it is when it is plain printable ASCII
/// that does not read as encoded-words, otherwise encoded-words of whole
/// characters separated by a space.
fn encode_value(value: &str) -> String {
    if is_plain(value) {
        return value.to_owned();
    }
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
        let headers = to_headers(&metadata).unwrap();
        let sent = &headers["note"];
        assert!(
            sent.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "`{sent}` is a valid header value"
        );
        assert_eq!(sent.trim(), sent, "no surrounding spaces");
        from_headers(Some(headers)).remove("note").unwrap()
    }

    #[test]
    fn any_string_comes_back_as_stored() {
        for value in [
            "plain ascii",
            "Grüße ✓ 日本",
            " leading and trailing ",
            "line\nbreak\tand\u{1}control",
            "=?UTF-8?B?SGVsbG8=?=",
            "=?x?y?z?=",
            &"日本語".repeat(40),
            "",
            "🦀",
        ] {
            assert_eq!(round_trip(value), value);
        }
    }

    #[test]
    fn plain_ascii_is_sent_as_it_is() {
        let metadata = Metadata::from([("a".to_owned(), "ada lovelace".to_owned())]);
        assert_eq!(to_headers(&metadata).unwrap()["a"], "ada lovelace");
        assert_eq!(to_headers(&Metadata::new()), None);
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
