//! [`Subscriber`]: runs a handler over a subscription with bounded concurrency,
//! acks on success, retries with backoff on failure, dead-letters after
//! `max_attempts`, keeps long handlers leased, and drains on shutdown.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use super::SubscriptionDriver;
use super::engine::{self, AckCommand, Shared};
use super::handler::Handler;
use super::lease::LeaseKeeper;
use super::metrics::ProcessMetrics;
use super::spans::SubscriptionNames;
use super::stats::{Counters, SubscriberStats};
use super::subscriber_options::SubscriberOptions;
use crate::{Error, Result};

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
    /// `name` is `topic/subscription` (as `Infra` names it) or a bare
    /// subscription name; its process spans are named and attributed from it.
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
        let names = SubscriptionNames::parse(&name);
        let shared = Arc::new(Shared {
            metrics: ProcessMetrics::new(&names, capabilities.messaging_system),
            names,
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
