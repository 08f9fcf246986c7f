//! [`SubscriberOptions`]: how a [`Subscriber`](super::Subscriber) runs its
//! handler, and where dead letters go. Apart from the subscriber so that the
//! engine reads them without importing the subscriber that drives it.

use std::time::Duration;

use super::{RetryPolicy, Topic};

/// Attribute naming why an emulated dead-lettering happened.
pub const DEAD_LETTER_REASON_ATTRIBUTE: &str = "strata.dead_letter.reason";
/// Attribute naming the subscription a dead-lettered message came from.
pub const DEAD_LETTER_SUBSCRIPTION_ATTRIBUTE: &str = "strata.dead_letter.subscription";
/// Attribute carrying the id the message had before it was dead-lettered.
pub const ORIGINAL_MESSAGE_ID_ATTRIBUTE: &str = "strata.original_message_id";

/// Where messages go once they have failed `max_attempts` times.
#[derive(Debug, Clone)]
pub struct DeadLetterPolicy {
    /// Deliveries after which a failing message is dead-lettered (the provider's
    /// [`Message::delivery_attempt`](super::Message::delivery_attempt) counts them).
    pub max_attempts: u32,
    /// Where the engine publishes dead letters when the provider has neither
    /// native nor explicit dead-lettering (see
    /// [`PubSubCapabilities`](super::PubSubCapabilities)). Emulated dead letters
    /// carry [`DEAD_LETTER_REASON_ATTRIBUTE`], [`DEAD_LETTER_SUBSCRIPTION_ATTRIBUTE`]
    /// and [`ORIGINAL_MESSAGE_ID_ATTRIBUTE`].
    pub topic: Option<Topic>,
}

/// How a [`Subscriber`](super::Subscriber) runs its handler.
#[derive(Debug, Clone)]
pub struct SubscriberOptions {
    /// Most messages held at once: running, or waiting behind an earlier message
    /// of their ordering key (default 32).
    pub max_concurrency: usize,
    /// Backoff between redeliveries of a failed message.
    pub retry: RetryPolicy,
    /// Dead-lettering after repeated failures; `None` retries forever.
    pub dead_letter: Option<DeadLetterPolicy>,
    /// A handler running longer than this fails and the message is retried
    /// (default 10 minutes).
    pub handler_timeout: Duration,
    /// How long one receive call waits for messages (default 1 s).
    pub receive_wait: Duration,
}

impl Default for SubscriberOptions {
    fn default() -> Self {
        Self {
            max_concurrency: 32,
            retry: RetryPolicy::default(),
            dead_letter: None,
            handler_timeout: Duration::from_secs(600),
            receive_wait: Duration::from_secs(1),
        }
    }
}
