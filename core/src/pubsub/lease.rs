//! Keeps the deliveries a [`Subscriber`](super::Subscriber) holds leased.
//!
//! One keeper per subscriber, rather than a timer per delivery: deliveries are
//! registered and removed once settled, and a single task renews every
//! delivery held longer than half the lease. Keyed deliveries (including those
//! that wait behind an earlier message of their key) are registered when
//! received; unordered ones only if their group is still running half a lease
//! after it started (see `engine::group`), which most never are.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{DeliveryHandle, SubscriptionDriver};
use crate::ErrorCode;
use crate::sync::lock;

/// Identifies one registered delivery.
pub(crate) type LeaseSlot = u64;

/// The deliveries currently held, and when each is due for renewal.
pub(crate) struct LeaseKeeper {
    lease: Duration,
    next_slot: AtomicU64,
    held: Mutex<HashMap<LeaseSlot, Held>>,
}

struct Held {
    handle: DeliveryHandle,
    renew_at: Instant,
}

impl LeaseKeeper {
    pub(crate) fn new(lease: Duration) -> Self {
        Self {
            lease,
            next_slot: AtomicU64::new(0),
            held: Mutex::new(HashMap::new()),
        }
    }

    fn held(&self) -> MutexGuard<'_, HashMap<LeaseSlot, Held>> {
        // Nothing panics while holding this lock; a poisoned map is still consistent.
        lock(&self.held)
    }

    /// Starts keeping `handle` leased; the lease began when it was received (now).
    pub(crate) fn register(&self, handle: &DeliveryHandle) -> LeaseSlot {
        let slot = self.next_slot.fetch_add(1, Ordering::Relaxed);
        let held = Held {
            handle: handle.clone(),
            renew_at: Instant::now() + self.lease / 2,
        };
        self.held().insert(slot, held);
        slot
    }

    /// The lease length of the subscription.
    pub(crate) fn lease(&self) -> Duration {
        self.lease
    }

    /// Starts keeping deliveries leased that were received half a lease ago
    /// or more, under one lock: they are due for renewal at the next round.
    /// The slots come back in the order of `handles`.
    pub(crate) fn register_due<'a>(
        &self,
        handles: impl ExactSizeIterator<Item = &'a DeliveryHandle>,
    ) -> Vec<LeaseSlot> {
        let count = handles.len() as u64;
        let first = self.next_slot.fetch_add(count, Ordering::Relaxed);
        let renew_at = Instant::now();
        let mut held = self.held();
        (first..)
            .zip(handles)
            .map(|(slot, handle)| {
                let entry = Held {
                    handle: handle.clone(),
                    renew_at,
                };
                held.insert(slot, entry);
                slot
            })
            .collect()
    }

    /// Stops keeping a delivery leased (it was settled).
    pub(crate) fn release(&self, slot: LeaseSlot) {
        self.held().remove(&slot);
    }

    /// [`LeaseKeeper::release`] for many deliveries under one lock.
    pub(crate) fn release_many(&self, slots: &[LeaseSlot]) {
        if slots.is_empty() {
            return;
        }
        let mut held = self.held();
        for slot in slots {
            held.remove(slot);
        }
    }

    /// Renews due leases until `stop` turns true or its sender is dropped.
    pub(crate) async fn run(
        self: Arc<Self>,
        subscription: String,
        driver: Arc<dyn SubscriptionDriver>,
        mut stop: watch::Receiver<bool>,
    ) {
        // A quarter lease between rounds renews every delivery before three
        // quarters of its lease have passed.
        let tick = (self.lease / 4).max(Duration::from_millis(5));
        let mut ticks = tokio::time::interval(tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                changed = stop.wait_for(|stopped| *stopped) => {
                    let _ = changed;
                    return;
                }
                _ = ticks.tick() => {}
            }
            let now = Instant::now();
            let due: Vec<(LeaseSlot, DeliveryHandle)> = self
                .held()
                .iter()
                .filter(|(_, held)| held.renew_at <= now)
                .map(|(slot, held)| (*slot, held.handle.clone()))
                .collect();
            if due.is_empty() {
                continue;
            }
            let renewals = due
                .iter()
                .map(|(_, handle)| driver.extend_lease(handle, self.lease));
            let results = futures::future::join_all(renewals).await;
            let renewed_at = Instant::now();
            let mut held = self.held();
            for ((slot, handle), result) in due.into_iter().zip(results) {
                match result {
                    Ok(()) => {
                        if let Some(entry) = held.get_mut(&slot) {
                            entry.renew_at = renewed_at + self.lease / 2;
                        }
                    }
                    // Settled (or expired) between the scan and the call: nothing to keep.
                    Err(err) if err.code() == ErrorCode::NotFound => {
                        tracing::debug!(
                            subscription,
                            handle = handle.0,
                            "lease to extend is gone: {err}"
                        );
                    }
                    Err(err) => {
                        tracing::warn!(
                            subscription,
                            handle = handle.0,
                            "could not extend a lease: {err}"
                        );
                    }
                }
            }
        }
    }
}
