//! [`Infra`]: the live providers built from an infra config.
//!
//! Everything the config declares is built at startup (so a bad endpoint or an
//! unreadable folder fails fast), then handed out by logical name. With no config
//! file, any logical name gets an embedded provider on first use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use strata_core::cache::Keyspace;
use strata_core::config::{
    BucketConfig, CacheConfig, CacheProviderKind, DatabaseAuth, DatabaseConfig, DatabaseFallback,
    DatabaseProviderKind, LoadedConfig, ObjectsProviderKind, ProviderCatalog, PubSubProviderKind,
    SubscriptionConfig, TopicConfig, load_config,
};
use strata_core::objects::Bucket;
use strata_core::pubsub::{
    DeadLetterPolicy, Handler, RetryPolicy, Subscriber, SubscriberOptions, SubscriptionDriver,
    Topic, TopicDriver, TopicOptions,
};
use strata_core::sqldb::{Database, DatabaseDriver};
use strata_core::{Error, Result};

use crate::filesystem::FsBucket;
use crate::memory::cache::MemoryCache;
use crate::memory::objects::MemoryBucket;
use crate::memory::pubsub::{MemoryBroker, MemorySubscriptionOptions};
use crate::postgres::{
    LocalPostgresDatabase, LocalPostgresOptions, PostgresDatabase, PostgresOptions,
    find_postgres_bin_dir,
};
use crate::sqlite::{SqliteDatabase, SqliteOptions};

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "azure")]
mod azure;
#[cfg(feature = "gcp")]
mod gcp;

/// The providers compiled into this build, for config errors.
pub const CATALOG: ProviderCatalog = ProviderCatalog {
    pubsub: match (cfg!(feature = "aws"), cfg!(feature = "gcp")) {
        (true, true) => &["memory", "aws", "gcp"],
        (true, false) => &["memory", "aws"],
        (false, true) => &["memory", "gcp"],
        (false, false) => &["memory"],
    },
    objects: match (cfg!(feature = "aws"), cfg!(feature = "gcp")) {
        (true, true) => &["memory", "filesystem", "aws", "gcp"],
        (true, false) => &["memory", "filesystem", "aws"],
        (false, true) => &["memory", "filesystem", "gcp"],
        (false, false) => &["memory", "filesystem"],
    },
    caches: &["memory", "redis"],
    databases: &["sqlite", "postgres"],
};

/// Where the embedded defaults keep their files, under the config's base folder.
const EMBEDDED_DIR: &str = ".strata";
/// Entries a memory cache keeps when the config gives no bound.
const DEFAULT_MAX_ENTRIES: u64 = 100_000;
/// Lease of a memory subscription when the config gives none.
const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Options a subscriber gives in code. The config, where it sets the same knob,
/// wins: operators tune a deployment without a code change.
#[derive(Default)]
pub struct SubscribeOptions {
    /// Handlers running at once.
    pub max_concurrency: Option<usize>,
    /// Retry delays.
    pub retry: Option<RetryPolicy>,
    /// `(dead-letter topic, max attempts)` when the config names none.
    pub dead_letter: Option<(String, u32)>,
    /// Longest a handler may run before it counts as failed.
    pub handler_timeout: Option<Duration>,
}

/// The live providers of one application. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> strata_core::Result<()> {
/// use strata_providers::Infra;
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
    loaded: LoadedConfig,
    broker: MemoryBroker,
    topics: Mutex<HashMap<String, Topic>>,
    subscribers: Mutex<Vec<Subscriber>>,
    /// Subscriptions declared by the config, opened at startup, by (topic, subscription).
    subscriptions: Mutex<HashMap<(String, String), Arc<dyn SubscriptionDriver>>>,
    #[cfg(feature = "aws")]
    aws: aws::AwsState,
    #[cfg(feature = "gcp")]
    gcp: gcp::GcpState,
    buckets: Mutex<HashMap<String, Bucket>>,
    caches: Mutex<HashMap<String, Keyspace>>,
    databases: tokio::sync::Mutex<HashMap<String, Database>>,
    closed: AtomicBool,
}

/// Locks a registry map; a poisoned lock only means another thread panicked while
/// inserting, and the map itself is still consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Infra {
    /// Loads `STRATA_CONFIG`, else `./infra.config.json`, else the embedded defaults.
    pub async fn load() -> Result<Infra> {
        Self::load_from(None).await
    }

    /// Loads the config at `path` (or as [`Infra::load`] when `None`).
    pub async fn load_from(path: Option<&Path>) -> Result<Infra> {
        let loaded = load_config(path, &CATALOG)?;
        Self::from_config(loaded).await
    }

    /// Builds every provider the config declares. Must run inside a tokio runtime.
    pub async fn from_config(loaded: LoadedConfig) -> Result<Infra> {
        crate::tls::install_crypto_provider();
        let infra = Infra {
            inner: Arc::new(Inner {
                loaded,
                broker: MemoryBroker::new(),
                topics: Mutex::default(),
                subscribers: Mutex::default(),
                subscriptions: Mutex::default(),
                #[cfg(feature = "aws")]
                aws: aws::AwsState::default(),
                #[cfg(feature = "gcp")]
                gcp: gcp::GcpState::default(),
                buckets: Mutex::default(),
                caches: Mutex::default(),
                databases: tokio::sync::Mutex::default(),
                closed: AtomicBool::new(false),
            }),
        };
        let config = infra.inner.loaded.config.clone();
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
            infra.build_bucket(name, Some(bucket)).await?;
        }
        for (name, cache) in &config.caches {
            infra.build_cache(name, cache).await?;
        }
        for (name, db) in &config.databases {
            infra.build_database(name, Some(db)).await?;
        }
        Ok(infra)
    }

    /// The config this was built from.
    pub fn config(&self) -> &LoadedConfig {
        &self.inner.loaded
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
            .inner
            .loaded
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

    /// The topic with this logical name.
    pub fn topic(&self, name: &str) -> Result<Topic> {
        self.check_open()?;
        if let Some(topic) = lock(&self.inner.topics).get(name) {
            return Ok(topic.clone());
        }
        let config = &self.inner.loaded.config;
        if !self.inner.loaded.is_embedded_defaults() {
            return Err(self.undeclared("topic", name, config.pubsub.keys().collect()));
        }
        let topic = Topic::new(name, self.inner.broker.topic(name), TopicOptions::default());
        Ok(self.keep_topic(name, topic))
    }

    fn keep_topic(&self, name: &str, topic: Topic) -> Topic {
        let mut topics = lock(&self.inner.topics);
        topics.entry(name.to_owned()).or_insert(topic).clone()
    }

    async fn build_topic(&self, name: &str, config: &TopicConfig) -> Result<Topic> {
        let physical = config.name.as_deref().unwrap_or(name);
        let driver: Arc<dyn TopicDriver> = match config.provider {
            PubSubProviderKind::Memory => self.inner.broker.topic(physical),
            #[cfg(feature = "aws")]
            PubSubProviderKind::Aws => {
                let clients = self.inner.aws.clients(&self.inner.loaded.config).await?;
                self.inner
                    .aws
                    .open_topic(&clients, name, physical, config)
                    .await?
            }
            #[cfg(feature = "gcp")]
            PubSubProviderKind::Gcp => {
                let clients = self.inner.gcp.clients(&self.inner.loaded.config).await?;
                self.inner.gcp.open_topic(&clients, name, physical).await?
            }
            #[allow(unreachable_patterns)]
            other => return Err(not_compiled("pubsub", name, &format!("{other:?}"))),
        };
        Ok(self.keep_topic(name, Topic::new(name, driver, TopicOptions::default())))
    }

    async fn open_subscription(
        &self,
        topic_name: &str,
        topic: &TopicConfig,
        sub_name: &str,
        sub: &SubscriptionConfig,
    ) -> Result<()> {
        let physical_topic = topic.name.as_deref().unwrap_or(topic_name);
        let physical = subscription_name(topic_name, sub_name, sub);
        let driver: Arc<dyn SubscriptionDriver> = match topic.provider {
            PubSubProviderKind::Memory => self.inner.broker.subscription(
                physical_topic,
                &physical,
                MemorySubscriptionOptions {
                    lease: lease_of(sub),
                },
            ),
            #[cfg(feature = "aws")]
            PubSubProviderKind::Aws => {
                let config = &self.inner.loaded.config;
                let clients = self.inner.aws.clients(config).await?;
                self.inner
                    .aws
                    .open_subscription(&clients, config, topic_name, &physical, sub)
                    .await?
            }
            #[cfg(feature = "gcp")]
            PubSubProviderKind::Gcp => {
                let config = &self.inner.loaded.config;
                let clients = self.inner.gcp.clients(config).await?;
                self.inner
                    .gcp
                    .open_subscription(&clients, config, topic_name, &physical, sub)
                    .await?
            }
            #[allow(unreachable_patterns)]
            other => return Err(not_compiled("pubsub", topic_name, &format!("{other:?}"))),
        };
        let key = (topic_name.to_owned(), sub_name.to_owned());
        lock(&self.inner.subscriptions).insert(key, driver);
        Ok(())
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
        let config = &self.inner.loaded.config;
        let (topic_config, sub_config) = match config.pubsub.get(topic) {
            Some(t) => (t.clone(), t.subscriptions.get(subscription).cloned()),
            None if self.inner.loaded.is_embedded_defaults() => (
                TopicConfig {
                    provider: PubSubProviderKind::Memory,
                    name: None,
                    ordering: true,
                    subscriptions: Default::default(),
                },
                None,
            ),
            None => return Err(self.undeclared("topic", topic, config.pubsub.keys().collect())),
        };
        let sub_config = match sub_config {
            Some(s) => s,
            None if self.inner.loaded.is_embedded_defaults() => SubscriptionConfig::default(),
            None => {
                return Err(self.undeclared(
                    &format!("subscription of topic `{topic}`"),
                    subscription,
                    topic_config.subscriptions.keys().collect(),
                ));
            }
        };

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
        let dead_letter = match (&sub_config.dead_letter_topic, sub_config.max_attempts) {
            (Some(dlt), Some(max)) => Some((dlt.clone(), max)),
            _ => options.dead_letter,
        };
        if let Some((dlt, max_attempts)) = dead_letter {
            opts.dead_letter = Some(DeadLetterPolicy {
                max_attempts,
                topic: Some(self.topic(&dlt)?),
            });
        }

        let declared = lock(&self.inner.subscriptions)
            .get(&(topic.to_owned(), subscription.to_owned()))
            .cloned();
        let driver = match declared {
            Some(driver) => driver,
            // Embedded defaults: an undeclared subscription is a memory one, made now.
            None => self.inner.broker.subscription(
                topic,
                &subscription_name(topic, subscription, &sub_config),
                MemorySubscriptionOptions {
                    lease: lease_of(&sub_config),
                },
            ),
        };
        let subscriber =
            Subscriber::start(format!("{topic}/{subscription}"), driver, handler, opts);
        lock(&self.inner.subscribers).push(subscriber);
        Ok(())
    }

    /// The bucket with this logical name.
    pub fn bucket(&self, name: &str) -> Result<Bucket> {
        self.check_open()?;
        if let Some(bucket) = lock(&self.inner.buckets).get(name) {
            return Ok(bucket.clone());
        }
        let config = &self.inner.loaded.config;
        if !self.inner.loaded.is_embedded_defaults() {
            return Err(self.undeclared("bucket", name, config.objects.keys().collect()));
        }
        self.build_bucket_now(name)
    }

    /// An embedded-defaults bucket: a folder under `.strata/objects/`.
    fn build_bucket_now(&self, name: &str) -> Result<Bucket> {
        let root = self.embedded_path(&["objects", name]);
        let bucket = Bucket::new(name, Arc::new(FsBucket::open(root)?));
        let mut buckets = lock(&self.inner.buckets);
        Ok(buckets.entry(name.to_owned()).or_insert(bucket).clone())
    }

    async fn build_bucket(&self, name: &str, config: Option<&BucketConfig>) -> Result<Bucket> {
        let provider = config.map_or(ObjectsProviderKind::Filesystem, |c| c.provider);
        let physical = config
            .and_then(|c| c.name.clone())
            .unwrap_or_else(|| name.to_owned());
        let bucket = match provider {
            ObjectsProviderKind::Memory => Bucket::new(name, Arc::new(MemoryBucket::new())),
            ObjectsProviderKind::Filesystem => {
                let root = match config.and_then(|c| c.root.as_deref()) {
                    Some(root) => self.inner.loaded.resolve(root),
                    None => self.embedded_path(&["objects", &physical]),
                };
                Bucket::new(name, Arc::new(FsBucket::open(root)?))
            }
            #[cfg(feature = "aws")]
            ObjectsProviderKind::Aws => {
                let clients = self.inner.aws.clients(&self.inner.loaded.config).await?;
                let public_base_url = config.and_then(|c| c.public_base_url.clone());
                let provision = clients.settings().provision;
                Bucket::new(
                    name,
                    aws::open_bucket(&clients, &physical, public_base_url, provision).await?,
                )
            }
            #[cfg(feature = "gcp")]
            ObjectsProviderKind::Gcp => {
                let clients = self.inner.gcp.clients(&self.inner.loaded.config).await?;
                let public_base_url = config.and_then(|c| c.public_base_url.clone());
                Bucket::new(
                    name,
                    gcp::open_bucket(&clients, &physical, public_base_url).await?,
                )
            }
            #[allow(unreachable_patterns)]
            other => return Err(not_compiled("objects", name, &format!("{other:?}"))),
        };
        let mut buckets = lock(&self.inner.buckets);
        Ok(buckets.entry(name.to_owned()).or_insert(bucket).clone())
    }

    /// The cache keyspace with this logical name.
    pub fn cache(&self, name: &str) -> Result<Keyspace> {
        self.check_open()?;
        if let Some(cache) = lock(&self.inner.caches).get(name) {
            return Ok(cache.clone());
        }
        let config = &self.inner.loaded.config;
        if !self.inner.loaded.is_embedded_defaults() {
            return Err(self.undeclared("cache", name, config.caches.keys().collect()));
        }
        self.build_memory_cache(name, None)
    }

    async fn build_cache(&self, name: &str, config: &CacheConfig) -> Result<Keyspace> {
        let keyspace = match config.provider {
            CacheProviderKind::Memory => return self.build_memory_cache(name, Some(config)),
            CacheProviderKind::Redis => {
                let options =
                    crate::redis::RedisOptions::from_config(config, &self.inner.loaded.base_dir)?;
                let driver = crate::redis::RedisCache::connect(options).await?;
                let (prefix, default_ttl) = keyspace_settings(name, Some(config));
                Keyspace::new(name, Arc::new(driver), prefix, default_ttl)
            }
        };
        let mut caches = lock(&self.inner.caches);
        Ok(caches.entry(name.to_owned()).or_insert(keyspace).clone())
    }

    fn build_memory_cache(&self, name: &str, config: Option<&CacheConfig>) -> Result<Keyspace> {
        let max = config
            .and_then(|c| c.max_entries)
            .unwrap_or(DEFAULT_MAX_ENTRIES);
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let (prefix, default_ttl) = keyspace_settings(name, config);
        let keyspace = Keyspace::new(name, Arc::new(MemoryCache::new(max)), prefix, default_ttl);
        let mut caches = lock(&self.inner.caches);
        Ok(caches.entry(name.to_owned()).or_insert(keyspace).clone())
    }

    /// The database with this logical name (opened, and migrated if the config
    /// names a migrations folder).
    pub async fn database(&self, name: &str) -> Result<Database> {
        self.check_open()?;
        if let Some(db) = self.inner.databases.lock().await.get(name) {
            return Ok(db.clone());
        }
        let config = &self.inner.loaded.config;
        if !self.inner.loaded.is_embedded_defaults() {
            return Err(self.undeclared("database", name, config.databases.keys().collect()));
        }
        self.build_database(name, None).await
    }

    /// A `postgres` database: a private local server (or its SQLite
    /// fallback where the config allows one), or a server at `url` with the
    /// configured auth.
    async fn open_postgres(
        &self,
        name: &str,
        config: &DatabaseConfig,
    ) -> Result<Arc<dyn DatabaseDriver>> {
        let base_dir = &self.inner.loaded.base_dir;
        let opts = PostgresOptions::from_config(config, base_dir)?;
        if config.local == Some(true) {
            if let (Err(missing), Some(DatabaseFallback::Sqlite)) =
                (find_postgres_bin_dir(), config.fallback)
            {
                let path = self.embedded_path(&[&format!("{name}.db")]);
                tracing::warn!(
                    database = name,
                    "{} Using the SQLite fallback at {} as the config allows.",
                    missing.message(),
                    path.display()
                );
                return Ok(Arc::new(
                    SqliteDatabase::open(SqliteOptions::file(path)).await?,
                ));
            }
            let local = LocalPostgresOptions::for_database(base_dir, name);
            return Ok(Arc::new(LocalPostgresDatabase::start(local, opts).await?));
        }
        match config.auth.unwrap_or_default() {
            DatabaseAuth::Password => Ok(Arc::new(PostgresDatabase::connect(opts).await?)),
            DatabaseAuth::AwsIam => {
                #[cfg(feature = "aws")]
                {
                    let clients = self.inner.aws.clients(&self.inner.loaded.config).await?;
                    let token = aws::rds_auth_token(&clients, &opts.url)?;
                    Ok(Arc::new(
                        PostgresDatabase::connect_with_auth_token(opts, token).await?,
                    ))
                }
                #[cfg(not(feature = "aws"))]
                Err(Error::invalid_config(format!(
                    "databases.{name}.auth: `aws_iam` needs Strata built with the `aws` \
                     feature (strata-providers/aws; for Node, the addon built with --features aws)"
                )))
            }
            DatabaseAuth::GcpIam => {
                #[cfg(feature = "gcp")]
                {
                    let clients = self.inner.gcp.clients(&self.inner.loaded.config).await?;
                    let token = gcp::cloud_sql_auth_token(&clients, name, &opts.url)?;
                    Ok(Arc::new(
                        PostgresDatabase::connect_with_auth_token(opts, token).await?,
                    ))
                }
                #[cfg(not(feature = "gcp"))]
                Err(Error::invalid_config(format!(
                    "databases.{name}.auth: `gcp_iam` needs Strata built with the `gcp` \
                     feature (strata-providers/gcp; for Node, the addon built with --features gcp)"
                )))
            }
            DatabaseAuth::AzureEntra => {
                #[cfg(feature = "azure")]
                {
                    let token = azure::entra_auth_token(name)?;
                    Ok(Arc::new(
                        PostgresDatabase::connect_with_auth_token(opts, token).await?,
                    ))
                }
                #[cfg(not(feature = "azure"))]
                Err(Error::invalid_config(format!(
                    "databases.{name}.auth: `azure_entra` needs Strata built with the `azure` \
                     feature (strata-providers/azure; the Node addon is not built with it)"
                )))
            }
        }
    }

    async fn build_database(
        &self,
        name: &str,
        config: Option<&DatabaseConfig>,
    ) -> Result<Database> {
        let mut databases = self.inner.databases.lock().await;
        if let Some(db) = databases.get(name) {
            return Ok(db.clone());
        }
        let provider = config.map_or(DatabaseProviderKind::Sqlite, |c| c.provider);
        let db = match provider {
            DatabaseProviderKind::Sqlite => {
                let mut opts = match config.and_then(|c| c.path.as_deref()) {
                    Some(":memory:") => SqliteOptions::in_memory(),
                    Some(p) => SqliteOptions::file(self.inner.loaded.resolve(p)),
                    None => SqliteOptions::file(self.embedded_path(&[&format!("{name}.db")])),
                };
                if let Some(n) = config.and_then(|c| c.max_connections) {
                    opts.max_connections = n;
                }
                Database::new(name, Arc::new(SqliteDatabase::open(opts).await?))
            }
            DatabaseProviderKind::Postgres => {
                let Some(config) = config else {
                    return Err(Error::invalid_config(format!(
                        "database `{name}`: the postgres provider needs its config"
                    )));
                };
                Database::new(name, self.open_postgres(name, config).await?)
            }
        };
        if let Some(dir) = config.and_then(|c| c.migrations.as_deref()) {
            db.migrate(&self.inner.loaded.resolve(dir)).await?;
        }
        databases.insert(name.to_owned(), db.clone());
        Ok(db)
    }

    fn embedded_path(&self, parts: &[&str]) -> PathBuf {
        let mut path = self.inner.loaded.base_dir.join(EMBEDDED_DIR);
        path.extend(parts);
        path
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

fn subscription_name(topic: &str, subscription: &str, config: &SubscriptionConfig) -> String {
    config
        .name
        .clone()
        .unwrap_or_else(|| format!("{topic}-{subscription}"))
}

/// A keyspace's prefix (default `<name>:`) and default TTL.
fn keyspace_settings(name: &str, config: Option<&CacheConfig>) -> (String, Option<Duration>) {
    let prefix = config
        .and_then(|c| c.prefix.clone())
        .unwrap_or_else(|| format!("{name}:"));
    let default_ttl = config
        .and_then(|c| c.default_ttl_ms)
        .map(Duration::from_millis);
    (prefix, default_ttl)
}

fn lease_of(config: &SubscriptionConfig) -> Duration {
    config
        .lease_seconds
        .map_or(DEFAULT_LEASE, |s| Duration::from_secs(u64::from(s)))
}

fn not_compiled(block: &str, name: &str, provider: &str) -> Error {
    Error::invalid_config(format!(
        "{block}.{name}: provider `{}` is not compiled into this build",
        provider.to_lowercase()
    ))
}
