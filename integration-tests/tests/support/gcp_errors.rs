//! The errors a user of the GCP provider meets, against the emulators:
//! invalid names, missing resources without `provision`, a subscription that
//! cannot be what the config asks, a missing project, and `Infra` built from
//! a config with the `gcp` provider (and the example config parses).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use strata_core::ErrorCode;
use strata_core::config::parse_config;
use strata_core::pubsub::{
    DeadLetterPolicy, Handler, HandlerError, Message, OutgoingMessage, RetryPolicy, Subscriber,
    SubscriberOptions, Topic, TopicOptions, handler_fn,
};
use strata_core::testkit::pubsub::{HarnessSubscriptionOptions, PubSubHarness};
use strata_gcp::{
    GcpClients, GcpCredentials, GcpSettings, GcsBucket, GcsBucketOptions, PubSubSubscription,
    PubSubSubscriptionOptions, PubSubTopic,
};
use strata_infra::{Infra, SubscribeOptions, registry};
use strata_integration_tests::config::loaded_config;
use tokio::sync::mpsc;

use super::gcp_harness::{GCS, GcpPubSubHarness, Names, PROJECT, PUBSUB, settings};

const LIMIT: Duration = Duration::from_secs(30);

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took over {LIMIT:?}"))
}

/// Clients for the Pub/Sub emulator that create nothing.
async fn without_provision() -> GcpClients {
    PUBSUB.check_reachable().await;
    let settings = GcpSettings {
        provision: false,
        ..settings()
    };
    GcpClients::connect(&settings).await.unwrap()
}

pub async fn invalid_names_are_invalid_argument_before_any_request() {
    let h = GcpPubSubHarness::new().await;
    for bad in ["t1", "9lives", "goog-topic", "with space"] {
        let err = bounded("open", PubSubTopic::open(h.clients(), bad, true))
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{bad}: {err}");
        assert!(err.message().contains(bad), "{err}");
    }
    let topic = bounded("open", h.pubsub_topic(&h.unique("named")))
        .await
        .unwrap();
    let opts = PubSubSubscriptionOptions {
        provision: true,
        ..Default::default()
    };
    let err = bounded(
        "open",
        PubSubSubscription::open(h.clients(), &topic, "s", &opts),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
}

pub async fn missing_topic_and_subscription_without_provision_are_not_found() {
    let clients = without_provision().await;
    let names = Names::new();
    let err = bounded(
        "open",
        PubSubTopic::open(&clients, &names.unique("absent"), false),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(
        err.message().contains("provision"),
        "says how to fix: {err}"
    );

    let h = GcpPubSubHarness::new().await;
    let topic = bounded("open", h.pubsub_topic(&h.unique("present")))
        .await
        .unwrap();
    let opts = PubSubSubscriptionOptions::default();
    let err = bounded(
        "open",
        PubSubSubscription::open(&clients, &topic, &names.unique("absent-sub"), &opts),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(
        err.message().contains("provision"),
        "says how to fix: {err}"
    );
}

pub async fn a_subscription_that_cannot_be_what_is_asked_is_invalid_config() {
    let h = GcpPubSubHarness::new().await;
    let topic = bounded("open", h.pubsub_topic(&h.unique("fixed")))
        .await
        .unwrap();
    let other = bounded("open", h.pubsub_topic(&h.unique("other")))
        .await
        .unwrap();
    let name = h.unique("unordered");
    let plain = PubSubSubscriptionOptions {
        provision: true,
        ..Default::default()
    };
    bounded(
        "open",
        PubSubSubscription::open(h.clients(), &topic, &name, &plain),
    )
    .await
    .unwrap();
    let ordered = PubSubSubscriptionOptions {
        ordering: true,
        ..plain.clone()
    };
    let err = bounded(
        "open",
        PubSubSubscription::open(h.clients(), &topic, &name, &ordered),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
    assert!(err.message().contains("ordering"), "{err}");
    let err = bounded(
        "open",
        PubSubSubscription::open(h.clients(), &other, &name, &plain),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
}

pub async fn a_missing_project_is_invalid_config() {
    let err = GcpSettings::from_account_and_env(&strata_gcp::GcpAccount::default(), |_| None)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
    assert!(err.message().contains("project"), "{err}");
}

fn forward(tx: mpsc::UnboundedSender<Message>) -> Handler {
    Arc::new(move |msg: Message| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(msg);
            Ok(())
        }
        .boxed()
    })
}

pub async fn infra_from_a_gcp_config_stores_publishes_and_delivers() {
    PUBSUB.check_reachable().await;
    let dir = tempfile::tempdir().unwrap();
    let names = Names::new();
    let (topic, sub) = (names.unique("orders"), names.unique("billing"));
    GCS.check_reachable().await;
    let (endpoint, storage) = (PUBSUB.endpoint(), GCS.endpoint());
    let bucket_name = names.unique("uploads");
    let text = format!(
        r#"{{
        "providers": {{ "gcp": {{ "project": "{PROJECT}",
            "endpoints": {{ "pubsub": "{endpoint}", "storage": "{storage}" }},
            "provision": true }} }},
        "objects": {{ "uploads": {{ "provider": "gcp", "name": "{bucket_name}" }} }},
        "pubsub": {{
            "orders": {{ "provider": "gcp", "name": "{topic}", "ordering": true, "subscriptions": {{
                "billing": {{ "name": "{sub}" }}
            }} }}
        }}
    }}"#
    );
    let loaded = loaded_config(&text, dir.path(), "gcp-infra.json");
    let infra = bounded("Infra::from_config", Infra::from_config(loaded))
        .await
        .unwrap_or_else(|e| panic!("cannot build Infra on the Pub/Sub emulator: {e}"));
    let bucket = infra.bucket("uploads").unwrap();
    bounded(
        "upload",
        bucket.upload("a/b.txt", "hello", Default::default()),
    )
    .await
    .unwrap();
    let body = bounded("download", bucket.download("a/b.txt"))
        .await
        .unwrap();
    assert_eq!(&body[..], b"hello");
    let (tx, mut rx) = mpsc::unbounded_channel();
    infra
        .subscribe(
            "orders",
            "billing",
            forward(tx),
            SubscribeOptions::default(),
        )
        .unwrap();
    let orders = infra.topic("orders").unwrap();
    for i in 0..5 {
        let message = OutgoingMessage::new(format!("order-{i}"))
            .with_attribute("n", i.to_string())
            .with_ordering_key("customer-1");
        bounded("publish", orders.publish(message)).await.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 5 {
        let msg = bounded("delivery", rx.recv()).await.unwrap();
        got.push(String::from_utf8_lossy(&msg.data).into_owned());
    }
    let want: Vec<String> = (0..5).map(|i| format!("order-{i}")).collect();
    assert_eq!(got, want, "one ordering key arrives in order");
    bounded("close", infra.close()).await.unwrap();
}

pub async fn the_example_config_parses_with_this_build() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/configs/gcp-emulators.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let env = |name: &str| Some(format!("http://127.0.0.1/{name}"));
    let config = parse_config(&text, path, registry(), &env).unwrap();
    let gcp: strata_gcp::GcpAccount = config.providers["gcp"]
        .parse("providers.gcp", registry())
        .unwrap();
    let settings = GcpSettings::from_account(&gcp).unwrap();
    assert_eq!(settings.project, "strata-demo");
    assert!(settings.provision);
}

pub async fn bad_credentials_are_invalid_config_naming_the_field() {
    let settings = GcpSettings {
        credentials: GcpCredentials::ServiceAccountJson("not a key".into()),
        ..settings()
    };
    let clients = GcpClients::connect(&settings).await.unwrap();
    let names = Names::new();
    let err = bounded(
        "open",
        PubSubTopic::open(&clients, &names.unique("creds"), true),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
    assert!(err.message().contains("service_account_json"), "{err}");
    let opts = GcsBucketOptions {
        provision: true,
        ..GcsBucketOptions::default()
    };
    let err = bounded(
        "open",
        GcsBucket::open(&clients, &names.unique("creds"), opts),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
    assert!(err.message().contains("credentials"), "{err}");
}

pub async fn nothing_listening_at_the_endpoint_is_unavailable() {
    // A port nothing listens on: connections are refused at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let settings = GcpSettings {
        pubsub_endpoint: Some(endpoint.clone()),
        storage_endpoint: Some(endpoint.clone()),
        ..settings()
    };
    let clients = GcpClients::connect(&settings).await.unwrap();
    let names = Names::new();
    let err = bounded(
        "open",
        PubSubTopic::open(&clients, &names.unique("nowhere"), true),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err.code(), ErrorCode::Unavailable | ErrorCode::Timeout),
        "{err}"
    );
    assert!(err.message().contains(&endpoint), "says where: {err}");
    let err = bounded(
        "open",
        GcsBucket::open(
            &clients,
            &names.unique("nowhere"),
            GcsBucketOptions::default(),
        ),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err.code(), ErrorCode::Unavailable | ErrorCode::Timeout),
        "{err}"
    );
    assert!(err.message().contains(&endpoint), "says where: {err}");
}

pub async fn an_ordered_subscription_dead_letters_a_poison_message_and_goes_on() {
    let h = GcpPubSubHarness::new().await;
    let (name, dl_name) = (h.unique("ordered-dl"), h.unique("dead"));
    let driver = bounded("topic", h.topic(&name)).await.unwrap();
    let dl_driver = bounded("topic", h.topic(&dl_name)).await.unwrap();
    let plain = HarnessSubscriptionOptions::default();
    let dl_sub = bounded(
        "sub",
        h.subscription(&dl_name, &h.unique("dead-sub"), &plain),
    )
    .await
    .unwrap();
    let opts = HarnessSubscriptionOptions {
        ordering: true,
        dead_letter_topic: Some(dl_name.clone()),
        max_attempts: Some(5),
        ..HarnessSubscriptionOptions::default()
    };
    let sub = bounded(
        "sub",
        h.subscription(&name, &h.unique("ordered-dl-sub"), &opts),
    )
    .await
    .unwrap();
    let caps = sub.capabilities().clone();
    assert!(caps.ordering && caps.delivery_attempts, "{caps:?}");
    assert!(
        !caps.native_dead_letter,
        "keyed retries stay in the consumer, so the engine dead-letters: {caps:?}"
    );

    let dl_topic = Topic::new(&dl_name, dl_driver, TopicOptions::default());
    let handled: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = handled.clone();
    let handler = handler_fn(move |message| {
        let seen = seen.clone();
        async move {
            let text = String::from_utf8_lossy(&message.data).into_owned();
            if text == "poison" {
                return Err(HandlerError::from("poison always fails"));
            }
            seen.lock().unwrap().push(text);
            Ok(())
        }
    });
    let quick = SubscriberOptions {
        retry: RetryPolicy {
            min_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        },
        receive_wait: Duration::from_millis(200),
        ..SubscriberOptions::default()
    };
    let subscriber = Subscriber::start(
        "ordered-dl",
        sub,
        handler,
        SubscriberOptions {
            dead_letter: Some(DeadLetterPolicy {
                max_attempts: 5,
                topic: Some(dl_topic.clone()),
            }),
            ..quick.clone()
        },
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let dl_subscriber = Subscriber::start("dead", dl_sub, forward(tx), quick);

    let topic = Topic::new(&name, driver, TopicOptions::default());
    for text in ["m0", "poison", "m2", "m3"] {
        let message = OutgoingMessage::new(text).with_ordering_key("k");
        bounded("publish", topic.publish(message)).await.unwrap();
    }
    let letter = bounded("dead letter", rx.recv()).await.unwrap();
    assert_eq!(&letter.data[..], b"poison");
    let started = std::time::Instant::now();
    while handled.lock().unwrap().len() < 3 {
        assert!(started.elapsed() < LIMIT, "{:?}", handled.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = bounded("shutdown", subscriber.shutdown_with_stats())
        .await
        .unwrap();
    bounded("shutdown", dl_subscriber.shutdown()).await.unwrap();
    assert_eq!(
        *handled.lock().unwrap(),
        ["m0", "m2", "m3"],
        "the key went on in order"
    );
    assert_eq!(stats.dead_lettered, 1, "{stats:?}");
}
