//! [`ServiceBusTopic`]: publishes to a Service Bus topic over one sender
//! link, attached on first use and again after the connection dropped.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fe2o3_amqp::Sender;
use fe2o3_amqp::link::SendError;
use fe2o3_amqp::link::delivery::DeliveryFut;
use fe2o3_amqp::types::messaging::Outcome;
use fe2o3_amqp::types::messaging::{Data, Message as AmqpMessage};
use strata_core::pubsub::{OutgoingMessage, PubSubCapabilities, TopicDriver};
use strata_core::{Error, Result};
use tokio::sync::Mutex;

use super::connection::ServiceBusNamespace;

/// How long one message may wait for link credit or for its outcome; then
/// the link is dropped and attached afresh by the next batch, so a broker
/// that stops granting credit fails publishes instead of hanging them.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the first outcome of a message is awaited before it is sent
/// again on a fresh link (see `publish_batch`).
const OUTCOME_WAIT: Duration = Duration::from_secs(10);
/// How long a message may wait for link credit before the link is
/// attached afresh (once per batch).
const CREDIT_WAIT: Duration = Duration::from_secs(5);
use super::management::{self, Receiving};
use super::subscription::ServiceBusSubscriptionOptions;
use super::{capabilities, wire};

/// A Service Bus topic. Cheap to clone.
#[derive(Clone)]
pub struct ServiceBusTopic {
    inner: Arc<Inner>,
}

struct Inner {
    namespace: Arc<ServiceBusNamespace>,
    name: String,
    /// The entity is a queue (`"entity": "queue"`), not a topic.
    queue: bool,
    capabilities: PubSubCapabilities,
    /// The sender and the connection generation it was attached on.
    sender: Mutex<Option<(Sender, u64)>>,
}

impl std::fmt::Debug for ServiceBusTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBusTopic")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl ServiceBusTopic {
    /// Opens topic `name`: created when missing with `provision`, else a
    /// missing topic is `NotFound` saying how to fix it.
    ///
    /// # Errors
    /// `NotFound`, `PermissionDenied` for a refused key, `Unavailable`.
    pub async fn open(
        namespace: Arc<ServiceBusNamespace>,
        name: &str,
        provision: bool,
    ) -> Result<ServiceBusTopic> {
        management::ensure_topic(namespace.settings(), name, provision).await?;
        Ok(Self::opened(namespace, name, false))
    }

    /// Opens queue `name` in a topic's place (a topic entry with
    /// `"entity": "queue"`): publishes go to the queue, and the entry's one
    /// subscription receives from it. Created when missing with
    /// `opts.provision`, with `opts`' lock duration, sessions (`ordering`)
    /// and delivery count, since a queue carries what a subscription would.
    ///
    /// # Errors
    /// As [`ServiceBusTopic::open`].
    pub async fn open_queue(
        namespace: Arc<ServiceBusNamespace>,
        name: &str,
        opts: &ServiceBusSubscriptionOptions,
    ) -> Result<ServiceBusTopic> {
        management::ensure_receiving(
            namespace.settings(),
            Receiving::Queue(name),
            opts.provision,
            &opts.into(),
        )
        .await?;
        Ok(Self::opened(namespace, name, true))
    }

    fn opened(namespace: Arc<ServiceBusNamespace>, name: &str, queue: bool) -> ServiceBusTopic {
        let max = namespace.settings().max_message_bytes;
        ServiceBusTopic {
            inner: Arc::new(Inner {
                namespace,
                name: name.to_owned(),
                queue,
                capabilities: capabilities(max, false, false),
                sender: Mutex::new(None),
            }),
        }
    }

    /// Whether the entity is a queue rather than a topic.
    pub fn is_queue(&self) -> bool {
        self.inner.queue
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The namespace it lives in.
    pub(crate) fn namespace(&self) -> &Arc<ServiceBusNamespace> {
        &self.inner.namespace
    }
}

#[async_trait]
impl TopicDriver for ServiceBusTopic {
    fn capabilities(&self) -> &PubSubCapabilities {
        &self.inner.capabilities
    }

    /// Sends every message of the batch on the link, then awaits the
    /// outcomes together (one transfer each, so each has its own result).
    async fn publish_batch(&self, batch: Vec<OutgoingMessage>) -> Vec<Result<String>> {
        let n = batch.len();
        let ns = &self.inner.namespace;
        let mut guard = self.inner.sender.lock().await;
        if guard
            .as_ref()
            .is_none_or(|(_, generation)| *generation != ns.generation())
        {
            *guard = None;
            match ns.attach_sender(&self.inner.name).await {
                Ok(attached) => *guard = Some(attached),
                Err(err) => return copies(&err, n),
            }
        }
        let Some((mut sender, mut generation)) = guard.take() else {
            return copies(&ns.unreachable("no sender link"), n);
        };
        // Links given up on in this batch, kept until their outcomes are in.
        let mut retired: Vec<Sender> = Vec::new();
        let mut pending = Vec::with_capacity(n);
        let mut broken: Option<Error> = None;
        let max = self.inner.capabilities.max_message_bytes;
        for message in batch {
            let size = message.encoded_len();
            if size > max {
                pending.push(Err(Error::invalid_argument(format!(
                    "a message of {size} bytes is larger than Service Bus topic `{}` takes \
                     ({max} bytes)",
                    self.inner.name
                ))));
                continue;
            }
            if let Some(err) = &broken {
                pending.push(Err(copy(err)));
                continue;
            }
            let id = wire::new_message_id();
            let encoded = wire::encode(message, &id);
            let copy_for_resend = encoded.clone();
            let mut sent = send(&mut sender, encoded.clone()).await;
            if matches!(sent, Err(SendFailure::NoCredit)) && retired.is_empty() {
                // fe2o3 0.14 can miss the flow that grants credit (it checks,
                // then waits with `notify_waiters`, which keeps no permit), and
                // the broker sends no other until credit is used: a fresh link
                // gets fresh credit. Nothing was transferred, so nothing is
                // sent twice.
                match ns.attach_sender(&self.inner.name).await {
                    Ok((fresh, g)) => {
                        retired.push(std::mem::replace(&mut sender, fresh));
                        generation = g;
                        sent = send(&mut sender, encoded).await;
                    }
                    Err(err) => sent = Err(SendFailure::Other(err.message().to_owned())),
                }
            }
            match sent {
                Ok(fut) => pending.push(Ok((id, copy_for_resend, fut))),
                Err(failure) => {
                    let err = ns.unreachable(&format!(
                        "sending to `{}`: {}",
                        self.inner.name,
                        failure.describe()
                    ));
                    pending.push(Err(copy(&err)));
                    broken = Some(err);
                }
            }
        }
        let mut results = Vec::with_capacity(n);
        // A link for resends, attached when the first outcome does not come.
        let mut resend_link: Option<Sender> = None;
        for p in pending {
            let Ok((id, copy, fut)) = p else {
                results.push(p.map(|(id, _, _)| id));
                continue;
            };
            let mut outcome = outcome_within(fut, OUTCOME_WAIT).await;
            if matches!(outcome, Err(None)) {
                // fe2o3 0.14 puts a delivery in its unsettled map only after
                // the transfer is written, so an outcome that comes back at
                // once can be missed. Sent again (same message id) on a fresh
                // link: at least once, as a retry after any lost answer.
                if resend_link.is_none() {
                    resend_link = ns
                        .attach_sender(&self.inner.name)
                        .await
                        .ok()
                        .map(|(s, _)| s);
                }
                if let Some(link) = resend_link.as_mut() {
                    outcome = match send(link, copy).await {
                        Ok(fut) => outcome_within(fut, SEND_TIMEOUT).await,
                        Err(failure) => Err(Some(failure.describe())),
                    };
                }
            }
            results.push(match outcome {
                Ok(Outcome::Accepted(_)) => Ok(id),
                Ok(Outcome::Rejected(rejected)) => Err(rejected_error(
                    &self.inner.name,
                    rejected
                        .error
                        .map(|e| (format!("{:?}", e.condition), e.description)),
                )),
                Ok(other) => Err(Error::unavailable(format!(
                    "Service Bus topic `{}` did not accept a message: {other:?}",
                    self.inner.name
                ))),
                Err(err) => {
                    broken = Some(Error::unavailable(String::new()));
                    let err = err.unwrap_or_else(|| "no outcome came".to_owned());
                    Err(ns.unreachable(&format!("sending to `{}`: {err}", self.inner.name)))
                }
            });
        }
        drop(resend_link);
        drop(retired);
        if broken.is_some() {
            drop(guard);
            ns.drop_if_dead().await;
        } else {
            *guard = Some((sender, generation));
        }
        results
    }
}

/// The outcome of a sent message, or why there is none: `None` when it
/// did not come within `wait`.
async fn outcome_within(
    fut: DeliveryFut<std::result::Result<Outcome, SendError>>,
    wait: Duration,
) -> std::result::Result<Outcome, Option<String>> {
    match tokio::time::timeout(wait, fut).await {
        Err(_) => Err(None),
        Ok(Err(err)) => Err(Some(err.to_string())),
        Ok(Ok(outcome)) => Ok(outcome),
    }
}

/// Why a message could not be handed to the link.
enum SendFailure {
    /// No credit came within [`CREDIT_WAIT`]; nothing was transferred.
    NoCredit,
    /// The link failed.
    Other(String),
}

impl SendFailure {
    fn describe(&self) -> String {
        match self {
            Self::NoCredit => "no link credit came in time".to_owned(),
            Self::Other(text) => text.clone(),
        }
    }
}

/// Hands one message to the link; the outcome comes through the future.
async fn send(
    sender: &mut Sender,
    message: AmqpMessage<Data>,
) -> Result<DeliveryFut<std::result::Result<Outcome, SendError>>, SendFailure> {
    match tokio::time::timeout(CREDIT_WAIT, sender.send_batchable(message)).await {
        Err(_) => Err(SendFailure::NoCredit),
        Ok(Err(err)) => Err(SendFailure::Other(err.to_string())),
        Ok(Ok(fut)) => Ok(fut),
    }
}

/// `err` again (errors are not `Clone`: their source is dropped).
fn copy(err: &Error) -> Error {
    Error::new(err.code(), err.message())
}

fn copies(err: &Error, n: usize) -> Vec<Result<String>> {
    (0..n).map(|_| Err(copy(err))).collect()
}

/// The error of a message the broker rejected.
fn rejected_error(topic: &str, error: Option<(String, Option<String>)>) -> Error {
    let (condition, description) = error.unwrap_or_default();
    let description = description.unwrap_or_default();
    if condition.contains("message-size-exceeded") {
        Error::invalid_argument(format!(
            "the message is larger than Service Bus topic `{topic}` takes: {description}"
        ))
    } else if condition.contains("not-found") {
        Error::not_found(format!(
            "Service Bus topic `{topic}` does not exist: {description}"
        ))
    } else if condition.contains("unauthorized") {
        Error::permission_denied(format!(
            "Service Bus refused a message for topic `{topic}`: {description}"
        ))
    } else {
        Error::unavailable(format!(
            "Service Bus topic `{topic}` rejected a message ({condition}): {description}"
        ))
    }
}
