//! The typed infra config: logical names mapped to providers and physical resources.
//!
//! These are the portable fields, the same for every provider. The JSON Schema
//! (`schema/infra.config.schema.json`) is composed from them and from the
//! options types of the registered providers (see [`super::json_schema`]).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::registry::RawOptions;

/// Bounds of the config's counts and sizes. Each is stated once, on its field
/// as `#[schemars(range(…))]`: the schema shows it and the loader enforces it
/// from the schema, so a typo (`4294967295`) is refused at load instead of
/// reserving memory or overflowing a deadline. Each is above anything a real
/// deployment uses.
pub mod limits {
    /// Handlers of one subscription running at once: each holds a message
    /// and a task; a process running more at once than this is better split.
    pub const MAX_CONCURRENCY: u32 = 10_000;
    /// Retry delays, in milliseconds: a day. A retry later than that is a
    /// dead letter by another name, and a larger delay added to the clock
    /// could overflow it.
    pub const MAX_BACKOFF_MS: u64 = 86_400_000;
    /// Deliveries before dead-lettering: SQS redrive's own upper limit
    /// (`maxReceiveCount` ≤ 1000).
    pub const MAX_ATTEMPTS: u32 = 1000;
    /// Lease of a delivery, in seconds: 12 hours, the longest SQS keeps a
    /// message invisible.
    pub const MAX_LEASE_SECONDS: u32 = 43_200;
    /// How long a handler may run, in seconds: 12 hours, since no provider
    /// can hold a delivery longer (SQS visibility).
    pub const MAX_HANDLER_TIMEOUT_SECONDS: u32 = 43_200;
    /// Default TTL of a cache write, in milliseconds: 365 days. Data meant to
    /// live longer belongs in a database, and a larger TTL could overflow the
    /// memory cache's clock.
    pub const MAX_DEFAULT_TTL_MS: u64 = 31_536_000_000;
    /// Connections of one database pool: far above what a server serves one
    /// client (PostgreSQL's default `max_connections` is 100), and a bound,
    /// so a typo cannot make a pool reserve memory for billions.
    pub const MAX_CONNECTIONS: u32 = 1000;
}

/// The whole infra config file.
///
/// The portable fields of each entry are typed here; the fields that belong to
/// its provider stay in [`RawOptions`] until that provider reads them with its
/// own type (`strata_core::registry`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfraConfig {
    /// Editors use this to find the schema; Strata ignores it.
    #[serde(rename = "$schema", default)]
    pub schema: Option<String>,
    /// Account-level settings per cloud (`aws`, `gcp`, `azure`), each read by
    /// that cloud's own settings type.
    #[serde(default)]
    pub providers: BTreeMap<String, RawOptions>,
    /// Topics by logical name.
    #[serde(default)]
    pub pubsub: BTreeMap<String, TopicConfig>,
    /// Buckets by logical name.
    #[serde(default)]
    pub objects: BTreeMap<String, BucketConfig>,
    /// Cache keyspaces by logical name.
    #[serde(default)]
    pub caches: BTreeMap<String, CacheConfig>,
    /// SQL databases by logical name.
    #[serde(default)]
    pub databases: BTreeMap<String, DatabaseConfig>,
}

/// A topic and its subscriptions.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct TopicConfig {
    /// The provider.
    pub provider: String,
    /// Physical topic name; defaults to the logical name.
    #[serde(default)]
    pub name: Option<String>,
    /// Deliver messages with the same ordering key in order (SQS FIFO, Pub/Sub
    /// message ordering, Service Bus sessions).
    #[serde(default)]
    pub ordering: bool,
    /// Subscriptions by logical name.
    #[serde(default)]
    pub subscriptions: BTreeMap<String, SubscriptionConfig>,
    /// The provider's own fields.
    #[serde(flatten)]
    #[schemars(skip)]
    pub options: RawOptions,
}

impl TopicConfig {
    /// A topic on `provider` with no other settings.
    pub fn on(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            name: None,
            ordering: false,
            subscriptions: BTreeMap::new(),
            options: RawOptions::default(),
        }
    }
}

/// Who dead-letters a subscription's messages (see
/// [`SubscriptionConfig::dead_letter_mode`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeadLetterMode {
    /// Strata's engine publishes dead letters to the dead-letter topic, with
    /// the same attributes on every provider.
    #[default]
    Engine,
    /// The cloud moves dead letters itself where it can.
    Native,
}

/// A subscription: every subscription of a topic receives every message.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionConfig {
    /// Physical subscription (or queue) name; defaults to `<topic>-<subscription>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Handlers running at once (default 32, at most 10000).
    #[serde(default)]
    #[schemars(range(min = 1, max = limits::MAX_CONCURRENCY))]
    pub max_concurrency: Option<u32>,
    /// First retry delay in milliseconds (default 1000, at most a day).
    #[serde(default)]
    #[schemars(range(max = limits::MAX_BACKOFF_MS))]
    pub min_backoff_ms: Option<u64>,
    /// Longest retry delay in milliseconds (default 60000, at most a day).
    #[serde(default)]
    #[schemars(range(max = limits::MAX_BACKOFF_MS))]
    pub max_backoff_ms: Option<u64>,
    /// Deliveries before a message is dead-lettered (at most 1000); needs
    /// `dead_letter_topic`.
    #[serde(default)]
    #[schemars(range(min = 1, max = limits::MAX_ATTEMPTS))]
    pub max_attempts: Option<u32>,
    /// Logical name of the topic that receives dead-lettered messages.
    #[serde(default)]
    pub dead_letter_topic: Option<String>,
    /// Who dead-letters: `"engine"` (default) publishes each dead letter to
    /// `dead_letter_topic` with a new id and the attributes
    /// `strata.dead_letter.reason`, `strata.dead_letter.subscription` and
    /// `strata.original_message_id`, the same on every provider. `"native"`
    /// lets the cloud move it where it can (SQS redrive when the dead-letter
    /// topic has exactly one subscription; a Pub/Sub dead-letter policy for
    /// 5 to 100 attempts on an unordered subscription), which also catches a
    /// message whose consumer crashed every time, but the dead letter then
    /// carries none of those attributes (SQS keeps the original id; Pub/Sub
    /// adds its own `CloudPubSubDeadLetter*` attributes). Elsewhere
    /// `"native"` falls back to the engine.
    #[serde(default)]
    pub dead_letter_mode: Option<DeadLetterMode>,
    /// How long a delivery is leased before redelivery, in seconds (default
    /// 30, at most 43200: 12 hours).
    #[serde(default)]
    #[schemars(range(min = 1, max = limits::MAX_LEASE_SECONDS))]
    pub lease_seconds: Option<u32>,
    /// Longest a handler may run before it counts as failed, in seconds
    /// (default 600, at most 43200: 12 hours).
    #[serde(default)]
    #[schemars(range(min = 1, max = limits::MAX_HANDLER_TIMEOUT_SECONDS))]
    pub handler_timeout_seconds: Option<u32>,
}

impl SubscriptionConfig {
    /// The lease when the config gives none.
    pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

    /// How long a delivery is leased before redelivery.
    pub fn lease(&self) -> std::time::Duration {
        self.lease_seconds.map_or(Self::DEFAULT_LEASE, |s| {
            std::time::Duration::from_secs(u64::from(s))
        })
    }

    /// Whether the config asks the cloud to dead-letter natively.
    pub fn native_dead_letter(&self) -> bool {
        self.dead_letter_mode == Some(DeadLetterMode::Native)
    }

    /// The physical name of subscription `subscription` of topic `topic`
    /// (both logical): `name` from the config, else `<topic>-<subscription>`.
    pub fn physical_name(&self, topic: &str, subscription: &str) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{topic}-{subscription}"))
    }
}

/// A bucket.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct BucketConfig {
    /// The provider.
    pub provider: String,
    /// Physical bucket (or container) name; defaults to the logical name.
    #[serde(default)]
    pub name: Option<String>,
    /// Base of public URLs, e.g. a CDN in front of the bucket.
    #[serde(default)]
    pub public_base_url: Option<String>,
    /// The provider's own fields.
    #[serde(flatten)]
    #[schemars(skip)]
    pub options: RawOptions,
}

impl BucketConfig {
    /// A bucket on `provider` with no other settings.
    pub fn on(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            name: None,
            public_base_url: None,
            options: RawOptions::default(),
        }
    }
}

/// A cache keyspace.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct CacheConfig {
    /// The provider.
    pub provider: String,
    /// Prefix of every key; defaults to `<logical name>:`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// TTL of writes that give none, in milliseconds (at most 365 days); none
    /// means keys persist.
    #[serde(default)]
    #[schemars(range(min = 1, max = limits::MAX_DEFAULT_TTL_MS))]
    pub default_ttl_ms: Option<u64>,
    /// The provider's own fields.
    #[serde(flatten)]
    #[schemars(skip)]
    pub options: RawOptions,
}

impl CacheConfig {
    /// A keyspace on `provider` with no other settings.
    pub fn on(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            prefix: None,
            default_ttl_ms: None,
            options: RawOptions::default(),
        }
    }
}

/// A SQL database.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct DatabaseConfig {
    /// The provider.
    pub provider: String,
    /// Folder of `.sql` migrations applied at startup, relative to the config file.
    #[serde(default)]
    pub migrations: Option<String>,
    /// Pool size (default 5 for SQLite, 10 for PostgreSQL, at most 1000).
    #[serde(default)]
    #[schemars(range(min = 1, max = limits::MAX_CONNECTIONS))]
    pub max_connections: Option<u32>,
    /// The provider's own fields.
    #[serde(flatten)]
    #[schemars(skip)]
    pub options: RawOptions,
}

impl DatabaseConfig {
    /// A database on `provider` with no other settings.
    pub fn on(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            migrations: None,
            max_connections: None,
            options: RawOptions::default(),
        }
    }
}
