//! Conformance cases for pubsub.
//!
//! A provider implements [`PubSubHarness`] (make a topic, make a subscription,
//! make unique names) and runs the cases of the table,
//! [`pubsub_conformance!`](crate::pubsub_conformance), one test each (or
//! [`run_all`]). Cases panic with a message naming what went wrong, so they
//! run inside `#[tokio::test(flavor = "multi_thread")]`. Every wait is
//! bounded by [`PubSubHarness::patience`].
//!
//! Raw cases drive the [`SubscriptionDriver`] directly (receive, ack, nack,
//! leases, capability claims); engine cases go through [`Topic`] and
//! [`Subscriber`], the way applications do.
//!
//! ```no_run
//! # use strata_core::testkit::pubsub::{self as cases, PubSubHarness};
//! # async fn demo(harness: impl PubSubHarness) {
//! // One case, called directly (the table macro does this once per case):
//! cases::fan_out_to_two_subscriptions(&harness).await;
//! # }
//! ```

mod engine;
mod lifecycle;
mod raw;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

pub use engine::{
    CompetingReport, competing_consumers, dead_letter_after_max_attempts,
    fan_out_to_two_subscriptions, handler_panic_is_retried, handler_timeout_is_retried,
    publish_receive_with_attributes,
};
pub use lifecycle::{
    batch_publish_many, graceful_drain, lease_extension_keeps_long_handler, ordering_per_key,
    publish_after_close_fails,
};
pub use raw::{
    capability_claims_hold, lease_expiry_redelivers, nack_delay_postpones_redelivery,
    nack_redelivers_with_increasing_attempt, oversized_message_rejected,
    receive_on_empty_returns_within_wait, receive_returns_at_most_max,
};

use crate::Result;
use crate::pubsub::{
    Delivery, Handler, Message, OutgoingMessage, RetryPolicy, Subscriber, SubscriberOptions,
    SubscriberStats, SubscriptionDriver, Topic, TopicDriver, handler_fn,
};
use crate::sync::lock;

/// What a case needs of a subscription. A provider maps it onto its own
/// settings, rounding up where its minimums are higher (the cases read the
/// real lease back from [`SubscriptionDriver::lease`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarnessSubscriptionOptions {
    /// The lease (visibility timeout, ack deadline, lock duration) to ask for.
    pub lease: Duration,
    /// A topic, made earlier through [`PubSubHarness::topic`] and with a
    /// subscription of its own, that receives this subscription's dead letters.
    /// A provider with native dead-lettering provisions it here (SQS redrive to
    /// that subscription's queue, Pub/Sub dead-letter topic, Service Bus
    /// forward-dead-lettered-messages-to); the others ignore it and the engine
    /// publishes dead letters to that topic itself.
    pub dead_letter_topic: Option<String>,
    /// Deliveries before a message is dead-lettered, with `dead_letter_topic`.
    pub max_attempts: Option<u32>,
    /// Messages sharing an ordering key must be delivered in order (SQS FIFO,
    /// Pub/Sub message ordering, Service Bus sessions).
    pub ordering: bool,
}

impl Default for HarnessSubscriptionOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(10),
            dead_letter_topic: None,
            max_attempts: None,
            ordering: false,
        }
    }
}

/// Makes fresh pub/sub resources for the cases.
#[async_trait]
pub trait PubSubHarness: Send + Sync {
    /// The driver of topic `name`, created if missing.
    async fn topic(&self, name: &str) -> Result<Arc<dyn TopicDriver>>;

    /// A consumer of subscription `name` on `topic`, created if missing (with
    /// `opts`). Called twice with the same names, it returns two consumers of
    /// the same subscription. A new subscription receives only messages
    /// published after this call returns.
    async fn subscription(
        &self,
        topic: &str,
        name: &str,
        opts: &HarnessSubscriptionOptions,
    ) -> Result<Arc<dyn SubscriptionDriver>>;

    /// A name starting with `base` that no other case or run uses.
    fn unique(&self, base: &str) -> String;

    /// The longest any single wait in a case may take before it fails.
    fn patience(&self) -> Duration {
        Duration::from_secs(30)
    }

    /// How many messages [`batch_publish_many`] publishes: thousands by
    /// default, so batching and a real backlog are exercised. An emulator
    /// whose cost per message grows with its backlog may ask for fewer.
    fn bulk_messages(&self) -> usize {
        2500
    }

    /// Whether a message handled and acked within its lease is never
    /// delivered again (as in memory): [`competing_consumers`] then allows no
    /// duplicates. At-least-once providers keep the default, `false`.
    fn delivers_once(&self) -> bool {
        false
    }
}

/// The pub/sub case table, and the tests it makes for one harness.
///
/// ```ignore
/// strata_core::pubsub_conformance! {
///     #[tokio::test]      // the attributes of every test
///     harness: MyHarness::new().await,  // made afresh per test
///     run: run,           // optional: wraps each case's future
///     skip: { some_case: "why this provider does not run it" },
/// }
/// ```
///
/// expands to one test per case, named after the case; a skipped case is
/// `#[ignore = "why"]`. A skip that names no case, or one case twice, does
/// not compile. See [the testkit](crate::testkit).
#[macro_export]
macro_rules! pubsub_conformance {
    (@table $then:path { $($args:tt)* }) => {
        $then! {
            ($)
            [
                receive_on_empty_returns_within_wait,
                receive_returns_at_most_max,
                capability_claims_hold,
                nack_redelivers_with_increasing_attempt,
                nack_delay_postpones_redelivery,
                lease_expiry_redelivers,
                oversized_message_rejected,
                publish_receive_with_attributes,
                fan_out_to_two_subscriptions,
                competing_consumers,
                dead_letter_after_max_attempts,
                handler_panic_is_retried,
                handler_timeout_is_retried,
                ordering_per_key,
                batch_publish_many,
                graceful_drain,
                publish_after_close_fails,
                lease_extension_keeps_long_handler,
            ]
            $($args)*
        }
    };
    ($($args:tt)*) => {
        $crate::pubsub_conformance! { @table $crate::__conformance_tests { pubsub $($args)* } }
    };
}

crate::pubsub_conformance! { @table crate::testkit::case_list { PubSubHarness } }

/// A fresh topic: its unique name and its driver.
async fn fresh_topic(h: &impl PubSubHarness, base: &str) -> (String, Arc<dyn TopicDriver>) {
    let name = h.unique(base);
    let driver = h
        .topic(&name)
        .await
        .unwrap_or_else(|err| panic!("harness could not make topic `{name}`: {err}"));
    (name, driver)
}

/// A fresh subscription of `topic`: its unique name and a consumer.
async fn fresh_subscription(
    h: &impl PubSubHarness,
    topic: &str,
    base: &str,
    opts: &HarnessSubscriptionOptions,
) -> (String, Arc<dyn SubscriptionDriver>) {
    let name = h.unique(base);
    let driver = consumer(h, topic, &name, opts).await;
    (name, driver)
}

/// A consumer of an existing (or new) subscription.
async fn consumer(
    h: &impl PubSubHarness,
    topic: &str,
    name: &str,
    opts: &HarnessSubscriptionOptions,
) -> Arc<dyn SubscriptionDriver> {
    h.subscription(topic, name, opts)
        .await
        .unwrap_or_else(|err| panic!("harness could not make subscription `{name}`: {err}"))
}

/// Awaits `future`, failing the case if it takes longer than `limit`.
async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

/// Waits until `done` holds, failing the case after `limit`.
async fn eventually(limit: Duration, what: impl Fn() -> String, done: impl Fn() -> bool) {
    let started = tokio::time::Instant::now();
    while !done() {
        if started.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {}", what());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Receives until one delivery arrives, failing the case after `limit`.
async fn receive_one(sub: &dyn SubscriptionDriver, limit: Duration) -> Delivery {
    let started = tokio::time::Instant::now();
    loop {
        let wait = Duration::from_secs(1).min(limit);
        let mut got = within(limit, "receive", sub.receive(1, wait))
            .await
            .unwrap_or_else(|err| panic!("receive failed: {err}"));
        assert!(
            got.len() <= 1,
            "receive(1) returned {} deliveries",
            got.len()
        );
        if let Some(delivery) = got.pop() {
            return delivery;
        }
        assert!(
            started.elapsed() <= limit,
            "no message arrived within {limit:?}"
        );
    }
}

/// Subscriber options for the cases: short backoffs and waits so a case
/// takes seconds.
fn quick_options() -> SubscriberOptions {
    SubscriberOptions {
        max_concurrency: 16,
        retry: RetryPolicy {
            min_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
        },
        dead_letter: None,
        handler_timeout: Duration::from_secs(60),
        receive_wait: Duration::from_millis(200),
    }
}

/// The messages a handler saw, in the order it saw them.
#[derive(Default)]
struct Seen {
    messages: Mutex<Vec<Message>>,
}

impl Seen {
    fn lock(&self) -> MutexGuard<'_, Vec<Message>> {
        lock(&self.messages)
    }

    fn push(&self, message: Message) {
        self.lock().push(message);
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn all(&self) -> Vec<Message> {
        self.lock().clone()
    }

    /// How many times each message id was seen.
    fn counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for message in self.lock().iter() {
            *counts.entry(message.id.clone()).or_insert(0) += 1;
        }
        counts
    }
}

/// Shuts a subscriber down within the harness's patience; returns its final stats.
async fn stop(h: &impl PubSubHarness, subscriber: Subscriber) -> SubscriberStats {
    let name = subscriber.name().to_owned();
    within(
        h.patience(),
        "subscriber shutdown",
        subscriber.shutdown_with_stats(),
    )
    .await
    .unwrap_or_else(|err| panic!("shutdown of `{name}` failed: {err}"))
}

/// Publishes through `topic`, failing the case on any error; returns the ids.
async fn publish_all(
    h: &impl PubSubHarness,
    topic: &Topic,
    messages: Vec<OutgoingMessage>,
) -> Vec<String> {
    within(h.patience(), "publish_many", topic.publish_many(messages))
        .await
        .into_iter()
        .map(|result| result.unwrap_or_else(|err| panic!("publish failed: {err}")))
        .collect()
}

/// Asserts that nothing is delivered on `sub` for about its lease.
async fn assert_nothing_redelivered(h: &impl PubSubHarness, sub: &dyn SubscriptionDriver) {
    let wait = sub.lease() + Duration::from_millis(500);
    let got = within(wait + h.patience(), "receive", sub.receive(10, wait))
        .await
        .unwrap_or_else(|err| panic!("receive failed: {err}"));
    let ids: Vec<&str> = got.iter().map(|d| d.message.id.as_str()).collect();
    assert!(
        got.is_empty(),
        "acked messages were delivered again: {ids:?}"
    );
}

/// A handler that records every message and succeeds.
fn recorder(seen: &Arc<Seen>) -> Handler {
    let seen = seen.clone();
    handler_fn(move |message| {
        seen.push(message);
        async { Ok(()) }
    })
}
