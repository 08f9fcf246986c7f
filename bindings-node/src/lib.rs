//! # strata-node
//!
//! The native half of the Node.js binding (`@strata/runtime`). The JS layer in
//! `index.js` wraps it into the public TypeScript API; nothing here is meant to
//! be called directly.
//!
//! Design: every I/O call runs on one tokio runtime ([`runtime`]); the JS
//! thread only converts arguments and results. Asynchronous calls carry an id
//! from JS and are answered through one shared completion queue that wakes JS
//! once for many results ([`bridge`]); subscription messages travel the same
//! way, many per wake-up, and handlers' outcomes come back in batches.

mod bridge;
mod cache;
mod errors;
mod infra;
mod objects;
mod out;
mod probe;
mod publish_codec;
mod pubsub;
mod runtime;
mod sql_params;
mod sqldb;
mod telemetry;
mod wire;

pub use bridge::Bridge;
pub use cache::NativeKeyspace;
pub use errors::Code;
pub use infra::{NativeInfra, NativeSubscribeOptions};
pub use objects::{NativeBucket, NativeDownload, NativeListing, NativePutOptions, NativeUpload};
pub use probe::{naive_noop, sync_noop};
pub use pubsub::NativeTopic;
pub use sqldb::{NativeDatabase, NativeTransaction};
pub use wire::{CONTENT_TYPE_ATTRIBUTE, WireConstants, wire_constants};

/// jemalloc for every allocation the addon makes. Most of them cross
/// threads: arguments are allocated on the JS thread and freed on a runtime
/// worker, results the other way round, and glibc's malloc pays for that in
/// arena locks and consolidation; the measurement that chose jemalloc is in
/// bench/results/cache-db.md (runs F–H).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
