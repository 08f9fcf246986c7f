//! A subscription: one durable pull consumer of the topic's stream. Every
//! subscription is a consumer of its own, so each gets every message; the
//! consumers of one subscription (processes, or several drivers in one)
//! pull from the same durable and share its messages.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use async_nats::jetstream::consumer::pull::{Config, Stream as Messages};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::stream::Stream;
use async_trait::async_trait;
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use strata_core::pubsub::{
    Attributes, Delivery, DeliveryHandle, Message, PubSubCapabilities, SubscriptionDriver, carried,
};
use strata_core::{Error, Result};
use tokio::sync::Mutex;

use crate::client::{NatsClient, REQUEST_TIMEOUT, unavailable};
use crate::names::escape;
use crate::topic::{ATTRIBUTES_HEADER, NatsTopic, ORDERING_KEY_HEADER, capabilities};

/// Messages one pull request asks for when the subscriber did not say how
/// many it holds.
const DEFAULT_PULL_BATCH: usize = 64;
/// How long one pull request stays open on the server.
const PULL_EXPIRES: Duration = Duration::from_secs(10);
/// The server's heartbeat on an idle pull request, so a dead connection is
/// noticed within seconds.
const PULL_HEARTBEAT: Duration = Duration::from_secs(3);

/// Receives from one durable pull consumer.
pub struct NatsSubscription {
    client: NatsClient,
    consumer: PullConsumer,
    /// The stream's and the consumer's names, which every handle this
    /// consumer hands out carries.
    stream: String,
    consumer_name: String,
    lease: Duration,
    caps: PubSubCapabilities,
    held: AtomicUsize,
    /// The open pull: messages the server pushes for outstanding pull
    /// requests, renewed as they are used. `None` until the first receive,
    /// and again after an error.
    messages: Mutex<Option<Messages>>,
}

impl std::fmt::Debug for NatsSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSubscription")
            .field("stream", &self.stream)
            .field("consumer", &self.consumer_name)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl NatsSubscription {
    /// Opens subscription `physical` of `topic`: the durable consumer of that
    /// (escaped) name. With `provision` it is created when missing, with an
    /// ack wait of `lease`, unlimited deliveries (the engine dead-letters) and
    /// delivery of messages published from now on. An existing consumer is
    /// used as it is, its ack wait being the lease.
    ///
    /// `ordered` (a topic with `"ordering": true`) makes the consumer hand
    /// out one message at a time (`max_ack_pending` 1): the next is delivered
    /// only once the last is acked, and a nacked one is redelivered first, so
    /// every ordering key keeps publish order — at one message in flight for
    /// the whole subscription. [`PubSubCapabilities::ordering`] is claimed
    /// exactly when the consumer has `max_ack_pending` 1.
    ///
    /// # Errors
    /// `NotFound` naming the consumer when it is missing and not provisioned,
    /// `InvalidConfig` when a consumer of that name is not a pull consumer, or
    /// is not one-at-a-time for an ordered topic, `Unavailable` when NATS
    /// cannot be reached.
    pub async fn open(
        client: &NatsClient,
        topic: &NatsTopic,
        physical: &str,
        lease: Duration,
        provision: bool,
        ordered: bool,
    ) -> Result<Self> {
        let name = escape(physical)?;
        let stream = client
            .js
            .get_stream_no_info(topic.stream())
            .await
            .map_err(|err| unavailable("stream lookup", err))?;
        let consumer = open_consumer(&stream, topic, &name, lease, provision, ordered).await?;
        let one_at_a_time = consumer.cached_info().config.max_ack_pending == 1;
        if ordered && !one_at_a_time {
            return Err(Error::invalid_config(format!(
                "NATS consumer `{name}` of stream `{}` has max_ack_pending {}, but an ordered \
                 topic needs 1 (one message in flight): recreate the consumer",
                topic.stream(),
                consumer.cached_info().config.max_ack_pending
            )));
        }
        let mut caps = capabilities(client.max_payload());
        caps.ordering = one_at_a_time;
        let lease = consumer.cached_info().config.ack_wait;
        let lease = if lease.is_zero() {
            // The server's default ack wait.
            Duration::from_secs(30)
        } else {
            lease
        };
        Ok(Self {
            stream: topic.stream().to_owned(),
            consumer_name: name,
            caps,
            client: client.clone(),
            consumer,
            lease,
            held: AtomicUsize::new(0),
            messages: Mutex::new(None),
        })
    }

    /// Checks that `handle` is one of this consumer's, returning its subject:
    /// `$JS.ACK.<stream>.<consumer>.` and 5 numbers (ADR-15's v1 form), or
    /// `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.` and 6 or more
    /// tokens (v2, servers with a domain). Anything else is refused rather
    /// than published to.
    fn subject<'a>(&self, handle: &'a DeliveryHandle) -> Result<&'a str> {
        let subject = handle.0.as_str();
        let clean = subject
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'*' && b != b'>');
        let tokens: Vec<&str> = subject.split('.').collect();
        let names = match tokens.len() {
            9 => Some((tokens[2], tokens[3])),
            n if n >= 12 => Some((tokens[4], tokens[5])),
            _ => None,
        };
        let ours = names == Some((self.stream.as_str(), self.consumer_name.as_str()));
        if clean && ours && tokens[0] == "$JS" && tokens[1] == "ACK" {
            Ok(subject)
        } else {
            Err(Error::invalid_argument(
                "not a delivery handle of this NATS subscription",
            ))
        }
    }

    /// Publishes one ack-protocol reply to a delivery's subject.
    async fn reply(&self, handle: &DeliveryHandle, body: Bytes) -> Result<()> {
        let subject = self.subject(handle)?.to_owned();
        self.client
            .client
            .publish(subject, body)
            .await
            .map_err(|err| unavailable("ack", err))
    }

    /// Waits until the server has read what was published, at most
    /// [`REQUEST_TIMEOUT`]: while the connection is down, a flush would wait
    /// for the reconnection.
    async fn flush(&self) -> Result<()> {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.client.client.flush()).await {
            Ok(flushed) => flushed.map_err(|err| unavailable("ack flush", err)),
            Err(_) => Err(Error::unavailable(format!(
                "NATS did not confirm the acks within {REQUEST_TIMEOUT:?}"
            ))),
        }
    }

    async fn open_pull(&self) -> Result<Messages> {
        let held = self.held.load(Ordering::Relaxed);
        let batch = if held == 0 { DEFAULT_PULL_BATCH } else { held }
            .clamp(1, self.caps.max_receive_messages);
        self.consumer
            .stream()
            .max_messages_per_batch(batch)
            .expires(PULL_EXPIRES)
            .heartbeat(PULL_HEARTBEAT)
            .messages()
            .await
            .map_err(|err| unavailable("pull", err))
    }
}

async fn open_consumer(
    stream: &Stream<()>,
    topic: &NatsTopic,
    name: &str,
    lease: Duration,
    provision: bool,
    ordered: bool,
) -> Result<PullConsumer> {
    match stream.consumer_info(name).await {
        Ok(_) => {}
        Err(err) if matches!(err.kind(), ConsumerInfoErrorKind::NotFound) && provision => {
            let config = Config {
                durable_name: Some(name.to_owned()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: lease,
                max_deliver: -1,
                deliver_policy: DeliverPolicy::New,
                max_ack_pending: if ordered { 1 } else { 0 },
                ..Config::default()
            };
            return stream
                .create_consumer(config)
                .await
                .map_err(|err| unavailable(&format!("creating consumer `{name}`"), err));
        }
        Err(err) if matches!(err.kind(), ConsumerInfoErrorKind::NotFound) => {
            return Err(Error::not_found(format!(
                "NATS consumer `{name}` of stream `{}` does not exist: create it (a durable pull \
                 consumer with explicit acks), or set `\"provision\": true` on the topic",
                topic.stream()
            )));
        }
        Err(err) => return Err(unavailable("consumer lookup", err)),
    }
    stream.get_consumer(name).await.map_err(|err| {
        Error::invalid_config(format!(
            "NATS consumer `{name}` of stream `{}` cannot serve a subscription: {err}",
            topic.stream()
        ))
    })
}

/// A received JetStream message as a Strata delivery.
fn delivery(message: &async_nats::jetstream::Message) -> Result<Delivery> {
    let info = message
        .info()
        .map_err(|err| Error::internal(format!("NATS delivery without ack metadata: {err}")))?;
    let reply = message
        .reply
        .as_ref()
        .ok_or_else(|| Error::internal("NATS delivery without a reply subject"))?;
    let mut attributes = Attributes::new();
    let mut ordering_key = None;
    let mut carried = Vec::new();
    if let Some(headers) = &message.headers {
        for (name, values) in headers.iter() {
            let name: &str = name.as_ref();
            let Some(value) = values.first() else {
                continue;
            };
            if name.eq_ignore_ascii_case(ORDERING_KEY_HEADER) {
                ordering_key = Some(value.as_str().to_owned());
            } else if name.eq_ignore_ascii_case(ATTRIBUTES_HEADER) {
                match serde_json::from_str(value.as_str()) {
                    Ok(json @ serde_json::Value::Object(_)) => carried.push(json),
                    // Another client's header of that name: keep it as is.
                    _ => {
                        attributes.insert(name.to_owned(), value.as_str().to_owned());
                    }
                }
            } else if !(name.len() >= 5 && name[..5].eq_ignore_ascii_case("nats-")) {
                attributes.insert(name.to_owned(), value.as_str().to_owned());
            }
        }
    }
    for json in &carried {
        carried::restore(&mut attributes, json);
    }
    let nanos = info.published.unix_timestamp_nanos();
    let publish_time = u64::try_from(nanos)
        .ok()
        .map_or(UNIX_EPOCH, |n| UNIX_EPOCH + Duration::from_nanos(n));
    Ok(Delivery {
        message: Message {
            id: info.stream_sequence.to_string(),
            data: message.payload.clone(),
            attributes,
            ordering_key,
            publish_time,
            delivery_attempt: u32::try_from(info.delivered.max(1)).unwrap_or(u32::MAX),
        },
        handle: DeliveryHandle(reply.to_string()),
    })
}

#[async_trait]
impl SubscriptionDriver for NatsSubscription {
    fn capabilities(&self) -> &PubSubCapabilities {
        &self.caps
    }

    fn lease(&self) -> Duration {
        self.lease
    }

    fn set_max_held(&self, deliveries: usize) {
        self.held.store(deliveries, Ordering::Relaxed);
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let max = max.clamp(1, self.caps.max_receive_messages);
        let mut guard = self.messages.lock().await;
        let messages = match guard.as_mut() {
            Some(messages) => messages,
            None => guard.insert(self.open_pull().await?),
        };
        // Polling the stream is cancel safe: a message is taken out of it
        // only when `next` returns it.
        let first = match tokio::time::timeout(wait, messages.next()).await {
            Err(_) => return Ok(Vec::new()),
            Ok(item) => item,
        };
        let mut out = Vec::new();
        match first {
            Some(Ok(message)) => out.push(delivery(&message)?),
            Some(Err(err)) => {
                *guard = None;
                return Err(unavailable("receive", err));
            }
            None => {
                *guard = None;
                return Err(Error::unavailable("NATS pull ended; it is reopened"));
            }
        }
        while out.len() < max {
            match messages.next().now_or_never() {
                Some(Some(Ok(message))) => out.push(delivery(&message)?),
                Some(Some(Err(_)) | None) => {
                    *guard = None;
                    break;
                }
                None => break,
            }
        }
        Ok(out)
    }

    async fn ack(&self, handles: Vec<DeliveryHandle>) -> Result<()> {
        if handles.is_empty() {
            return Ok(());
        }
        for handle in &handles {
            self.subject(handle)?;
        }
        for handle in &handles {
            self.reply(handle, Bytes::from_static(b"+ACK")).await?;
        }
        self.flush().await
    }

    async fn nack(&self, handle: DeliveryHandle, redeliver_after: Duration) -> Result<()> {
        let body = if redeliver_after.is_zero() {
            Bytes::from_static(b"-NAK")
        } else {
            Bytes::from(format!("-NAK {{\"delay\":{}}}", redeliver_after.as_nanos()))
        };
        self.reply(&handle, body).await?;
        self.flush().await
    }

    async fn extend_lease(&self, handle: &DeliveryHandle, _lease: Duration) -> Result<()> {
        // An in-progress ack restarts the consumer's ack wait; the engine
        // extends every half lease, so the lease it asks for is covered.
        self.reply(handle, Bytes::from_static(b"+WPI")).await?;
        self.flush().await
    }
}
