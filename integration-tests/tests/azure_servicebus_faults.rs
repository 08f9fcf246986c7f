//! The Service Bus provider across a broker restart: a durable private
//! emulator is killed and started again on the same port while messages
//! are published and consumed through `Topic` and `Subscriber`. Publishes
//! fail only while it is down, and then typed (`Unavailable`); every
//! publish that resolved is delivered after the reconnect; duplicates are
//! counted and printed (at least once). Bounded in count and time,
//! loopback only.
//!
//! `cargo test -p strata-integration-tests --features strata-integration-tests/azure
//! --test azure_servicebus_faults -- --nocapture` prints the counts.

#![cfg(feature = "azure")]
#![allow(clippy::unwrap_used)]

#[path = "support/servicebus_emulator.rs"]
mod servicebus_emulator;
#[allow(dead_code)]
#[path = "support/servicebus_harness.rs"]
mod servicebus_harness;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use servicebus_emulator::PrivateServiceBus;
use servicebus_harness::namespace;
use strata_azure::{ServiceBusSubscription, ServiceBusSubscriptionOptions, ServiceBusTopic};
use strata_core::ErrorCode;
use strata_core::pubsub::{
    OutgoingMessage, Subscriber, SubscriberOptions, Topic, TopicOptions, handler_fn,
};

/// The topic and subscription, in the config: the emulator's journal keeps
/// messages, not entities made through the management API.
const CONFIG: &str = r#"{"UserConfig":{"Namespaces":[{"Name":"sbemulatorns","Queues":[],
  "Topics":[{"Name":"faults","Properties":{},"Subscriptions":[{"Name":"strata",
  "Properties":{"LockDuration":"PT30S","MaxDeliveryCount":2000}}]}]}],
  "Logging":{"Type":"Console"}}}"#;

/// Messages published in all, as the issue asks: enough that the sender
/// link runs through its credit many times over, before and after the
/// restart gives the topic a new link.
const MESSAGES: usize = 10_000;
/// Published before the kill.
const BEFORE_KILL: usize = 4_000;
/// Published while the broker is down (and as it comes back).
const DURING_OUTAGE: usize = 200;
/// Publishes in flight at once.
const IN_FLIGHT: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_loses_no_resolved_publish_and_fails_only_typed() {
    let mut emulator = PrivateServiceBus::start_durable(CONFIG);
    let ns = namespace(&emulator);
    let driver = ServiceBusTopic::open(ns.clone(), "faults", false)
        .await
        .unwrap();
    let sub =
        ServiceBusSubscription::open(&driver, "strata", &ServiceBusSubscriptionOptions::default())
            .await
            .unwrap();
    let topic = Topic::new("faults", Arc::new(driver), TopicOptions::default());
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let record = seen.clone();
    let handler = handler_fn(move |message| {
        let record = record.clone();
        async move {
            *record
                .lock()
                .unwrap()
                .entry(String::from_utf8_lossy(&message.data).into_owned())
                .or_default() += 1;
            Ok(())
        }
    });
    let subscriber = Subscriber::start(
        "strata",
        Arc::new(sub),
        handler,
        SubscriberOptions::default(),
    );

    let publish = |range: std::ops::Range<usize>| {
        let topic = topic.clone();
        async move {
            futures::stream::iter(range)
                .map(|i| {
                    let topic = topic.clone();
                    async move {
                        let body = format!("m{i}");
                        let result = tokio::time::timeout(
                            Duration::from_secs(90),
                            topic.publish(OutgoingMessage::new(body.clone())),
                        )
                        .await
                        .expect("a publish hung for 90 s");
                        (body, result.map_err(|e| e.code()))
                    }
                })
                .buffer_unordered(IN_FLIGHT)
                .collect::<Vec<_>>()
                .await
        }
    };
    let mut results = publish(0..BEFORE_KILL).await;
    emulator.kill();
    let during = tokio::spawn(publish(BEFORE_KILL..BEFORE_KILL + DURING_OUTAGE));
    tokio::time::sleep(Duration::from_secs(2)).await;
    emulator.restart();
    results.extend(during.await.unwrap());
    results.extend(publish(BEFORE_KILL + DURING_OUTAGE..MESSAGES).await);

    let resolved: HashSet<String> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(b, _)| b.clone())
        .collect();
    let failures: Vec<ErrorCode> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().err().copied())
        .collect();
    for code in &failures {
        assert_eq!(*code, ErrorCode::Unavailable, "a publish failed untyped");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let missing = {
            let seen = seen.lock().unwrap();
            resolved.iter().filter(|b| !seen.contains_key(*b)).count()
        };
        if missing == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{missing} resolved publishes were never delivered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::timeout(Duration::from_secs(60), subscriber.shutdown())
        .await
        .expect("the subscriber drained")
        .unwrap();
    let seen = seen.lock().unwrap();
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    let extra = seen.keys().filter(|b| !resolved.contains(*b)).count();
    println!(
        "published {MESSAGES}: {} resolved, {} failed (Unavailable), {} delivered, \
         {duplicates} duplicate deliveries, {extra} delivered whose publish had failed",
        resolved.len(),
        failures.len(),
        seen.len()
    );
    assert!(
        resolved.len() >= MESSAGES - DURING_OUTAGE,
        "only publishes during the outage may fail"
    );
}
