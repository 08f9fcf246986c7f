//! [`CacheDriver`] for [`RedisCache`]: one Redis command (or pipeline, or
//! script) per operation.

use ::redis::{Cmd, ToRedisArgs, Value, cmd, pipe};
use async_trait::async_trait;
use bytes::Bytes;
use strata_core::cache::{CacheCapabilities, CacheDriver, KeyTtl, ListEnd, SetCondition, Ttl};
use strata_core::{Error, Result};

use super::RedisCache;
use super::scripts::{ADD_WITH_TTL, INCR_WITH_TTL, millis, set_ttl_args, ttl_args};

#[async_trait]
impl CacheDriver for RedisCache {
    fn capabilities(&self) -> &CacheCapabilities {
        &self.capabilities
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let c = keyed("GET", key);
        self.call("GET", Some(key), async |conn| c.query_async(conn).await)
            .await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // MGET answers nil for keys of other types: misses, like memory.
        let c = keyed("MGET", keys);
        self.call("MGET", None, async |conn| c.query_async(conn).await)
            .await
    }

    async fn set(
        &self,
        key: &str,
        value: Bytes,
        condition: SetCondition,
        ttl: Ttl,
    ) -> Result<bool> {
        let mut c = keyed("SET", key);
        c.arg(value.as_ref());
        match condition {
            SetCondition::Always => {}
            SetCondition::IfAbsent => {
                c.arg("NX");
            }
            SetCondition::IfPresent => {
                c.arg("XX");
            }
        }
        set_ttl_args(&mut c, ttl);
        let reply: Value = self
            .call("SET", Some(key), async |conn| c.query_async(conn).await)
            .await?;
        // OK when written, nil when the condition did not hold.
        Ok(!matches!(reply, Value::Nil))
    }

    async fn set_many(&self, entries: Vec<(String, Bytes)>, ttl: Ttl) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        if ttl == Ttl::Persist {
            // MSET drops any TTL, which is what Persist asks for.
            let mut c = cmd("MSET");
            for (key, value) in &entries {
                c.arg(key).arg(value.as_ref());
            }
            return self
                .call("MSET", None, async |conn| c.exec_async(conn).await)
                .await;
        }
        let mut p = pipe();
        for (key, value) in &entries {
            let mut c = cmd("SET");
            c.arg(key).arg(value.as_ref());
            set_ttl_args(&mut c, ttl);
            p.add_command(c).ignore();
        }
        self.call("SET (pipelined)", None, async |conn| {
            p.exec_async(conn).await
        })
        .await
    }

    async fn delete(&self, keys: &[String]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let c = keyed("DEL", keys);
        self.call("DEL", None, async |conn| c.query_async(conn).await)
            .await
    }

    async fn incr_by(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        if ttl == Ttl::Keep {
            let mut c = keyed("INCRBY", key);
            c.arg(delta);
            return self
                .call("INCRBY", Some(key), async |conn| c.query_async(conn).await)
                .await;
        }
        let (mode, ms) = ttl_args(ttl);
        let mut script = INCR_WITH_TTL.key(key);
        script.arg("INCRBY").arg(delta).arg(mode).arg(ms);
        let text: String = self
            .call("INCRBY", Some(key), async |conn| {
                script.invoke_async(conn).await
            })
            .await?;
        text.parse()
            .map_err(|_| Error::internal(format!("INCRBY on key `{key}`: redis answered {text:?}")))
    }

    async fn incr_by_float(&self, key: &str, delta: f64, ttl: Ttl) -> Result<f64> {
        if !delta.is_finite() {
            return Err(Error::invalid_argument(format!(
                "cannot increment key `{key}` by {delta}: only finite floats are allowed"
            )));
        }
        // Rust prints a finite f64 as plain decimal text, which Redis parses.
        let delta = delta.to_string();
        let text: String = if ttl == Ttl::Keep {
            let mut c = keyed("INCRBYFLOAT", key);
            c.arg(&delta);
            self.call("INCRBYFLOAT", Some(key), async |conn| {
                c.query_async(conn).await
            })
            .await?
        } else {
            let (mode, ms) = ttl_args(ttl);
            let mut script = INCR_WITH_TTL.key(key);
            script.arg("INCRBYFLOAT").arg(&delta).arg(mode).arg(ms);
            self.call("INCRBYFLOAT", Some(key), async |conn| {
                script.invoke_async(conn).await
            })
            .await?
        };
        text.parse().map_err(|_| {
            Error::internal(format!(
                "INCRBYFLOAT on key `{key}`: redis answered {text:?}"
            ))
        })
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let c = keyed("PTTL", key);
        let ms: i64 = self
            .call("PTTL", Some(key), async |conn| c.query_async(conn).await)
            .await?;
        Ok(match ms {
            -2 => KeyTtl::Missing,
            -1 => KeyTtl::Persistent,
            ms => KeyTtl::ExpiresIn(std::time::Duration::from_millis(
                u64::try_from(ms).unwrap_or(0),
            )),
        })
    }

    async fn expire(&self, key: &str, ttl: Ttl) -> Result<bool> {
        match ttl {
            Ttl::After(after) => {
                let mut c = keyed("PEXPIRE", key);
                c.arg(millis(after));
                self.call("PEXPIRE", Some(key), async |conn| c.query_async(conn).await)
                    .await
            }
            Ttl::Persist => {
                // PERSIST answers 0 both for a missing key and for a key
                // without a TTL; EXISTS in the same transaction tells them apart.
                let mut p = pipe();
                p.atomic()
                    .cmd("EXISTS")
                    .arg(key)
                    .cmd("PERSIST")
                    .arg(key)
                    .ignore();
                let (exists,): (bool,) = self
                    .call("PERSIST", Some(key), async |conn| p.query_async(conn).await)
                    .await?;
                Ok(exists)
            }
            Ttl::Keep => {
                let c = keyed("EXISTS", key);
                self.call("EXISTS", Some(key), async |conn| c.query_async(conn).await)
                    .await
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
        let command = match end {
            ListEnd::Front => "LPUSH",
            ListEnd::Back => "RPUSH",
        };
        self.add(command, key, values, ttl).await
    }

    async fn list_pop(&self, key: &str, end: ListEnd, count: usize) -> Result<Vec<Bytes>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let command = match end {
            ListEnd::Front => "LPOP",
            ListEnd::Back => "RPOP",
        };
        let mut c = keyed(command, key);
        c.arg(count);
        // nil for a missing key, else an array (with a count, even of one).
        let popped: Option<Vec<Bytes>> = self
            .call(command, Some(key), async |conn| c.query_async(conn).await)
            .await?;
        Ok(popped.unwrap_or_default())
    }

    async fn list_range(&self, key: &str, start: i64, stop: i64) -> Result<Vec<Bytes>> {
        let mut c = keyed("LRANGE", key);
        c.arg(start).arg(stop);
        self.call("LRANGE", Some(key), async |conn| c.query_async(conn).await)
            .await
    }

    async fn list_len(&self, key: &str) -> Result<u64> {
        let c = keyed("LLEN", key);
        self.call("LLEN", Some(key), async |conn| c.query_async(conn).await)
            .await
    }

    async fn set_add(&self, key: &str, members: Vec<Bytes>, ttl: Ttl) -> Result<u64> {
        self.add("SADD", key, members, ttl).await
    }

    async fn set_remove(&self, key: &str, members: Vec<Bytes>) -> Result<u64> {
        if members.is_empty() {
            return Ok(0);
        }
        let mut c = keyed("SREM", key);
        for member in &members {
            c.arg(member.as_ref());
        }
        self.call("SREM", Some(key), async |conn| c.query_async(conn).await)
            .await
    }

    async fn set_members(&self, key: &str) -> Result<Vec<Bytes>> {
        let c = keyed("SMEMBERS", key);
        self.call("SMEMBERS", Some(key), async |conn| {
            c.query_async(conn).await
        })
        .await
    }

    async fn set_contains(&self, key: &str, member: Bytes) -> Result<bool> {
        let mut c = keyed("SISMEMBER", key);
        c.arg(member.as_ref());
        self.call("SISMEMBER", Some(key), async |conn| {
            c.query_async(conn).await
        })
        .await
    }

    async fn set_len(&self, key: &str) -> Result<u64> {
        let c = keyed("SCARD", key);
        self.call("SCARD", Some(key), async |conn| c.query_async(conn).await)
            .await
    }
}

/// A command with its key (or keys) as the first argument.
fn keyed(name: &str, key: impl ToRedisArgs) -> Cmd {
    let mut c = cmd(name);
    c.arg(key);
    c
}

impl RedisCache {
    /// `LPUSH`/`RPUSH`/`SADD`, with the TTL change in the same atomic step.
    async fn add(&self, command: &str, key: &str, values: Vec<Bytes>, ttl: Ttl) -> Result<u64> {
        if values.is_empty() {
            // Redis rejects an empty push or add. Like memory, answer what an
            // empty one changes: the list's length, or no new member (both
            // still fail on a key of another type).
            return if command == "SADD" {
                self.set_len(key).await.map(|_| 0)
            } else {
                self.list_len(key).await
            };
        }
        if ttl == Ttl::Keep {
            let mut c = keyed(command, key);
            for value in &values {
                c.arg(value.as_ref());
            }
            return self
                .call(command, Some(key), async |conn| c.query_async(conn).await)
                .await;
        }
        let (mode, ms) = ttl_args(ttl);
        let mut script = ADD_WITH_TTL.key(key);
        script.arg(command).arg(mode).arg(ms);
        for value in &values {
            script.arg(value.as_ref());
        }
        self.call(command, Some(key), async |conn| {
            script.invoke_async(conn).await
        })
        .await
    }
}
