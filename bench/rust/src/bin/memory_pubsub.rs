//! Memory pub/sub end to end in Rust: publish through `Topic`, handle through
//! `Subscriber`, every message counted. The ceiling the Node binding is measured
//! against. Run: `cargo run --release -p strata-bench --bin memory_pubsub [COUNT]`.
//!
//! Two measurements: the phases apart (publish everything, then handle it),
//! and end to end (the subscriber runs while chunks of 1,024 are published
//! with at most 8 chunks awaiting, as `bench/node/pubsub.js` does from JS).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use strata_core::pubsub::{
    OutgoingMessage, Subscriber, SubscriberOptions, Topic, TopicOptions, handler_fn,
};
use strata_providers::memory::pubsub::{MemoryBroker, MemorySubscriptionOptions};

/// Messages per `publish_many` call in the end-to-end run.
const CHUNK: u64 = 1024;
/// `publish_many` calls awaiting at once in the end-to-end run.
const WINDOW: usize = 8;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sent: u64 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 1_000_000,
    };
    phases(sent).await?;
    end_to_end(sent).await
}

/// A subscriber whose handler counts; 1000 handlers at most, like the Node bench's 1024.
fn counting_subscriber(broker: &MemoryBroker, topic: &str) -> (Subscriber, Arc<AtomicU64>) {
    let sub = broker.subscription(topic, "bench-sub", MemorySubscriptionOptions::default());
    let handled = Arc::new(AtomicU64::new(0));
    let counter = handled.clone();
    let handler = handler_fn(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
        async { Ok(()) }
    });
    let opts = SubscriberOptions {
        max_concurrency: 1000,
        ..SubscriberOptions::default()
    };
    (Subscriber::start("bench-sub", sub, handler, opts), handled)
}

async fn wait_for(handled: &AtomicU64, sent: u64) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while handled.load(Ordering::Relaxed) < sent {
        if Instant::now() > deadline {
            return Err("timed out before every message was handled".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Publishes everything, then handles everything.
async fn phases(sent: u64) -> Result<(), Box<dyn std::error::Error>> {
    let broker = MemoryBroker::new();
    // Created first so that it receives what is published.
    let sub = broker.subscription("bench", "bench-sub", MemorySubscriptionOptions::default());
    drop(sub);
    let topic = Topic::new("bench", broker.topic("bench"), TopicOptions::default());

    let started = Instant::now();
    let results = topic
        .publish_many(
            (0..sent)
                .map(|i| OutgoingMessage::new(format!("m{i}")))
                .collect(),
        )
        .await;
    let published = started.elapsed();
    let failed = results.iter().filter(|r| r.is_err()).count();
    if failed > 0 {
        return Err(format!("{failed} publishes failed").into());
    }

    let started = Instant::now();
    let (subscriber, handled) = counting_subscriber(&broker, "bench");
    wait_for(&handled, sent).await?;
    let consumed = started.elapsed();
    let stats = subscriber.shutdown_with_stats().await?;
    let rate = |d: Duration| sent as f64 / d.as_secs_f64();
    println!(
        "memory pubsub (Rust), phases: published {sent} in {published:?} ({:.0}/s); handled {} in {consumed:?} ({:.0}/s); acked {}",
        rate(published),
        handled.load(Ordering::Relaxed),
        rate(consumed),
        stats.acked
    );
    if stats.acked != sent {
        return Err(format!("acked {} of {sent}", stats.acked).into());
    }
    Ok(())
}

/// Publishes in chunks while the subscriber handles them.
async fn end_to_end(sent: u64) -> Result<(), Box<dyn std::error::Error>> {
    let broker = MemoryBroker::new();
    let (subscriber, handled) = counting_subscriber(&broker, "bench-e2e");
    let topic = Topic::new(
        "bench-e2e",
        broker.topic("bench-e2e"),
        TopicOptions::default(),
    );
    let started = Instant::now();
    let mut waiting = tokio::task::JoinSet::new();
    let mut failed = 0;
    let mut next = 0;
    while next < sent {
        let end = (next + CHUNK).min(sent);
        let chunk = (next..end)
            .map(|i| OutgoingMessage::new(format!("m{i}")))
            .collect();
        let topic = topic.clone();
        waiting.spawn(async move { topic.publish_many(chunk).await });
        next = end;
        if waiting.len() >= WINDOW
            && let Some(done) = waiting.join_next().await
        {
            failed += done?.iter().filter(|r| r.is_err()).count();
        }
    }
    while let Some(done) = waiting.join_next().await {
        failed += done?.iter().filter(|r| r.is_err()).count();
    }
    if failed > 0 {
        return Err(format!("{failed} publishes failed").into());
    }
    wait_for(&handled, sent).await?;
    let elapsed = started.elapsed();
    let stats = subscriber.shutdown_with_stats().await?;
    println!(
        "memory pubsub (Rust), end to end: {sent} published and handled in {elapsed:?} ({:.0}/s); acked {}",
        sent as f64 / elapsed.as_secs_f64(),
        stats.acked
    );
    if stats.acked != sent {
        return Err(format!("acked {} of {sent}", stats.acked).into());
    }
    Ok(())
}
