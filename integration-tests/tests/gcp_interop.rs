//! Interop with Google's own Python clients (`google-cloud-storage`,
//! `google-cloud-pubsub`) on the GCP emulators: what Strata writes they
//! read, and the reverse — bytes, content types, metadata, attributes and
//! ordering keys intact.
//!
//! Needs the emulators and the tools venv: `localstack/emulators up gcs
//! pubsub`, `localstack/emulators install tools` and `eval
//! "$(localstack/emulators env)"` (sets `STRATA_TEST_TOOLS_BIN`,
//! `STORAGE_EMULATOR_HOST`, `PUBSUB_EMULATOR_HOST`). Nothing is skipped: a
//! missing piece fails the test, saying how to get it.

#![cfg(feature = "gcp")]
#![allow(clippy::unwrap_used)]

// Shared with gcp_emulators.rs; not every helper is used here.
#[allow(dead_code)]
#[path = "support/gcp_harness.rs"]
mod gcp_harness;
#[path = "support/tools_python.rs"]
mod tools_python;

use std::sync::Arc;
use std::time::{Duration, Instant};
use tools_python::run_python;

use bytes::Bytes;
use gcp_harness::{GCS, GcpObjectsHarness, GcpPubSubHarness, PROJECT, PUBSUB};
use strata_core::objects::{Bucket, PutOptions};
use strata_core::pubsub::{OutgoingMessage, SubscriptionDriver, Topic, TopicOptions};
use strata_core::testkit::pubsub::{HarnessSubscriptionOptions, PubSubHarness};

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `script` with the tools venv's Python, the emulator variables set;
/// returns its standard output. Fails the test on a non-zero exit or after
/// [`LIMIT`].
fn python(script: &str) -> String {
    let storage = GCS.endpoint();
    let pubsub = PUBSUB.endpoint();
    let pubsub_host = pubsub.trim_start_matches("http://");
    run_python(
        script,
        &[
            ("STORAGE_EMULATOR_HOST", &storage),
            ("PUBSUB_EMULATOR_HOST", pubsub_host),
            ("METADATA_SERVER_DETECTION", "none"),
            ("GOOGLE_CLOUD_PROJECT", PROJECT),
        ],
        LIMIT,
    )
}

/// The last line of `out`, as JSON.
fn json(out: &str) -> serde_json::Value {
    let line = out.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_written_by_strata_are_read_by_python_and_the_reverse() {
    let h = GcpObjectsHarness::new().await;
    let (name, driver) = h.gcs_bucket().await;
    let bucket = Bucket::new(&name, Arc::new(driver));
    let opts = PutOptions {
        content_type: Some("text/plain".into()),
        metadata: [("origin".to_owned(), "strata".to_owned())].into(),
        ..PutOptions::default()
    };
    bucket
        .upload("interop/strata é.txt", "written by Strata", opts)
        .await
        .unwrap();
    let script = format!(
        r#"
import json
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
client = storage.Client(project="{PROJECT}", credentials=AnonymousCredentials())
bucket = client.bucket("{name}")
blob = bucket.get_blob("interop/strata é.txt")
seen = {{"data": blob.download_as_bytes().decode(), "type": blob.content_type, "meta": blob.metadata}}
out = bucket.blob("interop/python.bin")
out.metadata = {{"origin": "python"}}
out.upload_from_string(b"\x00\x01from python", content_type="application/x-python")
print(json.dumps(seen))
"#
    );
    let seen = tokio::task::spawn_blocking(move || json(&python(&script)))
        .await
        .unwrap();
    assert_eq!(seen["data"], "written by Strata");
    assert_eq!(seen["type"], "text/plain");
    assert_eq!(seen["meta"]["origin"], "strata");

    let body = bucket.download("interop/python.bin").await.unwrap();
    assert_eq!(body, Bytes::from_static(b"\x00\x01from python"));
    let meta = bucket.attrs("interop/python.bin").await.unwrap();
    assert_eq!(meta.content_type.as_deref(), Some("application/x-python"));
    assert_eq!(
        meta.metadata.get("origin").map(String::as_str),
        Some("python")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_published_by_strata_reach_python_and_the_reverse() {
    let h = GcpPubSubHarness::new().await;
    let topic_name = h.unique("interop");
    let driver = h.topic(&topic_name).await.unwrap();
    let opts = HarnessSubscriptionOptions {
        ordering: true,
        ..HarnessSubscriptionOptions::default()
    };
    let (mine, theirs) = (h.unique("strata-sub"), h.unique("python-sub"));
    let sub = h.subscription(&topic_name, &mine, &opts).await.unwrap();
    h.subscription(&topic_name, &theirs, &opts).await.unwrap();

    let topic = Topic::new(&topic_name, driver, TopicOptions::default());
    let message = OutgoingMessage::new(&b"\xffbytes from Strata"[..])
        .with_attribute("origin", "strata")
        .with_ordering_key("k1");
    let id = topic.publish(message).await.unwrap();

    let script = format!(
        r#"
import json, time
from google.cloud import pubsub_v1
sub = pubsub_v1.SubscriberClient()
path = sub.subscription_path("{PROJECT}", "{theirs}")
got = None
deadline = time.time() + 30
while got is None and time.time() < deadline:
    resp = sub.pull(request={{"subscription": path, "max_messages": 1}}, timeout=10)
    for r in resp.received_messages:
        m = r.message
        got = {{"id": m.message_id, "data": m.data.hex(), "attrs": dict(m.attributes),
               "key": m.ordering_key}}
        sub.acknowledge(request={{"subscription": path, "ack_ids": [r.ack_id]}})
pub = pubsub_v1.PublisherClient(
    publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True))
tpath = pub.topic_path("{PROJECT}", "{topic_name}")
pub.publish(tpath, b"from python", ordering_key="k2", origin="python").result(timeout=30)
print(json.dumps(got))
"#
    );
    let got = tokio::task::spawn_blocking(move || json(&python(&script)))
        .await
        .unwrap();
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["data"], hex(b"\xffbytes from Strata"));
    assert_eq!(got["attrs"]["origin"], "strata");
    assert_eq!(got["key"], "k1");

    let delivery = receive_from(sub.as_ref(), "from python").await;
    assert_eq!(
        delivery.attributes.get("origin").map(String::as_str),
        Some("python")
    );
    assert_eq!(delivery.ordering_key.as_deref(), Some("k2"));
}

/// Receives (acking everything) until a message with `data` arrives.
async fn receive_from(sub: &dyn SubscriptionDriver, data: &str) -> strata_core::pubsub::Message {
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < LIMIT,
            "`{data}` did not arrive in {LIMIT:?}"
        );
        let got = sub.receive(10, Duration::from_secs(1)).await.unwrap();
        let handles = got.iter().map(|d| d.handle.clone()).collect();
        sub.ack(handles).await.unwrap();
        if let Some(d) = got.into_iter().find(|d| d.message.data == data.as_bytes()) {
            return d.message;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
