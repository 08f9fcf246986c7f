//! [`Subscriber`]: runs a handler over a subscription with bounded concurrency,
//! acks on success, retries with backoff on failure, dead-letters after
//! `max_attempts`, keeps long handlers leased, and drains on shutdown.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use super::engine::{self, AckCommand, Shared};
use super::lease::LeaseKeeper;
use super::{Message, RetryPolicy, SubscriptionDriver, Topic};
use crate::{Error, Result};

/// What a handler returns when it fails: any error. The message is retried.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Processes one message. `Ok` acks it; an error, a panic or a timeout retries it.
pub type Handler =
    Arc<dyn Fn(Message) -> BoxFuture<'static, Result<(), HandlerError>> + Send + Sync>;

/// Makes a [`Handler`] from an async closure.
///
/// ```
/// use strata_core::pubsub::{handler_fn, HandlerError};
/// let handler = handler_fn(|msg| async move {
///     if msg.data.is_empty() {
///         return Err(HandlerError::from("empty message"));
///     }
///     Ok(())
/// });
/// # let _ = handler;
/// ```
pub fn handler_fn<F, Fut>(f: F) -> Handler
where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    Arc::new(move |message| Box::pin(f(message)))
}

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
    /// [`Message::delivery_attempt`] counts them).
    pub max_attempts: u32,
    /// Where the engine publishes dead letters when the provider has neither
    /// native nor explicit dead-lettering (see
    /// [`PubSubCapabilities`](super::PubSubCapabilities)). Emulated dead letters
    /// carry [`DEAD_LETTER_REASON_ATTRIBUTE`], [`DEAD_LETTER_SUBSCRIPTION_ATTRIBUTE`]
    /// and [`ORIGINAL_MESSAGE_ID_ATTRIBUTE`].
    pub topic: Option<Topic>,
}

/// How a [`Subscriber`] runs its handler.
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

/// Counts of what a [`Subscriber`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriberStats {
    /// Deliveries received.
    pub received: u64,
    /// Messages acked after their handler succeeded.
    pub acked: u64,
    /// Deliveries given back for redelivery.
    pub nacked: u64,
    /// Messages dead-lettered (natively, explicitly or through the topic).
    pub dead_lettered: u64,
    /// Handler runs that failed, panicked or timed out.
    pub handler_errors: u64,
}

/// The atomic counters behind [`SubscriberStats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) received: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) nacked: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) handler_errors: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> SubscriberStats {
        SubscriberStats {
            received: self.received.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            nacked: self.nacked.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            handler_errors: self.handler_errors.load(Ordering::Relaxed),
        }
    }
}

/// A running handler over one subscription.
///
/// ```no_run
/// # async fn demo(driver: std::sync::Arc<dyn strata_core::pubsub::SubscriptionDriver>) -> strata_core::Result<()> {
/// use strata_core::pubsub::{handler_fn, Subscriber, SubscriberOptions};
/// let subscriber = Subscriber::start(
///     "send-email",
///     driver,
///     handler_fn(|msg| async move { println!("{:?}", msg.data); Ok(()) }),
///     SubscriberOptions::default(),
/// );
/// // ... later: finish what is in flight, then stop.
/// subscriber.shutdown().await?;
/// # Ok(()) }
/// ```
pub struct Subscriber {
    shared: Arc<Shared>,
    /// Turned true to stop receiving (and dropped to stop everything).
    stop_receiving: watch::Sender<bool>,
    /// Turned true once drained, to stop renewing leases.
    stop_leases: watch::Sender<bool>,
    receiver: JoinHandle<()>,
    acker: JoinHandle<()>,
    keeper: Option<JoinHandle<()>>,
    permits: u32,
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("name", &self.shared.name)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Subscriber {
    /// Starts receiving from subscription `name` and running `handler`.
    ///
    /// Spawns its tasks, so it must be called within a tokio runtime. Dropping the
    /// `Subscriber` stops it without waiting; [`Subscriber::shutdown`] drains.
    pub fn start(
        name: impl Into<String>,
        driver: Arc<dyn SubscriptionDriver>,
        handler: Handler,
        opts: SubscriberOptions,
    ) -> Subscriber {
        let name = name.into();
        let capabilities = driver.capabilities().clone();
        // Bounded so that shutdown's `acquire_many` (a u32) covers every permit.
        let permits = opts.max_concurrency.clamp(1, 1 << 16);
        if let Some(policy) = &opts.dead_letter
            && policy.topic.is_none()
            && !capabilities.native_dead_letter
            && !capabilities.explicit_dead_letter
        {
            tracing::warn!(
                subscription = name,
                "dead-lettering asked for, but the provider cannot dead-letter and no dead-letter \
                 topic is set: failing messages will be retried forever"
            );
        }
        driver.set_max_held(permits);
        let lease = driver.lease();
        let leases = (capabilities.lease_extension && !lease.is_zero())
            .then(|| Arc::new(LeaseKeeper::new(lease)));
        let counters = Arc::new(Counters::default());
        let (acks, ack_rx) = mpsc::unbounded_channel();
        let (stop_receiving, receive_stop) = watch::channel(false);
        let (stop_leases, lease_stop) = watch::channel(false);
        let acker = tokio::spawn(engine::run_acker(
            name.clone(),
            driver.clone(),
            counters.clone(),
            leases.clone(),
            capabilities.max_ack_batch.max(1),
            ack_rx,
        ));
        let keeper = leases
            .clone()
            .map(|keeper| tokio::spawn(keeper.run(name.clone(), driver.clone(), lease_stop)));
        let shared = Arc::new(Shared {
            name,
            driver,
            capabilities,
            handler,
            slots: Arc::new(Semaphore::new(permits)),
            leases,
            acks,
            keyed: Mutex::new(HashMap::<String, VecDeque<engine::Work>>::new()),
            counters,
            opts,
        });
        let receiver = tokio::spawn(engine::receive_loop(shared.clone(), receive_stop));
        Subscriber {
            shared,
            stop_receiving,
            stop_leases,
            receiver,
            acker,
            keeper,
            permits: u32::try_from(permits).unwrap_or(1 << 16),
        }
    }

    /// The subscription's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// What has happened so far.
    pub fn stats(&self) -> SubscriberStats {
        self.shared.counters.snapshot()
    }

    /// Stops receiving, waits for every in-flight handler to finish and for its
    /// ack or nack to be sent, then returns.
    ///
    /// Fails with [`ErrorCode::Internal`](crate::ErrorCode::Internal) only if one
    /// of the engine's own tasks died; every message is still settled or left to
    /// be redelivered.
    pub async fn shutdown(self) -> Result<()> {
        self.shutdown_with_stats().await.map(drop)
    }

    /// [`Subscriber::shutdown`], returning the final counts (every ack sent
    /// during the drain included).
    pub async fn shutdown_with_stats(self) -> Result<SubscriberStats> {
        let mut problems = Vec::new();
        self.stop_receiving.send_replace(true);
        if let Err(err) = self.receiver.await {
            problems.push(format!("receive loop: {err}"));
        }
        // Every held delivery returns its permit once its ack or nack was sent.
        let drained = self.shared.slots.acquire_many(self.permits).await;
        drop(drained);
        let _ = self.shared.acks.send(AckCommand::Stop);
        if let Err(err) = self.acker.await {
            problems.push(format!("ack task: {err}"));
        }
        self.stop_leases.send_replace(true);
        if let Some(keeper) = self.keeper
            && let Err(err) = keeper.await
        {
            problems.push(format!("lease task: {err}"));
        }
        if problems.is_empty() {
            Ok(self.shared.counters.snapshot())
        } else {
            Err(Error::internal(format!(
                "subscriber `{}` shut down with failed tasks: {}",
                self.shared.name,
                problems.join("; ")
            )))
        }
    }
}
