//! The cache conformance suite against [`MemoryCache`], plus the bound that
//! only a bounded provider has.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use strata_core::cache::Keyspace;
use strata_core::testkit::cache::{self as suite, CacheHarness};
use strata_providers::memory::cache::MemoryCache;

/// Every keyspace of the harness shares one driver, as an application's do.
struct MemoryHarness {
    cache: Arc<MemoryCache>,
}

impl MemoryHarness {
    fn new() -> Self {
        Self {
            cache: Arc::new(MemoryCache::new(100_000)),
        }
    }
}

#[async_trait]
impl CacheHarness for MemoryHarness {
    async fn keyspace(&self, default_ttl: Option<Duration>) -> Keyspace {
        let prefix = format!("test-{:016x}:", fastrand::u64(..));
        Keyspace::new("test", self.cache.clone(), prefix, default_ttl)
    }
}

/// Every case gets a time limit, so a hang fails instead of blocking CI.
async fn run<F: Future<Output = ()>>(case: F) {
    tokio::time::timeout(Duration::from_secs(30), case)
        .await
        .expect("case timed out");
}

strata_core::cache_conformance! {
    #[tokio::test]
    harness: MemoryHarness::new(),
    run: run,
    skip: {},
}

#[tokio::test]
async fn run_all_passes_on_one_shared_driver() {
    run(suite::run_all(&MemoryHarness::new())).await;
}

#[tokio::test]
async fn memory_cache_claims_bounded_and_not_durable() {
    let cache = MemoryCache::new(10);
    let caps = strata_core::cache::CacheDriver::capabilities(&cache);
    assert!(caps.bounded);
    assert!(!caps.durable);
}

#[tokio::test]
async fn bounded_memory_cache_evicts_down_to_its_bound() {
    let max = 500;
    let cache = Arc::new(MemoryCache::new(max));
    let ks = Keyspace::new("bounded", cache.clone(), "b:", None);
    let inserted = max + 100;
    for i in 0..inserted {
        ks.set(&format!("k{i}"), format!("v{i}")).await.unwrap();
    }
    let keys: Vec<String> = (0..inserted).map(|i| format!("k{i}")).collect();
    let present = ks
        .get_many(&keys)
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .count();
    assert!(
        present <= max,
        "{present} of {inserted} keys present, bound is {max}"
    );
    assert!(
        present >= max - 5,
        "only {present} keys left: eviction removed too many"
    );
    assert_eq!(cache.len(), present);
    let newest = format!("k{}", inserted - 1);
    assert_eq!(
        ks.get(&newest).await.unwrap(),
        Some(format!("v{}", inserted - 1))
    );
}
