//! # strata-providers
//!
//! Turns a parsed infra config into live providers ([`Infra`]), and holds the
//! cloud-neutral providers: the embedded defaults ([`memory`], [`filesystem`],
//! [`sqlite`]) and, later, self-hosted servers. The cloud providers come in
//! through the `aws`, `gcp` and `azure` features.

pub mod filesystem;
mod infra;
pub mod memory;
pub mod postgres;
pub mod redis;
pub mod sqlite;
pub mod tls;

pub use infra::{CATALOG, Infra, SubscribeOptions};
