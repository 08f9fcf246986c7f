//! Cases that drive a provider's drivers directly.

use std::time::Duration;

use super::{
    HarnessSubscriptionOptions, PubSubHarness, fresh_subscription, fresh_topic, receive_one, within,
};
use crate::ErrorCode;
use crate::pubsub::{OutgoingMessage, SubscriptionDriver, Topic, TopicDriver, TopicOptions};

/// Publishes `messages` straight through the driver, failing the case on any error.
async fn publish_raw(
    h: &impl PubSubHarness,
    topic: &dyn TopicDriver,
    messages: Vec<OutgoingMessage>,
) -> Vec<String> {
    let count = messages.len();
    let results = within(h.patience(), "publish_batch", topic.publish_batch(messages)).await;
    assert_eq!(
        results.len(),
        count,
        "publish_batch returns one result per message"
    );
    results
        .into_iter()
        .map(|result| result.unwrap_or_else(|err| panic!("publish failed: {err}")))
        .collect()
}

/// Asserts that nothing is delivered for `wait`.
async fn assert_nothing_delivered(
    h: &impl PubSubHarness,
    sub: &dyn SubscriptionDriver,
    wait: Duration,
    why: &str,
) {
    let got = within(wait + h.patience(), "receive", sub.receive(10, wait))
        .await
        .unwrap_or_else(|err| panic!("receive failed: {err}"));
    let ids: Vec<&str> = got.iter().map(|d| d.message.id.as_str()).collect();
    assert!(got.is_empty(), "{why}, yet received {ids:?}");
}

/// `receive` on an empty subscription returns an empty list, and does so
/// within about `wait`.
pub async fn receive_on_empty_returns_within_wait(h: &impl PubSubHarness) {
    let (topic, _driver) = fresh_topic(h, "empty").await;
    let opts = HarnessSubscriptionOptions::default();
    let (_, sub) = fresh_subscription(h, &topic, "empty-sub", &opts).await;
    let wait = Duration::from_millis(500);
    let started = tokio::time::Instant::now();
    let got = within(
        wait + h.patience(),
        "receive on empty",
        sub.receive(10, wait),
    )
    .await
    .unwrap_or_else(|err| panic!("receive failed: {err}"));
    let elapsed = started.elapsed();
    assert!(
        got.is_empty(),
        "an empty subscription delivered {} messages",
        got.len()
    );
    // Providers that only wait in whole seconds may round up to one second.
    assert!(
        elapsed <= wait + Duration::from_secs(2),
        "receive with wait {wait:?} took {elapsed:?}"
    );
}

/// `receive(max)` never returns more than `max`, and every message arrives.
pub async fn receive_returns_at_most_max(h: &impl PubSubHarness) {
    let (topic, driver) = fresh_topic(h, "max").await;
    let opts = HarnessSubscriptionOptions::default();
    let (_, sub) = fresh_subscription(h, &topic, "max-sub", &opts).await;
    let sent = 5;
    let messages = (0..sent)
        .map(|i| OutgoingMessage::new(format!("m{i}")))
        .collect();
    let mut ids = publish_raw(h, driver.as_ref(), messages).await;
    let mut received = Vec::new();
    let started = tokio::time::Instant::now();
    while received.len() < sent {
        assert!(
            started.elapsed() <= h.patience(),
            "received {} of {sent} messages in {:?}",
            received.len(),
            h.patience()
        );
        let got = within(
            h.patience(),
            "receive",
            sub.receive(2, Duration::from_secs(1)),
        )
        .await
        .unwrap_or_else(|err| panic!("receive failed: {err}"));
        assert!(
            got.len() <= 2,
            "receive(2) returned {} deliveries",
            got.len()
        );
        let handles = got.iter().map(|d| d.handle.clone()).collect();
        within(h.patience(), "ack", sub.ack(handles))
            .await
            .unwrap_or_else(|err| panic!("ack failed: {err}"));
        received.extend(got.into_iter().map(|d| d.message.id));
    }
    received.sort();
    ids.sort();
    assert_eq!(
        received, ids,
        "exactly the published messages arrive, once each"
    );
}

/// What the capabilities claim holds, and what they do not claim is refused
/// with `Unsupported`.
pub async fn capability_claims_hold(h: &impl PubSubHarness) {
    let (topic, driver) = fresh_topic(h, "caps").await;
    let opts = HarnessSubscriptionOptions::default();
    let (_, sub) = fresh_subscription(h, &topic, "caps-sub", &opts).await;
    let caps = sub.capabilities().clone();
    for (what, value) in [
        ("max_message_bytes", caps.max_message_bytes),
        ("max_batch_messages", caps.max_batch_messages),
        ("max_batch_bytes", caps.max_batch_bytes),
        ("max_receive_messages", caps.max_receive_messages),
        ("max_ack_batch", caps.max_ack_batch),
    ] {
        assert!(value > 0, "capability {what} is zero");
    }
    let topic_caps = driver.capabilities();
    assert!(
        topic_caps.max_batch_bytes >= topic_caps.max_message_bytes.min(1024),
        "a batch must hold at least one ordinary message"
    );
    assert!(!sub.lease().is_zero(), "lease is zero");

    publish_raw(h, driver.as_ref(), vec![OutgoingMessage::new("caps")]).await;
    let delivery = receive_one(sub.as_ref(), h.patience()).await;
    if caps.delivery_attempts {
        assert_eq!(
            delivery.message.delivery_attempt, 1,
            "first delivery is attempt 1"
        );
    }
    let extended = within(
        h.patience(),
        "extend_lease",
        sub.extend_lease(&delivery.handle, sub.lease()),
    )
    .await;
    match (caps.lease_extension, extended) {
        (true, Err(err)) => panic!("claims lease_extension but extend_lease failed: {err}"),
        (false, Ok(())) => panic!("extend_lease works but lease_extension is not claimed"),
        (false, Err(err)) => assert_eq!(err.code(), ErrorCode::Unsupported, "{err}"),
        (true, Ok(())) => {}
    }
    if caps.explicit_dead_letter {
        within(
            h.patience(),
            "dead_letter",
            sub.dead_letter(delivery.handle, "conformance"),
        )
        .await
        .unwrap_or_else(|err| panic!("claims explicit_dead_letter but it failed: {err}"));
        assert_nothing_delivered(
            h,
            sub.as_ref(),
            Duration::from_secs(1),
            "the message was dead-lettered",
        )
        .await;
    } else {
        let err = within(
            h.patience(),
            "dead_letter",
            sub.dead_letter(delivery.handle.clone(), "conformance"),
        )
        .await
        .expect_err("dead_letter works but explicit_dead_letter is not claimed");
        assert_eq!(err.code(), ErrorCode::Unsupported, "{err}");
        within(h.patience(), "ack", sub.ack(vec![delivery.handle]))
            .await
            .unwrap_or_else(|err| panic!("ack failed: {err}"));
    }
}

/// A nacked message comes back, its delivery attempt counting up; once acked
/// it stays gone.
pub async fn nack_redelivers_with_increasing_attempt(h: &impl PubSubHarness) {
    let (topic, driver) = fresh_topic(h, "nack").await;
    let opts = HarnessSubscriptionOptions::default();
    let (_, sub) = fresh_subscription(h, &topic, "nack-sub", &opts).await;
    let ids = publish_raw(h, driver.as_ref(), vec![OutgoingMessage::new("again")]).await;
    for attempt in 1..=3 {
        let delivery = receive_one(sub.as_ref(), h.patience()).await;
        assert_eq!(delivery.message.id, ids[0], "the same message comes back");
        assert_eq!(delivery.message.data.as_ref(), b"again");
        if sub.capabilities().delivery_attempts {
            assert_eq!(
                delivery.message.delivery_attempt, attempt,
                "delivery attempt"
            );
        }
        if attempt < 3 {
            within(
                h.patience(),
                "nack",
                sub.nack(delivery.handle, Duration::ZERO),
            )
            .await
            .unwrap_or_else(|err| panic!("nack failed: {err}"));
        } else {
            within(h.patience(), "ack", sub.ack(vec![delivery.handle]))
                .await
                .unwrap_or_else(|err| panic!("ack failed: {err}"));
        }
    }
    assert_nothing_delivered(
        h,
        sub.as_ref(),
        Duration::from_millis(500),
        "the message was acked",
    )
    .await;
}

/// A nack with a delay is not redelivered before the delay has passed.
pub async fn nack_delay_postpones_redelivery(h: &impl PubSubHarness) {
    let (topic, driver) = fresh_topic(h, "delay").await;
    let opts = HarnessSubscriptionOptions::default();
    let (_, sub) = fresh_subscription(h, &topic, "delay-sub", &opts).await;
    publish_raw(h, driver.as_ref(), vec![OutgoingMessage::new("later")]).await;
    let delivery = receive_one(sub.as_ref(), h.patience()).await;
    let delay = Duration::from_secs(1);
    let nacked = tokio::time::Instant::now();
    within(h.patience(), "nack", sub.nack(delivery.handle, delay))
        .await
        .unwrap_or_else(|err| panic!("nack failed: {err}"));
    let again = receive_one(sub.as_ref(), h.patience()).await;
    let elapsed = nacked.elapsed();
    assert_eq!(again.message.id, delivery.message.id);
    assert!(
        elapsed >= delay.mul_f64(0.9),
        "nacked with a {delay:?} delay, redelivered after {elapsed:?}"
    );
    within(h.patience(), "ack", sub.ack(vec![again.handle]))
        .await
        .unwrap_or_else(|err| panic!("ack failed: {err}"));
}

/// A delivery neither acked nor nacked comes back once its lease runs out.
pub async fn lease_expiry_redelivers(h: &impl PubSubHarness) {
    let (topic, driver) = fresh_topic(h, "expiry").await;
    let opts = HarnessSubscriptionOptions {
        lease: Duration::from_millis(500),
        ..HarnessSubscriptionOptions::default()
    };
    let (_, sub) = fresh_subscription(h, &topic, "expiry-sub", &opts).await;
    publish_raw(h, driver.as_ref(), vec![OutgoingMessage::new("forgotten")]).await;
    let first = receive_one(sub.as_ref(), h.patience()).await;
    let leased = tokio::time::Instant::now();
    let again = receive_one(sub.as_ref(), h.patience() + sub.lease() * 2).await;
    assert_eq!(
        again.message.id, first.message.id,
        "the same message comes back"
    );
    assert!(
        leased.elapsed() >= sub.lease().mul_f64(0.9),
        "redelivered after {:?}, before the {:?} lease ran out",
        leased.elapsed(),
        sub.lease()
    );
    if sub.capabilities().delivery_attempts {
        assert_eq!(
            again.message.delivery_attempt, 2,
            "delivery attempt after expiry"
        );
    }
    within(h.patience(), "ack", sub.ack(vec![again.handle]))
        .await
        .unwrap_or_else(|err| panic!("ack failed: {err}"));
}

/// A message larger than `max_message_bytes` fails with `InvalidArgument`,
/// from the portable [`Topic`] (before any network call) and from the driver.
pub async fn oversized_message_rejected(h: &impl PubSubHarness) {
    let (name, driver) = fresh_topic(h, "oversized").await;
    let limit = driver.capabilities().max_message_bytes;
    let oversized = OutgoingMessage::new(vec![b'x'; limit + 1]);
    let topic = Topic::new(&name, driver.clone(), TopicOptions::default());
    let err = within(h.patience(), "publish", topic.publish(oversized.clone()))
        .await
        .expect_err("an oversized message was published");
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    assert!(
        err.message().contains(&(limit + 1).to_string())
            && err.message().contains(&limit.to_string()),
        "the error names the size and the limit: {err}"
    );
    let results = within(
        h.patience(),
        "publish_batch",
        driver.publish_batch(vec![oversized]),
    )
    .await;
    match results.as_slice() {
        [Err(err)] => assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}"),
        other => panic!("the driver accepted an oversized message: {other:?}"),
    }
    within(h.patience(), "close", topic.close()).await;
}
