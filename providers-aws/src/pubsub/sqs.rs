//! [`SqsSubscription`]: the [`SubscriptionDriver`] over one SQS queue
//! subscribed to an SNS topic.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName as System};
use strata_core::pubsub::{Delivery, DeliveryHandle, PubSubCapabilities, SubscriptionDriver};
use strata_core::{Error, Result};

use super::provision::{QueueSpec, ensure_queue, ensure_subscribed};
use super::{SnsTopic, capabilities, fifo_name, wire};
use crate::clients::{AwsClients, Service};
use crate::error::{classify, sdk_error};

/// The longest SQS long poll.
const MAX_WAIT_SECS: u64 = 20;
/// The longest SQS visibility timeout (12 hours).
const MAX_VISIBILITY_SECS: u64 = 12 * 60 * 60;
/// SQS's most messages per receive and per delete batch.
const MAX_BATCH: usize = 10;

/// Where a subscription's dead letters go natively: SQS redrives a message
/// into `queue` once it has been received `max_attempts` times.
///
/// `queue` is the queue of a subscription of the dead-letter `topic`. SQS
/// moves a message into one queue only, so this is right when the
/// dead-letter topic has exactly one subscription. When it has several (or
/// none yet), open the subscription without `SqsDeadLetter` and give the
/// [`Subscriber`](strata_core::pubsub::Subscriber) a
/// [`DeadLetterPolicy`](strata_core::pubsub::DeadLetterPolicy) with the
/// topic: the engine then publishes each dead letter to the topic, and every
/// subscription gets it.
#[derive(Debug, Clone)]
pub struct SqsDeadLetter {
    /// The dead-letter topic.
    pub topic: SnsTopic,
    /// The queue name of the dead-letter topic's subscription (`.fifo` is
    /// appended for FIFO topics).
    pub queue: String,
    /// Deliveries before a message moves (SQS `maxReceiveCount`, 1 to 1000).
    pub max_attempts: u32,
}

/// How to open an [`SqsSubscription`].
#[derive(Debug, Clone)]
pub struct SqsSubscriptionOptions {
    /// The lease (visibility timeout), rounded up to whole seconds, at least
    /// 1 s. Set on the queue only with `provision`; otherwise the queue's own
    /// is used (see [`SqsSubscription::lease`]).
    pub lease: Duration,
    /// Native dead-lettering; see [`SqsDeadLetter`].
    pub dead_letter: Option<SqsDeadLetter>,
    /// Create the queue (and the dead-letter queue) if missing, subscribe it
    /// to the topic, and set its policy, visibility timeout and redrive policy.
    pub provision: bool,
}

impl Default for SqsSubscriptionOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            dead_letter: None,
            provision: false,
        }
    }
}

/// Receives from one SQS queue subscribed to an SNS topic. Cheap to clone.
#[derive(Clone)]
pub struct SqsSubscription {
    inner: Arc<Inner>,
}

struct Inner {
    clients: AwsClients,
    name: String,
    url: String,
    lease: Duration,
    capabilities: PubSubCapabilities,
}

impl std::fmt::Debug for SqsSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsSubscription")
            .field("queue", &self.inner.url)
            .field("lease", &self.inner.lease)
            .finish()
    }
}

impl SqsSubscription {
    /// Opens the subscription of `topic` whose queue is named `queue` (`.fifo`
    /// is appended for a FIFO topic).
    ///
    /// # Errors
    /// `NotFound` when the queue or its subscription to the topic is missing
    /// and `opts.provision` is false; `InvalidConfig` when the queue does not
    /// match what is asked (no raw delivery, no redrive to the dead-letter
    /// queue) and may not be changed, or FIFO and standard are mixed;
    /// `PermissionDenied` / `Unavailable` as for any call.
    pub async fn open(
        clients: &AwsClients,
        topic: &SnsTopic,
        queue: &str,
        opts: &SqsSubscriptionOptions,
    ) -> Result<SqsSubscription> {
        let fifo = topic.is_fifo();
        let name = physical_name(queue, fifo, topic)?;
        let redrive = match &opts.dead_letter {
            Some(dead) => Some(dead_letter_queue(clients, topic, dead, opts.provision).await?),
            None => None,
        };
        let lease_secs = opts.lease.as_secs() + u64::from(opts.lease.subsec_nanos() > 0);
        let spec = QueueSpec {
            name: &name,
            topic,
            visibility_secs: Some(lease_secs.clamp(1, MAX_VISIBILITY_SECS) as u32),
            redrive: redrive.clone(),
        };
        let found = ensure_queue(clients, &spec, opts.provision).await?;
        if let Some((dlq, max)) = &redrive
            && found.redrive.as_ref() != Some(&(dlq.clone(), *max))
        {
            return Err(Error::invalid_config(format!(
                "SQS queue `{name}` has no redrive policy into `{dlq}` with maxReceiveCount \
                 {max}: set it, or set \"provision\": true under providers.aws"
            )));
        }
        ensure_subscribed(clients, topic, &name, &found, opts.provision).await?;
        if !opts.provision && found.visibility != Duration::from_secs(lease_secs) {
            tracing::info!(
                queue = name,
                "using the queue's visibility timeout of {:?} as the lease (asked for {:?}; \
                 set provision to change the queue)",
                found.visibility,
                opts.lease
            );
        }
        Ok(SqsSubscription {
            inner: Arc::new(Inner {
                clients: clients.clone(),
                name,
                url: found.url,
                lease: found.visibility,
                capabilities: capabilities(fifo, redrive.is_some()),
            }),
        })
    }

    /// The queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.inner.url
    }

    /// The queue's physical name.
    pub fn queue_name(&self) -> &str {
        &self.inner.name
    }

    fn what(&self, call: &str) -> String {
        format!("SQS {call} on queue `{}`", self.inner.name)
    }

    fn target(&self) -> String {
        self.inner.clients.describe(Service::Sqs)
    }

    async fn change_visibility(
        &self,
        handle: &DeliveryHandle,
        after: Duration,
        call: &str,
    ) -> Result<()> {
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        self.inner
            .clients
            .sqs()
            .change_message_visibility()
            .queue_url(&self.inner.url)
            .receipt_handle(&handle.0)
            .visibility_timeout(secs.min(MAX_VISIBILITY_SECS) as i32)
            .send()
            .await
            .map_err(|e| sdk_error(e, &self.what(call), &self.target()))?;
        Ok(())
    }
}

/// The queue name for `queue` on a FIFO or standard topic.
fn physical_name(queue: &str, fifo: bool, topic: &SnsTopic) -> Result<String> {
    match (fifo, queue.ends_with(".fifo")) {
        (true, _) => Ok(fifo_name(queue)),
        (false, false) => Ok(queue.to_owned()),
        (false, true) => Err(Error::invalid_config(format!(
            "SQS queue `{queue}` is a FIFO queue, but SNS topic `{}` is not a FIFO topic \
             (set \"ordering\": true on the topic, or drop `.fifo` from the queue name)",
            topic.name()
        ))),
    }
}

/// Finds (or provisions) the dead-letter queue; returns its ARN and the
/// max receive count for the redrive policy.
async fn dead_letter_queue(
    clients: &AwsClients,
    topic: &SnsTopic,
    dead: &SqsDeadLetter,
    provision: bool,
) -> Result<(String, u32)> {
    if !(1..=1000).contains(&dead.max_attempts) {
        return Err(Error::invalid_config(format!(
            "max_attempts is {}; SQS redrive allows 1 to 1000",
            dead.max_attempts
        )));
    }
    if dead.topic.is_fifo() != topic.is_fifo() {
        return Err(Error::invalid_config(format!(
            "SNS topic `{}` and its dead-letter topic `{}` must both be FIFO (ordering) \
             or both standard: SQS redrives only between queues of the same kind",
            topic.name(),
            dead.topic.name()
        )));
    }
    let name = physical_name(&dead.queue, dead.topic.is_fifo(), &dead.topic)?;
    let spec = QueueSpec {
        name: &name,
        topic: &dead.topic,
        visibility_secs: None,
        redrive: None,
    };
    let queue = ensure_queue(clients, &spec, provision).await?;
    ensure_subscribed(clients, &dead.topic, &name, &queue, provision).await?;
    Ok((queue.arn, dead.max_attempts))
}

#[async_trait]
impl SubscriptionDriver for SqsSubscription {
    fn capabilities(&self) -> &PubSubCapabilities {
        &self.inner.capabilities
    }

    fn lease(&self) -> Duration {
        self.inner.lease
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        // SQS waits in whole seconds: round up, so a short wait still long-polls.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let output = self
            .inner
            .clients
            .sqs()
            .receive_message()
            .queue_url(&self.inner.url)
            .max_number_of_messages(max.min(MAX_BATCH) as i32)
            .wait_time_seconds(secs.min(MAX_WAIT_SECS) as i32)
            .message_attribute_names("All")
            .message_system_attribute_names(System::ApproximateReceiveCount)
            .message_system_attribute_names(System::SentTimestamp)
            .message_system_attribute_names(System::MessageGroupId)
            .send()
            .await
            .map_err(|e| sdk_error(e, &self.what("ReceiveMessage"), &self.target()))?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(wire::decode)
            .collect())
    }

    async fn ack(&self, handles: Vec<DeliveryHandle>) -> Result<()> {
        let mut first_error = None;
        for chunk in handles.chunks(MAX_BATCH) {
            let mut request = self
                .inner
                .clients
                .sqs()
                .delete_message_batch()
                .queue_url(&self.inner.url);
            for (i, handle) in chunk.iter().enumerate() {
                let entry = DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&handle.0)
                    .build()
                    .map_err(|e| Error::internal(format!("SQS delete entry: {e}")))?;
                request = request.entries(entry);
            }
            match request.send().await {
                Ok(output) => {
                    if let Some(failed) = output.failed.first() {
                        let status = if failed.sender_fault { 400 } else { 500 };
                        first_error.get_or_insert(Error::new(
                            classify(Some(&failed.code), status),
                            format!(
                                "{}: {} of {} deletes failed, first: {}: {}",
                                self.what("DeleteMessageBatch"),
                                output.failed.len(),
                                chunk.len(),
                                failed.code,
                                failed.message.as_deref().unwrap_or("no reason given")
                            ),
                        ));
                    }
                }
                Err(err) => {
                    first_error.get_or_insert(sdk_error(
                        err,
                        &self.what("DeleteMessageBatch"),
                        &self.target(),
                    ));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn nack(&self, handle: DeliveryHandle, redeliver_after: Duration) -> Result<()> {
        // A visibility timeout is whole seconds, so a sub-second backoff
        // would become a full second per retry (what made AWS retries and
        // dead letters seconds slower than other providers). Such a nack
        // waits here instead, off the engine's path, then makes the message
        // visible at once. Should this process stop meanwhile, the lease
        // runs out and SQS redelivers it anyway.
        if !redeliver_after.is_zero() && redeliver_after < Duration::from_secs(1) {
            let this = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(redeliver_after).await;
                if let Err(err) = this
                    .change_visibility(&handle, Duration::ZERO, "ChangeMessageVisibility (nack)")
                    .await
                {
                    tracing::warn!(queue = this.inner.name, "delayed nack failed: {err}");
                }
            });
            return Ok(());
        }
        self.change_visibility(&handle, redeliver_after, "ChangeMessageVisibility (nack)")
            .await
    }

    async fn extend_lease(&self, handle: &DeliveryHandle, lease: Duration) -> Result<()> {
        self.change_visibility(handle, lease, "ChangeMessageVisibility (extend lease)")
            .await
    }
}
