//! Tests of running unordered deliveries in groups: each handler is still
//! settled on its own, and acks are batched within the driver's limit.

// Tests unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::group::GROUP_SIZE;
use crate::pubsub::subscriber_tests::{
    Call, LIMIT, ScriptedDriver, delivery, options, run_until_settled,
};
use crate::pubsub::{HandlerError, SubscriberOptions, handler_fn};

/// A driver that hands out `n` deliveries (attempt 1) in receives of up to 500.
fn driver_with(n: usize) -> Arc<ScriptedDriver> {
    let mut driver = ScriptedDriver::new(false, false, (0..n).map(|i| delivery(i, 1)).collect());
    driver.capabilities.max_receive_messages = 500;
    Arc::new(driver)
}

fn wide(max_attempts: Option<u32>) -> SubscriberOptions {
    SubscriberOptions {
        max_concurrency: 500,
        ..options(max_attempts)
    }
}

#[tokio::test]
async fn a_failing_handler_in_a_group_retries_only_its_own_message() {
    let driver = driver_with(GROUP_SIZE);
    let handler = handler_fn(|msg| async move {
        if msg.id == "m7" {
            return Err(HandlerError::from("m7 fails"));
        }
        Ok(())
    });
    let subscriber = run_until_settled(&driver, handler, wide(None), GROUP_SIZE).await;
    let stats = tokio::time::timeout(LIMIT, subscriber.shutdown_with_stats())
        .await
        .unwrap()
        .unwrap();
    let calls = driver.calls();
    let nacks: Vec<&Call> = calls
        .iter()
        .filter(|c| matches!(c, Call::Nack(..)))
        .collect();
    assert!(
        matches!(nacks.as_slice(), [Call::Nack(h, delay)] if h == "h7" && !delay.is_zero()),
        "{nacks:?}"
    );
    let acked: HashSet<&str> = calls
        .iter()
        .filter_map(|c| match c {
            Call::Ack(h) => Some(h.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        acked.len(),
        GROUP_SIZE - 1,
        "every other message acked once"
    );
    assert!(!acked.contains("h7"));
    assert_eq!(
        (
            stats.received,
            stats.acked,
            stats.nacked,
            stats.handler_errors
        ),
        (GROUP_SIZE as u64, GROUP_SIZE as u64 - 1, 1, 1)
    );
}

#[tokio::test]
async fn many_groups_ack_every_message_once_within_the_ack_limit() {
    let total = 3 * GROUP_SIZE + 17;
    let driver = driver_with(total);
    let handler = handler_fn(|_| async { Ok(()) });
    let subscriber = run_until_settled(&driver, handler, wide(None), total).await;
    let stats = tokio::time::timeout(LIMIT, subscriber.shutdown_with_stats())
        .await
        .unwrap()
        .unwrap();
    let calls = driver.calls();
    let acked: HashSet<String> = calls
        .iter()
        .filter_map(|c| match c {
            Call::Ack(h) => Some(h.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), total, "no duplicate or missing settlement");
    assert_eq!(acked.len(), total);
    assert_eq!((stats.received, stats.acked), (total as u64, total as u64));
    let sizes = driver.ack_sizes.lock().unwrap().clone();
    let limit = driver.capabilities.max_ack_batch;
    assert!(sizes.iter().all(|&n| n >= 1 && n <= limit), "{sizes:?}");
    assert!(
        sizes.len() < total,
        "acks were batched, not one call per message: {sizes:?}"
    );
}

#[tokio::test]
async fn a_slow_handler_does_not_hold_back_the_acks_of_its_group() {
    let driver = driver_with(5);
    let gate = Arc::new(Notify::new());
    let opened = gate.clone();
    let handler = handler_fn(move |msg| {
        let gate = opened.clone();
        async move {
            if msg.id == "m0" {
                gate.notified().await;
            }
            Ok(())
        }
    });
    // The four fast ones are acked while m0 is still running.
    let subscriber = run_until_settled(&driver, handler, wide(None), 4).await;
    assert!(!driver.calls().contains(&Call::Ack("h0".into())));
    gate.notify_one();
    let stats = tokio::time::timeout(LIMIT, subscriber.shutdown_with_stats())
        .await
        .unwrap()
        .unwrap();
    assert!(driver.calls().contains(&Call::Ack("h0".into())));
    assert_eq!(stats.acked, 5);
}

#[tokio::test]
async fn a_group_dead_letters_only_the_exhausted_message() {
    // m3 is on its last attempt and fails; the provider dead-letters natively.
    let mut deliveries: Vec<_> = (0..10).map(|i| delivery(i, 1)).collect();
    deliveries[3] = delivery(3, 5);
    let mut driver = ScriptedDriver::new(true, false, deliveries);
    driver.capabilities.max_receive_messages = 500;
    let driver = Arc::new(driver);
    let handler = handler_fn(|msg| async move {
        if msg.id == "m3" {
            return Err(HandlerError::from("m3 fails"));
        }
        Ok(())
    });
    let subscriber = run_until_settled(&driver, handler, wide(Some(5)), 10).await;
    let stats = tokio::time::timeout(LIMIT, subscriber.shutdown_with_stats())
        .await
        .unwrap()
        .unwrap();
    assert!(
        driver
            .calls()
            .contains(&Call::Nack("h3".into(), Duration::ZERO))
    );
    assert_eq!((stats.acked, stats.dead_lettered), (9, 1));
}

#[tokio::test]
async fn a_handler_that_never_finishes_times_out_alone_in_its_group() {
    let driver = driver_with(8);
    let handler = handler_fn(|msg| async move {
        if msg.id == "m2" {
            std::future::pending::<()>().await;
        }
        Ok(())
    });
    let opts = SubscriberOptions {
        handler_timeout: Duration::from_millis(200),
        ..wide(None)
    };
    let subscriber = run_until_settled(&driver, handler, opts, 8).await;
    let stats = tokio::time::timeout(LIMIT, subscriber.shutdown_with_stats())
        .await
        .unwrap()
        .unwrap();
    let calls = driver.calls();
    assert!(
        calls
            .iter()
            .any(|c| matches!(c, Call::Nack(h, delay) if h == "h2" && !delay.is_zero())),
        "{calls:?}"
    );
    assert!(!calls.contains(&Call::Ack("h2".into())));
    assert_eq!((stats.acked, stats.nacked, stats.handler_errors), (7, 1, 1));
}

#[tokio::test]
async fn a_group_accepts_a_handler_timeout_too_long_to_add() {
    let driver = driver_with(3);
    let handler = handler_fn(|_| async { Ok(()) });
    let opts = SubscriberOptions {
        handler_timeout: Duration::MAX,
        ..wide(None)
    };
    let subscriber = run_until_settled(&driver, handler, opts, 3).await;
    let stats = tokio::time::timeout(LIMIT, subscriber.shutdown_with_stats())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stats.acked, 3);
}
