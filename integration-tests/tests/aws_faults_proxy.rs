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
#[path = "support/aws_faults_load.rs"]
mod aws_faults_load;
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
use aws_faults_load::{Outcome, Pace};
use aws_harness::Names;
use strata_aws::{AwsClients, AwsSettings, SnsTopic, SqsSubscription, SqsSubscriptionOptions};
use strata_core::ErrorCode;
use strata_core::pubsub::{Topic, TopicOptions};
use strata_integration_tests::tcp_proxy::CuttableProxy;
use tokio::time::Instant;

/// 10,000 messages in about 20 s: 25 every 50 ms.
const PACE: Pace = Pace {
    total: 10_000,
    per_tick: 25,
    tick: Duration::from_millis(50),
    publish_limit: Duration::from_secs(60),
};
/// When the cut starts, and how long it lasts.
const CUT_AT: Duration = Duration::from_secs(6);
const CUT_FOR: Duration = Duration::from_secs(4);
/// How long the subscriber may take to catch up after the last publish.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

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
    let (subscriber, deliveries) =
        aws_faults_load::record_deliveries(Arc::new(sub), 64, Arc::default());
    let topic = Topic::new(
        driver.name().to_owned(),
        Arc::new(driver),
        TopicOptions::default(),
    );

    let started = Instant::now();
    let publishing = aws_faults_load::publish_paced(topic.clone(), PACE);
    tokio::time::sleep(CUT_AT).await;
    let accepted_before_cut = proxy.accepted();
    let cut_at = Instant::now();
    proxy.cut().await;
    tokio::time::sleep(CUT_FOR).await;
    proxy.restore().await.unwrap();
    let restored_at = Instant::now();

    let records = tokio::time::timeout(PACE.publish_limit + Duration::from_secs(60), publishing)
        .await
        .expect("the publisher did not finish")
        .unwrap();
    let published_in = started.elapsed();
    let resolved: Vec<u64> = records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Published(_)))
        .map(|r| r.seq)
        .collect();
    let missing = aws_faults_load::wait_for(&deliveries, &resolved, DRAIN_LIMIT).await;
    // Stragglers: redeliveries of messages whose delete was lost in the cut
    // come back after the 30 s lease at the earliest, so this only catches
    // quick duplicates; the count is a lower bound.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = tokio::time::timeout(Duration::from_secs(30), subscriber.shutdown_with_stats())
        .await
        .expect("the subscriber did not shut down")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), topic.close())
        .await
        .expect("the topic did not close");

    let seen = aws_faults_load::snapshot(&deliveries);
    let failures = aws_faults_load::failures_by_code(&records);
    let failed_but_delivered = records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(..)) && seen.contains_key(&r.seq))
        .count();
    let failed_during_cut = records
        .iter()
        .filter(|r| {
            matches!(r.outcome, Outcome::Failed(..))
                && r.resolved_at >= cut_at
                && r.resolved_at <= restored_at + Duration::from_secs(10)
        })
        .count();
    eprintln!(
        "network cut of {CUT_FOR:?} at {CUT_AT:?}: {} messages published in {published_in:?}; \
         resolved {}, failed {failures:?} ({failed_during_cut} of them during the cut or its \
         retries), unresolved {}; delivered {} distinct, {} duplicates, {} failed publishes \
         delivered anyway; proxy: {} connections accepted ({accepted_before_cut} before the cut), \
         {} dropped by the cut, {} bytes up, {} down; subscriber {stats:?}",
        records.len(),
        resolved.len(),
        records
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Unresolved))
            .count(),
        seen.len(),
        aws_faults_load::duplicates(&seen),
        failed_but_delivered,
        proxy.accepted(),
        proxy.dropped(),
        proxy.bytes_to_target(),
        proxy.bytes_from_target(),
    );

    assert_eq!(records.len() as u64, PACE.total);
    for record in &records {
        match &record.outcome {
            Outcome::Published(_) => {}
            Outcome::Failed(code, message) => assert!(
                matches!(code, ErrorCode::Unavailable | ErrorCode::Timeout),
                "message {} failed with {code:?}, not Unavailable/Timeout: {message}",
                record.seq
            ),
            Outcome::Unresolved => panic!(
                "message {}'s publish did not resolve within {:?}",
                record.seq, PACE.publish_limit
            ),
        }
    }
    assert!(
        missing.is_empty(),
        "{} resolved publishes never delivered (first: {:?})",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    if let Some(mismatch) = aws_faults_load::id_mismatch(&records, &seen) {
        panic!("{mismatch}");
    }
    // The cut must have been felt, or this test proved nothing.
    assert!(proxy.dropped() > 0, "the cut dropped no open connection");
    assert!(
        failed_during_cut > 0 || proxy.accepted() > accepted_before_cut,
        "no publish failed and no connection was remade: the cut went unnoticed"
    );
    assert!(
        resolved.len() as u64 > PACE.total / 2,
        "most publishes resolve: only {} of {}",
        resolved.len(),
        PACE.total
    );
}
