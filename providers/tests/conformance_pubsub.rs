//! The pubsub conformance suite against the memory provider, one test per case
//! of the table, and what only the memory provider promises.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use strata_core::Result;
use strata_core::pubsub::{SubscriptionDriver, TopicDriver};
use strata_core::testkit::pubsub::{HarnessSubscriptionOptions, PubSubHarness};
use strata_providers::memory::pubsub::{MemoryBroker, MemorySubscriptionOptions};

/// One broker per test; names are unique anyway, as the suite asks.
struct MemoryHarness {
    broker: MemoryBroker,
    next: AtomicU64,
}

impl MemoryHarness {
    fn new() -> Self {
        Self {
            broker: MemoryBroker::new(),
            next: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl PubSubHarness for MemoryHarness {
    async fn topic(&self, name: &str) -> Result<Arc<dyn TopicDriver>> {
        Ok(self.broker.topic(name))
    }

    async fn subscription(
        &self,
        topic: &str,
        name: &str,
        opts: &HarnessSubscriptionOptions,
    ) -> Result<Arc<dyn SubscriptionDriver>> {
        // Memory has no native dead-lettering (the engine emulates it through
        // the topic) and always honours ordering keys.
        let opts = MemorySubscriptionOptions { lease: opts.lease };
        Ok(self.broker.subscription(topic, name, opts))
    }

    fn unique(&self, base: &str) -> String {
        format!("{base}-{}", self.next.fetch_add(1, Ordering::Relaxed))
    }

    fn patience(&self) -> Duration {
        Duration::from_secs(20)
    }

    fn delivers_once(&self) -> bool {
        true
    }
}

strata_core::pubsub_conformance! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    harness: MemoryHarness::new(),
    skip: {},
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_claims_its_documented_capabilities() {
    let broker = MemoryBroker::new();
    let caps = broker.topic("t").capabilities().clone();
    assert!(caps.ordering && caps.lease_extension && caps.delivery_attempts);
    assert!(!caps.native_dead_letter && !caps.explicit_dead_letter);
    assert_eq!(caps.max_message_bytes, 10 * 1024 * 1024);
    assert_eq!(caps.max_batch_messages, 1000);
    assert_eq!(caps.default_linger, Duration::ZERO);
}

// Memory-specific behaviour, beyond the portable suite.

use strata_core::ErrorCode;
use strata_core::pubsub::{DeliveryHandle, OutgoingMessage};

const LIMIT: Duration = Duration::from_secs(10);

async fn publish(topic: &dyn TopicDriver, messages: Vec<OutgoingMessage>) -> Vec<String> {
    topic
        .publish_batch(messages)
        .await
        .into_iter()
        .map(|r| r.expect("publish"))
        .collect()
}

async fn receive(sub: &dyn SubscriptionDriver, max: usize, wait: Duration) -> Vec<String> {
    tokio::time::timeout(LIMIT, sub.receive(max, wait))
        .await
        .expect("receive returns in time")
        .expect("receive")
        .into_iter()
        .map(|d| String::from_utf8_lossy(&d.message.data).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_subscription_sees_only_messages_published_while_it_exists() {
    let broker = MemoryBroker::new();
    let topic = broker.topic("t");
    publish(topic.as_ref(), vec![OutgoingMessage::new("before")]).await;
    let sub = broker.subscription("t", "s", MemorySubscriptionOptions::default());
    publish(topic.as_ref(), vec![OutgoingMessage::new("after")]).await;
    assert_eq!(
        receive(sub.as_ref(), 10, Duration::from_millis(50)).await,
        ["after"]
    );
    assert_eq!(sub.backlog(), 1, "the delivery is leased until acked");
    assert!(broker.delete_subscription("t", "s"));
    assert!(!broker.delete_subscription("t", "s"), "deleting twice");
    publish(topic.as_ref(), vec![OutgoingMessage::new("deleted")]).await;
    assert_eq!(
        sub.backlog(),
        1,
        "a deleted subscription receives nothing new"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_ack_with_a_stale_handle_does_not_ack_the_redelivery() {
    let broker = MemoryBroker::new();
    let opts = MemorySubscriptionOptions {
        lease: Duration::from_millis(50),
    };
    let sub = broker.subscription("t", "s", opts);
    publish(broker.topic("t").as_ref(), vec![OutgoingMessage::new("m")]).await;
    let first = sub.receive(1, LIMIT).await.expect("receive").remove(0);
    let second = sub.receive(1, LIMIT).await.expect("receive").remove(0);
    assert_eq!(second.message.delivery_attempt, 2);
    sub.ack(vec![
        first.handle.clone(),
        DeliveryHandle("999999999".into()),
    ])
    .await
    .expect("acking unknown handles is harmless");
    assert_eq!(
        sub.backlog(),
        1,
        "the stale handle did not ack the redelivery"
    );
    let err = sub
        .extend_lease(&first.handle, Duration::from_secs(1))
        .await
        .expect_err("extending a stale handle");
    assert_eq!(err.code(), ErrorCode::NotFound);
    sub.ack(vec![second.handle]).await.expect("ack");
    assert_eq!(sub.backlog(), 0);
    let err = sub
        .nack(DeliveryHandle("not a handle".into()), Duration::ZERO)
        .await
        .expect_err("a malformed handle");
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_ordering_key_is_held_while_its_message_is_leased_or_nacked() {
    let broker = MemoryBroker::new();
    let sub = broker.subscription("t", "s", MemorySubscriptionOptions::default());
    let messages = vec![
        OutgoingMessage::new("k1").with_ordering_key("k"),
        OutgoingMessage::new("k2").with_ordering_key("k"),
        OutgoingMessage::new("free"),
    ];
    publish(broker.topic("t").as_ref(), messages).await;
    let got = sub.receive(10, LIMIT).await.expect("receive");
    let data: Vec<_> = got.iter().map(|d| d.message.data.clone()).collect();
    assert_eq!(data, ["k1", "free"], "k2 waits behind k1");
    let k1 = got[0].handle.clone();
    sub.nack(k1, Duration::from_millis(30)).await.expect("nack");
    assert_eq!(
        receive(sub.as_ref(), 10, LIMIT).await,
        ["k1"],
        "k1 again, not k2"
    );
    assert_eq!(
        receive(sub.as_ref(), 10, Duration::from_millis(50)).await,
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_receive_is_cancel_safe() {
    let broker = MemoryBroker::new();
    let sub = broker.subscription("t", "s", MemorySubscriptionOptions::default());
    let topic = broker.topic("t");
    let sent = 2000;
    let publisher = tokio::spawn(async move {
        for chunk in 0..sent / 10 {
            let batch = (0..10)
                .map(|i| OutgoingMessage::new(format!("m{}", chunk * 10 + i)))
                .collect();
            publish(topic.as_ref(), batch).await;
            tokio::task::yield_now().await;
        }
    });
    let mut received = std::collections::HashSet::new();
    let started = tokio::time::Instant::now();
    while received.len() < sent {
        assert!(
            started.elapsed() < LIMIT,
            "received {} of {sent}",
            received.len()
        );
        // Cancel receives at random points: after a single poll, or mid-wait.
        let receiving = sub.receive(7, Duration::from_secs(1));
        let got = if fastrand::bool() {
            futures::FutureExt::now_or_never(receiving)
        } else {
            let cut = Duration::from_micros(fastrand::u64(0..2000));
            tokio::time::timeout(cut, receiving).await.ok()
        };
        if let Some(got) = got {
            let got = got.expect("receive");
            let handles = got.iter().map(|d| d.handle.clone()).collect();
            for delivery in got {
                assert!(received.insert(delivery.message.id), "delivered twice");
            }
            sub.ack(handles).await.expect("ack");
        } else {
            tokio::task::yield_now().await;
        }
    }
    publisher.await.expect("publisher");
    assert_eq!(
        sub.backlog(),
        0,
        "nothing is stranded by a cancelled receive"
    );
}
