//! Memory pub/sub end to end in Rust: publish through `Topic`, handle through
//! `Subscriber`, every message counted. The ceiling the Node binding is measured
//! against. Run: `cargo run --release -p strata-bench --bin memory_pubsub [COUNT]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use strata_core::pubsub::{
    OutgoingMessage, Subscriber, SubscriberOptions, Topic, TopicOptions, handler_fn,
};
use strata_providers::memory::pubsub::{MemoryBroker, MemorySubscriptionOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sent: u64 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 1_000_000,
    };
    let broker = MemoryBroker::new();
    let sub = broker.subscription("bench", "bench-sub", MemorySubscriptionOptions::default());
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
    let started = Instant::now();
    let subscriber = Subscriber::start("bench-sub", sub, handler, opts);
    let deadline = Instant::now() + Duration::from_secs(120);
    while handled.load(Ordering::Relaxed) < sent {
        if Instant::now() > deadline {
            return Err("timed out before every message was handled".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let consumed = started.elapsed();
    let stats = subscriber.shutdown_with_stats().await?;
    let rate = |d: Duration| sent as f64 / d.as_secs_f64();
    println!(
        "memory pubsub (Rust): published {sent} in {published:?} ({:.0}/s); handled {} in {consumed:?} ({:.0}/s); acked {}",
        rate(published),
        handled.load(Ordering::Relaxed),
        rate(consumed),
        stats.acked
    );
    Ok(())
}
