//! RFC 2047 encoded-words for metadata values, a wire helper for providers.
//!
//! S3 and Blob Storage carry user metadata as HTTP headers, whose values are
//! printable ASCII without leading or trailing spaces. A provider whose
//! service keeps header values as sent sends any other value as encoded-words
//! (`=?UTF-8?B?…?=`, the form S3 documents for non-ASCII metadata) and
//! decodes them on read, so the string a user stored is the string they get
//! back. Application code never calls this: [`Bucket`](super::Bucket) hands
//! providers the user's strings, and each provider decides what its wire
//! needs (`strata_aws`'s and `strata_azure`'s `objects/metadata.rs`).
//!
//! ```
//! use strata_core::objects::metadata_words::{decode, encode, is_plain};
//! assert!(is_plain("ada lovelace"));
//! assert!(!is_plain("Grüße"));
//! let sent = encode("Grüße");
//! assert_eq!(sent, "=?UTF-8?B?R3LDvMOfZQ==?=");
//! assert_eq!(decode(&sent).as_deref(), Some("Grüße"));
//! assert_eq!(decode("not encoded"), None);
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The longest encoded-word RFC 2047 allows is 75 characters: 12 of framing
/// and at most 60 of base64, which is 45 bytes of text.
const MAX_WORD_BYTES: usize = 45;
const PREFIX: &str = "=?UTF-8?B?";
const SUFFIX: &str = "?=";

/// Whether `value` can be sent as a header value as it is and read back
/// unchanged: printable ASCII, no leading or trailing space, and not itself
/// a run of encoded-words (a reader would decode it).
pub fn is_plain(value: &str) -> bool {
    value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && decode(value).is_none()
}

/// `value` as UTF-8 `B` encoded-words of whole characters, each at most 75
/// characters, separated by one space. The empty string is one empty word
/// (`=?UTF-8?B??=`), so the result is never empty and never padded.
pub fn encode(value: &str) -> String {
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
        .map(|word| format!("{PREFIX}{}{SUFFIX}", STANDARD.encode(word.as_bytes())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The text of `value` when it is one or more encoded-words (charset UTF-8
/// or US-ASCII, `B` or `Q` encoding) separated by whitespace; `None`
/// otherwise, and for words that do not decode to UTF-8.
pub fn decode(value: &str) -> Option<String> {
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
            bytes.extend(STANDARD.decode(text).ok()?);
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

    #[test]
    fn any_text_encodes_to_plain_words_that_decode_to_it() {
        for value in [
            "plain ascii",
            "Grüße ✓ 日本",
            " leading and trailing ü ",
            "line\nbreak\tand\u{1}control ü",
            "=?x?y?z?=",
            "=?UTF-8?B?SGk=?=",
            &"日本語".repeat(40),
            "",
            "🦀",
        ] {
            let sent = encode(value);
            assert!(
                sent.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "`{sent}` is a valid header value"
            );
            assert_eq!(sent.trim(), sent, "no surrounding spaces");
            assert!(!sent.is_empty());
            assert_eq!(decode(&sent).as_deref(), Some(value));
        }
    }

    #[test]
    fn plain_values_are_printable_unpadded_ascii_that_is_not_words() {
        assert!(is_plain("ada lovelace"));
        assert!(is_plain(""));
        for value in [" padded", "padded ", "tab\there", "=?UTF-8?B?SGk=?=", "ü"] {
            assert!(!is_plain(value), "{value:?}");
        }
    }

    #[test]
    fn words_are_at_most_75_characters_of_whole_characters() {
        let long = "ü".repeat(100);
        let sent = encode(&long);
        for word in sent.split(' ') {
            assert!(word.len() <= 75, "{word}");
            let text = decode(word).unwrap();
            assert!(text.chars().all(|c| c == 'ü'));
        }
    }

    #[test]
    fn encoded_words_from_services_and_other_clients_decode() {
        // What S3 returns for non-ASCII metadata, and Q-encoded forms.
        assert_eq!(decode("=?UTF-8?B?R3LDvMOfZQ==?=").as_deref(), Some("Grüße"));
        assert_eq!(
            decode("=?utf-8?q?Gr=C3=BC=C3=9Fe_du?=").as_deref(),
            Some("Grüße du")
        );
        assert_eq!(decode("=?ISO-8859-1?Q?caf=E9?="), None);
        assert_eq!(decode("not encoded"), None);
        assert_eq!(decode("=?bad"), None);
    }
}
