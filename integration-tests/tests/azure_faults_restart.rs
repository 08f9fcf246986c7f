//! Azurite stopped and restarted (`localstack/emulators restart azurite`)
//! during 2,000 calls: 1,000 uploads, each read back at once, the last 300
//! of them issued once Azurite is back, however long its restart took. The
//! only test of this binary: the restart would break any test running
//! beside it. Azurite is left running, with its data (it keeps its blobs in
//! its `--location`).
//!
//! What is asserted:
//! - no hang: every upload and download resolves within a bound;
//! - a call fails only while Azurite is down (and a few seconds of retries
//!   after), and only `Unavailable` or `Timeout`;
//! - every upload that resolved is readable after, with its bytes.
//!
//! Needs Azurite started by `localstack/emulators up azurite` (the restart
//! replays its command line).

#![cfg(feature = "azure")]
#![allow(clippy::unwrap_used)]

#[path = "support/azure_harness.rs"]
mod azure_harness;
// Shared with the other restart tests; `reopen` is not used here.
#[allow(dead_code)]
#[path = "support/emulator_restart.rs"]
mod emulator_restart;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use azure_harness::{AZURITE, AzureObjectsHarness};
use futures::StreamExt;
use strata_core::ErrorCode;
use strata_core::objects::{Bucket, PutOptions};
use tokio::time::Instant;

/// Uploads in all (each with its download: twice as many calls).
const TOTAL: usize = 1_000;
/// Started every tick: 1,000 in about 10 s.
const PER_TICK: usize = 5;
/// Uploads kept for after the restart, whenever it ends.
const AFTER: usize = 300;
const TICK: Duration = Duration::from_millis(50);
/// When Azurite is stopped.
const STOP_AT: Duration = Duration::from_secs(3);
/// The longest the restart may take.
const RESTART_LIMIT: Duration = Duration::from_secs(60);
/// The longest one upload and its download may take, retries included.
const CALL_LIMIT: Duration = Duration::from_secs(45);
/// How long calls may go on failing once Azurite answers again: those
/// already in their retries, and pooled connections found dead.
const SETTLE: Duration = Duration::from_secs(5);

/// What became of upload `n` and its read-back.
struct Record {
    issued: Instant,
    resolved: Instant,
    upload: Result<(), ErrorCode>,
    download: Option<Result<(), ErrorCode>>,
}

fn body(n: usize) -> String {
    format!("upload {n} of the restart test {}", "x".repeat(n % 97))
}

async fn one(bucket: Bucket, n: usize) -> Record {
    let issued = Instant::now();
    let key = format!("restart/{n:05}");
    let upload = bucket
        .upload(&key, body(n), PutOptions::default())
        .await
        .map(drop)
        .map_err(|e| e.code());
    let download = match upload {
        Ok(()) => Some(match bucket.download(&key).await {
            Ok(bytes) => {
                assert_eq!(bytes, body(n).as_bytes(), "`{key}` read back other bytes");
                Ok(())
            }
            Err(e) => Err(e.code()),
        }),
        Err(_) => None,
    };
    Record {
        issued,
        resolved: Instant::now(),
        upload,
        download,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_and_downloads_survive_an_azurite_restart() {
    let h = AzureObjectsHarness::new().await;
    let (name, driver) = h.blob_bucket().await;
    let bucket = Bucket::new(&name, Arc::new(driver));

    let started = Instant::now();
    let restarted = Arc::new(AtomicBool::new(false));
    let load = {
        let bucket = bucket.clone();
        let restarted = Arc::clone(&restarted);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            let mut running = futures::stream::FuturesUnordered::new();
            let mut records = Vec::with_capacity(TOTAL);
            let mut next = 0;
            while next < TOTAL || !running.is_empty() {
                // The last AFTER wait for the restart, however long it takes.
                let cap = if restarted.load(Ordering::Relaxed) {
                    TOTAL
                } else {
                    TOTAL - AFTER
                };
                tokio::select! {
                    _ = tick.tick(), if next < TOTAL => {
                        for n in next..(next + PER_TICK).min(cap) {
                            let call = one(bucket.clone(), n);
                            running.push(async move {
                                let record = tokio::time::timeout(CALL_LIMIT, call).await;
                                (n, record)
                            });
                        }
                        next = (next + PER_TICK).min(cap).max(next);
                    }
                    Some((n, record)) = running.next() => {
                        let record = record.unwrap_or_else(|_| {
                            panic!("upload {n} did not resolve within {CALL_LIMIT:?}")
                        });
                        records.push((n, record));
                    }
                }
            }
            records
        })
    };
    tokio::time::sleep(STOP_AT).await;
    let stopped_at = Instant::now();
    let up_at = emulator_restart::restart(AZURITE.name, RESTART_LIMIT).await;
    restarted.store(true, Ordering::Relaxed);
    let records = tokio::time::timeout(Duration::from_secs(120), load)
        .await
        .expect("the load did not finish")
        .unwrap();
    let secs = |at: Instant| at.duration_since(started).as_secs_f64();

    let mut failures: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut stored = Vec::new();
    for (n, r) in &records {
        let failed = [Some(r.upload), r.download]
            .into_iter()
            .flatten()
            .filter_map(Result::err)
            .collect::<Vec<_>>();
        if r.upload.is_ok() {
            stored.push(*n);
        }
        for code in failed {
            *failures.entry(code.as_str()).or_default() += 1;
            assert!(
                matches!(code, ErrorCode::Unavailable | ErrorCode::Timeout),
                "upload {n} failed with {code:?}, not Unavailable or Timeout"
            );
            assert!(
                r.resolved >= stopped_at && r.issued <= up_at + SETTLE,
                "upload {n} failed outside the outage: issued at {:.1}s, resolved at {:.1}s \
                 (stopped at {:.1}s, up at {:.1}s)",
                secs(r.issued),
                secs(r.resolved),
                secs(stopped_at),
                secs(up_at)
            );
        }
    }
    let slowest = records
        .iter()
        .map(|(_, r)| (r.resolved - r.issued, r.issued))
        .max()
        .map_or((Duration::ZERO, 0.0), |(took, at)| (took, secs(at)));
    eprintln!(
        "Azurite stopped at {:.1}s, answering again at {:.1}s; {} uploads in {:.1}s: {} stored, \
         failures by code {failures:?}; slowest upload and read {:.1}s, issued at {:.1}s",
        secs(stopped_at),
        secs(up_at),
        records.len(),
        started.elapsed().as_secs_f64(),
        stored.len(),
        slowest.0.as_secs_f64(),
        slowest.1,
    );
    assert_eq!(records.len(), TOTAL);
    // Enough on either side of the outage to show anything.
    let ok_between = |from: Instant, to: Instant| {
        records
            .iter()
            .filter(|(_, r)| r.upload.is_ok() && r.issued >= from && r.issued < to)
            .count()
    };
    let (before, after) = (
        ok_between(started, stopped_at),
        ok_between(up_at, Instant::now()),
    );
    assert!(
        before >= 100 && after >= AFTER / 2,
        "too few uploads stored on either side of the restart: {before} before, {after} after"
    );

    // Every upload that resolved is there, with its bytes.
    let unreadable: Vec<usize> = futures::stream::iter(stored)
        .map(|n| {
            let bucket = bucket.clone();
            async move {
                match bucket.download(&format!("restart/{n:05}")).await {
                    Ok(bytes) if bytes == body(n).as_bytes() => None,
                    _ => Some(n),
                }
            }
        })
        .buffer_unordered(32)
        .filter_map(|n| async move { n })
        .collect()
        .await;
    assert!(
        unreadable.is_empty(),
        "{} uploads that resolved are not readable after the restart (first: {:?})",
        unreadable.len(),
        &unreadable[..unreadable.len().min(10)]
    );
}
