//! The pure half of the pub/sub wire: a `publishBatch` row decoded into a
//! message, and a delivery's attributes written as JSON. No napi here, so the
//! fuzz target in `fuzz/` compiles this very file (`#[path]`); it may use
//! only `bytes`, `serde_json` and `strata_core`.

use bytes::Bytes;
use strata_core::pubsub::{Attributes, OutgoingMessage, check_publisher_attributes};
use strata_core::{Error, Result};

/// The attribute that records how the JS layer encoded a payload
/// (`application/json` for objects, `text/plain; charset=utf-8` for strings).
pub const CONTENT_TYPE_ATTRIBUTE: &str = "strata.content_type";
/// The content type of payloads published as JS strings.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
/// The content type of payloads published as JS values (JSON-encoded).
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// How JS encoded a published payload (the second number of its row).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Payload {
    /// Raw bytes: no content type.
    Bytes = 0,
    /// A string, UTF-8.
    Text = 1,
    /// Any other value, JSON-encoded.
    Json = 2,
}

impl Payload {
    /// The kind of code `code`; an unknown code is taken for raw bytes.
    pub(crate) fn of(code: f64) -> Payload {
        match code as u32 {
            1 => Payload::Text,
            2 => Payload::Json,
            _ => Payload::Bytes,
        }
    }
}

/// One message of a `publishBatch` table row; `offset` moves past its bytes.
pub(crate) fn decode_publish(
    row: &[f64],
    bytes: &Bytes,
    offset: &mut usize,
) -> Result<OutgoingMessage> {
    let mut take = |len: f64| -> Result<Option<Bytes>> {
        if len < 0.0 {
            return Ok(None);
        }
        let start = *offset;
        // `as` saturates (a huge or infinite length is usize::MAX, NaN is
        // 0); the sum is checked, so no length reads outside the batch.
        let end = start
            .checked_add(len as usize)
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| Error::internal("a publish batch is shorter than its table"))?;
        *offset = end;
        Ok(Some(bytes.slice(start..end)))
    };
    let data = take(row[2])?.unwrap_or_default();
    let attributes = take(row[3])?.filter(|json| !json.is_empty());
    let ordering_key = take(row[4])?;
    let mut message = OutgoingMessage::new(data);
    if let Some(json) = attributes {
        message.attributes = serde_json::from_slice::<Attributes>(&json).map_err(|err| {
            Error::invalid_argument(format!("attributes must map strings to strings: {err}"))
        })?;
        // The caller's attributes may not be Strata's own; the content type
        // below is, so the topic is then asked as Strata.
        check_publisher_attributes(&message.attributes)?;
    }
    let content_type = match Payload::of(row[1]) {
        Payload::Text => Some(TEXT_CONTENT_TYPE),
        Payload::Json => Some(JSON_CONTENT_TYPE),
        Payload::Bytes => None,
    };
    if let Some(content_type) = content_type {
        message
            .attributes
            .insert(CONTENT_TYPE_ATTRIBUTE.to_owned(), content_type.to_owned());
    }
    if let Some(key) = ordering_key {
        let key = String::from_utf8(key.to_vec())
            .map_err(|_| Error::invalid_argument("an ordering key must be valid UTF-8"))?;
        message.ordering_key = Some(key);
    }
    Ok(message)
}

/// Writes attributes as a JSON object. Every delivery carries at least the
/// content-type attribute, so the common case (nothing to escape) is copied
/// straight; a string that needs escaping goes through serde_json.
pub(crate) fn write_attributes(out: &mut Vec<u8>, attributes: &Attributes) {
    out.push(b'{');
    for (n, (key, value)) in attributes.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_json_string(out, key);
        out.push(b':');
        write_json_string(out, value);
    }
    out.push(b'}');
}

fn write_json_string(out: &mut Vec<u8>, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        let before = out.len();
        // Serializing a string into a Vec cannot fail; were it to, an empty
        // string keeps the object valid.
        if serde_json::to_writer(&mut *out, text).is_err() {
            out.truncate(before);
            out.extend_from_slice(b"\"\"");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strata_core::ErrorCode;

    use super::*;

    #[test]
    fn lengths_past_the_batch_are_errors_not_panics() {
        let bytes = Bytes::from_static(b"payload{}key");
        // A first field moves the offset; a huge second length then wrapped
        // around to a small end before the start, and slicing panicked.
        for len in [f64::MAX, 1.8e19, f64::INFINITY, 1e300] {
            let mut offset = 0;
            let err = decode_publish(&[1.0, 0.0, 7.0, len, -1.0], &bytes, &mut offset).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Internal, "{len}");
        }
        let mut offset = 0;
        let message = decode_publish(&[1.0, 0.0, 7.0, 2.0, 3.0], &bytes, &mut offset).unwrap();
        assert_eq!(message.data.as_ref(), b"payload");
        assert_eq!(message.ordering_key.as_deref(), Some("key"));
        assert_eq!(offset, bytes.len());
    }

    #[test]
    fn reserved_attributes_from_js_are_refused_and_the_content_type_is_set() {
        let json = br#"{"strata.content_type":"x"}"#;
        let bytes = Bytes::from_static(json);
        let mut offset = 0;
        let row = [1.0, 0.0, 0.0, json.len() as f64, -1.0];
        let err = decode_publish(&row, &bytes, &mut offset).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        assert_eq!(offset, json.len(), "the next row starts after this one");
        let mut offset = 0;
        let text = decode_publish(&[1.0, 1.0, 0.0, 0.0, -1.0], &Bytes::new(), &mut offset).unwrap();
        assert_eq!(
            text.attributes
                .get(CONTENT_TYPE_ATTRIBUTE)
                .map(String::as_str),
            Some(TEXT_CONTENT_TYPE)
        );
    }
}
