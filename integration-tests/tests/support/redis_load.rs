//! The fault scenario: a private Redis is killed and restarted on the same port
//! in the middle of a load of 10,000 calls, which are counted by outcome.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use strata_core::ErrorCode;
use strata_core::cache::Keyspace;
use strata_providers::redis::{RedisCache, RedisOptions};

use super::redis_server::PrivateRedis;

const TOTAL: u64 = 10_000;
const WORKERS: usize = 16;
/// Pause between two calls of a worker: paces the load (≈ 3,000 calls/s) so
/// plenty of it is left after the restart.
const PACE: Duration = Duration::from_millis(4);
/// Calls completed before the kill.
const KILL_AFTER: u64 = 3_000;
/// How long the server is frozen before it is killed: longer than a worker's
/// pause, shorter than the response timeout.
const FROZEN: Duration = Duration::from_millis(200);
/// How long the server stays down.
const DOWNTIME: Duration = Duration::from_millis(500);
/// After the restart, time for the reconnection backoff to notice.
const GRACE: Duration = Duration::from_secs(1);
/// A call that takes longer than this counts as hung.
const CALL_LIMIT: Duration = Duration::from_secs(15);

/// Outcome counts of the load.
#[derive(Debug, Default)]
pub struct LoadReport {
    ok: u64,
    unavailable: u64,
    other: u64,
    hung: u64,
    /// Calls started once the server had been back for [`GRACE`].
    ok_after_recovery: u64,
    failed_after_recovery: u64,
    completed_at_kill: u64,
    max_latency: Duration,
    first_unavailable: Option<String>,
    others: Vec<String>,
    check_after_load: Option<String>,
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "redis restart mid-load: {TOTAL} calls, {WORKERS} workers, frozen {FROZEN:?} then killed after {} completed, down {DOWNTIME:?}",
            self.completed_at_kill
        )?;
        writeln!(
            f,
            "  ok={} Unavailable={} other={} hung={} | started after recovery: ok={} failed={} | max latency {:?}",
            self.ok,
            self.unavailable,
            self.other,
            self.hung,
            self.ok_after_recovery,
            self.failed_after_recovery,
            self.max_latency
        )?;
        if let Some(first) = &self.first_unavailable {
            writeln!(f, "  first Unavailable: {first}")?;
        }
        for other in &self.others {
            writeln!(f, "  other error: {other}")?;
        }
        Ok(())
    }
}

impl LoadReport {
    /// Every call accounted for, none hung or failed oddly, the kill seen as
    /// `Unavailable`, and every call after recovery served.
    pub fn assert_healthy(&self) {
        assert_eq!(
            self.ok + self.unavailable + self.other + self.hung,
            TOTAL,
            "calls lost: {self}"
        );
        assert_eq!(self.hung, 0, "calls hung: {self}");
        assert_eq!(self.other, 0, "failures other than Unavailable: {self}");
        assert!(
            self.unavailable >= WORKERS as u64,
            "every worker had a call in flight at the kill, yet only {} failed: {self}",
            self.unavailable
        );
        assert!(
            self.ok_after_recovery >= 500,
            "too few calls after recovery to judge: {self}"
        );
        assert_eq!(
            self.failed_after_recovery, 0,
            "calls failed after the server was back: {self}"
        );
        assert_eq!(
            self.check_after_load, None,
            "the cache did not serve after the load: {self}"
        );
    }
}

#[derive(Default)]
struct Counters {
    report: Mutex<LoadReport>,
    next: AtomicU64,
    completed: AtomicU64,
    recovered_at: OnceLock<Instant>,
}

/// Runs the scenario on a private server and reports the counts.
pub async fn restart_mid_load() -> LoadReport {
    let server = Arc::new(Mutex::new(PrivateRedis::start(&[])));
    let url = server.lock().unwrap().url();
    let mut options = RedisOptions::new(url);
    options.connect_timeout = Duration::from_secs(1);
    options.response_timeout = Duration::from_secs(2);
    options.reconnect_max_delay = Duration::from_millis(250);
    let cache = RedisCache::connect(options).await.unwrap();
    let ks = Keyspace::new("load", Arc::new(cache), "load:", None);
    let counters = Arc::new(Counters::default());

    let workers: Vec<_> = (0..WORKERS)
        .map(|_| tokio::spawn(worker(ks.clone(), counters.clone())))
        .collect();
    let chaos = tokio::spawn(kill_and_restart(server.clone(), counters.clone()));
    for worker in workers {
        worker.await.expect("a load worker panicked");
    }
    chaos.await.expect("the kill/restart task panicked");

    let mut report = std::mem::take(&mut *counters.report.lock().unwrap());
    let after = async {
        ks.set("after", "x").await?;
        ks.get("after").await
    };
    report.check_after_load = match tokio::time::timeout(CALL_LIMIT, after).await {
        Ok(Ok(Some(v))) if v == "x" => None,
        other => Some(format!("{other:?}")),
    };
    report
}

async fn worker(ks: Keyspace, counters: Arc<Counters>) {
    loop {
        let i = counters.next.fetch_add(1, Ordering::Relaxed);
        if i >= TOTAL {
            return;
        }
        let started = Instant::now();
        let after_recovery = counters.recovered_at.get().is_some_and(|at| started >= *at);
        let outcome = tokio::time::timeout(CALL_LIMIT, call(&ks, i)).await;
        let latency = started.elapsed();
        {
            let mut r = counters.report.lock().unwrap();
            r.max_latency = r.max_latency.max(latency);
            let ok = matches!(outcome, Ok(Ok(())));
            match outcome {
                Ok(Ok(())) => r.ok += 1,
                Ok(Err(err)) if err.code() == ErrorCode::Unavailable => {
                    r.unavailable += 1;
                    r.first_unavailable.get_or_insert_with(|| err.to_string());
                }
                Ok(Err(err)) => {
                    r.other += 1;
                    if r.others.len() < 5 {
                        r.others.push(format!("{err:?}"));
                    }
                }
                Err(_) => r.hung += 1,
            }
            if after_recovery {
                if ok {
                    r.ok_after_recovery += 1;
                } else {
                    r.failed_after_recovery += 1;
                }
            }
        }
        counters.completed.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(PACE).await;
    }
}

/// One call of the mix: a write, a read or an increment.
async fn call(ks: &Keyspace, i: u64) -> strata_core::Result<()> {
    let key = format!("k{}", i % 100);
    match i % 3 {
        0 => ks.set(&key, i.to_string()).await,
        1 => ks.get(&key).await.map(drop),
        _ => ks.incr("counter", 1).await.map(drop),
    }
}

async fn kill_and_restart(server: Arc<Mutex<PrivateRedis>>, counters: Arc<Counters>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while counters.completed.load(Ordering::Relaxed) < KILL_AFTER {
        assert!(
            Instant::now() < deadline,
            "the load never reached {KILL_AFTER} calls"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let completed = counters.completed.load(Ordering::Relaxed);
    counters.report.lock().unwrap().completed_at_kill = completed;
    // Freeze first, so every worker has a call in flight when it dies.
    server.lock().unwrap().freeze();
    tokio::time::sleep(FROZEN).await;
    let s = server.clone();
    tokio::task::spawn_blocking(move || s.lock().unwrap().kill())
        .await
        .expect("kill");
    tokio::time::sleep(DOWNTIME).await;
    tokio::task::spawn_blocking(move || server.lock().unwrap().restart())
        .await
        .expect("restart");
    let _ = counters.recovered_at.set(Instant::now() + GRACE);
}
