//! TTL cases of the cache conformance suite.

use std::future::Future;
use std::time::{Duration, Instant};

use super::CacheHarness;
use crate::cache::{KeyTtl, Keyspace, Ttl};

/// The TTL used by expiry cases, and how long they wait for an expiry.
const SHORT_TTL: Duration = Duration::from_millis(200);
const EXPIRY_DEADLINE: Duration = Duration::from_secs(3);

/// Polls `check` until it returns true or the deadline passes; returns whether
/// it did.
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > EXPIRY_DEADLINE {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts `key` is present now (when the check ran inside `ttl` of `since`)
/// and disappears after the TTL.
async fn assert_expires(ks: &Keyspace, key: &str, since: Instant, what: &str) {
    let present = ks.ttl(key).await.unwrap() != KeyTtl::Missing;
    if since.elapsed() < SHORT_TTL {
        assert!(present, "{what}: key `{key}` vanished before its TTL");
    }
    let gone = eventually(|| async { ks.ttl(key).await.unwrap() == KeyTtl::Missing }).await;
    assert!(
        gone,
        "{what}: key `{key}` still present {EXPIRY_DEADLINE:?} after a {SHORT_TTL:?} TTL"
    );
    assert!(
        since.elapsed() >= SHORT_TTL,
        "{what}: key `{key}` expired after {:?}, before its {SHORT_TTL:?} TTL",
        since.elapsed()
    );
}

/// A value written with a short TTL is visible, then gone.
pub async fn ttl_expires_values(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    let short = ks.with_ttl(Ttl::After(SHORT_TTL));
    let since = Instant::now();
    short.set("s", "v").await.unwrap();
    short.incr("n", 1).await.unwrap();
    short.push_back("l", ["x"]).await.unwrap();
    short.set_add("set", ["x"]).await.unwrap();
    ks.set("forever", "v").await.unwrap();
    if since.elapsed() < SHORT_TTL {
        assert_eq!(
            ks.get("s").await.unwrap().as_deref(),
            Some("v"),
            "visible before expiry"
        );
    }
    for key in ["s", "n", "l", "set"] {
        assert_expires(&ks, key, since, "write with Ttl::After").await;
    }
    assert_eq!(
        ks.get("s").await.unwrap(),
        None,
        "expired keys read as misses"
    );
    assert_eq!(ks.list_len("l").await.unwrap(), 0);
    assert_eq!(
        ks.get("forever").await.unwrap().as_deref(),
        Some("v"),
        "no TTL, no expiry"
    );
}

/// A keyspace's default TTL applies to writes that give none.
pub async fn default_ttl_is_applied(h: &impl CacheHarness) {
    let ks = h.keyspace(Some(SHORT_TTL)).await;
    let since = Instant::now();
    ks.set("s", "v").await.unwrap();
    ks.incr("n", 1).await.unwrap();
    ks.push_back("l", ["x"]).await.unwrap();
    ks.with_ttl(Ttl::Persist).set("kept", "v").await.unwrap();
    match ks.ttl("s").await.unwrap() {
        KeyTtl::ExpiresIn(d) => assert!(d <= SHORT_TTL, "ttl {d:?} exceeds the default"),
        other => panic!("a write under a default TTL has ttl {other:?}"),
    }
    for key in ["s", "n", "l"] {
        assert_expires(&ks, key, since, "write under a default TTL").await;
    }
    assert_eq!(
        ks.ttl("kept").await.unwrap(),
        KeyTtl::Persistent,
        "explicit Persist wins"
    );
}

/// `Ttl::Keep` leaves an existing expiry in place.
pub async fn keep_ttl_keeps_expiry(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    let since = Instant::now();
    ks.with_ttl(Ttl::After(SHORT_TTL))
        .set("k", "v1")
        .await
        .unwrap();
    // No default TTL: writes keep the key's TTL.
    ks.set("k", "v2").await.unwrap();
    ks.with_ttl(Ttl::Keep).set("k", "v3").await.unwrap();
    assert!(
        matches!(ks.ttl("k").await.unwrap(), KeyTtl::ExpiresIn(_)),
        "Keep dropped the expiry"
    );
    assert_expires(&ks, "k", since, "overwritten with Ttl::Keep").await;
    ks.set("new", "v").await.unwrap();
    assert_eq!(
        ks.ttl("new").await.unwrap(),
        KeyTtl::Persistent,
        "Keep on a new key: none"
    );
}

/// `persist` removes an expiry; `expire` adds one; both report existence.
pub async fn persist_and_expire_change_expiry(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    ks.with_ttl(Ttl::After(SHORT_TTL))
        .set("p", "v")
        .await
        .unwrap();
    assert!(ks.persist("p").await.unwrap(), "persist of an existing key");
    assert_eq!(ks.ttl("p").await.unwrap(), KeyTtl::Persistent);
    let since = Instant::now();
    ks.set("e", "v").await.unwrap();
    assert!(
        ks.expire("e", SHORT_TTL).await.unwrap(),
        "expire of an existing key"
    );
    assert_expires(&ks, "e", since, "after expire()").await;
    assert_eq!(
        ks.get("p").await.unwrap().as_deref(),
        Some("v"),
        "persisted key survived"
    );
    assert!(
        !ks.persist("missing").await.unwrap(),
        "persist of a missing key"
    );
    assert!(
        !ks.expire("missing", SHORT_TTL).await.unwrap(),
        "expire of a missing key"
    );
}

/// `ttl()` tells missing, persistent and expiring keys apart.
pub async fn ttl_reports_key_state(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    assert_eq!(ks.ttl("missing").await.unwrap(), KeyTtl::Missing);
    ks.set("forever", "v").await.unwrap();
    assert_eq!(ks.ttl("forever").await.unwrap(), KeyTtl::Persistent);
    let minute = Duration::from_secs(60);
    ks.with_ttl(Ttl::After(minute))
        .set("minute", "v")
        .await
        .unwrap();
    match ks.ttl("minute").await.unwrap() {
        KeyTtl::ExpiresIn(d) => assert!(
            d <= minute && d > Duration::from_secs(50),
            "ttl of a 60 s key is {d:?}"
        ),
        other => panic!("ttl of a 60 s key is {other:?}"),
    }
    ks.set_add("set", ["x"]).await.unwrap();
    assert_eq!(
        ks.ttl("set").await.unwrap(),
        KeyTtl::Persistent,
        "collections have TTLs too"
    );
}
