//! Interop with the official AWS clients: what Strata writes, boto3 and the
//! aws CLI read, and the reverse, on LocalStack and on moto.
//!
//! - S3: content type and user metadata survive both ways; metadata that is
//!   not printable ASCII reaches boto3 as RFC 2047 encoded-words.
//! - SNS → SQS: messages Strata publishes are read by boto3 from the
//!   subscription's queue with body and attributes intact (plus Strata's one
//!   reserved `strata` attribute, carrying the id publish returned); messages
//!   boto3 and the CLI publish to the SNS topic reach a Strata subscriber with
//!   their attributes, and nothing else. Attributes SNS refuses reach boto3
//!   inside the `strata` attribute.
//!
//! Needs the emulators and the tools venv: `localstack/emulators up localstack
//! moto` and `eval "$(localstack/emulators env)"` (sets
//! `STRATA_TEST_TOOLS_BIN`). Without them every test fails saying so.

#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used)]

// Shared with the conformance test files; only part of it is used here.
#[allow(dead_code)]
#[path = "support/aws_emulators.rs"]
mod aws_emulators;
#[allow(dead_code)]
#[path = "support/aws_harness.rs"]
mod aws_harness;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_emulators::{LOCALSTACK, MOTO};
use aws_harness::{Emulator, Names};
use serde_json::Value;
use strata_aws::{S3Bucket, S3BucketOptions, SnsTopic, SqsSubscription, SqsSubscriptionOptions};
use strata_core::objects::{Bucket, Metadata, PutOptions};
use strata_core::pubsub::{
    Message, OutgoingMessage, Subscriber, SubscriberOptions, Topic, TopicOptions, handler_fn,
};
use strata_integration_tests::aws_tools::Tools;

/// The longest any one step may take.
const LIMIT: Duration = Duration::from_secs(60);

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took over {LIMIT:?}"))
}

/// The tools for `emulator`; fails the test (never skips it) without them.
async fn tools(emulator: &Emulator) -> Tools {
    emulator.check_reachable().await;
    Tools::from_env(&emulator.endpoint()).unwrap_or_else(|err| panic!("{err}"))
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

fn metadata(pairs: &[(&str, &str)]) -> Metadata {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The `Metadata` object of a boto3 or CLI answer.
fn metadata_of(answer: &Value) -> Metadata {
    answer["Metadata"]
        .as_object()
        .unwrap_or_else(|| panic!("no Metadata in {answer}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// A fresh bucket, made by Strata (provisioning), as a portable `Bucket`.
async fn fresh_bucket(emulator: &Emulator, names: &Names) -> (String, Bucket) {
    let clients = emulator.clients().await;
    let name = names.unique("interop");
    let opts = S3BucketOptions {
        provision: true,
        ..S3BucketOptions::default()
    };
    let driver = bounded("open bucket", S3Bucket::open(&clients, &name, opts))
        .await
        .unwrap();
    (name.clone(), Bucket::new(name, Arc::new(driver)))
}

/// Reads an object with boto3: content type, metadata and body.
const BOTO3_GET_OBJECT: &str = r#"
import json, sys, boto3, botocore.config
endpoint, bucket, key = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint,
                  config=botocore.config.Config(s3={"addressing_style": "path"}))
o = s3.get_object(Bucket=bucket, Key=key)
print(json.dumps({"ContentType": o["ContentType"], "Metadata": o["Metadata"],
                  "Body": o["Body"].read().decode("utf-8")}))
"#;

/// Writes an object with boto3, with a content type and metadata.
const BOTO3_PUT_OBJECT: &str = r#"
import json, sys, boto3, botocore.config
endpoint, bucket, key, body, content_type, metadata = sys.argv[1:7]
s3 = boto3.client("s3", endpoint_url=endpoint,
                  config=botocore.config.Config(s3={"addressing_style": "path"}))
s3.put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8"),
              ContentType=content_type, Metadata=json.loads(metadata))
"#;

/// An object Strata uploads keeps its content type and metadata for boto3
/// (GetObject) and for the CLI (`s3api head-object`).
async fn objects_written_by_strata_are_read_by_boto3_and_the_cli(emulator: &Emulator) {
    let tools = tools(emulator).await;
    let (name, bucket) = fresh_bucket(emulator, &Names::new()).await;
    let key = "reports/2026/summary report.json";
    let body = r#"{"total": 42, "city": "Zürich"}"#;
    let content_type = "application/json; charset=utf-8";
    let meta = metadata(&[("owner", "ada lovelace"), ("trace-id", "abc-123")]);
    let opts = PutOptions {
        content_type: Some(content_type.into()),
        metadata: meta.clone(),
        ..PutOptions::default()
    };
    bounded("upload", bucket.upload(key, body, opts))
        .await
        .unwrap();

    let read = tools
        .python(BOTO3_GET_OBJECT, &[&name, key])
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let read = json(&read);
    assert_eq!(read["ContentType"], content_type, "boto3 got {read}");
    assert_eq!(metadata_of(&read), meta, "boto3 got {read}");
    assert_eq!(read["Body"], body, "boto3 got {read}");

    let head = tools
        .aws(&["s3api", "head-object", "--bucket", &name, "--key", key])
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let head = json(&head);
    assert_eq!(head["ContentType"], content_type, "the CLI got {head}");
    assert_eq!(metadata_of(&head), meta, "the CLI got {head}");
    assert_eq!(head["ContentLength"], body.len(), "the CLI got {head}");
}

/// Objects boto3 (PutObject) and the CLI (`s3api put-object`) write are read
/// by Strata with their content type and metadata.
async fn objects_written_by_boto3_and_the_cli_are_read_by_strata(emulator: &Emulator) {
    let tools = tools(emulator).await;
    let (name, bucket) = fresh_bucket(emulator, &Names::new()).await;

    let meta = metadata(&[("origin", "boto3"), ("batch", "7 of 9")]);
    let meta_json = serde_json::to_string(&meta).unwrap();
    let body = "written by boto3: ünïcödé";
    tools
        .python(
            BOTO3_PUT_OBJECT,
            &[
                &name,
                "from/boto3.txt",
                body,
                "text/plain; charset=utf-8",
                &meta_json,
            ],
        )
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let attrs = bounded("attrs", bucket.attrs("from/boto3.txt"))
        .await
        .unwrap();
    assert_eq!(
        attrs.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(attrs.metadata, meta);
    assert_eq!(attrs.size, body.len() as u64);
    let got = bounded("download", bucket.download("from/boto3.txt"))
        .await
        .unwrap();
    assert_eq!(got, body.as_bytes());

    let file = tempfile::NamedTempFile::new().unwrap();
    let csv = "id,name\n1,ada\n2,grace\n";
    std::fs::write(file.path(), csv).unwrap();
    tools
        .aws(&[
            "s3api",
            "put-object",
            "--bucket",
            &name,
            "--key",
            "from/cli.csv",
            "--body",
            &file.path().to_string_lossy(),
            "--content-type",
            "text/csv",
            "--metadata",
            "origin=aws-cli,rows=2",
        ])
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let attrs = bounded("attrs", bucket.attrs("from/cli.csv"))
        .await
        .unwrap();
    assert_eq!(attrs.content_type.as_deref(), Some("text/csv"));
    assert_eq!(
        attrs.metadata,
        metadata(&[("origin", "aws-cli"), ("rows", "2")])
    );
    let got = bounded("download", bucket.download("from/cli.csv"))
        .await
        .unwrap();
    assert_eq!(got, csv.as_bytes());
}

/// A topic with one subscription, both provisioned by Strata.
async fn topic_and_queue(emulator: &Emulator, names: &Names) -> (SnsTopic, SqsSubscription) {
    let clients = emulator.clients().await;
    let topic = bounded(
        "open topic",
        SnsTopic::open(&clients, &names.unique("interop"), false, true),
    )
    .await
    .unwrap();
    let opts = SqsSubscriptionOptions {
        provision: true,
        ..SqsSubscriptionOptions::default()
    };
    let sub = bounded(
        "open subscription",
        SqsSubscription::open(&clients, &topic, &names.unique("interop-sub"), &opts),
    )
    .await
    .unwrap();
    (topic, sub)
}

/// Receives (and deletes) `count` messages with boto3, printing body and
/// string attributes of each.
const BOTO3_RECEIVE: &str = r#"
import json, sys, time, boto3
endpoint, queue_url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
sqs = boto3.client("sqs", endpoint_url=endpoint)
got, deadline = [], time.time() + 30
while len(got) < count and time.time() < deadline:
    r = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                            MessageAttributeNames=["All"])
    for m in r.get("Messages", []):
        got.append({"body": m["Body"],
                    "attributes": {k: v.get("StringValue")
                                   for k, v in m.get("MessageAttributes", {}).items()}})
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
print(json.dumps(got))
"#;

/// Text messages Strata publishes to SNS are read by boto3 from the
/// subscription's queue: the body as published, each attribute with its
/// value, and Strata's `strata` attribute holding the id publish returned.
async fn messages_published_by_strata_are_read_by_boto3(emulator: &Emulator) {
    let tools = tools(emulator).await;
    let (driver, sub) = topic_and_queue(emulator, &Names::new()).await;
    let topic = Topic::new(
        driver.name().to_owned(),
        Arc::new(driver),
        TopicOptions::default(),
    );
    let sent = vec![
        OutgoingMessage::new("order 1 shipped")
            .with_attribute("kind", "order")
            .with_attribute("priority", "high"),
        OutgoingMessage::new(r#"{"city": "Zürich", "emoji": "🦀"}"#)
            .with_attribute("kind", "json")
            .with_attribute("city", "Zürich"),
        OutgoingMessage::new("line one\nline two\ttabbed").with_attribute("kind", "multiline"),
    ];
    let ids: Vec<String> = bounded("publish", topic.publish_many(sent.clone()))
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    bounded("close", topic.close()).await;

    let read = tools
        .python(BOTO3_RECEIVE, &[sub.queue_url(), &sent.len().to_string()])
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let read = json(&read);
    let read = read.as_array().unwrap();
    assert_eq!(read.len(), sent.len(), "boto3 read {read:?}");
    for (id, message) in ids.iter().zip(&sent) {
        let body = std::str::from_utf8(&message.data).unwrap();
        let found: Vec<&Value> = read.iter().filter(|m| m["body"] == body).collect();
        assert_eq!(found.len(), 1, "`{body}` once in {read:?}");
        let mut attributes: BTreeMap<String, String> = found[0]["attributes"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let meta = attributes
            .remove(strata_aws::pubsub::META_ATTRIBUTE)
            .unwrap_or_else(|| panic!("no `strata` attribute on {:?}", found[0]));
        assert_eq!(json(&meta)["id"], id.as_str(), "the id publish returned");
        let expected: BTreeMap<String, String> = message
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(attributes, expected, "attributes of `{body}`");
    }
}

/// Publishes with boto3 (Publish, and PublishBatch of two) to a topic, with
/// String and Number message attributes.
const BOTO3_PUBLISH: &str = r#"
import sys, boto3
endpoint, topic_arn = sys.argv[1:3]
sns = boto3.client("sns", endpoint_url=endpoint)
sns.publish(TopicArn=topic_arn, Message="from boto3: ünïcödé",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "invoice"},
                               "city": {"DataType": "String", "StringValue": "Zürich"},
                               "count": {"DataType": "Number", "StringValue": "42"}})
r = sns.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=[
    {"Id": "a", "Message": "batch a",
     "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "batch"}}},
    {"Id": "b", "Message": "batch b"},
])
assert not r.get("Failed"), r
"#;

/// Messages boto3 and the CLI publish to the SNS topic reach a Strata
/// subscriber with body and attributes exactly as published (Number values
/// as their text).
async fn messages_published_by_boto3_and_the_cli_reach_a_strata_subscriber(emulator: &Emulator) {
    let tools = tools(emulator).await;
    let (topic, sub) = topic_and_queue(emulator, &Names::new()).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Message>();
    let handler = handler_fn(move |message| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(message);
            Ok(())
        }
    });
    let opts = SubscriberOptions {
        receive_wait: Duration::from_millis(500),
        ..SubscriberOptions::default()
    };
    let subscriber = Subscriber::start(sub.queue_name().to_owned(), Arc::new(sub), handler, opts);

    tools
        .python(BOTO3_PUBLISH, &[topic.arn()])
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    tools
        .aws(&[
            "sns",
            "publish",
            "--topic-arn",
            topic.arn(),
            "--message",
            "from the aws CLI",
            "--message-attributes",
            r#"{"kind": {"DataType": "String", "StringValue": "cli"}}"#,
        ])
        .await
        .unwrap_or_else(|err| panic!("{err}"));

    let expected: BTreeMap<&str, Metadata> = [
        (
            "from boto3: ünïcödé",
            metadata(&[("kind", "invoice"), ("city", "Zürich"), ("count", "42")]),
        ),
        ("batch a", metadata(&[("kind", "batch")])),
        ("batch b", Metadata::new()),
        ("from the aws CLI", metadata(&[("kind", "cli")])),
    ]
    .into_iter()
    .collect();
    let mut got = BTreeMap::new();
    while got.len() < expected.len() {
        let message = bounded("delivery", rx.recv()).await.unwrap();
        let body = String::from_utf8(message.data.to_vec()).unwrap();
        let attributes: Metadata = message.attributes.into_iter().collect();
        assert!(
            got.insert(body.clone(), attributes).is_none(),
            "`{body}` delivered twice"
        );
    }
    let got: BTreeMap<&str, Metadata> = got.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    assert_eq!(got, expected);
    let stats = bounded("shutdown", subscriber.shutdown_with_stats())
        .await
        .unwrap();
    assert_eq!(stats.acked, expected.len() as u64, "{stats:?}");
}

/// Reads an object's metadata with boto3: as boto3 returns it, and each value
/// decoded by Python's own RFC 2047 decoder (`email.header`).
const BOTO3_HEAD_METADATA: &str = r#"
import json, sys, boto3, botocore.config
from email.header import decode_header, make_header
endpoint, bucket, key = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint,
                  config=botocore.config.Config(s3={"addressing_style": "path"}))
m = s3.head_object(Bucket=bucket, Key=key)["Metadata"]
print(json.dumps({"raw": m, "decoded": {k: str(make_header(decode_header(v))) for k, v in m.items()}}))
"#;

/// Metadata with non-ASCII text comes back to Strata exactly as stored;
/// boto3 reads RFC 2047 encoded-words (as S3 returns non-ASCII metadata),
/// which Python's standard decoder turns into the same text, and printable
/// ASCII as it is. An ASCII value S3 would change is `InvalidArgument`.
async fn non_ascii_metadata_round_trips_and_boto3_reads_encoded_words(emulator: &Emulator) {
    let tools = tools(emulator).await;
    let (name, bucket) = fresh_bucket(emulator, &Names::new()).await;
    let meta = metadata(&[
        ("note", "Grüße ✓ 日本"),
        ("plain", "ascii only"),
        ("spaced", " padded ü "),
    ]);
    let opts = PutOptions {
        metadata: meta.clone(),
        ..PutOptions::default()
    };
    bounded("upload", bucket.upload("meta.txt", "x", opts))
        .await
        .unwrap();
    let attrs = bounded("attrs", bucket.attrs("meta.txt")).await.unwrap();
    assert_eq!(attrs.metadata, meta, "what Strata reads back");

    let read = tools
        .python(BOTO3_HEAD_METADATA, &[&name, "meta.txt"])
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let read = json(&read);
    println!("boto3 reads {}", read["raw"]);
    let raw = read["raw"].as_object().unwrap();
    assert_eq!(
        raw["plain"], "ascii only",
        "printable ASCII is sent as it is"
    );
    let note = raw["note"].as_str().unwrap();
    // S3 and LocalStack answer `Q` encoding, moto keeps the `B` words sent.
    assert!(
        note.starts_with("=?UTF-8?"),
        "boto3 sees encoded-words: {note}"
    );
    assert_eq!(read["decoded"]["note"], "Grüße ✓ 日本", "boto3 got {read}");
    assert_eq!(read["decoded"]["spaced"], " padded ü ", "boto3 got {read}");

    // An ASCII value S3 would trim is refused rather than changed.
    let opts = PutOptions {
        metadata: metadata(&[("spaced", " padded ")]),
        ..PutOptions::default()
    };
    let err = bounded("upload", bucket.upload("trimmed.txt", "x", opts))
        .await
        .unwrap_err();
    assert_eq!(err.code(), strata_core::ErrorCode::InvalidArgument, "{err}");
}

/// Attributes SNS refuses (a name with `é`, the reserved `strata`, an `AWS.`
/// prefix) reach boto3 inside the `strata` attribute's JSON under `a`; the
/// others are ordinary message attributes.
async fn attribute_names_sns_refuses_reach_boto3_inside_the_strata_attribute(emulator: &Emulator) {
    let tools = tools(emulator).await;
    let (driver, sub) = topic_and_queue(emulator, &Names::new()).await;
    let topic = Topic::new(
        driver.name().to_owned(),
        Arc::new(driver),
        TopicOptions::default(),
    );
    let message = OutgoingMessage::new("names")
        .with_attribute("plain", "v")
        .with_attribute("clé.ü", "Grüße")
        .with_attribute("strata", "mine")
        .with_attribute("AWS.tag", "t");
    bounded("publish", topic.publish(message)).await.unwrap();
    bounded("close", topic.close()).await;
    let read = tools
        .python(BOTO3_RECEIVE, &[sub.queue_url(), "1"])
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let read = json(&read);
    println!("boto3 reads {read}");
    let attributes = read[0]["attributes"].as_object().unwrap();
    let names: Vec<&str> = attributes.keys().map(String::as_str).collect();
    assert_eq!(names, ["plain", strata_aws::pubsub::META_ATTRIBUTE]);
    assert_eq!(attributes["plain"], "v");
    let meta = json(
        attributes[strata_aws::pubsub::META_ATTRIBUTE]
            .as_str()
            .unwrap(),
    );
    assert_eq!(
        meta["a"],
        serde_json::json!({ "clé.ü": "Grüße", "strata": "mine", "AWS.tag": "t" }),
        "{meta}"
    );
}

/// One `#[tokio::test]` per interop case for `$emulator`, in `mod $module`.
macro_rules! interop_tests {
    ($module:ident, $emulator:ident, [$($case:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&super::$emulator).await;
                }
            )*
        }
    };
}

interop_tests!(
    localstack,
    LOCALSTACK,
    [
        objects_written_by_strata_are_read_by_boto3_and_the_cli,
        objects_written_by_boto3_and_the_cli_are_read_by_strata,
        messages_published_by_strata_are_read_by_boto3,
        messages_published_by_boto3_and_the_cli_reach_a_strata_subscriber,
        non_ascii_metadata_round_trips_and_boto3_reads_encoded_words,
        attribute_names_sns_refuses_reach_boto3_inside_the_strata_attribute,
    ]
);

interop_tests!(
    moto,
    MOTO,
    [
        objects_written_by_strata_are_read_by_boto3_and_the_cli,
        objects_written_by_boto3_and_the_cli_are_read_by_strata,
        messages_published_by_strata_are_read_by_boto3,
        messages_published_by_boto3_and_the_cli_reach_a_strata_subscriber,
        non_ascii_metadata_round_trips_and_boto3_reads_encoded_words,
        attribute_names_sns_refuses_reach_boto3_inside_the_strata_attribute,
    ]
);
