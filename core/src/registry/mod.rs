//! The provider registry: which providers this build has, by block and name.
//!
//! Each provider crate registers its providers (a name, an options type, the
//! openers) with one call; the assembly (`strata-infra`) makes one
//! [`Registry`] from those calls, and everything else looks providers up:
//! the config parser checks each entry's options with its provider's type,
//! the JSON Schema lists what is registered, and `Infra` opens resources
//! through the openers. Nothing here names a provider.

pub mod cloud;
mod conform;
mod context;
mod messages;
mod options;
mod provider;
mod schema;

use std::fmt;

pub use context::{EMBEDDED_DIR, OpenContext};
pub use options::{FieldError, NoOptions, OptionsType, ProviderOptions, RawOptions};
pub use provider::{
    BucketEntry, CacheEntry, CacheProvider, CloudAccount, DatabaseAuthProvider, DatabaseEntry,
    DatabaseProvider, ObjectsProvider, PubSubProvider, SubscriptionEntry, TopicEntry,
};

pub(crate) use conform::conform;
pub(crate) use messages::serde_message;
pub(crate) use options::join_path;

use crate::config::InfraConfig;

/// The four building blocks, as they appear at the top of the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Block {
    /// `pubsub`: topics and subscriptions.
    PubSub,
    /// `objects`: buckets.
    Objects,
    /// `caches`: keyspaces.
    Caches,
    /// `databases`: SQL databases.
    Databases,
}

impl Block {
    /// Every block, in config order.
    pub const ALL: [Block; 4] = [
        Block::PubSub,
        Block::Objects,
        Block::Caches,
        Block::Databases,
    ];

    /// The key of the block in the config.
    pub fn key(self) -> &'static str {
        match self {
            Block::PubSub => "pubsub",
            Block::Objects => "objects",
            Block::Caches => "caches",
            Block::Databases => "databases",
        }
    }
}

/// The providers of one build. Made once by the assembly, then read-only.
#[derive(Default)]
pub struct Registry {
    pubsub: Vec<Box<dyn PubSubProvider>>,
    objects: Vec<Box<dyn ObjectsProvider>>,
    caches: Vec<Box<dyn CacheProvider>>,
    databases: Vec<Box<dyn DatabaseProvider>>,
    database_auth: Vec<Box<dyn DatabaseAuthProvider>>,
    clouds: Vec<CloudAccount>,
    /// Cargo features of the assembly that this build lacks, for hints.
    missing_features: Vec<&'static str>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pub/sub provider.
    pub fn add_pubsub(&mut self, provider: impl PubSubProvider + 'static) -> &mut Self {
        self.pubsub.push(Box::new(provider));
        self
    }

    /// Adds an object store provider.
    pub fn add_objects(&mut self, provider: impl ObjectsProvider + 'static) -> &mut Self {
        self.objects.push(Box::new(provider));
        self
    }

    /// Adds a cache provider.
    pub fn add_cache(&mut self, provider: impl CacheProvider + 'static) -> &mut Self {
        self.caches.push(Box::new(provider));
        self
    }

    /// Adds a database provider.
    pub fn add_database(&mut self, provider: impl DatabaseProvider + 'static) -> &mut Self {
        self.databases.push(Box::new(provider));
        self
    }

    /// Adds a way of minting database auth tokens.
    pub fn add_database_auth(
        &mut self,
        provider: impl DatabaseAuthProvider + 'static,
    ) -> &mut Self {
        self.database_auth.push(Box::new(provider));
        self
    }

    /// Adds a cloud account type (`providers.<name>`).
    pub fn add_cloud(&mut self, cloud: CloudAccount) -> &mut Self {
        self.clouds.push(cloud);
        self
    }

    /// Records cargo features this build was made without: a config naming
    /// one of them as a provider gets a hint to enable it.
    pub fn note_missing_features(&mut self, features: &[&'static str]) -> &mut Self {
        self.missing_features.extend_from_slice(features);
        self
    }

    /// The pub/sub provider `name`.
    pub fn pubsub(&self, name: &str) -> Option<&dyn PubSubProvider> {
        self.pubsub.iter().find(|p| p.name() == name).map(|p| &**p)
    }

    /// The object store provider `name`.
    pub fn objects(&self, name: &str) -> Option<&dyn ObjectsProvider> {
        self.objects.iter().find(|p| p.name() == name).map(|p| &**p)
    }

    /// The cache provider `name`.
    pub fn cache(&self, name: &str) -> Option<&dyn CacheProvider> {
        self.caches.iter().find(|p| p.name() == name).map(|p| &**p)
    }

    /// The database provider `name`.
    pub fn database(&self, name: &str) -> Option<&dyn DatabaseProvider> {
        self.databases
            .iter()
            .find(|p| p.name() == name)
            .map(|p| &**p)
    }

    /// The database auth method `name`.
    pub fn database_auth(&self, name: &str) -> Option<&dyn DatabaseAuthProvider> {
        self.database_auth
            .iter()
            .find(|p| p.name() == name)
            .map(|p| &**p)
    }

    /// The names of the database auth methods this build has.
    pub fn database_auth_names(&self) -> Vec<&'static str> {
        self.database_auth.iter().map(|p| p.name()).collect()
    }

    /// The cloud account `name`.
    pub fn cloud(&self, name: &str) -> Option<&CloudAccount> {
        self.clouds.iter().find(|c| c.name == name)
    }

    /// The provider names of `block`, in registration order.
    pub fn names(&self, block: Block) -> Vec<&'static str> {
        match block {
            Block::PubSub => self.pubsub.iter().map(|p| p.name()).collect(),
            Block::Objects => self.objects.iter().map(|p| p.name()).collect(),
            Block::Caches => self.caches.iter().map(|p| p.name()).collect(),
            Block::Databases => self.databases.iter().map(|p| p.name()).collect(),
        }
    }

    /// The options type of provider `name` of `block`.
    pub fn options_of(&self, block: Block, name: &str) -> Option<OptionsType> {
        match block {
            Block::PubSub => self.pubsub(name).map(|p| p.options()),
            Block::Objects => self.objects(name).map(|p| p.options()),
            Block::Caches => self.cache(name).map(|p| p.options()),
            Block::Databases => self.database(name).map(|p| p.options()),
        }
    }

    /// Why `provider` is not a provider of `block` here, listing those that are.
    pub fn unknown_provider(&self, block: Block, provider: &str) -> String {
        let have = self.names(block).join(", ");
        let key = block.key();
        if self.missing_features.contains(&provider) {
            format!(
                "provider `{provider}` is not compiled into this build (enable the cargo \
                 feature `{provider}`); this build has: {have}"
            )
        } else if self.cloud(provider).is_some() {
            format!("the `{provider}` cloud has no {key} provider yet; this build has: {have}")
        } else {
            format!("unknown {key} provider `{provider}`; this build has: {have}")
        }
    }

    /// Checks every entry's provider and provider options, and every cloud
    /// account, against this build. Returns the JSON path and the message.
    pub(crate) fn check(&self, config: &InfraConfig) -> Result<(), FieldError> {
        for (cloud, raw) in &config.providers {
            let path = format!("providers.{cloud}");
            let Some(account) = self.cloud(cloud) else {
                let have: Vec<&str> = self.clouds.iter().map(|c| c.name).collect();
                let hint = if self.missing_features.contains(&cloud.as_str()) {
                    format!(" (enable the cargo feature `{cloud}`)")
                } else {
                    String::new()
                };
                return Err((
                    path,
                    format!(
                        "unknown cloud `{cloud}`{hint}; this build has: {}",
                        if have.is_empty() {
                            "none".to_owned()
                        } else {
                            have.join(", ")
                        }
                    ),
                ));
            };
            account
                .options
                .check(raw, self)
                .map_err(|(field, msg)| (join_path(&path, &field), msg))?;
        }
        let entries = config
            .pubsub
            .iter()
            .map(|(n, e)| (Block::PubSub, n, e.provider.as_str(), &e.options))
            .chain(
                config
                    .objects
                    .iter()
                    .map(|(n, e)| (Block::Objects, n, e.provider.as_str(), &e.options)),
            )
            .chain(
                config
                    .caches
                    .iter()
                    .map(|(n, e)| (Block::Caches, n, e.provider.as_str(), &e.options)),
            )
            .chain(
                config
                    .databases
                    .iter()
                    .map(|(n, e)| (Block::Databases, n, e.provider.as_str(), &e.options)),
            );
        for (block, name, provider, raw) in entries {
            let path = format!("{}.{name}", block.key());
            let Some(options) = self.options_of(block, provider) else {
                return Err((
                    format!("{path}.provider"),
                    self.unknown_provider(block, provider),
                ));
            };
            options.check(raw, self).map_err(|(field, msg)| {
                let msg = self.with_owner_hint(block, msg);
                (join_path(&path, &field), msg)
            })?;
        }
        // Physical names, by each service's own rules, before anything opens.
        for (name, config) in &config.pubsub {
            if let Some(provider) = self.pubsub(&config.provider) {
                let entry = TopicEntry {
                    name,
                    physical: config.name.as_deref().unwrap_or(name),
                    config,
                };
                provider
                    .check_names(entry)
                    .map_err(|(field, msg)| (join_path(&entry.path(), &field), msg))?;
            }
        }
        for (name, config) in &config.objects {
            if let Some(provider) = self.objects(&config.provider) {
                let entry = BucketEntry {
                    name,
                    physical: config.name.as_deref().unwrap_or(name),
                    config,
                };
                provider
                    .check_names(entry)
                    .map_err(|(field, msg)| (join_path(&entry.path(), &field), msg))?;
            }
        }
        Ok(())
    }

    /// `unknown field `root`…` gains `; `root` applies only to the
    /// `filesystem` provider` when another provider of the block has it.
    fn with_owner_hint(&self, block: Block, message: String) -> String {
        let Some(field) = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
        else {
            return message;
        };
        let mut generator = schemars::SchemaGenerator::default();
        let owners: Vec<String> = self
            .names(block)
            .into_iter()
            .filter(|name| {
                self.options_of(block, name).is_some_and(|options| {
                    options
                        .schema(&mut generator)
                        .get("properties")
                        .and_then(|p| p.get(field))
                        .is_some()
                })
            })
            .map(|name| format!("`{name}`"))
            .collect();
        if owners.is_empty() {
            message
        } else {
            let s = if owners.len() > 1 { "s" } else { "" };
            format!(
                "{message}; `{field}` applies only to the {} provider{s}",
                owners.join(", ")
            )
        }
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Registry");
        for block in Block::ALL {
            d.field(block.key(), &self.names(block));
        }
        d.field("database_auth", &self.database_auth_names())
            .field(
                "clouds",
                &self.clouds.iter().map(|c| c.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}
