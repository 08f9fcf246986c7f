//! The data structure behind [`MemoryCache`](super::MemoryCache): entries in a
//! dense vector (O(1) random sampling for eviction) plus a key index.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use strata_core::cache::Ttl;
use strata_core::{Error, Result};

/// Entries sampled per eviction (Redis's default `maxmemory-samples`).
const EVICTION_SAMPLES: usize = 5;
/// Entries checked for expiry on each insert, so dead keys do not pile up.
const SWEEP_SAMPLES: usize = 3;

/// What a key holds.
#[derive(Debug)]
pub(super) enum Value {
    Scalar(Bytes),
    List(VecDeque<Bytes>),
    Set(HashSet<Bytes>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "a string",
            Value::List(_) => "a list",
            Value::Set(_) => "a set",
        }
    }
}

pub(super) struct Slot {
    pub(super) key: Arc<str>,
    pub(super) value: Value,
    pub(super) expires_at: Option<Instant>,
    last_used: u64,
}

impl Slot {
    pub(super) fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// Entries in a dense vector (for O(1) random sampling) plus a key index.
pub(super) struct Store {
    pub(super) slots: Vec<Slot>,
    pub(super) index: HashMap<Arc<str>, usize>,
    pub(super) max_entries: usize,
    /// A use counter: bigger is more recent.
    clock: u64,
}

impl Store {
    /// An empty store for at most `max_entries` keys.
    pub(super) fn new(max_entries: usize) -> Self {
        Self {
            slots: Vec::new(),
            index: HashMap::new(),
            max_entries: max_entries.max(1),
            clock: 0,
        }
    }

    /// The index of a live key, marked as used; an expired one is reclaimed.
    fn live_index(&mut self, key: &str, now: Instant) -> Option<usize> {
        let i = *self.index.get(key)?;
        if self.slots[i].is_expired(now) {
            self.remove_at(i);
            return None;
        }
        self.clock += 1;
        self.slots[i].last_used = self.clock;
        Some(i)
    }

    /// The slot of a live key, marked as used.
    pub(super) fn live(&mut self, key: &str, now: Instant) -> Option<&mut Slot> {
        let i = self.live_index(key, now)?;
        Some(&mut self.slots[i])
    }

    fn remove_at(&mut self, i: usize) -> Slot {
        let slot = self.slots.swap_remove(i);
        self.index.remove(&slot.key);
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.key.clone(), i);
        }
        slot
    }

    /// Removes a live key; returns whether it was live.
    pub(super) fn remove(&mut self, key: &str, now: Instant) -> bool {
        match self.index.get(key) {
            Some(&i) => !self.remove_at(i).is_expired(now),
            None => false,
        }
    }

    /// Adds a key known to be absent, evicting first when full.
    pub(super) fn insert(&mut self, key: &str, value: Value, ttl: Ttl, now: Instant) -> &mut Slot {
        self.sweep(now);
        if self.slots.len() >= self.max_entries {
            self.evict_one(now);
        }
        self.clock += 1;
        let key: Arc<str> = Arc::from(key);
        let i = self.slots.len();
        self.index.insert(key.clone(), i);
        self.slots.push(Slot {
            key,
            value,
            expires_at: expiry(ttl, None, now),
            last_used: self.clock,
        });
        &mut self.slots[i]
    }

    /// Sampled LRU: of a few random entries, drop an expired one or else the
    /// least recently used.
    fn evict_one(&mut self, now: Instant) {
        let len = self.slots.len();
        if len == 0 {
            return;
        }
        // A small store is scanned whole, which makes eviction exact there.
        let sample = |n: usize| {
            if len <= EVICTION_SAMPLES {
                n
            } else {
                fastrand::usize(..len)
            }
        };
        let mut victim = sample(0);
        for n in 1..EVICTION_SAMPLES.min(len) {
            let candidate = sample(n);
            let (c, v) = (&self.slots[candidate], &self.slots[victim]);
            let better = match (c.is_expired(now), v.is_expired(now)) {
                (true, false) => true,
                (false, true) => false,
                _ => c.last_used < v.last_used,
            };
            if better {
                victim = candidate;
            }
        }
        self.remove_at(victim);
    }

    /// Reclaims expired entries among a few random ones.
    fn sweep(&mut self, now: Instant) {
        for _ in 0..SWEEP_SAMPLES {
            if self.slots.is_empty() {
                return;
            }
            let i = fastrand::usize(..self.slots.len());
            if self.slots[i].is_expired(now) {
                self.remove_at(i);
            }
        }
    }

    /// The live value of `key` if it has the wanted type (`None` when missing).
    fn typed<T>(
        &mut self,
        key: &str,
        now: Instant,
        pick: impl FnOnce(&mut Value) -> Option<&mut T>,
        wanted: &str,
    ) -> Result<Option<&mut T>> {
        match self.live(key, now) {
            None => Ok(None),
            Some(slot) => {
                let kind = slot.value.kind();
                pick(&mut slot.value)
                    .map(Some)
                    .ok_or_else(|| wrong_type(key, kind, wanted))
            }
        }
    }

    pub(super) fn list(&mut self, key: &str, now: Instant) -> Result<Option<&mut VecDeque<Bytes>>> {
        self.typed(
            key,
            now,
            |v| match v {
                Value::List(l) => Some(l),
                _ => None,
            },
            "a list",
        )
    }

    pub(super) fn set(&mut self, key: &str, now: Instant) -> Result<Option<&mut HashSet<Bytes>>> {
        self.typed(
            key,
            now,
            |v| match v {
                Value::Set(s) => Some(s),
                _ => None,
            },
            "a set",
        )
    }

    pub(super) fn scalar(&mut self, key: &str, now: Instant) -> Result<Option<&mut Slot>> {
        match self.live(key, now) {
            None => Ok(None),
            Some(slot) => match slot.value {
                Value::Scalar(_) => Ok(Some(slot)),
                ref other => Err(wrong_type(key, other.kind(), "a string")),
            },
        }
    }

    /// The live list or set of `key` for a write with `ttl`, created empty
    /// (by `make`) when the key is missing. `kind` is `make()`'s kind.
    pub(super) fn collection_for_write(
        &mut self,
        key: &str,
        ttl: Ttl,
        now: Instant,
        make: fn() -> Value,
    ) -> Result<&mut Value> {
        let Some(i) = self.live_index(key, now) else {
            return Ok(&mut self.insert(key, make(), ttl, now).value);
        };
        let slot = &mut self.slots[i];
        let wanted = make().kind();
        if slot.value.kind() != wanted {
            return Err(wrong_type(key, slot.value.kind(), wanted));
        }
        slot.expires_at = expiry(ttl, slot.expires_at, now);
        Ok(&mut slot.value)
    }

    /// Drops `key` when its collection became empty (like Redis).
    pub(super) fn drop_if_empty(&mut self, key: &str) {
        if let Some(&i) = self.index.get(key) {
            let empty = match &self.slots[i].value {
                Value::List(l) => l.is_empty(),
                Value::Set(s) => s.is_empty(),
                Value::Scalar(_) => false,
            };
            if empty {
                self.remove_at(i);
            }
        }
    }

    /// Adds `delta` through `update`, which maps the old text (if any) to the
    /// new value and its text.
    pub(super) fn update_number<N: Copy>(
        &mut self,
        key: &str,
        ttl: Ttl,
        now: Instant,
        update: impl FnOnce(Option<&[u8]>) -> Result<(N, String)>,
    ) -> Result<N> {
        match self.scalar(key, now)? {
            Some(slot) => {
                let Value::Scalar(old) = &slot.value else {
                    return Err(Error::internal("scalar slot holds a collection"));
                };
                let (n, text) = update(Some(old))?;
                slot.value = Value::Scalar(Bytes::from(text));
                slot.expires_at = expiry(ttl, slot.expires_at, now);
                Ok(n)
            }
            None => {
                let (n, text) = update(None)?;
                self.insert(key, Value::Scalar(Bytes::from(text)), ttl, now);
                Ok(n)
            }
        }
    }
}

/// The expiry after a write with `ttl` to an entry that expired at `current`.
pub(super) fn expiry(ttl: Ttl, current: Option<Instant>, now: Instant) -> Option<Instant> {
    match ttl {
        Ttl::Keep => current,
        Ttl::Persist => None,
        // A TTL too far to represent is "never".
        Ttl::After(d) => now.checked_add(d),
    }
}

fn wrong_type(key: &str, holds: &str, wanted: &str) -> Error {
    Error::invalid_argument(format!("key `{key}` holds {holds}, not {wanted}"))
}

pub(super) fn not_a_number(key: &str, what: &str) -> Error {
    Error::invalid_argument(format!("key `{key}` holds a value that is not {what}"))
}

/// Parses a stored integer strictly (Redis accepts no `+` and no spaces).
pub(super) fn parse_int(bytes: &[u8]) -> Option<i64> {
    if bytes.first() == Some(&b'+') {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

pub(super) fn parse_float(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.trim() != text {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Redis `LRANGE` index rules: negative counts from the end, out of range is
/// clamped, an empty window is empty.
pub(super) fn range_window(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = i64::try_from(len).ok()?;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    if start > stop || start >= len {
        return None;
    }
    Some((usize::try_from(start).ok()?, usize::try_from(stop).ok()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn range_window_follows_redis_lrange() {
        assert_eq!(range_window(5, 0, -1), Some((0, 4)));
        assert_eq!(range_window(5, -2, -1), Some((3, 4)));
        assert_eq!(range_window(5, -100, 1), Some((0, 1)));
        assert_eq!(range_window(5, 1, 100), Some((1, 4)));
        assert_eq!(range_window(5, 3, 1), None);
        assert_eq!(range_window(5, 5, 10), None);
        assert_eq!(range_window(5, 0, -6), None);
        assert_eq!(range_window(0, 0, -1), None);
    }

    #[test]
    fn integers_parse_strictly() {
        assert_eq!(parse_int(b"-42"), Some(-42));
        assert_eq!(parse_int(b"+42"), None);
        assert_eq!(parse_int(b" 42"), None);
        assert_eq!(parse_int(b"4.2"), None);
        assert_eq!(parse_float(b"4.25"), Some(4.25));
        assert_eq!(parse_float(b"inf"), None);
        assert_eq!(parse_float(b"1 "), None);
    }

    #[test]
    fn collections_are_created_typed_and_checked() {
        let mut store = Store::new(10);
        let now = Instant::now();
        let list = || Value::List(VecDeque::new());
        let set = || Value::Set(HashSet::new());
        assert!(matches!(
            store
                .collection_for_write("l", Ttl::Keep, now, list)
                .unwrap(),
            Value::List(_)
        ));
        let err = store
            .collection_for_write("l", Ttl::Keep, now, set)
            .unwrap_err();
        assert_eq!(err.message(), "key `l` holds a list, not a set");
        assert_eq!(store.slots.len(), 1);
    }
}
