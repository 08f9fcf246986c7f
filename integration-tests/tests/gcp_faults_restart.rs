//! Google's Pub/Sub emulator stopped and restarted (`localstack/emulators
//! restart pubsub`) while 10,000 messages are published and consumed. The
//! only test of this binary: the restart would break any test running next
//! to it (cargo runs test binaries one after another, but the tests of one
//! binary in parallel). The emulator is left running.
//!
//! The emulator keeps nothing across a restart (it has no data directory or
//! persistence option: `--help` lists host, port, IAM host/port and
//! projects), so the topic and the subscription vanish with the messages
//! the subscription held: those are lost by the emulator itself, and the
//! test re-provisions (`provision: true`) as an application would on start.
//! The subscriber is kept fast, so the emulator holds little when it dies.
//! What is asserted:
//!
//! - no crash, no hang: every publish resolves within a bound, the subscriber
//!   shuts down within a bound;
//! - a publish fails only while the emulator is down or not yet
//!   re-provisioned (and for a few seconds of retries after), with a typed
//!   error: `Unavailable` / `Timeout` (unreachable) or `NotFound` (back, the
//!   topic not yet);
//! - every publish that resolved more than [`KEEP_UP`] before the stop was
//!   delivered (the subscriber kept up, so nothing older was still in the
//!   emulator);
//! - every publish issued after re-provisioning finished is delivered at
//!   least once, with its id: the subscriber's streams came back by
//!   themselves, to a subscription created after they were opened.
//!
//! Only reported: publishes resolved in the last [`KEEP_UP`] before the stop
//! and not delivered (in the emulator when it died), and those resolved
//! after the stop but issued before re-provisioning finished (one resolving
//! just after the stop was answered before the process died; one accepted
//! after the topic was re-created but before the subscription was goes to
//! no subscription, even when the answer comes after re-provisioning). Duplicates are counted and reported.
//!
//! Needs the Pub/Sub emulator started by `localstack/emulators up pubsub`
//! (the restart replays its command line).

#![cfg(feature = "gcp")]
#![allow(clippy::unwrap_used)]

#[path = "support/emulator_restart.rs"]
mod emulator_restart;
#[allow(dead_code)]
#[path = "support/faults_load.rs"]
mod faults_load;
// Shared with the conformance test files; only part of it is used here.
#[allow(dead_code)]
#[path = "support/gcp_harness.rs"]
mod gcp_harness;

use std::sync::Arc;
use std::time::Duration;

use faults_load::{Pace, resolved_ok_between};
use gcp_harness::{Names, PUBSUB};
use strata_core::ErrorCode;
use strata_core::pubsub::{Topic, TopicOptions};
use strata_gcp::{GcpClients, PubSubSubscription, PubSubSubscriptionOptions, PubSubTopic};
use tokio::time::Instant;

/// 10,000 messages in about 20 s (25 every 50 ms): the emulator's restart
/// (its time is in localstack/README.md) falls well inside the run.
const PACE: Pace = Pace {
    total: 10_000,
    per_tick: 25,
    tick: Duration::from_millis(50),
    publish_limit: Duration::from_secs(90),
};
/// When the emulator is stopped.
const STOP_AT: Duration = Duration::from_secs(6);
/// The longest the restart may take (stop and start).
const RESTART_LIMIT: Duration = Duration::from_secs(120);
/// The longest re-provisioning may take once the emulator answers.
const PROVISION_LIMIT: Duration = Duration::from_secs(30);
/// How long publishes may go on failing after re-provisioning: batches
/// already in their retries when it finished.
const SETTLE: Duration = Duration::from_secs(15);
/// How far behind the publisher the subscriber may be: a publish resolved
/// earlier than this before the stop must have been delivered.
const KEEP_UP: Duration = Duration::from_secs(3);
/// How long the subscriber may take to catch up after the last publish.
/// Its streams reopen once a second while the subscription is missing.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// Opens (creating when missing) the topic and its subscription.
async fn provision(
    clients: &GcpClients,
    topic: &str,
    subscription: &str,
) -> strata_core::Result<(PubSubTopic, PubSubSubscription)> {
    let driver = PubSubTopic::open(clients, topic, true).await?;
    let opts = PubSubSubscriptionOptions {
        provision: true,
        ..PubSubSubscriptionOptions::default()
    };
    let sub = PubSubSubscription::open(clients, &driver, subscription, &opts).await?;
    Ok((driver, sub))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publishing_and_consuming_survive_an_emulator_restart() {
    let clients = gcp_harness::clients(&PUBSUB).await;
    let names = Names::new();
    let (topic_name, sub_name) = (names.unique("restart"), names.unique("restart-sub"));
    let (driver, sub) = provision(&clients, &topic_name, &sub_name).await.unwrap();
    let (subscriber, deliveries) =
        faults_load::record_deliveries(Arc::new(sub), 32, Arc::default());
    let topic = Topic::new(
        driver.name().to_owned(),
        Arc::new(driver),
        TopicOptions::default(),
    );

    let started = Instant::now();
    let publishing = faults_load::publish_paced(topic.clone(), PACE);
    tokio::time::sleep(STOP_AT).await;
    let stopped_at = Instant::now();
    let delivered_at_stop = faults_load::snapshot(&deliveries).len();
    let up_at = emulator_restart::restart(PUBSUB.name, RESTART_LIMIT).await;
    // The application's part: open its resources again, creating them.
    emulator_restart::reopen(PROVISION_LIMIT, || {
        provision(&clients, &topic_name, &sub_name)
    })
    .await;
    let ready_at = Instant::now();

    let records = tokio::time::timeout(PACE.publish_limit + Duration::from_secs(60), publishing)
        .await
        .expect("the publisher did not finish")
        .unwrap();
    let published_in = started.elapsed();
    let before = resolved_ok_between(&records, started, stopped_at - KEEP_UP);
    let after = faults_load::issued_ok_since(&records, ready_at);
    let mut owed = before.clone();
    owed.extend(&after);
    let missing = faults_load::wait_for(&deliveries, &owed, DRAIN_LIMIT).await;
    let stats = faults_load::stop(subscriber, topic).await;

    let seen = faults_load::snapshot(&deliveries);
    let undelivered = |seqs: &[u64]| seqs.iter().filter(|s| !seen.contains_key(s)).count();
    let near_stop = resolved_ok_between(&records, stopped_at - KEEP_UP, stopped_at);
    // Resolved after the stop, not issued after re-provisioning: only reported.
    let owed_after: std::collections::HashSet<u64> = after.iter().copied().collect();
    let in_window: Vec<u64> = resolved_ok_between(&records, stopped_at, Instant::now())
        .into_iter()
        .filter(|s| !owed_after.contains(s))
        .collect();
    let failed_but_delivered = faults_load::failed_but_delivered(&records, &seen);
    let secs = |at: Instant| at.duration_since(started).as_secs_f64();
    eprintln!(
        "Pub/Sub emulator stopped at {:.1}s, answering again at {:.1}s, re-provisioned at \
         {:.1}s; {} publishes in {published_in:?}: resolved {} ({} more than {KEEP_UP:?} \
         before the stop, {} in the {KEEP_UP:?} before it, {} after it but issued before \
         re-provisioning finished, {} issued after), failed {:?}; delivered {} distinct ({delivered_at_stop} by \
         the stop), {} duplicates, {failed_but_delivered} failed publishes delivered anyway; \
         lost by the emulator: {} of those resolved in the {KEEP_UP:?} before the stop, {} of \
         those resolved after the stop but issued before re-provisioning finished; subscriber {stats:?}",
        secs(stopped_at),
        secs(up_at),
        secs(ready_at),
        records.len(),
        faults_load::resolved_count(&records),
        before.len(),
        near_stop.len(),
        in_window.len(),
        after.len(),
        faults_load::failures_by_code(&records),
        seen.len(),
        faults_load::duplicates(&seen),
        undelivered(&near_stop),
        undelivered(&in_window),
    );

    faults_load::assert_failures_only_in_outage(
        &records,
        PACE,
        &[
            ErrorCode::Unavailable,
            ErrorCode::Timeout,
            ErrorCode::NotFound,
        ],
        (stopped_at, ready_at + SETTLE),
        started,
    );
    assert!(
        before.len() as u64 >= PACE.total / 10 && after.len() as u64 >= PACE.total / 10,
        "too few publishes on either side of the restart to show anything: {} before, {} after",
        before.len(),
        after.len()
    );
    assert!(
        missing.is_empty(),
        "{} publishes resolved more than {KEEP_UP:?} before the stop or issued after \
         re-provisioning were never delivered (first: {:?})",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    if let Some(mismatch) = faults_load::id_mismatch(&records, &seen) {
        panic!("{mismatch}");
    }
}
