//! Interop with the official Python client (`nats-py`, in the tools venv):
//! a message published by Python reaches a Strata subscriber with its
//! headers as attributes, and one published by Strata reaches a Python
//! consumer of the same stream with its attributes as headers. An attribute
//! a header cannot carry unchanged (a name that is not printable ASCII
//! without `:`, a value with a line break) is read by Python inside one
//! `Strata-Attributes` header, a JSON object `{name: value}`; one Python puts
//! there reaches Strata as an attribute. On a private `nats-server -js`.
//!
//! Needs the tools venv: `localstack/emulators install tools` and
//! `eval "$(localstack/emulators env)"` (sets `STRATA_TEST_TOOLS_BIN`).

#![allow(clippy::unwrap_used)]

#[path = "support/nats_server.rs"]
mod nats_server;
#[path = "support/tools_python.rs"]
mod tools_python;

use std::time::Duration;
use tools_python::run_python;

use strata_core::pubsub::{OutgoingMessage, SubscriptionDriver, TopicDriver};
use strata_nats::{NatsClient, NatsOptions, NatsSubscription, NatsTopic};

use nats_server::PrivateNats;

const LIMIT: Duration = Duration::from_secs(30);

/// Runs `script` with the tools venv's Python; returns its standard output.
fn python(script: &str) -> String {
    run_python(script, &[], LIMIT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_between_strata_and_nats_py_with_headers_as_attributes() {
    let server = PrivateNats::start(&[]);
    let options = NatsOptions {
        provision: true,
        ..NatsOptions::new(server.url())
    };
    let client = NatsClient::connect(&options).await.unwrap();
    let topic = NatsTopic::open(&client, "interop.v1", &options)
        .await
        .unwrap();
    let strata_sub = NatsSubscription::open(&client, &topic, "strata-sub", LIMIT, true, false)
        .await
        .unwrap();
    // Python's consumer is a durable of the same stream, made here so it
    // exists before anything is published.
    NatsSubscription::open(&client, &topic, "py-sub", LIMIT, true, false)
        .await
        .unwrap();
    let results = topic
        .publish_batch(vec![
            OutgoingMessage::new("from strata")
                .with_attribute("origin", "strata")
                .with_attribute("strata.trace", "t-1")
                .with_attribute("clé.ü", "Grüße")
                .with_attribute("a:b", "x")
                .with_attribute("lines", "a\nb"),
        ])
        .await;
    assert!(results[0].is_ok(), "{results:?}");

    let script = format!(
        r#"
import asyncio, json, nats

async def main():
    nc = await nats.connect("{url}")
    js = nc.jetstream()
    ack = await js.publish("{subject}", b"from python",
                           headers={{"origin": "python", "Strata-Ordering-Key": "k1",
                                    "Strata-Attributes": json.dumps({{"日本": "語"}})}})
    psub = await js.pull_subscribe_bind(durable="py-sub", stream="{stream}")
    seen = []
    deadline = asyncio.get_running_loop().time() + 20
    while len(seen) < 2 and asyncio.get_running_loop().time() < deadline:
        try:
            msgs = await psub.fetch(2, timeout=2)
        except nats.errors.TimeoutError:
            continue
        for m in msgs:
            seen.append({{"data": m.data.decode(), "headers": dict(m.headers or {{}})}})
            await m.ack()
    print(json.dumps({{"seq": ack.seq, "seen": seen}}))
    await nc.drain()

asyncio.run(main())
"#,
        url = server.url(),
        subject = topic.subject(),
        stream = topic.stream(),
    );
    let out = tokio::task::spawn_blocking(move || python(&script))
        .await
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let seen = report["seen"].as_array().unwrap();
    let from_strata = seen
        .iter()
        .find(|m| m["data"] == "from strata")
        .unwrap_or_else(|| panic!("Python did not see Strata's message: {report}"));
    assert_eq!(from_strata["headers"]["origin"], "strata", "{report}");
    assert_eq!(from_strata["headers"]["strata.trace"], "t-1", "{report}");
    // What a NATS header cannot carry unchanged, Python reads as one JSON
    // object in `Strata-Attributes`.
    let carried: serde_json::Value = serde_json::from_str(
        from_strata["headers"]["Strata-Attributes"]
            .as_str()
            .unwrap_or_else(|| panic!("no Strata-Attributes header: {report}")),
    )
    .unwrap();
    assert_eq!(
        carried,
        serde_json::json!({"clé.ü": "Grüße", "a:b": "x", "lines": "a\nb"}),
        "{report}"
    );
    assert_eq!(
        from_strata["headers"].as_object().unwrap().len(),
        3,
        "origin, strata.trace and Strata-Attributes: {report}"
    );

    let mut got = Vec::new();
    let started = tokio::time::Instant::now();
    while got.len() < 2 {
        assert!(started.elapsed() < LIMIT, "Strata received {got:?}");
        let deliveries = strata_sub
            .receive(10, Duration::from_millis(500))
            .await
            .unwrap();
        strata_sub
            .ack(deliveries.iter().map(|d| d.handle.clone()).collect())
            .await
            .unwrap();
        got.extend(deliveries.into_iter().map(|d| d.message));
    }
    let from_python = got
        .iter()
        .find(|m| m.data.as_ref() == b"from python")
        .unwrap();
    assert_eq!(
        from_python.attributes.get("origin").map(String::as_str),
        Some("python")
    );
    assert_eq!(from_python.ordering_key.as_deref(), Some("k1"));
    assert_eq!(
        from_python.attributes.get("日本").map(String::as_str),
        Some("語"),
        "a foreign publisher's Strata-Attributes are attributes"
    );
    assert!(!from_python.attributes.contains_key("Strata-Attributes"));
    assert!(
        !from_python.attributes.contains_key("Strata-Ordering-Key"),
        "{:?}",
        from_python.attributes
    );
    assert_eq!(
        from_python.id,
        report["seq"].to_string(),
        "the id is the stream sequence"
    );
}
