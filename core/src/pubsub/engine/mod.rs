//! The tasks behind a [`Subscriber`](super::Subscriber): the receive loop, the
//! workers (one per group of unordered deliveries, [`group`], or one per
//! ordering key), and the ack task ([`ack`]).

mod ack;
mod group;
#[cfg(test)]
mod tests;

pub(crate) use ack::{AckCommand, run_acker};

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, CatchUnwind};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;
use tracing::Span;
use tracing::instrument::{Instrument, Instrumented};

use self::ack::AckBatch;
use super::SubscriptionDriver;
use super::handler::{Handler, HandlerError};
use super::lease::{LeaseKeeper, LeaseSlot};
use super::metrics::ProcessMetrics;
use super::spans::{self, SubscriptionNames};
use super::stats::Counters;
use super::subscriber_options::{
    DEAD_LETTER_REASON_ATTRIBUTE, DEAD_LETTER_SUBSCRIPTION_ATTRIBUTE,
    ORIGINAL_MESSAGE_ID_ATTRIBUTE, SubscriberOptions,
};
use super::{Delivery, DeliveryHandle, Message, OutgoingMessage, PubSubCapabilities};
use crate::sync::lock;

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
    /// The topic and subscription in `name`, as the process spans name them.
    pub(crate) names: SubscriptionNames,
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
    pub(crate) metrics: ProcessMetrics,
}

/// One held delivery: the message, its concurrency permit and its lease slot.
pub(crate) struct Work {
    delivery: Delivery,
    permit: OwnedSemaphorePermit,
    slot: Option<LeaseSlot>,
}

/// A delivery whose handler succeeded, to be acked.
struct Acked {
    handle: DeliveryHandle,
    permit: OwnedSemaphorePermit,
    slot: Option<LeaseSlot>,
}

/// How [`run_one`] left a delivery.
enum Outcome {
    /// The handler succeeded: ack it (which frees what it holds).
    Ack(Acked),
    /// The handler failed and it will be redelivered after this delay.
    Retry(Duration),
    /// The handler failed and it was dead-lettered.
    Done,
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
        lock(&self.keyed)
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
                let mut unordered = Vec::new();
                for delivery in deliveries {
                    let permit = match permits.split(1) {
                        Some(permit) => permit,
                        // The driver returned more than asked: start what is
                        // held, then wait for a slot.
                        None => {
                            group::spawn_group(&shared, std::mem::take(&mut unordered));
                            match shared.slots.clone().acquire_owned().await {
                                Ok(permit) => permit,
                                Err(_) => return,
                            }
                        }
                    };
                    if delivery.message.ordering_key.is_some() {
                        dispatch_keyed(&shared, delivery, permit);
                        continue;
                    }
                    unordered.push((delivery, permit));
                    if unordered.len() == group::GROUP_SIZE {
                        group::spawn_group(&shared, std::mem::take(&mut unordered));
                    }
                }
                group::spawn_group(&shared, unordered);
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

/// Starts a worker for a keyed delivery, or queues it behind its key's worker.
fn dispatch_keyed(shared: &Arc<Shared>, delivery: Delivery, permit: OwnedSemaphorePermit) {
    let Some(key) = delivery.message.ordering_key.clone() else {
        // Not reached (the receive loop groups unordered deliveries).
        group::spawn_group(shared, vec![(delivery, permit)]);
        return;
    };
    Counters::add(&shared.counters.received, 1);
    shared.metrics.consumed(1);
    let slot = shared
        .leases
        .as_ref()
        .map(|leases| leases.register(&delivery.handle));
    let work = Work {
        delivery,
        permit,
        slot,
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

/// Runs the handler of one keyed delivery and settles a failure (retry or
/// dead letter) in place, since the key's next message must wait for it; a
/// success is returned for [`process`] to ack. (Unordered deliveries run in
/// groups instead, see [`group`].)
async fn run_one(shared: &Shared, work: Work) -> Outcome {
    let Work {
        delivery: Delivery { message, handle },
        permit,
        slot,
    } = work;
    let attempt = message.delivery_attempt;
    let copy = shared.needs_copy(attempt).then(|| message.clone());
    let reason = match run_handler(shared, message).await {
        Ok(()) => {
            return Outcome::Ack(Acked {
                handle,
                permit,
                slot,
            });
        }
        Err(reason) => reason,
    };
    Counters::add(&shared.counters.handler_errors, 1);
    tracing::debug!(subscription = shared.name, attempt, "{reason}");
    let settled = settle_failure(shared, handle, attempt, copy, reason).await;
    shared.release(slot, permit);
    match settled {
        Settled::Retry(delay) => Outcome::Retry(delay),
        Settled::Done => Outcome::Done,
    }
}

/// [`run_one`] for a keyed delivery, acked on its own. Returns the redelivery
/// delay when the message will come back.
async fn process(shared: &Shared, work: Work) -> Option<Duration> {
    match run_one(shared, work).await {
        Outcome::Ack(acked) => {
            let mut batch = AckBatch::default();
            batch.push(acked.handle, acked.permit, acked.slot);
            shared.send_acks(batch).await;
            None
        }
        Outcome::Retry(delay) => Some(delay),
        Outcome::Done => None,
    }
}

/// A started handler: its future, running in its process span, with a panic
/// inside it caught.
type HandlerRun =
    CatchUnwind<AssertUnwindSafe<Instrumented<BoxFuture<'static, Result<(), HandlerError>>>>>;

/// The `error.type` of a process span whose handler returned an error.
const HANDLER_ERROR: &str = "handler_error";
/// The `error.type` of a process span whose handler panicked.
const HANDLER_PANIC: &str = "handler_panic";
/// The `error.type` of a process span whose handler ran out of time.
const HANDLER_TIMEOUT: &str = "handler_timeout";

/// Opens the delivery's process span and calls the handler in it; a panic in
/// the call itself becomes the failure reason. The span lives as long as the
/// caller keeps it: until the handler's outcome is known.
fn start_handler(shared: &Shared, message: Message) -> (Span, Result<HandlerRun, String>) {
    let span = spans::process(
        &shared.names,
        shared.capabilities.messaging_system,
        &message,
    );
    let handler = &shared.handler;
    let started = Instant::now();
    let called = span.in_scope(|| std::panic::catch_unwind(AssertUnwindSafe(|| handler(message))));
    let run = match called {
        Ok(future) => Ok(AssertUnwindSafe(future.instrument(span.clone())).catch_unwind()),
        Err(panic) => {
            record_run(shared, &span, started, Some(HANDLER_PANIC));
            Err(format!("handler panicked: {}", panic_text(panic.as_ref())))
        }
    };
    (span, run)
}

/// Records how a handler's run ended, on its process span (`error.type`)
/// and in `messaging.process.duration`.
fn record_run(shared: &Shared, span: &Span, started: Instant, error_type: Option<&'static str>) {
    if let Some(error_type) = error_type {
        spans::failed_as(span, error_type);
    }
    shared.metrics.processed(started.elapsed(), error_type);
}

/// What a finished [`HandlerRun`] (started at `started`) means: `Ok` acks,
/// `Err` is the failure reason (recorded by [`record_run`]).
/// A handler's error is the reason as it is (a Node handler's is `TypeError:
/// boom`): it becomes the dead letter's reason attribute, which other systems
/// read, so nothing is added to it.
fn handler_outcome(
    shared: &Shared,
    result: std::thread::Result<Result<(), HandlerError>>,
    span: &Span,
    started: Instant,
) -> Result<(), String> {
    let (outcome, error_type) = match result {
        Ok(Ok(())) => (Ok(()), None),
        Ok(Err(err)) => (Err(err.to_string()), Some(HANDLER_ERROR)),
        Err(panic) => (
            Err(format!("handler panicked: {}", panic_text(panic.as_ref()))),
            Some(HANDLER_PANIC),
        ),
    };
    record_run(shared, span, started, error_type);
    outcome
}

/// Why a handler that ran too long failed (recorded by [`record_run`]).
fn timed_out(shared: &Shared, span: &Span, started: Instant) -> String {
    record_run(shared, span, started, Some(HANDLER_TIMEOUT));
    format!("handler timed out after {:?}", shared.opts.handler_timeout)
}

/// Runs the handler to its end; a panic, an error or a timeout becomes the
/// failure reason.
async fn run_handler(shared: &Shared, message: Message) -> Result<(), String> {
    let started = Instant::now();
    let (span, run) = start_handler(shared, message);
    match tokio::time::timeout(shared.opts.handler_timeout, run?).await {
        Ok(result) => handler_outcome(shared, result, &span, started),
        Err(_) => Err(timed_out(shared, &span, started)),
    }
}

/// Settles a failed delivery of a group on a task of its own (nacking or
/// dead-lettering may take a network call; the group's other handlers go on).
fn spawn_failure(shared: &Arc<Shared>, failed: Failed) {
    Counters::add(&shared.counters.handler_errors, 1);
    let attempt = failed.attempt;
    tracing::debug!(subscription = shared.name, attempt, "{}", failed.reason);
    let shared = shared.clone();
    tokio::spawn(async move {
        let Failed {
            handle,
            permit,
            slot,
            attempt,
            copy,
            reason,
        } = failed;
        settle_failure(&shared, handle, attempt, copy, reason).await;
        shared.release(slot, permit);
    });
}

/// A delivery whose handler failed, with what it holds until settled.
struct Failed {
    handle: DeliveryHandle,
    permit: OwnedSemaphorePermit,
    slot: Option<LeaseSlot>,
    attempt: u32,
    /// The message, kept when it may have to be republished as a dead letter.
    copy: Option<Message>,
    reason: String,
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}

/// Retries a failed delivery, or dead-letters it once attempts are
/// exhausted, and counts which.
async fn settle_failure(
    shared: &Shared,
    handle: DeliveryHandle,
    attempt: u32,
    copy: Option<Message>,
    reason: String,
) -> Settled {
    let settled = retry_or_dead_letter(shared, handle, attempt, copy, reason).await;
    match settled {
        Settled::Retry(_) => shared.metrics.retried(),
        Settled::Done => shared.metrics.dead_lettered(),
    }
    settled
}

/// [`settle_failure`]'s decision and the calls it takes.
async fn retry_or_dead_letter(
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
    // A dead letter keeps every attribute it came with, Strata's own
    // (a content type) included.
    match topic.publish_as_strata(dead_letter).await {
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
