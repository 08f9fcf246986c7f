//! Unit tests of the [`Subscriber`] engine over a scripted driver: the paths the
//! memory provider cannot take (native and explicit dead-lettering, receive
//! errors) and the concurrency bound. The scripted driver is shared with the
//! engine's own tests.

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    Attributes, DeadLetterPolicy, Delivery, DeliveryHandle, HandlerError, Message,
    PubSubCapabilities, RetryPolicy, Subscriber, SubscriberOptions, SubscriptionDriver, handler_fn,
};
use crate::{Error, Result};

pub(super) const LIMIT: Duration = Duration::from_secs(10);

/// What the engine asked of the driver.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Call {
    Ack(String),
    Nack(String, Duration),
    DeadLetter(String, String),
}

/// Serves scripted deliveries (each once), optionally failing the first
/// receives, and records every settlement.
pub(super) struct ScriptedDriver {
    pub(super) capabilities: PubSubCapabilities,
    pub(super) script: Mutex<VecDeque<Delivery>>,
    receive_errors: AtomicUsize,
    receives: AtomicUsize,
    calls: Mutex<Vec<Call>>,
    /// Handles per `ack` call.
    pub(super) ack_sizes: Mutex<Vec<usize>>,
}

impl ScriptedDriver {
    pub(super) fn new(native: bool, explicit: bool, deliveries: Vec<Delivery>) -> Self {
        Self {
            capabilities: PubSubCapabilities {
                messaging_system: "test",
                ordering: false,
                native_dead_letter: native,
                explicit_dead_letter: explicit,
                lease_extension: false,
                delivery_attempts: true,
                max_message_bytes: 1000,
                max_batch_messages: 10,
                max_batch_bytes: 10_000,
                max_receive_messages: 10,
                max_ack_batch: 10,
                default_linger: Duration::ZERO,
            },
            script: Mutex::new(deliveries.into()),
            receive_errors: AtomicUsize::new(0),
            receives: AtomicUsize::new(0),
            calls: Mutex::new(Vec::new()),
            ack_sizes: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

pub(super) fn delivery(n: usize, attempt: u32) -> Delivery {
    Delivery {
        message: Message {
            id: format!("m{n}"),
            data: Bytes::from(format!("payload {n}")),
            attributes: Attributes::new(),
            ordering_key: None,
            publish_time: SystemTime::now(),
            delivery_attempt: attempt,
        },
        handle: DeliveryHandle(format!("h{n}")),
    }
}

#[async_trait]
impl SubscriptionDriver for ScriptedDriver {
    fn capabilities(&self) -> &PubSubCapabilities {
        &self.capabilities
    }

    fn lease(&self) -> Duration {
        Duration::from_secs(30)
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        self.receives.fetch_add(1, Ordering::SeqCst);
        if self
            .receive_errors
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Error::unavailable("scripted receive failure"));
        }
        let taken: Vec<Delivery> = {
            let mut script = self.script.lock().unwrap();
            let n = max.min(script.len());
            script.drain(..n).collect()
        };
        if taken.is_empty() {
            tokio::time::sleep(wait).await;
        }
        Ok(taken)
    }

    async fn ack(&self, handles: Vec<DeliveryHandle>) -> Result<()> {
        self.ack_sizes.lock().unwrap().push(handles.len());
        let mut calls = self.calls.lock().unwrap();
        calls.extend(handles.into_iter().map(|h| Call::Ack(h.0)));
        Ok(())
    }

    async fn nack(&self, handle: DeliveryHandle, redeliver_after: Duration) -> Result<()> {
        self.calls
            .lock()
            .unwrap()
            .push(Call::Nack(handle.0, redeliver_after));
        Ok(())
    }

    async fn dead_letter(&self, handle: DeliveryHandle, reason: &str) -> Result<()> {
        if !self.capabilities.explicit_dead_letter {
            return Err(Error::unsupported("explicit dead-lettering"));
        }
        self.calls
            .lock()
            .unwrap()
            .push(Call::DeadLetter(handle.0, reason.to_owned()));
        Ok(())
    }
}

pub(super) fn options(max_attempts: Option<u32>) -> SubscriberOptions {
    SubscriberOptions {
        retry: RetryPolicy {
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        },
        dead_letter: max_attempts.map(|max_attempts| DeadLetterPolicy {
            max_attempts,
            topic: None,
        }),
        receive_wait: Duration::from_millis(20),
        ..SubscriberOptions::default()
    }
}

fn failing() -> super::Handler {
    handler_fn(|_| async { Err(HandlerError::from("always fails")) })
}

pub(super) async fn run_until_settled(
    driver: &Arc<ScriptedDriver>,
    handler: super::Handler,
    opts: SubscriberOptions,
    n: usize,
) -> Subscriber {
    let subscriber = Subscriber::start("s", driver.clone(), handler, opts);
    tokio::time::timeout(LIMIT, async {
        while driver.calls().len() < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("every delivery settled in time");
    subscriber
}

#[tokio::test]
async fn native_dead_letter_nacks_with_zero_delay_at_max_attempts() {
    let driver = Arc::new(ScriptedDriver::new(true, false, vec![delivery(1, 3)]));
    let subscriber = run_until_settled(&driver, failing(), options(Some(3)), 1).await;
    let stats = subscriber.stats();
    tokio::time::timeout(LIMIT, subscriber.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        driver.calls(),
        vec![Call::Nack("h1".into(), Duration::ZERO)]
    );
    assert_eq!(stats.dead_lettered, 1);
}

#[tokio::test]
async fn explicit_dead_letter_passes_the_reason_to_the_driver() {
    let driver = Arc::new(ScriptedDriver::new(false, true, vec![delivery(1, 5)]));
    let subscriber = run_until_settled(&driver, failing(), options(Some(3)), 1).await;
    tokio::time::timeout(LIMIT, subscriber.shutdown())
        .await
        .unwrap()
        .unwrap();
    match driver.calls().as_slice() {
        [Call::DeadLetter(handle, reason)] => {
            assert_eq!(handle, "h1");
            // The handler's own error text, as it is: other systems read it.
            assert_eq!(reason, "always fails");
        }
        calls => panic!("expected one dead_letter call, got {calls:?}"),
    }
}

#[tokio::test]
async fn a_failure_before_max_attempts_nacks_with_the_retry_backoff() {
    let driver = Arc::new(ScriptedDriver::new(true, true, vec![delivery(1, 2)]));
    let subscriber = run_until_settled(&driver, failing(), options(Some(3)), 1).await;
    let stats = subscriber.stats();
    tokio::time::timeout(LIMIT, subscriber.shutdown())
        .await
        .unwrap()
        .unwrap();
    match driver.calls().as_slice() {
        // Attempt 2: 200 ms nominal, ±20%.
        [Call::Nack(handle, delay)] => {
            assert_eq!(handle, "h1");
            assert!(
                *delay >= Duration::from_millis(160) && *delay <= Duration::from_millis(240),
                "{delay:?}"
            );
        }
        calls => panic!("expected one nack, got {calls:?}"),
    }
    assert_eq!(
        (stats.handler_errors, stats.nacked, stats.dead_lettered),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn without_any_dead_letter_destination_a_message_is_retried_not_dropped() {
    let driver = Arc::new(ScriptedDriver::new(false, false, vec![delivery(1, 9)]));
    let subscriber = run_until_settled(&driver, failing(), options(Some(3)), 1).await;
    tokio::time::timeout(LIMIT, subscriber.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(driver.calls().as_slice(), [Call::Nack(_, delay)] if !delay.is_zero()),
        "{:?}",
        driver.calls()
    );
}

#[tokio::test]
async fn receive_errors_are_survived_and_do_not_spin() {
    let driver = Arc::new(ScriptedDriver::new(false, false, vec![delivery(1, 1)]));
    driver.receive_errors.store(3, Ordering::SeqCst);
    let handler = handler_fn(|_| async { Ok(()) });
    let subscriber = run_until_settled(&driver, handler, options(None), 1).await;
    tokio::time::timeout(LIMIT, subscriber.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(driver.calls(), vec![Call::Ack("h1".into())]);
    // 100 + 200 + 400 ms of backoff: far fewer receives than a spinning loop.
    assert!(driver.receives.load(Ordering::SeqCst) < 50);
}

#[tokio::test]
async fn handlers_never_exceed_max_concurrency_and_shutdown_drains_them() {
    let deliveries = (0..40).map(|n| delivery(n, 1)).collect();
    let driver = Arc::new(ScriptedDriver::new(false, false, deliveries));
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let handler = handler_fn(move |_| {
        let (running, peak) = (r.clone(), p.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let opts = SubscriberOptions {
        max_concurrency: 4,
        ..options(None)
    };
    let subscriber = Subscriber::start("s", driver.clone(), handler, opts);
    tokio::time::sleep(Duration::from_millis(30)).await;
    tokio::time::timeout(LIMIT, subscriber.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        running.load(Ordering::SeqCst),
        0,
        "shutdown waited for handlers"
    );
    assert!(
        peak.load(Ordering::SeqCst) <= 4,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    let acked = driver.calls().len();
    let left = driver.script.lock().unwrap().len();
    assert_eq!(
        acked + left,
        40,
        "every received delivery was acked before shutdown returned"
    );
}

/// Keeps what is published to it.
struct KeepingTopic {
    capabilities: PubSubCapabilities,
    kept: Mutex<Vec<super::OutgoingMessage>>,
}

#[async_trait]
impl super::TopicDriver for KeepingTopic {
    fn capabilities(&self) -> &PubSubCapabilities {
        &self.capabilities
    }

    async fn publish_batch(&self, batch: Vec<super::OutgoingMessage>) -> Vec<Result<String>> {
        let n = batch.len();
        self.kept.lock().unwrap().extend(batch);
        (0..n).map(|i| Ok(format!("dl-{i}"))).collect()
    }
}

#[tokio::test]
async fn an_emulated_dead_letter_keeps_strata_attributes_the_publisher_could_not_set() {
    let mut poison = delivery(1, 3);
    poison
        .message
        .attributes
        .insert("strata.content_type".into(), "application/json".into());
    let driver = Arc::new(ScriptedDriver::new(false, false, vec![poison]));
    let kept = Arc::new(KeepingTopic {
        capabilities: driver.capabilities.clone(),
        kept: Mutex::new(Vec::new()),
    });
    let dead_letters = super::Topic::new(
        "dlq",
        kept.clone() as Arc<dyn super::TopicDriver>,
        super::TopicOptions::default(),
    );
    let mut opts = options(None);
    opts.dead_letter = Some(DeadLetterPolicy {
        max_attempts: 3,
        topic: Some(dead_letters.clone()),
    });
    let subscriber = run_until_settled(&driver, failing(), opts, 1).await;
    tokio::time::timeout(LIMIT, subscriber.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(driver.calls(), vec![Call::Ack("h1".into())]);
    let kept = kept.kept.lock().unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        kept[0]
            .attributes
            .get("strata.content_type")
            .map(String::as_str),
        Some("application/json")
    );
    assert!(
        kept[0]
            .attributes
            .contains_key(super::DEAD_LETTER_REASON_ATTRIBUTE)
    );
}
