//! A topic: one JetStream stream capturing one literal subject.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::ErrorCode as JsCode;
use async_nats::jetstream::context::{GetStreamErrorKind, PublishErrorKind};
use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};
use async_trait::async_trait;
use bytes::Bytes;
use futures::future::join_all;
use strata_core::pubsub::{OutgoingMessage, PubSubCapabilities, TopicDriver, carried};
use strata_core::{Error, Result};

use crate::client::{NatsClient, unavailable};
use crate::names::topic_names;
use crate::options::{NatsOptions, Retention, Storage};

/// The header that carries a message's ordering key.
pub const ORDERING_KEY_HEADER: &str = "Strata-Ordering-Key";

/// The header that carries, as one JSON object `{name: value}`, the
/// attributes a NATS header cannot carry unchanged (see `headers`).
pub const ATTRIBUTES_HEADER: &str = "Strata-Attributes";

/// Room kept for the headers' framing (`NATS/1.0`, `: `, line ends) below the
/// server's `max_payload`, so a message within `max_message_bytes` fits.
const HEADER_ROOM: usize = 4096;

/// What the NATS provider can do, for a server accepting `max_payload` bytes.
pub(crate) fn capabilities(max_payload: usize) -> PubSubCapabilities {
    let max_message_bytes = max_payload.saturating_sub(HEADER_ROOM).max(1);
    PubSubCapabilities {
        messaging_system: "nats",
        // Claimed per subscription, by a one-at-a-time consumer (see
        // `NatsSubscription::open`): a consumer with many messages in flight
        // redelivers a nacked message after later ones of its key.
        ordering: false,
        native_dead_letter: false,
        explicit_dead_letter: false,
        lease_extension: true,
        delivery_attempts: true,
        max_message_bytes,
        // Each message is its own publish; a batch is only how many are in
        // flight at once before their acks are awaited.
        max_batch_messages: 512,
        max_batch_bytes: 32 * 1024 * 1024,
        max_receive_messages: 256,
        max_ack_batch: 1024,
        default_linger: Duration::ZERO,
    }
}

/// Publishes to one stream's subject.
pub struct NatsTopic {
    client: NatsClient,
    stream: String,
    subject: String,
    caps: PubSubCapabilities,
}

impl std::fmt::Debug for NatsTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsTopic")
            .field("stream", &self.stream)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl NatsTopic {
    /// Opens topic `physical` (its stream and subject are the escaped name,
    /// see [`crate::names`]); with `options.provision` creates the stream
    /// when missing.
    ///
    /// # Errors
    /// `NotFound` naming the stream when it is missing and not provisioned,
    /// `InvalidConfig` when the stream exists but does not capture the
    /// topic's subject, `InvalidArgument` for a name that cannot be a stream
    /// name, `Unavailable` when NATS cannot be reached.
    pub async fn open(client: &NatsClient, physical: &str, options: &NatsOptions) -> Result<Self> {
        let (stream, subject) = topic_names(physical)?;
        ensure_stream(client, &stream, &subject, options).await?;
        Ok(Self {
            caps: capabilities(client.max_payload()),
            client: client.clone(),
            stream,
            subject,
        })
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The subject messages are published to.
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// Checks that `stream` exists and captures `subject`; creates it with
/// `options.provision`.
pub(crate) async fn ensure_stream(
    client: &NatsClient,
    stream: &str,
    subject: &str,
    options: &NatsOptions,
) -> Result<()> {
    let found = match client.js.get_stream(stream).await {
        Ok(mut found) => Some(
            found
                .info()
                .await
                .map_err(|err| unavailable("stream info", err))?
                .config
                .subjects
                .clone(),
        ),
        Err(err) => match err.kind() {
            GetStreamErrorKind::JetStream(js) if js.error_code() == JsCode::STREAM_NOT_FOUND => {
                None
            }
            _ => return Err(unavailable("stream lookup", err)),
        },
    };
    match found {
        Some(subjects) if subjects.iter().any(|s| s == subject) => Ok(()),
        Some(_) => Err(Error::invalid_config(format!(
            "NATS stream `{stream}` exists but does not capture subject `{subject}`; add the \
             subject to it, or give the topic another name"
        ))),
        None if options.provision => create_stream(client, stream, subject, options).await,
        None => Err(Error::not_found(format!(
            "NATS stream `{stream}` (subject `{subject}`) does not exist: create it, or set \
             `\"provision\": true` on the topic"
        ))),
    }
}

async fn create_stream(
    client: &NatsClient,
    stream: &str,
    subject: &str,
    options: &NatsOptions,
) -> Result<()> {
    let config = Config {
        name: stream.to_owned(),
        subjects: vec![subject.to_owned()],
        retention: match options.retention {
            Retention::Interest => RetentionPolicy::Interest,
            Retention::Limits => RetentionPolicy::Limits,
        },
        storage: match options.storage {
            Storage::File => StorageType::File,
            Storage::Memory => StorageType::Memory,
        },
        num_replicas: usize::try_from(options.replicas.unwrap_or(1)).unwrap_or(1),
        max_age: options.max_age(),
        max_messages: options
            .max_messages
            .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX)),
        max_bytes: options
            .max_bytes
            .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX)),
        discard: DiscardPolicy::Old,
        ..Config::default()
    };
    match client.js.create_stream(config).await {
        Ok(_) => Ok(()),
        // Another process made it first: fine if it captures our subject.
        Err(err) if err.to_string().contains("already in use") => {
            Box::pin(ensure_stream(
                client,
                stream,
                subject,
                &NatsOptions {
                    provision: false,
                    ..options.clone()
                },
            ))
            .await
        }
        Err(err) => Err(unavailable(&format!("creating stream `{stream}`"), err)),
    }
}

/// The headers of `message`, or why it cannot be sent.
///
/// An attribute a NATS header carries unchanged is a header of its own,
/// readable by any NATS client; any other (a name that is not printable
/// ASCII without `:`, one starting `Nats-` or taken by Strata, a value with a
/// line break or leading or trailing whitespace, which NATS trims) travels in
/// the [`ATTRIBUTES_HEADER`] header as one JSON object
/// (`strata_core::pubsub::carried`, as SNS/SQS carry theirs).
fn headers(message: &OutgoingMessage) -> Result<Option<HeaderMap>> {
    if message.attributes.is_empty() && message.ordering_key.is_none() {
        return Ok(None);
    }
    let mut headers = HeaderMap::new();
    let (native, carried) = carried::split(
        message
            .attributes
            .iter()
            .map(|(name, value)| (name.clone(), value.clone())),
        |name, value| is_header_name(name) && is_header_value(value),
    );
    for (name, value) in &native {
        headers.insert(name.as_str(), value.as_str());
    }
    if !carried.is_empty() {
        headers.insert(
            ATTRIBUTES_HEADER,
            serde_json::Value::Object(carried).to_string().as_str(),
        );
    }
    if let Some(key) = &message.ordering_key {
        if !is_header_value(key) {
            return Err(Error::invalid_argument(format!(
                "ordering key {key:?} cannot be a NATS header: no line breaks and no leading \
                 or trailing whitespace"
            )));
        }
        headers.insert(ORDERING_KEY_HEADER, key.as_str());
    }
    Ok(Some(headers))
}

/// Whether an attribute name is sent as a header of its own: printable
/// ASCII without `:`, and neither NATS's (`Nats-…`) nor Strata's.
pub(crate) fn is_header_name(name: &str) -> bool {
    let taken = name
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("nats-"))
        || name.eq_ignore_ascii_case(ORDERING_KEY_HEADER)
        || name.eq_ignore_ascii_case(ATTRIBUTES_HEADER);
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    valid && !taken
}

/// Whether a header carries `value` unchanged: headers are lines of
/// `name: value`, and readers trim the value.
fn is_header_value(value: &str) -> bool {
    !value.contains(['\r', '\n']) && value.trim() == value
}

fn publish_error(err: &async_nats::jetstream::context::PublishError) -> Error {
    match err.kind() {
        PublishErrorKind::MaxPayloadExceeded => {
            Error::invalid_argument(format!("message too large for NATS: {err}"))
        }
        // "No responders": no stream answered for the subject. The stream
        // was there when the topic opened, so this is a cluster without a
        // leader for it (mid-failover) or a server restarting; if the stream
        // was deleted, reopening the topic says `NotFound`.
        PublishErrorKind::StreamNotFound => Error::unavailable(
            "no NATS stream answered for the topic's subject (no stream leader right now, or \
             the stream was deleted)",
        ),
        PublishErrorKind::TimedOut => Error::unavailable(
            "NATS did not ack the publish in time; the message may or may not be stored",
        ),
        _ => Error::unavailable(format!("NATS publish failed: {err}")),
    }
}

#[async_trait]
impl TopicDriver for NatsTopic {
    fn capabilities(&self) -> &PubSubCapabilities {
        &self.caps
    }

    async fn publish_batch(&self, batch: Vec<OutgoingMessage>) -> Vec<Result<String>> {
        // Send every message first, then await the acks: the batch is in
        // flight at once, one round trip for all of it.
        let limit = self.caps.max_message_bytes;
        let mut acks = Vec::with_capacity(batch.len());
        for message in batch {
            let size = message.encoded_len();
            let sent = if size > limit {
                Err(Error::invalid_argument(format!(
                    "message of {size} bytes is over the limit of {limit} bytes"
                )))
            } else {
                match headers(&message) {
                    Ok(headers) => {
                        let data: Bytes = message.data;
                        let publishing = match headers {
                            Some(h) => {
                                self.client
                                    .js
                                    .publish_with_headers(self.subject.clone(), h, data)
                                    .await
                            }
                            None => self.client.js.publish(self.subject.clone(), data).await,
                        };
                        publishing.map_err(|err| publish_error(&err))
                    }
                    Err(err) => Err(err),
                }
            };
            acks.push(sent);
        }
        join_all(acks.into_iter().map(|sent| async move {
            let ack = sent?.await.map_err(|err| publish_error(&err))?;
            Ok(ack.sequence.to_string())
        }))
        .await
    }
}
