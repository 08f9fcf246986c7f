//! What a provider implements to be registered: its name, its options type,
//! and how to open its resources from a config entry.

use std::sync::Arc;

use async_trait::async_trait;

use super::context::OpenContext;
use super::options::{FieldError, NoOptions, OptionsType};
use crate::Result;
use crate::cache::CacheDriver;
use crate::config::{BucketConfig, CacheConfig, DatabaseConfig, SubscriptionConfig, TopicConfig};
use crate::objects::BucketDriver;
use crate::pubsub::{SubscriptionDriver, TopicDriver};
use crate::sqldb::{CachedToken, ConnectTarget, DatabaseDriver};

/// A topic entry of the config, as its provider sees it.
#[derive(Debug, Clone, Copy)]
pub struct TopicEntry<'a> {
    /// The logical name code uses.
    pub name: &'a str,
    /// The physical name: `name` from the config, else the logical name.
    pub physical: &'a str,
    /// The whole entry.
    pub config: &'a TopicConfig,
}

impl TopicEntry<'_> {
    /// The entry's JSON path, for messages.
    pub fn path(&self) -> String {
        format!("pubsub.{}", self.name)
    }

    /// The field holding the physical name: `name`, or the entry itself when
    /// the logical name is used (for [`PubSubProvider::check_names`]).
    pub fn name_field(&self) -> &'static str {
        if self.config.name.is_some() {
            "name"
        } else {
            ""
        }
    }

    /// Checks the topic's physical name with `topic_rule` and each
    /// subscription's with `subscription_rule` (a rule returns what is
    /// broken, never the name): the one walk every provider's
    /// [`PubSubProvider::check_names`] needs. The error names the field
    /// (`name`, `subscriptions.s.name`, or the entry when the name is derived).
    pub fn check_physical_names<R: Into<String>>(
        &self,
        topic_rule: impl Fn(&str) -> Option<R>,
        subscription_rule: impl Fn(&str) -> Option<R>,
    ) -> std::result::Result<(), FieldError> {
        if let Some(rule) = topic_rule(self.physical) {
            return Err((self.name_field().to_owned(), rule.into()));
        }
        for (name, sub) in &self.config.subscriptions {
            if let Some(rule) = subscription_rule(&sub.physical_name(self.name, name)) {
                let field = if sub.name.is_some() {
                    format!("subscriptions.{name}.name")
                } else {
                    format!("subscriptions.{name}")
                };
                return Err((field, rule.into()));
            }
        }
        Ok(())
    }
}

/// A subscription entry of the config.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionEntry<'a> {
    /// The logical name code uses.
    pub name: &'a str,
    /// The physical name: `name` from the config, else `<topic>-<subscription>`.
    pub physical: &'a str,
    /// The whole entry.
    pub config: &'a SubscriptionConfig,
}

/// A bucket entry of the config.
#[derive(Debug, Clone, Copy)]
pub struct BucketEntry<'a> {
    /// The logical name code uses.
    pub name: &'a str,
    /// The physical name: `name` from the config, else the logical name.
    pub physical: &'a str,
    /// The whole entry.
    pub config: &'a BucketConfig,
}

impl BucketEntry<'_> {
    /// The entry's JSON path, for messages.
    pub fn path(&self) -> String {
        format!("objects.{}", self.name)
    }

    /// The field holding the physical name: `name`, or the entry itself when
    /// the logical name is used.
    pub fn name_field(&self) -> &'static str {
        if self.config.name.is_some() {
            "name"
        } else {
            ""
        }
    }
}

/// A cache entry of the config.
#[derive(Debug, Clone, Copy)]
pub struct CacheEntry<'a> {
    /// The logical name code uses.
    pub name: &'a str,
    /// The whole entry.
    pub config: &'a CacheConfig,
}

impl CacheEntry<'_> {
    /// The entry's JSON path, for messages.
    pub fn path(&self) -> String {
        format!("caches.{}", self.name)
    }
}

/// A database entry of the config.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseEntry<'a> {
    /// The logical name code uses.
    pub name: &'a str,
    /// The whole entry.
    pub config: &'a DatabaseConfig,
}

impl DatabaseEntry<'_> {
    /// The entry's JSON path, for messages.
    pub fn path(&self) -> String {
        format!("databases.{}", self.name)
    }
}

/// A pub/sub provider: `"provider": NAME` under `pubsub`.
#[async_trait]
pub trait PubSubProvider: Send + Sync {
    /// The name configs use.
    fn name(&self) -> &'static str;
    /// Its fields in a topic entry; by default it has none.
    fn options(&self) -> OptionsType {
        OptionsType::of::<NoOptions>()
    }
    /// Checks the physical names of a topic entry and its subscriptions
    /// against the service's rules, at config load (and before anything
    /// opens). Returns the field relative to the entry (`name`,
    /// `subscriptions.s.name`; empty when the name is the logical one) and
    /// the rule, without repeating the name.
    fn check_names(&self, topic: TopicEntry<'_>) -> std::result::Result<(), FieldError> {
        let _ = topic;
        Ok(())
    }
    /// Opens (or, with `provision`, creates) a topic.
    async fn open_topic(
        &self,
        cx: &OpenContext,
        topic: TopicEntry<'_>,
    ) -> Result<Arc<dyn TopicDriver>>;
    /// Opens a subscription of a topic this provider opened.
    async fn open_subscription(
        &self,
        cx: &OpenContext,
        topic: TopicEntry<'_>,
        subscription: SubscriptionEntry<'_>,
    ) -> Result<Arc<dyn SubscriptionDriver>>;
}

/// An object store provider: `"provider": NAME` under `objects`.
#[async_trait]
pub trait ObjectsProvider: Send + Sync {
    /// The name configs use.
    fn name(&self) -> &'static str;
    /// Its fields in a bucket entry; by default it has none.
    fn options(&self) -> OptionsType {
        OptionsType::of::<NoOptions>()
    }
    /// Checks the physical name of a bucket entry against the service's
    /// rules, at config load (and before anything opens), as
    /// [`PubSubProvider::check_names`].
    fn check_names(&self, bucket: BucketEntry<'_>) -> std::result::Result<(), FieldError> {
        let _ = bucket;
        Ok(())
    }
    /// Opens (or, with `provision`, creates) a bucket.
    async fn open_bucket(
        &self,
        cx: &OpenContext,
        bucket: BucketEntry<'_>,
    ) -> Result<Arc<dyn BucketDriver>>;
}

/// A cache provider: `"provider": NAME` under `caches`.
#[async_trait]
pub trait CacheProvider: Send + Sync {
    /// The name configs use.
    fn name(&self) -> &'static str;
    /// Its fields in a cache entry; by default it has none.
    fn options(&self) -> OptionsType {
        OptionsType::of::<NoOptions>()
    }
    /// Connects the keyspace's storage.
    async fn open_cache(
        &self,
        cx: &OpenContext,
        cache: CacheEntry<'_>,
    ) -> Result<Arc<dyn CacheDriver>>;
}

/// A database provider: `"provider": NAME` under `databases`.
#[async_trait]
pub trait DatabaseProvider: Send + Sync {
    /// The name configs use.
    fn name(&self) -> &'static str;
    /// Its fields in a database entry; by default it has none.
    fn options(&self) -> OptionsType {
        OptionsType::of::<NoOptions>()
    }
    /// Opens the database (migrations are run by the caller).
    async fn open_database(
        &self,
        cx: &OpenContext,
        database: DatabaseEntry<'_>,
    ) -> Result<Arc<dyn DatabaseDriver>>;
}

/// A cloud's way of minting database auth tokens: `"auth": NAME` on a
/// database provider that takes tokens (PostgreSQL).
#[async_trait]
pub trait DatabaseAuthProvider: Send + Sync {
    /// The name configs use (`aws_iam`).
    fn name(&self) -> &'static str;
    /// A token source for `database` (its logical name) connecting to `target`.
    async fn token(
        &self,
        cx: &OpenContext,
        database: &str,
        target: &ConnectTarget,
    ) -> Result<CachedToken>;
}

/// A cloud account: `providers.NAME`, read by the cloud's own settings type
/// and shared by every provider of that cloud.
#[derive(Debug, Clone, Copy)]
pub struct CloudAccount {
    /// The key under `providers` (`aws`).
    pub name: &'static str,
    /// What the schema says it is.
    pub description: &'static str,
    /// Its settings type.
    pub options: OptionsType,
}
