//! PubSub on Azure Service Bus over AMQP 1.0, with `fe2o3-amqp` (the AMQP
//! crate Microsoft's `azure_core_amqp` wraps; why not that crate itself is
//! in docs/architecture.md). A Strata topic is a Service Bus topic, a
//! Strata subscription a Service Bus subscription of it.
//!
//! - [`connection`]: one AMQP connection per namespace, shared by every
//!   entity, authorized through CBS with a shared access signature or an
//!   Entra ID token ([`ServiceBusAuth`]), opened again with backoff after a
//!   drop.
//! - [`ServiceBusTopic`] publishes (attributes as application properties,
//!   `strata.content_type` as the content type, ordering key as session id).
//! - [`ServiceBusSubscription`] receives in PeekLock: ack = complete,
//!   nack = abandon (a delay is held on this side), lease extension =
//!   renew-lock, explicit dead-letter into the subscription's
//!   `$DeadLetterQueue` with the reason, delivery attempts from the
//!   broker's delivery count.
//! - Names: [`names`], checked at load and before any request.
//! - A topic entry with `"entity": "queue"` ([`ServiceBusTopicOptions`])
//!   is a Service Bus queue, whose one subscription receives from it.
//! - `provision` creates topics, subscriptions and queues through the
//!   management API (`management`).

mod auth;
pub mod connection;
mod entity;
mod links;
mod management;
pub mod names;
mod requests;
mod sas;
mod settings;
mod subscription;
mod topic;
mod wire;

use std::time::Duration;

use strata_core::pubsub::PubSubCapabilities;

pub use auth::{SERVICE_BUS_SCOPE, ServiceBusAuth};
pub use connection::ServiceBusNamespace;
pub use entity::{Entity, ServiceBusTopicOptions};
pub use settings::{STANDARD_MAX_MESSAGE_BYTES, ServiceBusSettings};
pub use subscription::{ServiceBusSubscription, ServiceBusSubscriptionOptions};
pub use topic::ServiceBusTopic;
pub use wire::CONTENT_TYPE_ATTRIBUTE;

/// How long publishes wait to fill a batch.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(5);

/// Room left in a message for what [`OutgoingMessage::encoded_len`] does
/// not count: the AMQP sections, message id and property encodings.
///
/// [`OutgoingMessage::encoded_len`]: strata_core::pubsub::OutgoingMessage::encoded_len
const ENVELOPE_BYTES: usize = 1024;

/// The capabilities for a namespace taking messages of up to `max_bytes`;
/// a subscription (`receiving`) extends leases and reports attempts, and
/// (`explicit_dead_letter`) moves messages to its dead-letter queue.
pub(crate) fn capabilities(
    max_bytes: usize,
    receiving: bool,
    explicit_dead_letter: bool,
) -> PubSubCapabilities {
    let max_message_bytes = max_bytes.saturating_sub(ENVELOPE_BYTES).max(1);
    PubSubCapabilities {
        messaging_system: "servicebus",
        ordering: false,
        native_dead_letter: false,
        explicit_dead_letter,
        lease_extension: receiving,
        delivery_attempts: receiving,
        max_message_bytes,
        max_batch_messages: 256,
        max_batch_bytes: max_message_bytes.max(1024 * 1024),
        max_receive_messages: 1000,
        max_ack_batch: 1000,
        default_linger: DEFAULT_LINGER,
    }
}
