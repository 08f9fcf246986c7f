//! The Redis provider's registration: `"provider": "redis"` under `caches`,
//! with its own fields.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use strata_core::Result;
use strata_core::cache::CacheDriver;
use strata_core::registry::{
    CacheEntry, CacheProvider, OpenContext, OptionsType, ProviderOptions, Registry,
};

use super::options::redact_url;
use super::{RedisCache, RedisOptions};

/// The largest `db` index: Redis servers have 16 databases unless configured
/// otherwise, and a server configured with more than a thousand is not one
/// Strata's caches should index into.
pub const MAX_DB: u32 = 1000;
/// The longest connect or response timeout, in milliseconds: an hour. A
/// cache call waiting longer is a hang, not a timeout.
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// The `redis` cache's own fields.
///
/// `Debug` hides the password and any credentials in the URL.
#[derive(Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisCacheOptions {
    /// `redis://` or `rediss://` (TLS) URL,
    /// `redis[s]://[user[:password]@]host[:port][/db]`. Keep credentials out of
    /// it with `username`/`password` or write the whole URL as `{"$env": "NAME"}`.
    pub url: String,
    /// ACL user name (Redis 6+); overrides a user in the URL.
    #[serde(default)]
    pub username: Option<String>,
    /// The ACL user's password, or without `username` the server's auth
    /// string (`requirepass`); overrides one in the URL. Use `{"$env": "NAME"}`.
    #[serde(default)]
    pub password: Option<String>,
    /// Database index; overrides the URL's path (default 0, at most 1000).
    #[serde(default)]
    #[schemars(range(max = MAX_DB))]
    pub db: Option<u32>,
    /// With `rediss://` only: PEM file of the CA certificates to trust instead
    /// of the system's (e.g. Memorystore's server CA), relative to the config
    /// file.
    #[serde(default)]
    pub tls_ca_file: Option<String>,
    /// How long one connection attempt may take, in milliseconds (default
    /// 5000, at most an hour).
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_TIMEOUT_MS))]
    pub connect_timeout_ms: Option<u64>,
    /// How long a command may wait for its reply, in milliseconds (default
    /// 5000, at most an hour).
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_TIMEOUT_MS))]
    pub response_timeout_ms: Option<u64>,
}

impl ProviderOptions for RedisCacheOptions {
    fn check(&self, _registry: &Registry) -> std::result::Result<(), (String, String)> {
        // Never echo the URL: it may carry a password.
        let tls = if self.url.starts_with("rediss://") {
            true
        } else if self.url.starts_with("redis://") {
            false
        } else {
            return Err((
                "url".into(),
                "expected a URL starting with `redis://` or `rediss://` (TLS)".into(),
            ));
        };
        if self.tls_ca_file.is_some() && !tls {
            return Err((
                "tls_ca_file".into(),
                "`tls_ca_file` needs a `rediss://` (TLS) url".into(),
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for RedisCacheOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Configs get logged; a password must never reach a log line.
        f.debug_struct("RedisCacheOptions")
            .field("url", &redact_url(&self.url))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("response_timeout_ms", &self.response_timeout_ms)
            .finish()
    }
}

/// Redis: self-hosted, ElastiCache, Memorystore, Azure Cache for Redis.
pub struct RedisProvider;

#[async_trait]
impl CacheProvider for RedisProvider {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn options(&self) -> OptionsType {
        OptionsType::of::<RedisCacheOptions>()
    }

    async fn open_cache(
        &self,
        cx: &OpenContext,
        cache: CacheEntry<'_>,
    ) -> Result<Arc<dyn CacheDriver>> {
        let options: RedisCacheOptions = cx.options(&cache.config.options, &cache.path())?;
        let options = RedisOptions::from_config(&options, cx.base_dir());
        Ok(Arc::new(RedisCache::connect(options).await?))
    }
}
