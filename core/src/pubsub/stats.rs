//! [`SubscriberStats`] and the counters the engine keeps them in.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of what a [`Subscriber`](super::Subscriber) has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriberStats {
    /// Deliveries received.
    pub received: u64,
    /// Messages acked after their handler succeeded.
    pub acked: u64,
    /// Deliveries given back for redelivery.
    pub nacked: u64,
    /// Messages dead-lettered (natively, explicitly or through the topic).
    pub dead_lettered: u64,
    /// Handler runs that failed, panicked or timed out.
    pub handler_errors: u64,
}

/// The atomic counters behind [`SubscriberStats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) received: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) nacked: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) handler_errors: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> SubscriberStats {
        SubscriberStats {
            received: self.received.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            nacked: self.nacked.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            handler_errors: self.handler_errors.load(Ordering::Relaxed),
        }
    }
}
