//! Unit tests of [`Topic`] batching and of [`RetryPolicy`].

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::{OutgoingMessage, PubSubCapabilities, RetryPolicy, Topic, TopicDriver, TopicOptions};
use crate::{Error, ErrorCode, Result};

const LIMIT: Duration = Duration::from_secs(10);

fn capabilities(max_batch_messages: usize) -> PubSubCapabilities {
    PubSubCapabilities {
        messaging_system: "test",
        ordering: true,
        native_dead_letter: false,
        explicit_dead_letter: false,
        lease_extension: false,
        delivery_attempts: true,
        max_message_bytes: 1000,
        max_batch_messages,
        max_batch_bytes: 100_000,
        max_receive_messages: 10,
        max_ack_batch: 10,
        default_linger: Duration::ZERO,
    }
}

/// Records batch sizes; fails messages whose payload is `bad`; may answer with
/// one result too few; may be slow, tracking how many ordered batches overlap.
struct CountingDriver {
    capabilities: PubSubCapabilities,
    batches: Mutex<Vec<usize>>,
    published: AtomicUsize,
    short_answer: bool,
    delay: Duration,
    ordered_now: AtomicUsize,
    ordered_overlap: AtomicUsize,
}

impl CountingDriver {
    fn new(max_batch_messages: usize) -> Self {
        Self {
            capabilities: capabilities(max_batch_messages),
            batches: Mutex::new(Vec::new()),
            published: AtomicUsize::new(0),
            short_answer: false,
            delay: Duration::ZERO,
            ordered_now: AtomicUsize::new(0),
            ordered_overlap: AtomicUsize::new(0),
        }
    }

    fn batches(&self) -> Vec<usize> {
        self.batches.lock().unwrap().clone()
    }
}

#[async_trait]
impl TopicDriver for CountingDriver {
    fn capabilities(&self) -> &PubSubCapabilities {
        &self.capabilities
    }

    async fn publish_batch(&self, batch: Vec<OutgoingMessage>) -> Vec<Result<String>> {
        self.batches.lock().unwrap().push(batch.len());
        let ordered = batch.iter().any(|m| m.ordering_key.is_some());
        if ordered && self.ordered_now.fetch_add(1, Ordering::SeqCst) > 0 {
            self.ordered_overlap.fetch_add(1, Ordering::SeqCst);
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if ordered {
            self.ordered_now.fetch_sub(1, Ordering::SeqCst);
        }
        let mut results: Vec<Result<String>> = batch
            .iter()
            .map(|m| {
                if m.data.as_ref() == b"bad" {
                    Err(Error::invalid_argument("bad payload"))
                } else {
                    let n = self.published.fetch_add(1, Ordering::SeqCst);
                    Ok(format!("id-{n}"))
                }
            })
            .collect();
        if self.short_answer {
            results.pop();
        }
        results
    }
}

fn topic(driver: &Arc<CountingDriver>, opts: TopicOptions) -> Topic {
    Topic::new("t", driver.clone() as Arc<dyn TopicDriver>, opts)
}

fn messages(n: usize) -> Vec<OutgoingMessage> {
    (0..n)
        .map(|i| OutgoingMessage::new(format!("m{i}")))
        .collect()
}

#[tokio::test]
async fn batches_never_exceed_the_driver_limit_and_every_publish_resolves() {
    let driver = Arc::new(CountingDriver::new(1000));
    let topic = topic(&driver, TopicOptions::default());
    let results = tokio::time::timeout(LIMIT, topic.publish_many(messages(2500)))
        .await
        .unwrap();
    assert_eq!(results.len(), 2500);
    let ids: std::collections::HashSet<String> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(ids.len(), 2500, "every publish gets its own id");
    let batches = driver.batches();
    assert!(
        batches.iter().all(|&n| n <= 1000),
        "batch sizes {batches:?}"
    );
    assert_eq!(batches.iter().sum::<usize>(), 2500);
}

#[tokio::test]
async fn batches_respect_the_byte_limit() {
    let mut driver = CountingDriver::new(1000);
    driver.capabilities.max_batch_bytes = 250;
    let driver = Arc::new(driver);
    let topic = topic(&driver, TopicOptions::default());
    // 100 bytes each: at most two fit in 250 bytes.
    let batch = (0..10)
        .map(|_| OutgoingMessage::new(vec![b'x'; 100]))
        .collect();
    let results = tokio::time::timeout(LIMIT, topic.publish_many(batch))
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok));
    let batches = driver.batches();
    assert!(batches.iter().all(|&n| n <= 2), "batch sizes {batches:?}");
    assert_eq!(batches.iter().sum::<usize>(), 10);
}

#[tokio::test]
async fn a_failed_message_fails_only_its_own_publish() {
    let driver = Arc::new(CountingDriver::new(1000));
    let topic = topic(&driver, TopicOptions::default());
    let mut batch = messages(5);
    batch[2] = OutgoingMessage::new("bad");
    let results = tokio::time::timeout(LIMIT, topic.publish_many(batch))
        .await
        .unwrap();
    for (i, result) in results.iter().enumerate() {
        if i == 2 {
            assert_eq!(
                result.as_ref().unwrap_err().code(),
                ErrorCode::InvalidArgument
            );
        } else {
            assert!(result.is_ok(), "message {i}: {result:?}");
        }
    }
}

#[tokio::test]
async fn a_driver_answering_the_wrong_count_fails_the_batch_with_internal() {
    let mut driver = CountingDriver::new(1000);
    driver.short_answer = true;
    let driver = Arc::new(driver);
    let topic = topic(&driver, TopicOptions::default());
    let results = tokio::time::timeout(LIMIT, topic.publish_many(messages(3)))
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    for result in results {
        let err = result.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Internal);
        assert!(err.message().contains("results"), "{err}");
    }
}

#[tokio::test]
async fn an_oversized_message_fails_at_once_and_never_reaches_the_driver() {
    let driver = Arc::new(CountingDriver::new(1000));
    let topic = topic(&driver, TopicOptions::default());
    let err = topic
        .publish(OutgoingMessage::new(vec![0u8; 1001]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(
        err.message().contains("1001") && err.message().contains("1000"),
        "{err}"
    );
    assert!(driver.batches().is_empty());
}

#[tokio::test]
async fn close_flushes_queued_publishes_and_later_publishes_fail_closed() {
    let mut driver = CountingDriver::new(10);
    driver.delay = Duration::from_millis(20);
    let driver = Arc::new(driver);
    let topic = topic(&driver, TopicOptions::default());
    let publisher = topic.clone();
    let pending = tokio::spawn(async move { publisher.publish_many(messages(100)).await });
    tokio::time::sleep(Duration::from_millis(5)).await;
    tokio::time::timeout(LIMIT, topic.close()).await.unwrap();
    let results = tokio::time::timeout(LIMIT, pending).await.unwrap().unwrap();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok() || r.as_ref().unwrap_err().code() == ErrorCode::Closed),
        "only Closed may fail: {results:?}"
    );
    assert_eq!(
        ok,
        driver.published.load(Ordering::SeqCst),
        "every Ok was sent"
    );
    assert!(ok > 0, "publishes queued before close are flushed");
    let err = topic
        .publish(OutgoingMessage::new("late"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Closed);
    assert!(err.message().contains("`t`"), "{err}");
    tokio::time::timeout(LIMIT, topic.close()).await.unwrap();
}

#[tokio::test]
async fn linger_gathers_concurrent_publishes_into_one_batch() {
    let driver = Arc::new(CountingDriver::new(1000));
    let topic = topic(
        &driver,
        TopicOptions {
            linger: Some(Duration::from_millis(100)),
            ..TopicOptions::default()
        },
    );
    let publishes = (0..20).map(|i| topic.publish(OutgoingMessage::new(format!("m{i}"))));
    let results = tokio::time::timeout(LIMIT, futures::future::join_all(publishes))
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(driver.batches(), vec![20]);
}

#[tokio::test]
async fn ordered_batches_are_never_in_flight_together() {
    let mut driver = CountingDriver::new(5);
    driver.delay = Duration::from_millis(5);
    let driver = Arc::new(driver);
    let topic = topic(&driver, TopicOptions::default());
    let batch = (0..100)
        .map(|i| OutgoingMessage::new(format!("m{i}")).with_ordering_key("k"))
        .collect();
    let results = tokio::time::timeout(LIMIT, topic.publish_many(batch))
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok));
    assert!(driver.batches().len() >= 20);
    assert_eq!(driver.ordered_overlap.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unordered_batches_run_concurrently_up_to_the_in_flight_limit() {
    let mut driver = CountingDriver::new(1);
    driver.delay = Duration::from_millis(100);
    let driver = Arc::new(driver);
    let topic = topic(&driver, TopicOptions::default());
    let started = tokio::time::Instant::now();
    let results = tokio::time::timeout(LIMIT, topic.publish_many(messages(16)))
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok));
    // Sixteen 100 ms batches one after the other would take 1.6 s.
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn backoff_grows_exponentially_within_jitter_and_stays_under_the_cap() {
    let policy = RetryPolicy {
        min_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(2),
    };
    for _ in 0..200 {
        for (attempt, nominal_ms) in [(1u32, 100.0), (2, 200.0), (3, 400.0), (4, 800.0)] {
            let ms = policy.backoff(attempt).as_secs_f64() * 1000.0;
            assert!(
                ms >= nominal_ms * 0.8 - 0.001 && ms <= nominal_ms * 1.2 + 0.001,
                "attempt {attempt}: {ms} ms"
            );
        }
        for attempt in [6, 10, 64, u32::MAX] {
            let backoff = policy.backoff(attempt);
            assert!(
                backoff <= Duration::from_secs(2),
                "attempt {attempt}: {backoff:?}"
            );
            assert!(
                backoff >= Duration::from_millis(1600),
                "attempt {attempt}: {backoff:?}"
            );
        }
    }
    assert!(policy.backoff(0) <= Duration::from_millis(120));
}

#[test]
fn backoff_defaults_are_one_second_to_one_minute() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.min_backoff, Duration::from_secs(1));
    assert_eq!(policy.max_backoff, Duration::from_secs(60));
    let first = policy.backoff(1);
    assert!(first >= Duration::from_millis(800) && first <= Duration::from_millis(1200));
}

#[tokio::test]
async fn publish_many_answers_each_message_in_place_across_chunks() {
    let driver = Arc::new(CountingDriver::new(10));
    let topic = topic(&driver, TopicOptions::default());
    // 35 messages span four chunks; one is oversized and one fails in the driver.
    let mut batch = messages(35);
    batch[5] = OutgoingMessage::new(vec![b'x'; 2000]);
    batch[22] = OutgoingMessage::new("bad");
    let results = tokio::time::timeout(LIMIT, topic.publish_many(batch))
        .await
        .unwrap();
    assert_eq!(results.len(), 35);
    for (i, result) in results.iter().enumerate() {
        match i {
            5 => assert_eq!(
                result.as_ref().unwrap_err().code(),
                ErrorCode::InvalidArgument
            ),
            22 => assert_eq!(result.as_ref().unwrap_err().message(), "bad payload"),
            _ => assert!(result.is_ok(), "message {i}: {result:?}"),
        }
    }
    // The driver numbers ids in the order it saw the messages: publish order.
    let ids: Vec<usize> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|id| id.trim_start_matches("id-").parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let batches = driver.batches();
    assert!(batches.iter().all(|&n| n <= 10), "{batches:?}");
    assert_eq!(batches.iter().sum::<usize>(), 34);
}

#[tokio::test]
async fn publish_many_after_close_fails_every_message_closed() {
    let driver = Arc::new(CountingDriver::new(10));
    let topic = topic(&driver, TopicOptions::default());
    topic.close().await;
    let results = tokio::time::timeout(LIMIT, topic.publish_many(messages(15)))
        .await
        .unwrap();
    assert_eq!(results.len(), 15);
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().unwrap_err().code() == ErrorCode::Closed)
    );
}

#[tokio::test]
async fn reserved_attributes_are_refused_and_the_dead_letter_history_is_not() {
    let driver = Arc::new(CountingDriver::new(10));
    let topic = topic(&driver, TopicOptions::default());
    for name in ["strata.content_type", "strata.x", "strata.dead_letterx"] {
        let message = OutgoingMessage::new("m").with_attribute(name, "v");
        let err = topic.publish(message.clone()).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{name}: {err}");
        assert!(err.message().contains(name), "{err}");
        let many = topic.publish_many(vec![message]).await;
        assert_eq!(
            many[0].as_ref().unwrap_err().code(),
            ErrorCode::InvalidArgument
        );
    }
    // A redrive republishes a dead letter's history; other names are free.
    for name in [
        "strata.dead_letter.reason",
        "strata.dead_letter.subscription",
        "strata.original_message_id",
        "strata",
        "stratA.content_type",
        "kind",
    ] {
        let message = OutgoingMessage::new("m").with_attribute(name, "v");
        topic.publish(message).await.expect(name);
    }
    // A binding that sets the content type itself publishes as Strata.
    let own = OutgoingMessage::new("m").with_attribute("strata.content_type", "application/json");
    assert!(topic.publish_many_as_strata(vec![own]).await[0].is_ok());
    assert_eq!(driver.published.load(Ordering::SeqCst), 7);
}
