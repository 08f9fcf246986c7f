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
use strata_core::pubsub::{Handler, HandlerError, Message, OutgoingMessage};
use strata_infra::{Infra, SubscribeOptions, registry};
use tokio::sync::mpsc;

fn localstack_config(dir: &Path, run: &str) -> LoadedConfig {
    let endpoint = std::env::var("STRATA_TEST_LOCALSTACK_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:4566".into());
    let text = format!(
        r#"{{
        "providers": {{ "aws": {{ "region": "us-east-1", "endpoint": "{endpoint}",
            "credentials": {{ "access_key_id": "test", "secret_access_key": "test" }}, "provision": true }} }},
        "pubsub": {{
            "orders": {{ "provider": "aws", "name": "orders-{run}", "subscriptions": {{
                "billing": {{ "name": "billing-{run}", "max_attempts": 2, "dead_letter_topic": "orders-dlq",
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
