//! The portable [`Keyspace`]: prefixing, default TTL, validation and typed
//! accessors over any [`CacheDriver`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{CacheCapabilities, CacheDriver, KeyTtl, ListEnd, SetCondition, Ttl};
use crate::{Error, Result};

/// The longest key accepted, in bytes, prefix included.
pub const MAX_KEY_BYTES: usize = 1024;

/// A named cache keyspace: every key gets the keyspace's prefix, and writes
/// without an explicit TTL get its default TTL.
///
/// Cloning is cheap (the driver and names are shared). A miss is `None`, `0` or
/// an empty collection, never an error. Values are bytes; strings are UTF-8 and
/// integers and floats are stored as their decimal text (like Redis), so
/// [`get`](Self::get) of a counter returns `"42"`.
///
/// ```
/// # async fn demo(sessions: strata_core::cache::Keyspace) -> strata_core::Result<()> {
/// use std::time::Duration;
/// use strata_core::cache::Ttl;
///
/// sessions.set("user:1", "alice").await?;
/// assert_eq!(sessions.get("user:1").await?.as_deref(), Some("alice"));
/// let visits = sessions.incr("visits:1", 1).await?;
/// // An explicit TTL for the writes of one call chain:
/// sessions.with_ttl(Ttl::After(Duration::from_secs(60))).set("otp:1", "123456").await?;
/// # let _ = visits; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Keyspace {
    name: Arc<str>,
    prefix: Arc<str>,
    driver: Arc<dyn CacheDriver>,
    default_ttl: Option<Duration>,
    /// Set by [`Keyspace::with_ttl`]; overrides the default for every write.
    write_ttl: Option<Ttl>,
}

impl fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyspace")
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("default_ttl", &self.default_ttl)
            .field("write_ttl", &self.write_ttl)
            .finish_non_exhaustive()
    }
}

impl Keyspace {
    /// The provider's driver behind this keyspace when it is a `T`, for
    /// a call Strata does not wrap; `None` on another provider.
    pub fn driver_as<T: CacheDriver>(&self) -> Option<&T> {
        let driver: &dyn std::any::Any = self.driver.as_ref();
        driver.downcast_ref::<T>()
    }

    /// A keyspace called `name` over `driver`, whose keys all start with `prefix`,
    /// and whose writes expire after `default_ttl` unless told otherwise
    /// (`None`: writes keep the key's TTL, so new keys never expire).
    pub fn new(
        name: impl Into<String>,
        driver: Arc<dyn CacheDriver>,
        prefix: impl Into<String>,
        default_ttl: Option<Duration>,
    ) -> Self {
        Self {
            name: Arc::from(name.into()),
            prefix: Arc::from(prefix.into()),
            driver,
            default_ttl,
            write_ttl: None,
        }
    }

    /// A view of this keyspace whose writes all use `ttl` instead of the default
    /// TTL. Reads are unaffected; the view is as cheap as a clone.
    pub fn with_ttl(&self, ttl: Ttl) -> Keyspace {
        Keyspace {
            write_ttl: Some(ttl),
            ..self.clone()
        }
    }

    /// The logical name (as in the infra config).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The prefix added to every key.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The TTL applied to writes that do not give one.
    pub fn default_ttl(&self) -> Option<Duration> {
        self.default_ttl
    }

    /// The provider underneath, for what the typed surface does not cover.
    pub fn driver(&self) -> &Arc<dyn CacheDriver> {
        &self.driver
    }

    /// What the provider can do.
    pub fn capabilities(&self) -> &CacheCapabilities {
        self.driver.capabilities()
    }

    // ----- strings and bytes -------------------------------------------------

    /// Reads a string; `None` on a miss, [`InvalidArgument`](crate::ErrorCode)
    /// when the value is not UTF-8 or the key holds a list or set.
    pub async fn get(&self, key: &str) -> Result<Option<String>> {
        let full = self.key(key)?;
        match self.driver.get(&full).await? {
            Some(bytes) => utf8(key, bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Reads raw bytes; `None` on a miss.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Bytes>> {
        let full = self.key(key)?;
        self.driver.get(&full).await
    }

    /// Writes a value (string or bytes), replacing any value of any type.
    pub async fn set(&self, key: &str, value: impl AsRef<[u8]>) -> Result<()> {
        self.set_if(key, value.as_ref(), SetCondition::Always)
            .await
            .map(drop)
    }

    /// Writes only if the key does not exist; returns whether it was written.
    pub async fn set_if_absent(&self, key: &str, value: impl AsRef<[u8]>) -> Result<bool> {
        self.set_if(key, value.as_ref(), SetCondition::IfAbsent)
            .await
    }

    /// Writes only if the key exists; returns whether it was written.
    pub async fn replace(&self, key: &str, value: impl AsRef<[u8]>) -> Result<bool> {
        self.set_if(key, value.as_ref(), SetCondition::IfPresent)
            .await
    }

    /// Reads many strings; one entry per key, in order, `None` for misses
    /// (and, like Redis `MGET`, for keys that hold a list or set).
    pub async fn get_many<K: AsRef<str>>(&self, keys: &[K]) -> Result<Vec<Option<String>>> {
        let values = self.get_many_bytes(keys).await?;
        keys.iter()
            .zip(values)
            .map(|(key, value)| value.map(|v| utf8(key.as_ref(), v)).transpose())
            .collect()
    }

    /// Reads many raw values; one entry per key, in order.
    pub async fn get_many_bytes<K: AsRef<str>>(&self, keys: &[K]) -> Result<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let full = self.keys(keys)?;
        let values = self.driver.get_many(&full).await?;
        if values.len() != full.len() {
            return Err(Error::internal(format!(
                "cache driver returned {} values for {} keys",
                values.len(),
                full.len()
            )));
        }
        Ok(values)
    }

    /// Writes many values (not atomically across keys).
    pub async fn set_many<K, V>(&self, entries: impl IntoIterator<Item = (K, V)>) -> Result<()>
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let max = self.capabilities().max_value_bytes;
        let mut full = Vec::new();
        for (key, value) in entries {
            let value = value.as_ref();
            check_value_size(key.as_ref(), value.len(), max)?;
            full.push((self.key(key.as_ref())?, Bytes::copy_from_slice(value)));
        }
        if full.is_empty() {
            return Ok(());
        }
        let ttl = self.write_ttl()?;
        self.driver.set_many(full, ttl).await
    }

    /// Deletes keys of any type; returns how many existed.
    pub async fn delete<K: AsRef<str>>(&self, keys: &[K]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let full = self.keys(keys)?;
        self.driver.delete(&full).await
    }

    // ----- integers and floats -----------------------------------------------

    /// Reads an integer; `None` on a miss, `InvalidArgument` when the value is
    /// not a decimal integer.
    pub async fn get_int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key).await? {
            Some(text) => text.parse::<i64>().map(Some).map_err(|_| {
                Error::invalid_argument(format!("key `{key}` holds {text:?}, not an integer"))
            }),
            None => Ok(None),
        }
    }

    /// Writes an integer (as its decimal text).
    pub async fn set_int(&self, key: &str, value: i64) -> Result<()> {
        self.set(key, value.to_string()).await
    }

    /// Adds `by` to an integer (a missing key counts as 0); returns the new value.
    pub async fn incr(&self, key: &str, by: i64) -> Result<i64> {
        let full = self.key(key)?;
        let ttl = self.write_ttl()?;
        self.driver.incr_by(&full, by, ttl).await
    }

    /// Subtracts `by` from an integer (a missing key counts as 0); returns the
    /// new value.
    pub async fn decr(&self, key: &str, by: i64) -> Result<i64> {
        let negated = by.checked_neg().ok_or_else(|| {
            Error::invalid_argument(format!("cannot decrement key `{key}` by {by}: overflow"))
        })?;
        self.incr(key, negated).await
    }

    /// Reads a float; `None` on a miss, `InvalidArgument` when the value is not a
    /// number.
    pub async fn get_float(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key).await? {
            Some(text) => match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Some(v)),
                _ => Err(Error::invalid_argument(format!(
                    "key `{key}` holds {text:?}, not a number"
                ))),
            },
            None => Ok(None),
        }
    }

    /// Writes a float (as its shortest round-tripping decimal text). NaN and
    /// infinities are `InvalidArgument`: no cache can increment them.
    pub async fn set_float(&self, key: &str, value: f64) -> Result<()> {
        if !value.is_finite() {
            return Err(Error::invalid_argument(format!(
                "cannot store {value} at key `{key}`: only finite floats are allowed"
            )));
        }
        self.set(key, value.to_string()).await
    }

    /// Adds `by` to a float (a missing key counts as 0); returns the new value.
    pub async fn incr_float(&self, key: &str, by: f64) -> Result<f64> {
        if !by.is_finite() {
            return Err(Error::invalid_argument(format!(
                "cannot increment key `{key}` by {by}: only finite floats are allowed"
            )));
        }
        let full = self.key(key)?;
        let ttl = self.write_ttl()?;
        self.driver.incr_by_float(&full, by, ttl).await
    }

    // ----- lists ---------------------------------------------------------------

    /// Appends values at the tail; returns the new length.
    pub async fn push_back<V: AsRef<[u8]>>(
        &self,
        key: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Result<u64> {
        self.push(key, values, ListEnd::Back).await
    }

    /// Prepends values at the head, one after the other (so the last value ends
    /// up first, like Redis `LPUSH`); returns the new length.
    pub async fn push_front<V: AsRef<[u8]>>(
        &self,
        key: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Result<u64> {
        self.push(key, values, ListEnd::Front).await
    }

    /// Removes and returns the head; `None` when the list is empty or missing.
    pub async fn pop_front(&self, key: &str) -> Result<Option<String>> {
        self.pop(key, ListEnd::Front).await
    }

    /// Removes and returns the tail; `None` when the list is empty or missing.
    pub async fn pop_back(&self, key: &str) -> Result<Option<String>> {
        self.pop(key, ListEnd::Back).await
    }

    /// Items from `start` to `stop` inclusive; negative indexes count from the
    /// end (`0, -1` is the whole list). A missing list is empty.
    pub async fn list_range(&self, key: &str, start: i64, stop: i64) -> Result<Vec<String>> {
        let full = self.key(key)?;
        let items = self.driver.list_range(&full, start, stop).await?;
        items.into_iter().map(|item| utf8(key, item)).collect()
    }

    /// The list's length (0 when missing).
    pub async fn list_len(&self, key: &str) -> Result<u64> {
        let full = self.key(key)?;
        self.driver.list_len(&full).await
    }

    // ----- sets ----------------------------------------------------------------

    /// Adds members; returns how many were new.
    pub async fn set_add<V: AsRef<[u8]>>(
        &self,
        key: &str,
        members: impl IntoIterator<Item = V>,
    ) -> Result<u64> {
        let full = self.key(key)?;
        let members = self.values(key, members)?;
        if members.is_empty() {
            // Redis rejects an empty add; the portable answer is "none new".
            return Ok(0);
        }
        let ttl = self.write_ttl()?;
        self.driver.set_add(&full, members, ttl).await
    }

    /// Removes members; returns how many were present.
    pub async fn set_remove<V: AsRef<[u8]>>(
        &self,
        key: &str,
        members: impl IntoIterator<Item = V>,
    ) -> Result<u64> {
        let full = self.key(key)?;
        let members = self.values(key, members)?;
        if members.is_empty() {
            return Ok(0);
        }
        self.driver.set_remove(&full, members).await
    }

    /// All members, in no particular order (empty when missing).
    pub async fn set_members(&self, key: &str) -> Result<Vec<String>> {
        let full = self.key(key)?;
        let members = self.driver.set_members(&full).await?;
        members.into_iter().map(|m| utf8(key, m)).collect()
    }

    /// Whether `member` is in the set.
    pub async fn set_contains(&self, key: &str, member: impl AsRef<[u8]>) -> Result<bool> {
        let full = self.key(key)?;
        let member = Bytes::copy_from_slice(member.as_ref());
        self.driver.set_contains(&full, member).await
    }

    /// The set's size (0 when missing).
    pub async fn set_len(&self, key: &str) -> Result<u64> {
        let full = self.key(key)?;
        self.driver.set_len(&full).await
    }

    // ----- TTL -------------------------------------------------------------------

    /// The key's TTL state.
    pub async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let full = self.key(key)?;
        self.driver.ttl(&full).await
    }

    /// Makes an existing key expire `after` from now; returns whether it exists.
    pub async fn expire(&self, key: &str, after: Duration) -> Result<bool> {
        let full = self.key(key)?;
        let ttl = checked_ttl(Ttl::After(after))?;
        self.driver.expire(&full, ttl).await
    }

    /// Removes any expiry from an existing key; returns whether it exists.
    pub async fn persist(&self, key: &str) -> Result<bool> {
        let full = self.key(key)?;
        self.driver.expire(&full, Ttl::Persist).await
    }

    // ----- helpers ---------------------------------------------------------------

    /// The full key: validated, with the prefix.
    fn key(&self, key: &str) -> Result<String> {
        if key.is_empty() {
            return Err(Error::invalid_argument(format!(
                "cache key in keyspace `{}` must not be empty",
                self.name
            )));
        }
        let len = self.prefix.len() + key.len();
        if len > MAX_KEY_BYTES {
            return Err(Error::invalid_argument(format!(
                "cache key in keyspace `{}` is {len} bytes with its prefix; the limit is {MAX_KEY_BYTES}",
                self.name
            )));
        }
        let mut full = String::with_capacity(len);
        full.push_str(&self.prefix);
        full.push_str(key);
        Ok(full)
    }

    fn keys<K: AsRef<str>>(&self, keys: &[K]) -> Result<Vec<String>> {
        keys.iter().map(|k| self.key(k.as_ref())).collect()
    }

    fn values<V: AsRef<[u8]>>(
        &self,
        key: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Result<Vec<Bytes>> {
        let max = self.capabilities().max_value_bytes;
        values
            .into_iter()
            .map(|v| {
                let v = v.as_ref();
                check_value_size(key, v.len(), max)?;
                Ok(Bytes::copy_from_slice(v))
            })
            .collect()
    }

    /// The TTL for a write: the explicit one, else the default, else `Keep`.
    fn write_ttl(&self) -> Result<Ttl> {
        let ttl = match (self.write_ttl, self.default_ttl) {
            (Some(ttl), _) => ttl,
            (None, Some(default)) => Ttl::After(default),
            (None, None) => Ttl::Keep,
        };
        checked_ttl(ttl)
    }

    async fn set_if(&self, key: &str, value: &[u8], condition: SetCondition) -> Result<bool> {
        let full = self.key(key)?;
        check_value_size(key, value.len(), self.capabilities().max_value_bytes)?;
        let ttl = self.write_ttl()?;
        self.driver
            .set(&full, Bytes::copy_from_slice(value), condition, ttl)
            .await
    }

    async fn push<V: AsRef<[u8]>>(
        &self,
        key: &str,
        values: impl IntoIterator<Item = V>,
        end: ListEnd,
    ) -> Result<u64> {
        let full = self.key(key)?;
        let values = self.values(key, values)?;
        if values.is_empty() {
            // Redis rejects an empty push; the portable answer is the length.
            return self.driver.list_len(&full).await;
        }
        let ttl = self.write_ttl()?;
        self.driver.list_push(&full, values, end, ttl).await
    }

    async fn pop(&self, key: &str, end: ListEnd) -> Result<Option<String>> {
        let full = self.key(key)?;
        let mut popped = self.driver.list_pop(&full, end, 1).await?;
        match popped.pop() {
            Some(item) => utf8(key, item).map(Some),
            None => Ok(None),
        }
    }
}

/// Rejects zero durations: Redis refuses them and "expire now" is a delete.
fn checked_ttl(ttl: Ttl) -> Result<Ttl> {
    match ttl {
        Ttl::After(d) if d.is_zero() => Err(Error::invalid_argument(
            "a cache TTL must be positive (use delete to remove a key now)",
        )),
        other => Ok(other),
    }
}

fn check_value_size(key: &str, len: usize, max: usize) -> Result<()> {
    if len > max {
        return Err(Error::invalid_argument(format!(
            "value for cache key `{key}` is {len} bytes; this cache accepts at most {max}"
        )));
    }
    Ok(())
}

fn utf8(key: &str, bytes: Bytes) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        Error::invalid_argument(format!(
            "key `{key}` holds bytes that are not UTF-8 text (read it with get_bytes)"
        ))
    })
}

#[cfg(test)]
#[path = "keyspace_tests.rs"]
mod tests;
