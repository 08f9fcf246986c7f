//! A subscriber that counts every delivery by payload, for the NATS fault
//! tests: what arrived, and how often (duplicates are counted, not hidden).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_core::pubsub::{Subscriber, SubscriberOptions, SubscriptionDriver, handler_fn};

/// Deliveries by payload text.
pub type Seen = Arc<Mutex<HashMap<String, usize>>>;

/// Starts a subscriber on `sub` (64 handlers, 200 ms receive wait) that
/// counts each delivery's payload in the returned map.
pub fn counting_subscriber(name: &str, sub: Arc<dyn SubscriptionDriver>) -> (Subscriber, Seen) {
    let seen: Seen = Arc::default();
    let seen_in = seen.clone();
    let handler = handler_fn(move |message| {
        *strata_core::sync::lock(&seen_in)
            .entry(String::from_utf8_lossy(&message.data).into_owned())
            .or_insert(0) += 1;
        async { Ok(()) }
    });
    let options = SubscriberOptions {
        max_concurrency: 64,
        receive_wait: Duration::from_millis(200),
        ..SubscriberOptions::default()
    };
    (Subscriber::start(name, sub, handler, options), seen)
}
