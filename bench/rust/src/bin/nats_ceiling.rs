//! JetStream publish and consume → ack with async-nats alone, no Strata and
//! no Node: the ceiling beside `bench/node-nats` (which runs it from its
//! run.sh). The same shapes as that bench: 256-byte payloads, 64 publishes
//! awaiting their acks at once; then a durable pull consumer created before
//! the publishes drains them, pulling 64 at a time and acking each.
//!
//! Run: `cargo run --release -p strata-bench --bin nats_ceiling [COUNT] [REPS]`
//! (server `BENCH_NATS_URL`, default `nats://127.0.0.1:4222`). Prints one JSON
//! line per measurement, in the shape of the Node benches' rows. The stream
//! (`strata-bench-rust-<pid>`, file storage, limits retention) is deleted at
//! the end.

use std::time::Instant;

use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;

/// Publishes awaiting their acks at once, and messages one pull asks for.
const INFLIGHT: usize = 64;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(Ok(200_000), |n| n.parse())?;
    let reps: usize = args.next().map_or(Ok(3), |n| n.parse())?;
    let url = std::env::var("BENCH_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());

    let client = async_nats::connect(&url).await?;
    let js = jetstream::new(client);
    let name = format!("strata-bench-rust-{}", std::process::id());
    let subject = format!("strata.{name}");
    js.create_stream(stream::Config {
        name: name.clone(),
        subjects: vec![subject.clone()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_messages: i64::try_from(count.max(200_000))?,
        ..Default::default()
    })
    .await?;
    let outcome = run(&js, &name, &subject, count, reps).await;
    js.delete_stream(&name).await?;
    outcome
}

async fn run(
    js: &jetstream::Context,
    name: &str,
    subject: &str,
    count: usize,
    reps: usize,
) -> Result<()> {
    let stream = js.get_stream(name).await?;
    let payload = Bytes::from(vec![b'x'; 256]);
    for rep in 1..=reps {
        let durable = format!("rust-{rep}");
        let consumer = stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some(durable.clone()),
                ack_policy: consumer::AckPolicy::Explicit,
                deliver_policy: consumer::DeliverPolicy::New,
                ..Default::default()
            })
            .await?;

        let (cpu0, t0) = (process_cpu_us(), Instant::now());
        let mut acks = FuturesUnordered::new();
        for _ in 0..count {
            if acks.len() >= INFLIGHT
                && let Some(ack) = acks.next().await
            {
                ack?;
            }
            acks.push(
                js.publish(subject.to_owned(), payload.clone())
                    .await?
                    .into_future(),
            );
        }
        while let Some(ack) = acks.next().await {
            ack?;
        }
        report(rep, "publish", count, t0, cpu0);

        let (cpu0, t0) = (process_cpu_us(), Instant::now());
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(INFLIGHT)
            .messages()
            .await?;
        let mut received = 0;
        while received < count {
            let message = messages.next().await.ok_or("the pull ended early")??;
            message.ack().await?;
            received += 1;
        }
        report(rep, "receive-ack", count, t0, cpu0);
        drop(messages);
        stream.delete_consumer(&durable).await?;
    }
    Ok(())
}

/// One measurement as a JSON line (rows of the Node benches: rate and CPU per message).
fn report(rep: usize, op: &str, count: usize, t0: Instant, cpu0: f64) {
    let secs = t0.elapsed().as_secs_f64();
    let cpu = (process_cpu_us() - cpu0) / count as f64;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load1 = load.split_whitespace().next().unwrap_or("0");
    println!(
        "{{\"suite\":\"ceiling\",\"side\":\"rust-async-nats\",\"op\":\"{op}\",\"rep\":{rep},\"inflight\":{INFLIGHT},\
         \"calls\":{count},\"unitsPerSec\":{:.1},\"processCpuUsPerOp\":{cpu:.3},\"load1\":{load1}}}",
        count as f64 / secs
    );
}

/// CPU time of the whole process so far in µs (utime + stime of /proc/self/stat, 10 ms ticks).
fn process_cpu_us() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are the 14th and 15th fields of the line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) * 10_000.0
}
