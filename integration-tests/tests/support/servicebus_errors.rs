//! Service Bus behaviour beyond the conformance suite: the provider through
//! `Infra` from a config, and the errors a user sees for a wrong key, a
//! missing entity and a bad name.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use strata_azure::{
    ServiceBusAccount, ServiceBusNamespace, ServiceBusSettings, ServiceBusSubscription,
    ServiceBusSubscriptionOptions, ServiceBusTopic,
};
use strata_core::ErrorCode;
use strata_core::config::parse_config;
use strata_core::pubsub::{Handler, Message, OutgoingMessage};
use strata_infra::{Infra, SubscribeOptions, registry};
use strata_integration_tests::config::loaded_config;
use strata_integration_tests::emulator::UniqueNames;
use tokio::sync::mpsc;

use super::servicebus_emulator::{KEY, PrivateServiceBus};
use super::servicebus_harness::namespace;

const LIMIT: Duration = Duration::from_secs(30);

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took over {LIMIT:?}"))
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

pub async fn infra_from_an_azure_config_publishes_and_delivers_in_key_order() {
    let emulator = PrivateServiceBus::start();
    let dir = tempfile::tempdir().unwrap();
    let names = UniqueNames::new();
    let (topic, sub) = (names.unique("orders"), names.unique("billing"));
    let cs = emulator.connection_string();
    let text = format!(
        r#"{{
        "providers": {{ "azure": {{ "service_bus": {{ "connection_string": "{cs}" }},
            "provision": true }} }},
        "pubsub": {{
            "orders": {{ "provider": "azure", "name": "{topic}", "ordering": true,
                "subscriptions": {{ "billing": {{ "name": "{sub}" }} }} }}
        }}
    }}"#
    );
    let loaded = loaded_config(&text, dir.path(), "azure-infra.json");
    let infra = bounded("Infra::from_config", Infra::from_config(loaded))
        .await
        .unwrap_or_else(|e| panic!("cannot build Infra on the Service Bus emulator: {e}"));
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
        assert_eq!(msg.ordering_key.as_deref(), Some("customer-1"));
        assert_eq!(msg.attributes.get("n"), Some(&got.len().to_string()));
        assert_eq!(msg.delivery_attempt, 1);
        got.push(String::from_utf8_lossy(&msg.data).into_owned());
    }
    let want: Vec<String> = (0..5).map(|i| format!("order-{i}")).collect();
    assert_eq!(got, want, "one ordering key arrives in order");
    bounded("close", infra.close()).await.unwrap();
}

pub async fn a_wrong_key_is_permission_denied_naming_the_namespace_never_the_key() {
    let emulator = PrivateServiceBus::start();
    let wrong = "not-the-key-3f9a";
    let settings = ServiceBusSettings::from_account(&ServiceBusAccount {
        connection_string: Some(emulator.connection_string_with_key(wrong)),
        ..ServiceBusAccount::default()
    })
    .unwrap();
    let ns = Arc::new(ServiceBusNamespace::new(settings));
    let err = bounded("open", ServiceBusTopic::open(ns.clone(), "orders", true))
        .await
        .expect_err("a wrong key opened a topic");
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
    assert!(err.message().contains("127.0.0.1"), "{err}");
    assert!(!err.message().contains(wrong), "{err}");
    assert!(!format!("{err:?}").contains(wrong), "{err:?}");
    // The AMQP side (CBS put-token) says the same.
    let err = bounded("attach", ns.attach_sender("orders"))
        .await
        .expect_err("a wrong key attached a sender");
    assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
    assert!(err.message().contains("127.0.0.1"), "{err}");
    assert!(!err.message().contains(wrong), "{err}");
    assert!(!err.message().contains(KEY), "{err}");
}

pub async fn missing_topic_and_subscription_without_provision_are_not_found() {
    let emulator = PrivateServiceBus::start();
    let ns = namespace(&emulator);
    let err = bounded("open", ServiceBusTopic::open(ns.clone(), "absent", false))
        .await
        .expect_err("a missing topic opened");
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(err.message().contains("`absent`"), "{err}");
    assert!(err.message().contains("provision"), "{err}");
    let topic = bounded("open", ServiceBusTopic::open(ns, "present", true))
        .await
        .unwrap();
    let opts = ServiceBusSubscriptionOptions::default();
    let err = bounded(
        "open",
        ServiceBusSubscription::open(&topic, "absent-sub", &opts),
    )
    .await
    .err()
    .expect("a missing subscription opened");
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(err.message().contains("`absent-sub`"), "{err}");
}

pub async fn invalid_names_are_refused_at_load() {
    let text = r#"{
        "providers": { "azure": { "service_bus": { "connection_string":
            "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true" } } },
        "pubsub": { "orders": { "provider": "azure", "name": "bad name",
            "subscriptions": { "billing": {} } } }
    }"#;
    let err = parse_config(text, "bad.json", registry(), &|_| None).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
    assert!(err.message().contains("pubsub.orders.name"), "{err}");
    assert!(err.message().contains("Service Bus topic name"), "{err}");
}

/// `examples/configs/azure-emulators.json` (Service Bus emulator, Azurite,
/// Redis, PostgreSQL) parses with this build, and its pub/sub entry opens
/// on a private emulator: the topic and subscription are provisioned.
pub async fn the_emulators_example_config_parses_and_its_pubsub_opens() {
    let emulator = PrivateServiceBus::start();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/configs/azure-emulators.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let cs = emulator.connection_string();
    let env = |name: &str| match name {
        "STRATA_TEST_SERVICEBUS_CONNECTION_STRING" => Some(cs.clone()),
        "STRATA_TEST_AZURITE_BLOB_ENDPOINT" => {
            Some("http://127.0.0.1:10000/devstoreaccount1".into())
        }
        "STRATA_REDIS_URL" => Some("redis://127.0.0.1:6379".into()),
        "STRATA_POSTGRES_URL" => Some("postgres://postgres@127.0.0.1:5432/postgres".into()),
        _ => None,
    };
    let config = parse_config(&text, path, registry(), &env).unwrap();
    let azure: strata_azure::AzureAccount = config.providers["azure"]
        .parse("providers.azure", registry())
        .unwrap();
    let settings = strata_azure::AzureSettings::from_account(&azure).unwrap();
    assert!(settings.provision);
    let bus = settings
        .service_bus
        .clone()
        .expect("the Service Bus namespace");
    assert_eq!(
        bus.amqp_url(),
        format!("amqp://127.0.0.1:{}", emulator.port())
    );
    let clients = strata_azure::AzureClients::connect(&settings)
        .await
        .unwrap();
    let topic = bounded(
        "open topic",
        ServiceBusTopic::open(clients.service_bus().unwrap(), "strata-demo-uploads", true),
    )
    .await
    .unwrap();
    let opts = ServiceBusSubscriptionOptions {
        provision: true,
        ..ServiceBusSubscriptionOptions::default()
    };
    bounded(
        "open subscription",
        ServiceBusSubscription::open(&topic, "strata-demo-thumbnailer", &opts),
    )
    .await
    .unwrap();
}
