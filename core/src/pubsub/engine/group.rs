//! Unordered deliveries, run in groups.
//!
//! A delivery without an ordering key needs no task of its own: the receive
//! loop hands up to [`GROUP_SIZE`] of them to one task that runs their handlers
//! concurrently. Each handler is still settled on its own (a failure retries or
//! dead-letters only that message); what the group shares is the bookkeeping:
//! the lease slots are registered under one lock, and the acks of the handlers
//! that finished together go to the ack task as one [`AckBatch`]. With a fast
//! provider and handler this halves the engine's cost per message.

use std::sync::Arc;

use futures::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::OwnedSemaphorePermit;

use super::ack::AckBatch;
use super::{Outcome, Shared, Work, run_one};
use crate::pubsub::Delivery;
use crate::pubsub::lease::LeaseSlot;
use crate::pubsub::subscriber::Counters;

/// Most deliveries one group task runs. Large enough to amortise the task and
/// the ack hand-off, small enough that one slow handler delays few acks' batching.
pub(crate) const GROUP_SIZE: usize = 64;

/// Registers the deliveries' leases (one lock) and runs them on one task.
pub(super) fn spawn_group(shared: &Arc<Shared>, held: Vec<(Delivery, OwnedSemaphorePermit)>) {
    if held.is_empty() {
        return;
    }
    Counters::add(&shared.counters.received, held.len() as u64);
    let slots: Vec<Option<LeaseSlot>> = match &shared.leases {
        Some(leases) => leases
            .register_many(held.iter().map(|(delivery, _)| &delivery.handle))
            .into_iter()
            .map(Some)
            .collect(),
        None => vec![None; held.len()],
    };
    let works: Vec<Work> = held
        .into_iter()
        .zip(slots)
        .map(|((delivery, permit), slot)| Work {
            delivery,
            permit,
            slot,
        })
        .collect();
    tokio::spawn(run_group(shared.clone(), works));
}

/// Runs every handler of the group; acks whatever finished together in one batch.
pub(super) async fn run_group(shared: Arc<Shared>, works: Vec<Work>) {
    let mut running: FuturesUnordered<_> = works
        .into_iter()
        .map(|work| run_one(&shared, work))
        .collect();
    while let Some(first) = running.next().await {
        let mut batch = AckBatch::default();
        batch.extend(first);
        // Handlers that finished by now ride in the same batch.
        while let Some(Some(done)) = running.next().now_or_never() {
            batch.extend(done);
        }
        shared.send_acks(batch).await;
    }
}

impl AckBatch {
    /// Adds a handled delivery if it is to be acked (failures are settled by
    /// [`run_one`] already).
    fn extend(&mut self, outcome: Outcome) {
        if let Outcome::Ack(acked) = outcome {
            self.push(acked.handle, acked.permit, acked.slot);
        }
    }
}
