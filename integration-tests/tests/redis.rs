//! The Redis cache provider against real servers: the whole cache conformance
//! suite on the shared server (`STRATA_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`), and auth, database, TLS and fault behaviour on
//! private `redis-server`s started per test. A missing server fails the test
//! with how to start one; nothing is skipped.

#![allow(clippy::unwrap_used)]

#[path = "support/redis_load.rs"]
mod redis_load;
#[path = "support/redis_raw.rs"]
mod redis_raw;
#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/redis_tls.rs"]
mod redis_tls;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use strata_core::ErrorCode;
use strata_core::cache::{CacheDriver, KeyTtl, Keyspace, Ttl};
use strata_core::testkit::cache::{self as suite, CacheHarness};
use strata_providers::redis::{RedisCache, RedisOptions};

use redis_raw::{RawRedis, Reply, plain_addr};
use redis_server::{PrivateRedis, START_HINT};

/// The shared server's URL.
fn shared_url() -> String {
    std::env::var("STRATA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Connects to the shared server, failing loudly when it is not there.
async fn shared_cache() -> Arc<RedisCache> {
    let url = shared_url();
    match RedisCache::connect(RedisOptions::new(url)).await {
        Ok(cache) => Arc::new(cache),
        // The error names the server without its password; the URL might not.
        Err(err) => panic!("no Redis for STRATA_TEST_REDIS_URL ({err}); {START_HINT}"),
    }
}

/// A unique key prefix per keyspace, so tests can share the server.
fn unique_prefix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("strata-test-{}-{nanos:x}-{n}:", std::process::id())
}

/// Keyspaces over one connection to the shared server; deletes their keys
/// when dropped (even after a failed case).
struct RedisHarness {
    cache: Arc<RedisCache>,
    prefixes: Mutex<Vec<String>>,
}

impl RedisHarness {
    async fn new() -> Self {
        Self {
            cache: shared_cache().await,
            prefixes: Mutex::default(),
        }
    }
}

#[async_trait]
impl CacheHarness for RedisHarness {
    async fn keyspace(&self, default_ttl: Option<Duration>) -> Keyspace {
        let prefix = unique_prefix();
        self.prefixes.lock().unwrap().push(prefix.clone());
        Keyspace::new("test", self.cache.clone(), prefix, default_ttl)
    }
}

impl Drop for RedisHarness {
    fn drop(&mut self) {
        let Some(addr) = plain_addr(&shared_url()) else {
            return;
        };
        let Ok(mut raw) = RawRedis::connect(&addr) else {
            return;
        };
        let prefixes =
            std::mem::take(&mut *self.prefixes.lock().unwrap_or_else(|e| e.into_inner()));
        for prefix in prefixes {
            if let Ok(Reply::Array(Some(keys))) = raw.command(&["KEYS", &format!("{prefix}*")]) {
                for key in keys.iter().filter_map(Reply::text) {
                    let _ = raw.command(&["DEL", &key]);
                }
            }
        }
    }
}

/// Every case gets a time limit, so a hang fails instead of blocking CI.
async fn run<F: Future<Output = ()>>(case: F) {
    tokio::time::timeout(Duration::from_secs(60), case)
        .await
        .expect("case timed out");
}

strata_core::cache_conformance! {
    #[tokio::test]
    harness: RedisHarness::new().await,
    run: run,
    skip: {},
}

#[tokio::test]
async fn run_all_passes_on_one_shared_connection() {
    let harness = RedisHarness::new().await;
    run(suite::run_all(&harness)).await;
}

/// A keyspace on the shared server, cleaned up when the harness drops.
async fn shared_keyspace() -> (RedisHarness, Keyspace) {
    let harness = RedisHarness::new().await;
    let ks = harness.keyspace(None).await;
    (harness, ks)
}

#[tokio::test]
async fn redis_cache_claims_unbounded_and_redis_value_limit() {
    let cache = shared_cache().await;
    let caps = cache.capabilities();
    assert!(!caps.bounded, "eviction is server policy, not promised");
    assert_eq!(caps.max_value_bytes, 512 * 1024 * 1024);
    assert!(
        cache.endpoint().starts_with("redis"),
        "{}",
        cache.endpoint()
    );
}

#[tokio::test]
async fn durable_is_claimed_only_with_an_append_only_file() {
    let plain = PrivateRedis::start(&[]);
    let aof = PrivateRedis::start(&["--appendonly", "yes"]);
    let plain_cache = RedisCache::connect(RedisOptions::new(plain.url()))
        .await
        .unwrap();
    let aof_cache = RedisCache::connect(RedisOptions::new(aof.url()))
        .await
        .unwrap();
    assert!(!plain_cache.capabilities().durable, "no AOF: not durable");
    assert!(aof_cache.capabilities().durable, "appendonly yes: durable");
}

#[tokio::test]
async fn incr_with_ttl_keeps_64_bit_precision() {
    let (_harness, ks) = shared_keyspace().await;
    let minute = ks.with_ttl(Ttl::After(Duration::from_secs(60)));
    ks.set_int("big", i64::MAX - 1).await.unwrap();
    // Through the TTL script: a Lua number would round this to 2^63.
    assert_eq!(minute.incr("big", 1).await.unwrap(), i64::MAX);
    assert_eq!(minute.decr("big", i64::MAX).await.unwrap(), 0);
    assert!(matches!(ks.ttl("big").await.unwrap(), KeyTtl::ExpiresIn(_)));
    ks.set_int("top", i64::MAX).await.unwrap();
    let err = minute.incr("top", 1).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
}

#[tokio::test]
async fn a_failed_write_with_ttl_leaves_the_ttl_alone() {
    let (_harness, ks) = shared_keyspace().await;
    let minute = ks.with_ttl(Ttl::After(Duration::from_secs(60)));
    ks.set("word", "abc").await.unwrap();
    ks.push_back("list", ["x"]).await.unwrap();
    let err = minute.incr("word", 1).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    let err = minute.incr_float("word", 1.0).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    let err = minute.set_add("list", ["y"]).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert_eq!(ks.ttl("word").await.unwrap(), KeyTtl::Persistent);
    assert_eq!(ks.ttl("list").await.unwrap(), KeyTtl::Persistent);
    assert_eq!(ks.get("word").await.unwrap().as_deref(), Some("abc"));
}

#[tokio::test]
async fn errors_name_the_key_and_the_cause() {
    let (_harness, ks) = shared_keyspace().await;
    ks.push_back("a-list", ["x"]).await.unwrap();
    let err = ks.get("a-list").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(
        err.message().contains("a-list") && err.message().contains("WRONGTYPE"),
        "{err}"
    );
    ks.set("text", "abc").await.unwrap();
    let err = ks.incr("text", 1).await.unwrap_err();
    assert!(
        err.message().contains("text") && err.message().contains("not an integer"),
        "{err}"
    );
    let err = ks.incr_float("text", 1.0).await.unwrap_err();
    assert!(err.message().contains("not a valid float"), "{err}");
}

#[tokio::test]
async fn bulk_push_and_add_with_ttl_go_in_chunks() {
    let (_harness, ks) = shared_keyspace().await;
    let minute = ks.with_ttl(Ttl::After(Duration::from_secs(60)));
    let values: Vec<String> = (0..2500).map(|i| format!("v{i}")).collect();
    assert_eq!(minute.push_back("l", &values).await.unwrap(), 2500);
    assert_eq!(minute.push_front("l", &values).await.unwrap(), 5000);
    assert_eq!(ks.list_range("l", -1, -1).await.unwrap(), ["v2499"]);
    assert_eq!(ks.list_range("l", 0, 0).await.unwrap(), ["v2499"]);
    assert_eq!(minute.set_add("s", &values).await.unwrap(), 2500);
    assert_eq!(minute.set_add("s", &values[..10]).await.unwrap(), 0);
    assert_eq!(ks.set_len("s").await.unwrap(), 2500);
    for key in ["l", "s"] {
        assert!(
            matches!(ks.ttl(key).await.unwrap(), KeyTtl::ExpiresIn(_)),
            "{key} has no TTL"
        );
    }
}

#[tokio::test]
async fn the_database_index_in_the_url_is_honoured() {
    let server = PrivateRedis::start(&[]);
    let db5 = RedisCache::connect(RedisOptions::new(format!("{}/5", server.url())))
        .await
        .unwrap();
    assert!(db5.endpoint().ends_with("/5"), "{}", db5.endpoint());
    let mut options = RedisOptions::new(format!("{}/5", server.url()));
    options.db = Some(3);
    let db3 = RedisCache::connect(options).await.unwrap();
    Keyspace::new("t", Arc::new(db5), "", None)
        .set("where", "five")
        .await
        .unwrap();
    Keyspace::new("t", Arc::new(db3), "", None)
        .set("where", "three")
        .await
        .unwrap();
    let mut raw = server.raw(None);
    let read = |raw: &mut RawRedis, db: &str| {
        raw.ok(&["SELECT", db]);
        raw.ok(&["GET", "where"]).text()
    };
    assert_eq!(read(&mut raw, "5").as_deref(), Some("five"));
    assert_eq!(
        read(&mut raw, "3").as_deref(),
        Some("three"),
        "`db` overrides the URL"
    );
    assert_eq!(read(&mut raw, "0"), None, "nothing in database 0");
}

const SERVER_PASSWORD: &str = "server-pass-9f3a61";
const WRONG_PASSWORD: &str = "wrong-pass-77c2e0";

fn assert_denied_without_leak(result: strata_core::Result<RedisCache>, leaked: &str) {
    let err = result.expect_err("connecting with bad credentials succeeded");
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
    let shown = format!("{err} | {err:?}");
    assert!(!shown.contains(leaked), "the password leaked: {shown}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        assert!(
            !format!("{s} {s:?}").contains(leaked),
            "source leaked: {s:?}"
        );
        source = s.source();
    }
}

#[tokio::test]
async fn a_wrong_password_is_permission_denied_and_never_shown() {
    let server = PrivateRedis::start(&["--requirepass", SERVER_PASSWORD]);
    let mut options = RedisOptions::new(server.url());
    options.password = Some(WRONG_PASSWORD.into());
    let connect = RedisCache::connect(options);
    let result = tokio::time::timeout(Duration::from_secs(20), connect)
        .await
        .unwrap();
    assert_denied_without_leak(result, WRONG_PASSWORD);

    let url = format!("redis://:{WRONG_PASSWORD}@{}", server.addr());
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        RedisCache::connect(RedisOptions::new(url)),
    )
    .await
    .unwrap();
    assert_denied_without_leak(result, WRONG_PASSWORD);

    let result = tokio::time::timeout(
        Duration::from_secs(20),
        RedisCache::connect(RedisOptions::new(server.url())),
    )
    .await
    .unwrap();
    assert_denied_without_leak(result, SERVER_PASSWORD);

    let mut options = RedisOptions::new(server.url());
    options.password = Some(SERVER_PASSWORD.into());
    assert!(!format!("{options:?}").contains(SERVER_PASSWORD));
    let cache = RedisCache::connect(options).await.unwrap();
    assert!(!format!("{cache:?}").contains(SERVER_PASSWORD));
    let ks = Keyspace::new("t", Arc::new(cache), "", None);
    ks.set("k", "v").await.unwrap();
    assert_eq!(ks.get("k").await.unwrap().as_deref(), Some("v"));
}

#[tokio::test]
async fn an_acl_user_authenticates_and_is_held_to_its_rules() {
    let server = PrivateRedis::start(&[]);
    let mut raw = server.raw(None);
    raw.ok(&[
        "ACL",
        "SETUSER",
        "strata-app",
        "on",
        ">app-pass-1",
        "~app:*",
        "+@all",
    ]);
    let mut options = RedisOptions::new(server.url());
    options.username = Some("strata-app".into());
    options.password = Some("app-pass-1".into());
    let cache = Arc::new(RedisCache::connect(options).await.unwrap());
    assert!(
        cache.endpoint().contains("strata-app@"),
        "{}",
        cache.endpoint()
    );
    let allowed = Keyspace::new("app", cache.clone(), "app:", None);
    allowed.set("k", "v").await.unwrap();
    assert_eq!(raw.ok(&["GET", "app:k"]).text().as_deref(), Some("v"));
    let forbidden = Keyspace::new("other", cache, "other:", None);
    let err = forbidden.set("k", "v").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");

    let url = format!("redis://strata-app:not-it@{}", server.addr());
    assert_denied_without_leak(RedisCache::connect(RedisOptions::new(url)).await, "not-it");
}

#[tokio::test]
async fn a_tls_url_to_a_plain_server_fails_fast_and_clearly() {
    let server = PrivateRedis::start(&[]);
    let mut options = RedisOptions::new(format!("rediss://127.0.0.1:{}", server.port()));
    options.connect_timeout = Duration::from_secs(2);
    options.response_timeout = Duration::from_secs(2);
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(15), RedisCache::connect(options))
        .await
        .expect("a TLS handshake with a plain server hung");
    let err = result.expect_err("TLS to a plain server connected");
    println!(
        "rediss:// to a plain server after {:?}: {err}",
        started.elapsed()
    );
    assert!(
        matches!(
            err.code(),
            ErrorCode::Unavailable | ErrorCode::InvalidConfig
        ),
        "{err}"
    );
    assert!(err.message().contains("rediss://127.0.0.1"), "{err}");
}

#[tokio::test]
async fn tls_with_a_ca_file_connects_and_an_untrusted_certificate_does_not() {
    let server = PrivateRedis::start_tls();
    let url = format!("rediss://127.0.0.1:{}/2", server.port());
    let mut options = RedisOptions::new(url.clone());
    options.tls_ca_file = Some(server.ca_file());
    let cache = tokio::time::timeout(Duration::from_secs(15), RedisCache::connect(options))
        .await
        .unwrap()
        .unwrap();
    assert!(
        cache.endpoint().starts_with("rediss://"),
        "{}",
        cache.endpoint()
    );
    let ks = Keyspace::new("tls", Arc::new(cache), "tls:", None);
    ks.set("k", "over tls").await.unwrap();
    assert_eq!(ks.get("k").await.unwrap().as_deref(), Some("over tls"));
    assert_eq!(ks.incr("n", 2).await.unwrap(), 2);

    // The system's roots do not know the test CA.
    let result = tokio::time::timeout(
        Duration::from_secs(15),
        RedisCache::connect(RedisOptions::new(url)),
    )
    .await
    .unwrap();
    let err = result.expect_err("an untrusted certificate was accepted");
    println!("untrusted certificate: {err}");
    assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
    assert!(err.message().contains("certificate"), "{err}");
}

#[tokio::test]
async fn a_frozen_server_fails_calls_within_the_deadline() {
    let server = PrivateRedis::start(&[]);
    let mut options = RedisOptions::new(server.url());
    options.connect_timeout = Duration::from_millis(500);
    options.response_timeout = Duration::from_millis(500);
    let ks = Keyspace::new(
        "t",
        Arc::new(RedisCache::connect(options).await.unwrap()),
        "",
        None,
    );
    ks.set("k", "v").await.unwrap();
    server.freeze();
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(10), ks.get("k"))
        .await
        .expect("a call to a frozen server hung");
    let err = result.expect_err("a frozen server answered");
    println!("frozen server after {:?}: {err}", started.elapsed());
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn ttl_scripts_are_loaded_again_after_a_server_restart() {
    let mut server = PrivateRedis::start(&[]);
    let cache = RedisCache::connect(RedisOptions::new(server.url()))
        .await
        .unwrap();
    let ks = Keyspace::new("t", Arc::new(cache), "", None);
    let minute = ks.with_ttl(Ttl::After(Duration::from_secs(60)));
    assert_eq!(minute.incr("n", 1).await.unwrap(), 1);
    assert_eq!(minute.push_back("l", ["a"]).await.unwrap(), 1);
    server.restart();
    // The restarted server has no scripts cached (and no data): the first
    // calls may see the dropped connection, later ones must succeed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let n = loop {
        match minute.incr("n", 5).await {
            Ok(n) => break n,
            Err(err) if err.code() == ErrorCode::Unavailable => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "never recovered: {err}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("after a restart: {err}"),
        }
    };
    assert_eq!(n, 5, "a restarted server without persistence starts empty");
    assert_eq!(minute.push_back("l", ["b"]).await.unwrap(), 1);
    assert!(matches!(ks.ttl("n").await.unwrap(), KeyTtl::ExpiresIn(_)));
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let server = PrivateRedis::start(&[]);
    let url = server.url();
    drop(server);
    let result = tokio::time::timeout(
        Duration::from_secs(15),
        RedisCache::connect(RedisOptions::new(url)),
    )
    .await
    .unwrap();
    let err = result.expect_err("connected to a stopped server");
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_mid_load_fails_in_flight_calls_and_then_heals() {
    let report = tokio::time::timeout(Duration::from_secs(120), redis_load::restart_mid_load())
        .await
        .expect("the load did not finish in 120 s");
    println!("{report}");
    report.assert_healthy();
}
