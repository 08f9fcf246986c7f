//! `Infra` on LocalStack through the example config: the same logical names the
//! embedded defaults serve, now SNS+SQS and S3, provisioned at startup.
//!
//! Needs LocalStack: `localstack/emulators up localstack` and
//! `eval "$(localstack/emulators env)"`.

#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use strata_core::config::{LoadedConfig, parse_config};
use strata_core::pubsub::{
    DEAD_LETTER_REASON_ATTRIBUTE, DEAD_LETTER_SUBSCRIPTION_ATTRIBUTE, Handler, HandlerError,
    Message, ORIGINAL_MESSAGE_ID_ATTRIBUTE, OutgoingMessage,
};
use strata_infra::{Infra, SubscribeOptions, registry};
use tokio::sync::mpsc;

fn localstack_config(dir: &Path, run: &str) -> LoadedConfig {
    localstack_config_with(dir, run, "")
}

/// The config, with `extra` fields (`"key": value, `) on the `billing`
/// subscription.
fn localstack_config_with(dir: &Path, run: &str, extra: &str) -> LoadedConfig {
    let endpoint = std::env::var("STRATA_TEST_LOCALSTACK_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:4566".into());
    let text = format!(
        r#"{{
        "providers": {{ "aws": {{ "region": "us-east-1", "endpoint": "{endpoint}",
            "credentials": {{ "access_key_id": "test", "secret_access_key": "test" }}, "provision": true }} }},
        "pubsub": {{
            "orders": {{ "provider": "aws", "name": "orders-{run}", "subscriptions": {{
                "billing": {{ {extra}"name": "billing-{run}", "max_attempts": 2, "dead_letter_topic": "orders-dlq",
                              "min_backoff_ms": 10, "max_backoff_ms": 100, "lease_seconds": 2 }}
            }} }},
            "orders-dlq": {{ "provider": "aws", "name": "orders-dlq-{run}", "subscriptions": {{
                "audit": {{ "name": "audit-{run}" }}
            }} }}
        }},
        "objects": {{ "uploads": {{ "provider": "aws", "name": "uploads-{run}" }} }}
    }}"#
    );
    LoadedConfig {
        config: parse_config(&text, "aws-infra.json", registry(), &|_| None).unwrap(),
        base_dir: dir.to_path_buf(),
        file: Some(dir.join("aws-infra.json")),
    }
}

fn forward(tx: mpsc::UnboundedSender<Message>, fail: bool) -> Handler {
    Arc::new(move |msg: Message| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(msg);
            if fail {
                Err::<(), HandlerError>("billing is down".into())
            } else {
                Ok(())
            }
        }
        .boxed()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infra_on_localstack_provisions_delivers_and_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let run = format!("t{}", fastrand::u32(..));
    let infra = match Infra::from_config(localstack_config(dir.path(), &run)).await {
        Ok(infra) => infra,
        Err(e) => panic!(
            "cannot build Infra on LocalStack ({e}); start it with `localstack/emulators up localstack`"
        ),
    };

    let bucket = infra.bucket("uploads").unwrap();
    bucket
        .upload("a/b.txt", "hello", Default::default())
        .await
        .unwrap();
    assert_eq!(&bucket.download("a/b.txt").await.unwrap()[..], b"hello");

    let (failing_tx, mut failing_rx) = mpsc::unbounded_channel();
    let (dead_tx, mut dead_rx) = mpsc::unbounded_channel();
    infra
        .subscribe(
            "orders",
            "billing",
            forward(failing_tx, true),
            SubscribeOptions::default(),
        )
        .unwrap();
    infra
        .subscribe(
            "orders-dlq",
            "audit",
            forward(dead_tx, false),
            SubscribeOptions::default(),
        )
        .unwrap();
    let orders = infra.topic("orders").unwrap();
    for i in 0..3 {
        orders
            .publish(OutgoingMessage::new(format!("order-{i}")).with_attribute("n", i.to_string()))
            .await
            .unwrap();
    }

    let mut dead = Vec::new();
    while dead.len() < 3 {
        let msg = tokio::time::timeout(Duration::from_secs(60), dead_rx.recv())
            .await
            .expect("dead letters arrive")
            .unwrap();
        dead.push(String::from_utf8(msg.data.to_vec()).unwrap());
    }
    dead.sort();
    assert_eq!(dead, ["order-0", "order-1", "order-2"]);
    let mut attempts = 0;
    while let Ok(Some(_)) =
        tokio::time::timeout(Duration::from_millis(200), failing_rx.recv()).await
    {
        attempts += 1;
    }
    assert!(
        attempts >= 6,
        "each message tried max_attempts (2) times, saw {attempts}"
    );
    infra.close().await.unwrap();
}

/// What a dead letter looks like, and how long it takes, with the engine
/// (the default) and with native SQS redrive (`"dead_letter_mode":
/// "native"`): the engine's carries a new id and the three
/// `strata.dead_letter.*` / `strata.original_message_id` attributes; a
/// redriven one keeps the original id and carries none of them. Prints the
/// gaps between attempts and from the last attempt to the dead letter.
async fn dead_letter_shape(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let run = format!("t{}", fastrand::u32(..));
    let extra = format!(r#""dead_letter_mode": "{mode}", "#);
    let infra = Infra::from_config(localstack_config_with(dir.path(), &run, &extra))
        .await
        .unwrap_or_else(|e| panic!("cannot build Infra on LocalStack ({e})"));
    let (failing_tx, mut failing_rx) = mpsc::unbounded_channel();
    let (dead_tx, mut dead_rx) = mpsc::unbounded_channel();
    infra
        .subscribe(
            "orders",
            "billing",
            forward(failing_tx, true),
            SubscribeOptions::default(),
        )
        .unwrap();
    infra
        .subscribe(
            "orders-dlq",
            "audit",
            forward(dead_tx, false),
            SubscribeOptions::default(),
        )
        .unwrap();
    let start = std::time::Instant::now();
    // Stamped as each attempt reaches the handler.
    let stamps = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stamped = stamps.clone();
    tokio::spawn(async move {
        while let Some(_message) = failing_rx.recv().await {
            stamped.lock().unwrap().push(start.elapsed());
        }
    });
    let id = infra
        .topic("orders")
        .unwrap()
        .publish(OutgoingMessage::new("order").with_attribute("n", "1"))
        .await
        .unwrap();
    let letter = tokio::time::timeout(Duration::from_secs(60), dead_rx.recv())
        .await
        .expect("the dead letter arrives")
        .unwrap();
    let arrived = start.elapsed();
    infra.close().await.unwrap();
    let attempts = stamps.lock().unwrap().clone();
    println!(
        "dead_letter_mode {mode}: attempts at {attempts:?}, dead letter at {arrived:?} \
         (min_backoff_ms 10, max_attempts 2)"
    );
    assert_eq!(&letter.data[..], b"order");
    assert_eq!(letter.attributes.get("n").map(String::as_str), Some("1"));
    let strata_attributes = [
        DEAD_LETTER_REASON_ATTRIBUTE,
        DEAD_LETTER_SUBSCRIPTION_ATTRIBUTE,
        ORIGINAL_MESSAGE_ID_ATTRIBUTE,
    ];
    if mode == "engine" {
        assert_ne!(letter.id, id, "the engine publishes a new message");
        assert_eq!(
            letter
                .attributes
                .get(DEAD_LETTER_REASON_ATTRIBUTE)
                .map(String::as_str),
            Some("billing is down")
        );
        assert_eq!(
            letter
                .attributes
                .get(DEAD_LETTER_SUBSCRIPTION_ATTRIBUTE)
                .map(String::as_str),
            Some("orders/billing")
        );
        assert_eq!(
            letter.attributes.get(ORIGINAL_MESSAGE_ID_ATTRIBUTE),
            Some(&id)
        );
    } else {
        assert_eq!(letter.id, id, "SQS redrive moves the message as it is");
        for name in strata_attributes {
            assert!(
                !letter.attributes.contains_key(name),
                "{name} on {letter:?}"
            );
        }
    }
    infra.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_dead_letters_carry_reason_subscription_and_original_id() {
    dead_letter_shape("engine").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_redrive_dead_letters_keep_the_id_and_carry_no_strata_attributes() {
    dead_letter_shape("native").await;
}
