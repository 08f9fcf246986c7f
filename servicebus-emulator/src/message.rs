//! A message as the broker keeps it, and as it goes out on each delivery.
//!
//! The application's sections (properties, application properties, body, footer)
//! are kept as the sender encoded them. The header and the message annotations are
//! decoded, because the broker stamps them on every delivery as the service does:
//! delivery count, sequence number, enqueued time, lock expiry.

use crate::codec::{self, Malformed, section};
use bytes::Bytes;
use fe2o3_amqp_types::messaging::{ApplicationProperties, Header, MessageAnnotations, Properties};
use fe2o3_amqp_types::primitives::SimpleValue;
use serde_amqp::Value;
use serde_amqp::primitives::{OrderedMap, Symbol, Timestamp, Uuid};

/// The message format of a batch: a message whose data sections each hold one message.
pub const BATCH_FORMAT: u32 = 0x8001_3700;

/// Annotation keys the service stamps and its SDKs read.
pub mod annotation {
    /// The broker-assigned sequence number (long).
    pub const SEQUENCE_NUMBER: &str = "x-opt-sequence-number";
    /// When the broker accepted the message (timestamp).
    pub const ENQUEUED_TIME: &str = "x-opt-enqueued-time";
    /// When the peek-lock ends (timestamp).
    pub const LOCKED_UNTIL: &str = "x-opt-locked-until";
    /// When a scheduled message becomes visible (timestamp); also set by senders.
    pub const SCHEDULED_ENQUEUE_TIME: &str = "x-opt-scheduled-enqueue-time";
    /// The entity a dead-lettered message came from (string).
    pub const DEAD_LETTER_SOURCE: &str = "x-opt-deadletter-source";
    /// The lock token (uuid), beside the delivery tag that carries it too.
    pub const LOCK_TOKEN: &str = "x-opt-lock-token";
    /// 0 active, 1 deferred, 2 scheduled.
    pub const MESSAGE_STATE: &str = "x-opt-message-state";
}

/// Application property names the service uses for a dead-letter reason.
pub mod dead_letter {
    /// Why the message was dead-lettered.
    pub const REASON: &str = "DeadLetterReason";
    /// The longer description.
    pub const DESCRIPTION: &str = "DeadLetterErrorDescription";
}

/// A message in an entity.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Unique and increasing in the namespace.
    pub seq: i64,
    /// Milliseconds since the epoch when the broker accepted it.
    pub enqueued_ms: i64,
    /// The session it belongs to (the AMQP group id).
    pub session_id: Option<String>,
    /// When it expires (ms since the epoch), from its time to live and the entity's.
    pub expires_ms: Option<i64>,
    /// When it becomes visible, if scheduled.
    pub scheduled_ms: Option<i64>,
    /// How many times it has been handed out under a lock.
    pub deliveries: u32,
    /// Whether it was deferred (receivable by sequence number only).
    pub deferred: bool,
    /// The sender's header (its delivery count is replaced on every delivery).
    pub header: Header,
    /// The sender's message annotations plus any an abandon added.
    pub annotations: OrderedMap<Symbol, Value>,
    /// Application properties set after the send: a dead-letter reason and description,
    /// or the properties an abandon, defer or dead-letter asked to modify.
    pub added_properties: Vec<(String, SimpleValue)>,
    /// Encoded `properties` section, if any.
    pub properties: Bytes,
    /// Encoded `application-properties` section, if any.
    pub application_properties: Bytes,
    /// Encoded body sections and footer.
    pub body: Bytes,
}

/// What a sender's message says about itself, read once when it arrives.
#[derive(Debug)]
pub struct Incoming {
    /// The message, without the broker's stamps yet.
    pub message: StoredMessage,
    /// Its time to live from the header, if it set one.
    pub ttl_ms: Option<u64>,
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn decode<'a, T: serde::Deserialize<'a>>(
    buf: &'a [u8],
    what: &'static str,
) -> Result<T, Malformed> {
    serde_amqp::from_slice(buf).map_err(|_| Malformed(what))
}

/// Reads one encoded message (not a batch).
pub fn parse(buf: &[u8]) -> Result<Incoming, Malformed> {
    let mut header = Header::default();
    let mut annotations = OrderedMap::new();
    let (mut properties, mut application_properties) = (Bytes::new(), Bytes::new());
    let mut body_start = None;
    let mut session_id = None;
    let mut ttl_ms = None;
    let mut scheduled_ms = None;
    let mut absolute_expiry = None;
    for s in codec::sections(buf)? {
        let bytes = &buf[s.start..s.end];
        match s.code {
            section::HEADER => {
                header = decode(bytes, "header")?;
                ttl_ms = header.ttl.map(u64::from);
            }
            section::DELIVERY_ANNOTATIONS => {}
            section::MESSAGE_ANNOTATIONS => {
                let decoded: MessageAnnotations = decode(bytes, "message-annotations")?;
                for (key, value) in decoded.0.into_inner() {
                    if let fe2o3_amqp_types::messaging::annotations::OwnedKey::Symbol(key) = key {
                        if key.0 == annotation::SCHEDULED_ENQUEUE_TIME
                            && let Value::Timestamp(t) = &value
                        {
                            scheduled_ms = Some(t.milliseconds());
                        }
                        annotations.insert(key, value);
                    }
                }
            }
            section::PROPERTIES => {
                let mut decoded: Properties = decode(bytes, "properties")?;
                session_id = decoded.group_id.clone();
                absolute_expiry = decoded
                    .absolute_expiry_time
                    .as_ref()
                    .map(|t| t.milliseconds());
                properties = if decoded.message_id.is_some() {
                    Bytes::copy_from_slice(bytes)
                } else {
                    decoded.message_id = Some(new_message_id());
                    Bytes::from(serde_amqp::to_vec(&decoded).map_err(|_| Malformed("properties"))?)
                };
            }
            section::APPLICATION_PROPERTIES => {
                let _: ApplicationProperties = decode(bytes, "application-properties")?;
                application_properties = Bytes::copy_from_slice(bytes);
            }
            _ => {
                body_start.get_or_insert(s.start);
            }
        }
    }
    if properties.is_empty() {
        let stamped = Properties {
            message_id: Some(new_message_id()),
            ..Default::default()
        };
        properties =
            Bytes::from(serde_amqp::to_vec(&stamped).map_err(|_| Malformed("properties"))?);
    }
    let body = body_start
        .map(|at| Bytes::copy_from_slice(&buf[at..]))
        .unwrap_or_default();
    if body.is_empty() {
        return Err(Malformed("a message without a body section"));
    }
    // Saturating: the expiry is the client's value; no i64 it sends may overflow here.
    // A message without a header ttl but with an absolute expiry time still expires.
    let ttl_ms = ttl_ms.or_else(|| {
        absolute_expiry.map(|at| u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0))
    });
    Ok(Incoming {
        message: StoredMessage {
            seq: 0,
            enqueued_ms: 0,
            session_id,
            expires_ms: None,
            scheduled_ms,
            deliveries: 0,
            deferred: false,
            header,
            annotations,
            added_properties: Vec::new(),
            properties,
            application_properties,
            body,
        },
        ttl_ms,
    })
}

/// Reads a transfer's payload: one message, or each message of a batch.
pub fn parse_transfer(format: u32, buf: &[u8]) -> Result<Vec<Incoming>, Malformed> {
    if format != BATCH_FORMAT {
        return Ok(vec![parse(buf)?]);
    }
    let mut out = Vec::new();
    for s in codec::sections(buf)? {
        if s.code == section::DATA {
            out.push(parse(codec::data_payload(buf, s)?)?);
        }
    }
    if out.is_empty() {
        return Err(Malformed("a batch without messages"));
    }
    Ok(out)
}

/// A message id for a message sent without one, as the service assigns (32 hex digits).
fn new_message_id() -> fe2o3_amqp_types::messaging::MessageId {
    fe2o3_amqp_types::messaging::MessageId::String(format!("{:032x}", fastrand::u128(..)))
}

/// How a delivery is stamped.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    /// The lock token, under peek-lock.
    pub lock_token: Option<[u8; 16]>,
    /// When the lock ends.
    pub locked_until_ms: Option<i64>,
    /// Earlier deliveries, as the header's delivery-count says it (the first delivery is 0).
    pub delivery_count: u32,
}

fn symbol(s: &str) -> Symbol {
    Symbol::from(s)
}

impl StoredMessage {
    /// The message as it goes to a receiver.
    pub fn encode(&self, stamp: Stamp) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.properties.len() + self.body.len() + 160);
        append_header(&mut out, &self.header, stamp.delivery_count);
        let mut annotations = self.annotations.clone();
        let mut put = |key: &str, value: Value| {
            annotations.insert(symbol(key), value);
        };
        put(annotation::SEQUENCE_NUMBER, Value::Long(self.seq));
        put(
            annotation::ENQUEUED_TIME,
            Value::Timestamp(Timestamp::from_milliseconds(self.enqueued_ms)),
        );
        if let Some(until) = stamp.locked_until_ms {
            put(
                annotation::LOCKED_UNTIL,
                Value::Timestamp(Timestamp::from_milliseconds(until)),
            );
        }
        if let Some(token) = stamp.lock_token {
            put(annotation::LOCK_TOKEN, Value::Uuid(Uuid::from(token)));
        }
        if let Some(at) = self.scheduled_ms {
            put(
                annotation::SCHEDULED_ENQUEUE_TIME,
                Value::Timestamp(Timestamp::from_milliseconds(at)),
            );
        }
        let state = if self.deferred {
            1
        } else if self.scheduled_ms.is_some() {
            2
        } else {
            0
        };
        put(annotation::MESSAGE_STATE, Value::Long(state));
        let annotations = MessageAnnotations(
            annotations
                .into_inner()
                .into_iter()
                .map(|(k, v)| {
                    (
                        fe2o3_amqp_types::messaging::annotations::OwnedKey::Symbol(k),
                        v,
                    )
                })
                .collect(),
        );
        append(&mut out, &annotations);
        out.extend_from_slice(&self.properties);
        self.append_application_properties(&mut out);
        out.extend_from_slice(&self.body);
        out
    }

    fn append_application_properties(&self, out: &mut Vec<u8>) {
        if self.added_properties.is_empty() {
            out.extend_from_slice(&self.application_properties);
            return;
        }
        let mut props: ApplicationProperties = if self.application_properties.is_empty() {
            ApplicationProperties::default()
        } else {
            serde_amqp::from_slice(&self.application_properties).unwrap_or_default()
        };
        for (name, value) in &self.added_properties {
            props.0.insert(name.clone(), value.clone());
        }
        append(out, &props);
    }

    /// Sets an application property (replacing one set earlier after the send).
    pub fn set_property(&mut self, name: &str, value: SimpleValue) {
        self.added_properties.retain(|(n, _)| n != name);
        self.added_properties.push((name.to_owned(), value));
    }

    /// Size in memory, roughly: what the quota and the size limit count.
    pub fn size(&self) -> usize {
        self.properties.len() + self.application_properties.len() + self.body.len()
    }
}

/// Writes the header with every field present: the Python SDK reads the delivery count
/// by position and sees none when a codec trims the trailing default.
fn append_header(out: &mut Vec<u8>, h: &Header, delivery_count: u32) {
    let mut fields = Vec::with_capacity(16);
    fields.push(if h.durable { 0x41 } else { 0x42 });
    fields.extend_from_slice(&[0x50, h.priority.0]);
    match h.ttl {
        Some(ttl) => {
            fields.push(0x70);
            fields.extend_from_slice(&ttl.to_be_bytes());
        }
        None => fields.push(0x40),
    }
    fields.push(if h.first_acquirer { 0x41 } else { 0x42 });
    fields.push(0x70);
    fields.extend_from_slice(&delivery_count.to_be_bytes());
    out.extend_from_slice(&[0x00, 0x53, 0x70, 0xc0, fields.len() as u8 + 1, 5]);
    out.extend_from_slice(&fields);
}

fn append<T: serde::Serialize>(out: &mut Vec<u8>, value: &T) {
    // Encoding a well-formed value into a Vec cannot fail.
    if let Ok(bytes) = serde_amqp::to_vec(value) {
        out.extend_from_slice(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_amqp_types::messaging::{AmqpValue, Message};

    fn encoded(group: Option<&str>) -> Vec<u8> {
        let props = Properties {
            message_id: Some(fe2o3_amqp_types::messaging::MessageId::String("m1".into())),
            group_id: group.map(str::to_owned),
            ..Default::default()
        };
        let msg: Message<AmqpValue<String>> = Message::builder()
            .header(Header {
                ttl: Some(5000),
                ..Default::default()
            })
            .properties(props)
            .value("hello".to_string())
            .build();
        serde_amqp::to_vec(&fe2o3_amqp_types::messaging::message::__private::Serializable(msg))
            .expect("encode")
    }

    #[test]
    fn an_absurd_absolute_expiry_is_an_expired_message_not_a_panic() {
        let props = Properties {
            message_id: Some(fe2o3_amqp_types::messaging::MessageId::String("m".into())),
            absolute_expiry_time: Some(Timestamp::from_milliseconds(i64::MIN)),
            ..Default::default()
        };
        let msg: Message<AmqpValue<String>> = Message::builder()
            .properties(props)
            .value("x".to_string())
            .build();
        let bytes =
            serde_amqp::to_vec(&fe2o3_amqp_types::messaging::message::__private::Serializable(msg))
                .expect("encode");
        assert_eq!(parse(&bytes).expect("parse").ttl_ms, Some(0));
    }

    #[test]
    fn a_message_round_trips_with_its_stamps() {
        let incoming = parse(&encoded(Some("s1"))).expect("parse");
        assert_eq!(incoming.ttl_ms, Some(5000));
        let mut msg = incoming.message;
        assert_eq!(msg.session_id.as_deref(), Some("s1"));
        msg.seq = 42;
        msg.enqueued_ms = 1_000;
        msg.deliveries = 2;
        let out = msg.encode(Stamp {
            lock_token: Some([7; 16]),
            locked_until_ms: Some(2_000),
            delivery_count: 1,
        });
        let again = parse(&out).expect("reparse").message;
        assert_eq!(again.header.delivery_count, 1);
        assert_eq!(
            again.annotations.get(&symbol(annotation::SEQUENCE_NUMBER)),
            Some(&Value::Long(42))
        );
        assert_eq!(again.body, msg.body);
        assert_eq!(again.properties, msg.properties);
    }
}
