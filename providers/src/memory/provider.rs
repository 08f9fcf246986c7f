//! The memory providers' registrations: `"provider": "memory"` under
//! `pubsub`, `objects` and `caches`.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use strata_core::Result;
use strata_core::cache::CacheDriver;
use strata_core::objects::BucketDriver;
use strata_core::pubsub::{SubscriptionDriver, TopicDriver};
use strata_core::registry::{
    BucketEntry, CacheEntry, CacheProvider, ObjectsProvider, OpenContext, OptionsType,
    ProviderOptions, PubSubProvider, SubscriptionEntry, TopicEntry,
};

use super::cache::MemoryCache;
use super::objects::MemoryBucket;
use super::pubsub::{MemoryBroker, MemorySubscriptionOptions};

/// Entries a memory cache keeps when the config gives no bound.
const DEFAULT_MAX_ENTRIES: u64 = 100_000;
/// The largest bound a config may set: the cache's index is sized from it,
/// and a hundred million entries is far beyond what an in-process cache
/// should hold (use Redis).
pub const MAX_MAX_ENTRIES: u64 = 100_000_000;

/// In-process topics; one broker per `Infra`, so every topic and subscription
/// of an application meets there.
pub struct MemoryPubSubProvider;

impl MemoryPubSubProvider {
    async fn broker(cx: &OpenContext) -> Result<Arc<MemoryBroker>> {
        cx.cluster(|| async { Ok(MemoryBroker::new()) }).await
    }
}

#[async_trait]
impl PubSubProvider for MemoryPubSubProvider {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn open_topic(
        &self,
        cx: &OpenContext,
        topic: TopicEntry<'_>,
    ) -> Result<Arc<dyn TopicDriver>> {
        Ok(Self::broker(cx).await?.topic(topic.physical))
    }

    async fn open_subscription(
        &self,
        cx: &OpenContext,
        topic: TopicEntry<'_>,
        subscription: SubscriptionEntry<'_>,
    ) -> Result<Arc<dyn SubscriptionDriver>> {
        let opts = MemorySubscriptionOptions {
            lease: subscription.config.lease(),
        };
        Ok(Self::broker(cx)
            .await?
            .subscription(topic.physical, subscription.physical, opts))
    }
}

/// In-process buckets.
pub struct MemoryObjectsProvider;

#[async_trait]
impl ObjectsProvider for MemoryObjectsProvider {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn open_bucket(
        &self,
        _cx: &OpenContext,
        _bucket: BucketEntry<'_>,
    ) -> Result<Arc<dyn BucketDriver>> {
        Ok(Arc::new(MemoryBucket::new()))
    }
}

/// The `memory` cache's own fields.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryCacheOptions {
    /// Most entries kept before eviction (default 100000, at most 100000000).
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_MAX_ENTRIES))]
    pub max_entries: Option<u64>,
}

impl ProviderOptions for MemoryCacheOptions {}

/// An in-process, bounded, TTL-aware cache.
pub struct MemoryCacheProvider;

#[async_trait]
impl CacheProvider for MemoryCacheProvider {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn options(&self) -> OptionsType {
        OptionsType::of::<MemoryCacheOptions>()
    }

    async fn open_cache(
        &self,
        cx: &OpenContext,
        cache: CacheEntry<'_>,
    ) -> Result<Arc<dyn CacheDriver>> {
        let options: MemoryCacheOptions = cx.options(&cache.config.options, &cache.path())?;
        let max = options.max_entries.unwrap_or(DEFAULT_MAX_ENTRIES);
        Ok(Arc::new(MemoryCache::new(
            usize::try_from(max).unwrap_or(usize::MAX),
        )))
    }
}
