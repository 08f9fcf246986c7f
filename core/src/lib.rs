//! # strata-core
//!
//! The portable heart of Strata: the traits that providers implement for the four
//! building blocks ([`pubsub`], [`objects`], [`cache`], [`sqldb`]), the portable
//! types and [`Error`], the infra [`config`] model and its parser, and the engine
//! that is the same for every provider (publish batching, the subscriber with
//! retries, lease extension, dead-lettering and drain, key validation).
//!
//! With the `testkit` feature, [`testkit`] is the conformance suite that every
//! provider runs through a small harness.
//!
//! Nothing here knows a cloud SDK: providers live in their own crates.

pub mod cache;
pub mod config;
mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod names;
pub mod objects;
pub mod pubsub;
pub mod registry;
pub mod sqldb;
pub mod sync;
#[cfg(feature = "testkit")]
pub mod testkit;
#[cfg(feature = "tls")]
pub mod tls;

pub use error::{Error, ErrorCode, Result, error_chain};
