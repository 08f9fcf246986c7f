//! [`Batcher`]: the background task of a [`Topic`](super::Topic) that turns
//! its queue into batches for the driver: full by count or bytes, or when
//! the linger window passes; ordered batches one at a time.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use opentelemetry::trace::TraceContextExt;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{Mutex as AsyncMutex, Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::reply::Reply;
use super::{Command, Pending, TopicOptions};
use crate::Error;
use crate::pubsub::metrics::SendMetrics;
use crate::pubsub::{OutgoingMessage, PubSubCapabilities, TopicDriver, spans};

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
pub(super) struct Batcher {
    topic: String,
    driver: Arc<dyn TopicDriver>,
    /// The driver's `messaging.system`, for the send spans.
    system: &'static str,
    metrics: Arc<SendMetrics>,
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
    /// Starts the batching task of topic `topic` and returns its queue.
    /// Must be called within a tokio runtime.
    pub(super) fn spawn(
        topic: String,
        driver: Arc<dyn TopicDriver>,
        opts: &TopicOptions,
        capabilities: &PubSubCapabilities,
    ) -> mpsc::Sender<Command> {
        let max_messages = capabilities.max_batch_messages.max(1);
        // Bounded so that the close-time `acquire_many` (a u32) covers every permit.
        let max_in_flight = opts.max_in_flight_batches.clamp(1, 1 << 16);
        // Room for two full batches keeps the batching task busy while callers
        // feel backpressure instead of growing an unbounded queue.
        let (queue, rx) = mpsc::channel(max_messages.saturating_mul(2).clamp(1024, 65_536));
        let metrics = Arc::new(SendMetrics::new(&topic, capabilities.messaging_system));
        let batcher = Batcher {
            topic,
            driver,
            system: capabilities.messaging_system,
            metrics,
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
        queue
    }

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
        let system = self.system;
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            send_batch(driver.as_ref(), &topic, system, &metrics, batch).await;
            drop(order);
            drop(permit);
        });
    }
}

/// Publishes one batch, within its send span, and answers every publish in it.
async fn send_batch(
    driver: &dyn TopicDriver,
    topic: &str,
    system: &'static str,
    metrics: &SendMetrics,
    batch: Batch,
) {
    let Batch {
        messages, replies, ..
    } = batch;
    let count = messages.len();
    let span = spans::send(topic, system, count);
    if !span.is_disabled() {
        for reply in &replies {
            if !reply.span().is_disabled() {
                span.add_link(reply.span().context().span().span_context().clone());
            }
        }
    }
    let started = Instant::now();
    let results = AssertUnwindSafe(driver.publish_batch(messages))
        .catch_unwind()
        .instrument(span.clone())
        .await;
    if !matches!(&results, Ok(results) if results.len() == count) {
        spans::failed_as(&span, crate::ErrorCode::Internal.as_str());
        metrics.broken_batch(started.elapsed(), count);
    }
    match results {
        Ok(results) if results.len() == count => {
            let failed = common_error(&results);
            if let Some(err) = failed {
                spans::failed(&span, err);
            }
            metrics.batch(started.elapsed(), &results, failed);
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

/// The error of a batch whose every message failed (the send itself did),
/// for its send span; `None` when any message went through.
fn common_error(results: &[crate::Result<String>]) -> Option<&Error> {
    let mut errors = results.iter().map(|result| result.as_ref().err());
    let first = errors.next().flatten()?;
    errors.all(|err| err.is_some()).then_some(first)
}

fn fail_all(replies: Vec<Reply>, error: impl Fn() -> Error) {
    for reply in replies {
        reply.send(Err(error()));
    }
}
