//! Unordered deliveries, run in groups.
//!
//! A delivery without an ordering key needs no task of its own: the receive
//! loop hands up to [`GROUP_SIZE`] of them to one task that runs their handlers
//! concurrently. Each handler is still settled on its own — a failure retries
//! or dead-letters only that message, on a task of its own — but the
//! bookkeeping is shared, because with a fast provider and handler it is most
//! of the engine's cost per message:
//!
//! - the handlers finishing together are acked as one [`AckBatch`];
//! - all handlers of a group start at the same instant, so one timer serves
//!   the whole group, for the handler timeout and for the lease: a group still
//!   running half a lease after it started registers its unfinished deliveries
//!   with the [`LeaseKeeper`](crate::pubsub::lease::LeaseKeeper) then (under one
//!   lock), so deliveries settled sooner never touch it;
//! - the handlers' futures live in one vector, polled in turn, rather than one
//!   allocation each.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tracing::Span;

use super::ack::AckBatch;
use super::{Failed, HandlerRun, Shared, handler_outcome, spawn_failure, start_handler, timed_out};
use crate::pubsub::lease::LeaseSlot;
use crate::pubsub::stats::Counters;
use crate::pubsub::{Delivery, DeliveryHandle, Message};

/// Most deliveries one group task runs. Large enough to amortise the task and
/// the ack hand-off; small enough that polling every unfinished handler when
/// one of them wakes stays cheap.
pub(crate) const GROUP_SIZE: usize = 64;

/// One delivery of a group whose handler is running.
struct Running {
    handle: DeliveryHandle,
    permit: OwnedSemaphorePermit,
    /// Set once the group outlived half a lease.
    slot: Option<LeaseSlot>,
    attempt: u32,
    copy: Option<Message>,
    run: HandlerRun,
    /// Its process span, which ends when this is settled.
    span: Span,
}

impl Running {
    fn fail(self, reason: String) -> Failed {
        Failed {
            handle: self.handle,
            permit: self.permit,
            slot: self.slot,
            attempt: self.attempt,
            copy: self.copy,
            reason,
        }
    }
}

/// Runs the deliveries on one task.
pub(super) fn spawn_group(shared: &Arc<Shared>, held: Vec<(Delivery, OwnedSemaphorePermit)>) {
    if held.is_empty() {
        return;
    }
    Counters::add(&shared.counters.received, held.len() as u64);
    shared.metrics.consumed(held.len());
    tokio::spawn(run_group(shared.clone(), held));
}

/// Starts every handler of the group and settles each as it finishes; acks
/// whatever finished together in one batch.
async fn run_group(shared: Arc<Shared>, held: Vec<(Delivery, OwnedSemaphorePermit)>) {
    let started = Instant::now();
    let deadline = later(started, shared.opts.handler_timeout);
    let mut lease_due = shared
        .leases
        .as_ref()
        .map(|leases| later(started, leases.lease() / 2));
    let mut running: Vec<Option<Running>> = Vec::with_capacity(held.len());
    for (Delivery { message, handle }, permit) in held {
        let attempt = message.delivery_attempt;
        let copy = shared.needs_copy(attempt).then(|| message.clone());
        match start_handler(&shared, message) {
            (span, Ok(run)) => running.push(Some(Running {
                handle,
                permit,
                slot: None,
                attempt,
                copy,
                run,
                span,
            })),
            (_, Err(reason)) => spawn_failure(
                &shared,
                Failed {
                    handle,
                    permit,
                    slot: None,
                    attempt,
                    copy,
                    reason,
                },
            ),
        }
    }
    let mut unfinished = running.len();
    let mut timer = pin!(tokio::time::sleep_until(next_wake(deadline, lease_due)));
    while unfinished > 0 {
        let mut acks = AckBatch::default();
        let woke = poll_fn(|cx| {
            let before = unfinished;
            for entry in running.iter_mut() {
                let Some(delivery) = entry else { continue };
                let Poll::Ready(result) = delivery.run.poll_unpin(cx) else {
                    continue;
                };
                let Some(delivery) = entry.take() else {
                    continue;
                };
                unfinished -= 1;
                match handler_outcome(&shared, result, &delivery.span, started) {
                    Ok(()) => acks.push(delivery.handle, delivery.permit, delivery.slot),
                    Err(reason) => spawn_failure(&shared, delivery.fail(reason)),
                }
            }
            if unfinished < before {
                Poll::Ready(false)
            } else {
                timer.as_mut().poll(cx).map(|()| true)
            }
        })
        .await;
        shared.send_acks(acks).await;
        if !woke {
            continue;
        }
        let now = Instant::now();
        if now >= deadline {
            // Dropping a handler's future is how a timed-out handler is abandoned.
            for delivery in running.iter_mut().filter_map(Option::take) {
                let reason = timed_out(&shared, &delivery.span, started);
                spawn_failure(&shared, delivery.fail(reason));
            }
            return;
        }
        if let (Some(leases), Some(due)) = (&shared.leases, lease_due)
            && now >= due
        {
            let still: Vec<&mut Running> = running.iter_mut().flatten().collect();
            let slots = leases.register_due(still.iter().map(|delivery| &delivery.handle));
            for (delivery, slot) in still.into_iter().zip(slots) {
                delivery.slot = Some(slot);
            }
            lease_due = None;
        }
        timer.as_mut().reset(next_wake(deadline, lease_due));
    }
}

/// `start + wait`, or about thirty years from `start` when `wait` is too long
/// to add (a handler timeout of `Duration::MAX` means no timeout).
fn later(start: Instant, wait: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 86_400);
    start
        .checked_add(wait)
        .unwrap_or_else(|| start + FAR.min(wait))
}

/// The group's next timed event: its deadline, or half its lease if sooner.
fn next_wake(deadline: Instant, lease_due: Option<Instant>) -> Instant {
    lease_due.map_or(deadline, |due| due.min(deadline))
}
