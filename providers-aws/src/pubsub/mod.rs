//! PubSub on AWS: a topic is an SNS topic, each subscription its own SQS
//! queue subscribed to it with raw message delivery.
//!
//! - [`SnsTopic`] publishes with `PublishBatch` (10 messages, 256 KiB).
//! - [`SqsSubscription`] receives with long polling, acks with
//!   `DeleteMessageBatch`, nacks and extends leases with
//!   `ChangeMessageVisibility`.
//! - Ordering: a topic opened with `ordering` is a FIFO topic (`.fifo` is
//!   appended to its name) and its queues are FIFO queues; the ordering key is
//!   the message group id.
//! - Dead letters: by default the engine publishes them to the dead-letter
//!   topic itself, with the `strata.dead_letter.*` attributes every provider
//!   gives them. With [`SqsDeadLetter`] (the config's `"dead_letter_mode":
//!   "native"`), the queue gets a redrive policy into the queue of the
//!   dead-letter topic's subscription and the subscription claims
//!   `native_dead_letter`: the message moves as it is, id included, without
//!   those attributes. See [`SqsDeadLetter`] for when to use which.
//! - Retry delays: a visibility timeout is whole seconds, so a nack of less
//!   than a second waits on this side and then makes the message visible
//!   (`SqsSubscription`'s `nack`).
//! - How bytes, ids, empty values and ordering keys travel: see the `wire`
//!   module docs ([`META_ATTRIBUTE`]).

mod provision;
mod sns;
mod sqs;
mod wire;

use std::time::Duration;

use strata_core::pubsub::PubSubCapabilities;

pub use sns::SnsTopic;
pub use sqs::{SqsDeadLetter, SqsSubscription, SqsSubscriptionOptions};
pub use wire::META_ATTRIBUTE;

/// The largest message accepted ([`OutgoingMessage::encoded_len`]): SNS's
/// 256 KiB less 1 KiB kept for attribute types and Strata's `strata`
/// attribute. Binary payloads travel base64-encoded, so they fit up to about
/// 190 KiB; a message too large on the wire fails with `InvalidArgument`.
///
/// [`OutgoingMessage::encoded_len`]: strata_core::pubsub::OutgoingMessage::encoded_len
pub const MAX_MESSAGE_BYTES: usize = wire::MAX_WIRE_BYTES - 1024;

/// How long publishes wait to fill a batch of 10.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(5);

/// The capabilities of a topic or subscription (`fifo`: ordered;
/// `native_dead_letter`: a redrive policy moves dead letters).
pub(crate) fn capabilities(fifo: bool, native_dead_letter: bool) -> PubSubCapabilities {
    PubSubCapabilities {
        messaging_system: "aws_sqs",
        ordering: fifo,
        native_dead_letter,
        explicit_dead_letter: false,
        lease_extension: true,
        delivery_attempts: true,
        max_message_bytes: MAX_MESSAGE_BYTES,
        max_batch_messages: 10,
        max_batch_bytes: MAX_MESSAGE_BYTES,
        max_receive_messages: 10,
        max_ack_batch: 10,
        default_linger: DEFAULT_LINGER,
    }
}

/// The FIFO form of a name: SNS and SQS require FIFO names to end in `.fifo`.
pub(crate) fn fifo_name(name: &str) -> String {
    if name.ends_with(".fifo") {
        name.to_owned()
    } else {
        format!("{name}.fifo")
    }
}

/// The SNS/SQS wire encoding as pure functions, for the fuzz targets in
/// `fuzz/` (not an API: it may change with any release).
#[doc(hidden)]
pub mod wire_for_fuzzing {
    use strata_core::Result;
    use strata_core::pubsub::{Delivery, OutgoingMessage};

    /// What [`encode`] sends: the SNS body, the attributes (Strata's own
    /// included) and, on a FIFO topic, the message group id.
    pub type Sent = (String, Vec<(String, String)>, Option<String>);

    /// Encodes `message` as SNS would be sent it.
    ///
    /// # Errors
    /// `InvalidArgument` for what SNS or SQS would refuse.
    pub fn encode(message: OutgoingMessage, fifo: bool) -> Result<Sent> {
        let encoded = super::wire::encode(message, fifo)?;
        Ok((encoded.body, encoded.attributes, encoded.group_id))
    }

    /// Turns a received SQS message into a delivery (`None` without a receipt handle).
    pub fn decode(message: aws_sdk_sqs::types::Message) -> Option<Delivery> {
        super::wire::decode(message)
    }
}
