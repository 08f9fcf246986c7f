//! The leases Strata sees on a Pub/Sub subscription, and the order of
//! ordering keys.
//!
//! The official crate's streaming pull keeps every delivery it handed out
//! leased on the server (it extends the ack deadline until the message is
//! acked, nacked, or held for its `max_lease`), and offers only `ack` and
//! `nack` per message: no call to set one message's deadline. Strata's
//! driver contract needs that call (a lease that runs out redelivers; a
//! handler extends its lease; a nack may ask for a delay). So each delivery
//! is held here with a deadline, and [`Leases::expire`] nacks the ones whose
//! deadline passed, which makes Pub/Sub redeliver them. A delayed nack is
//! the same thing: the deadline moves to the end of the delay.
//!
//! Ordering keys: streaming pull hands out the messages of a key in order
//! without waiting for acks, and the Pub/Sub emulator redelivers nacked
//! messages in no particular order. So the messages of a key are queued
//! here and handed out one at a time: the next only once the previous one is
//! acked. A keyed message that is nacked or whose lease runs out goes back
//! to the front of its key's queue (still leased on the server) and is
//! handed out again after the delay, its delivery attempt counted here.
//!
//! If the process dies, the crate stops extending and Pub/Sub redelivers
//! after the subscription's ack deadline, as it would for any client.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use google_cloud_pubsub::subscriber::handler::Handler;
use strata_core::pubsub::{Delivery, DeliveryHandle, Message};
use strata_core::sync::lock;
use strata_core::{Error, Result};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Message ids whose local delivery count is remembered; past this the
/// counts start over (they only shape retry backoff, see [`Leases::attempt`]).
const MAX_COUNTED: usize = 100_000;

/// One delivery handed to the application.
struct Held {
    handler: Handler,
    /// Kept for keyed deliveries, which are redelivered from here.
    message: Message,
    deadline: Instant,
}

/// A keyed message waiting for its turn.
struct Waiting {
    handler: Handler,
    message: Message,
    not_before: Instant,
}

/// The queue of one ordering key.
#[derive(Default)]
struct KeyQueue {
    /// The handle of the key's message now with the application.
    busy: Option<String>,
    waiting: VecDeque<Waiting>,
}

#[derive(Default)]
struct State {
    held: HashMap<String, Held>,
    keys: HashMap<String, KeyQueue>,
}

/// The deliveries of one subscription consumer.
#[derive(Default)]
pub(crate) struct Leases {
    state: Mutex<State>,
    /// Deliveries seen per message id, for subscriptions where Pub/Sub
    /// reports no delivery attempt (it does only with a dead-letter policy).
    counts: Mutex<HashMap<String, u32>>,
    /// Woken when a keyed message may have become ready.
    ready: Notify,
    next: AtomicU64,
}

fn gone(handle: &DeliveryHandle) -> Error {
    Error::not_found(format!(
        "delivery `{}` is no longer leased: it was settled, or its lease ran out and \
         it is redelivered",
        handle.0
    ))
}

impl Leases {
    /// The delivery attempt of a message: Pub/Sub's count when it reports
    /// one, else how often this consumer has received the message. The local
    /// count misses deliveries to other consumers, so the subscription does
    /// not claim `delivery_attempts` then.
    pub(crate) fn attempt(&self, message_id: &str, reported: Option<i32>) -> u32 {
        if let Some(n) = reported
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0)
        {
            return n;
        }
        let mut counts = lock(&self.counts);
        if counts.len() >= MAX_COUNTED && !counts.contains_key(message_id) {
            counts.clear();
        }
        let count = counts.entry(message_id.to_owned()).or_insert(0);
        *count += 1;
        *count
    }

    fn token(&self, message: &Message) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{}#{n}", message.id)
    }

    /// Hands out an unordered message, leased for `lease`.
    pub(crate) fn deliver(&self, message: Message, handler: Handler, lease: Duration) -> Delivery {
        let token = self.token(&message);
        let held = Held {
            handler,
            message: message.clone(),
            deadline: Instant::now() + lease,
        };
        lock(&self.state).held.insert(token.clone(), held);
        Delivery {
            message,
            handle: DeliveryHandle(token),
        }
    }

    /// Queues a keyed message behind the earlier ones of its key.
    pub(crate) fn enqueue(&self, key: &str, message: Message, handler: Handler) {
        let waiting = Waiting {
            handler,
            message,
            not_before: Instant::now(),
        };
        let mut state = lock(&self.state);
        state
            .keys
            .entry(key.to_owned())
            .or_default()
            .waiting
            .push_back(waiting);
    }

    /// Hands out up to `max` keyed messages whose turn has come, each leased
    /// for `lease`. Also returns when the next waiting one is due, if any is
    /// waiting for a delay rather than for its key.
    pub(crate) fn take_ready(
        &self,
        max: usize,
        lease: Duration,
    ) -> (Vec<Delivery>, Option<Instant>) {
        let now = Instant::now();
        let mut out = Vec::new();
        let mut next_due: Option<Instant> = None;
        let mut state = lock(&self.state);
        let State { held, keys } = &mut *state;
        for queue in keys.values_mut() {
            if out.len() >= max || queue.busy.is_some() {
                continue;
            }
            let Some(head) = queue.waiting.front() else {
                continue;
            };
            if head.not_before > now {
                next_due = Some(next_due.map_or(head.not_before, |d| d.min(head.not_before)));
                continue;
            }
            let Some(Waiting {
                handler, message, ..
            }) = queue.waiting.pop_front()
            else {
                continue;
            };
            let token = self.token(&message);
            queue.busy = Some(token.clone());
            let held_entry = Held {
                handler,
                message: message.clone(),
                deadline: now + lease,
            };
            held.insert(token.clone(), held_entry);
            out.push(Delivery {
                message,
                handle: DeliveryHandle(token),
            });
        }
        keys.retain(|_, q| q.busy.is_some() || !q.waiting.is_empty());
        (out, next_due)
    }

    /// Resolves when a keyed message may have become ready.
    pub(crate) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.ready.notified()
    }

    /// Frees the key of a settled delivery.
    fn release_key(state: &mut State, token: &str, message: &Message) {
        if let Some(key) = &message.ordering_key
            && let Some(queue) = state.keys.get_mut(key)
            && queue.busy.as_deref() == Some(token)
        {
            queue.busy = None;
        }
    }

    /// Acks deliveries. Every known handle is acked; the first unknown one
    /// is reported.
    pub(crate) fn ack(&self, handles: &[DeliveryHandle]) -> Result<()> {
        let mut missing = None;
        let mut acked = Vec::with_capacity(handles.len());
        {
            let mut state = lock(&self.state);
            for handle in handles {
                match state.held.remove(&handle.0) {
                    Some(h) => {
                        Self::release_key(&mut state, &handle.0, &h.message);
                        acked.push(h);
                    }
                    None => {
                        missing.get_or_insert_with(|| gone(handle));
                    }
                }
            }
        }
        {
            let mut counts = lock(&self.counts);
            for h in &acked {
                counts.remove(&h.message.id);
            }
        }
        for h in acked {
            h.handler.ack();
        }
        self.ready.notify_waiters();
        missing.map_or(Ok(()), Err)
    }

    /// Gives a delivery back: now, or once `after` has passed.
    pub(crate) fn nack(&self, handle: &DeliveryHandle, after: Duration) -> Result<()> {
        let mut state = lock(&self.state);
        let entry = state.held.get_mut(&handle.0).ok_or_else(|| gone(handle))?;
        if entry.message.ordering_key.is_some() {
            let held = state.held.remove(&handle.0).ok_or_else(|| gone(handle))?;
            Self::requeue(&mut state, &handle.0, held, Instant::now() + after);
            drop(state);
            self.ready.notify_waiters();
            return Ok(());
        }
        if after.is_zero() {
            let held = state.held.remove(&handle.0).ok_or_else(|| gone(handle))?;
            drop(state);
            held.handler.nack();
            return Ok(());
        }
        entry.deadline = Instant::now() + after;
        Ok(())
    }

    /// Puts a keyed delivery back at the front of its key's queue.
    fn requeue(state: &mut State, token: &str, held: Held, not_before: Instant) {
        Self::release_key(state, token, &held.message);
        let Some(key) = held.message.ordering_key.clone() else {
            return;
        };
        let mut message = held.message;
        message.delivery_attempt = message.delivery_attempt.saturating_add(1);
        let waiting = Waiting {
            handler: held.handler,
            message,
            not_before,
        };
        state
            .keys
            .entry(key)
            .or_default()
            .waiting
            .push_front(waiting);
    }

    /// Moves a delivery's deadline to `lease` from now.
    pub(crate) fn extend(&self, handle: &DeliveryHandle, lease: Duration) -> Result<()> {
        let mut state = lock(&self.state);
        let entry = state.held.get_mut(&handle.0).ok_or_else(|| gone(handle))?;
        entry.deadline = Instant::now() + lease;
        Ok(())
    }

    /// Gives back every delivery whose deadline has passed (nacked, or for a
    /// keyed one requeued); returns the earliest deadline still ahead.
    pub(crate) fn expire(&self) -> Option<Instant> {
        let now = Instant::now();
        let mut expired = Vec::new();
        let mut requeued = false;
        let next = {
            let mut state = lock(&self.state);
            let due: Vec<String> = state
                .held
                .iter()
                .filter(|(_, h)| h.deadline <= now)
                .map(|(token, _)| token.clone())
                .collect();
            for token in due {
                let Some(held) = state.held.remove(&token) else {
                    continue;
                };
                if held.message.ordering_key.is_some() {
                    Self::requeue(&mut state, &token, held, now);
                    requeued = true;
                } else {
                    expired.push(held);
                }
            }
            state.held.values().map(|h| h.deadline).min()
        };
        for h in expired {
            h.handler.nack();
        }
        if requeued {
            self.ready.notify_waiters();
        }
        next
    }

    /// Nacks everything still held or queued (the consumer is going away).
    pub(crate) fn release_all(&self) {
        let (held, keys) = {
            let mut state = lock(&self.state);
            (
                std::mem::take(&mut state.held),
                std::mem::take(&mut state.keys),
            )
        };
        for (_, h) in held {
            h.handler.nack();
        }
        for (_, queue) in keys {
            for w in queue.waiting {
                w.handler.nack();
            }
        }
    }
}
