//! Redis cache: self-hosted Redis (or Valkey), ElastiCache, Memorystore and
//! Azure Cache for Redis through one provider, [`RedisCache`].
//!
//! * **One connection, pipelined.** All calls share one multiplexed connection
//!   (the `redis` crate's `ConnectionManager`): concurrent calls are pipelined
//!   on it, and no call opens a connection of its own.
//! * **Reconnection.** When the connection drops, calls in flight fail with
//!   `Unavailable`; the manager reconnects in the background with exponential
//!   backoff, and calls made meanwhile wait for it up to their deadline
//!   (connect timeout + response timeout), then fail with `Unavailable`. Once
//!   the server is back, calls succeed again without any action.
//! * **Semantics** match the memory provider: integers and floats are stored
//!   as decimal text, an operation on a key of another type is
//!   `InvalidArgument`, `get_many` reads other types as misses (`MGET`).
//!   Writes that change a TTL do so atomically with the write (`SET … PX`,
//!   `KEEPTTL`, or a small Lua script).
//! * **Auth and TLS.** `rediss://` is TLS (rustls, the system's roots or a CA
//!   file); an ACL user and password or a plain auth string come from the URL
//!   or from [`RedisOptions`] fields. No error or log line carries the password.
//!
//! Needs Redis 6.2 or later (`LPOP` with a count, `SET … KEEPTTL`).

mod driver;
mod error;
mod options;
mod provider;
mod scripts;

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use ::redis::{AsyncConnectionConfig, RedisResult};
use futures::FutureExt;
use strata_core::cache::CacheCapabilities;
use strata_core::{Error, Result};

use self::error::{Context, map_error};
pub use self::options::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_RECONNECT_ATTEMPTS, DEFAULT_RECONNECT_MAX_DELAY,
    DEFAULT_RESPONSE_TIMEOUT, RedisOptions,
};
pub use self::provider::{RedisCacheOptions, RedisProvider};

/// The largest value Redis accepts (its `proto-max-bulk-len` default).
pub const MAX_VALUE_BYTES: usize = 512 * 1024 * 1024;

/// The first pause between reconnection attempts; later ones double.
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(100);

/// Why a TLS connection may time out: a plain server never answers a TLS hello.
const TLS_HINT: &str = "a `rediss://` URL needs a server that speaks TLS on that port";

/// The oldest server that has every command used (`LPOP key count`).
const MIN_VERSION: (u32, u32) = (6, 2);

/// A cache on a Redis server, implementing
/// [`CacheDriver`](strata_core::cache::CacheDriver) (see the module docs).
///
/// ```no_run
/// # async fn demo() -> strata_core::Result<()> {
/// use std::sync::Arc;
/// use strata_core::cache::Keyspace;
/// use strata_providers::redis::{RedisCache, RedisOptions};
///
/// let cache = RedisCache::connect(RedisOptions::new("redis://127.0.0.1:6379/0")).await?;
/// let sessions = Keyspace::new("sessions", Arc::new(cache), "sessions:", None);
/// sessions.set("user:1", "alice").await?;
/// # Ok(()) }
/// ```
pub struct RedisCache {
    conn: ConnectionManager,
    /// `redis[s]://[user@]host:port/db`, for messages; never the password.
    endpoint: String,
    /// Kept only to scrub it from error messages.
    secret: Option<String>,
    capabilities: CacheCapabilities,
    /// The longest a call may take, reconnection included.
    call_deadline: Duration,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("endpoint", &self.endpoint)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// Connects to the server once to check the address, TLS, credentials,
    /// database and server version, then keeps a self-healing connection.
    ///
    /// Fails with `Unavailable` when the server cannot be reached within the
    /// connect timeout (or the TLS handshake fails), `PermissionDenied` when
    /// it refuses the credentials, `InvalidConfig` for a bad URL or CA file,
    /// and `Unsupported` for a server older than Redis 6.2.
    pub async fn connect(options: RedisOptions) -> Result<RedisCache> {
        let target = options.client().await?;
        let cx = Context {
            command: "connect",
            key: None,
            endpoint: &target.endpoint,
            secret: target.secret.as_deref(),
            unavailable_hint: None,
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout));
        // One direct attempt, without the manager's retries: a wrong password
        // or a bad address fails now, with its own error.
        let attempt = target
            .client
            .get_multiplexed_async_connection_with_config(&config);
        let deadline = options.connect_timeout + options.response_timeout;
        let mut probe = match tokio::time::timeout(deadline, catch_panic(attempt)).await {
            Err(_) => {
                let hint = if target.tls {
                    format!(" ({TLS_HINT})")
                } else {
                    String::new()
                };
                return Err(Error::unavailable(format!(
                    "connect: no answer from redis at {} within {deadline:?}{hint}",
                    target.endpoint
                )));
            }
            Ok(Err(panic)) => return Err(connect_panic(&target.endpoint, &panic)),
            Ok(Ok(Err(err))) => {
                let cx = Context {
                    unavailable_hint: target.tls.then_some(TLS_HINT),
                    ..cx
                };
                return Err(map_error(err, &cx));
            }
            Ok(Ok(Ok(conn))) => conn,
        };
        let durable = check_server(&mut probe, &cx).await?;
        drop(probe);

        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(options.reconnect_max_delay)
            .set_number_of_retries(options.reconnect_attempts);
        // Lazy: the probe proved the target; the first call connects.
        let conn = ConnectionManager::new_lazy_with_config(target.client, manager_config)
            .map_err(|err| map_error(err, &cx))?;
        tracing::debug!(endpoint = %target.endpoint, durable, "redis cache ready");
        Ok(RedisCache {
            conn,
            endpoint: target.endpoint,
            secret: target.secret,
            capabilities: CacheCapabilities {
                max_value_bytes: MAX_VALUE_BYTES,
                // Eviction is the server's `maxmemory-policy`, not ours to promise.
                bounded: false,
                durable,
            },
            call_deadline: deadline,
        })
    }

    /// The server, as `redis[s]://[user@]host:port/db` (never the password).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Runs one call on the shared connection within the call deadline,
    /// mapping its error.
    async fn call<T>(
        &self,
        command: &str,
        key: Option<&str>,
        run: impl AsyncFnOnce(&mut ConnectionManager) -> RedisResult<T>,
    ) -> Result<T> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.call_deadline, run(&mut conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(map_error(
                err,
                &Context {
                    command,
                    key,
                    endpoint: &self.endpoint,
                    secret: self.secret.as_deref(),
                    unavailable_hint: None,
                },
            )),
            Err(_) => {
                let on =
                    key.map_or_else(|| command.to_owned(), |k| format!("{command} on key `{k}`"));
                Err(Error::unavailable(error::scrub(
                    format!(
                        "{on}: no reply from redis at {} within {:?} (reconnecting)",
                        self.endpoint, self.call_deadline
                    ),
                    self.secret.as_deref(),
                )))
            }
        }
    }
}

/// Pings (a server that wants a password we did not give answers `NOAUTH`
/// only now), then reads `INFO`: refuses servers too old for the commands
/// used, and reports whether the append-only file makes writes survive a
/// restart. A server that hides `INFO` (ACL, renamed command) is taken as
/// recent and not durable.
async fn check_server(conn: &mut MultiplexedConnection, cx: &Context<'_>) -> Result<bool> {
    let endpoint = cx.endpoint;
    ::redis::cmd("PING")
        .query_async::<()>(conn)
        .await
        .map_err(|err| map_error(err, cx))?;
    let Ok(info) = ::redis::cmd("INFO").query_async::<String>(conn).await else {
        return Ok(false);
    };
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    if let Some(version) = field("redis_version") {
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if found < MIN_VERSION {
            return Err(Error::unsupported(format!(
                "redis at {endpoint} is version {version}; the redis cache needs {}.{} or later",
                MIN_VERSION.0, MIN_VERSION.1
            )));
        }
    }
    Ok(field("aof_enabled") == Some("1"))
}

/// Runs `future`, turning a panic into an `Err` with its message.
async fn catch_panic<F: Future>(future: F) -> std::result::Result<F::Output, String> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|panic| {
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned())
        })
}

/// rustls panics when no crypto provider is installed (or two are compiled in
/// and none was chosen); say what to do instead of taking the process down.
fn connect_panic(endpoint: &str, panic: &str) -> Error {
    if panic.contains("CryptoProvider") {
        Error::invalid_config(format!(
            "connect to {endpoint}: TLS needs a rustls crypto provider and none is installed; \
             install one at startup, e.g. `rustls::crypto::ring::default_provider().install_default()` \
             ({panic})"
        ))
    } else {
        Error::internal(format!(
            "connect to {endpoint}: the redis client panicked: {panic}"
        ))
    }
}
