//! User metadata as Blob Storage carries it: `x-ms-meta-*` headers.
//!
//! Names: Blob Storage takes C# identifiers (letters, digits and `_`, not
//! starting with a digit); Strata's portable names (`validate_metadata` in
//! core: lowercase letters, digits, `-`, `_`) may also hold `-` or start
//! with a digit. A name that is an identifier not starting with `_` is sent
//! as it is; any other is sent as `_` followed by the name with `_` written
//! `__` and `-` written `_d` (`content-hash` → `_content_dhash`, `2nd` →
//! `_2nd`). Reading reverses it only for a name that is exactly such an
//! encoding, so a name another client wrote (`_tag`) reads as it is
//! (names come back lowercase, as HTTP header names).
//!
//! Values: Blob Storage keeps a header value as sent, so a value that is not
//! printable ASCII without leading or trailing spaces (or that is empty, or
//! itself reads as encoded-words) is sent as RFC 2047 encoded-words
//! (`strata_core::objects::metadata_words`, the codec S3 uses too) and
//! decoded on read. Every value round-trips; other clients read the
//! encoded-words.

use strata_core::objects::Metadata;
use strata_core::objects::metadata_words::{decode, encode, is_plain};

/// What marks an encoded name (a portable name never starts with it and is
/// sent as it is otherwise).
const ESCAPE: char = '_';

/// `metadata` as Blob Storage headers (names and values mapped).
pub(super) fn to_wire<T: FromIterator<(String, String)>>(metadata: &Metadata) -> T {
    metadata
        .iter()
        .map(|(name, value)| (wire_name(name), wire_value(value)))
        .collect()
}

/// Metadata read back from Blob Storage headers.
pub(super) fn from_wire(wire: impl IntoIterator<Item = (String, String)>) -> Metadata {
    wire.into_iter()
        .map(|(name, value)| {
            let name = user_name(&name).unwrap_or(name);
            let value = decode(&value).unwrap_or(value);
            (name, value)
        })
        .collect()
}

fn is_sent_as_is(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn wire_name(name: &str) -> String {
    if is_sent_as_is(name) {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len() + 4);
    out.push(ESCAPE);
    for c in name.chars() {
        match c {
            '_' => out.push_str("__"),
            '-' => out.push_str("_d"),
            c => out.push(c),
        }
    }
    out
}

/// The name `wire` encodes, when it is exactly [`wire_name`]'s encoding of one.
fn user_name(wire: &str) -> Option<String> {
    let rest = wire.strip_prefix(ESCAPE)?;
    let mut name = String::with_capacity(rest.len());
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '_' => match chars.next()? {
                '_' => name.push('_'),
                'd' => name.push('-'),
                _ => return None,
            },
            c if c.is_ascii_alphanumeric() => name.push(c),
            _ => return None,
        }
    }
    (wire_name(&name) == wire).then_some(name)
}

fn wire_value(value: &str) -> String {
    // An empty header value is not kept as one: send it as an empty word.
    if is_plain(value) && !value.is_empty() {
        value.to_owned()
    } else {
        encode(value)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn is_identifier(name: &str) -> bool {
        name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    #[test]
    fn portable_names_become_identifiers_and_come_back() {
        for name in [
            "note",
            "purpose_tag",
            "content-hash",
            "2nd",
            "-",
            "_",
            "a-_b",
            "a_-b",
            "__",
            "_d",
        ] {
            let wire = wire_name(name);
            assert!(is_identifier(&wire), "{name} → {wire}");
            let back: Metadata = from_wire([(wire.clone(), "v".to_owned())]);
            assert_eq!(back.keys().next().unwrap(), name, "{wire}");
        }
        assert_eq!(wire_name("content-hash"), "_content_dhash");
        assert_eq!(
            wire_name("purpose_tag"),
            "purpose_tag",
            "identifiers stay readable"
        );
    }

    #[test]
    fn names_other_clients_wrote_read_as_they_are() {
        for foreign in ["_tag", "Origin", "_x_y", "_content_dhash_", "__a"] {
            let got: Metadata = from_wire([(foreign.to_owned(), "v".to_owned())]);
            let want = user_name(foreign).unwrap_or_else(|| foreign.to_owned());
            assert_eq!(got.keys().next().unwrap(), &want);
        }
        assert_eq!(user_name("_tag"), None, "`tag` would be sent as `tag`");
        assert_eq!(user_name("_x_y"), None, "`_y` is no escape");
        assert_eq!(user_name("___a").as_deref(), Some("_a"));
        assert_eq!(user_name("__a"), None, "`_a` is sent as `___a`");
    }

    #[test]
    fn any_value_round_trips_and_plain_ones_are_sent_as_they_are() {
        for value in [
            "ascii",
            "Grüße ✓ 日本",
            " padded ",
            "tab\tand\nline",
            "=?UTF-8?B?SGk=?=",
            "",
        ] {
            let metadata = Metadata::from([("note".to_owned(), value.to_owned())]);
            let wire: HashMap<String, String> = to_wire(&metadata);
            assert!(is_plain(&wire["note"]) || decode(&wire["note"]).is_some());
            assert!(!wire["note"].is_empty());
            assert_eq!(from_wire(wire), metadata, "{value:?}");
        }
        let wire: HashMap<String, String> = to_wire(&Metadata::from([(
            "a".to_owned(),
            "ada lovelace".to_owned(),
        )]));
        assert_eq!(wire["a"], "ada lovelace");
    }
}
