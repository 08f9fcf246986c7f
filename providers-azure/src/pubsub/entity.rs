//! A topic entry's own field on Service Bus: `"entity"`, whether the
//! logical topic is a Service Bus topic (the default) or a queue.
//!
//! A queue is what a team has when one consumer group reads what producers
//! send: there are no subscriptions to fan out to, so such an entry may
//! declare one subscription, which receives from the queue itself.

use schemars::JsonSchema;
use serde::Deserialize;
use strata_core::registry::{FieldError, ProviderOptions, TopicEntry};

/// What a Service Bus topic entry names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Entity {
    /// A topic: each subscription is a Service Bus subscription of it and
    /// gets every message.
    #[default]
    Topic,
    /// A queue: publishes go to it, and the entry's one subscription
    /// receives from it (its lock duration, sessions and delivery count are
    /// the subscription's).
    Queue,
}

/// The fields a Service Bus topic entry adds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceBusTopicOptions {
    /// `"topic"` (default) or `"queue"`.
    #[serde(default)]
    pub entity: Entity,
}

impl ProviderOptions for ServiceBusTopicOptions {}

impl ServiceBusTopicOptions {
    /// Checks what `entity` asks of the rest of the entry: a queue serves
    /// one subscription, which has no name of its own.
    ///
    /// # Errors
    /// The field and the rule, relative to the entry.
    pub fn check_entry(&self, topic: TopicEntry<'_>) -> Result<(), FieldError> {
        if self.entity != Entity::Queue {
            return Ok(());
        }
        let subscriptions = &topic.config.subscriptions;
        if subscriptions.len() > 1 {
            return Err((
                "subscriptions".to_owned(),
                "a Service Bus queue (`\"entity\": \"queue\"`) has one set of competing \
                 consumers, so it serves one subscription: declare one, or make the entry a \
                 topic to give each subscription every message"
                    .to_owned(),
            ));
        }
        let Some((logical, sub)) = subscriptions.iter().next() else {
            return Ok(());
        };
        if sub.name.is_some() {
            return Err((
                format!("subscriptions.{logical}.name"),
                "the subscription of a Service Bus queue receives from the queue itself and \
                 has no name of its own: remove `name`"
                    .to_owned(),
            ));
        }
        if sub.dead_letter_topic.is_some() && sub.native_dead_letter() {
            // The queue is created when its topic entry opens, which may be
            // before the dead-letter topic's: it could not be told where to
            // forward.
            return Err((
                format!("subscriptions.{logical}.dead_letter_mode"),
                "a Service Bus queue does not forward its dead letters to a topic: leave \
                 `dead_letter_mode` to the engine, or drop `dead_letter_topic` to keep them in \
                 the queue's own `$DeadLetterQueue`"
                    .to_owned(),
            ));
        }
        Ok(())
    }
}
