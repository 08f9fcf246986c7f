//! Cases about ordering, batching, closing, draining and long handlers.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{
    HarnessSubscriptionOptions, PubSubHarness, Seen, assert_nothing_redelivered, eventually,
    fresh_subscription, fresh_topic, publish_all, quick_options, recorder, stop, within,
};
use crate::ErrorCode;
use crate::pubsub::{
    HandlerError, OutgoingMessage, Subscriber, SubscriberOptions, Topic, TopicOptions, handler_fn,
};

/// Messages sharing an ordering key are handled in publish order, even when
/// one of them fails once and is retried. Where `ordering` is not claimed the
/// same keyed load still runs: every message arrives with its key and the
/// failed one is retried; only the order goes unchecked.
pub async fn ordering_per_key(h: &impl PubSubHarness) {
    let (name, driver) = fresh_topic(h, "ordered").await;
    let opts = HarnessSubscriptionOptions {
        ordering: true,
        ..HarnessSubscriptionOptions::default()
    };
    let (sub_name, sub) = fresh_subscription(h, &name, "ordered-sub", &opts).await;
    let ordered = sub.capabilities().ordering;
    let (keys, per_key) = (3usize, 50usize);
    let topic = Topic::new(&name, driver, TopicOptions::default());
    // Per key, the sequence numbers handled successfully, in handling order.
    let handled: Arc<Mutex<HashMap<usize, Vec<usize>>>> = Arc::default();
    let failed_once = Arc::new(AtomicUsize::new(0));
    let (handled_in, failed_in) = (handled.clone(), failed_once.clone());
    let handler = handler_fn(move |message| {
        let (handled, failed) = (handled_in.clone(), failed_in.clone());
        async move {
            let text = String::from_utf8_lossy(&message.data).into_owned();
            let (key, seq) = text
                .split_once(':')
                .and_then(|(k, s)| Some((k.parse::<usize>().ok()?, s.parse::<usize>().ok()?)))
                .ok_or_else(|| HandlerError::from(format!("unexpected payload `{text}`")))?;
            if message.ordering_key != Some(format!("key-{key}")) {
                return Err(
                    format!("payload `{text}` came with key {:?}", message.ordering_key).into(),
                );
            }
            // Give later messages of the key a chance to overtake, were that possible.
            tokio::time::sleep(Duration::from_millis(1)).await;
            if key == 1 && seq == 10 && failed.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(HandlerError::from("injected failure"));
            }
            handled
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key)
                .or_default()
                .push(seq);
            Ok(())
        }
    });
    let subscriber = Subscriber::start(&sub_name, sub, handler, quick_options());
    let messages = (0..per_key)
        .flat_map(|seq| {
            (0..keys).map(move |key| {
                OutgoingMessage::new(format!("{key}:{seq}")).with_ordering_key(format!("key-{key}"))
            })
        })
        .collect();
    publish_all(h, &topic, messages).await;
    let keys_done = || {
        let handled = handled.lock().unwrap_or_else(|p| p.into_inner());
        (0..keys)
            .filter(|key| {
                let distinct: HashSet<&usize> = handled.get(key).into_iter().flatten().collect();
                distinct.len() == per_key
            })
            .count()
    };
    eventually(
        h.patience(),
        || {
            format!(
                "every message of every key, {} of {keys} keys done",
                keys_done()
            )
        },
        || keys_done() == keys,
    )
    .await;
    stop(h, subscriber).await;
    let handled = handled.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for key in (0..keys).filter(|_| ordered) {
        let mut order = handled.get(&key).cloned().unwrap_or_default();
        // At-least-once: a redelivered message may be handled twice in a row.
        order.dedup();
        assert_eq!(
            order,
            (0..per_key).collect::<Vec<_>>(),
            "handling order of key-{key}"
        );
    }
    assert!(
        failed_once.load(Ordering::SeqCst) >= 2,
        "the failed message was retried"
    );
    within(h.patience(), "close", topic.close()).await;
}

/// `publish_many` of more messages than one batch holds: each gets an id and
/// every one is received.
pub async fn batch_publish_many(h: &impl PubSubHarness) {
    let (name, driver) = fresh_topic(h, "many").await;
    let opts = HarnessSubscriptionOptions::default();
    let (sub_name, sub) = fresh_subscription(h, &name, "many-sub", &opts).await;
    let topic = Topic::new(&name, driver, TopicOptions::default());
    let seen = Arc::new(Seen::default());
    let subscriber_opts = SubscriberOptions {
        max_concurrency: 256,
        ..quick_options()
    };
    let subscriber = Subscriber::start(&sub_name, sub, recorder(&seen), subscriber_opts);
    let sent = h.bulk_messages();
    let messages = (0..sent)
        .map(|i| OutgoingMessage::new(format!("m{i}")))
        .collect();
    let ids: HashSet<String> = publish_all(h, &topic, messages).await.into_iter().collect();
    assert_eq!(ids.len(), sent, "every message gets its own id");
    let distinct = || seen.counts().len();
    eventually(
        h.patience(),
        || format!("{sent} messages, got {}", distinct()),
        || distinct() >= sent,
    )
    .await;
    stop(h, subscriber).await;
    let got: HashSet<String> = seen.counts().into_keys().collect();
    assert_eq!(got, ids, "every published message is received");
    within(h.patience(), "close", topic.close()).await;
}

/// Shutdown waits for slow handlers in flight: all complete, all are acked,
/// and nothing comes back afterwards.
pub async fn graceful_drain(h: &impl PubSubHarness) {
    let (name, driver) = fresh_topic(h, "drain").await;
    let opts = HarnessSubscriptionOptions {
        lease: Duration::from_secs(1),
        ..HarnessSubscriptionOptions::default()
    };
    let (sub_name, sub) = fresh_subscription(h, &name, "drain-sub", &opts).await;
    let topic = Topic::new(&name, driver, TopicOptions::default());
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (started_in, finished_in) = (started.clone(), finished.clone());
    let handler = handler_fn(move |message| {
        let (started, finished) = (started_in.clone(), finished_in.clone());
        async move {
            started.fetch_add(1, Ordering::SeqCst);
            // Staggered, so a drain that waits for only some handlers shows.
            let index: u64 = String::from_utf8_lossy(&message.data)[1..].parse()?;
            tokio::time::sleep(Duration::from_millis(300 + 100 * index)).await;
            finished.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let sent = 8;
    let subscriber_opts = SubscriberOptions {
        max_concurrency: sent,
        ..quick_options()
    };
    let subscriber = Subscriber::start(&sub_name, sub.clone(), handler, subscriber_opts);
    let messages = (0..sent)
        .map(|i| OutgoingMessage::new(format!("m{i}")))
        .collect();
    publish_all(h, &topic, messages).await;
    eventually(
        h.patience(),
        || {
            format!(
                "{sent} handlers running, {} started",
                started.load(Ordering::SeqCst)
            )
        },
        || started.load(Ordering::SeqCst) >= sent,
    )
    .await;
    assert!(
        finished.load(Ordering::SeqCst) < sent,
        "handlers were still running at shutdown"
    );
    let stats = stop(h, subscriber).await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        sent,
        "shutdown returned before every handler finished"
    );
    assert_eq!(
        started.load(Ordering::SeqCst),
        sent,
        "no message was handled twice"
    );
    assert_eq!(
        stats.acked, sent as u64,
        "every drained message was acked: {stats:?}"
    );
    assert_nothing_redelivered(h, sub.as_ref()).await;
    within(h.patience(), "close", topic.close()).await;
}

/// `close` flushes what was queued; every publish either succeeded (and is
/// delivered) or failed with `Closed`, and publishes after close fail `Closed`.
pub async fn publish_after_close_fails(h: &impl PubSubHarness) {
    let (name, driver) = fresh_topic(h, "closing").await;
    let opts = HarnessSubscriptionOptions::default();
    let (sub_name, sub) = fresh_subscription(h, &name, "closing-sub", &opts).await;
    let topic = Topic::new(&name, driver, TopicOptions::default());
    let seen = Arc::new(Seen::default());
    let subscriber = Subscriber::start(&sub_name, sub, recorder(&seen), quick_options());
    let publisher = topic.clone();
    let messages: Vec<OutgoingMessage> = (0..200)
        .map(|i| OutgoingMessage::new(format!("m{i}")))
        .collect();
    let pending = tokio::spawn(async move { publisher.publish_many(messages).await });
    tokio::task::yield_now().await;
    within(h.patience(), "close", topic.close()).await;
    let results = within(h.patience(), "publishes racing close", pending)
        .await
        .unwrap_or_else(|err| panic!("publishing task failed: {err}"));
    let mut ok = HashSet::new();
    for result in results {
        match result {
            Ok(id) => {
                ok.insert(id);
            }
            Err(err) => assert_eq!(
                err.code(),
                ErrorCode::Closed,
                "a publish racing close: {err}"
            ),
        }
    }
    eventually(
        h.patience(),
        || format!("{} flushed messages, got {}", ok.len(), seen.len()),
        || seen.len() >= ok.len(),
    )
    .await;
    let err = within(
        h.patience(),
        "publish after close",
        topic.publish(OutgoingMessage::new("late")),
    )
    .await
    .expect_err("a publish after close succeeded");
    assert_eq!(err.code(), ErrorCode::Closed, "{err}");
    assert!(
        err.message().contains(&name),
        "the error names the topic: {err}"
    );
    let late = within(
        h.patience(),
        "publish_many after close",
        topic.publish_many(vec![OutgoingMessage::new("late")]),
    )
    .await;
    assert!(
        matches!(late.as_slice(), [Err(err)] if err.code() == ErrorCode::Closed),
        "{late:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(h, subscriber).await;
    let got: HashSet<String> = seen.counts().into_keys().collect();
    assert_eq!(got, ok, "exactly the successful publishes are delivered");
}

/// A handler running longer than the lease keeps its message: the engine
/// extends the lease, so the message is not delivered twice. Skipped where
/// `lease_extension` is not claimed.
pub async fn lease_extension_keeps_long_handler(h: &impl PubSubHarness) {
    let (name, driver) = fresh_topic(h, "long").await;
    let opts = HarnessSubscriptionOptions {
        lease: Duration::from_millis(500),
        ..HarnessSubscriptionOptions::default()
    };
    let (sub_name, sub) = fresh_subscription(h, &name, "long-sub", &opts).await;
    if !sub.capabilities().lease_extension {
        println!("skipped: the provider does not claim lease_extension");
        return;
    }
    let lease = sub.lease();
    let topic = Topic::new(&name, driver, TopicOptions::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (calls_in, finished_in) = (calls.clone(), finished.clone());
    let handler = handler_fn(move |_| {
        let (calls, finished) = (calls_in.clone(), finished_in.clone());
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(lease.mul_f64(2.5)).await;
            finished.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let subscriber = Subscriber::start(&sub_name, sub.clone(), handler, quick_options());
    publish_all(h, &topic, vec![OutgoingMessage::new("long")]).await;
    eventually(
        h.patience() + lease * 3,
        || "the long handler to finish".to_owned(),
        || finished.load(Ordering::SeqCst) >= 1,
    )
    .await;
    let stats = stop(h, subscriber).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the message was delivered again while its handler ran"
    );
    assert_eq!(stats.received, 1, "{stats:?}");
    assert_nothing_redelivered(h, sub.as_ref()).await;
    within(h.patience(), "close", topic.close()).await;
}
