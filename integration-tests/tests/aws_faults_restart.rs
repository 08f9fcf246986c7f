//! LocalStack stopped and restarted (`localstack/emulators restart
//! localstack`) while 10,000 messages are published and consumed. The only
//! test of this binary: the restart would break any test running next to it
//! (cargo runs test binaries one after another, but the tests of one binary
//! in parallel). LocalStack is left running.
//!
//! LocalStack community keeps no state across a restart (persistence,
//! `PERSISTENCE=1`, is a Pro feature since LocalStack 1.0; the check is in
//! `localstack/README.md`), so the topic, the queue and the subscription
//! vanish with the messages sitting in the queue: those are lost by the
//! emulator itself, and the test re-provisions (`provision: true`) as an
//! application would on start. What it can assert, and does:
//!
//! - no crash, no hang: every publish resolves within a bound, the subscriber
//!   shuts down within a bound;
//! - a publish fails only while LocalStack is down or not yet re-provisioned,
//!   and then with a typed error: `Unavailable` / `Timeout` (unreachable) or
//!   `NotFound` (LocalStack is back, the topic not yet);
//! - every publish issued after re-provisioning finished is delivered at
//!   least once, with its id (so the subscriber recovered by itself);
//! - every publish that resolved before the restart began was delivered, or
//!   was in the emulator when it died: the undelivered ones number at most
//!   the queue's depth sampled just before the stop plus what was published
//!   from a second before the sample until the stop (SNS hands messages to
//!   SQS asynchronously, so one can be in neither the queue nor a handler for
//!   a moment). The subscriber is kept slow until the stop, so that there is
//!   a backlog to lose.
//!
//! Publishes that resolved after the stop but were issued before
//! re-provisioning finished are only reported: one resolving just after the
//! stop was answered before the process died, and one accepted after the
//! topic was re-created but before the subscription was is dropped by SNS
//! (no subscriber yet) — even when the slow, just-started server answers it
//! after re-provisioning.
//!
//! Needs LocalStack started by `localstack/emulators up localstack` (the
//! restart replays its command line).

#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "support/faults_load.rs"]
mod faults_load;
// Shared with the conformance test files; only part of it is used here.
#[allow(dead_code)]
#[path = "support/aws_emulators.rs"]
mod aws_emulators;
#[allow(dead_code)]
#[path = "support/aws_harness.rs"]
mod aws_harness;
#[path = "support/emulator_restart.rs"]
mod emulator_restart;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_emulators::LOCALSTACK;
use aws_harness::Names;
use faults_load::{Pace, resolved_ok_between};
use strata_aws::{AwsClients, SnsTopic, SqsSubscription, SqsSubscriptionOptions};
use strata_core::ErrorCode;
use strata_core::pubsub::{Topic, TopicOptions};
use tokio::time::Instant;

/// 10,000 messages in about 40 s (25 every 100 ms): the emulator's restart
/// (its time is in localstack/README.md) falls well inside the run.
const PACE: Pace = Pace {
    total: 10_000,
    per_tick: 25,
    tick: Duration::from_millis(100),
    publish_limit: Duration::from_secs(60),
};
/// When LocalStack is stopped (SIGTERM, LocalStack's own shutdown; the
/// emulator script waits for the port to be free before starting it again).
const STOP_AT: Duration = Duration::from_secs(5);
/// The longest the restart may take (stop and start, start timeout 120 s).
const RESTART_LIMIT: Duration = Duration::from_secs(150);
/// The longest re-provisioning may take once LocalStack answers.
const PROVISION_LIMIT: Duration = Duration::from_secs(30);
/// How long publishes may go on failing after re-provisioning: a batch
/// already in its retries when it finished.
const SETTLE: Duration = Duration::from_secs(10);
/// SNS's asynchronous hand-over to SQS (see the module docs).
const HANDOVER: Duration = Duration::from_secs(1);
/// How long the subscriber may take to catch up after the last publish.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// Opens (creating when missing) the topic and its subscription.
async fn provision(
    clients: &AwsClients,
    topic: &str,
    queue: &str,
) -> strata_core::Result<(SnsTopic, SqsSubscription)> {
    let driver = SnsTopic::open(clients, topic, false, true).await?;
    let opts = SqsSubscriptionOptions {
        provision: true,
        ..SqsSubscriptionOptions::default()
    };
    let sub = SqsSubscription::open(clients, &driver, queue, &opts).await?;
    Ok((driver, sub))
}

/// Messages in the queue: visible plus in flight.
async fn queue_depth(clients: &AwsClients, url: &str) -> u64 {
    const COUNTED: [&str; 2] = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
    ];
    let attributes = clients
        .sqs()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(COUNTED[0].into())
        .attribute_names(COUNTED[1].into())
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    attributes
        .iter()
        .filter(|(name, _)| COUNTED.contains(&name.as_str()))
        .map(|(_, value)| value.parse::<u64>().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publishing_and_consuming_survive_a_localstack_restart() {
    LOCALSTACK.check_reachable().await;
    let clients = LOCALSTACK.clients().await;
    let names = Names::new();
    let (topic_name, queue_name) = (names.unique("restart"), names.unique("restart-sub"));
    let (driver, sub) = provision(&clients, &topic_name, &queue_name).await.unwrap();
    let queue_url = sub.queue_url().to_owned();
    // Until the stop the subscriber falls behind (8 handlers of 100 ms: 80
    // messages a second against 250 published), so messages sit in the queue
    // when LocalStack goes down; after it, it runs at full speed.
    let delay = Arc::new(AtomicU64::new(100));
    let (subscriber, deliveries) = faults_load::record_deliveries(Arc::new(sub), 8, delay.clone());
    let topic = Topic::new(
        driver.name().to_owned(),
        Arc::new(driver),
        TopicOptions::default(),
    );

    let started = Instant::now();
    let publishing = faults_load::publish_paced(topic.clone(), PACE);
    tokio::time::sleep(STOP_AT).await;
    let sampled_at = Instant::now();
    let depth_at_stop = queue_depth(&clients, &queue_url).await;
    let delivered_at_stop = faults_load::snapshot(&deliveries).len();
    let stopped_at = Instant::now();
    delay.store(0, Ordering::Relaxed);
    let up_at = emulator_restart::restart("localstack", RESTART_LIMIT).await;
    // The application's part: open its resources again, creating them.
    emulator_restart::reopen(PROVISION_LIMIT, || {
        provision(&clients, &topic_name, &queue_name)
    })
    .await;
    let ready_at = Instant::now();

    let records = tokio::time::timeout(PACE.publish_limit + Duration::from_secs(60), publishing)
        .await
        .expect("the publisher did not finish")
        .unwrap();
    let published_in = started.elapsed();
    let after = faults_load::issued_ok_since(&records, ready_at);
    let missing_after = faults_load::wait_for(&deliveries, &after, DRAIN_LIMIT).await;
    let stats = faults_load::stop(subscriber, topic).await;

    let seen = faults_load::snapshot(&deliveries);
    let before = resolved_ok_between(&records, started, stopped_at);
    let lost_before: Vec<u64> = before
        .iter()
        .copied()
        .filter(|s| !seen.contains_key(s))
        .collect();
    // Resolved after the stop, not issued after re-provisioning: only reported.
    let owed_after: std::collections::HashSet<u64> = after.iter().copied().collect();
    let in_window: Vec<u64> = resolved_ok_between(&records, stopped_at, Instant::now())
        .into_iter()
        .filter(|s| !owed_after.contains(s))
        .collect();
    let lost_in_window = in_window.iter().filter(|s| !seen.contains_key(s)).count();
    let near_stop = resolved_ok_between(&records, sampled_at - HANDOVER, stopped_at).len() as u64;
    let failures = faults_load::failures_by_code(&records);
    let failed_but_delivered = faults_load::failed_but_delivered(&records, &seen);
    let secs = |at: Instant| at.duration_since(started).as_secs_f64();
    eprintln!(
        "LocalStack stopped at {:.1}s, answering again at {:.1}s, re-provisioned at {:.1}s; \
         {} publishes in {published_in:?}: resolved {} ({} before the stop, {} after it but \
         issued before re-provisioning finished, {} issued after), failed {failures:?}; delivered {} distinct, {} \
         duplicates, {failed_but_delivered} failed publishes delivered anyway; lost by the \
         emulator: {} of those resolved before the stop (queue depth sampled just before it: \
         {depth_at_stop}, {near_stop} more resolved from 1 s before the sample to the stop; \
         {delivered_at_stop} delivered by then) and {lost_in_window} of those resolved after the \
         stop but issued before re-provisioning finished; subscriber {stats:?}",
        secs(stopped_at),
        secs(up_at),
        secs(ready_at),
        records.len(),
        faults_load::resolved_count(&records),
        before.len(),
        in_window.len(),
        after.len(),
        seen.len(),
        faults_load::duplicates(&seen),
        lost_before.len(),
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
        after.len() as u64 >= PACE.total / 10,
        "too few publishes after the restart to show recovery: {}",
        after.len()
    );
    assert!(
        missing_after.is_empty(),
        "{} publishes issued after re-provisioning were never delivered (first: {:?})",
        missing_after.len(),
        &missing_after[..missing_after.len().min(10)]
    );
    if let Some(mismatch) = faults_load::id_mismatch(&records, &seen) {
        panic!("{mismatch}");
    }
    assert!(
        lost_before.len() as u64 <= depth_at_stop + near_stop,
        "{} publishes resolved before the stop were never delivered, more than the emulator \
         can have held when it died ({depth_at_stop} in the queue + {near_stop} published \
         around the sample); first: {:?}",
        lost_before.len(),
        &lost_before[..lost_before.len().min(10)]
    );
}
