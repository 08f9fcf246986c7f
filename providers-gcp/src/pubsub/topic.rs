//! [`PubSubTopic`]: the [`TopicDriver`] over one Pub/Sub topic.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use google_cloud_pubsub::client::Publisher;
use google_cloud_pubsub::model::Message;
use strata_core::pubsub::{OutgoingMessage, PubSubCapabilities, TopicDriver};
use strata_core::{Error, Result};

use super::{MAX_BATCH_MESSAGES, MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES, capabilities, names};
use crate::clients::{GcpClients, Service};
use crate::error::publish_error;

/// The crate's own linger: none worth having, since Strata's [`Topic`]
/// already lingers and each batch is flushed at once.
///
/// [`Topic`]: strata_core::pubsub::Topic
const PUBLISHER_DELAY: Duration = Duration::from_millis(1);

/// Publishes to one Pub/Sub topic. Cheap to clone.
///
/// ```no_run
/// # async fn demo(clients: strata_gcp::GcpClients) -> strata_core::Result<()> {
/// use std::sync::Arc;
/// use strata_core::pubsub::{OutgoingMessage, Topic, TopicOptions};
/// let driver = strata_gcp::PubSubTopic::open(&clients, "orders", true).await?;
/// let orders = Topic::new("orders", Arc::new(driver), TopicOptions::default());
/// orders.publish(OutgoingMessage::new("hello")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PubSubTopic {
    inner: Arc<Inner>,
}

struct Inner {
    clients: GcpClients,
    path: String,
    publisher: Publisher,
    capabilities: PubSubCapabilities,
}

impl std::fmt::Debug for PubSubTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubSubTopic")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl PubSubTopic {
    /// Opens topic `name` (an id in the configured project, or a full
    /// `projects/P/topics/T` name). With `provision` a missing topic is
    /// created.
    ///
    /// # Errors
    /// `InvalidArgument` for an invalid id, `NotFound` when the topic does not
    /// exist and `provision` is false, `PermissionDenied` for bad
    /// credentials, `Unavailable` when Pub/Sub cannot be reached.
    pub async fn open(clients: &GcpClients, name: &str, provision: bool) -> Result<PubSubTopic> {
        let path = names::topic_path(clients.project(), name)?;
        super::provision::ensure_topic(clients, &path, provision).await?;
        let publisher = clients
            .pubsub()
            .await?
            .publisher
            .publisher(path.clone())
            .set_message_count_threshold(MAX_BATCH_MESSAGES as u32)
            .set_byte_threshold(MAX_REQUEST_BYTES as u32)
            .set_delay_threshold(PUBLISHER_DELAY)
            .build();
        Ok(PubSubTopic {
            inner: Arc::new(Inner {
                clients: clients.clone(),
                path,
                publisher,
                // Ordering is a subscription setting on Pub/Sub: a topic
                // accepts ordering keys either way.
                capabilities: capabilities(false, false),
            }),
        })
    }

    /// The topic's full name, `projects/P/topics/T`.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The topic's id.
    pub fn name(&self) -> &str {
        names::short_id(&self.inner.path)
    }
}

/// The Pub/Sub message for `message`.
pub(super) fn to_pubsub(message: OutgoingMessage) -> Message {
    let mut out = Message::new()
        .set_data(message.data)
        .set_attributes(message.attributes);
    if let Some(key) = message.ordering_key {
        out = out.set_ordering_key(key);
    }
    out
}

/// Checks what Pub/Sub would refuse, so the publish that is wrong fails
/// alone and says why.
pub(super) fn check(message: &OutgoingMessage) -> Result<()> {
    let size = message.encoded_len();
    if size > MAX_MESSAGE_BYTES {
        return Err(Error::invalid_argument(format!(
            "the message is {size} bytes, above the Pub/Sub limit of {MAX_MESSAGE_BYTES} \
             (payload, attribute names and values, and ordering key)"
        )));
    }
    if message.data.is_empty() && message.attributes.is_empty() {
        return Err(Error::invalid_argument(
            "Pub/Sub refuses a message with neither data nor attributes",
        ));
    }
    if let Some(name) = message.attributes.keys().find(|k| k.is_empty()) {
        return Err(Error::invalid_argument(format!(
            "attribute name `{name}` is empty; Pub/Sub needs a name"
        )));
    }
    if let Some(name) = message.attributes.keys().find(|k| k.len() > 256) {
        return Err(Error::invalid_argument(format!(
            "attribute name `{name}` is longer than Pub/Sub's 256 bytes"
        )));
    }
    if message.attributes.len() > 100 {
        return Err(Error::invalid_argument(format!(
            "{} attributes; Pub/Sub takes at most 100",
            message.attributes.len()
        )));
    }
    Ok(())
}

#[async_trait]
impl TopicDriver for PubSubTopic {
    fn capabilities(&self) -> &PubSubCapabilities {
        &self.inner.capabilities
    }

    async fn publish_batch(&self, batch: Vec<OutgoingMessage>) -> Vec<Result<String>> {
        let publisher = &self.inner.publisher;
        let mut pending = Vec::with_capacity(batch.len());
        for message in batch {
            pending.push(match check(&message) {
                Ok(()) => {
                    let key = message.ordering_key.clone();
                    Ok((key, publisher.publish(to_pubsub(message))))
                }
                Err(err) => Err(err),
            });
        }
        publisher.flush().await;
        let target = self.inner.clients.describe(Service::PubSub);
        let what = format!("publishing to Pub/Sub topic `{}`", self.name());
        let mut results = Vec::with_capacity(pending.len());
        for entry in pending {
            results.push(match entry {
                Err(err) => Err(err),
                Ok((key, future)) => match future.await {
                    Ok(id) => Ok(id),
                    Err(err) => {
                        // The crate pauses a key after a failure so later
                        // messages cannot overtake; each failed publish is
                        // reported, so the key may go on.
                        if let Some(key) = key {
                            publisher.resume_publish(key);
                        }
                        Err(publish_error(err, &what, &target))
                    }
                },
            });
        }
        results
    }
}
