//! A network outage between Strata and LocalStack, with LocalStack keeping
//! its state: 10,000 messages published and consumed through a TCP proxy that
//! is cut (every connection dropped, the listener closed) for a few seconds
//! mid-run and then restored.
//!
//! What holds, and is asserted: every publish resolves (no hang); a publish
//! either resolves with an id or fails with `Unavailable` / `Timeout` (never
//! silently); every publish that resolved with an id is delivered at least
//! once, with that id; the subscriber recovers by itself. Duplicates (a
//! publish retried after its response was cut, a delete lost with its
//! connection) are allowed by at-least-once delivery: counted and reported.
//!
//! Needs LocalStack: `localstack/emulators up localstack`.

#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "support/faults_load.rs"]
mod faults_load;
#[path = "support/network_cut.rs"]
mod network_cut;
// Shared with the conformance test files; only part of it is used here.
#[allow(dead_code)]
#[path = "support/aws_emulators.rs"]
mod aws_emulators;
#[allow(dead_code)]
#[path = "support/aws_harness.rs"]
mod aws_harness;

use std::sync::Arc;
use std::time::Duration;

use aws_emulators::LOCALSTACK;
use aws_harness::Names;
use faults_load::Pace;
use network_cut::Cut;
use strata_aws::{AwsClients, AwsSettings, SnsTopic, SqsSubscription, SqsSubscriptionOptions};
use strata_core::pubsub::{Topic, TopicOptions};
use strata_integration_tests::tcp_proxy::CuttableProxy;

/// 10,000 messages in about 20 s: 25 every 50 ms.
const PACE: Pace = Pace {
    total: 10_000,
    per_tick: 25,
    tick: Duration::from_millis(50),
    publish_limit: Duration::from_secs(60),
};
/// The cut: 4 s long, 6 s into the run; publishes may still fail for
/// 10 s after it (retries under way); `drain_limit` is how long the
/// subscriber may take to catch up after the last publish.
const CUT: Cut = Cut {
    at: Duration::from_secs(6),
    lasts: Duration::from_secs(4),
    retry_grace: Duration::from_secs(10),
    drain_limit: Duration::from_secs(60),
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_resolved_publish_is_delivered_across_a_network_cut() {
    LOCALSTACK.check_reachable().await;
    let endpoint = LOCALSTACK.endpoint();
    let target = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = CuttableProxy::start(&target).await.unwrap();
    let settings = AwsSettings {
        endpoint: Some(proxy.url()),
        connect_timeout: Duration::from_secs(1),
        ..LOCALSTACK.settings()
    };
    let clients = AwsClients::connect(&settings).await.unwrap();
    let names = Names::new();
    let driver = SnsTopic::open(&clients, &names.unique("cut"), false, true)
        .await
        .unwrap();
    let opts = SqsSubscriptionOptions {
        provision: true,
        ..SqsSubscriptionOptions::default()
    };
    let sub = SqsSubscription::open(&clients, &driver, &names.unique("cut-sub"), &opts)
        .await
        .unwrap();
    let topic = Topic::new(
        driver.name().to_owned(),
        Arc::new(driver),
        TopicOptions::default(),
    );
    let run = network_cut::run_across_cut(&proxy, topic, Arc::new(sub), PACE, CUT).await;
    eprintln!("{}", run.report(CUT, &proxy));
    run.assert_every_resolved_publish_delivered(PACE, &proxy);
}
