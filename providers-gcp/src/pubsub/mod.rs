//! PubSub on Cloud Pub/Sub, through Google's official `google-cloud-pubsub`
//! crate: a Strata topic is a Pub/Sub topic, a Strata subscription a Pub/Sub
//! subscription of it.
//!
//! - [`PubSubTopic`] publishes through the crate's batching `Publisher`
//!   (1000 messages / 10 MB per request), ordering keys included.
//! - [`PubSubSubscription`] receives over the crate's streaming pull, which
//!   keeps each delivery's ack deadline extended on the server; the lease
//!   Strata sees (expiry, extension, delayed nacks) is kept by [`leases`]
//!   on top of it, because the crate has no per-message deadline call.
//! - Ordering: the subscription is created with `enable_message_ordering`
//!   when asked; publishing with an ordering key needs no topic setting.
//! - Dead letters: a subscription opened with [`PubSubDeadLetter`] gets a
//!   native dead-letter policy; Pub/Sub then counts delivery attempts and
//!   forwards a message to the dead-letter topic (every subscription of it
//!   gets it) after `max_attempts`. On an ordered subscription the engine
//!   dead-letters instead (retries of a keyed message stay in the consumer,
//!   where Pub/Sub does not count them); the policy remains as a safety net
//!   for a consumer that dies.
//! - Names: see [`names`]; ids are checked before any request.

mod leases;
pub mod names;
mod provision;
mod receiver;
mod subscription;
mod topic;

use std::time::Duration;

use strata_core::pubsub::PubSubCapabilities;

pub use subscription::{PubSubDeadLetter, PubSubSubscription, PubSubSubscriptionOptions};
pub use topic::PubSubTopic;

/// Pub/Sub's limit for one publish request; a message must fit in one.
const MAX_REQUEST_BYTES: usize = 10 * 1000 * 1000;

/// The largest message accepted ([`OutgoingMessage::encoded_len`]): Pub/Sub's
/// 10 MB request limit, less room for the request's own framing.
///
/// [`OutgoingMessage::encoded_len`]: strata_core::pubsub::OutgoingMessage::encoded_len
pub const MAX_MESSAGE_BYTES: usize = MAX_REQUEST_BYTES - 64 * 1024;

/// Most messages in one publish request.
pub const MAX_BATCH_MESSAGES: usize = 1000;

/// How long publishes wait to fill a batch.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(5);

/// The capabilities of a topic or of a subscription with (`ordering`)
/// message ordering and (`dead_letter_policy`) a dead-letter policy.
///
/// Pub/Sub reports delivery attempts only with a dead-letter policy. It
/// dead-letters natively only where it sees every redelivery: on an ordered
/// subscription, retries of a keyed message happen in the consumer (see
/// `leases`), so the engine dead-letters there, through the topic.
pub(crate) fn capabilities(ordering: bool, dead_letter_policy: bool) -> PubSubCapabilities {
    PubSubCapabilities {
        messaging_system: "gcp_pubsub",
        ordering,
        native_dead_letter: dead_letter_policy && !ordering,
        explicit_dead_letter: false,
        lease_extension: true,
        delivery_attempts: dead_letter_policy,
        max_message_bytes: MAX_MESSAGE_BYTES,
        max_batch_messages: MAX_BATCH_MESSAGES,
        max_batch_bytes: MAX_MESSAGE_BYTES,
        max_receive_messages: 1000,
        max_ack_batch: 1000,
        default_linger: DEFAULT_LINGER,
    }
}

/// The Pub/Sub message mapping as pure functions, for the fuzz targets in
/// `fuzz/` (not an API: it may change with any release).
#[doc(hidden)]
pub mod wire_for_fuzzing {
    use google_cloud_pubsub::model::Message as PubSubMessage;
    use strata_core::Result;
    use strata_core::pubsub::{Message, OutgoingMessage};

    /// The Pub/Sub message published for `message`, after the checks of
    /// what Pub/Sub would refuse.
    ///
    /// # Errors
    /// `InvalidArgument` for what Pub/Sub would refuse.
    pub fn encode(message: OutgoingMessage) -> Result<PubSubMessage> {
        super::topic::check(&message)?;
        Ok(super::topic::to_pubsub(message))
    }

    /// The Strata message of a received Pub/Sub message.
    pub fn decode(message: PubSubMessage, attempt: u32) -> Message {
        super::receiver::received(message, attempt)
    }
}
