//! A network outage between Strata and the Pub/Sub emulator, with the
//! emulator keeping its state: 10,000 messages published and consumed
//! through a TCP proxy that is cut (every connection dropped, the listener
//! closed) for a few seconds mid-run and then restored. Publishing and the
//! streaming pull are gRPC (HTTP/2) connections; both must come back.
//!
//! What holds, and is asserted: every publish resolves (no hang); a publish
//! either resolves with an id or fails with `Unavailable` / `Timeout` (never
//! silently); every publish that resolved with an id is delivered at least
//! once, with that id; the subscriber recovers by itself. Duplicates (a
//! publish retried after its response was cut, an ack lost with its
//! connection) are allowed by at-least-once delivery: counted and reported.
//!
//! Stopping the emulator instead would lose its topics and subscriptions
//! (it keeps nothing across a restart), which tests the emulator, not Strata.
//!
//! Found here: acks lost with the cut keep counting against the client's
//! flow control on the server until their ack deadline passes, so delivery
//! stalls that long after the cut; the subscription keeps the server-side
//! deadline at Pub/Sub's shortest (10 s) for that reason (with the crate's
//! 60 s default, most of the run was still undelivered 90 s later).
//!
//! Needs the Pub/Sub emulator: `localstack/emulators up pubsub`.

#![cfg(feature = "gcp")]
#![allow(clippy::unwrap_used)]

// Shared with other test files; only part of each is used here.
#[allow(dead_code)]
#[path = "support/aws_faults_load.rs"]
mod faults_load;
#[allow(dead_code)]
#[path = "support/gcp_harness.rs"]
mod gcp_harness;

use std::sync::Arc;
use std::time::Duration;

use faults_load::{Outcome, Pace};
use gcp_harness::{Names, PUBSUB, settings};
use strata_core::ErrorCode;
use strata_core::pubsub::{Topic, TopicOptions};
use strata_gcp::{
    GcpClients, GcpSettings, PubSubSubscription, PubSubSubscriptionOptions, PubSubTopic,
};
use strata_integration_tests::tcp_proxy::CuttableProxy;
use tokio::time::Instant;

/// 10,000 messages in about 20 s: 25 every 50 ms.
const PACE: Pace = Pace {
    total: 10_000,
    per_tick: 25,
    tick: Duration::from_millis(50),
    publish_limit: Duration::from_secs(90),
};
/// When the cut starts, and how long it lasts.
const CUT_AT: Duration = Duration::from_secs(6);
const CUT_FOR: Duration = Duration::from_secs(4);
/// How long the subscriber may take to catch up after the last publish.
/// Usually all is delivered within 20 s of it; once in four runs here the
/// emulator held back part of the run for longer than 90 s after the cut
/// (it redelivers in rounds, one per ack deadline), so the bound is loose:
/// this asserts at-least-once delivery, not the emulator's recovery time.
const DRAIN_LIMIT: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_resolved_publish_is_delivered_across_a_network_cut() {
    PUBSUB.check_reachable().await;
    let target = PUBSUB
        .endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = CuttableProxy::start(&target).await.unwrap();
    let settings = GcpSettings {
        pubsub_endpoint: Some(proxy.url()),
        ..settings()
    };
    let clients = GcpClients::connect(&settings).await.unwrap();
    let names = Names::new();
    let driver = PubSubTopic::open(&clients, &names.unique("cut"), true)
        .await
        .unwrap();
    let opts = PubSubSubscriptionOptions {
        provision: true,
        ..PubSubSubscriptionOptions::default()
    };
    let sub = PubSubSubscription::open(&clients, &driver, &names.unique("cut-sub"), &opts)
        .await
        .unwrap();
    let (subscriber, deliveries) =
        faults_load::record_deliveries(Arc::new(sub), 64, Arc::default());
    let topic = Topic::new(
        driver.name().to_owned(),
        Arc::new(driver),
        TopicOptions::default(),
    );

    let started = Instant::now();
    let publishing = faults_load::publish_paced(topic.clone(), PACE);
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
    let missing = faults_load::wait_for(&deliveries, &resolved, DRAIN_LIMIT).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = tokio::time::timeout(Duration::from_secs(30), subscriber.shutdown_with_stats())
        .await
        .expect("the subscriber did not shut down")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), topic.close())
        .await
        .expect("the topic did not close");

    let seen = faults_load::snapshot(&deliveries);
    let failures = faults_load::failures_by_code(&records);
    let failed_during_cut = records
        .iter()
        .filter(|r| {
            matches!(r.outcome, Outcome::Failed(..))
                && r.resolved_at >= cut_at
                && r.resolved_at <= restored_at + Duration::from_secs(30)
        })
        .count();
    eprintln!(
        "network cut of {CUT_FOR:?} at {CUT_AT:?}: {} messages published in {published_in:?}; \
         resolved {}, failed {failures:?} ({failed_during_cut} of them during the cut or its \
         retries), unresolved {}; delivered {} distinct, {} duplicates; proxy: {} connections \
         accepted ({accepted_before_cut} before the cut), {} dropped by the cut; subscriber \
         {stats:?}",
        records.len(),
        resolved.len(),
        records
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Unresolved))
            .count(),
        seen.len(),
        faults_load::duplicates(&seen),
        proxy.accepted(),
        proxy.dropped(),
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
    if let Some(mismatch) = faults_load::id_mismatch(&records, &seen) {
        panic!("{mismatch}");
    }
    // The cut must have been felt, or this test proved nothing.
    assert!(proxy.dropped() > 0, "the cut dropped no open connection");
    assert!(
        proxy.accepted() > accepted_before_cut,
        "no connection was remade after the cut: it went unnoticed"
    );
    assert!(
        resolved.len() as u64 > PACE.total / 2,
        "most publishes resolve: only {} of {}",
        resolved.len(),
        PACE.total
    );
}
