//! A paced publish-and-consume load for the fault tests: a Strata publisher
//! sends numbered messages at a steady rate (so an outage falls in the middle
//! of the run, not after it), a Strata subscriber records each delivery, and
//! every publish outcome is kept with the moment it resolved.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_core::ErrorCode;
use strata_core::pubsub::{
    OutgoingMessage, Subscriber, SubscriberOptions, SubscriberStats, SubscriptionDriver, Topic,
    handler_fn,
};
use strata_core::sync::lock;
use tokio::time::Instant;

/// The attribute carrying a message's number.
const SEQ: &str = "seq";

/// How one publish ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Resolved with this message id.
    Published(String),
    /// Resolved with an error of this code (and message).
    Failed(ErrorCode, String),
    /// Did not resolve within the publish limit: a hang.
    Unresolved,
}

/// One publish: its outcome, when it was issued and when it resolved.
#[derive(Debug, Clone)]
pub struct PublishRecord {
    pub seq: u64,
    pub outcome: Outcome,
    pub issued_at: Instant,
    pub resolved_at: Instant,
}

/// How fast and how much to publish.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Messages in all.
    pub total: u64,
    /// Messages handed to the publisher at each tick.
    pub per_tick: u64,
    /// Time between ticks.
    pub tick: Duration,
    /// How long one publish may take to resolve before it counts as a hang.
    pub publish_limit: Duration,
}

/// Publishes `pace.total` messages, `per_tick` every `tick`, without waiting
/// for earlier ones (an outage stalls publishes but not the pace). Resolves
/// with every publish's record once all resolved or hit the limit.
pub fn publish_paced(topic: Topic, pace: Pace) -> tokio::task::JoinHandle<Vec<PublishRecord>> {
    tokio::spawn(async move {
        let mut tasks = Vec::new();
        let mut ticker = tokio::time::interval(pace.tick);
        let mut seq = 0;
        while seq < pace.total {
            ticker.tick().await;
            let end = (seq + pace.per_tick).min(pace.total);
            let messages: Vec<OutgoingMessage> = (seq..end)
                .map(|n| {
                    OutgoingMessage::new(format!("fault-load message {n}"))
                        .with_attribute(SEQ, n.to_string())
                })
                .collect();
            let topic = topic.clone();
            let issued_at = Instant::now();
            // One publish per message, so each resolves on its own: a batch
            // call would resolve only when its last provider request did,
            // after messages of its first request were accepted (SNS takes
            // 10 per request).
            let publishes = messages.into_iter().zip(seq..).map(move |(message, seq)| {
                let topic = topic.clone();
                async move {
                    let outcome = match tokio::time::timeout(
                        pace.publish_limit,
                        topic.publish(message),
                    )
                    .await
                    {
                        Ok(Ok(id)) => Outcome::Published(id),
                        Ok(Err(err)) => Outcome::Failed(err.code(), err.message().to_owned()),
                        Err(_) => Outcome::Unresolved,
                    };
                    PublishRecord {
                        seq,
                        outcome,
                        issued_at,
                        resolved_at: Instant::now(),
                    }
                }
            });
            tasks.push(tokio::spawn(futures::future::join_all(publishes)));
            seq = end;
        }
        let mut records = Vec::with_capacity(pace.total as usize);
        for task in tasks {
            records.extend(task.await.unwrap_or_default());
        }
        records.sort_by_key(|r| r.seq);
        records
    })
}

/// One delivery to the handler: the message id and when it arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub id: String,
    pub at: Instant,
}

/// What the subscriber has seen, by message number.
pub type Deliveries = Arc<Mutex<HashMap<u64, Vec<Arrival>>>>;

/// How long the handler takes per message, in milliseconds; changeable
/// while the subscriber runs (to let a backlog build up, then drain it).
pub type HandlerDelay = Arc<AtomicU64>;

/// Starts a subscriber that records every delivery, waits `delay`, and acks
/// it; at most `max_concurrency` at once.
pub fn record_deliveries(
    driver: Arc<dyn SubscriptionDriver>,
    max_concurrency: usize,
    delay: HandlerDelay,
) -> (Subscriber, Deliveries) {
    let deliveries: Deliveries = Arc::default();
    let seen = deliveries.clone();
    let handler = handler_fn(move |message| {
        let seen = seen.clone();
        let delay = Duration::from_millis(delay.load(Ordering::Relaxed));
        async move {
            let seq = message
                .attributes
                .get(SEQ)
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or("a message without a `seq` attribute")?;
            let arrival = Arrival {
                id: message.id,
                at: Instant::now(),
            };
            lock(&seen).entry(seq).or_default().push(arrival);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(())
        }
    });
    let opts = SubscriberOptions {
        max_concurrency,
        receive_wait: Duration::from_millis(500),
        ..SubscriberOptions::default()
    };
    (
        Subscriber::start("fault-load", driver, handler, opts),
        deliveries,
    )
}

/// Copies the deliveries seen so far.
pub fn snapshot(deliveries: &Deliveries) -> HashMap<u64, Vec<Arrival>> {
    lock(deliveries).clone()
}

/// Waits until every message in `seqs` was delivered at least once, or
/// `limit` passed; returns those still missing.
pub async fn wait_for(deliveries: &Deliveries, seqs: &[u64], limit: Duration) -> Vec<u64> {
    let deadline = Instant::now() + limit;
    loop {
        let missing: Vec<u64> = {
            let seen = lock(deliveries);
            seqs.iter()
                .copied()
                .filter(|s| !seen.contains_key(s))
                .collect()
        };
        if missing.is_empty() || Instant::now() >= deadline {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Failed publishes by error code.
pub fn failures_by_code(records: &[PublishRecord]) -> BTreeMap<&'static str, usize> {
    let mut by_code = BTreeMap::new();
    for record in records {
        if let Outcome::Failed(code, _) = &record.outcome {
            *by_code.entry(code.as_str()).or_default() += 1;
        }
    }
    by_code
}

/// Extra deliveries beyond the first, over all messages.
pub fn duplicates(seen: &HashMap<u64, Vec<Arrival>>) -> usize {
    seen.values().map(|a| a.len().saturating_sub(1)).sum()
}

/// A delivered message whose id differs from the one its publish returned
/// (ids must survive SNS and SQS), if any.
pub fn id_mismatch(records: &[PublishRecord], seen: &HashMap<u64, Vec<Arrival>>) -> Option<String> {
    records.iter().find_map(|record| {
        let Outcome::Published(id) = &record.outcome else {
            return None;
        };
        let arrivals = seen.get(&record.seq)?;
        arrivals.iter().find(|a| &a.id != id).map(|a| {
            format!(
                "message {} was published as {id} but delivered as {}",
                record.seq, a.id
            )
        })
    })
}

/// The numbers of the publishes that resolved with an id between `from` and
/// `to`.
pub fn resolved_ok_between(records: &[PublishRecord], from: Instant, to: Instant) -> Vec<u64> {
    records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Published(_)))
        .filter(|r| r.resolved_at >= from && r.resolved_at <= to)
        .map(|r| r.seq)
        .collect()
}

/// The numbers of the publishes issued at or after `from` that resolved with
/// an id: after an emulator restart, the ones it surely accepted once
/// re-provisioned. (One that resolved after re-provisioning may have been
/// accepted before, while a slow server had not answered yet.)
pub fn issued_ok_since(records: &[PublishRecord], from: Instant) -> Vec<u64> {
    records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Published(_)) && r.issued_at >= from)
        .map(|r| r.seq)
        .collect()
}

/// Asserts that all `pace.total` publishes resolved, and that those that
/// failed did so with one of `codes`, between `from` and `to` (an outage
/// and its retries); times are reported from `started`.
pub fn assert_failures_only_in_outage(
    records: &[PublishRecord],
    pace: Pace,
    codes: &[ErrorCode],
    (from, to): (Instant, Instant),
    started: Instant,
) {
    assert_eq!(records.len() as u64, pace.total);
    for record in records {
        let when = record.resolved_at.duration_since(started).as_secs_f64();
        match &record.outcome {
            Outcome::Published(_) => {}
            Outcome::Failed(code, message) => {
                assert!(
                    codes.contains(code),
                    "message {} failed at {when:.1}s with {code:?}, not one of {codes:?}: \
                     {message}",
                    record.seq
                );
                assert!(
                    record.resolved_at >= from && record.resolved_at <= to,
                    "message {} failed at {when:.1}s, outside the outage: {message}",
                    record.seq
                );
            }
            Outcome::Unresolved => panic!(
                "message {}'s publish did not resolve within {:?}",
                record.seq, pace.publish_limit
            ),
        }
    }
}

/// Stops the load's subscriber and topic, each within 30 s (a hang fails the
/// test), after 2 s for quick duplicates: a redelivery of an ack lost in an
/// outage comes after a whole lease, so the duplicate count is a floor.
pub async fn stop(subscriber: Subscriber, topic: Topic) -> SubscriberStats {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = tokio::time::timeout(Duration::from_secs(30), subscriber.shutdown_with_stats())
        .await
        .expect("the subscriber did not shut down")
        .expect("the subscriber's tasks failed");
    tokio::time::timeout(Duration::from_secs(30), topic.close())
        .await
        .expect("the topic did not close");
    stats
}

/// Publishes that resolved with an id.
pub fn resolved_count(records: &[PublishRecord]) -> usize {
    records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Published(_)))
        .count()
}

/// Publishes that failed and were delivered anyway (the request reached the
/// server, its answer was lost).
pub fn failed_but_delivered(records: &[PublishRecord], seen: &HashMap<u64, Vec<Arrival>>) -> usize {
    records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(..)) && seen.contains_key(&r.seq))
        .count()
}
