//! A topic entry with `"entity": "queue"`: a Service Bus queue in a topic's
//! place, through `Infra` from a config.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use strata_core::ErrorCode;
use strata_core::config::parse_config;
use strata_core::pubsub::{Handler, Message, OutgoingMessage};
use strata_infra::{SubscribeOptions, registry};
use strata_integration_tests::config::infra_from_text;
use strata_integration_tests::emulator::UniqueNames;

use super::servicebus_emulator::PrivateServiceBus;

/// Counts deliveries by body.
fn counting(seen: Arc<Mutex<HashMap<String, usize>>>) -> Handler {
    Arc::new(move |msg: Message| {
        let seen = seen.clone();
        async move {
            let body = String::from_utf8_lossy(&msg.data).into_owned();
            *seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(body)
                .or_default() += 1;
            Ok(())
        }
        .boxed()
    })
}

/// Two processes' worth of `Infra` on one queue entry share its messages:
/// each of 40 published is handled once, by one or the other, and the
/// queue is provisioned by the first to load.
pub async fn a_queue_entry_shares_its_messages_among_competing_consumers() {
    let emulator = PrivateServiceBus::start();
    let dir = tempfile::tempdir().unwrap();
    let queue = UniqueNames::new().unique("jobs");
    let cs = emulator.connection_string();
    let text = format!(
        r#"{{
        "providers": {{ "azure": {{ "service_bus": {{ "connection_string": "{cs}" }},
            "provision": true }} }},
        "pubsub": {{ "jobs": {{ "provider": "azure", "entity": "queue", "name": "{queue}",
            "subscriptions": {{ "workers": {{ "max_concurrency": 2 }} }} }} }}
    }}"#
    );
    let first = infra_from_text(&text, dir.path(), "the Service Bus emulator").await;
    let second = infra_from_text(&text, dir.path(), "the Service Bus emulator").await;
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let mut by_consumer = Vec::new();
    for infra in [&first, &second] {
        let mine: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (all, own) = (counting(seen.clone()), counting(mine.clone()));
        let both: Handler = Arc::new(move |msg: Message| {
            let (all, own) = (all.clone(), own.clone());
            async move {
                own(msg.clone()).await?;
                all(msg).await
            }
            .boxed()
        });
        infra
            .subscribe("jobs", "workers", both, SubscribeOptions::default())
            .unwrap();
        by_consumer.push(mine);
    }
    let jobs = first.topic("jobs").unwrap();
    for i in 0..40 {
        jobs.publish(OutgoingMessage::new(format!("job-{i}")))
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().len() < 40 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of 40 jobs were handled",
            seen.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give a duplicate a moment to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.values().all(|&n| n == 1),
        "a job was handled twice: {seen:?}"
    );
    let counts: Vec<usize> = by_consumer
        .iter()
        .map(|m| m.lock().unwrap().values().sum())
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 40, "{counts:?}");
    println!("40 jobs on one queue: consumers handled {counts:?}");
    first.close().await.unwrap();
    second.close().await.unwrap();
}

/// A queue gives each message to one consumer: a second subscription, a
/// subscription name of its own, or native dead-letter forwarding on a
/// queue entry is refused at load, naming the field.
pub async fn a_queue_entry_is_checked_at_load() {
    let load = |entry: &str| {
        let text = format!(
            r#"{{
            "providers": {{ "azure": {{ "service_bus": {{ "connection_string":
                "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true" }} }} }},
            "pubsub": {{ "jobs": {entry},
                "dlq": {{ "provider": "azure" }} }}
        }}"#
        );
        parse_config(&text, "queue.json", registry(), &|_| None)
    };
    let cases = [
        (
            r#"{ "provider": "azure", "entity": "queue",
                 "subscriptions": { "a": {}, "b": {} } }"#,
            "pubsub.jobs.subscriptions",
            "serves one subscription",
        ),
        (
            r#"{ "provider": "azure", "entity": "queue",
                 "subscriptions": { "a": { "name": "mine" } } }"#,
            "pubsub.jobs.subscriptions.a.name",
            "no name of its own",
        ),
        (
            r#"{ "provider": "azure", "entity": "queue", "subscriptions": { "a": {
                 "dead_letter_topic": "dlq", "dead_letter_mode": "native" } } }"#,
            "pubsub.jobs.subscriptions.a.dead_letter_mode",
            "does not forward",
        ),
        (
            r#"{ "provider": "azure", "entity": "queues" }"#,
            "pubsub.jobs.entity",
            "",
        ),
    ];
    for (entry, field, words) in cases {
        let err = load(entry).expect_err(entry);
        assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
        assert!(err.message().contains(field), "{entry}: {err}");
        assert!(err.message().contains(words), "{entry}: {err}");
    }
    let ok = load(r#"{ "provider": "azure", "entity": "queue", "subscriptions": { "a": {} } }"#);
    assert!(ok.is_ok(), "{:?}", ok.err());
}
