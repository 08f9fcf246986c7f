//! Acks: collected per group of deliveries, sent to the driver in batches by one
//! task per subscriber, after which what the acked deliveries held is freed.
//!
//! Per-message work here used to dominate a fast provider (one channel send, one
//! semaphore release and one lease-map lock per message), so everything is done
//! per [`AckBatch`]: one send, one `add_permits`, one lock.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::Shared;
use crate::pubsub::lease::{LeaseKeeper, LeaseSlot};
use crate::pubsub::stats::Counters;
use crate::pubsub::{DeliveryHandle, SubscriptionDriver};

/// Deliveries whose handler succeeded, with what they hold until acked.
#[derive(Default)]
pub(crate) struct AckBatch {
    pub(super) handles: Vec<DeliveryHandle>,
    /// The deliveries' concurrency permits, merged into one.
    pub(super) permit: Option<OwnedSemaphorePermit>,
    pub(super) slots: Vec<LeaseSlot>,
}

impl AckBatch {
    /// Adds one successfully handled delivery.
    pub(super) fn push(
        &mut self,
        handle: DeliveryHandle,
        permit: OwnedSemaphorePermit,
        slot: Option<LeaseSlot>,
    ) {
        self.handles.push(handle);
        merge(&mut self.permit, permit);
        self.slots.extend(slot);
    }

    /// Moves everything of `other` into this batch.
    fn append(&mut self, other: AckBatch) {
        self.handles.extend(other.handles);
        if let Some(permit) = other.permit {
            merge(&mut self.permit, permit);
        }
        self.slots.extend(other.slots);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Frees the lease slots (one lock) and the permits (one release).
    fn release(self, leases: Option<&LeaseKeeper>) {
        if let Some(leases) = leases {
            leases.release_many(&self.slots);
        }
        drop(self.permit);
    }
}

fn merge(into: &mut Option<OwnedSemaphorePermit>, permit: OwnedSemaphorePermit) {
    match into {
        Some(held) => held.merge(permit),
        None => *into = Some(permit),
    }
}

/// Input of the ack task.
pub(crate) enum AckCommand {
    /// Ack these deliveries, then free what they held.
    Ack(AckBatch),
    /// Everything is settled: stop.
    Stop,
}

impl Shared {
    /// Hands a batch to the ack task (or acks it here if that task is gone).
    pub(super) async fn send_acks(&self, batch: AckBatch) {
        if batch.is_empty() {
            return;
        }
        if let Err(mpsc::error::SendError(AckCommand::Ack(mut batch))) =
            self.acks.send(AckCommand::Ack(batch))
        {
            // The ack task is gone (a dropped subscriber): ack directly.
            ack_batch(
                &self.name,
                self.driver.as_ref(),
                &self.counters,
                self.capabilities.max_ack_batch.max(1),
                std::mem::take(&mut batch.handles),
            )
            .await;
            batch.release(self.leases.as_deref());
        }
    }
}

/// Acks `handles` in calls of at most `max_batch`.
async fn ack_batch(
    subscription: &str,
    driver: &dyn SubscriptionDriver,
    counters: &Counters,
    max_batch: usize,
    mut handles: Vec<DeliveryHandle>,
) {
    while !handles.is_empty() {
        let rest = if handles.len() > max_batch {
            handles.split_off(max_batch)
        } else {
            Vec::new()
        };
        let chunk = std::mem::replace(&mut handles, rest);
        let count = chunk.len() as u64;
        match driver.ack(chunk).await {
            Ok(()) => Counters::add(&counters.acked, count),
            Err(err) => tracing::warn!(
                subscription,
                "ack of {count} messages failed, they will be redelivered: {err}"
            ),
        }
    }
}

/// Coalesces queued ack batches into driver calls of up to `max_batch`
/// handles, then frees what the acked deliveries held.
pub(crate) async fn run_acker(
    subscription: String,
    driver: Arc<dyn SubscriptionDriver>,
    counters: Arc<Counters>,
    leases: Option<Arc<LeaseKeeper>>,
    max_batch: usize,
    mut rx: mpsc::UnboundedReceiver<AckCommand>,
) {
    let mut stopping = false;
    while !stopping {
        let mut batch = AckBatch::default();
        match rx.recv().await {
            Some(AckCommand::Ack(more)) => batch.append(more),
            Some(AckCommand::Stop) | None => stopping = true,
        }
        // Whatever else is queued rides in the same calls.
        while !stopping && batch.handles.len() < max_batch {
            match rx.try_recv() {
                Ok(AckCommand::Ack(more)) => batch.append(more),
                Ok(AckCommand::Stop) => stopping = true,
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        ack_batch(
            &subscription,
            driver.as_ref(),
            &counters,
            max_batch,
            std::mem::take(&mut batch.handles),
        )
        .await;
        batch.release(leases.as_deref());
    }
}
