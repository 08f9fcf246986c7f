//! How a Strata message travels through SNS and SQS.
//!
//! SNS and SQS carry a text body and at most 10 string attributes. A Strata
//! message is bytes, string attributes and an optional ordering key, and its
//! id must be the same at publish and at delivery (with raw delivery, the SNS
//! message id never reaches the queue). So one reserved attribute, `strata`,
//! carries a small JSON object:
//!
//! | field | meaning |
//! | --- | --- |
//! | `id` | the id publish returned |
//! | `k` | the ordering key, if any |
//! | `e` | `"b64"`: the body is the base64 of the payload (it was not text SQS accepts); `"empty"`: the payload is empty (SNS refuses empty bodies) |
//! | `x` | names of attributes whose value is empty (SNS refuses empty values) |
//! | `a` | attributes SNS/SQS would refuse, as `{name: value}`: a name other than 1 to 256 letters, digits, `_`, `-`, `.` (no leading, trailing or double `.`, no `AWS.`/`Amazon.` prefix, not `strata`), or a value with characters SQS refuses |
//!
//! So any attribute name and value a Strata message carries on another
//! provider travels here too. An attribute SNS accepts is sent as a message
//! attribute of its own, readable (and usable in SNS filter policies) by any
//! client; one it refuses is readable by other clients only inside the
//! `strata` attribute's JSON, under `a`.
//!
//! A message published by another client has no `strata` attribute: its SQS
//! message id, its body as text and its string attributes are used as they are.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::MessageSystemAttributeName as SystemAttribute;
use bytes::Bytes;
use serde_json::{Map, Value};
use strata_core::pubsub::{Attributes, Delivery, DeliveryHandle, Message, OutgoingMessage};
use strata_core::{Error, Result};

/// The reserved attribute holding Strata's own fields.
pub const META_ATTRIBUTE: &str = "strata";
/// SNS and SQS accept at most this many attributes per message.
pub(crate) const MAX_ATTRIBUTES: usize = 10;
/// SNS's limit for one message and for one PublishBatch, attributes included.
pub(crate) const MAX_WIRE_BYTES: usize = 256 * 1024;
/// The type every attribute is sent with.
const STRING_TYPE: &str = "String";
/// The longest FIFO message group id.
const MAX_GROUP_ID_CHARS: usize = 128;

/// A message ready for SNS.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Encoded {
    /// The id publish returns.
    pub id: String,
    /// The SNS message body.
    pub body: String,
    /// Attributes to send, the `strata` one included; values are non-empty.
    pub attributes: Vec<(String, String)>,
    /// FIFO topics: the message group id.
    pub group_id: Option<String>,
    /// Bytes this message counts against SNS's limits.
    pub wire_len: usize,
}

/// A fresh message id: 32 hex digits (also a valid FIFO deduplication id).
pub(crate) fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed) as u32;
    format!("{nanos:016x}{:08x}{count:08x}", fastrand::u32(..))
}

/// Encodes `message` for a topic (`fifo`: a FIFO topic, where the ordering key
/// becomes the message group id).
///
/// # Errors
/// `InvalidArgument` for more than 9 attributes SNS accepts, or (FIFO) an
/// ordering key that is not a valid message group id. Attributes SNS/SQS
/// refuse travel in the `strata` attribute (see the module docs).
pub(crate) fn encode(message: OutgoingMessage, fifo: bool) -> Result<Encoded> {
    let id = new_id();
    let mut meta = Map::new();
    meta.insert("id".into(), Value::String(id.clone()));
    let mut attributes = Vec::with_capacity(message.attributes.len() + 1);
    let mut empty = Vec::new();
    let mut refused = Map::new();
    for (name, value) in message.attributes {
        if attribute_name_rule(&name).is_some() || !is_sqs_text(&value) {
            // Carried inside `strata`, where JSON escapes what SQS refuses.
            refused.insert(name, Value::String(value));
            continue;
        }
        if value.is_empty() {
            empty.push(Value::String(name));
            continue;
        }
        attributes.push((name, value));
    }
    if attributes.len() + 1 > MAX_ATTRIBUTES {
        return Err(Error::invalid_argument(format!(
            "the message has {} non-empty attributes; SNS and SQS carry at most {} \
             (Strata uses one, `{META_ATTRIBUTE}`, for the message id)",
            attributes.len(),
            MAX_ATTRIBUTES - 1
        )));
    }
    if !empty.is_empty() {
        meta.insert("x".into(), Value::Array(empty));
    }
    if !refused.is_empty() {
        meta.insert("a".into(), Value::Object(refused));
    }
    let group_id = match (&message.ordering_key, fifo) {
        (Some(key), true) => {
            check_group_id(key)?;
            Some(key.clone())
        }
        // Unkeyed messages on a FIFO topic get a group of their own: no order
        // is asked for, so none holds them back.
        (None, true) => Some(id.clone()),
        (_, false) => None,
    };
    if let Some(key) = message.ordering_key {
        meta.insert("k".into(), Value::String(key));
    }
    let body = match std::str::from_utf8(&message.data) {
        _ if message.data.is_empty() => {
            meta.insert("e".into(), Value::String("empty".into()));
            // SNS needs a non-empty body; the reader ignores it.
            "-".to_owned()
        }
        Ok(text) if is_sqs_text(text) && !text.contains('\r') => text.to_owned(),
        // Binary, or text SQS would refuse or normalise (`\r`).
        _ => {
            meta.insert("e".into(), Value::String("b64".into()));
            aws_smithy_types::base64::encode(&message.data)
        }
    };
    attributes.push((META_ATTRIBUTE.to_owned(), Value::Object(meta).to_string()));
    let wire_len = body.len()
        + attributes
            .iter()
            .map(|(name, value)| name.len() + STRING_TYPE.len() + value.len())
            .sum::<usize>();
    Ok(Encoded {
        id,
        body,
        attributes,
        group_id,
        wire_len,
    })
}

/// Whether SQS accepts `text` in a body or attribute value.
fn is_sqs_text(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}'
    })
}

/// The SNS attribute name rule `name` breaks (SQS's are the same), if any.
/// `strata` itself is taken by Strata's own fields.
fn attribute_name_rule(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if name == META_ATTRIBUTE {
        Some("reserved by Strata")
    } else if name.is_empty() || name.len() > 256 {
        Some("1 to 256 characters")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        Some("letters, digits, `_`, `-` and `.` only")
    } else if lower.starts_with("aws.") || lower.starts_with("amazon.") {
        Some("`AWS.` and `Amazon.` prefixes are reserved")
    } else if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        Some("no leading, trailing or double `.`")
    } else {
        None
    }
}

fn check_group_id(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.chars().count() <= MAX_GROUP_ID_CHARS
        && key.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_argument(format!(
            "ordering key `{key}` cannot be an SNS FIFO message group id: \
             use 1 to {MAX_GROUP_ID_CHARS} printable ASCII characters without spaces"
        )))
    }
}

/// Turns a received SQS message into a delivery; `None` when it has no
/// receipt handle (nothing could settle it).
pub(crate) fn decode(message: aws_sdk_sqs::types::Message) -> Option<Delivery> {
    let handle = DeliveryHandle(message.receipt_handle?);
    let system = message.attributes.unwrap_or_default();
    let mut attributes = Attributes::new();
    let mut meta = Map::new();
    for (name, value) in message.message_attributes.unwrap_or_default() {
        let text = match (value.string_value, value.binary_value) {
            (Some(text), _) => text,
            (None, Some(blob)) => aws_smithy_types::base64::encode(blob.as_ref()),
            (None, None) => continue,
        };
        if name == META_ATTRIBUTE
            && let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&text)
        {
            meta = fields;
            continue;
        }
        attributes.insert(name, text);
    }
    if let Some(Value::Array(names)) = meta.get("x") {
        for name in names.iter().filter_map(Value::as_str) {
            attributes.insert(name.to_owned(), String::new());
        }
    }
    if let Some(Value::Object(refused)) = meta.get("a") {
        for (name, value) in refused {
            if let Some(value) = value.as_str() {
                attributes.insert(name.clone(), value.to_owned());
            }
        }
    }
    let text = |field: &str| meta.get(field).and_then(Value::as_str).map(str::to_owned);
    let body = message.body.unwrap_or_default();
    let data = match text("e").as_deref() {
        Some("empty") => Bytes::new(),
        Some("b64") => match aws_smithy_types::base64::decode(&body) {
            Ok(bytes) => Bytes::from(bytes),
            Err(err) => {
                tracing::warn!("a base64 body did not decode, delivering it as is: {err}");
                Bytes::from(body)
            }
        },
        _ => Bytes::from(body),
    };
    let number = |name: SystemAttribute| system.get(&name).and_then(|v| v.parse::<u64>().ok());
    let publish_time = number(SystemAttribute::SentTimestamp)
        .map_or_else(SystemTime::now, |ms| UNIX_EPOCH + Duration::from_millis(ms));
    let delivery_attempt = number(SystemAttribute::ApproximateReceiveCount)
        .map_or(1, |n| u32::try_from(n).unwrap_or(u32::MAX));
    let ordering_key = text("k").or_else(|| system.get(&SystemAttribute::MessageGroupId).cloned());
    let id = text("id")
        .or(message.message_id)
        .unwrap_or_else(|| handle.0.clone());
    Some(Delivery {
        message: Message {
            id,
            data,
            attributes,
            ordering_key,
            publish_time,
            delivery_attempt,
        },
        handle,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aws_sdk_sqs::types::MessageAttributeValue;
    use strata_core::ErrorCode;

    /// What SQS would deliver for `encoded` (raw delivery keeps body and attributes).
    fn delivered(encoded: &Encoded, group: bool) -> aws_sdk_sqs::types::Message {
        let mut builder = aws_sdk_sqs::types::Message::builder()
            .message_id("sqs-id")
            .receipt_handle("rh")
            .body(&encoded.body)
            .attributes(SystemAttribute::ApproximateReceiveCount, "3")
            .attributes(SystemAttribute::SentTimestamp, "1700000000000");
        if group {
            builder = builder.attributes(SystemAttribute::MessageGroupId, "group");
        }
        for (name, value) in &encoded.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .unwrap();
            builder = builder.message_attributes(name, value);
        }
        builder.build()
    }

    fn round_trip(message: OutgoingMessage, fifo: bool) -> Message {
        let encoded = encode(message, fifo).unwrap();
        decode(delivered(&encoded, false)).unwrap().message
    }

    #[test]
    fn text_binary_empty_payloads_and_empty_values_round_trip() {
        let binary = Bytes::from(vec![0u8, 159, 146, 150, 13, 10]);
        for data in [
            Bytes::from("plain text ü 🦀"),
            binary,
            Bytes::new(),
            Bytes::from("a\r\nb"),
        ] {
            let message = OutgoingMessage::new(data.clone())
                .with_attribute("kind", "test")
                .with_attribute("blank", "")
                .with_ordering_key("key 1");
            let got = round_trip(message, false);
            assert_eq!(got.data, data);
            assert_eq!(got.attributes.get("kind").map(String::as_str), Some("test"));
            assert_eq!(got.attributes.get("blank").map(String::as_str), Some(""));
            assert_eq!(got.attributes.len(), 2, "{:?}", got.attributes);
            assert_eq!(got.ordering_key.as_deref(), Some("key 1"));
            assert_eq!(got.delivery_attempt, 3);
            assert_eq!(
                got.publish_time,
                UNIX_EPOCH + Duration::from_millis(1_700_000_000_000)
            );
        }
    }

    #[test]
    fn the_id_survives_and_text_stays_readable() {
        let encoded = encode(OutgoingMessage::new("hello"), false).unwrap();
        assert_eq!(
            encoded.body, "hello",
            "text is sent as is, for other readers"
        );
        assert_eq!(encoded.id.len(), 32);
        assert_eq!(encoded.group_id, None);
        let got = decode(delivered(&encoded, false)).unwrap();
        assert_eq!(got.message.id, encoded.id);
        assert_eq!(got.handle, DeliveryHandle("rh".into()));
        assert_ne!(new_id(), new_id());
    }

    #[test]
    fn foreign_messages_use_sqs_ids_and_group_ids() {
        let message = aws_sdk_sqs::types::Message::builder()
            .message_id("sqs-id")
            .receipt_handle("rh")
            .body("from boto3")
            .attributes(SystemAttribute::MessageGroupId, "g1")
            .build();
        let got = decode(message).unwrap().message;
        assert_eq!(
            (got.id.as_str(), got.data.as_ref()),
            ("sqs-id", &b"from boto3"[..])
        );
        assert_eq!(got.ordering_key.as_deref(), Some("g1"));
        assert_eq!(got.delivery_attempt, 1);
        let no_handle = aws_sdk_sqs::types::Message::builder().body("x").build();
        assert!(decode(no_handle).is_none());
    }

    #[test]
    fn fifo_groups_are_the_ordering_key_or_unique() {
        let keyed = encode(OutgoingMessage::new("a").with_ordering_key("k"), true).unwrap();
        assert_eq!(keyed.group_id.as_deref(), Some("k"));
        let free = encode(OutgoingMessage::new("a"), true).unwrap();
        assert_eq!(free.group_id.as_deref(), Some(free.id.as_str()));
        let err = encode(
            OutgoingMessage::new("a").with_ordering_key("has space"),
            true,
        )
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        // A standard topic carries any key, it just does not order by it.
        assert!(
            encode(
                OutgoingMessage::new("a").with_ordering_key("has space"),
                false
            )
            .is_ok()
        );
    }

    #[test]
    fn attributes_sns_refuses_travel_in_the_strata_attribute_and_come_back() {
        let names = [
            "clé.ü", "strata", "AWS.x", "amazon.y", ".a", "a.", "a..b", "a b", "", "日本",
        ];
        let mut message = OutgoingMessage::new("a")
            .with_attribute("plain", "v")
            .with_attribute("ctrl", "\u{1}bell");
        for (i, name) in names.iter().enumerate() {
            message = message.with_attribute(*name, format!("value {i}"));
        }
        let encoded = encode(message.clone(), false).unwrap();
        let sent: Vec<&str> = encoded.attributes.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(sent, ["plain", META_ATTRIBUTE], "valid names stay readable");
        let meta: Value = serde_json::from_str(&encoded.attributes[1].1).unwrap();
        assert_eq!(meta["a"]["clé.ü"], "value 0", "{meta}");
        assert_eq!(meta["a"]["ctrl"], "\u{1}bell", "{meta}");
        assert!(
            is_sqs_text(&encoded.attributes[1].1),
            "JSON escapes `\\u0001`"
        );
        let got = decode(delivered(&encoded, false)).unwrap().message;
        let want: Attributes = message.attributes.into_iter().collect();
        assert_eq!(got.attributes, want);
    }

    #[test]
    fn too_many_attributes_sns_accepts_are_invalid_arguments() {
        let mut many = OutgoingMessage::new("a");
        for i in 0..10 {
            many = many.with_attribute(format!("a{i}"), "v");
        }
        let err = encode(many, false).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        assert!(err.message().contains("at most 9"), "{err}");
    }

    #[test]
    fn wire_length_counts_body_names_types_and_values() {
        let encoded = encode(
            OutgoingMessage::new("12345").with_attribute("ab", "xyz"),
            false,
        )
        .unwrap();
        let meta = &encoded.attributes.last().unwrap().1;
        assert_eq!(
            encoded.wire_len,
            5 + (2 + 6 + 3) + (META_ATTRIBUTE.len() + 6 + meta.len())
        );
    }
}
