//! [`Infra`]: the live providers built from an infra config.
//!
//! Everything the config declares is built at startup (so a bad endpoint or an
//! unreadable folder fails fast), then handed out by logical name. With no config
//! file, any logical name gets an embedded provider on first use.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_core::cache::Keyspace;
use strata_core::config::{
    BucketConfig, CacheConfig, DatabaseConfig, LoadedConfig, SubscriptionConfig, TopicConfig,
    load_config,
};
use strata_core::names::check_logical_name;
use strata_core::objects::Bucket;
use strata_core::pubsub::{
    DeadLetterPolicy, Handler, RetryPolicy, Subscriber, SubscriberOptions, SubscriptionDriver,
    Topic, TopicOptions,
};
use strata_core::registry::{
    Block, BucketEntry, CacheEntry, DatabaseEntry, OpenContext, Registry, SubscriptionEntry,
    TopicEntry,
};
use strata_core::sqldb::Database;
use strata_core::sync::lock;
use strata_core::{Error, Result};

use crate::registrations::{EMBEDDED_DEFAULTS, registry};

/// Options a subscriber gives in code. The config, where it sets the same knob,
/// wins: operators tune a deployment without a code change.
#[derive(Default)]
pub struct SubscribeOptions {
    /// Handlers running at once.
    pub max_concurrency: Option<usize>,
    /// Retry delays.
    pub retry: Option<RetryPolicy>,
    /// Deliveries before a failing message is dead-lettered; needs a
    /// dead-letter topic, here or in the config.
    pub max_attempts: Option<u32>,
    /// Logical name of the topic that receives dead-lettered messages; needs
    /// `max_attempts`, here or in the config.
    pub dead_letter_topic: Option<String>,
    /// Longest a handler may run before it counts as failed.
    pub handler_timeout: Option<Duration>,
}

/// The live providers of one application. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> strata_core::Result<()> {
/// use strata_infra::Infra;
/// let infra = Infra::load().await?; // STRATA_CONFIG, ./infra.config.json, or embedded defaults
/// let orders = infra.topic("orders")?;
/// orders.publish(strata_core::pubsub::OutgoingMessage::new("hello")).await?;
/// infra.close().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Infra {
    inner: Arc<Inner>,
}

struct Inner {
    cx: OpenContext,
    registry: &'static Registry,
    topics: Mutex<HashMap<String, Topic>>,
    subscribers: Mutex<Vec<Subscriber>>,
    /// Subscriptions declared by the config, opened at startup, by (topic, subscription).
    subscriptions: Mutex<HashMap<(String, String), Arc<dyn SubscriptionDriver>>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    caches: Mutex<HashMap<String, Keyspace>>,
    databases: tokio::sync::Mutex<HashMap<String, Database>>,
    closed: AtomicBool,
}

/// Opens an embedded default from a synchronous accessor. The embedded
/// providers open without network I/O (at most a folder is created), so
/// waiting for them here is brief.
fn open_now<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    futures::executor::block_on(future)
}

impl Infra {
    /// Loads `STRATA_CONFIG`, else `./infra.config.json`, else the embedded defaults.
    pub async fn load() -> Result<Infra> {
        Self::load_from(None).await
    }

    /// Loads the config at `path` (or as [`Infra::load`] when `None`).
    pub async fn load_from(path: Option<&Path>) -> Result<Infra> {
        let loaded = load_config(path, registry())?;
        Self::from_config(loaded).await
    }

    /// Builds every provider the config declares. Must run inside a tokio runtime.
    pub async fn from_config(loaded: LoadedConfig) -> Result<Infra> {
        strata_core::tls::install_crypto_provider();
        let config = loaded.config.clone();
        let registry = registry();
        let infra = Infra {
            inner: Arc::new(Inner {
                cx: OpenContext::new(loaded, registry),
                registry,
                topics: Mutex::default(),
                subscribers: Mutex::default(),
                subscriptions: Mutex::default(),
                buckets: Mutex::default(),
                caches: Mutex::default(),
                databases: tokio::sync::Mutex::default(),
                closed: AtomicBool::new(false),
            }),
        };
        // Topics first: a subscription may name any topic as its dead-letter topic.
        for (name, topic) in &config.pubsub {
            infra.build_topic(name, topic).await?;
        }
        for (name, topic) in &config.pubsub {
            for (sub_name, sub) in &topic.subscriptions {
                infra.open_subscription(name, topic, sub_name, sub).await?;
            }
        }
        for (name, bucket) in &config.objects {
            infra.build_bucket(name, bucket).await?;
        }
        for (name, cache) in &config.caches {
            infra.build_cache(name, cache).await?;
        }
        for (name, db) in &config.databases {
            infra.build_database(name, db).await?;
        }
        Ok(infra)
    }

    /// The config this was built from.
    pub fn config(&self) -> &LoadedConfig {
        self.inner.cx.loaded()
    }

    /// What the providers open resources with: the escape hatch to a
    /// cloud's shared clients for a call Strata does not wrap, e.g.
    /// `strata_aws::AwsCluster::of(infra.context()).await?.clients()`.
    pub fn context(&self) -> &OpenContext {
        &self.inner.cx
    }

    fn is_embedded_defaults(&self) -> bool {
        self.config().is_embedded_defaults()
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            Err(Error::closed("this Infra has been closed"))
        } else {
            Ok(())
        }
    }

    /// Errors for a logical name the config file does not declare.
    fn undeclared(&self, block: &str, name: &str, declared: Vec<&String>) -> Error {
        let file = self
            .config()
            .file
            .as_deref()
            .map_or_else(|| "the config".to_owned(), |p| p.display().to_string());
        let list = if declared.is_empty() {
            "none".to_owned()
        } else {
            declared
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        Error::not_found(format!(
            "{block} `{name}` is not declared in {file} (it declares: {list})"
        ))
    }

    /// The provider of an entry, or why this build has none.
    fn unknown(&self, block: Block, name: &str, provider: &str) -> Error {
        Error::invalid_config(format!(
            "{}.{name}.provider: {}",
            block.key(),
            self.inner.registry.unknown_provider(block, provider)
        ))
    }

    /// The topic with this logical name.
    pub fn topic(&self, name: &str) -> Result<Topic> {
        self.check_open()?;
        check_logical_name("topic", name)?;
        if let Some(topic) = lock(&self.inner.topics).get(name) {
            return Ok(topic.clone());
        }
        if !self.is_embedded_defaults() {
            let declared = self.config().config.pubsub.keys().collect();
            return Err(self.undeclared("topic", name, declared));
        }
        open_now(self.build_topic(name, &embedded_topic()))
    }

    async fn build_topic(&self, name: &str, config: &TopicConfig) -> Result<Topic> {
        let provider = self
            .inner
            .registry
            .pubsub(&config.provider)
            .ok_or_else(|| self.unknown(Block::PubSub, name, &config.provider))?;
        let physical = config.name.as_deref().unwrap_or(name);
        let entry = TopicEntry {
            name,
            physical,
            config,
        };
        let driver = provider.open_topic(&self.inner.cx, entry).await?;
        let topic = Topic::new(name, driver, TopicOptions::default());
        let mut topics = lock(&self.inner.topics);
        Ok(topics.entry(name.to_owned()).or_insert(topic).clone())
    }

    async fn open_subscription(
        &self,
        topic_name: &str,
        topic: &TopicConfig,
        sub_name: &str,
        sub: &SubscriptionConfig,
    ) -> Result<Arc<dyn SubscriptionDriver>> {
        let provider = self
            .inner
            .registry
            .pubsub(&topic.provider)
            .ok_or_else(|| self.unknown(Block::PubSub, topic_name, &topic.provider))?;
        let physical_topic = topic.name.as_deref().unwrap_or(topic_name);
        let physical = sub.physical_name(topic_name, sub_name);
        let topic_entry = TopicEntry {
            name: topic_name,
            physical: physical_topic,
            config: topic,
        };
        let sub_entry = SubscriptionEntry {
            name: sub_name,
            physical: &physical,
            config: sub,
        };
        let driver = provider
            .open_subscription(&self.inner.cx, topic_entry, sub_entry)
            .await?;
        let key = (topic_name.to_owned(), sub_name.to_owned());
        let mut subscriptions = lock(&self.inner.subscriptions);
        Ok(subscriptions.entry(key).or_insert(driver).clone())
    }

    /// Runs `handler` for every message of `subscription` on `topic` until
    /// [`Infra::close`]. A handler error or panic means retry (with backoff),
    /// then dead-letter after the configured attempts.
    pub fn subscribe(
        &self,
        topic: &str,
        subscription: &str,
        handler: Handler,
        options: SubscribeOptions,
    ) -> Result<()> {
        self.check_open()?;
        check_logical_name("topic", topic)?;
        check_logical_name("subscription", subscription)?;
        let config = &self.config().config;
        let embedded = self.is_embedded_defaults();
        let (topic_config, sub_config) = match config.pubsub.get(topic) {
            Some(t) => (t.clone(), t.subscriptions.get(subscription).cloned()),
            None if embedded => (embedded_topic(), None),
            None => return Err(self.undeclared("topic", topic, config.pubsub.keys().collect())),
        };
        let sub_config = match sub_config {
            Some(s) => s,
            None if embedded => SubscriptionConfig::default(),
            None => {
                return Err(self.undeclared(
                    &format!("subscription of topic `{topic}`"),
                    subscription,
                    topic_config.subscriptions.keys().collect(),
                ));
            }
        };
        let opts = self.subscriber_options(&sub_config, options)?;
        let declared = lock(&self.inner.subscriptions)
            .get(&(topic.to_owned(), subscription.to_owned()))
            .cloned();
        let driver = match declared {
            Some(driver) => driver,
            // Embedded defaults: an undeclared subscription is opened now.
            None => {
                open_now(self.open_subscription(topic, &topic_config, subscription, &sub_config))?
            }
        };
        let subscriber =
            Subscriber::start(format!("{topic}/{subscription}"), driver, handler, opts);
        lock(&self.inner.subscribers).push(subscriber);
        Ok(())
    }

    /// The engine's options: code's, overridden by the config's where it
    /// sets the same knob.
    fn subscriber_options(
        &self,
        sub_config: &SubscriptionConfig,
        options: SubscribeOptions,
    ) -> Result<SubscriberOptions> {
        let mut opts = SubscriberOptions::default();
        if let Some(n) = options.max_concurrency {
            opts.max_concurrency = n;
        }
        if let Some(n) = sub_config.max_concurrency {
            opts.max_concurrency = n as usize;
        }
        if let Some(retry) = options.retry {
            opts.retry = retry;
        }
        if let Some(ms) = sub_config.min_backoff_ms {
            opts.retry.min_backoff = Duration::from_millis(ms);
        }
        if let Some(ms) = sub_config.max_backoff_ms {
            opts.retry.max_backoff = Duration::from_millis(ms);
        }
        if let Some(t) = options.handler_timeout {
            opts.handler_timeout = t;
        }
        if let Some(s) = sub_config.handler_timeout_seconds {
            opts.handler_timeout = Duration::from_secs(u64::from(s));
        }
        // Knob by knob, like the others: the config's topic and its
        // attempts each win where set, so the config may name the topic and
        // leave the count to code (or the other way round).
        let dead_letter_topic = sub_config
            .dead_letter_topic
            .clone()
            .or(options.dead_letter_topic);
        let max_attempts = sub_config.max_attempts.or(options.max_attempts);
        match (dead_letter_topic, max_attempts) {
            (Some(dlt), Some(max_attempts)) => {
                if max_attempts == 0 {
                    return Err(Error::invalid_argument("max_attempts must be at least 1"));
                }
                opts.dead_letter = Some(DeadLetterPolicy {
                    max_attempts,
                    topic: Some(self.topic(&dlt)?),
                });
            }
            (Some(dlt), None) => {
                return Err(Error::invalid_argument(format!(
                    "dead-letter topic `{dlt}` needs max_attempts (deliveries before a message \
                     is dead-lettered): set it in the config or in code"
                )));
            }
            (None, Some(_)) => {
                return Err(Error::invalid_argument(
                    "max_attempts needs a dead-letter topic (where failing messages go): name \
                     it in the config (`dead_letter_topic`) or in code",
                ));
            }
            (None, None) => {}
        }
        Ok(opts)
    }

    /// The bucket with this logical name.
    pub fn bucket(&self, name: &str) -> Result<Bucket> {
        self.check_open()?;
        check_logical_name("bucket", name)?;
        if let Some(bucket) = lock(&self.inner.buckets).get(name) {
            return Ok(bucket.clone());
        }
        if !self.is_embedded_defaults() {
            let declared = self.config().config.objects.keys().collect();
            return Err(self.undeclared("bucket", name, declared));
        }
        open_now(self.build_bucket(name, &BucketConfig::on(EMBEDDED_DEFAULTS.objects)))
    }

    async fn build_bucket(&self, name: &str, config: &BucketConfig) -> Result<Bucket> {
        let provider = self
            .inner
            .registry
            .objects(&config.provider)
            .ok_or_else(|| self.unknown(Block::Objects, name, &config.provider))?;
        let physical = config.name.as_deref().unwrap_or(name);
        let entry = BucketEntry {
            name,
            physical,
            config,
        };
        let bucket = Bucket::new(name, provider.open_bucket(&self.inner.cx, entry).await?);
        let mut buckets = lock(&self.inner.buckets);
        Ok(buckets.entry(name.to_owned()).or_insert(bucket).clone())
    }

    /// The cache keyspace with this logical name.
    pub fn cache(&self, name: &str) -> Result<Keyspace> {
        self.check_open()?;
        check_logical_name("cache", name)?;
        if let Some(cache) = lock(&self.inner.caches).get(name) {
            return Ok(cache.clone());
        }
        if !self.is_embedded_defaults() {
            let declared = self.config().config.caches.keys().collect();
            return Err(self.undeclared("cache", name, declared));
        }
        open_now(self.build_cache(name, &CacheConfig::on(EMBEDDED_DEFAULTS.caches)))
    }

    async fn build_cache(&self, name: &str, config: &CacheConfig) -> Result<Keyspace> {
        let provider = self
            .inner
            .registry
            .cache(&config.provider)
            .ok_or_else(|| self.unknown(Block::Caches, name, &config.provider))?;
        let driver = provider
            .open_cache(&self.inner.cx, CacheEntry { name, config })
            .await?;
        let prefix = config.prefix.clone().unwrap_or_else(|| format!("{name}:"));
        let default_ttl = config.default_ttl_ms.map(Duration::from_millis);
        let keyspace = Keyspace::new(name, driver, prefix, default_ttl);
        let mut caches = lock(&self.inner.caches);
        Ok(caches.entry(name.to_owned()).or_insert(keyspace).clone())
    }

    /// The database with this logical name (opened, and migrated if the config
    /// names a migrations folder).
    pub async fn database(&self, name: &str) -> Result<Database> {
        self.check_open()?;
        check_logical_name("database", name)?;
        if let Some(db) = self.inner.databases.lock().await.get(name) {
            return Ok(db.clone());
        }
        if !self.is_embedded_defaults() {
            let declared = self.config().config.databases.keys().collect();
            return Err(self.undeclared("database", name, declared));
        }
        self.build_database(name, &DatabaseConfig::on(EMBEDDED_DEFAULTS.databases))
            .await
    }

    async fn build_database(&self, name: &str, config: &DatabaseConfig) -> Result<Database> {
        let mut databases = self.inner.databases.lock().await;
        if let Some(db) = databases.get(name) {
            return Ok(db.clone());
        }
        let provider = self
            .inner
            .registry
            .database(&config.provider)
            .ok_or_else(|| self.unknown(Block::Databases, name, &config.provider))?;
        let driver = provider
            .open_database(&self.inner.cx, DatabaseEntry { name, config })
            .await?;
        let db = Database::new(name, driver);
        if let Some(dir) = config.migrations.as_deref() {
            db.migrate(&self.inner.cx.resolve(dir)).await?;
        }
        databases.insert(name.to_owned(), db.clone());
        Ok(db)
    }

    /// Stops every subscriber after its in-flight handlers finish, flushes queued
    /// publishes, and closes database pools. Later calls fail with `Closed`.
    pub async fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let subscribers = std::mem::take(&mut *lock(&self.inner.subscribers));
        let mut first_error = None;
        for subscriber in subscribers {
            if let Err(e) = subscriber.shutdown().await {
                first_error.get_or_insert(e);
            }
        }
        let topics: Vec<Topic> = lock(&self.inner.topics).values().cloned().collect();
        for topic in topics {
            topic.close().await;
        }
        let databases: Vec<Database> = self
            .inner
            .databases
            .lock()
            .await
            .values()
            .cloned()
            .collect();
        for db in databases {
            db.close().await;
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// A topic of the embedded defaults: per-key order, as the memory provider
/// always keeps it.
fn embedded_topic() -> TopicConfig {
    TopicConfig {
        ordering: true,
        ..TopicConfig::on(EMBEDDED_DEFAULTS.pubsub)
    }
}
