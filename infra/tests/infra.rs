//! `Infra`: config in, live providers out, everything closed in order.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::FutureExt;
use strata_core::ErrorCode;
use strata_core::config::{LoadedConfig, parse_config};
use strata_core::pubsub::{Handler, HandlerError, Message, OutgoingMessage, RetryPolicy};
use strata_core::sqldb::SqlValue;
use strata_infra::{Infra, SubscribeOptions, registry};
use tokio::sync::mpsc;

const PATIENCE: Duration = Duration::from_secs(10);

fn config_in(dir: &Path, text: &str) -> LoadedConfig {
    let path = dir.join("infra.config.json");
    std::fs::write(&path, text).unwrap();
    LoadedConfig {
        config: parse_config(text, "infra.config.json", registry(), &|_| None).unwrap(),
        base_dir: dir.to_path_buf(),
        file: Some(path),
    }
}

fn counting_handler(tx: mpsc::UnboundedSender<Message>, fail_first: bool) -> Handler {
    Arc::new(move |msg: Message| {
        let tx = tx.clone();
        async move {
            if fail_first && msg.delivery_attempt == 1 {
                return Err::<(), HandlerError>("first attempt fails".into());
            }
            let _ = tx.send(msg);
            Ok(())
        }
        .boxed()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_defaults_serve_any_logical_name() {
    let dir = tempfile::tempdir().unwrap();
    let infra = Infra::from_config(LoadedConfig {
        config: Default::default(),
        base_dir: dir.path().to_path_buf(),
        file: None,
    })
    .await
    .unwrap();
    assert!(infra.config().is_embedded_defaults());

    let bucket = infra.bucket("anything").unwrap();
    bucket.upload("k", "v", Default::default()).await.unwrap();
    assert!(dir.path().join(".strata/objects/anything").is_dir());

    let cache = infra.cache("c").unwrap();
    cache.set_int("n", 7).await.unwrap();
    assert_eq!(cache.get_int("n").await.unwrap(), Some(7));

    let db = infra.database("main").await.unwrap();
    db.execute("CREATE TABLE t (x INTEGER)", &[]).await.unwrap();
    assert!(dir.path().join(".strata/main.db").is_file());

    let (tx, mut rx) = mpsc::unbounded_channel();
    infra
        .subscribe(
            "events",
            "s",
            counting_handler(tx, false),
            SubscribeOptions::default(),
        )
        .unwrap();
    infra
        .topic("events")
        .unwrap()
        .publish(OutgoingMessage::new("hi"))
        .await
        .unwrap();
    let msg = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&msg.data[..], b"hi");
    infra.close().await.unwrap();
}

/// Names built from input must never address a file outside `.strata/`, nor
/// alias another resource (`alias` + key `b/k` vs `alias/b` + key `k`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_defaults_refuse_names_that_would_leave_their_folder() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("app");
    std::fs::create_dir(&dir).unwrap();
    let infra = Infra::from_config(LoadedConfig {
        config: Default::default(),
        base_dir: dir.clone(),
        file: None,
    })
    .await
    .unwrap();
    let absolute = outer.path().join("abs").display().to_string();
    let hostile = [
        "..",
        ".",
        "../x",
        "../../escape",
        absolute.as_str(),
        "alias/b",
        "a\\b",
        ".hidden",
        "",
        "a\0b",
    ];
    let mut refused = 0;
    for name in hostile {
        let invalid = |code: ErrorCode| assert_eq!(code, ErrorCode::InvalidArgument, "{name:?}");
        invalid(infra.bucket(name).err().unwrap().code());
        invalid(infra.database(name).await.err().unwrap().code());
        invalid(infra.cache(name).err().unwrap().code());
        invalid(infra.topic(name).err().unwrap().code());
        let (tx, _rx) = mpsc::unbounded_channel();
        let handler = counting_handler(tx.clone(), false);
        invalid(
            infra
                .subscribe(name, "s", handler, SubscribeOptions::default())
                .err()
                .unwrap()
                .code(),
        );
        let handler = counting_handler(tx, false);
        invalid(
            infra
                .subscribe("t", name, handler, SubscribeOptions::default())
                .err()
                .unwrap()
                .code(),
        );
        refused += 6;
    }
    assert_eq!(refused, hostile.len() * 6);
    // Nothing was written beside the application's folder, and `.strata/` holds nothing.
    let beside: Vec<_> = std::fs::read_dir(outer.path()).unwrap().collect();
    assert_eq!(beside.len(), 1, "{beside:?}");
    assert!(!dir.join(".strata").exists());
    infra.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_resources_are_built_at_startup_and_undeclared_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("migrations")).unwrap();
    std::fs::write(
        dir.path().join("migrations/0001_t.sql"),
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
    )
    .unwrap();
    let loaded = config_in(
        dir.path(),
        r#"{
            "objects": { "uploads": { "provider": "filesystem", "root": "data/up" } },
            "caches": { "sessions": { "provider": "memory", "prefix": "s:", "max_entries": 10 } },
            "databases": { "main": { "provider": "sqlite", "path": "data/main.db", "migrations": "migrations" } }
        }"#,
    );
    let infra = Infra::from_config(loaded).await.unwrap();
    // Built eagerly: the folder and the migrated database exist before first use.
    assert!(dir.path().join("data/up").is_dir());
    let db = infra.database("main").await.unwrap();
    db.execute(
        "INSERT INTO items (name) VALUES ($1)",
        &[SqlValue::Text("a".into())],
    )
    .await
    .unwrap();

    for err in [
        infra.bucket("other").err().unwrap(),
        infra.cache("other").err().unwrap(),
        infra.topic("other").err().unwrap(),
        infra.database("other").await.err().unwrap(),
    ] {
        assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
        assert!(err.to_string().contains("is not declared in"), "{err}");
    }
    let err = infra.bucket("other").err().unwrap();
    assert!(err.to_string().contains("it declares: uploads"), "{err}");
    infra.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_dead_letter_topic_receives_exhausted_messages() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = config_in(
        dir.path(),
        r#"{ "pubsub": {
            "orders": { "provider": "memory", "subscriptions": {
                "fails": { "max_attempts": 3, "dead_letter_topic": "orders-dlq", "min_backoff_ms": 1, "max_backoff_ms": 5 }
            } },
            "orders-dlq": { "provider": "memory", "subscriptions": { "audit": {} } }
        } }"#,
    );
    let infra = Infra::from_config(loaded).await.unwrap();
    let attempts = Arc::new(AtomicUsize::new(0));
    let always_fails: Handler = {
        let attempts = attempts.clone();
        Arc::new(move |_msg: Message| {
            attempts.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), HandlerError>("boom".into()) }.boxed()
        })
    };
    infra
        .subscribe("orders", "fails", always_fails, SubscribeOptions::default())
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    infra
        .subscribe(
            "orders-dlq",
            "audit",
            counting_handler(tx, false),
            SubscribeOptions::default(),
        )
        .unwrap();

    let orders = infra.topic("orders").unwrap();
    for i in 0..5 {
        orders
            .publish(OutgoingMessage::new(format!("order-{i}")))
            .await
            .unwrap();
    }
    let mut dead = Vec::new();
    while dead.len() < 5 {
        let msg = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .unwrap()
            .unwrap();
        dead.push(String::from_utf8(msg.data.to_vec()).unwrap());
    }
    dead.sort();
    assert_eq!(
        dead,
        (0..5).map(|i| format!("order-{i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        15,
        "5 messages × 3 attempts"
    );
    infra.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_published_before_subscribe_wait_for_a_declared_subscription() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = config_in(
        dir.path(),
        r#"{ "pubsub": { "jobs": { "provider": "memory", "subscriptions": { "worker": {} } } } }"#,
    );
    let infra = Infra::from_config(loaded).await.unwrap();
    let jobs = infra.topic("jobs").unwrap();
    for i in 0..100 {
        jobs.publish(OutgoingMessage::new(i.to_string()))
            .await
            .unwrap();
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    infra
        .subscribe(
            "jobs",
            "worker",
            counting_handler(tx, true),
            SubscribeOptions {
                retry: Some(RetryPolicy {
                    min_backoff: Duration::from_millis(1),
                    max_backoff: Duration::from_millis(5),
                }),
                ..SubscribeOptions::default()
            },
        )
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 100 {
        let msg = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(msg.delivery_attempt, 2, "each message failed once first");
        seen.insert(String::from_utf8(msg.data.to_vec()).unwrap());
    }
    assert_eq!(seen.len(), 100);
    infra.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_after_close_fails_with_closed() {
    let dir = tempfile::tempdir().unwrap();
    let infra = Infra::from_config(LoadedConfig {
        config: Default::default(),
        base_dir: dir.path().to_path_buf(),
        file: None,
    })
    .await
    .unwrap();
    let topic = infra.topic("t").unwrap();
    infra.close().await.unwrap();
    infra.close().await.unwrap(); // idempotent

    let err = topic
        .publish(OutgoingMessage::new("late"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Closed, "{err}");
    assert_eq!(infra.topic("t").err().unwrap().code(), ErrorCode::Closed);
    assert_eq!(infra.bucket("b").err().unwrap().code(), ErrorCode::Closed);
    assert_eq!(infra.cache("c").err().unwrap().code(), ErrorCode::Closed);
    assert_eq!(
        infra.database("d").await.err().unwrap().code(),
        ErrorCode::Closed
    );
    let handler = counting_handler(mpsc::unbounded_channel().0, false);
    let err = infra
        .subscribe("t", "s", handler, SubscribeOptions::default())
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Closed);
}

#[tokio::test]
async fn a_named_config_file_that_is_missing_is_an_error() {
    let err = Infra::load_from(Some(Path::new("/no/such/infra.config.json")))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), ErrorCode::InvalidConfig);
    assert!(
        err.to_string().contains("/no/such/infra.config.json"),
        "{err}"
    );
}

#[tokio::test]
async fn config_with_a_compiled_out_provider_fails_to_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("infra.config.json");
    // Azure serves objects now, but no cache yet.
    std::fs::write(&path, r#"{ "caches": { "c": { "provider": "azure" } } }"#).unwrap();
    let err = Infra::load_from(Some(&path)).await.err().unwrap();
    assert_eq!(err.code(), ErrorCode::InvalidConfig);
    let hint = if cfg!(feature = "azure") {
        "the `azure` cloud has no caches provider yet"
    } else {
        "cargo feature `azure`"
    };
    assert!(err.to_string().contains(hint), "{err}");
    assert!(err.to_string().contains("this build has: memory"), "{err}");
}

/// The escape hatch: the provider's own driver behind a portable handle, for
/// a call Strata does not wrap, and `None` when another provider serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_handle_reaches_its_providers_driver_by_type() {
    use strata_providers::filesystem::FsBucket;
    use strata_providers::memory::cache::MemoryCache;
    use strata_providers::memory::objects::MemoryBucket;
    use strata_providers::memory::pubsub::MemoryTopic;
    use strata_providers::sqlite::SqliteDatabase;

    let dir = tempfile::tempdir().unwrap();
    let infra = Infra::from_config(LoadedConfig {
        config: Default::default(),
        base_dir: dir.path().to_path_buf(),
        file: None,
    })
    .await
    .unwrap();
    let bucket = infra.bucket("files").unwrap();
    let fs = bucket
        .driver_as::<FsBucket>()
        .expect("the filesystem driver");
    assert!(format!("{fs:?}").contains("files"), "{fs:?}");
    assert!(bucket.driver_as::<MemoryBucket>().is_none());
    assert!(
        infra
            .topic("t")
            .unwrap()
            .driver_as::<MemoryTopic>()
            .is_some()
    );
    assert!(
        infra
            .cache("c")
            .unwrap()
            .driver_as::<MemoryCache>()
            .is_some()
    );
    let db = infra.database("main").await.unwrap();
    let sqlite = db.driver_as::<SqliteDatabase>().expect("the SQLite driver");
    assert!(matches!(
        sqlite.path(),
        strata_providers::sqlite::SqlitePath::File(_)
    ));
    infra.close().await.unwrap();
}

/// A handler that always fails, counting its calls.
fn always_failing(calls: Arc<AtomicUsize>) -> Handler {
    Arc::new(move |_msg: Message| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), HandlerError>("boom".into()) }.boxed()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_topic_and_max_attempts_merge_knob_by_knob_config_first() {
    let dir = tempfile::tempdir().unwrap();
    let fast = r#""min_backoff_ms": 1, "max_backoff_ms": 5"#;
    let loaded = config_in(
        dir.path(),
        &format!(
            r#"{{ "pubsub": {{
            "orders": {{ "provider": "memory", "subscriptions": {{
                "named": {{ "dead_letter_topic": "orders-dlq", {fast} }},
                "tuned": {{ "max_attempts": 2, "dead_letter_topic": "orders-dlq", {fast} }},
                "bare": {{ {fast} }}
            }} }},
            "orders-dlq": {{ "provider": "memory", "subscriptions": {{ "audit": {{}} }} }}
        }} }}"#
        ),
    );
    let infra = Infra::from_config(loaded).await.unwrap();
    let code_attempts = |n| SubscribeOptions {
        max_attempts: Some(n),
        ..SubscribeOptions::default()
    };
    let calls = Arc::new(AtomicUsize::new(0));
    // A topic with no count anywhere, and a count with no topic anywhere.
    let err = infra
        .subscribe(
            "orders",
            "named",
            always_failing(calls.clone()),
            SubscribeOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    assert!(err.message().contains("orders-dlq"), "{err}");
    let err = infra
        .subscribe("orders", "bare", always_failing(calls), code_attempts(3))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");

    // The config names the topic, code the count: both apply.
    let named = Arc::new(AtomicUsize::new(0));
    infra
        .subscribe(
            "orders",
            "named",
            always_failing(named.clone()),
            code_attempts(3),
        )
        .unwrap();
    // Both set both: the config's count wins.
    let tuned = Arc::new(AtomicUsize::new(0));
    infra
        .subscribe(
            "orders",
            "tuned",
            always_failing(tuned.clone()),
            code_attempts(10),
        )
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    infra
        .subscribe(
            "orders-dlq",
            "audit",
            counting_handler(tx, false),
            SubscribeOptions::default(),
        )
        .unwrap();
    infra
        .topic("orders")
        .unwrap()
        .publish(OutgoingMessage::new("poison"))
        .await
        .unwrap();
    for _ in 0..2 {
        tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        named.load(Ordering::SeqCst),
        3,
        "code's count, config's topic"
    );
    assert_eq!(tuned.load(Ordering::SeqCst), 2, "the config's count wins");
    infra.close().await.unwrap();
}
