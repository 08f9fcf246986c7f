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

macro_rules! cases {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            run(suite::$name(&MemoryHarness::new())).await;
        }
    )*};
}

cases!(
    strings_set_get_and_miss,
    set_if_absent_writes_only_new_keys,
    replace_writes_only_existing_keys,
    delete_counts_existing_keys,
    get_many_and_set_many_keep_order_with_misses,
    incr_and_decr_count_from_zero,
    incr_on_non_number_is_invalid,
    floats_round_trip_and_increment,
    lists_push_pop_range_and_len,
    missing_list_is_empty,
    sets_add_remove_members_contains_len,
    wrong_type_is_invalid_argument,
    ttl_expires_values,
    default_ttl_is_applied,
    keep_ttl_keeps_expiry,
    persist_and_expire_change_expiry,
    ttl_reports_key_state,
    prefixes_isolate_keyspaces,
    large_value_round_trips,
    invalid_keys_are_rejected,
);

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
