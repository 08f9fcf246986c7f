//! Streaming pull for one consumer: a task reads the crate's message stream
//! into a bounded channel that [`Receiver::receive`] drains, and a second
//! task expires [`Leases`].
//!
//! The stream starts on the first `receive`, so a subscription that is
//! opened but never consumed holds no messages. The crate's flow control
//! (`max_outstanding`) bounds how many messages one consumer holds, which
//! leaves the rest to competing consumers.

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

type Item = google_cloud_pubsub::Result<(PubSubMessage, Handler)>;

/// How a consumer pulls.
#[derive(Debug, Clone)]
pub(crate) struct PullSettings {
    /// `projects/P/subscriptions/S`.
    pub path: String,
    /// Strata's lease of each delivery.
    pub lease: Duration,
    /// Most deliveries held at once (flow control).
    pub max_outstanding: usize,
    /// Where requests go, for errors.
    pub target: String,
}

/// One consumer of a subscription.
pub(crate) struct Receiver {
    client: Subscriber,
    settings: PullSettings,
    leases: Arc<Leases>,
    running: Mutex<Option<Running>>,
}

struct Running {
    rx: mpsc::Receiver<Item>,
    /// A stream error met while draining a batch, returned by the next call.
    pending: Option<Error>,
    pump: JoinHandle<()>,
    expiry: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.pump.abort();
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
            running: Mutex::new(None),
        }
    }

    pub(crate) fn leases(&self) -> &Leases {
        &self.leases
    }

    fn start(&self) -> Running {
        let capacity = self.settings.max_outstanding.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let pump = tokio::spawn(pump(self.client.clone(), self.settings.clone(), tx));
        let expiry = tokio::spawn(expire(Arc::downgrade(&self.leases)));
        Running {
            rx,
            pending: None,
            pump,
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
        let publish_time = message
            .publish_time
            .as_ref()
            .and_then(|t| SystemTime::try_from(*t).ok())
            .unwrap_or_else(SystemTime::now);
        let ordering_key = Some(message.ordering_key).filter(|k| !k.is_empty());
        let message = Message {
            id: message.message_id,
            data: message.data,
            attributes: message.attributes.into_iter().collect(),
            ordering_key,
            publish_time,
            delivery_attempt: attempt,
        };
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

/// Reads the crate's stream into `tx` until the receiver goes away, opening
/// the stream again when it ends or fails (an emulator restart, a network
/// blip); a failure is passed on so `receive` reports it.
async fn pump(client: Subscriber, settings: PullSettings, tx: mpsc::Sender<Item>) {
    let outstanding = i64::try_from(settings.max_outstanding).unwrap_or(i64::MAX);
    loop {
        let mut stream = client
            .subscribe(settings.path.clone())
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
                    tracing::debug!(subscription = settings.path, "streaming pull failed: {err}");
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
