//! A Strata message as a Service Bus AMQP message and back: the payload is
//! one data section, attributes are string application properties, the
//! ordering key is the session id (`group-id`), `strata.content_type` is the
//! message's content type, and the id is the message id.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fe2o3_amqp::types::messaging::annotations::OwnedKey;
use fe2o3_amqp::types::messaging::{
    ApplicationProperties, Body, Data, Message as AmqpMessage, MessageId, Properties,
};
use fe2o3_amqp::types::primitives::{Binary, SimpleValue, Symbol, Value};
use strata_core::pubsub::{Attributes, Message, OutgoingMessage};

/// The attribute that is the message's AMQP content type (the Node binding
/// sets it for the payloads it encodes).
pub const CONTENT_TYPE_ATTRIBUTE: &str = "strata.content_type";

/// A fresh message id: 32 hex digits, as the SDKs make.
pub(crate) fn new_message_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// The AMQP message for `message`, with id `id`.
pub(crate) fn encode(message: OutgoingMessage, id: &str) -> AmqpMessage<Data> {
    let mut attributes = message.attributes;
    let content_type = attributes.remove(CONTENT_TYPE_ATTRIBUTE);
    let properties = Properties {
        message_id: Some(MessageId::String(id.to_owned())),
        content_type: content_type.map(Symbol::from),
        group_id: message.ordering_key,
        ..Properties::default()
    };
    let mut app = ApplicationProperties::builder();
    for (k, v) in attributes {
        app = app.insert(k, SimpleValue::String(v));
    }
    AmqpMessage::builder()
        .properties(properties)
        .application_properties(app.build())
        .data(Binary::from(message.data.to_vec()))
        .build()
}

/// The Strata message of a received AMQP message. Non-string application
/// properties (a foreign sender's numbers and flags) become their text.
pub(crate) fn decode(message: AmqpMessage<Body<Value>>) -> Message {
    let delivery_count = message.header.as_ref().map_or(0, |h| h.delivery_count);
    let mut attributes = Attributes::new();
    if let Some(app) = &message.application_properties {
        for (k, v) in app.0.iter() {
            attributes.insert(k.clone(), simple_text(v));
        }
    }
    let props = message.properties.unwrap_or_default();
    if let Some(ct) = props.content_type {
        attributes.insert(CONTENT_TYPE_ATTRIBUTE.to_owned(), ct.0);
    }
    let id = match props.message_id {
        Some(MessageId::String(s)) => s,
        Some(MessageId::Ulong(n)) => n.to_string(),
        Some(MessageId::Uuid(u)) => hex(u.as_inner()),
        Some(MessageId::Binary(b)) => hex(b.as_slice()),
        None => String::new(),
    };
    let enqueued = message
        .message_annotations
        .as_ref()
        .and_then(|ma| ma.get(&OwnedKey::from(Symbol::from("x-opt-enqueued-time"))))
        .and_then(|v| match v {
            Value::Timestamp(t) => u64::try_from(t.milliseconds()).ok(),
            _ => None,
        })
        .map_or_else(SystemTime::now, |ms| UNIX_EPOCH + Duration::from_millis(ms));
    Message {
        id,
        data: body_bytes(message.body),
        attributes,
        ordering_key: props.group_id,
        publish_time: enqueued,
        // The broker counts earlier deliveries; Strata counts this one too.
        delivery_attempt: delivery_count.saturating_add(1),
    }
}

fn body_bytes(body: Body<Value>) -> Bytes {
    match body {
        Body::Data(batch) => {
            let mut out = Vec::new();
            for Data(bin) in batch {
                out.extend_from_slice(bin.as_slice());
            }
            Bytes::from(out)
        }
        Body::Value(v) => match v.0 {
            Value::Binary(b) => Bytes::from(b.into_vec()),
            Value::String(s) => Bytes::from(s),
            other => Bytes::from(format!("{other:?}")),
        },
        Body::Sequence(_) | Body::Empty => Bytes::new(),
    }
}

fn simple_text(v: &SimpleValue) -> String {
    match v {
        SimpleValue::String(s) => s.clone(),
        SimpleValue::Symbol(s) => s.0.clone(),
        SimpleValue::Bool(b) => b.to_string(),
        SimpleValue::Int(n) => n.to_string(),
        SimpleValue::Long(n) => n.to_string(),
        SimpleValue::Uint(n) => n.to_string(),
        SimpleValue::Ulong(n) => n.to_string(),
        SimpleValue::Double(n) => n.to_string(),
        SimpleValue::Float(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The lock token of a delivery as the management API takes it: the
/// delivery tag is a .NET GUID (first three groups little-endian), the
/// management uuid is in RFC order.
pub(crate) fn lock_token(tag: &[u8]) -> Option<[u8; 16]> {
    let t: [u8; 16] = tag.try_into().ok()?;
    Some([
        t[3], t[2], t[1], t[0], t[5], t[4], t[7], t[6], t[8], t[9], t[10], t[11], t[12], t[13],
        t[14], t[15],
    ])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_message_round_trips_with_content_type_session_id_and_attributes() {
        let out = OutgoingMessage::new("body")
            .with_attribute("origin", "strata")
            .with_attribute(CONTENT_TYPE_ATTRIBUTE, "application/json")
            .with_ordering_key("customer-1");
        let encoded = encode(out, "id-1");
        let props = encoded.properties.clone().unwrap();
        assert_eq!(
            props.content_type.as_ref().map(|s| s.0.as_str()),
            Some("application/json")
        );
        assert_eq!(props.group_id.as_deref(), Some("customer-1"));
        let app = encoded.application_properties.clone().unwrap();
        assert!(
            app.0.get(CONTENT_TYPE_ATTRIBUTE).is_none(),
            "carried as the content type"
        );
        let received = AmqpMessage::builder()
            .properties(props)
            .application_properties(app)
            .body(Body::Data(
                vec![Data(Binary::from(b"body".to_vec()))].into(),
            ))
            .build();
        let message = decode(received);
        assert_eq!(message.id, "id-1");
        assert_eq!(&message.data[..], b"body");
        assert_eq!(message.ordering_key.as_deref(), Some("customer-1"));
        assert_eq!(
            message.attributes.get("origin").map(String::as_str),
            Some("strata")
        );
        assert_eq!(
            message
                .attributes
                .get(CONTENT_TYPE_ATTRIBUTE)
                .map(String::as_str),
            Some("application/json")
        );
        // No header: never delivered before, so this is attempt 1.
        assert_eq!(message.delivery_attempt, 1);
    }

    #[test]
    fn a_lock_token_swaps_the_first_three_groups() {
        let tag: Vec<u8> = (0u8..16).collect();
        assert_eq!(
            lock_token(&tag).unwrap(),
            [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15]
        );
        assert!(lock_token(&[1, 2]).is_none());
    }
}
