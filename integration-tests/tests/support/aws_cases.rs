//! What the AWS provider promises beyond the portable suites, run against an
//! emulator: size limits, payload encoding, the errors a user meets, dead
//! letters with several subscriptions, multipart aborts, signed and public
//! URLs. `aws_behaviour!(EMULATOR)` makes one test of each.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use strata_aws::{
    AwsClients, AwsCredentials, AwsSettings, S3Bucket, S3BucketOptions, SnsTopic, SqsSubscription,
    SqsSubscriptionOptions,
};
use strata_core::ErrorCode;
use strata_core::objects::{Bucket, PutOptions, SignedUrlMethod, SignedUrlOptions};
use strata_core::pubsub::{
    DEAD_LETTER_REASON_ATTRIBUTE, DeadLetterPolicy, Delivery, HandlerError, OutgoingMessage,
    Subscriber, SubscriberOptions, SubscriptionDriver, Topic, TopicDriver, TopicOptions,
    handler_fn,
};
use strata_core::testkit::pubsub::{HarnessSubscriptionOptions, PubSubHarness};

use super::aws_harness::{AwsObjectsHarness, AwsPubSubHarness, Emulator, Names};
use super::aws_http;

const LIMIT: Duration = Duration::from_secs(60);

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took over {LIMIT:?}"))
}

/// Receives (and acks) until `count` deliveries arrived; fails after LIMIT.
async fn receive_count(sub: &dyn SubscriptionDriver, count: usize) -> Vec<Delivery> {
    let started = Instant::now();
    let mut got = Vec::new();
    while got.len() < count {
        assert!(
            started.elapsed() < LIMIT,
            "received {} of {count} messages in {LIMIT:?}",
            got.len()
        );
        let batch = bounded("receive", sub.receive(10, Duration::from_secs(1)))
            .await
            .unwrap();
        let handles = batch.iter().map(|d| d.handle.clone()).collect();
        bounded("ack", sub.ack(handles)).await.unwrap();
        got.extend(batch);
    }
    got
}

/// A topic and one plain subscription on it.
async fn topic_and_subscription(
    h: &AwsPubSubHarness,
    base: &str,
) -> (SnsTopic, Arc<dyn SubscriptionDriver>) {
    let name = h.unique(base);
    let topic = h.sns_topic(&name).await.unwrap();
    let sub_name = h.unique(&format!("{base}-sub"));
    let sub = h
        .subscription(&name, &sub_name, &HarnessSubscriptionOptions::default())
        .await
        .unwrap();
    (topic, sub)
}

/// A message of exactly `max_message_bytes` goes through whole; one byte
/// more, a binary payload too large once base64-encoded, and too many
/// attributes are `InvalidArgument` before anything is sent.
pub async fn message_size_limits(emulator: &Emulator) {
    let h = AwsPubSubHarness::new(emulator).await;
    let (topic, sub) = topic_and_subscription(&h, "size").await;
    let max = topic.capabilities().max_message_bytes;
    let mut crowded = OutgoingMessage::new("crowded");
    for i in 0..10 {
        crowded = crowded.with_attribute(format!("a{i}"), "v");
    }
    let batch = vec![
        OutgoingMessage::new(vec![b'a'; max]),
        OutgoingMessage::new(vec![b'a'; max + 1]),
        OutgoingMessage::new(vec![0xff_u8; 200 * 1024]),
        crowded,
    ];
    let results = bounded("publish_batch", topic.publish_batch(batch)).await;
    assert!(results[0].is_ok(), "the largest message: {:?}", results[0]);
    for (i, needle) in [
        (1, max.to_string()),
        (2, "base64".into()),
        (3, "at most 9".into()),
    ] {
        match &results[i] {
            Err(err) => {
                assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
                assert!(err.message().contains(&needle), "{needle} in: {err}");
            }
            Ok(id) => panic!("message {i} was published as {id}"),
        }
    }
    let got = receive_count(sub.as_ref(), 1).await;
    assert_eq!(got.len(), 1, "only the valid message was sent");
    assert_eq!(got[0].message.data.len(), max);
    assert!(got[0].message.data.iter().all(|&b| b == b'a'));
    let extra = bounded("receive", sub.receive(10, Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(
        extra.is_empty(),
        "nothing else arrives: {} more",
        extra.len()
    );
}

/// Binary payloads, empty payloads, empty attribute values, `\r\n` and
/// Unicode survive SNS and SQS as published.
pub async fn payloads_and_attributes_round_trip_exactly(emulator: &Emulator) {
    let h = AwsPubSubHarness::new(emulator).await;
    let (topic, sub) = topic_and_subscription(&h, "payload").await;
    let messages = vec![
        OutgoingMessage::new(vec![0u8, 1, 2, 0xfe, 0xff, b'\n']).with_attribute("kind", "binary"),
        OutgoingMessage::new(Bytes::new())
            .with_attribute("kind", "empty")
            .with_attribute("note", ""),
        OutgoingMessage::new("line one\r\nline two").with_attribute("kind", "crlf"),
        OutgoingMessage::new("ünïcödé 🦀 text")
            .with_attribute("kind", "unicode")
            .with_attribute("city", "Zürich")
            .with_ordering_key("key-1"),
    ];
    let expected: Vec<OutgoingMessage> = messages.clone();
    let ids: Vec<String> = bounded("publish", topic.publish_batch(messages))
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let got: HashMap<String, Delivery> = receive_count(sub.as_ref(), expected.len())
        .await
        .into_iter()
        .map(|d| (d.message.id.clone(), d))
        .collect();
    assert_eq!(got.len(), expected.len(), "each message once");
    for (id, sent) in ids.iter().zip(&expected) {
        let delivered = &got
            .get(id)
            .unwrap_or_else(|| panic!("message {id} not delivered"))
            .message;
        assert_eq!(
            delivered.data, sent.data,
            "payload of {:?}",
            sent.attributes
        );
        assert_eq!(delivered.attributes, sent.attributes);
        assert_eq!(delivered.ordering_key, sent.ordering_key);
        assert_eq!(delivered.delivery_attempt, 1);
    }
}

/// Without provisioning, a missing topic, queue, subscription or bucket is
/// `NotFound`, and the message names it and the fix.
pub async fn missing_resources_without_provision_name_the_fix(emulator: &Emulator) {
    let clients = emulator.clients().await;
    let names = Names::new();
    let topic_name = names.unique("nothing");
    let err = bounded("open", SnsTopic::open(&clients, &topic_name, false, false))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(
        err.message().contains(&topic_name) && err.message().contains("provision"),
        "{err}"
    );

    let topic_name = names.unique("lonely");
    let topic = SnsTopic::open(&clients, &topic_name, false, true)
        .await
        .unwrap();
    let queue = names.unique("noqueue");
    let opts = SqsSubscriptionOptions::default();
    let err = bounded(
        "open",
        SqsSubscription::open(&clients, &topic, &queue, &opts),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(
        err.message().contains(&queue) && err.message().contains("provision"),
        "{err}"
    );

    // A queue that exists but is not subscribed to the topic.
    clients
        .sqs()
        .create_queue()
        .queue_name(&queue)
        .send()
        .await
        .unwrap();
    let err = bounded(
        "open",
        SqsSubscription::open(&clients, &topic, &queue, &opts),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(err.message().contains("subscribe"), "{err}");

    let bucket = names.unique("nobucket");
    let err = bounded(
        "open",
        S3Bucket::open(&clients, &bucket, S3BucketOptions::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(
        err.message().contains(&bucket) && err.message().contains("provision"),
        "{err}"
    );
}

/// A closed port as endpoint: `Unavailable` within seconds, naming it.
pub async fn wrong_endpoint_fails_fast_as_unavailable(emulator: &Emulator) {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let settings = AwsSettings {
        endpoint: Some(endpoint.clone()),
        ..emulator.settings()
    };
    let clients = AwsClients::connect(&settings).await.unwrap();
    let started = Instant::now();
    let err = bounded("open", SnsTopic::open(&clients, "t", false, true))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    assert!(err.message().contains(&endpoint), "{err}");
    let err = bounded(
        "open",
        S3Bucket::open(&clients, "b", S3BucketOptions::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(20),
        "two failures took {elapsed:?}"
    );
}

/// Anonymous settings make unsigned requests and claim no signed URLs. Where
/// the emulator keeps objects private as S3 does (moto), reading another's
/// object anonymously is `PermissionDenied`, saying to check the
/// credentials; LocalStack serves it. (Neither emulator checks signatures by
/// default, so wrong keys cannot be shown to fail.)
pub async fn anonymous_credentials_make_no_signed_urls(emulator: &Emulator) {
    let h = AwsObjectsHarness::new(emulator).await;
    let (name, signed) = h.s3_bucket().await;
    Bucket::new(&name, Arc::new(signed))
        .upload("private.txt", "signed upload", PutOptions::default())
        .await
        .unwrap();
    let settings = AwsSettings {
        credentials: AwsCredentials::Anonymous,
        ..emulator.settings()
    };
    let clients = AwsClients::connect(&settings).await.unwrap();
    let driver = bounded(
        "open",
        S3Bucket::open(&clients, &name, S3BucketOptions::default()),
    )
    .await
    .unwrap();
    let bucket = Bucket::new(&name, Arc::new(driver));
    assert!(!bucket.capabilities().signed_urls);
    let opts = SignedUrlOptions {
        method: SignedUrlMethod::Get,
        ttl: Duration::from_secs(60),
        content_type: None,
    };
    let err = bucket.signed_url("private.txt", opts).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unsupported, "{err}");
    let read = bounded("download", bucket.download("private.txt")).await;
    if emulator.private_objects {
        let err = read.unwrap_err();
        assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
        assert!(err.message().contains("credentials"), "{err}");
    } else {
        assert_eq!(read.unwrap(), "signed upload");
    }
}

/// A dead-letter topic with two subscriptions: the subscription does not
/// redrive natively (one queue only would get the letters), the engine
/// publishes each dead letter to the topic, and both subscriptions get all.
pub async fn dead_letters_reach_every_subscription_of_the_dead_letter_topic(emulator: &Emulator) {
    let h = AwsPubSubHarness::new(emulator).await;
    let plain = HarnessSubscriptionOptions::default();
    let dl_name = h.unique("dl2");
    let dl_driver = h.topic(&dl_name).await.unwrap();
    let mut letter_boxes = Vec::new();
    for _ in 0..2 {
        let sub = h
            .subscription(&dl_name, &h.unique("dl2-sub"), &plain)
            .await
            .unwrap();
        letter_boxes.push(sub);
    }
    let name = h.unique("doomed2");
    let driver = h.topic(&name).await.unwrap();
    let max_attempts = 2;
    let opts = HarnessSubscriptionOptions {
        dead_letter_topic: Some(dl_name.clone()),
        max_attempts: Some(max_attempts),
        ..HarnessSubscriptionOptions::default()
    };
    let sub_name = h.unique("doomed2-sub");
    let sub = h.subscription(&name, &sub_name, &opts).await.unwrap();
    assert!(
        !sub.capabilities().native_dead_letter,
        "two subscriptions: emulated"
    );
    let dl_topic = Topic::new(&dl_name, dl_driver, TopicOptions::default());
    let sub_opts = SubscriberOptions {
        dead_letter: Some(DeadLetterPolicy {
            max_attempts,
            topic: Some(dl_topic.clone()),
        }),
        receive_wait: Duration::from_millis(200),
        ..SubscriberOptions::default()
    };
    let failing = handler_fn(|_| async { Err(HandlerError::from("always fails")) });
    let subscriber = Subscriber::start(&sub_name, sub, failing, sub_opts);
    let sent = 3;
    let messages = (0..sent)
        .map(|i| OutgoingMessage::new(format!("dead-{i}")))
        .collect();
    let ids: Vec<String> = bounded("publish", driver.publish_batch(messages))
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(ids.len(), sent);
    for letters in &letter_boxes {
        let got = receive_count(letters.as_ref(), sent).await;
        let mut data: Vec<String> = got
            .iter()
            .map(|d| String::from_utf8_lossy(&d.message.data).into_owned())
            .collect();
        data.sort();
        assert_eq!(data, ["dead-0", "dead-1", "dead-2"]);
        for d in &got {
            let reason = d.message.attributes.get(DEAD_LETTER_REASON_ATTRIBUTE);
            assert!(reason.is_some_and(|r| r.contains("always fails")), "{d:?}");
        }
    }
    let stats = bounded("shutdown", subscriber.shutdown_with_stats())
        .await
        .unwrap();
    assert_eq!(stats.dead_lettered, sent as u64, "{stats:?}");
    bounded("close", dl_topic.close()).await;
}

/// A stream failing after 12 MiB (a multipart upload by then) leaves no
/// object and no unfinished upload behind.
pub async fn failed_multipart_upload_is_aborted(emulator: &Emulator) {
    let h = AwsObjectsHarness::new(emulator).await;
    let (name, driver) = h.s3_bucket().await;
    let bucket = Bucket::new(&name, Arc::new(driver));
    let chunks = (0..12)
        .map(|_| Ok(Bytes::from(vec![7u8; 1024 * 1024])))
        .chain([Err(strata_core::Error::unavailable("the client went away"))]);
    let body = futures::stream::iter(chunks).boxed();
    let err = bounded(
        "upload",
        bucket.upload_stream("big.bin", body, PutOptions::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    assert!(!bucket.exists("big.bin").await.unwrap());
    let uploads = h
        .clients()
        .s3()
        .list_multipart_uploads()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    assert!(
        uploads.uploads().is_empty(),
        "left behind: {:?}",
        uploads.uploads()
    );
}

/// A presigned PUT uploads and a presigned GET downloads, over plain HTTP
/// without the SDK; the content type the PUT URL names is stored.
pub async fn signed_urls_work_without_the_sdk(emulator: &Emulator) {
    let h = AwsObjectsHarness::new(emulator).await;
    let (name, driver) = h.s3_bucket().await;
    let bucket = Bucket::new(&name, Arc::new(driver));
    let put = SignedUrlOptions {
        method: SignedUrlMethod::Put,
        ttl: Duration::from_secs(300),
        content_type: Some("text/plain".into()),
    };
    let url = bucket.signed_url("signed/up load.txt", put).await.unwrap();
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let sent = aws_http::request("PUT", &url, b"uploaded with a URL", Some("text/plain")).await;
    assert_eq!(sent.status, 200, "{}", String::from_utf8_lossy(&sent.body));
    let stored = bucket.attrs("signed/up load.txt").await.unwrap();
    assert_eq!(stored.size, 19);
    assert_eq!(stored.content_type.as_deref(), Some("text/plain"));
    let get = SignedUrlOptions {
        method: SignedUrlMethod::Get,
        ttl: Duration::from_secs(300),
        content_type: None,
    };
    let url = bucket.signed_url("signed/up load.txt", get).await.unwrap();
    let got = aws_http::request("GET", &url, b"", None).await;
    assert_eq!(
        (got.status, got.body.as_slice()),
        (200, &b"uploaded with a URL"[..])
    );
}

/// On an emulator the public URL is path style under its endpoint, and it
/// serves a public object (made public-read with the SDK: buckets and
/// objects are private unless their owner says otherwise).
pub async fn public_urls_are_path_style_on_emulators(emulator: &Emulator) {
    let h = AwsObjectsHarness::new(emulator).await;
    let (name, driver) = h.s3_bucket().await;
    let bucket = Bucket::new(&name, Arc::new(driver));
    bucket
        .upload("pics/cat 1.txt", "meow", PutOptions::default())
        .await
        .unwrap();
    h.clients()
        .s3()
        .put_object_acl()
        .bucket(&name)
        .key("pics/cat 1.txt")
        .acl("public-read".into())
        .send()
        .await
        .unwrap();
    let url = bucket.public_url("pics/cat 1.txt").unwrap();
    let endpoint = emulator.endpoint();
    assert_eq!(
        url,
        format!("{}/{name}/pics/cat%201.txt", endpoint.trim_end_matches('/'))
    );
    let got = aws_http::request("GET", &url, b"", None).await;
    assert_eq!((got.status, got.body.as_slice()), (200, &b"meow"[..]));
    let with_base = S3Bucket::open(
        h.clients(),
        &name,
        S3BucketOptions {
            public_base_url: Some("https://cdn.example.com/assets/".into()),
            provision: false,
        },
    )
    .await
    .unwrap();
    let via_cdn = Bucket::new(&name, Arc::new(with_base));
    assert_eq!(
        via_cdn.public_url("pics/cat 1.txt").unwrap(),
        "https://cdn.example.com/assets/pics/cat%201.txt"
    );
}

/// One test per case: `aws_cases::<case>(&emulator)`.
macro_rules! aws_behaviour_tests {
    ($emulator:path, [$($case:ident),* $(,)?]) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            super::aws_cases::$case(&$emulator).await;
        }
    )*};
}

/// One `#[tokio::test]` per behaviour above, for `$emulator`, in `mod behaviour`.
macro_rules! aws_behaviour {
    ($emulator:ident) => {
        mod behaviour {
            aws_behaviour_tests!(
                super::$emulator,
                [
                    message_size_limits,
                    payloads_and_attributes_round_trip_exactly,
                    missing_resources_without_provision_name_the_fix,
                    wrong_endpoint_fails_fast_as_unavailable,
                    anonymous_credentials_make_no_signed_urls,
                    dead_letters_reach_every_subscription_of_the_dead_letter_topic,
                    failed_multipart_upload_is_aborted,
                    signed_urls_work_without_the_sdk,
                    public_urls_are_path_style_on_emulators,
                ]
            );
        }
    };
}
