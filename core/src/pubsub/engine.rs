//! The tasks behind a [`Subscriber`](super::Subscriber): the receive loop, the
//! per-delivery (or per-ordering-key) workers, and the ack batcher.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;

use super::SubscriptionDriver;
use super::lease::{LeaseKeeper, LeaseSlot};
use super::subscriber::{
    Counters, DEAD_LETTER_REASON_ATTRIBUTE, DEAD_LETTER_SUBSCRIPTION_ATTRIBUTE, Handler,
    ORIGINAL_MESSAGE_ID_ATTRIBUTE, SubscriberOptions,
};
use super::{Delivery, DeliveryHandle, Message, OutgoingMessage, PubSubCapabilities};

/// Longest pause after repeated receive errors.
const MAX_RECEIVE_BACKOFF: Duration = Duration::from_secs(5);
/// First pause after a receive error.
const MIN_RECEIVE_BACKOFF: Duration = Duration::from_millis(100);
/// An empty receive faster than this is treated as "the provider does not wait",
/// and the loop pauses this long so it never spins.
const MIN_EMPTY_RECEIVE: Duration = Duration::from_millis(10);
/// Dead-letter reasons are cut to this many bytes to stay within attribute limits.
const MAX_REASON_BYTES: usize = 1024;

/// What every task of one subscriber shares.
pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) driver: Arc<dyn SubscriptionDriver>,
    pub(crate) capabilities: PubSubCapabilities,
    pub(crate) handler: Handler,
    pub(crate) opts: SubscriberOptions,
    /// One permit per held delivery: `max_concurrency` in all.
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) leases: Option<Arc<LeaseKeeper>>,
    pub(crate) acks: mpsc::UnboundedSender<AckCommand>,
    /// Ordering keys with a worker running, and the deliveries waiting for it.
    pub(crate) keyed: Mutex<HashMap<String, VecDeque<Work>>>,
    pub(crate) counters: Arc<Counters>,
}

/// One held delivery: the message, its concurrency permit and its lease slot.
pub(crate) struct Work {
    delivery: Delivery,
    permit: OwnedSemaphorePermit,
    slot: Option<LeaseSlot>,
}

/// Input of the ack batcher.
pub(crate) enum AckCommand {
    /// Ack this delivery, then free its permit and lease slot.
    Ack {
        handle: DeliveryHandle,
        permit: OwnedSemaphorePermit,
        slot: Option<LeaseSlot>,
    },
    /// Everything is settled: stop.
    Stop,
}

/// How a failed delivery was settled.
enum Settled {
    /// It will be redelivered after this delay.
    Retry(Duration),
    /// It is gone from the subscription (dead-lettered).
    Done,
}

impl Shared {
    fn keyed(&self) -> MutexGuard<'_, HashMap<String, VecDeque<Work>>> {
        // Nothing panics while holding this lock; a poisoned map is still consistent.
        self.keyed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Frees what a delivery held once it is settled.
    fn release(&self, slot: Option<LeaseSlot>, permit: OwnedSemaphorePermit) {
        if let (Some(leases), Some(slot)) = (&self.leases, slot) {
            leases.release(slot);
        }
        drop(permit);
    }

    /// Whether a failure at this attempt would be dead-lettered through the topic,
    /// so the message must be kept to republish it.
    fn needs_copy(&self, attempt: u32) -> bool {
        matches!(&self.opts.dead_letter, Some(policy)
            if attempt >= policy.max_attempts && policy.topic.is_some())
            && !self.capabilities.native_dead_letter
            && !self.capabilities.explicit_dead_letter
    }

    async fn nack(&self, handle: DeliveryHandle, delay: Duration) {
        match self.driver.nack(handle, delay).await {
            Ok(()) => Counters::add(&self.counters.nacked, 1),
            // The lease runs out by itself and the message comes back anyway.
            Err(err) => tracing::warn!(subscription = self.name, "nack failed: {err}"),
        }
    }
}

/// Receives while there are free slots and hands each delivery to a worker.
pub(crate) async fn receive_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let max_receive = shared.capabilities.max_receive_messages.max(1);
    let wait = shared.opts.receive_wait;
    let mut error_backoff = Duration::ZERO;
    loop {
        let mut permits = tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => return,
            permit = shared.slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        // Only this loop takes permits, so the ones available now stay available.
        let extra = shared.slots.available_permits().min(max_receive - 1);
        if extra > 0
            && let Ok(more) = shared.slots.clone().try_acquire_many_owned(extra as u32)
        {
            permits.merge(more);
        }
        let started = Instant::now();
        // Drivers' receive is cancel safe: stopping mid-receive loses nothing.
        let received = tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => return,
            received = shared.driver.receive(permits.num_permits(), wait) => received,
        };
        let pause = match received {
            Ok(deliveries) => {
                error_backoff = Duration::ZERO;
                let empty = deliveries.is_empty();
                for delivery in deliveries {
                    let permit = match permits.split(1) {
                        Some(permit) => permit,
                        // The driver returned more than asked: wait for a slot.
                        None => match shared.slots.clone().acquire_owned().await {
                            Ok(permit) => permit,
                            Err(_) => return,
                        },
                    };
                    dispatch(&shared, delivery, permit);
                }
                (empty && started.elapsed() < MIN_EMPTY_RECEIVE).then_some(MIN_EMPTY_RECEIVE)
            }
            Err(err) => {
                error_backoff = (error_backoff * 2).clamp(MIN_RECEIVE_BACKOFF, MAX_RECEIVE_BACKOFF);
                tracing::warn!(
                    subscription = shared.name,
                    "receive failed, retrying in {error_backoff:?}: {err}"
                );
                Some(error_backoff)
            }
        };
        drop(permits);
        if let Some(pause) = pause {
            tokio::select! {
                biased;
                _ = stop.wait_for(|stopped| *stopped) => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

/// Starts a worker for a delivery, or queues it behind its ordering key's worker.
fn dispatch(shared: &Arc<Shared>, delivery: Delivery, permit: OwnedSemaphorePermit) {
    Counters::add(&shared.counters.received, 1);
    let slot = shared
        .leases
        .as_ref()
        .map(|leases| leases.register(&delivery.handle));
    let work = Work {
        delivery,
        permit,
        slot,
    };
    let Some(key) = work.delivery.message.ordering_key.clone() else {
        let shared = shared.clone();
        tokio::spawn(async move {
            process(&shared, work).await;
        });
        return;
    };
    {
        let mut keyed = shared.keyed();
        if let Some(waiting) = keyed.get_mut(&key) {
            waiting.push_back(work);
            return;
        }
        keyed.insert(key.clone(), VecDeque::new());
    }
    let shared = shared.clone();
    tokio::spawn(run_key(shared, key, work));
}

/// Runs the deliveries of one ordering key one at a time, in receive order.
async fn run_key(shared: Arc<Shared>, key: String, first: Work) {
    let mut next = Some(first);
    while let Some(work) = next {
        let retry = process(&shared, work).await;
        if let Some(delay) = retry {
            // A later message must not be handled before this one succeeds: give
            // the waiting ones back too, to come back after it.
            let given_back: Vec<Work> = shared
                .keyed()
                .remove(&key)
                .map(Vec::from)
                .unwrap_or_default();
            for work in given_back {
                shared.nack(work.delivery.handle, delay).await;
                shared.release(work.slot, work.permit);
            }
            return;
        }
        next = {
            let mut keyed = shared.keyed();
            let next = keyed.get_mut(&key).and_then(VecDeque::pop_front);
            if next.is_none() {
                keyed.remove(&key);
            }
            next
        };
    }
}

/// Runs the handler for one delivery and settles it. Returns the redelivery
/// delay when the message will come back.
async fn process(shared: &Arc<Shared>, work: Work) -> Option<Duration> {
    let Work {
        delivery: Delivery { message, handle },
        permit,
        slot,
    } = work;
    let attempt = message.delivery_attempt;
    let copy = shared.needs_copy(attempt).then(|| message.clone());
    let reason = match run_handler(shared, message).await {
        Ok(()) => {
            let ack = AckCommand::Ack {
                handle,
                permit,
                slot,
            };
            if let Err(mpsc::error::SendError(ack)) = shared.acks.send(ack) {
                // The ack task is gone (a dropped subscriber): ack directly.
                ack_now(shared, ack).await;
            }
            return None;
        }
        Err(reason) => reason,
    };
    Counters::add(&shared.counters.handler_errors, 1);
    tracing::debug!(subscription = shared.name, attempt, "{reason}");
    let settled = settle_failure(shared, handle, attempt, copy, reason).await;
    shared.release(slot, permit);
    match settled {
        Settled::Retry(delay) => Some(delay),
        Settled::Done => None,
    }
}

async fn ack_now(shared: &Shared, ack: AckCommand) {
    let AckCommand::Ack {
        handle,
        permit,
        slot,
    } = ack
    else {
        return;
    };
    match shared.driver.ack(vec![handle]).await {
        Ok(()) => Counters::add(&shared.counters.acked, 1),
        Err(err) => tracing::warn!(
            subscription = shared.name,
            "ack failed, the message will be redelivered: {err}"
        ),
    }
    shared.release(slot, permit);
}

/// Calls the handler; a panic, an error or a timeout becomes the failure reason.
async fn run_handler(shared: &Shared, message: Message) -> Result<(), String> {
    let handler = &shared.handler;
    let future = std::panic::catch_unwind(AssertUnwindSafe(|| handler(message)))
        .map_err(|panic| format!("handler panicked: {}", panic_text(panic.as_ref())))?;
    let timeout = shared.opts.handler_timeout;
    match tokio::time::timeout(timeout, AssertUnwindSafe(future).catch_unwind()).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(err))) => Err(format!("handler failed: {err}")),
        Ok(Err(panic)) => Err(format!("handler panicked: {}", panic_text(panic.as_ref()))),
        Err(_) => Err(format!("handler timed out after {timeout:?}")),
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}

/// Retries a failed delivery, or dead-letters it once attempts are exhausted.
async fn settle_failure(
    shared: &Shared,
    handle: DeliveryHandle,
    attempt: u32,
    copy: Option<Message>,
    reason: String,
) -> Settled {
    let backoff = shared.opts.retry.backoff(attempt);
    let Some(policy) = shared
        .opts
        .dead_letter
        .as_ref()
        .filter(|policy| attempt >= policy.max_attempts)
    else {
        shared.nack(handle, backoff).await;
        return Settled::Retry(backoff);
    };
    let capabilities = &shared.capabilities;
    if capabilities.native_dead_letter {
        // The provider counts this delivery and moves the message itself.
        shared.nack(handle, Duration::ZERO).await;
        Counters::add(&shared.counters.dead_lettered, 1);
        return Settled::Done;
    }
    if capabilities.explicit_dead_letter {
        return match shared.driver.dead_letter(handle.clone(), &reason).await {
            Ok(()) => {
                Counters::add(&shared.counters.dead_lettered, 1);
                Settled::Done
            }
            Err(err) => {
                tracing::warn!(subscription = shared.name, "dead-lettering failed: {err}");
                shared.nack(handle, backoff).await;
                Settled::Retry(backoff)
            }
        };
    }
    let (Some(topic), Some(message)) = (&policy.topic, copy) else {
        shared.nack(handle, backoff).await;
        return Settled::Retry(backoff);
    };
    let mut attributes = message.attributes;
    attributes.insert(DEAD_LETTER_REASON_ATTRIBUTE.to_owned(), truncate(reason));
    attributes.insert(
        DEAD_LETTER_SUBSCRIPTION_ATTRIBUTE.to_owned(),
        shared.name.clone(),
    );
    attributes.insert(ORIGINAL_MESSAGE_ID_ATTRIBUTE.to_owned(), message.id);
    let dead_letter = OutgoingMessage {
        data: message.data,
        attributes,
        ordering_key: message.ordering_key,
    };
    match topic.publish(dead_letter).await {
        Ok(_) => {
            // Ack only now that the dead letter is safe: a crash before this
            // line means a duplicate dead letter, never a lost message.
            match shared.driver.ack(vec![handle]).await {
                Ok(()) => {}
                Err(err) => tracing::warn!(
                    subscription = shared.name,
                    "ack after dead-lettering failed, it may be dead-lettered twice: {err}"
                ),
            }
            Counters::add(&shared.counters.dead_lettered, 1);
            Settled::Done
        }
        Err(err) => {
            tracing::warn!(
                subscription = shared.name,
                topic = topic.name(),
                "publishing a dead letter failed, retrying the message: {err}"
            );
            shared.nack(handle, backoff).await;
            Settled::Retry(backoff)
        }
    }
}

fn truncate(mut reason: String) -> String {
    if reason.len() > MAX_REASON_BYTES {
        let mut end = MAX_REASON_BYTES;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// Coalesces acks into batches of up to `max_batch`, then frees what the acked
/// deliveries held.
pub(crate) async fn run_acker(
    subscription: String,
    driver: Arc<dyn SubscriptionDriver>,
    counters: Arc<Counters>,
    leases: Option<Arc<LeaseKeeper>>,
    max_batch: usize,
    mut rx: mpsc::UnboundedReceiver<AckCommand>,
) {
    let mut handles = Vec::new();
    let mut held = Vec::new();
    let mut stopping = false;
    while !stopping {
        match rx.recv().await {
            Some(AckCommand::Ack {
                handle,
                permit,
                slot,
            }) => {
                handles.push(handle);
                held.push((slot, permit));
            }
            Some(AckCommand::Stop) | None => stopping = true,
        }
        // Whatever else is queued rides in the same call.
        while !stopping && handles.len() < max_batch {
            match rx.try_recv() {
                Ok(AckCommand::Ack {
                    handle,
                    permit,
                    slot,
                }) => {
                    handles.push(handle);
                    held.push((slot, permit));
                }
                Ok(AckCommand::Stop) => stopping = true,
                Err(_) => break,
            }
        }
        if handles.is_empty() {
            continue;
        }
        let count = handles.len() as u64;
        match driver.ack(std::mem::take(&mut handles)).await {
            Ok(()) => Counters::add(&counters.acked, count),
            Err(err) => tracing::warn!(
                subscription,
                "ack of {count} messages failed, they will be redelivered: {err}"
            ),
        }
        for (slot, permit) in held.drain(..) {
            if let (Some(leases), Some(slot)) = (&leases, slot) {
                leases.release(slot);
            }
            drop(permit);
        }
    }
}
