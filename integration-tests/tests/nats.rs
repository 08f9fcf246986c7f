//! The NATS JetStream provider against a real server: the whole pub/sub
//! conformance suite, bad input, and the config path through `Infra`, each
//! test on a private `nats-server -js` it starts on a free port with its own
//! store (the machine's shared server is left alone). A missing binary fails
//! the test with what to install; nothing is skipped.

#![allow(clippy::unwrap_used)]

#[path = "support/nats_counting.rs"]
mod nats_counting;
#[path = "support/nats_server.rs"]
mod nats_server;
#[path = "support/redis_tls.rs"]
mod redis_tls;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use strata_core::pubsub::{OutgoingMessage, SubscriptionDriver, TopicDriver};
use strata_core::testkit::pubsub::{HarnessSubscriptionOptions, PubSubHarness};
use strata_core::{ErrorCode, Result};
use strata_nats::{NatsClient, NatsOptions, NatsSubscription, NatsTopic};

use nats_counting::counting_subscriber;
use nats_server::PrivateNats;

/// Topics and subscriptions on a private server of this test.
struct NatsHarness {
    client: NatsClient,
    options: NatsOptions,
    next: AtomicU64,
    // Last, so the connection's users are gone before the server.
    _server: PrivateNats,
}

impl NatsHarness {
    async fn new() -> Self {
        let server = PrivateNats::start(&[]);
        let options = NatsOptions {
            provision: true,
            ..NatsOptions::new(server.url())
        };
        let client = NatsClient::connect(&options).await.unwrap();
        Self {
            client,
            options,
            next: AtomicU64::new(0),
            _server: server,
        }
    }
}

#[async_trait]
impl PubSubHarness for NatsHarness {
    async fn topic(&self, name: &str) -> Result<Arc<dyn TopicDriver>> {
        Ok(Arc::new(
            NatsTopic::open(&self.client, name, &self.options).await?,
        ))
    }

    async fn subscription(
        &self,
        topic: &str,
        name: &str,
        opts: &HarnessSubscriptionOptions,
    ) -> Result<Arc<dyn SubscriptionDriver>> {
        // No native dead-lettering: the engine publishes dead letters to
        // the topic the case passes it. An ordered case gets a one-at-a-time
        // consumer.
        let topic = NatsTopic::open(&self.client, topic, &self.options).await?;
        Ok(Arc::new(
            NatsSubscription::open(&self.client, &topic, name, opts.lease, true, opts.ordering)
                .await?,
        ))
    }

    fn unique(&self, base: &str) -> String {
        format!("{base}-{}", self.next.fetch_add(1, Ordering::Relaxed))
    }
}

/// Every case gets a time limit, so a hang fails instead of blocking CI.
async fn run<F: Future<Output = ()>>(case: F) {
    tokio::time::timeout(Duration::from_secs(120), case)
        .await
        .expect("case timed out");
}

strata_core::pubsub_conformance! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    harness: NatsHarness::new().await,
    run: run,
    skip: {},
}

const LIMIT: Duration = Duration::from_secs(20);

async fn receive_texts(sub: &dyn SubscriptionDriver, want: usize) -> Vec<String> {
    let mut got = Vec::new();
    let started = tokio::time::Instant::now();
    while got.len() < want {
        assert!(started.elapsed() < LIMIT, "received {got:?}, want {want}");
        let deliveries = sub.receive(10, Duration::from_millis(500)).await.unwrap();
        let handles = deliveries.iter().map(|d| d.handle.clone()).collect();
        got.extend(
            deliveries
                .iter()
                .map(|d| String::from_utf8_lossy(&d.message.data).into_owned()),
        );
        sub.ack(handles).await.unwrap();
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_characters_nats_forbids_are_escaped_never_wildcards() {
    let h = NatsHarness::new().await;
    // `orders.*` would, as a subject, match `orders.x`; as a stream name it
    // is refused by the server. Escaped, each is its own literal subject.
    let wild = NatsTopic::open(&h.client, "orders.*", &h.options)
        .await
        .unwrap();
    let other = NatsTopic::open(&h.client, "orders.x", &h.options)
        .await
        .unwrap();
    let spaced = NatsTopic::open(&h.client, "all > the rest", &h.options)
        .await
        .unwrap();
    for topic in [&wild, &other, &spaced] {
        assert!(
            !topic.stream().contains(['.', '*', '>', ' ']),
            "{}",
            topic.stream()
        );
        let token = topic.subject().strip_prefix("strata.").unwrap();
        assert!(!token.contains(['.', '*', '>', ' ']), "{}", topic.subject());
    }
    assert_ne!(wild.subject(), other.subject());
    let sub = NatsSubscription::open(&h.client, &wild, "sub *.>", LIMIT, true, false)
        .await
        .unwrap();
    for (topic, text) in [(&other, "other"), (&spaced, "spaced"), (&wild, "wild")] {
        let results = topic.publish_batch(vec![OutgoingMessage::new(text)]).await;
        assert!(results[0].is_ok(), "{results:?}");
    }
    assert_eq!(receive_texts(&sub, 1).await, ["wild"]);
    let more = sub.receive(10, Duration::from_millis(500)).await.unwrap();
    assert!(more.is_empty(), "the other topics' messages leaked in");
    assert!(
        strata_nats::names::escape("").is_err(),
        "an empty name is refused"
    );
}

/// Any attribute name and value comes back as sent: those a NATS header
/// cannot carry unchanged travel in `Strata-Attributes` (nats_interop.rs says
/// what another client sees). An ordering key a header would change is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_attribute_name_and_value_round_trips() {
    let h = NatsHarness::new().await;
    let topic = NatsTopic::open(&h.client, "attrs", &h.options)
        .await
        .unwrap();
    let sub = NatsSubscription::open(&h.client, &topic, "attrs-sub", LIMIT, true, false)
        .await
        .unwrap();
    let sent = OutgoingMessage::new("ok")
        .with_attribute("kind", "fine")
        .with_attribute("Nats-Msg-Id", "1")
        .with_attribute("a b", "1")
        .with_attribute("a:b", "2")
        .with_attribute("clé.ü", "Grüße")
        .with_attribute("Strata-Attributes", "mine")
        .with_attribute("Strata-Ordering-Key", "also mine")
        .with_attribute("k", "line\r\nInjected: 1")
        .with_attribute("padded", " x ")
        .with_attribute("empty", "")
        .with_attribute("", "no name");
    let results = topic
        .publish_batch(vec![
            sent.clone(),
            OutgoingMessage::new("x").with_ordering_key("a\nb"),
            OutgoingMessage::new("x").with_ordering_key(" padded"),
        ])
        .await;
    assert!(results[0].is_ok(), "{:?}", results[0]);
    for result in &results[1..] {
        let err = result.as_ref().unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    }
    let started = tokio::time::Instant::now();
    let got = loop {
        assert!(started.elapsed() < LIMIT, "nothing delivered");
        let mut deliveries = sub.receive(1, Duration::from_millis(500)).await.unwrap();
        if let Some(delivery) = deliveries.pop() {
            break delivery.message;
        }
    };
    let want: strata_core::pubsub::Attributes = sent.attributes.into_iter().collect();
    assert_eq!(got.attributes, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_permission_denied_without_the_secret() {
    let server = PrivateNats::start(&["--user", "app", "--pass", "right-horse-battery"]);
    let mut options = NatsOptions::new(server.url());
    options.user = Some("app".into());
    options.password = Some("wrong-staple-secret".into());
    let err = NatsClient::connect(&options).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
    assert!(!err.to_string().contains("wrong-staple-secret"), "{err}");
    assert!(
        !format!("{err:?}").contains("wrong-staple-secret"),
        "{err:?}"
    );
    assert!(!format!("{options:?}").contains("wrong-staple-secret"));
    options.password = Some("right-horse-battery".into());
    NatsClient::connect(&options).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nkey_user_signs_in_and_another_key_is_permission_denied_without_the_seed() {
    let user = nkeys::KeyPair::new_user();
    let stranger = nkeys::KeyPair::new_user();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nkey.conf");
    std::fs::write(
        &config,
        format!(
            "authorization {{ users = [ {{ nkey: \"{}\" }} ] }}\n",
            user.public_key()
        ),
    )
    .unwrap();
    let server = PrivateNats::start(&["-c", config.to_str().unwrap()]);

    let mut options = NatsOptions::new(server.url());
    options.nkey_seed = Some(user.seed().unwrap());
    options.provision = true;
    let client = NatsClient::connect(&options).await.unwrap();
    let topic = NatsTopic::open(&client, "nkey-orders", &options)
        .await
        .unwrap();
    let ids = topic
        .publish_batch(vec![OutgoingMessage::new("signed")])
        .await;
    assert!(ids[0].is_ok(), "{:?}", ids[0]);

    let seed = stranger.seed().unwrap();
    options.nkey_seed = Some(seed.clone());
    let err = NatsClient::connect(&options).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
    assert!(!err.to_string().contains(&seed), "{err}");
    assert!(!format!("{err:?}").contains(&seed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_is_unavailable() {
    let mut server = PrivateNats::start(&[]);
    let options = NatsOptions::new(server.url());
    server.kill();
    let err = NatsClient::connect(&options).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_provision_a_missing_stream_or_consumer_is_not_found_naming_the_fix() {
    let h = NatsHarness::new().await;
    let plain = NatsOptions::new(h.options.servers[0].clone());
    let err = NatsTopic::open(&h.client, "absent.topic", &plain)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(
        err.message().contains("absent_2Etopic") && err.message().contains("provision"),
        "{err}"
    );
    let topic = NatsTopic::open(&h.client, "present", &h.options)
        .await
        .unwrap();
    NatsTopic::open(&h.client, "present", &plain)
        .await
        .expect("an existing stream opens without provision");
    let err = NatsSubscription::open(&h.client, &topic, "absent-sub", LIMIT, false, false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(
        err.message().contains("absent-sub") && err.message().contains("provision"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_of_another_consumer_or_subject_is_refused() {
    let h = NatsHarness::new().await;
    let topic = NatsTopic::open(&h.client, "handles", &h.options)
        .await
        .unwrap();
    let sub = NatsSubscription::open(&h.client, &topic, "s", LIMIT, true, false)
        .await
        .unwrap();
    for bad in [
        "strata.handles",
        "$JS.ACK.other.s.1.1.1.1.0",
        "$JS.ACK.handles.s.>",
        "$JS.ACK.handles.s.1",
        "$JS.ACK.handles.other.1.1.1.1.0",
        "$JS.ACK.handles.s.1.1.1.1.0 x",
        "$JS.NAK.handles.s.1.1.1.1.0",
    ] {
        let err = sub
            .ack(vec![strata_core::pubsub::DeliveryHandle(bad.into())])
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{bad}: {err}");
    }
    // A handle of the right shape for this consumer is taken (acking a
    // sequence that was never delivered is harmless to the server).
    sub.ack(vec![strata_core::pubsub::DeliveryHandle(
        "$JS.ACK.handles.s.1.1.1.1.0".into(),
    )])
    .await
    .unwrap();
}

/// What a restart run saw.
#[derive(Debug, Default)]
struct RestartReport {
    resolved: usize,
    failed: usize,
    delivered_distinct: usize,
    duplicates: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_mid_stream_loses_no_resolved_publish() {
    use std::collections::HashSet;
    use strata_core::pubsub::{Topic, TopicOptions};

    let mut server = PrivateNats::start(&[]);
    let options = NatsOptions {
        provision: true,
        ..NatsOptions::new(server.url())
    };
    let client = NatsClient::connect(&options).await.unwrap();
    let topic_driver = NatsTopic::open(&client, "restart", &options).await.unwrap();
    let sub = NatsSubscription::open(
        &client,
        &topic_driver,
        "restart-sub",
        Duration::from_secs(5),
        true,
        false,
    )
    .await
    .unwrap();
    let (subscriber, seen) = counting_subscriber("restart-sub", Arc::new(sub));
    let topic = Topic::new("restart", Arc::new(topic_driver), TopicOptions::default());

    // 10,000 messages in 100 batches; the server is down from batch 30 to 40.
    let (total, batch) = (10_000, 100);
    let mut resolved = HashSet::new();
    let mut report = RestartReport::default();
    let mut failure_codes = HashSet::new();
    let started = tokio::time::Instant::now();
    for chunk in 0..total / batch {
        if chunk == 30 {
            server.kill();
        }
        if chunk == 40 {
            server.restart();
        }
        let messages = (0..batch)
            .map(|i| OutgoingMessage::new(format!("m{}", chunk * batch + i)))
            .collect::<Vec<_>>();
        let texts: Vec<String> = messages
            .iter()
            .map(|m| String::from_utf8_lossy(&m.data).into_owned())
            .collect();
        let results = tokio::time::timeout(LIMIT, topic.publish_many(messages))
            .await
            .expect("a publish hangs past its ack timeout");
        for (text, result) in texts.into_iter().zip(results) {
            match result {
                Ok(_) => {
                    resolved.insert(text);
                }
                Err(err) => {
                    report.failed += 1;
                    failure_codes.insert(err.code());
                }
            }
        }
        if (30..40).contains(&chunk) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    report.resolved = resolved.len();
    assert!(
        started.elapsed() < Duration::from_secs(240),
        "publishing took {:?}",
        started.elapsed()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let missing = {
            let seen = seen.lock().unwrap();
            resolved.iter().filter(|t| !seen.contains_key(*t)).count()
        };
        if missing == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{missing} resolved publishes never delivered ({report:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    subscriber.shutdown().await.unwrap();
    {
        let seen = seen.lock().unwrap();
        report.delivered_distinct = seen.len();
        report.duplicates = seen.values().map(|n| n - 1).sum();
    }
    println!("server restart: {report:?}, failure codes {failure_codes:?}");
    assert!(
        report.resolved >= total - 11 * batch,
        "publishes failed outside the outage: {report:?}"
    );
    assert!(
        failure_codes
            .iter()
            .all(|code| *code == ErrorCode::Unavailable),
        "failures are typed Unavailable: {failure_codes:?}"
    );
    topic.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infra_config_opens_nats_topics_and_dead_letters_through_the_engine() {
    use futures::FutureExt;
    use strata_core::config::{LoadedConfig, parse_config};
    use strata_core::pubsub::{Handler, HandlerError, Message};
    use strata_infra::{Infra, SubscribeOptions, registry};
    use tokio::sync::mpsc;

    let server = PrivateNats::start(&["--user", "app", "--pass", "s3cret-pass"]);
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    // The password comes from the environment through `$env`.
    let var = format!("STRATA_TEST_NATS_PASSWORD_{}", std::process::id());
    let text = format!(
        r#"{{
        "pubsub": {{
            "orders": {{ "provider": "nats", "name": "orders v1.*",
                "servers": ["{url}"], "user": "app", "password": {{ "$env": "{var}" }},
                "provision": true, "storage": "file", "retention": "interest",
                "subscriptions": {{
                    "billing": {{ "max_attempts": 2, "dead_letter_topic": "orders-dlq",
                                  "min_backoff_ms": 10, "max_backoff_ms": 50, "lease_seconds": 5 }}
            }} }},
            "orders-dlq": {{ "provider": "nats", "servers": ["{url}"], "user": "app",
                "password": {{ "$env": "{var}" }}, "provision": true,
                "subscriptions": {{ "audit": {{}} }} }}
        }}
    }}"#
    );
    let lookup = |name: &str| (name == var).then(|| "s3cret-pass".to_owned());
    let loaded = LoadedConfig {
        config: parse_config(&text, "nats.json", registry(), &lookup).unwrap(),
        base_dir: dir.path().to_path_buf(),
        file: None,
    };
    let infra = Infra::from_config(loaded).await.unwrap();

    let forward = |tx: mpsc::UnboundedSender<Message>, fail: bool| -> Handler {
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
    };
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
        let msg = tokio::time::timeout(LIMIT, dead_rx.recv())
            .await
            .expect("dead letters arrive")
            .unwrap();
        assert!(msg.attributes.contains_key("n"), "{:?}", msg.attributes);
        dead.push(String::from_utf8(msg.data.to_vec()).unwrap());
    }
    dead.sort();
    assert_eq!(dead, ["order-0", "order-1", "order-2"]);
    let mut attempts = 0;
    while let Ok(Some(msg)) =
        tokio::time::timeout(Duration::from_millis(300), failing_rx.recv()).await
    {
        assert!(
            msg.delivery_attempt <= 2,
            "attempt {}",
            msg.delivery_attempt
        );
        attempts += 1;
    }
    assert_eq!(attempts, 6, "each message tried max_attempts (2) times");
    infra.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering_is_claimed_only_by_a_one_at_a_time_consumer() {
    let h = NatsHarness::new().await;
    let topic = NatsTopic::open(&h.client, "ordered", &h.options)
        .await
        .unwrap();
    let ordered = NatsSubscription::open(&h.client, &topic, "in-order", LIMIT, true, true)
        .await
        .unwrap();
    assert!(ordered.capabilities().ordering);
    let plain = NatsSubscription::open(&h.client, &topic, "any-order", LIMIT, true, false)
        .await
        .unwrap();
    assert!(!plain.capabilities().ordering);
    // Opened again without the ordering request, an ordered consumer still
    // orders (and says so); the reverse would be a lie, so it is refused.
    let again = NatsSubscription::open(&h.client, &topic, "in-order", LIMIT, false, false)
        .await
        .unwrap();
    assert!(again.capabilities().ordering);
    let err = NatsSubscription::open(&h.client, &topic, "any-order", LIMIT, true, true)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
    assert!(err.message().contains("max_ack_pending"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_file_round_trips_and_an_unknown_ca_is_refused() {
    let certs = tempfile::tempdir().unwrap();
    redis_tls::make_certs(certs.path());
    let path = |file: &str| certs.path().join(file).to_string_lossy().into_owned();
    let (cert, key) = (path(redis_tls::CERT_FILE), path(redis_tls::KEY_FILE));
    let server = PrivateNats::start(&["--tls", "--tlscert", &cert, "--tlskey", &key]);
    let mut options = NatsOptions {
        provision: true,
        ..NatsOptions::new(server.url())
    };
    // The system roots do not know the test CA.
    options.tls_required = true;
    let err = NatsClient::connect(&options).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
    options.tls_ca_file = Some(certs.path().join(redis_tls::CA_FILE));
    let client = NatsClient::connect(&options).await.unwrap();
    let topic = NatsTopic::open(&client, "tls", &options).await.unwrap();
    let sub = NatsSubscription::open(&client, &topic, "tls-sub", LIMIT, true, false)
        .await
        .unwrap();
    let results = topic
        .publish_batch(vec![OutgoingMessage::new("over tls")])
        .await;
    assert!(results[0].is_ok(), "{results:?}");
    assert_eq!(receive_texts(&sub, 1).await, ["over tls"]);
}
