//! # strata-providers
//!
//! The cloud-neutral providers: the embedded defaults ([`memory`],
//! [`filesystem`], [`sqlite`]) and the self-hosted servers ([`redis`],
//! [`postgres`]). Each registers itself with [`register`]; the assembly
//! (`strata-infra`) turns a config into live providers through that registry.

pub mod filesystem;
pub mod memory;
pub mod postgres;
pub mod redis;
pub mod sqlite;

use strata_core::registry::Registry;

/// Registers every provider of this crate: `memory` (pub/sub, objects,
/// cache), `filesystem`, `sqlite`, `redis` and `postgres`.
pub fn register(registry: &mut Registry) {
    registry
        .add_pubsub(memory::MemoryPubSubProvider)
        .add_objects(memory::MemoryObjectsProvider)
        .add_objects(filesystem::FilesystemProvider)
        .add_cache(memory::MemoryCacheProvider)
        .add_cache(redis::RedisProvider)
        .add_database(sqlite::SqliteProvider)
        .add_database(postgres::PostgresProvider);
}

/// A registry of this crate's providers alone, for its own tests.
#[cfg(test)]
pub(crate) fn embedded_registry() -> &'static Registry {
    static REGISTRY: std::sync::LazyLock<Registry> = std::sync::LazyLock::new(|| {
        let mut registry = Registry::new();
        register(&mut registry);
        registry
    });
    &REGISTRY
}
