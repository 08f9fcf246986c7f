//! [`Topic`]: the portable publisher that batches publishes for a [`TopicDriver`].
//!
//! Every `publish` goes into one bounded queue. A background task takes from the
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

mod reply;

use std::collections::VecDeque;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{Mutex as AsyncMutex, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use self::reply::{Reply, SharedReply};
use super::{OutgoingMessage, PubSubCapabilities, TopicDriver};
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
        let max_messages = capabilities.max_batch_messages.max(1);
        // Bounded so that the close-time `acquire_many` (a u32) covers every permit.
        let max_in_flight = opts.max_in_flight_batches.clamp(1, 1 << 16);
        // Room for two full batches keeps the batching task busy while callers
        // feel backpressure instead of growing an unbounded queue.
        let (queue, rx) = mpsc::channel(max_messages.saturating_mul(2).clamp(1024, 65_536));
        let batcher = Batcher {
            topic: name.clone(),
            driver,
            linger: opts.linger.unwrap_or(capabilities.default_linger),
            max_messages,
            max_bytes: capabilities.max_batch_bytes.max(1),
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight: u32::try_from(max_in_flight).unwrap_or(1 << 16),
            ordered: Arc::new(AsyncMutex::new(())),
            rx,
            carry: VecDeque::new(),
        };
        tokio::spawn(batcher.run());
        Topic {
            inner: Arc::new(TopicInner {
                name,
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

    /// Publishes one message and returns the id the provider assigned.
    ///
    /// Fails with [`ErrorCode::InvalidArgument`](crate::ErrorCode::InvalidArgument)
    /// at once if the message is larger than
    /// [`PubSubCapabilities::max_message_bytes`], with
    /// [`ErrorCode::Closed`](crate::ErrorCode::Closed) after [`Topic::close`], or
    /// with the driver's error for this message.
    pub async fn publish(&self, message: OutgoingMessage) -> Result<String> {
        let reply = self.enqueue(message).await?;
        self.outcome(reply).await
    }

    /// Publishes many messages; one result per message, in order.
    ///
    /// They share batches with each other and with concurrent publishes, keep
    /// their order (ordering keys included), and enter the batching queue once
    /// per batch-sized chunk.
    pub async fn publish_many(&self, messages: Vec<OutgoingMessage>) -> Vec<Result<String>> {
        let chunk_size = self.inner.capabilities.max_batch_messages.max(1);
        let mut results: Vec<Option<Result<String>>> = Vec::with_capacity(messages.len());
        // Each queued chunk: the positions of its messages, and its answers.
        let mut waiting = Vec::new();
        let mut chunk = Vec::new();
        let mut positions = Vec::new();
        for (position, message) in messages.into_iter().enumerate() {
            match self.check(&message) {
                Ok(len) => {
                    results.push(None);
                    positions.push(position);
                    chunk.push((message, len));
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

    /// The message's encoded length, or why it cannot be published.
    fn check(&self, message: &OutgoingMessage) -> Result<usize> {
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

    async fn enqueue(&self, message: OutgoingMessage) -> Result<oneshot::Receiver<Result<String>>> {
        let len = self.check(&message)?;
        let (reply, wait) = oneshot::channel();
        let pending = Pending {
            message,
            len,
            reply: Reply::One(reply),
        };
        self.inner
            .queue
            .send(Command::Publish(pending))
            .await
            .map_err(|_| self.closed_error())?;
        Ok(wait)
    }

    /// Queues checked messages as one command sharing one answer channel.
    async fn enqueue_many(
        &self,
        chunk: Vec<(OutgoingMessage, usize)>,
    ) -> Result<oneshot::Receiver<Vec<Result<String>>>> {
        let (shared, wait) = SharedReply::new(chunk.len());
        let pending = chunk
            .into_iter()
            .enumerate()
            .map(|(index, (message, len))| Pending {
                message,
                len,
                reply: Reply::Shared(shared.clone(), index),
            })
            .collect();
        self.inner
            .queue
            .send(Command::PublishMany(pending))
            .await
            .map_err(|_| self.closed_error())?;
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

    fn closed_error(&self) -> Error {
        Error::closed(format!("topic `{}` is closed", self.inner.name))
    }
}

/// The messages of one `publish_batch` call and where their answers go.
struct Batch {
    messages: Vec<OutgoingMessage>,
    replies: Vec<Reply>,
    bytes: usize,
    ordered: bool,
}

impl Batch {
    fn new() -> Self {
        Self {
            messages: Vec::new(),
            replies: Vec::new(),
            bytes: 0,
            ordered: false,
        }
    }

    fn push(&mut self, pending: Pending) {
        self.bytes += pending.len;
        self.ordered |= pending.message.ordering_key.is_some();
        self.messages.push(pending.message);
        self.replies.push(pending.reply);
    }

    /// Whether `len` more bytes fit; a batch always takes its first message,
    /// however large (it passed the per-message limit already).
    fn fits(&self, len: usize, max_messages: usize, max_bytes: usize) -> bool {
        self.messages.is_empty()
            || (self.messages.len() < max_messages && self.bytes + len <= max_bytes)
    }

    fn is_full(&self, max_messages: usize, max_bytes: usize) -> bool {
        self.messages.len() >= max_messages || self.bytes >= max_bytes
    }
}

/// The background task that turns the queue into batches.
struct Batcher {
    topic: String,
    driver: Arc<dyn TopicDriver>,
    linger: Duration,
    max_messages: usize,
    max_bytes: usize,
    in_flight: Arc<Semaphore>,
    max_in_flight: u32,
    /// Held by the one ordered batch in flight, so ordered batches never overlap.
    ordered: Arc<AsyncMutex<()>>,
    rx: mpsc::Receiver<Command>,
    /// Messages taken from the queue that did not fit the previous batch, in
    /// queue order: they go before anything still queued.
    carry: VecDeque<Pending>,
}

/// Why collecting a batch ended.
#[derive(PartialEq, Eq)]
enum Fill {
    /// The batch is full or the linger window passed.
    Ready,
    /// `close` was called or every `Topic` clone was dropped.
    Stop,
}

impl Batcher {
    async fn run(mut self) {
        let mut closers = Vec::new();
        let mut stopping = false;
        loop {
            let first = match self.carry.pop_front() {
                Some(pending) => pending,
                None if stopping => break,
                None => match self.rx.recv().await {
                    Some(Command::Publish(pending)) => pending,
                    Some(Command::PublishMany(many)) => {
                        self.carry.extend(many);
                        continue;
                    }
                    Some(Command::Close(done)) => {
                        closers.push(done);
                        break;
                    }
                    None => break,
                },
            };
            let mut batch = Batch::new();
            batch.push(first);
            if stopping {
                self.absorb_carry(&mut batch);
            } else {
                stopping = self.fill(&mut batch, &mut closers).await == Fill::Stop;
            }
            self.dispatch(batch).await;
        }
        // Every in-flight batch has answered once all permits are back.
        let _all = self.in_flight.acquire_many(self.max_in_flight).await;
        self.rx.close();
        while let Some(command) = self.rx.recv().await {
            match command {
                Command::Publish(pending) => {
                    let err = Error::closed(format!("topic `{}` is closed", self.topic));
                    pending.reply.send(Err(err));
                }
                Command::PublishMany(many) => {
                    for pending in many {
                        let err = Error::closed(format!("topic `{}` is closed", self.topic));
                        pending.reply.send(Err(err));
                    }
                }
                Command::Close(done) => closers.push(done),
            }
        }
        for done in closers {
            let _ = done.send(());
        }
    }

    /// Adds queued messages to `batch` until it is full, the linger window has
    /// passed, or the topic is closing.
    async fn fill(&mut self, batch: &mut Batch, closers: &mut Vec<oneshot::Sender<()>>) -> Fill {
        // First what was carried over, then whatever is queued already: with
        // zero linger that is the batch.
        if self.absorb_carry(batch) {
            return Fill::Ready;
        }
        loop {
            if batch.is_full(self.max_messages, self.max_bytes) {
                return Fill::Ready;
            }
            match self.rx.try_recv() {
                Ok(command) => {
                    if let Some(fill) = self.take(batch, command, closers) {
                        return fill;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Fill::Stop,
            }
        }
        if self.linger.is_zero() {
            return Fill::Ready;
        }
        let mut window = pin!(tokio::time::sleep_until(Instant::now() + self.linger));
        loop {
            if batch.is_full(self.max_messages, self.max_bytes) {
                return Fill::Ready;
            }
            tokio::select! {
                biased;
                command = self.rx.recv() => match command {
                    Some(command) => {
                        if let Some(fill) = self.take(batch, command, closers) {
                            return fill;
                        }
                    }
                    None => return Fill::Stop,
                },
                () = &mut window => return Fill::Ready,
            }
        }
    }

    /// Adds one command's message to the batch; `Some` ends the batch.
    fn take(
        &mut self,
        batch: &mut Batch,
        command: Command,
        closers: &mut Vec<oneshot::Sender<()>>,
    ) -> Option<Fill> {
        match command {
            Command::Publish(pending) => {
                self.carry.push_back(pending);
                self.absorb_carry(batch).then_some(Fill::Ready)
            }
            Command::PublishMany(many) => {
                self.carry.extend(many);
                self.absorb_carry(batch).then_some(Fill::Ready)
            }
            Command::Close(done) => {
                closers.push(done);
                Some(Fill::Stop)
            }
        }
    }

    /// Moves carried messages into `batch` while they fit; true when one did
    /// not (the batch is complete).
    fn absorb_carry(&mut self, batch: &mut Batch) -> bool {
        while let Some(pending) = self.carry.pop_front() {
            if batch.fits(pending.len, self.max_messages, self.max_bytes) {
                batch.push(pending);
            } else {
                self.carry.push_front(pending);
                return true;
            }
        }
        false
    }

    /// Hands a batch to the driver on its own task, within the in-flight limit.
    async fn dispatch(&self, batch: Batch) {
        let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
            // The semaphore is never closed; answer rather than hang if it were.
            fail_all(batch.replies, || {
                Error::internal(format!("the publisher of topic `{}` stopped", self.topic))
            });
            return;
        };
        let order = if batch.ordered {
            Some(self.ordered.clone().lock_owned().await)
        } else {
            None
        };
        let driver = self.driver.clone();
        let topic = self.topic.clone();
        tokio::spawn(async move {
            send_batch(driver.as_ref(), &topic, batch).await;
            drop(order);
            drop(permit);
        });
    }
}

/// Publishes one batch and answers every publish in it.
async fn send_batch(driver: &dyn TopicDriver, topic: &str, batch: Batch) {
    let Batch {
        messages, replies, ..
    } = batch;
    let count = messages.len();
    let results = AssertUnwindSafe(driver.publish_batch(messages))
        .catch_unwind()
        .await;
    match results {
        Ok(results) if results.len() == count => {
            for (reply, result) in replies.into_iter().zip(results) {
                reply.send(result);
            }
        }
        Ok(results) => fail_all(replies, || {
            Error::internal(format!(
                "the driver of topic `{topic}` returned {} results for a batch of {count} messages",
                results.len()
            ))
        }),
        Err(_) => fail_all(replies, || {
            Error::internal(format!(
                "the driver of topic `{topic}` panicked while publishing a batch of {count} messages"
            ))
        }),
    }
}

fn fail_all(replies: Vec<Reply>, error: impl Fn() -> Error) {
    for reply in replies {
        reply.send(Err(error()));
    }
}
