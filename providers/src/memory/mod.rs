//! In-process providers: pub/sub, objects and cache held in memory.
//!
//! They are real providers (they pass the whole conformance suite), meant for
//! development, tests and single-process applications.

pub mod cache;
pub mod objects;
mod provider;
pub mod pubsub;

pub use self::provider::{
    MemoryCacheOptions, MemoryCacheProvider, MemoryObjectsProvider, MemoryPubSubProvider,
};
