//! Interop with Microsoft's Python `azure-servicebus` on a private Service
//! Bus emulator: what Strata publishes the SDK receives (body, application
//! properties, content type, session id), what the SDK sends (single and
//! batch) a Strata subscription receives with exactly those attributes, and
//! a message Strata dead-letters the SDK reads from `$DeadLetterQueue` with
//! its reason.
//!
//! Needs the tools venv with `azure-servicebus` (`STRATA_TEST_TOOLS_BIN`,
//! see `localstack/emulators install tools`) and the emulator binary.

#![cfg(feature = "azure")]
#![allow(clippy::unwrap_used)]

#[path = "support/servicebus_emulator.rs"]
mod servicebus_emulator;
#[allow(dead_code)]
#[path = "support/servicebus_harness.rs"]
mod servicebus_harness;
#[path = "support/tools_python.rs"]
mod tools_python;

use std::time::Duration;

use servicebus_emulator::PrivateServiceBus;
use servicebus_harness::namespace;
use strata_azure::{ServiceBusSubscription, ServiceBusSubscriptionOptions, ServiceBusTopic};
use strata_core::pubsub::{OutgoingMessage, SubscriptionDriver, TopicDriver};

/// How long one Python run may take.
const LIMIT: Duration = Duration::from_secs(90);

/// Runs `script` with `SB_CONN` set to the emulator's connection string;
/// returns its last output line as JSON.
async fn python(emulator: &PrivateServiceBus, script: &str) -> serde_json::Value {
    let cs = emulator.connection_string();
    let script = script.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        tools_python::run_python(&script, &[("SB_CONN", cs.as_str())], LIMIT)
    })
    .await
    .unwrap();
    let last = out.lines().last().unwrap_or_default().to_owned();
    serde_json::from_str(&last).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn options(ordering: bool, explicit_dead_letter: bool) -> ServiceBusSubscriptionOptions {
    ServiceBusSubscriptionOptions {
        lease: Duration::from_secs(30),
        provision: true,
        ordering,
        explicit_dead_letter,
        ..ServiceBusSubscriptionOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_strata_publishes_are_received_by_the_python_sdk() {
    let emulator = PrivateServiceBus::start();
    let ns = namespace(&emulator);
    let plain = ServiceBusTopic::open(ns.clone(), "interop-out", true)
        .await
        .unwrap();
    let _plain_sub = ServiceBusSubscription::open(&plain, "py", &options(false, true))
        .await
        .unwrap();
    let keyed = ServiceBusTopic::open(ns.clone(), "interop-keyed", true)
        .await
        .unwrap();
    let _keyed_sub = ServiceBusSubscription::open(&keyed, "py", &options(true, true))
        .await
        .unwrap();
    let results = plain
        .publish_batch(vec![
            OutgoingMessage::new("héllo bytes")
                .with_attribute("origin", "strata")
                .with_attribute("strata.content_type", "text/plain; charset=utf-8"),
        ])
        .await;
    let id = results.into_iter().next().unwrap().unwrap();
    let keyed_results = keyed
        .publish_batch(vec![
            OutgoingMessage::new("in a session").with_ordering_key("customer-7"),
        ])
        .await;
    assert!(keyed_results[0].is_ok(), "{keyed_results:?}");
    let got = python(
        &emulator,
        r#"
import json, os
from azure.servicebus import ServiceBusClient
out = {}
with ServiceBusClient.from_connection_string(os.environ["SB_CONN"]) as client:
    with client.get_subscription_receiver("interop-out", "py", max_wait_time=10) as r:
        msgs = r.receive_messages(max_message_count=1, max_wait_time=10)
        m = msgs[0]
        out["body"] = b"".join(m.body).decode("utf-8")
        out["props"] = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                        for k, v in (m.application_properties or {}).items()}
        out["content_type"] = m.content_type
        out["message_id"] = m.message_id
        out["delivery_count"] = m.delivery_count
        r.complete_message(m)
    with client.get_subscription_receiver("interop-keyed", "py", session_id="customer-7", max_wait_time=10) as r:
        m = r.receive_messages(max_message_count=1, max_wait_time=10)[0]
        out["session_id"] = m.session_id
        out["session_body"] = b"".join(m.body).decode("utf-8")
        r.complete_message(m)
print(json.dumps(out))
"#,
    )
    .await;
    assert_eq!(got["body"], "héllo bytes");
    assert_eq!(got["props"], serde_json::json!({ "origin": "strata" }));
    assert_eq!(got["content_type"], "text/plain; charset=utf-8");
    assert_eq!(got["message_id"], id);
    assert_eq!(got["delivery_count"], 0);
    assert_eq!(got["session_id"], "customer-7");
    assert_eq!(got["session_body"], "in a session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_the_python_sdk_sends_are_received_by_strata() {
    let emulator = PrivateServiceBus::start();
    let ns = namespace(&emulator);
    let topic = ServiceBusTopic::open(ns, "interop-in", true).await.unwrap();
    let sub = ServiceBusSubscription::open(&topic, "strata", &options(false, true))
        .await
        .unwrap();
    let sent = python(
        &emulator,
        r#"
import json, os
from azure.servicebus import ServiceBusClient, ServiceBusMessage
with ServiceBusClient.from_connection_string(os.environ["SB_CONN"]) as client:
    with client.get_topic_sender("interop-in") as s:
        s.send_messages(ServiceBusMessage(b"single", application_properties={"kind": "single", "n": "1"},
                                          content_type="application/json", message_id="py-1"))
        batch = s.create_message_batch()
        for i in range(3):
            batch.add_message(ServiceBusMessage(f"batch-{i}".encode(), application_properties={"kind": "batch", "n": str(i)},
                                                message_id=f"py-b{i}"))
        s.send_messages(batch)
print(json.dumps({"sent": 4}))
"#,
    )
    .await;
    assert_eq!(sent["sent"], 4);
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while got.len() < 4 && tokio::time::Instant::now() < deadline {
        let deliveries = sub.receive(10, Duration::from_secs(2)).await.unwrap();
        let handles = deliveries.iter().map(|d| d.handle.clone()).collect();
        got.extend(deliveries.into_iter().map(|d| d.message));
        sub.ack(handles).await.unwrap();
    }
    got.sort_by(|a, b| a.id.cmp(&b.id));
    let ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["py-1", "py-b0", "py-b1", "py-b2"]);
    let single = &got[0];
    assert_eq!(&single.data[..], b"single");
    assert_eq!(
        single.attributes,
        [
            ("kind".to_owned(), "single".to_owned()),
            ("n".to_owned(), "1".to_owned()),
            (
                "strata.content_type".to_owned(),
                "application/json".to_owned()
            ),
        ]
        .into()
    );
    assert_eq!(single.delivery_attempt, 1);
    for (i, m) in got[1..].iter().enumerate() {
        assert_eq!(m.data, format!("batch-{i}").as_bytes());
        assert_eq!(
            m.attributes,
            [
                ("kind".to_owned(), "batch".to_owned()),
                ("n".to_owned(), i.to_string()),
            ]
            .into()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_strata_dead_letters_is_read_from_the_dead_letter_queue_with_its_reason() {
    let emulator = PrivateServiceBus::start();
    let ns = namespace(&emulator);
    let topic = ServiceBusTopic::open(ns, "interop-dead", true)
        .await
        .unwrap();
    let sub = ServiceBusSubscription::open(&topic, "strata", &options(false, true))
        .await
        .unwrap();
    let results = topic
        .publish_batch(vec![
            OutgoingMessage::new("poison").with_attribute("origin", "strata"),
        ])
        .await;
    assert!(results[0].is_ok(), "{results:?}");
    // `receive` may return empty before its wait is up (a link attached
    // afresh); ask again until a deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let delivery = loop {
        if let Some(d) = sub.receive(1, Duration::from_secs(2)).await.unwrap().pop() {
            break d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the message is not delivered in 30 s"
        );
    };
    sub.dead_letter(delivery.handle, "handler failed 5 times: boom")
        .await
        .unwrap();
    let got = python(
        &emulator,
        r#"
import json, os
from azure.servicebus import ServiceBusClient, ServiceBusSubQueue
with ServiceBusClient.from_connection_string(os.environ["SB_CONN"]) as client:
    with client.get_subscription_receiver("interop-dead", "strata", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=10) as r:
        m = r.receive_messages(max_message_count=1, max_wait_time=10)[0]
        out = {"body": b"".join(m.body).decode(), "reason": m.dead_letter_reason,
               "description": m.dead_letter_error_description}
        r.complete_message(m)
print(json.dumps(out))
"#,
    )
    .await;
    assert_eq!(got["body"], "poison");
    assert_eq!(got["reason"], "handler failed 5 times: boom");
    assert_eq!(got["description"], "handler failed 5 times: boom");
}
