//! `NativeKeyspace`: every `Keyspace` operation, answered through the hub.
//!
//! Writes take an optional TTL: a positive number of milliseconds, `-1` to keep
//! the key's TTL, `-2` to persist; absent means the keyspace's default.

use std::time::Duration;

use bytes::Bytes;
use napi_derive::napi;
use strata_core::cache::{KeyTtl, Keyspace, Ttl};
use strata_core::{Error, Result};

use crate::bridge::Ctx;
use crate::out::Out;
use crate::wire::{TTL_KEEP, TTL_PERSIST};

/// One cache keyspace.
#[napi]
pub struct NativeKeyspace {
    keyspace: Keyspace,
    ctx: Ctx,
}

impl NativeKeyspace {
    pub(crate) fn new(keyspace: Keyspace, ctx: Ctx) -> Self {
        Self { keyspace, ctx }
    }

    /// The keyspace for a write with this TTL code.
    fn writer(&self, ttl: Option<f64>) -> Result<Keyspace> {
        Ok(match ttl {
            None => self.keyspace.clone(),
            Some(code) if code == TTL_KEEP => self.keyspace.with_ttl(Ttl::Keep),
            Some(code) if code == TTL_PERSIST => self.keyspace.with_ttl(Ttl::Persist),
            Some(ms) => self.keyspace.with_ttl(Ttl::After(positive_ms(ms)?)),
        })
    }

    /// Runs `op` on a keyspace for writes with `ttl`; a bad TTL fails the call.
    fn write<F, Fut>(&self, id: u32, ttl: Option<f64>, op: F)
    where
        F: FnOnce(Keyspace) -> Fut,
        Fut: Future<Output = Result<Out>> + Send + 'static,
    {
        match self.writer(ttl) {
            Ok(ks) => self.ctx.spawn(id, op(ks)),
            Err(err) => self.ctx.spawn(id, async move { Err(err) }),
        }
    }

    fn read<F, Fut>(&self, id: u32, op: F)
    where
        F: FnOnce(Keyspace) -> Fut,
        Fut: Future<Output = Result<Out>> + Send + 'static,
    {
        self.ctx.spawn(id, op(self.keyspace.clone()));
    }
}

fn positive_ms(ms: f64) -> Result<Duration> {
    if !ms.is_finite() || ms <= 0.0 {
        return Err(Error::invalid_argument(format!(
            "a cache TTL must be a positive number of milliseconds, got {ms}"
        )));
    }
    Duration::try_from_secs_f64(ms / 1000.0)
        .map_err(|_| Error::invalid_argument(format!("cache TTL {ms} ms is too large")))
}

/// The value of a scalar write: text, or bytes when `text` is absent.
fn value(text: Option<String>, bytes: Option<&[u8]>) -> Bytes {
    match (text, bytes) {
        (Some(text), _) => Bytes::from(text),
        (None, Some(bytes)) => Bytes::copy_from_slice(bytes),
        (None, None) => Bytes::new(),
    }
}

#[napi]
impl NativeKeyspace {
    /// `get`: the string, or `null`.
    #[napi]
    pub fn get(&self, id: u32, key: String) {
        self.read(
            id,
            |ks| async move { Ok(Out::opt_str(ks.get(&key).await?)) },
        );
    }

    /// `getBytes`: a Buffer, or `null`.
    #[napi]
    pub fn get_bytes(&self, id: u32, key: String) {
        self.read(id, |ks| async move {
            Ok(ks.get_bytes(&key).await?.map_or(Out::Null, Out::Bytes))
        });
    }

    /// `set` (condition 0), `setIfAbsent` (1) or `replace` (2) of text or bytes;
    /// the conditional ones answer whether they wrote.
    #[napi]
    pub fn set(
        &self,
        id: u32,
        key: String,
        text: Option<String>,
        bytes: Option<&[u8]>,
        condition: u32,
        ttl: Option<f64>,
    ) {
        let value = value(text, bytes);
        self.write(id, ttl, |ks| async move {
            match condition {
                0 => ks.set(&key, value).await.map(|()| Out::Undefined),
                1 => ks.set_if_absent(&key, value).await.map(Out::Bool),
                2 => ks.replace(&key, value).await.map(Out::Bool),
                other => Err(Error::invalid_argument(format!(
                    "unknown set condition {other}"
                ))),
            }
        });
    }

    /// `getMany`: strings or `null`s, in key order.
    #[napi]
    pub fn get_many(&self, id: u32, keys: Vec<String>) {
        self.read(id, |ks| async move {
            let values = ks.get_many(&keys).await?;
            Ok(Out::List(values.into_iter().map(Out::opt_str).collect()))
        });
    }

    /// `setMany` from `[key, value, key, value, …]`.
    #[napi]
    pub fn set_many(&self, id: u32, flat: Vec<String>, ttl: Option<f64>) {
        self.write(id, ttl, |ks| async move {
            if !flat.len().is_multiple_of(2) {
                return Err(Error::invalid_argument(
                    "setMany needs a value for every key",
                ));
            }
            let mut entries = Vec::with_capacity(flat.len() / 2);
            let mut items = flat.into_iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                entries.push((k, v));
            }
            ks.set_many(entries).await.map(|()| Out::Undefined)
        });
    }

    /// `delete`: how many of the keys existed.
    #[napi]
    pub fn delete(&self, id: u32, keys: Vec<String>) {
        self.read(
            id,
            |ks| async move { ks.delete(&keys).await.map(Out::count) },
        );
    }

    /// `getInt`: the integer, or `null`.
    #[napi]
    pub fn get_int(&self, id: u32, key: String) {
        self.read(id, |ks| async move {
            Ok(ks.get_int(&key).await?.map_or(Out::Null, Out::int))
        });
    }

    /// `setInt`.
    #[napi]
    pub fn set_int(&self, id: u32, key: String, value: i64, ttl: Option<f64>) {
        self.write(id, ttl, |ks| async move {
            ks.set_int(&key, value).await.map(|()| Out::Undefined)
        });
    }

    /// `incr` (negative `by` decrements): the new value.
    #[napi]
    pub fn incr(&self, id: u32, key: String, by: i64, ttl: Option<f64>) {
        self.write(id, ttl, |ks| async move {
            ks.incr(&key, by).await.map(Out::int)
        });
    }

    /// `getFloat`: the number, or `null`.
    #[napi]
    pub fn get_float(&self, id: u32, key: String) {
        self.read(id, |ks| async move {
            Ok(ks.get_float(&key).await?.map_or(Out::Null, Out::Num))
        });
    }

    /// `setFloat`.
    #[napi]
    pub fn set_float(&self, id: u32, key: String, value: f64, ttl: Option<f64>) {
        self.write(id, ttl, |ks| async move {
            ks.set_float(&key, value).await.map(|()| Out::Undefined)
        });
    }

    /// `incrFloat`: the new value.
    #[napi]
    pub fn incr_float(&self, id: u32, key: String, by: f64, ttl: Option<f64>) {
        self.write(id, ttl, |ks| async move {
            ks.incr_float(&key, by).await.map(Out::Num)
        });
    }

    /// `pushBack` (`front` false) or `pushFront`: the new length.
    #[napi]
    pub fn push(&self, id: u32, key: String, values: Vec<String>, front: bool, ttl: Option<f64>) {
        self.write(id, ttl, |ks| async move {
            let len = if front {
                ks.push_front(&key, values).await?
            } else {
                ks.push_back(&key, values).await?
            };
            Ok(Out::count(len))
        });
    }

    /// `popFront` / `popBack`: the item, or `null`.
    #[napi]
    pub fn pop(&self, id: u32, key: String, front: bool) {
        self.read(id, |ks| async move {
            let item = if front {
                ks.pop_front(&key).await?
            } else {
                ks.pop_back(&key).await?
            };
            Ok(Out::opt_str(item))
        });
    }

    /// `listRange`: items `start..=stop`, negative indexes from the end.
    #[napi]
    pub fn list_range(&self, id: u32, key: String, start: i64, stop: i64) {
        self.read(id, |ks| async move {
            Ok(Out::strs(ks.list_range(&key, start, stop).await?))
        });
    }

    /// `listLen`.
    #[napi]
    pub fn list_len(&self, id: u32, key: String) {
        self.read(
            id,
            |ks| async move { ks.list_len(&key).await.map(Out::count) },
        );
    }

    /// `setAdd`: how many members were new.
    #[napi]
    pub fn set_add(&self, id: u32, key: String, members: Vec<String>, ttl: Option<f64>) {
        self.write(id, ttl, |ks| async move {
            ks.set_add(&key, members).await.map(Out::count)
        });
    }

    /// `setRemove`: how many members were present.
    #[napi]
    pub fn set_remove(&self, id: u32, key: String, members: Vec<String>) {
        self.read(id, |ks| async move {
            ks.set_remove(&key, members).await.map(Out::count)
        });
    }

    /// `setMembers`, in no particular order.
    #[napi]
    pub fn set_members(&self, id: u32, key: String) {
        self.read(id, |ks| async move {
            Ok(Out::strs(ks.set_members(&key).await?))
        });
    }

    /// `setContains`.
    #[napi]
    pub fn set_contains(&self, id: u32, key: String, member: String) {
        self.read(id, |ks| async move {
            ks.set_contains(&key, member).await.map(Out::Bool)
        });
    }

    /// `setLen`.
    #[napi]
    pub fn set_len(&self, id: u32, key: String) {
        self.read(
            id,
            |ks| async move { ks.set_len(&key).await.map(Out::count) },
        );
    }

    /// `ttl`: `["missing"]`, `["persistent"]` or `["expires", ms]`.
    #[napi]
    pub fn ttl(&self, id: u32, key: String) {
        self.read(id, |ks| async move {
            Ok(match ks.ttl(&key).await? {
                KeyTtl::Missing => Out::List(vec![Out::Str("missing".into())]),
                KeyTtl::Persistent => Out::List(vec![Out::Str("persistent".into())]),
                KeyTtl::ExpiresIn(d) => Out::List(vec![
                    Out::Str("expires".into()),
                    Out::Num(d.as_secs_f64() * 1000.0),
                ]),
            })
        });
    }

    /// `expire`: whether the key exists.
    #[napi]
    pub fn expire(&self, id: u32, key: String, ms: f64) {
        self.read(id, |ks| async move {
            let after = positive_ms(ms)?;
            ks.expire(&key, after).await.map(Out::Bool)
        });
    }

    /// `persist`: whether the key exists.
    #[napi]
    pub fn persist(&self, id: u32, key: String) {
        self.read(
            id,
            |ks| async move { ks.persist(&key).await.map(Out::Bool) },
        );
    }

    /// The keyspace's logical name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.keyspace.name().to_owned()
    }
}
