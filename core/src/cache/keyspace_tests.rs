//! Unit tests of the portable keyspace over a recording fake driver.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::*;
use crate::ErrorCode;

/// Scalars only, and a log of the (key, ttl) of every write.
#[derive(Default)]
struct FakeDriver {
    values: Mutex<HashMap<String, Bytes>>,
    writes: Mutex<Vec<(String, Ttl)>>,
}

impl FakeDriver {
    fn writes(&self) -> Vec<(String, Ttl)> {
        self.writes.lock().unwrap().clone()
    }
    fn log(&self, key: &str, ttl: Ttl) {
        self.writes.lock().unwrap().push((key.to_owned(), ttl));
    }
}

const CAPS: CacheCapabilities = CacheCapabilities {
    max_value_bytes: 16,
    bounded: false,
    durable: false,
};

#[async_trait]
impl CacheDriver for FakeDriver {
    fn capabilities(&self) -> &CacheCapabilities {
        &CAPS
    }
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.values.lock().unwrap().get(key).cloned())
    }
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        let values = self.values.lock().unwrap();
        Ok(keys.iter().map(|k| values.get(k).cloned()).collect())
    }
    async fn set(&self, key: &str, value: Bytes, cond: SetCondition, ttl: Ttl) -> Result<bool> {
        self.log(key, ttl);
        let mut values = self.values.lock().unwrap();
        let exists = values.contains_key(key);
        let write = match cond {
            SetCondition::Always => true,
            SetCondition::IfAbsent => !exists,
            SetCondition::IfPresent => exists,
        };
        if write {
            values.insert(key.to_owned(), value);
        }
        Ok(write)
    }
    async fn set_many(&self, entries: Vec<(String, Bytes)>, ttl: Ttl) -> Result<()> {
        for (k, v) in entries {
            self.log(&k, ttl);
            self.values.lock().unwrap().insert(k, v);
        }
        Ok(())
    }
    async fn delete(&self, keys: &[String]) -> Result<u64> {
        let mut values = self.values.lock().unwrap();
        Ok(keys.iter().filter(|k| values.remove(*k).is_some()).count() as u64)
    }
    async fn incr_by(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        self.log(key, ttl);
        Ok(delta)
    }
    async fn incr_by_float(&self, key: &str, delta: f64, ttl: Ttl) -> Result<f64> {
        self.log(key, ttl);
        Ok(delta)
    }
    async fn ttl(&self, _key: &str) -> Result<KeyTtl> {
        Ok(KeyTtl::Missing)
    }
    async fn expire(&self, key: &str, ttl: Ttl) -> Result<bool> {
        self.log(key, ttl);
        Ok(true)
    }
    async fn list_push(&self, key: &str, v: Vec<Bytes>, _: ListEnd, ttl: Ttl) -> Result<u64> {
        self.log(key, ttl);
        Ok(v.len() as u64)
    }
    async fn list_pop(&self, _key: &str, _end: ListEnd, _count: usize) -> Result<Vec<Bytes>> {
        Ok(vec![Bytes::from_static(b"\xff")])
    }
    async fn list_range(&self, _key: &str, _start: i64, _stop: i64) -> Result<Vec<Bytes>> {
        Ok(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")])
    }
    async fn list_len(&self, _key: &str) -> Result<u64> {
        Ok(7)
    }
    async fn set_add(&self, key: &str, m: Vec<Bytes>, ttl: Ttl) -> Result<u64> {
        self.log(key, ttl);
        Ok(m.len() as u64)
    }
    async fn set_remove(&self, _key: &str, m: Vec<Bytes>) -> Result<u64> {
        Ok(m.len() as u64)
    }
    async fn set_members(&self, _key: &str) -> Result<Vec<Bytes>> {
        Ok(Vec::new())
    }
    async fn set_contains(&self, _key: &str, _member: Bytes) -> Result<bool> {
        Ok(false)
    }
    async fn set_len(&self, _key: &str) -> Result<u64> {
        Ok(0)
    }
}

fn keyspace(default_ttl: Option<Duration>) -> (Arc<FakeDriver>, Keyspace) {
    let driver = Arc::new(FakeDriver::default());
    let ks = Keyspace::new("sessions", driver.clone(), "app:sessions:", default_ttl);
    (driver, ks)
}

#[tokio::test]
async fn keys_get_the_prefix_and_reads_strip_nothing() {
    let (driver, ks) = keyspace(None);
    ks.set("u1", "alice").await.unwrap();
    assert!(
        driver
            .values
            .lock()
            .unwrap()
            .contains_key("app:sessions:u1")
    );
    assert_eq!(ks.get("u1").await.unwrap().as_deref(), Some("alice"));
    assert_eq!(ks.get("u2").await.unwrap(), None);
}

#[tokio::test]
async fn writes_without_ttl_keep_when_there_is_no_default() {
    let (driver, ks) = keyspace(None);
    ks.set("a", "1").await.unwrap();
    ks.incr("n", 1).await.unwrap();
    ks.push_back("l", ["x"]).await.unwrap();
    let writes = driver.writes();
    assert_eq!(writes.len(), 3);
    assert!(
        writes.iter().all(|(_, ttl)| *ttl == Ttl::Keep),
        "{writes:?}"
    );
}

#[tokio::test]
async fn writes_without_ttl_use_the_default() {
    let minute = Duration::from_secs(60);
    let (driver, ks) = keyspace(Some(minute));
    ks.set("a", "1").await.unwrap();
    ks.set_add("s", ["m"]).await.unwrap();
    ks.incr_float("f", 0.5).await.unwrap();
    ks.set_many([("b", "2"), ("c", "3")]).await.unwrap();
    let writes = driver.writes();
    assert_eq!(writes.len(), 5);
    assert!(writes.iter().all(|(_, ttl)| *ttl == Ttl::After(minute)));
}

#[tokio::test]
async fn with_ttl_overrides_the_default_for_every_write() {
    let (driver, ks) = keyspace(Some(Duration::from_secs(60)));
    let keep = ks.with_ttl(Ttl::Keep);
    keep.set("a", "1").await.unwrap();
    keep.decr("n", 2).await.unwrap();
    ks.with_ttl(Ttl::Persist).set("b", "1").await.unwrap();
    assert_eq!(
        driver.writes(),
        vec![
            ("app:sessions:a".to_owned(), Ttl::Keep),
            ("app:sessions:n".to_owned(), Ttl::Keep),
            ("app:sessions:b".to_owned(), Ttl::Persist),
        ]
    );
}

#[tokio::test]
async fn zero_ttls_are_rejected() {
    let (driver, ks) = keyspace(Some(Duration::ZERO));
    assert_eq!(
        ks.set("a", "1").await.unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    let err = ks.expire("a", Duration::ZERO).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(driver.writes().is_empty());
}

#[tokio::test]
async fn empty_and_oversized_keys_are_invalid() {
    let (driver, ks) = keyspace(None);
    let err = ks.get("").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(err.message().contains("empty"), "{err}");

    // The limit counts the prefix: 1024 - prefix fits, one more does not.
    let room = MAX_KEY_BYTES - "app:sessions:".len();
    ks.set(&"k".repeat(room), "v").await.unwrap();
    let err = ks.set(&"k".repeat(room + 1), "v").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(err.message().contains("1025"), "{err}");
    assert_eq!(driver.writes().len(), 1);

    let err = ks.delete(&["ok", ""]).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn values_over_the_provider_limit_are_invalid() {
    let (driver, ks) = keyspace(None);
    ks.set("a", [0u8; 16]).await.unwrap();
    let err = ks.set("a", [0u8; 17]).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    let err = ks.push_back("l", [vec![0u8; 17]]).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert_eq!(driver.writes().len(), 1);
}

#[tokio::test]
async fn non_utf8_values_are_invalid_as_strings_but_readable_as_bytes() {
    let (_driver, ks) = keyspace(None);
    ks.set("bin", [0xffu8, 0xfe]).await.unwrap();
    let err = ks.get("bin").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert_eq!(
        ks.get_bytes("bin").await.unwrap().unwrap().as_ref(),
        &[0xff, 0xfe]
    );
    let err = ks.pop_front("list").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn get_int_and_get_float_parse_decimal_text() {
    let (_driver, ks) = keyspace(None);
    ks.set_int("n", -42).await.unwrap();
    assert_eq!(ks.get("n").await.unwrap().as_deref(), Some("-42"));
    assert_eq!(ks.get_int("n").await.unwrap(), Some(-42));
    assert_eq!(ks.get_int("missing").await.unwrap(), None);
    ks.set("word", "forty-two").await.unwrap();
    let err = ks.get_int("word").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(err.message().contains("not an integer"), "{err}");

    ks.set_float("f", 0.1).await.unwrap();
    assert_eq!(ks.get_float("f").await.unwrap(), Some(0.1));
    assert_eq!(ks.get_float("n").await.unwrap(), Some(-42.0));
    let err = ks.get_float("word").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    let err = ks.set_float("f", f64::NAN).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn decr_by_min_is_an_overflow_not_a_panic() {
    let (_driver, ks) = keyspace(None);
    assert_eq!(ks.decr("n", 5).await.unwrap(), -5);
    let err = ks.decr("n", i64::MIN).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn empty_batches_do_not_reach_the_driver() {
    let (driver, ks) = keyspace(None);
    let none: [&str; 0] = [];
    assert!(ks.get_many(&none).await.unwrap().is_empty());
    assert_eq!(ks.delete(&none).await.unwrap(), 0);
    ks.set_many(none.iter().map(|k| (*k, *k))).await.unwrap();
    // An empty push answers the current length without writing.
    assert_eq!(ks.push_back("l", none).await.unwrap(), 7);
    assert_eq!(ks.set_add("s", none).await.unwrap(), 0);
    assert!(driver.writes().is_empty());
}

#[tokio::test]
async fn get_many_keeps_order_and_misses() {
    let (_driver, ks) = keyspace(None);
    ks.set_many([("a", "1"), ("c", "3")]).await.unwrap();
    assert_eq!(
        ks.get_many(&["a", "b", "c"]).await.unwrap(),
        vec![Some("1".to_owned()), None, Some("3".to_owned())]
    );
}

#[test]
fn debug_shows_names_not_the_driver() {
    let (_driver, ks) = keyspace(Some(Duration::from_secs(1)));
    let text = format!("{ks:?}");
    assert!(
        text.contains("sessions") && text.contains("app:sessions:"),
        "{text}"
    );
    assert_eq!(ks.name(), "sessions");
    assert_eq!(ks.prefix(), "app:sessions:");
    assert_eq!(ks.default_ttl(), Some(Duration::from_secs(1)));
    assert_eq!(ks.capabilities().max_value_bytes, 16);
}
