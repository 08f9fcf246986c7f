//! Streaming pull for one consumer: a task reads the crate's message stream
//! into a bounded channel that [`Receiver::receive`] drains, and a second
//! task expires [`Leases`].
//!
//! The stream starts on the first `receive`, so a subscription that is
//! opened but never consumed holds no messages. How much one consumer
//! prefetches is [`Prefetch`]: enough to keep its handlers busy, bounded so
//! competing consumers get the rest.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use google_cloud_pubsub::client::Subscriber;
use google_cloud_pubsub::model::Message as PubSubMessage;
use google_cloud_pubsub::subscriber::handler::Handler;
use strata_core::pubsub::{Delivery, Message};
use strata_core::{Error, Result};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::leases::Leases;
use crate::error::gax_error;

/// How long the crate keeps extending a delivery on the server. Strata's
/// own lease ([`Leases`]) decides when a delivery comes back; this only
/// bounds a delivery that is never settled (12 hours, as SQS's longest
/// visibility timeout).
const MAX_HOLD: Duration = Duration::from_secs(12 * 60 * 60);
/// The ack deadline the crate keeps on the server for held deliveries
/// (Pub/Sub's shortest), re-extended while they are held. It bounds how long
/// Pub/Sub waits for a consumer that vanished, or whose acks were lost with
/// a connection, before it redelivers: Pub/Sub counts those deliveries
/// against the client's flow control until then, so a longer deadline
/// stalls delivery that much longer after a network cut.
const SERVER_DEADLINE: Duration = Duration::from_secs(10);
/// The pause before a stream that ended or failed is opened again.
const REOPEN_AFTER: Duration = Duration::from_secs(1);
/// The longest the lease task sleeps between checks.
const EXPIRY_TICK: Duration = Duration::from_millis(50);
/// Most streaming pulls one unordered consumer keeps open (Google's Node
/// client opens 5). The emulator serves each stream at a bounded rate, so a
/// busy consumer needs several (the measurements: bench/results/gcp.md).
const MAX_STREAMS: usize = 16;
/// Deliveries prefetched per delivery the subscriber holds: one in a
/// handler, one waiting for the next free handler.
const PREFETCH_PER_HELD: usize = 2;
/// The fewest deliveries one stream is given: fewer leaves it idle between
/// the emulator's deliveries.
const MIN_PER_STREAM: usize = 8;
/// What a consumer holds at once when its subscriber did not say
/// (`SubscriberOptions::max_concurrency`'s default).
const DEFAULT_HELD: usize = 32;

type Item = google_cloud_pubsub::Result<(PubSubMessage, Handler)>;

/// How a consumer pulls.
#[derive(Debug, Clone)]
pub(crate) struct PullSettings {
    /// `projects/P/subscriptions/S`.
    pub path: String,
    /// Strata's lease of each delivery.
    pub lease: Duration,
    /// Most deliveries prefetched at once, whatever the subscriber holds.
    pub max_outstanding: usize,
    /// Keys must stay in order: one stream.
    pub ordered: bool,
    /// Where requests go, for errors.
    pub target: String,
}

/// One consumer of a subscription.
pub(crate) struct Receiver {
    client: Subscriber,
    settings: PullSettings,
    leases: Arc<Leases>,
    /// What the subscriber holds at once (0: not told).
    max_held: AtomicUsize,
    running: Mutex<Option<Running>>,
}

/// How a consumer pulls: `streams` streaming pulls, each with flow control
/// of `per_stream` outstanding messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prefetch {
    pub streams: usize,
    pub per_stream: usize,
}

impl Prefetch {
    /// Twice what the subscriber holds, at most `max_outstanding`, over as
    /// many streams as keep [`MIN_PER_STREAM`] each (one when ordered).
    pub(crate) fn new(held: usize, max_outstanding: usize, ordered: bool) -> Prefetch {
        let held = if held == 0 { DEFAULT_HELD } else { held };
        let total = held
            .saturating_mul(PREFETCH_PER_HELD)
            .min(max_outstanding)
            .max(1);
        let streams = if ordered {
            1
        } else {
            (total / MIN_PER_STREAM).clamp(1, MAX_STREAMS)
        };
        Prefetch {
            streams,
            per_stream: total.div_ceil(streams),
        }
    }
}

struct Running {
    rx: mpsc::Receiver<Item>,
    /// A stream error met while draining a batch, returned by the next call.
    pending: Option<Error>,
    pumps: Vec<JoinHandle<()>>,
    expiry: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for pump in &self.pumps {
            pump.abort();
        }
        self.expiry.abort();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Give back what is still held so other consumers get it now, not
        // after the ack deadline.
        self.leases.release_all();
    }
}

impl Receiver {
    pub(crate) fn new(client: Subscriber, settings: PullSettings) -> Receiver {
        Receiver {
            client,
            settings,
            leases: Arc::new(Leases::default()),
            max_held: AtomicUsize::new(0),
            running: Mutex::new(None),
        }
    }

    /// Sizes the prefetch of streams started from now on.
    pub(crate) fn set_max_held(&self, deliveries: usize) {
        self.max_held.store(deliveries, Ordering::Relaxed);
    }

    pub(crate) fn leases(&self) -> &Leases {
        &self.leases
    }

    fn start(&self) -> Running {
        let prefetch = Prefetch::new(
            self.max_held.load(Ordering::Relaxed),
            self.settings.max_outstanding,
            self.settings.ordered,
        );
        let (tx, rx) = mpsc::channel(prefetch.streams * prefetch.per_stream);
        let pumps = (0..prefetch.streams)
            .map(|_| {
                tokio::spawn(pump(
                    self.client.clone(),
                    self.settings.path.clone(),
                    prefetch.per_stream,
                    tx.clone(),
                ))
            })
            .collect();
        let expiry = tokio::spawn(expire(Arc::downgrade(&self.leases)));
        Running {
            rx,
            pending: None,
            pumps,
            expiry,
        }
    }

    /// Waits up to `wait` for a delivery, then takes what else is ready, up
    /// to `max`: keyed messages whose turn has come first, then the stream.
    /// Cancel safe: nothing is taken from the channel across an await.
    pub(crate) async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let mut guard = self.running.lock().await;
        let running = guard.get_or_insert_with(|| self.start());
        if let Some(err) = running.pending.take() {
            return Err(err);
        }
        if max == 0 {
            return Ok(Vec::new());
        }
        let lease = self.settings.lease;
        let until = Instant::now() + wait;
        loop {
            // Registered before looking, so a key freed meanwhile wakes us.
            let changed = self.leases.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (mut out, next_due) = self.leases.take_ready(max, lease);
            while out.len() < max {
                match running.rx.try_recv() {
                    Ok(item) => match self.accept(item) {
                        Ok(delivery) => out.extend(delivery),
                        Err(err) if out.is_empty() => return Err(err),
                        Err(err) => {
                            running.pending = Some(err);
                            break;
                        }
                    },
                    Err(_) => break,
                }
            }
            if out.len() < max {
                // Keyed messages queued just now may be ready already.
                let (more, _) = self.leases.take_ready(max - out.len(), lease);
                out.extend(more);
            }
            if !out.is_empty() {
                return Ok(out);
            }
            let wake = next_due.map_or(until, |due| due.min(until));
            if Instant::now() >= until {
                return Ok(out);
            }
            tokio::select! {
                () = &mut changed => {}
                () = tokio::time::sleep_until(wake) => {}
                item = running.rx.recv() => match item {
                    None => {
                        *guard = None;
                        return Err(Error::unavailable(format!(
                            "the Pub/Sub stream of `{}` stopped; it restarts with the next \
                             receive",
                            self.settings.path
                        )));
                    }
                    Some(item) => {
                        if let Some(delivery) = self.accept(item)? {
                            let mut out = vec![delivery];
                            let (more, _) = self.leases.take_ready(max - 1, lease);
                            out.extend(more);
                            return Ok(out);
                        }
                    }
                },
            }
        }
    }

    fn stream_error(&self, err: google_cloud_pubsub::Error) -> Error {
        gax_error(
            err,
            &format!("streaming pull from `{}`", self.settings.path),
            &self.settings.target,
        )
    }

    /// Takes a message from the stream: an unordered one is handed out at
    /// once; a keyed one joins its key's queue (`None`).
    fn accept(&self, item: Item) -> Result<Option<Delivery>> {
        let (message, handler) = item.map_err(|e| self.stream_error(e))?;
        let attempt = self
            .leases
            .attempt(&message.message_id, handler.delivery_attempt());
        let message = received(message, attempt);
        match message.ordering_key.clone() {
            Some(key) => {
                self.leases.enqueue(&key, message, handler);
                Ok(None)
            }
            None => Ok(Some(self.leases.deliver(
                message,
                handler,
                self.settings.lease,
            ))),
        }
    }
}

/// The Strata message of a received Pub/Sub message (an empty ordering key
/// is none).
pub(super) fn received(message: PubSubMessage, attempt: u32) -> Message {
    let publish_time = message
        .publish_time
        .as_ref()
        .and_then(|t| SystemTime::try_from(*t).ok())
        .unwrap_or_else(SystemTime::now);
    let ordering_key = Some(message.ordering_key).filter(|k| !k.is_empty());
    Message {
        id: message.message_id,
        data: message.data,
        attributes: message.attributes.into_iter().collect(),
        ordering_key,
        publish_time,
        delivery_attempt: attempt,
    }
}

/// Reads the crate's stream into `tx` until the receiver goes away, opening
/// the stream again when it ends or fails (an emulator restart, a network
/// blip); a failure is passed on so `receive` reports it.
async fn pump(client: Subscriber, path: String, outstanding: usize, tx: mpsc::Sender<Item>) {
    let outstanding = i64::try_from(outstanding).unwrap_or(i64::MAX);
    loop {
        let mut stream = client
            .subscribe(path.clone())
            .set_max_lease(MAX_HOLD)
            .set_max_lease_extension(SERVER_DEADLINE)
            .set_max_outstanding_messages(outstanding)
            .build();
        loop {
            let item = tokio::select! {
                _ = tx.closed() => return,
                item = stream.next() => item,
            };
            match item {
                Some(Ok(pair)) => {
                    if tx.send(Ok(pair)).await.is_err() {
                        return;
                    }
                }
                Some(Err(err)) => {
                    tracing::debug!(subscription = path, "streaming pull failed: {err}");
                    if tx.send(Err(err)).await.is_err() {
                        return;
                    }
                    break;
                }
                None => break,
            }
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(REOPEN_AFTER) => {}
        }
    }
}

/// Expires leases until the consumer is dropped.
async fn expire(leases: Weak<Leases>) {
    loop {
        let Some(leases) = leases.upgrade() else {
            return;
        };
        let next = leases.expire();
        drop(leases);
        let tick = tokio::time::Instant::now() + EXPIRY_TICK;
        let until = next.map_or(tick, |next| next.min(tick));
        tokio::time::sleep_until(until).await;
    }
}

#[cfg(test)]
mod tests {
    use super::Prefetch;

    fn prefetch(held: usize, max_outstanding: usize, ordered: bool) -> (usize, usize) {
        let p = Prefetch::new(held, max_outstanding, ordered);
        (p.streams, p.per_stream)
    }

    #[test]
    fn prefetch_is_twice_what_the_subscriber_holds() {
        assert_eq!(prefetch(64, 1000, false), (16, 8));
        assert_eq!(prefetch(8, 1000, false), (2, 8));
        assert_eq!(prefetch(1, 1000, false), (1, 2));
    }

    #[test]
    fn an_untold_consumer_prefetches_for_the_default_concurrency() {
        assert_eq!(prefetch(0, 1000, false), (8, 8));
    }

    #[test]
    fn max_outstanding_caps_the_prefetch_over_at_most_sixteen_streams() {
        assert_eq!(prefetch(1000, 100, false), (12, 9));
        assert_eq!(prefetch(10_000, 1000, false), (16, 63));
        assert_eq!(prefetch(64, 0, false), (1, 1));
    }

    #[test]
    fn an_ordered_subscription_pulls_over_one_stream() {
        assert_eq!(prefetch(64, 1000, true), (1, 128));
    }
}
