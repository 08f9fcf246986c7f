//! In-memory cache: bounded, TTL-aware, Redis-like semantics.
//!
//! * **Types.** A key holds a scalar (bytes; integers and floats as their
//!   decimal text, like Redis), a list or a set. Using a key with an operation
//!   of another type is `InvalidArgument` ("key `x` holds a list, not a
//!   string"); a scalar write replaces a value of any type, like Redis `SET`.
//! * **Expiry.** An expired entry is invisible from the instant it expires; its
//!   memory is reclaimed when it is next touched, when a write samples it, or
//!   when eviction picks it.
//! * **Bound.** At most `max_entries` keys. Inserting a new key into a full
//!   cache evicts one entry chosen by *sampled LRU* (what Redis does): five
//!   random entries are sampled and the least recently used of them goes,
//!   expired samples first. Reads and writes both count as use. This keeps
//!   every operation O(1) at the price of not always evicting the very oldest.
//!   The bound counts keys, not bytes: size `max_entries` for your values.
//!
//! One `std::sync::Mutex` guards the store; it is never held across an
//! `.await` (no operation awaits while holding it).

mod store;

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use strata_core::cache::{CacheCapabilities, CacheDriver, KeyTtl, ListEnd, SetCondition, Ttl};
use strata_core::sync::lock;
use strata_core::{Error, Result};

use self::store::{Store, Value, expiry, not_a_number, parse_float, parse_int, range_window};

/// The largest value accepted (Redis's limit for a string).
const MAX_VALUE_BYTES: usize = 512 * 1024 * 1024;

/// A bounded, TTL-aware cache held in this process (see the module docs for
/// its eviction policy).
///
/// ```
/// use std::sync::Arc;
/// use strata_core::cache::Keyspace;
/// use strata_providers::memory::cache::MemoryCache;
///
/// let cache = Arc::new(MemoryCache::new(10_000));
/// let sessions = Keyspace::new("sessions", cache, "sessions:", None);
/// # let _ = sessions;
/// ```
pub struct MemoryCache {
    store: Mutex<Store>,
    capabilities: CacheCapabilities,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let store = self.lock();
        f.debug_struct("MemoryCache")
            .field("entries", &store.slots.len())
            .field("max_entries", &store.max_entries)
            .finish()
    }
}

impl MemoryCache {
    /// A cache holding at most `max_entries` keys (at least one).
    pub fn new(max_entries: usize) -> Self {
        Self {
            store: Mutex::new(Store::new(max_entries)),
            capabilities: CacheCapabilities {
                max_value_bytes: MAX_VALUE_BYTES,
                bounded: true,
                durable: false,
            },
        }
    }

    /// The number of live (unexpired) keys. O(n): meant for tests and metrics.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        let store = self.lock();
        store.slots.iter().filter(|s| !s.is_expired(now)).count()
    }

    /// Whether no live key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound on the number of keys.
    pub fn max_entries(&self) -> usize {
        self.lock().max_entries
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // Store methods do not panic; if one ever did, serving the store as it
        // is beats failing every later call.
        lock(&self.store)
    }
}

#[async_trait]
impl CacheDriver for MemoryCache {
    fn capabilities(&self) -> &CacheCapabilities {
        &self.capabilities
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let mut store = self.lock();
        Ok(store
            .scalar(key, Instant::now())?
            .and_then(|slot| match &slot.value {
                Value::Scalar(b) => Some(b.clone()),
                _ => None,
            }))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        let now = Instant::now();
        let mut store = self.lock();
        // Like Redis MGET, a key of another type reads as a miss.
        Ok(keys
            .iter()
            .map(|key| match store.live(key, now).map(|s| &s.value) {
                Some(Value::Scalar(b)) => Some(b.clone()),
                _ => None,
            })
            .collect())
    }

    async fn set(
        &self,
        key: &str,
        value: Bytes,
        condition: SetCondition,
        ttl: Ttl,
    ) -> Result<bool> {
        let now = Instant::now();
        let mut store = self.lock();
        match (store.live(key, now), condition) {
            (Some(_), SetCondition::IfAbsent) | (None, SetCondition::IfPresent) => Ok(false),
            (Some(slot), _) => {
                slot.value = Value::Scalar(value);
                slot.expires_at = expiry(ttl, slot.expires_at, now);
                Ok(true)
            }
            (None, _) => {
                store.insert(key, Value::Scalar(value), ttl, now);
                Ok(true)
            }
        }
    }

    async fn set_many(&self, entries: Vec<(String, Bytes)>, ttl: Ttl) -> Result<()> {
        let now = Instant::now();
        let mut store = self.lock();
        for (key, value) in entries {
            match store.live(&key, now) {
                Some(slot) => {
                    slot.value = Value::Scalar(value);
                    slot.expires_at = expiry(ttl, slot.expires_at, now);
                }
                None => {
                    store.insert(&key, Value::Scalar(value), ttl, now);
                }
            }
        }
        Ok(())
    }

    async fn delete(&self, keys: &[String]) -> Result<u64> {
        let now = Instant::now();
        let mut store = self.lock();
        Ok(keys.iter().filter(|key| store.remove(key, now)).count() as u64)
    }

    async fn incr_by(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        let mut store = self.lock();
        store.update_number(key, ttl, Instant::now(), |old| {
            let old = match old {
                Some(bytes) => parse_int(bytes).ok_or_else(|| not_a_number(key, "an integer"))?,
                None => 0,
            };
            let new = old.checked_add(delta).ok_or_else(|| {
                Error::invalid_argument(format!(
                    "incrementing key `{key}` ({old}) by {delta} overflows a 64-bit integer"
                ))
            })?;
            Ok((new, new.to_string()))
        })
    }

    async fn incr_by_float(&self, key: &str, delta: f64, ttl: Ttl) -> Result<f64> {
        let mut store = self.lock();
        store.update_number(key, ttl, Instant::now(), |old| {
            let old = match old {
                Some(bytes) => parse_float(bytes).ok_or_else(|| not_a_number(key, "a number"))?,
                None => 0.0,
            };
            let new = old + delta;
            if !new.is_finite() {
                return Err(Error::invalid_argument(format!(
                    "incrementing key `{key}` ({old}) by {delta} is not a finite number"
                )));
            }
            Ok((new, new.to_string()))
        })
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let now = Instant::now();
        let mut store = self.lock();
        Ok(match store.live(key, now) {
            None => KeyTtl::Missing,
            Some(slot) => match slot.expires_at {
                None => KeyTtl::Persistent,
                Some(at) => KeyTtl::ExpiresIn(at.saturating_duration_since(now)),
            },
        })
    }

    async fn expire(&self, key: &str, ttl: Ttl) -> Result<bool> {
        let now = Instant::now();
        let mut store = self.lock();
        match store.live(key, now) {
            None => Ok(false),
            Some(slot) => {
                slot.expires_at = expiry(ttl, slot.expires_at, now);
                if slot.is_expired(now) {
                    // A zero TTL: expire now, and reclaim at once.
                    store.remove(key, now);
                }
                Ok(true)
            }
        }
    }

    async fn list_push(
        &self,
        key: &str,
        values: Vec<Bytes>,
        end: ListEnd,
        ttl: Ttl,
    ) -> Result<u64> {
        let mut store = self.lock();
        let make = || Value::List(VecDeque::new());
        let Value::List(list) = store.collection_for_write(key, ttl, Instant::now(), make)? else {
            return Err(Error::internal("a list slot holds another type"));
        };
        for value in values {
            match end {
                ListEnd::Front => list.push_front(value),
                ListEnd::Back => list.push_back(value),
            }
        }
        Ok(list.len() as u64)
    }

    async fn list_pop(&self, key: &str, end: ListEnd, count: usize) -> Result<Vec<Bytes>> {
        let now = Instant::now();
        let mut store = self.lock();
        let Some(list) = store.list(key, now)? else {
            return Ok(Vec::new());
        };
        let n = count.min(list.len());
        let popped: Vec<Bytes> = match end {
            ListEnd::Front => list.drain(..n).collect(),
            ListEnd::Back => (0..n).filter_map(|_| list.pop_back()).collect(),
        };
        store.drop_if_empty(key);
        Ok(popped)
    }

    async fn list_range(&self, key: &str, start: i64, stop: i64) -> Result<Vec<Bytes>> {
        let mut store = self.lock();
        let Some(list) = store.list(key, Instant::now())? else {
            return Ok(Vec::new());
        };
        Ok(match range_window(list.len(), start, stop) {
            Some((from, to)) => list.range(from..=to).cloned().collect(),
            None => Vec::new(),
        })
    }

    async fn list_len(&self, key: &str) -> Result<u64> {
        let mut store = self.lock();
        Ok(store
            .list(key, Instant::now())?
            .map_or(0, |l| l.len() as u64))
    }

    async fn set_add(&self, key: &str, members: Vec<Bytes>, ttl: Ttl) -> Result<u64> {
        let mut store = self.lock();
        let make = || Value::Set(HashSet::new());
        let Value::Set(set) = store.collection_for_write(key, ttl, Instant::now(), make)? else {
            return Err(Error::internal("a set slot holds another type"));
        };
        Ok(members
            .into_iter()
            .filter(|m| set.insert(m.clone()))
            .count() as u64)
    }

    async fn set_remove(&self, key: &str, members: Vec<Bytes>) -> Result<u64> {
        let mut store = self.lock();
        let Some(set) = store.set(key, Instant::now())? else {
            return Ok(0);
        };
        let removed = members.iter().filter(|m| set.remove(*m)).count() as u64;
        store.drop_if_empty(key);
        Ok(removed)
    }

    async fn set_members(&self, key: &str) -> Result<Vec<Bytes>> {
        let mut store = self.lock();
        Ok(store
            .set(key, Instant::now())?
            .map_or_else(Vec::new, |s| s.iter().cloned().collect()))
    }

    async fn set_contains(&self, key: &str, member: Bytes) -> Result<bool> {
        let mut store = self.lock();
        Ok(store
            .set(key, Instant::now())?
            .is_some_and(|s| s.contains(&member)))
    }

    async fn set_len(&self, key: &str) -> Result<u64> {
        let mut store = self.lock();
        Ok(store
            .set(key, Instant::now())?
            .map_or(0, |s| s.len() as u64))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn put(cache: &MemoryCache, key: &str) {
        let value = Bytes::from_static(b"1");
        cache
            .set(key, value, SetCondition::Always, Ttl::Persist)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn eviction_removes_the_least_recently_used_entry() {
        let cache = MemoryCache::new(3);
        for key in ["a", "b", "c"] {
            put(&cache, key).await;
        }
        // Reading "a" makes "b" the least recently used.
        assert!(cache.get("a").await.unwrap().is_some());
        put(&cache, "d").await;
        assert_eq!(cache.len(), 3);
        assert!(cache.get("b").await.unwrap().is_none());
        for key in ["a", "c", "d"] {
            assert!(cache.get(key).await.unwrap().is_some(), "{key} was evicted");
        }
    }

    #[tokio::test]
    async fn eviction_prefers_expired_entries() {
        let cache = MemoryCache::new(3);
        for key in ["a", "b", "c"] {
            put(&cache, key).await;
        }
        // "c" is the most recently used but expired: it goes first.
        cache
            .expire("c", Ttl::After(std::time::Duration::from_nanos(1)))
            .await
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        put(&cache, "d").await;
        assert_eq!(cache.lock().slots.len(), 3);
        for key in ["a", "b", "d"] {
            assert!(cache.get(key).await.unwrap().is_some(), "{key} was evicted");
        }
    }

    #[tokio::test]
    async fn a_full_cache_never_exceeds_its_bound() {
        let cache = MemoryCache::new(10);
        for i in 0..1000 {
            cache
                .set(
                    &format!("k{i}"),
                    Bytes::from_static(b"v"),
                    SetCondition::Always,
                    Ttl::Keep,
                )
                .await
                .unwrap();
            assert!(cache.lock().slots.len() <= 10);
        }
        assert_eq!(cache.len(), 10);
        assert!(cache.get("k999").await.unwrap().is_some());
        let store = cache.lock();
        for (i, slot) in store.slots.iter().enumerate() {
            assert_eq!(store.index.get(&slot.key), Some(&i), "index out of sync");
        }
        assert_eq!(store.index.len(), store.slots.len());
    }
}
