//! The AWS provider with no credentials anywhere: a typed error that says how
//! to provide them.
//!
//! The other bad inputs of the AWS provider are tested per emulator in
//! `support/aws_cases.rs` (run by `aws_localstack` and `aws_moto`): a wrong
//! endpoint (`wrong_endpoint_fails_fast_as_unavailable`), missing topics,
//! queues, subscriptions and buckets without `provision`
//! (`missing_resources_without_provision_name_the_fix`), and messages over
//! the SNS/SQS limit (`message_size_limits`); this file adds that an
//! oversized message fails before any byte is sent.
//!
//! Bad credentials cannot be tested here: neither LocalStack nor moto checks
//! signatures, so wrong keys succeed. What can be tested is *no* credentials,
//! which fails in the SDK before any request.
//!
//! The standard credential chain reads the process environment and the
//! profile files, so the no-credentials test runs itself again in a child
//! process with an emptied environment: no `AWS_*` keys, `HOME`,
//! `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE` pointing at an empty
//! folder and empty files. (Instance metadata is not disabled: where none
//! answers, the chain's own timeouts bound the wait.)
//!
//! Needs LocalStack: `localstack/emulators up localstack`.

#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used)]

// Shared with the conformance test files; only part of it is used here.
#[allow(dead_code)]
#[path = "support/aws_emulators.rs"]
mod aws_emulators;
#[allow(dead_code)]
#[path = "support/aws_harness.rs"]
mod aws_harness;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_emulators::LOCALSTACK;
use aws_harness::Names;
use strata_aws::{
    AwsClients, AwsCredentials, AwsSettings, S3Bucket, S3BucketOptions, SnsTopic, SqsSubscription,
    SqsSubscriptionOptions,
};
use strata_core::ErrorCode;
use strata_core::pubsub::{OutgoingMessage, Topic, TopicOptions};
use strata_integration_tests::tcp_proxy::CuttableProxy;

/// Set (to the endpoint) only in the child process of the no-credentials test.
const CHILD_ENDPOINT: &str = "STRATA_TEST_NO_CREDENTIALS_CHILD_ENDPOINT";
/// The no-credentials test's name, for running it again in the child.
const NO_CREDENTIALS: &str =
    "no_credentials_anywhere_is_permission_denied_saying_how_to_provide_them";

/// With the standard chain and nothing in it, opening a topic and a bucket
/// fails with `PermissionDenied`, within seconds, naming the ways to give
/// credentials. The test runs itself again in an emptied environment and
/// checks there; the parent requires that the child ran and passed.
#[test]
fn no_credentials_anywhere_is_permission_denied_saying_how_to_provide_them() {
    match std::env::var(CHILD_ENDPOINT) {
        Ok(endpoint) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(open_resources_without_credentials(endpoint)),
        Err(_) => run_in_emptied_environment(),
    }
}

fn run_in_emptied_environment() {
    let home = tempfile::tempdir().unwrap();
    let credentials = home.path().join("credentials");
    let config = home.path().join("config");
    std::fs::write(&credentials, "").unwrap();
    std::fs::write(&config, "").unwrap();
    let started = Instant::now();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([NO_CREDENTIALS, "--exact", "--nocapture"])
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_CONFIG_FILE", &config)
        .env(CHILD_ENDPOINT, LOCALSTACK.endpoint())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("child ({:?}):\n{stderr}", started.elapsed());
    assert!(
        output.status.success(),
        "the child failed: {}\n{stdout}\n{stderr}",
        output.status
    );
    // A filter matching nothing passes too: make sure the child ran.
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "the child did not run {NO_CREDENTIALS}:\n{stdout}"
    );
}

async fn open_resources_without_credentials(endpoint: String) {
    for (name, _) in std::env::vars() {
        assert!(
            !name.starts_with("AWS_ACCESS") && !name.starts_with("AWS_SECRET"),
            "{name} is set"
        );
    }
    let settings = AwsSettings {
        region: Some("us-east-1".into()),
        endpoint: Some(endpoint),
        credentials: AwsCredentials::DefaultChain,
        provision: true,
        ..AwsSettings::default()
    };
    let clients = AwsClients::connect(&settings).await.unwrap();
    let started = Instant::now();
    let topic = tokio::time::timeout(
        Duration::from_secs(30),
        SnsTopic::open(&clients, "no-credentials", false, true),
    )
    .await
    .expect("opening a topic without credentials hung");
    let err = topic.unwrap_err();
    eprintln!("SNS: {err}");
    let bucket = tokio::time::timeout(
        Duration::from_secs(30),
        S3Bucket::open(&clients, "no-credentials", S3BucketOptions::default()),
    )
    .await
    .expect("opening a bucket without credentials hung");
    let s3_err = bucket.unwrap_err();
    eprintln!("S3: {s3_err}");
    let elapsed = started.elapsed();
    for err in [&err, &s3_err] {
        assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
        for needle in [
            "no AWS credentials",
            "providers.aws.credentials",
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
        ] {
            assert!(err.message().contains(needle), "`{needle}` in: {err}");
        }
    }
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

/// A message over the SNS/SQS limit (256 KiB) is `InvalidArgument` naming the
/// limit, and nothing is sent for it: the topic's connection goes through a
/// proxy that counts the bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_message_fails_before_any_network_call() {
    LOCALSTACK.check_reachable().await;
    let endpoint = LOCALSTACK.endpoint();
    let proxy = CuttableProxy::start(endpoint.trim_start_matches("http://").trim_end_matches('/'))
        .await
        .unwrap();
    let settings = AwsSettings {
        endpoint: Some(proxy.url()),
        ..LOCALSTACK.settings()
    };
    let clients = AwsClients::connect(&settings).await.unwrap();
    let names = Names::new();
    let driver = SnsTopic::open(&clients, &names.unique("oversized"), false, true)
        .await
        .unwrap();
    let sub_opts = SqsSubscriptionOptions {
        provision: true,
        ..SqsSubscriptionOptions::default()
    };
    let sub = SqsSubscription::open(&clients, &driver, &names.unique("oversized-sub"), &sub_opts)
        .await
        .unwrap();
    let topic = Topic::new(
        driver.name().to_owned(),
        Arc::new(driver),
        TopicOptions::default(),
    );
    let sent_before = proxy.bytes_to_target();
    assert!(sent_before > 0, "the proxy carried the provisioning");
    let limit = 256 * 1024;
    for data in [vec![b'x'; limit + 1], vec![b'x'; 4 * limit]] {
        let size = data.len();
        let err = tokio::time::timeout(
            Duration::from_secs(10),
            topic.publish(OutgoingMessage::new(data)),
        )
        .await
        .expect("an oversized publish hung")
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
        let max = strata_aws::pubsub::MAX_MESSAGE_BYTES.to_string();
        assert!(
            err.message().contains(&max) && err.message().contains(&size.to_string()),
            "the size ({size}) and the limit ({max}) in: {err}"
        );
    }
    assert_eq!(
        proxy.bytes_to_target(),
        sent_before,
        "bytes were sent for an oversized message"
    );
    // The topic still works, through the same proxy.
    topic.publish(OutgoingMessage::new("fits")).await.unwrap();
    assert!(proxy.bytes_to_target() > sent_before);
    drop(sub);
    topic.close().await;
}

/// A server that accepts connections and never answers: each request fails
/// once its read timeout passes (here 1 s, one attempt), as `Unavailable` or
/// `Timeout` — never a hang.
#[tokio::test]
async fn a_server_that_never_answers_fails_after_the_read_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    // Accept and hold every connection without reading or writing.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let settings = AwsSettings {
        region: Some("us-east-1".into()),
        endpoint: Some(endpoint.clone()),
        credentials: AwsCredentials::Static {
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
            session_token: None,
        },
        read_timeout: Duration::from_secs(1),
        max_attempts: 1,
        ..AwsSettings::default()
    };
    let clients = AwsClients::connect(&settings).await.unwrap();
    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        SnsTopic::open(&clients, "never-answered", false, false),
    )
    .await
    .expect("opening a topic on a silent server must not hang")
    .unwrap_err();
    assert!(
        matches!(err.code(), ErrorCode::Unavailable | ErrorCode::Timeout),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    silent.abort();
}
