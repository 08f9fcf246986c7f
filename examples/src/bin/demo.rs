//! The Strata demo: an upload pipeline that uses all four building blocks.
//!
//! Files are stored in a bucket, an event per file is published, a subscriber
//! reads each file back, caches its size and records it in the database. One
//! file fails on its first attempt and is retried. The program prints an account
//! of what happened. With no config file it runs on the embedded defaults; point
//! `STRATA_CONFIG` at another config file to run it elsewhere, unchanged.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use strata_core::objects::PutOptions;
use strata_core::pubsub::{Handler, HandlerError, Message, OutgoingMessage, RetryPolicy};
use strata_core::sqldb::SqlValue;
use strata_infra::{Infra, SubscribeOptions};
use tokio::sync::mpsc;

/// The uploads the demo stores: (key, content type, size in bytes).
const UPLOADS: [(&str, &str, usize); 3] = [
    ("img/cat.png", "image/png", 2048),
    ("img/dog.jpg", "image/jpeg", 4096),
    ("img/broken.png", "image/png", 512),
];

/// A file whose first processing attempt fails, to show retries.
const FLAKY_KEY: &str = "img/broken.png";

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("demo failed: {err}");
        std::process::exit(1);
    }
}

/// What the subscriber reports for each processed upload.
struct Processed {
    key: String,
    size: usize,
    attempt: u32,
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let infra = Infra::load().await?;
    match &infra.config().file {
        None => println!("Strata demo on the embedded defaults (no config file)"),
        Some(file) => println!("Strata demo with config {}", file.display()),
    }

    let uploads = infra.bucket("uploads")?;
    let sizes = infra.cache("sizes")?;
    let db = infra.database("main").await?;
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let report = db.migrate(&migrations).await?;
    println!(
        "  database `main`: {} migration(s) applied, {} already applied",
        report.applied.len(),
        report.already_applied
    );

    // The subscriber: read the file back, cache its size, record it.
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Processed>();
    let handler: Handler = {
        let (uploads, sizes, db) = (uploads.clone(), sizes.clone(), db.clone());
        Arc::new(move |msg: Message| {
            let (uploads, sizes, db, done) =
                (uploads.clone(), sizes.clone(), db.clone(), done_tx.clone());
            async move {
                let key = String::from_utf8(msg.data.to_vec())?;
                if key == FLAKY_KEY && msg.delivery_attempt == 1 {
                    println!("  ✗ {key}: simulated failure on attempt 1, will be retried");
                    return Err::<(), HandlerError>("simulated thumbnailer crash".into());
                }
                let body = uploads.download(&key).await?;
                sizes.set_int(&key, body.len() as i64).await?;
                db.execute(
                    "INSERT INTO processed_uploads (upload_key, size_bytes, attempts, processed_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (upload_key) DO UPDATE
                     SET size_bytes = $2, attempts = $3, processed_at = $4",
                    &[
                        SqlValue::Text(key.clone()),
                        SqlValue::Int(body.len() as i64),
                        SqlValue::Int(i64::from(msg.delivery_attempt)),
                        SqlValue::Text(format!("{:?}", msg.publish_time)),
                    ],
                )
                .await?;
                let _ = done.send(Processed {
                    key,
                    size: body.len(),
                    attempt: msg.delivery_attempt,
                });
                Ok(())
            }
            .boxed()
        })
    };
    infra.subscribe(
        "uploads",
        "thumbnailer",
        handler,
        SubscribeOptions {
            max_concurrency: Some(4),
            retry: Some(RetryPolicy {
                min_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
            }),
            ..SubscribeOptions::default()
        },
    )?;

    // Store each file, then announce it.
    let topic = infra.topic("uploads")?;
    for (key, content_type, size) in UPLOADS {
        let body = vec![b'x'; size];
        let opts = PutOptions {
            content_type: Some(content_type.to_owned()),
            ..PutOptions::default()
        };
        let meta = uploads.upload(key, body, opts).await?;
        let id = topic
            .publish(OutgoingMessage::new(key.as_bytes().to_vec()).with_attribute("kind", "upload"))
            .await?;
        println!(
            "  ↑ stored {key} ({} B, etag {}) and published event {id}",
            meta.size, meta.etag
        );
    }

    let mut processed = Vec::new();
    while processed.len() < UPLOADS.len() {
        match tokio::time::timeout(Duration::from_secs(10), done_rx.recv()).await {
            Ok(Some(p)) => {
                println!(
                    "  ✓ {}: {} B processed on attempt {}",
                    p.key, p.size, p.attempt
                );
                processed.push(p);
            }
            Ok(None) | Err(_) => return Err("timed out waiting for the subscriber".into()),
        }
    }

    let cached = sizes.get_int("img/cat.png").await?;
    println!("  cache `sizes`: img/cat.png → {cached:?}");
    let rows = db
        .query(
            "SELECT upload_key, size_bytes, attempts FROM processed_uploads ORDER BY upload_key",
            &[],
        )
        .await?;
    println!(
        "  database `main`: {} row(s) in processed_uploads",
        rows.len()
    );
    for row in &rows {
        println!("    {:?}", row.values);
    }

    infra.close().await?;
    println!(
        "done in {:.2} s: {} uploads, {} processed, 1 retried; closed cleanly",
        started.elapsed().as_secs_f64(),
        UPLOADS.len(),
        processed.len()
    );
    Ok(())
}
