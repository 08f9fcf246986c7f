//! [`Topic`]: the portable publisher that batches publishes for a [`TopicDriver`].
//!
//! Every `publish` goes into one bounded queue. A background task (the
//! `Batcher`, in `batcher.rs`) takes from the
//! queue until the batch is full (the driver's message or byte limit) or the
//! linger window has passed, hands the batch to the driver, and answers each
//! publish with its own result. Several batches may be in flight at once, except
//! that batches holding ordering-keyed messages are sent one after the other so
//! that no message overtakes an earlier one with the same key.
//!
//! [`Topic::publish_many`] enters the queue once per batch-sized chunk rather
//! than once per message, and its messages share one answer channel: for a
//! caller that already holds many messages (the Node binding publishes what JS
//! queued in one turn) the per-message cost is one vector slot, not a channel
//! send and a oneshot each.

mod batcher;
mod reply;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::Span;

use self::batcher::Batcher;
use self::reply::{Reply, SharedReply};
use super::{OutgoingMessage, PubSubCapabilities, TopicDriver, spans};
use crate::{Error, Result};

/// How a [`Topic`] batches its publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicOptions {
    /// How long a batch waits for more messages before it is sent. `None` uses
    /// the driver's [`PubSubCapabilities::default_linger`]; zero sends whatever
    /// is already queued without waiting.
    pub linger: Option<Duration>,
    /// Most batches handed to the driver at the same time (at least 1).
    pub max_in_flight_batches: usize,
}

impl Default for TopicOptions {
    fn default() -> Self {
        Self {
            linger: None,
            max_in_flight_batches: 16,
        }
    }
}

/// The portable publisher of one topic: batches publishes for its driver and
/// resolves each publish with its own message id.
///
/// Cloning is cheap and every clone feeds the same batches.
///
/// ```no_run
/// # async fn demo(driver: std::sync::Arc<dyn strata_core::pubsub::TopicDriver>) -> strata_core::Result<()> {
/// use strata_core::pubsub::{OutgoingMessage, Topic, TopicOptions};
/// let orders = Topic::new("orders", driver, TopicOptions::default());
/// let id = orders.publish(OutgoingMessage::new("hello").with_attribute("kind", "greeting")).await?;
/// orders.close().await;
/// # let _ = id; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Topic {
    inner: Arc<TopicInner>,
}

struct TopicInner {
    name: String,
    /// Kept for [`Topic::driver_as`]; the batching task has its own handle.
    driver: Arc<dyn TopicDriver>,
    capabilities: PubSubCapabilities,
    queue: mpsc::Sender<Command>,
    closed: AtomicBool,
}

/// What the batching task is asked to do, in queue order.
enum Command {
    Publish(Pending),
    /// Publishes that entered together, in order (a chunk of `publish_many`).
    PublishMany(Vec<Pending>),
    /// Flush everything queued before this command, then stop; answered when done.
    Close(oneshot::Sender<()>),
}

/// Who publishes: application code may not set reserved attributes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Publisher {
    User,
    Strata,
}

/// A message that passed its checks, with its create span.
struct Started {
    message: OutgoingMessage,
    len: usize,
    span: Span,
}

/// One queued publish.
struct Pending {
    message: OutgoingMessage,
    /// `message.encoded_len()`, computed once at publish.
    len: usize,
    reply: Reply,
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topic")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl Topic {
    /// A publisher for topic `name` over `driver`.
    ///
    /// Spawns the batching task, so it must be called within a tokio runtime.
    pub fn new(name: impl Into<String>, driver: Arc<dyn TopicDriver>, opts: TopicOptions) -> Topic {
        let name = name.into();
        let capabilities = driver.capabilities().clone();
        let queue = Batcher::spawn(name.clone(), driver.clone(), &opts, &capabilities);
        Topic {
            inner: Arc::new(TopicInner {
                name,
                driver,
                capabilities,
                queue,
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// What the driver can do.
    pub fn capabilities(&self) -> &PubSubCapabilities {
        &self.inner.capabilities
    }

    /// The provider's driver behind this topic when it is a `T` (e.g.
    /// `strata_aws::SnsTopic`), for a call Strata does not wrap; `None` on
    /// another provider.
    pub fn driver_as<T: TopicDriver>(&self) -> Option<&T> {
        let driver: &dyn std::any::Any = self.inner.driver.as_ref();
        driver.downcast_ref::<T>()
    }

    /// Publishes one message and returns the id the provider assigned.
    ///
    /// Fails with [`ErrorCode::InvalidArgument`](crate::ErrorCode::InvalidArgument)
    /// at once if the message is larger than
    /// [`PubSubCapabilities::max_message_bytes`], with
    /// [`ErrorCode::Closed`](crate::ErrorCode::Closed) after [`Topic::close`], or
    /// with the driver's error for this message.
    /// An attribute name Strata reserves (`strata.…`, see
    /// [`check_publisher_attributes`](super::check_publisher_attributes)) is
    /// `InvalidArgument` too.
    pub async fn publish(&self, message: OutgoingMessage) -> Result<String> {
        let reply = self.enqueue(message, Publisher::User).await?;
        self.outcome(reply).await
    }

    /// [`Topic::publish`] for Strata's own publishes, which may carry
    /// reserved attributes (the engine's dead letters).
    pub(crate) async fn publish_as_strata(&self, message: OutgoingMessage) -> Result<String> {
        let reply = self.enqueue(message, Publisher::Strata).await?;
        self.outcome(reply).await
    }

    /// Publishes many messages; one result per message, in order.
    ///
    /// They share batches with each other and with concurrent publishes, keep
    /// their order (ordering keys included), and enter the batching queue once
    /// per batch-sized chunk.
    pub async fn publish_many(&self, messages: Vec<OutgoingMessage>) -> Vec<Result<String>> {
        self.publish_many_from(messages, Publisher::User).await
    }

    /// [`Topic::publish_many`] for a binding that sets reserved attributes
    /// itself (the Node binding's content type) after it checked its
    /// caller's with [`check_publisher_attributes`](super::check_publisher_attributes).
    /// Not for application code.
    #[doc(hidden)]
    pub async fn publish_many_as_strata(
        &self,
        messages: Vec<OutgoingMessage>,
    ) -> Vec<Result<String>> {
        self.publish_many_from(messages, Publisher::Strata).await
    }

    async fn publish_many_from(
        &self,
        messages: Vec<OutgoingMessage>,
        publisher: Publisher,
    ) -> Vec<Result<String>> {
        let chunk_size = self.inner.capabilities.max_batch_messages.max(1);
        let mut results: Vec<Option<Result<String>>> = Vec::with_capacity(messages.len());
        // Each queued chunk: the positions of its messages, and its answers.
        let mut waiting = Vec::new();
        let mut chunk = Vec::new();
        let mut positions = Vec::new();
        for (position, message) in messages.into_iter().enumerate() {
            match self.start(message, publisher) {
                Ok(started) => {
                    results.push(None);
                    positions.push(position);
                    chunk.push(started);
                }
                Err(err) => results.push(Some(Err(err))),
            }
            if chunk.len() == chunk_size {
                let sent = self.enqueue_many(std::mem::take(&mut chunk)).await;
                waiting.push((std::mem::take(&mut positions), sent));
            }
        }
        if !chunk.is_empty() {
            let sent = self.enqueue_many(chunk).await;
            waiting.push((positions, sent));
        }
        for (positions, sent) in waiting {
            let answers = match sent {
                Ok(wait) => wait.await.map_err(|_| self.stopped_error()),
                Err(err) => Err(err),
            };
            match answers {
                Ok(answers) => {
                    for (position, answer) in positions.into_iter().zip(answers) {
                        results[position] = Some(answer);
                    }
                }
                Err(err) => {
                    for position in positions {
                        results[position] = Some(Err(Error::new(err.code(), err.message())));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(self.stopped_error())))
            .collect()
    }

    /// Sends everything queued so far, waits for the driver's answers, and stops:
    /// later publishes fail with [`ErrorCode::Closed`](crate::ErrorCode::Closed).
    /// Closing twice is harmless.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let (done, wait) = oneshot::channel();
        if self.inner.queue.send(Command::Close(done)).await.is_ok() {
            // An error means the task is gone, which also means nothing is left to flush.
            let _ = wait.await;
        }
    }

    /// Opens the message's create span (which writes its trace context into
    /// the message) and checks it: the message, its encoded length and its
    /// span, or why it cannot be published (recorded on the span).
    fn start(&self, mut message: OutgoingMessage, publisher: Publisher) -> Result<Started> {
        let span = spans::start_publish(
            &self.inner.name,
            self.inner.capabilities.messaging_system,
            &mut message.attributes,
        );
        match self.check(&message, publisher) {
            Ok(len) => Ok(Started { message, len, span }),
            Err(err) => {
                spans::failed(&span, &err);
                Err(err)
            }
        }
    }

    /// The message's encoded length, or why it cannot be published.
    fn check(&self, message: &OutgoingMessage, publisher: Publisher) -> Result<usize> {
        if publisher == Publisher::User {
            super::check_publisher_attributes(&message.attributes)?;
        }
        let len = message.encoded_len();
        let limit = self.inner.capabilities.max_message_bytes;
        if len > limit {
            return Err(Error::invalid_argument(format!(
                "message of {len} bytes is larger than the {limit} bytes topic `{}` accepts",
                self.inner.name
            )));
        }
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        Ok(len)
    }

    async fn enqueue(
        &self,
        message: OutgoingMessage,
        publisher: Publisher,
    ) -> Result<oneshot::Receiver<Result<String>>> {
        let Started { message, len, span } = self.start(message, publisher)?;
        let (reply, wait) = oneshot::channel();
        let pending = Pending {
            message,
            len,
            reply: Reply::one(reply, span),
        };
        self.inner
            .queue
            .send(Command::Publish(pending))
            .await
            .map_err(|refused| self.refuse(refused.0))?;
        Ok(wait)
    }

    /// Queues checked messages as one command sharing one answer channel.
    async fn enqueue_many(
        &self,
        chunk: Vec<Started>,
    ) -> Result<oneshot::Receiver<Vec<Result<String>>>> {
        let (shared, wait) = SharedReply::new(chunk.len());
        let pending = chunk
            .into_iter()
            .enumerate()
            .map(|(index, Started { message, len, span })| Pending {
                message,
                len,
                reply: Reply::shared(shared.clone(), index, span),
            })
            .collect();
        self.inner
            .queue
            .send(Command::PublishMany(pending))
            .await
            .map_err(|refused| self.refuse(refused.0))?;
        Ok(wait)
    }

    async fn outcome(&self, reply: oneshot::Receiver<Result<String>>) -> Result<String> {
        reply.await.unwrap_or_else(|_| Err(self.stopped_error()))
    }

    fn stopped_error(&self) -> Error {
        Error::internal(format!(
            "the publisher of topic `{}` stopped before answering",
            self.inner.name
        ))
    }

    /// Answers the publishes of a command the stopped batching task did not
    /// take (which ends their spans as failed); the error for the caller.
    fn refuse(&self, command: Command) -> Error {
        match command {
            Command::Publish(pending) => pending.reply.send(Err(self.closed_error())),
            Command::PublishMany(many) => {
                for pending in many {
                    pending.reply.send(Err(self.closed_error()));
                }
            }
            Command::Close(_) => {}
        }
        self.closed_error()
    }

    fn closed_error(&self) -> Error {
        Error::closed(format!("topic `{}` is closed", self.inner.name))
    }
}
