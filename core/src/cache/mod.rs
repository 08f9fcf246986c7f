//! Cache: keyspaces of string, integer, float, list and set values.
//!
//! A provider implements [`CacheDriver`] over raw keys and byte values; the
//! portable `Keyspace` on top adds the key prefix, the default TTL and typed
//! accessors. A miss is `None` (or `0`, or empty), never an error.

use std::any::Any;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::Result;

/// What a write does to the key's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// Keep whatever TTL the key has (none for a new key).
    Keep,
    /// Remove any TTL: the key lives until deleted (or evicted).
    Persist,
    /// Expire this long from now.
    After(Duration),
}

/// The TTL state of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTtl {
    /// No such key.
    Missing,
    /// The key has no expiry.
    Persistent,
    /// The key expires in this long.
    ExpiresIn(Duration),
}

/// When a scalar write happens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SetCondition {
    /// Always.
    #[default]
    Always,
    /// Only if the key is absent (set-if-absent, Redis `NX`).
    IfAbsent,
    /// Only if the key exists (replace, Redis `XX`).
    IfPresent,
}

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListEnd {
    /// The head (index 0).
    Front,
    /// The tail.
    Back,
}

/// What a cache provider can do.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheCapabilities {
    /// Largest value accepted.
    pub max_value_bytes: usize,
    /// Entries are evicted when a size bound is reached.
    pub bounded: bool,
    /// Values survive a restart of the application.
    pub durable: bool,
}

/// One cache connection or store. Keys arrive with the keyspace prefix applied.
///
/// Using a key with an operation of another type (a list op on a string) is
/// [`ErrorCode::InvalidArgument`](crate::ErrorCode), as is incrementing a value
/// that is not a number.
#[async_trait]
pub trait CacheDriver: Any + Send + Sync {
    /// What this provider can do.
    fn capabilities(&self) -> &CacheCapabilities;

    /// Reads a scalar value.
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;

    /// Reads many scalar values; one entry per key, in order.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>>;

    /// Writes a scalar value if `condition` holds; returns whether it was written.
    async fn set(&self, key: &str, value: Bytes, condition: SetCondition, ttl: Ttl)
    -> Result<bool>;

    /// Writes many scalar values (not atomically across keys).
    async fn set_many(&self, entries: Vec<(String, Bytes)>, ttl: Ttl) -> Result<()>;

    /// Deletes keys of any type; returns how many existed.
    async fn delete(&self, keys: &[String]) -> Result<u64>;

    /// Adds `delta` to an integer (a missing key counts as 0); returns the new value.
    async fn incr_by(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64>;

    /// Adds `delta` to a float (a missing key counts as 0); returns the new value.
    async fn incr_by_float(&self, key: &str, delta: f64, ttl: Ttl) -> Result<f64>;

    /// Reads the TTL state.
    async fn ttl(&self, key: &str) -> Result<KeyTtl>;

    /// Changes the TTL of an existing key; returns whether the key exists.
    /// `Ttl::Keep` is a no-op.
    async fn expire(&self, key: &str, ttl: Ttl) -> Result<bool>;

    /// Pushes values at one end of a list; returns the new length.
    async fn list_push(&self, key: &str, values: Vec<Bytes>, end: ListEnd, ttl: Ttl)
    -> Result<u64>;

    /// Pops up to `count` values from one end.
    async fn list_pop(&self, key: &str, end: ListEnd, count: usize) -> Result<Vec<Bytes>>;

    /// Values from `start` to `stop` inclusive; negative indexes count from the end
    /// (`0, -1` is the whole list).
    async fn list_range(&self, key: &str, start: i64, stop: i64) -> Result<Vec<Bytes>>;

    /// The list's length (0 when missing).
    async fn list_len(&self, key: &str) -> Result<u64>;

    /// Adds members to a set; returns how many were new.
    async fn set_add(&self, key: &str, members: Vec<Bytes>, ttl: Ttl) -> Result<u64>;

    /// Removes members; returns how many were present.
    async fn set_remove(&self, key: &str, members: Vec<Bytes>) -> Result<u64>;

    /// All members, in no particular order.
    async fn set_members(&self, key: &str) -> Result<Vec<Bytes>>;

    /// Whether `member` is in the set.
    async fn set_contains(&self, key: &str, member: Bytes) -> Result<bool>;

    /// The set's size (0 when missing).
    async fn set_len(&self, key: &str) -> Result<u64>;
}

mod keyspace;

pub use keyspace::{Keyspace, MAX_KEY_BYTES};
