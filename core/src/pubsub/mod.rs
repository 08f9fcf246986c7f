//! PubSub: topics, subscriptions, and the portable engine around provider drivers.
//!
//! A provider implements two small traits: [`TopicDriver`] (publish one batch) and
//! [`SubscriptionDriver`] (receive, ack, nack, extend a lease, and optionally
//! dead-letter). The shapes fit SQS (receive / DeleteMessageBatch /
//! ChangeMessageVisibility), Pub/Sub streaming pull (ack / nack / modify deadline)
//! and Service Bus peek-lock (complete / abandon / renew lock / dead-letter).
//!
//! Everything that is the same for every provider lives here once: batching with a
//! linger window ([`Topic`]), and the [`Subscriber`] engine (max concurrency,
//! retries with backoff, lease extension, dead-lettering, graceful drain), and
//! the OpenTelemetry spans of both with the trace context carried in each
//! message ([`spans`]).

pub mod carried;
mod engine;
mod handler;
mod lease;
mod metrics;
mod reserved;
mod retry;
pub mod spans;
mod stats;
mod subscriber;
mod subscriber_options;
#[cfg(test)]
mod subscriber_tests;
mod topic;
#[cfg(test)]
mod topic_tests;
mod trace_context;

pub use handler::{Handler, HandlerError, handler_fn};
pub use reserved::{
    DEAD_LETTER_HISTORY_PREFIX, RESERVED_ATTRIBUTE_PREFIX, check_publisher_attributes,
    publisher_may_set,
};
pub use retry::RetryPolicy;
pub use stats::SubscriberStats;
pub use subscriber::Subscriber;
pub use subscriber_options::{
    DEAD_LETTER_REASON_ATTRIBUTE, DEAD_LETTER_SUBSCRIPTION_ATTRIBUTE, DeadLetterPolicy,
    ORIGINAL_MESSAGE_ID_ATTRIBUTE, SubscriberOptions,
};
pub use topic::{Topic, TopicOptions};
pub use trace_context::TRACEPARENT_ATTRIBUTE;

use std::any::Any;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use crate::Result;

/// String attributes carried with a message.
pub type Attributes = BTreeMap<String, String>;

/// A message to publish.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutgoingMessage {
    /// The payload.
    pub data: Bytes,
    /// String attributes (SNS message attributes, Pub/Sub attributes, Service Bus
    /// application properties).
    pub attributes: Attributes,
    /// Messages with the same key are delivered in publish order where the
    /// provider supports ordering ([`PubSubCapabilities::ordering`]).
    pub ordering_key: Option<String>,
}

impl OutgoingMessage {
    /// A message with only a payload.
    pub fn new(data: impl Into<Bytes>) -> Self {
        Self {
            data: data.into(),
            ..Self::default()
        }
    }

    /// Adds an attribute.
    pub fn with_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// Sets the ordering key.
    pub fn with_ordering_key(mut self, key: impl Into<String>) -> Self {
        self.ordering_key = Some(key.into());
        self
    }

    /// Bytes this message counts against size limits: payload, attribute names and
    /// values, and the ordering key.
    pub fn encoded_len(&self) -> usize {
        self.data.len()
            + self
                .attributes
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
            + self.ordering_key.as_ref().map_or(0, String::len)
    }
}

/// A delivered message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The id the provider assigned at publish.
    pub id: String,
    /// The payload.
    pub data: Bytes,
    /// The attributes it was published with.
    pub attributes: Attributes,
    /// The ordering key it was published with.
    pub ordering_key: Option<String>,
    /// When the provider accepted it.
    pub publish_time: SystemTime,
    /// 1 on first delivery, 2 on the first redelivery, and so on.
    pub delivery_attempt: u32,
}

/// The provider's token for one delivery: an SQS receipt handle, a Pub/Sub ack
/// id, a Service Bus lock token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryHandle(pub String);

/// A message as received, with the handle to settle it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// What to pass to ack / nack / extend.
    pub handle: DeliveryHandle,
}

/// What a pub/sub provider can do. The conformance suite checks both the claims
/// and that nothing is claimed that the provider lacks.
#[derive(Debug, Clone, PartialEq)]
pub struct PubSubCapabilities {
    /// The provider's `messaging.system` in OpenTelemetry's messaging
    /// conventions (`aws_sqs`, `gcp_pubsub`, `servicebus`, …), which the
    /// engine's spans carry: the provider says it once, here.
    pub messaging_system: &'static str,
    /// Messages sharing an ordering key are delivered in order, one at a time.
    pub ordering: bool,
    /// The provider moves a message to its dead-letter destination by itself after
    /// `max_attempts` deliveries (SQS redrive, Pub/Sub dead-letter topic).
    pub native_dead_letter: bool,
    /// [`SubscriptionDriver::dead_letter`] is implemented (Service Bus DLQ).
    pub explicit_dead_letter: bool,
    /// [`SubscriptionDriver::extend_lease`] is implemented.
    pub lease_extension: bool,
    /// [`Message::delivery_attempt`] is reported by the provider.
    pub delivery_attempts: bool,
    /// Largest message accepted ([`OutgoingMessage::encoded_len`]).
    pub max_message_bytes: usize,
    /// Most messages in one [`TopicDriver::publish_batch`].
    pub max_batch_messages: usize,
    /// Most bytes in one [`TopicDriver::publish_batch`].
    pub max_batch_bytes: usize,
    /// Most messages one [`SubscriptionDriver::receive`] returns.
    pub max_receive_messages: usize,
    /// Most handles one [`SubscriptionDriver::ack`] takes.
    pub max_ack_batch: usize,
    /// How long publishes wait to fill a batch by default.
    pub default_linger: Duration,
}

/// Publishes to one topic. Implemented by each provider.
#[async_trait]
pub trait TopicDriver: Any + Send + Sync {
    /// What this provider can do.
    fn capabilities(&self) -> &PubSubCapabilities;

    /// Publishes a batch that is within the capability limits. Returns one result
    /// per message, in order: the message id, or why that message failed.
    async fn publish_batch(&self, batch: Vec<OutgoingMessage>) -> Vec<Result<String>>;
}

/// Receives from one subscription. Implemented by each provider.
///
/// `receive` must be cancel safe: a call that is dropped before it returns loses
/// no message (at worst a received message becomes visible again when its lease
/// runs out).
#[async_trait]
pub trait SubscriptionDriver: Send + Sync + 'static {
    /// What this provider can do.
    fn capabilities(&self) -> &PubSubCapabilities;

    /// How long a delivery stays leased before the provider redelivers it (SQS
    /// visibility timeout, Pub/Sub ack deadline, Service Bus lock duration).
    fn lease(&self) -> Duration;

    /// Told, before the first `receive`, how many deliveries the subscriber
    /// holds at once (its `max_concurrency`). A driver that prefetches —
    /// Pub/Sub's streaming pull — sizes its prefetch by it, so one consumer
    /// does not take what a competing consumer could be handling; the others
    /// ignore it.
    fn set_max_held(&self, deliveries: usize) {
        let _ = deliveries;
    }

    /// Waits up to `wait` for at least one message, returns at most `max`.
    /// An empty vector means none arrived in time.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>>;

    /// Settles deliveries as processed.
    async fn ack(&self, handles: Vec<DeliveryHandle>) -> Result<()>;

    /// Gives a delivery back, to be redelivered no sooner than `redeliver_after`.
    async fn nack(&self, handle: DeliveryHandle, redeliver_after: Duration) -> Result<()>;

    /// Keeps a delivery leased for `lease` from now.
    async fn extend_lease(&self, handle: &DeliveryHandle, lease: Duration) -> Result<()> {
        let _ = (handle, lease);
        Err(crate::Error::unsupported("lease extension"))
    }

    /// Moves a delivery to the provider's dead-letter queue.
    async fn dead_letter(&self, handle: DeliveryHandle, reason: &str) -> Result<()> {
        let _ = (handle, reason);
        Err(crate::Error::unsupported("explicit dead-lettering"))
    }
}
