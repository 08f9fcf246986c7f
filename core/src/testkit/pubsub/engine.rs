//! Cases that go through the portable [`Topic`] and [`Subscriber`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{
    HarnessSubscriptionOptions, PubSubHarness, Seen, consumer, eventually, fresh_subscription,
    fresh_topic, publish_all, quick_options, recorder, stop, within,
};
use crate::pubsub::{
    DEAD_LETTER_REASON_ATTRIBUTE, DEAD_LETTER_SUBSCRIPTION_ATTRIBUTE, DeadLetterPolicy,
    HandlerError, ORIGINAL_MESSAGE_ID_ATTRIBUTE, OutgoingMessage, Subscriber, SubscriberOptions,
    Topic, TopicOptions, handler_fn,
};

/// Data and attributes arrive as published, with the id publish returned.
pub async fn publish_receive_with_attributes(h: &impl PubSubHarness) {
    let (name, driver) = fresh_topic(h, "attrs").await;
    let opts = HarnessSubscriptionOptions::default();
    let (sub_name, sub) = fresh_subscription(h, &name, "attrs-sub", &opts).await;
    let topic = Topic::new(&name, driver, TopicOptions::default());
    let seen = Arc::new(Seen::default());
    let subscriber = Subscriber::start(&sub_name, sub.clone(), recorder(&seen), quick_options());
    let sent = 10;
    let mut ids = HashMap::new();
    for i in 0..sent {
        let message = OutgoingMessage::new(format!("payload-{i}"))
            .with_attribute("index", i.to_string())
            .with_attribute("kind", "conformance");
        let id = within(h.patience(), "publish", topic.publish(message))
            .await
            .unwrap_or_else(|err| panic!("publish failed: {err}"));
        ids.insert(id, i);
    }
    assert_eq!(ids.len(), sent, "every publish returns a distinct id");
    eventually(
        h.patience(),
        || format!("{sent} messages, saw {}", seen.len()),
        || seen.len() >= sent,
    )
    .await;
    let stats = stop(h, subscriber).await;
    let messages = seen.all();
    assert_eq!(messages.len(), sent, "each message is handled once");
    let now = SystemTime::now();
    for message in messages {
        let i = ids
            .get(&message.id)
            .unwrap_or_else(|| panic!("received id `{}` that publish never returned", message.id));
        assert_eq!(message.data, format!("payload-{i}").as_bytes());
        assert_eq!(message.attributes.get("index"), Some(&i.to_string()));
        assert_eq!(
            message.attributes.get("kind").map(String::as_str),
            Some("conformance")
        );
        assert_eq!(message.ordering_key, None);
        if sub.capabilities().delivery_attempts {
            assert_eq!(message.delivery_attempt, 1);
        }
        let age = now.duration_since(message.publish_time).unwrap_or_default();
        assert!(
            age < Duration::from_secs(300),
            "publish_time is {age:?} old"
        );
    }
    assert_eq!(stats.acked, sent as u64, "every message acked: {stats:?}");
    within(h.patience(), "close", topic.close()).await;
}

/// Every subscription of a topic receives every message.
pub async fn fan_out_to_two_subscriptions(h: &impl PubSubHarness) {
    let (name, driver) = fresh_topic(h, "fanout").await;
    let opts = HarnessSubscriptionOptions::default();
    let (name_a, sub_a) = fresh_subscription(h, &name, "fanout-a", &opts).await;
    let (name_b, sub_b) = fresh_subscription(h, &name, "fanout-b", &opts).await;
    let topic = Topic::new(&name, driver, TopicOptions::default());
    let (seen_a, seen_b) = (Arc::new(Seen::default()), Arc::new(Seen::default()));
    let a = Subscriber::start(&name_a, sub_a, recorder(&seen_a), quick_options());
    let b = Subscriber::start(&name_b, sub_b, recorder(&seen_b), quick_options());
    let sent = 100;
    let messages = (0..sent)
        .map(|i| OutgoingMessage::new(format!("m{i}")))
        .collect();
    let ids: HashSet<String> = publish_all(h, &topic, messages).await.into_iter().collect();
    eventually(
        h.patience(),
        || {
            format!(
                "{sent} messages on each subscription, saw {} and {}",
                seen_a.len(),
                seen_b.len()
            )
        },
        || seen_a.len() >= sent && seen_b.len() >= sent,
    )
    .await;
    stop(h, a).await;
    stop(h, b).await;
    for (which, seen) in [("first", &seen_a), ("second", &seen_b)] {
        let counts = seen.counts();
        let got: HashSet<String> = counts.keys().cloned().collect();
        assert_eq!(got, ids, "the {which} subscription receives every message");
        assert_eq!(seen.len(), sent, "the {which} subscription saw duplicates");
    }
    within(h.patience(), "close", topic.close()).await;
}

/// What [`competing_consumers`] observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompetingReport {
    /// Messages published.
    pub sent: usize,
    /// Distinct messages handled.
    pub handled: usize,
    /// Handler runs beyond the first for a message (at-least-once redeliveries).
    pub duplicates: usize,
    /// Handler runs per consumer.
    pub per_consumer: [usize; 2],
}

/// Two consumers of one subscription share the messages: every message is
/// handled, both consumers get work, and the report counts duplicates
/// (at-least-once providers may have a few; none where the harness says
/// [`PubSubHarness::delivers_once`]).
pub async fn competing_consumers(h: &impl PubSubHarness) -> CompetingReport {
    let (name, driver) = fresh_topic(h, "compete").await;
    let opts = HarnessSubscriptionOptions::default();
    let (sub_name, first) = fresh_subscription(h, &name, "compete-sub", &opts).await;
    let second = consumer(h, &name, &sub_name, &opts).await;
    let topic = Topic::new(&name, driver, TopicOptions::default());
    let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let per_consumer = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    let mut subscribers = Vec::new();
    for (consumer, driver) in [first, second].into_iter().enumerate() {
        let (counts, mine) = (counts.clone(), per_consumer[consumer].clone());
        let handler = handler_fn(move |message| {
            let (counts, mine) = (counts.clone(), mine.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                *counts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(message.id)
                    .or_insert(0) += 1;
                mine.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        });
        let opts = SubscriberOptions {
            max_concurrency: 8,
            ..quick_options()
        };
        subscribers.push(Subscriber::start(&sub_name, driver, handler, opts));
    }
    let sent = 500;
    let messages = (0..sent)
        .map(|i| OutgoingMessage::new(format!("m{i}")))
        .collect();
    let ids: HashSet<String> = publish_all(h, &topic, messages).await.into_iter().collect();
    let handled = || counts.lock().unwrap_or_else(|p| p.into_inner()).len();
    eventually(
        h.patience(),
        || format!("{sent} messages handled, got {}", handled()),
        || handled() >= sent,
    )
    .await;
    for subscriber in subscribers {
        stop(h, subscriber).await;
    }
    let counts = counts.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let got: HashSet<String> = counts.keys().cloned().collect();
    assert_eq!(got, ids, "every published message is handled");
    let runs: usize = counts.values().sum();
    let report = CompetingReport {
        sent,
        handled: counts.len(),
        duplicates: runs - counts.len(),
        per_consumer: [
            per_consumer[0].load(Ordering::SeqCst),
            per_consumer[1].load(Ordering::SeqCst),
        ],
    };
    println!("competing consumers: {report:?}");
    assert!(
        report.per_consumer.iter().all(|&n| n > 0),
        "both consumers got work: {report:?}"
    );
    if h.delivers_once() {
        assert_eq!(
            report.duplicates, 0,
            "the harness says each message is delivered once: {report:?}"
        );
    }
    within(h.patience(), "close", topic.close()).await;
    report
}

/// A message whose handler always fails is tried `max_attempts` times, then
/// lands in the dead-letter topic (with the reason, when the engine emulates
/// dead-lettering) and is not delivered again.
pub async fn dead_letter_after_max_attempts(h: &impl PubSubHarness) {
    // Pub/Sub's smallest max_delivery_attempts is 5.
    let max_attempts = 5;
    let (dl_name, dl_driver) = fresh_topic(h, "dead").await;
    let plain = HarnessSubscriptionOptions::default();
    let (dl_sub_name, dl_sub) = fresh_subscription(h, &dl_name, "dead-sub", &plain).await;
    let (name, driver) = fresh_topic(h, "doomed").await;
    let opts = HarnessSubscriptionOptions {
        dead_letter_topic: Some(dl_name.clone()),
        max_attempts: Some(max_attempts),
        ..HarnessSubscriptionOptions::default()
    };
    let (sub_name, sub) = fresh_subscription(h, &name, "doomed-sub", &opts).await;
    let caps = sub.capabilities().clone();
    let topic = Topic::new(&name, driver, TopicOptions::default());
    let dl_topic = Topic::new(&dl_name, dl_driver, TopicOptions::default());

    let attempts = Arc::new(Seen::default());
    let tries = attempts.clone();
    let handler = handler_fn(move |message| {
        tries.push(message);
        async { Err(HandlerError::from("conformance handler always fails")) }
    });
    let sub_opts = SubscriberOptions {
        dead_letter: Some(DeadLetterPolicy {
            max_attempts,
            topic: Some(dl_topic.clone()),
        }),
        ..quick_options()
    };
    let subscriber = Subscriber::start(&sub_name, sub, handler, sub_opts);
    let dead = Arc::new(Seen::default());
    let dl_subscriber = Subscriber::start(&dl_sub_name, dl_sub, recorder(&dead), quick_options());

    let sent = 3;
    let messages = (0..sent)
        .map(|i| OutgoingMessage::new(format!("doomed-{i}")).with_attribute("index", i.to_string()))
        .collect();
    let ids = publish_all(h, &topic, messages).await;
    eventually(
        h.patience(),
        || format!("{sent} dead letters, got {}", dead.len()),
        || dead.len() >= sent,
    )
    .await;
    // Long enough for a wrongly redelivered message to reach the handler again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = stop(h, subscriber).await;
    stop(h, dl_subscriber).await;

    let counts = attempts.counts();
    for id in &ids {
        assert_eq!(
            counts.get(id).copied(),
            Some(max_attempts as usize),
            "handler runs of message `{id}`"
        );
    }
    if caps.delivery_attempts {
        let mut last: Vec<u32> = attempts.all().iter().map(|m| m.delivery_attempt).collect();
        last.sort_unstable();
        assert_eq!(
            last.last().copied(),
            Some(max_attempts),
            "the last attempt is max_attempts"
        );
    }
    assert_eq!(stats.dead_lettered, sent as u64, "{stats:?}");
    let letters = dead.all();
    assert_eq!(letters.len(), sent, "each message dead-lettered once");
    let emulated = !caps.native_dead_letter && !caps.explicit_dead_letter;
    for letter in letters {
        let data = String::from_utf8_lossy(&letter.data).into_owned();
        assert!(data.starts_with("doomed-"), "dead letter payload `{data}`");
        assert_eq!(
            letter
                .attributes
                .get("index")
                .map(|i| format!("doomed-{i}")),
            Some(data)
        );
        if emulated {
            let reason = letter
                .attributes
                .get(DEAD_LETTER_REASON_ATTRIBUTE)
                .cloned()
                .unwrap_or_default();
            assert!(
                reason.contains("always fails"),
                "dead-letter reason `{reason}`"
            );
            assert_eq!(
                letter.attributes.get(DEAD_LETTER_SUBSCRIPTION_ATTRIBUTE),
                Some(&sub_name)
            );
            let original = letter
                .attributes
                .get(ORIGINAL_MESSAGE_ID_ATTRIBUTE)
                .cloned()
                .unwrap_or_default();
            assert!(
                ids.contains(&original),
                "original id `{original}` was published"
            );
        }
    }
    within(h.patience(), "close", topic.close()).await;
    within(h.patience(), "close", dl_topic.close()).await;
}

/// A handler that panics (inside its future or before returning one) fails
/// that delivery only: the message is retried and the subscriber keeps going.
pub async fn handler_panic_is_retried(h: &impl PubSubHarness) {
    let (name, driver) = fresh_topic(h, "panic").await;
    let opts = HarnessSubscriptionOptions::default();
    let (sub_name, sub) = fresh_subscription(h, &name, "panic-sub", &opts).await;
    let topic = Topic::new(&name, driver, TopicOptions::default());
    let calls: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let done = Arc::new(Seen::default());
    let (calls_in, done_in) = (calls.clone(), done.clone());
    let handler = handler_fn(move |message| {
        let call = {
            let mut calls = calls_in.lock().unwrap_or_else(|p| p.into_inner());
            let call = calls.entry(message.id.clone()).or_insert(0);
            *call += 1;
            *call
        };
        let in_future = message.data.ends_with(b"even");
        assert!(call > 1 || in_future, "injected panic before the future");
        let done = done_in.clone();
        async move {
            assert!(call > 1, "injected panic inside the future");
            done.push(message);
            Ok(())
        }
    });
    let subscriber = Subscriber::start(&sub_name, sub, handler, quick_options());
    let sent = 6;
    let messages = (0..sent)
        .map(|i| {
            OutgoingMessage::new(if i % 2 == 0 {
                format!("{i} even")
            } else {
                format!("{i} odd")
            })
        })
        .collect();
    publish_all(h, &topic, messages).await;
    eventually(
        h.patience(),
        || format!("{sent} successes, got {}", done.len()),
        || done.len() >= sent,
    )
    .await;
    // The subscriber still works after the panics.
    publish_all(h, &topic, vec![OutgoingMessage::new("after even")]).await;
    eventually(
        h.patience(),
        || format!("{} successes, got {}", sent + 1, done.len()),
        || done.len() > sent,
    )
    .await;
    let stats = stop(h, subscriber).await;
    assert_eq!(
        stats.handler_errors,
        sent as u64 + 1,
        "one panic per message: {stats:?}"
    );
    assert_eq!(done.len(), sent + 1);
    within(h.patience(), "close", topic.close()).await;
}

/// A handler that runs past `handler_timeout` fails, and the message is retried.
pub async fn handler_timeout_is_retried(h: &impl PubSubHarness) {
    let (name, driver) = fresh_topic(h, "timeout").await;
    let opts = HarnessSubscriptionOptions::default();
    let (sub_name, sub) = fresh_subscription(h, &name, "timeout-sub", &opts).await;
    let topic = Topic::new(&name, driver, TopicOptions::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Seen::default());
    let (calls_in, done_in) = (calls.clone(), done.clone());
    let handler = handler_fn(move |message| {
        let call = calls_in.fetch_add(1, Ordering::SeqCst) + 1;
        let done = done_in.clone();
        async move {
            if call == 1 {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            done.push(message);
            Ok(())
        }
    });
    let sub_opts = SubscriberOptions {
        handler_timeout: Duration::from_millis(300),
        ..quick_options()
    };
    let subscriber = Subscriber::start(&sub_name, sub, handler, sub_opts);
    publish_all(h, &topic, vec![OutgoingMessage::new("slow once")]).await;
    eventually(
        h.patience(),
        || "the retried message to succeed".to_owned(),
        || done.len() >= 1,
    )
    .await;
    let stats = stop(h, subscriber).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one timed-out run, one successful run"
    );
    assert_eq!(stats.handler_errors, 1, "{stats:?}");
    within(h.patience(), "close", topic.close()).await;
}
