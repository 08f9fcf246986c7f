//! Conformance cases for cache providers.
//!
//! A provider implements [`CacheHarness`] and runs the cases of
//! the table, [`cache_conformance!`](crate::cache_conformance), one
//! `#[tokio::test]` each (or [`run_all`]). Cases panic with a message naming the
//! broken behaviour. Every case uses its own keyspace, so cases may share one
//! driver and run concurrently.

// Test code: a failed call is a failed case, reported with its message.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use async_trait::async_trait;

use crate::ErrorCode;
use crate::cache::{KeyTtl, Keyspace};

mod ttl;

pub use ttl::{
    default_ttl_is_applied, keep_ttl_keeps_expiry, persist_and_expire_change_expiry,
    ttl_expires_values, ttl_reports_key_state,
};

/// Makes keyspaces over the provider under test.
#[async_trait]
pub trait CacheHarness: Send + Sync {
    /// A keyspace with a fresh, unique prefix (no keys in it) and the given
    /// default TTL. Keyspaces of one harness may share a driver.
    async fn keyspace(&self, default_ttl: Option<Duration>) -> Keyspace;
}

fn assert_invalid<T: std::fmt::Debug>(result: crate::Result<T>, what: &str) {
    match result {
        Err(err) => assert_eq!(
            err.code(),
            ErrorCode::InvalidArgument,
            "{what}: expected InvalidArgument, got {err}"
        ),
        Ok(v) => panic!("{what}: expected InvalidArgument, got Ok({v:?})"),
    }
}

/// Strings: set then get, overwrite, and a miss is `None`.
pub async fn strings_set_get_and_miss(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    assert_eq!(ks.get("missing").await.unwrap(), None, "a miss is None");
    assert_eq!(ks.get_bytes("missing").await.unwrap(), None);
    ks.set("greeting", "héllo wörld ✓").await.unwrap();
    assert_eq!(
        ks.get("greeting").await.unwrap().as_deref(),
        Some("héllo wörld ✓")
    );
    ks.set("greeting", "bye").await.unwrap();
    assert_eq!(
        ks.get("greeting").await.unwrap().as_deref(),
        Some("bye"),
        "set overwrites"
    );
    ks.set("empty", "").await.unwrap();
    assert_eq!(
        ks.get("empty").await.unwrap().as_deref(),
        Some(""),
        "empty is not a miss"
    );
    ks.set("bin", [0u8, 255, 0, 1]).await.unwrap();
    assert_eq!(
        ks.get_bytes("bin").await.unwrap().unwrap().as_ref(),
        &[0, 255, 0, 1]
    );
}

/// `set_if_absent` writes only keys that do not exist.
pub async fn set_if_absent_writes_only_new_keys(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    assert!(
        ks.set_if_absent("lock", "a").await.unwrap(),
        "first set_if_absent writes"
    );
    assert!(
        !ks.set_if_absent("lock", "b").await.unwrap(),
        "second set_if_absent does not"
    );
    assert_eq!(ks.get("lock").await.unwrap().as_deref(), Some("a"));
}

/// `replace` writes only keys that exist.
pub async fn replace_writes_only_existing_keys(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    assert!(
        !ks.replace("k", "a").await.unwrap(),
        "replace of a missing key does nothing"
    );
    assert_eq!(ks.get("k").await.unwrap(), None);
    ks.set("k", "a").await.unwrap();
    assert!(ks.replace("k", "b").await.unwrap());
    assert_eq!(ks.get("k").await.unwrap().as_deref(), Some("b"));
}

/// `delete` removes keys of any type and counts those that existed.
pub async fn delete_counts_existing_keys(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    ks.set("a", "1").await.unwrap();
    ks.set("b", "2").await.unwrap();
    ks.push_back("list", ["x"]).await.unwrap();
    ks.set_add("set", ["x"]).await.unwrap();
    assert_eq!(
        ks.delete(&["a", "missing", "list", "set"]).await.unwrap(),
        3
    );
    assert_eq!(
        ks.delete(&["a"]).await.unwrap(),
        0,
        "deleting twice counts 0"
    );
    assert_eq!(ks.get("a").await.unwrap(), None);
    assert_eq!(
        ks.get("b").await.unwrap().as_deref(),
        Some("2"),
        "other keys stay"
    );
    assert_eq!(ks.list_len("list").await.unwrap(), 0);
}

/// `get_many` answers one entry per key in order; `set_many` writes them all.
pub async fn get_many_and_set_many_keep_order_with_misses(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    let entries: Vec<(String, String)> = (0..20)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .collect();
    ks.set_many(entries.iter().map(|(k, v)| (k, v)))
        .await
        .unwrap();
    let keys = ["k3", "nope", "k0", "k19", "k3"];
    assert_eq!(
        ks.get_many(&keys).await.unwrap(),
        vec![
            Some("v3".to_owned()),
            None,
            Some("v0".to_owned()),
            Some("v19".to_owned()),
            Some("v3".to_owned())
        ]
    );
    let all: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    let hits = ks
        .get_many(&all)
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .count();
    assert_eq!(hits, 20, "set_many wrote {hits} of 20 entries");
}

/// `incr`/`decr` start from 0, go negative, and read back as integers and text.
pub async fn incr_and_decr_count_from_zero(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    assert_eq!(
        ks.incr("n", 1).await.unwrap(),
        1,
        "incr of a missing key starts at 0"
    );
    assert_eq!(ks.incr("n", 41).await.unwrap(), 42);
    assert_eq!(ks.decr("n", 50).await.unwrap(), -8);
    assert_eq!(
        ks.decr("m", 3).await.unwrap(),
        -3,
        "decr of a missing key starts at 0"
    );
    assert_eq!(ks.get_int("n").await.unwrap(), Some(-8));
    assert_eq!(
        ks.get("n").await.unwrap().as_deref(),
        Some("-8"),
        "integers are decimal text"
    );
    ks.set_int("big", i64::MAX - 1).await.unwrap();
    assert_eq!(ks.incr("big", 1).await.unwrap(), i64::MAX);
    assert_invalid(ks.incr("big", 1).await, "incr past i64::MAX");
    ks.set("text-int", "17").await.unwrap();
    assert_eq!(
        ks.incr("text-int", 1).await.unwrap(),
        18,
        "a string holding digits counts"
    );
    assert_eq!(ks.get_int("missing").await.unwrap(), None);
}

/// Incrementing a value that is not an integer is `InvalidArgument`.
pub async fn incr_on_non_number_is_invalid(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    ks.set("word", "abc").await.unwrap();
    assert_invalid(ks.incr("word", 1).await, "incr of \"abc\"");
    ks.set("float", "1.5").await.unwrap();
    assert_invalid(ks.incr("float", 1).await, "incr of \"1.5\"");
    assert_invalid(ks.get_int("word").await, "get_int of \"abc\"");
    assert_eq!(
        ks.get("word").await.unwrap().as_deref(),
        Some("abc"),
        "value unchanged"
    );
    assert_invalid(ks.incr_float("word", 1.0).await, "incr_float of \"abc\"");
}

/// Floats round trip and increment.
pub async fn floats_round_trip_and_increment(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    ks.set_float("f", 1.5).await.unwrap();
    assert_eq!(ks.get_float("f").await.unwrap(), Some(1.5));
    assert_eq!(ks.get("f").await.unwrap().as_deref(), Some("1.5"));
    let v = ks.incr_float("f", 0.25).await.unwrap();
    assert!((v - 1.75).abs() < 1e-9, "1.5 + 0.25 = {v}");
    let v = ks.incr_float("g", -2.5).await.unwrap();
    assert!(
        (v + 2.5).abs() < 1e-9,
        "incr_float of a missing key starts at 0, got {v}"
    );
    let read = ks.get_float("g").await.unwrap().unwrap();
    assert!((read + 2.5).abs() < 1e-9, "read back {read}");
    ks.set_int("i", 3).await.unwrap();
    let v = ks.incr_float("i", 0.5).await.unwrap();
    assert!(
        (v - 3.5).abs() < 1e-9,
        "an integer value increments as a float: {v}"
    );
    assert_eq!(ks.get_float("missing").await.unwrap(), None);
}

/// Lists: push at both ends, pop, ranges with negative indexes, length.
pub async fn lists_push_pop_range_and_len(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    assert_eq!(ks.push_back("l", ["c", "d"]).await.unwrap(), 2);
    assert_eq!(
        ks.push_front("l", ["b", "a"]).await.unwrap(),
        4,
        "push_front returns length"
    );
    assert_eq!(ks.push_back("l", ["e"]).await.unwrap(), 5);
    // push_front pushes one at a time, like LPUSH: "b" then "a" ends "a, b".
    assert_eq!(
        ks.list_range("l", 0, -1).await.unwrap(),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(ks.list_range("l", 1, 2).await.unwrap(), ["b", "c"]);
    assert_eq!(ks.list_range("l", -2, -1).await.unwrap(), ["d", "e"]);
    assert_eq!(ks.list_range("l", -100, 0).await.unwrap(), ["a"]);
    assert_eq!(ks.list_range("l", 3, 100).await.unwrap(), ["d", "e"]);
    assert!(
        ks.list_range("l", 3, 1).await.unwrap().is_empty(),
        "start > stop is empty"
    );
    assert!(ks.list_range("l", 10, 20).await.unwrap().is_empty());
    assert_eq!(ks.list_len("l").await.unwrap(), 5);
    assert_eq!(ks.pop_front("l").await.unwrap().as_deref(), Some("a"));
    assert_eq!(ks.pop_back("l").await.unwrap().as_deref(), Some("e"));
    assert_eq!(ks.list_len("l").await.unwrap(), 3);
    for expected in ["b", "c", "d"] {
        assert_eq!(ks.pop_front("l").await.unwrap().as_deref(), Some(expected));
    }
    assert_eq!(
        ks.pop_front("l").await.unwrap(),
        None,
        "popping an empty list is None"
    );
    assert_eq!(
        ks.ttl("l").await.unwrap(),
        KeyTtl::Missing,
        "an emptied list is deleted"
    );
}

/// A missing list reads as empty, never as an error.
pub async fn missing_list_is_empty(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    assert!(ks.list_range("nope", 0, -1).await.unwrap().is_empty());
    assert_eq!(ks.list_len("nope").await.unwrap(), 0);
    assert_eq!(ks.pop_front("nope").await.unwrap(), None);
    assert_eq!(ks.pop_back("nope").await.unwrap(), None);
}

/// Sets: add counts only new members, remove counts present ones.
pub async fn sets_add_remove_members_contains_len(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    assert_eq!(
        ks.set_add("s", ["a", "b", "a"]).await.unwrap(),
        2,
        "duplicates count once"
    );
    assert_eq!(
        ks.set_add("s", ["b", "c"]).await.unwrap(),
        1,
        "existing members are not new"
    );
    assert_eq!(ks.set_len("s").await.unwrap(), 3);
    let mut members = ks.set_members("s").await.unwrap();
    members.sort();
    assert_eq!(members, ["a", "b", "c"]);
    assert!(ks.set_contains("s", "a").await.unwrap());
    assert!(!ks.set_contains("s", "z").await.unwrap());
    assert_eq!(ks.set_remove("s", ["a", "z"]).await.unwrap(), 1);
    assert_eq!(ks.set_len("s").await.unwrap(), 2);
    assert!(!ks.set_contains("s", "a").await.unwrap());
    assert_eq!(ks.set_remove("s", ["b", "c"]).await.unwrap(), 2);
    assert_eq!(
        ks.ttl("s").await.unwrap(),
        KeyTtl::Missing,
        "an emptied set is deleted"
    );
    assert!(ks.set_members("missing").await.unwrap().is_empty());
    assert_eq!(ks.set_len("missing").await.unwrap(), 0);
    assert!(!ks.set_contains("missing", "a").await.unwrap());
    assert_eq!(ks.set_remove("missing", ["a"]).await.unwrap(), 0);
}

/// An operation of one type on a key of another is `InvalidArgument`; a plain
/// `set` replaces a value of any type (like Redis `SET`).
pub async fn wrong_type_is_invalid_argument(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    ks.set("str", "v").await.unwrap();
    ks.push_back("list", ["x"]).await.unwrap();
    ks.set_add("set", ["x"]).await.unwrap();
    assert_invalid(ks.push_back("str", ["x"]).await, "push_back on a string");
    assert_invalid(ks.set_add("str", ["x"]).await, "set_add on a string");
    assert_invalid(ks.list_len("str").await, "list_len on a string");
    assert_invalid(ks.get("list").await, "get on a list");
    assert_invalid(ks.incr("list", 1).await, "incr on a list");
    assert_invalid(ks.set_members("list").await, "set_members on a list");
    assert_invalid(ks.pop_front("set").await, "pop_front on a set");
    assert_invalid(ks.list_range("set", 0, -1).await, "list_range on a set");
    assert_eq!(
        ks.get_many(&["str", "list", "set"]).await.unwrap(),
        vec![Some("v".to_owned()), None, None],
        "get_many reads keys of other types as misses (like MGET)"
    );
    ks.set("list", "now a string").await.unwrap();
    assert_eq!(
        ks.get("list").await.unwrap().as_deref(),
        Some("now a string")
    );
    assert_eq!(
        ks.list_len("set").await.ok(),
        None,
        "list op on a set still fails"
    );
}

/// Two keyspaces on one driver do not see each other's keys.
pub async fn prefixes_isolate_keyspaces(h: &impl CacheHarness) {
    let a = h.keyspace(None).await;
    let prefix = format!("strata-testkit-iso-{:016x}:", fastrand::u64(..));
    let b = Keyspace::new("isolated", a.driver().clone(), prefix, None);
    a.set("k", "from a").await.unwrap();
    b.set("k", "from b").await.unwrap();
    assert_eq!(a.get("k").await.unwrap().as_deref(), Some("from a"));
    assert_eq!(b.get("k").await.unwrap().as_deref(), Some("from b"));
    assert_eq!(a.incr("n", 5).await.unwrap(), 5);
    assert_eq!(
        b.incr("n", 1).await.unwrap(),
        1,
        "counters are per keyspace"
    );
    b.push_back("l", ["x"]).await.unwrap();
    assert_eq!(a.list_len("l").await.unwrap(), 0);
    assert_eq!(b.delete(&["k", "n", "l"]).await.unwrap(), 3);
    assert_eq!(
        a.get("k").await.unwrap().as_deref(),
        Some("from a"),
        "b's delete spared a"
    );
}

/// A 1 MiB binary value round trips byte for byte.
pub async fn large_value_round_trips(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    let size = 1024 * 1024;
    if ks.capabilities().max_value_bytes < size {
        println!(
            "skipped: provider accepts values up to {} bytes",
            ks.capabilities().max_value_bytes
        );
        return;
    }
    let value: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    ks.set("big", &value).await.unwrap();
    let read = ks
        .get_bytes("big")
        .await
        .unwrap()
        .expect("1 MiB value missing");
    assert_eq!(read.len(), size);
    assert!(
        read.as_ref() == value.as_slice(),
        "1 MiB value came back different"
    );
}

/// Empty and oversized keys are `InvalidArgument` for every operation.
pub async fn invalid_keys_are_rejected(h: &impl CacheHarness) {
    let ks = h.keyspace(None).await;
    assert_invalid(ks.get("").await, "get of an empty key");
    assert_invalid(ks.set("", "v").await, "set of an empty key");
    assert_invalid(ks.incr("", 1).await, "incr of an empty key");
    assert_invalid(ks.push_back("", ["v"]).await, "push of an empty key");
    assert_invalid(ks.set_add("", ["v"]).await, "set_add of an empty key");
    assert_invalid(ks.get_many(&["ok", ""]).await, "get_many with an empty key");
    let long = "k".repeat(crate::cache::MAX_KEY_BYTES + 1);
    assert_invalid(ks.set(&long, "v").await, "set of a 1025-byte key");
    assert_invalid(ks.ttl(&long).await, "ttl of a 1025-byte key");
}

/// The cache case table, and the tests it makes for one harness.
///
/// ```ignore
/// strata_core::cache_conformance! {
///     #[tokio::test]      // the attributes of every test
///     harness: MyHarness::new().await,  // made afresh per test
///     run: run,           // optional: wraps each case's future
///     skip: { some_case: "why this provider does not run it" },
/// }
/// ```
///
/// expands to one test per case, named after the case; a skipped case is
/// `#[ignore = "why"]`. A skip that names no case, or one case twice, does
/// not compile. See [the testkit](crate::testkit).
#[macro_export]
macro_rules! cache_conformance {
    (@table $then:path { $($args:tt)* }) => {
        $then! {
            ($)
            [
                strings_set_get_and_miss,
                set_if_absent_writes_only_new_keys,
                replace_writes_only_existing_keys,
                delete_counts_existing_keys,
                get_many_and_set_many_keep_order_with_misses,
                incr_and_decr_count_from_zero,
                incr_on_non_number_is_invalid,
                floats_round_trip_and_increment,
                lists_push_pop_range_and_len,
                missing_list_is_empty,
                sets_add_remove_members_contains_len,
                wrong_type_is_invalid_argument,
                ttl_expires_values,
                default_ttl_is_applied,
                keep_ttl_keeps_expiry,
                persist_and_expire_change_expiry,
                ttl_reports_key_state,
                prefixes_isolate_keyspaces,
                large_value_round_trips,
                invalid_keys_are_rejected,
            ]
            $($args)*
        }
    };
    ($($args:tt)*) => {
        $crate::cache_conformance! { @table $crate::__conformance_tests { cache $($args)* } }
    };
}

crate::cache_conformance! { @table crate::testkit::case_list { CacheHarness } }
