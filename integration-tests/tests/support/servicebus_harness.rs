//! The harness that runs the pub/sub conformance suite on a private Service
//! Bus emulator: one emulator per harness (per case), one namespace
//! connection, topics and subscriptions created through the management API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use strata_azure::{
    ServiceBusAccount, ServiceBusNamespace, ServiceBusSettings, ServiceBusSubscription,
    ServiceBusSubscriptionOptions, ServiceBusTopic,
};
use strata_core::Result;
use strata_core::pubsub::{SubscriptionDriver, TopicDriver};
use strata_core::testkit::pubsub::{HarnessSubscriptionOptions, PubSubHarness};
use strata_integration_tests::emulator::UniqueNames;

use super::servicebus_emulator::PrivateServiceBus;

/// `providers.azure.service_bus` for `emulator`.
pub fn account(emulator: &PrivateServiceBus) -> ServiceBusAccount {
    ServiceBusAccount {
        connection_string: Some(emulator.connection_string()),
        ..ServiceBusAccount::default()
    }
}

/// A namespace connection to `emulator`.
pub fn namespace(emulator: &PrivateServiceBus) -> Arc<ServiceBusNamespace> {
    let settings = ServiceBusSettings::from_account(&account(emulator))
        .unwrap_or_else(|err| panic!("settings for the emulator: {err}"));
    Arc::new(ServiceBusNamespace::new(settings))
}

/// Topics and subscriptions on a private emulator.
pub struct ServiceBusHarness {
    // Dropped last: the namespace's links close before the emulator goes.
    namespace: Arc<ServiceBusNamespace>,
    names: UniqueNames,
    topics: Mutex<HashMap<String, ServiceBusTopic>>,
    _emulator: PrivateServiceBus,
}

impl ServiceBusHarness {
    pub async fn new() -> Self {
        let emulator = PrivateServiceBus::start();
        Self {
            namespace: namespace(&emulator),
            names: UniqueNames::new(),
            topics: Mutex::default(),
            _emulator: emulator,
        }
    }

    /// The topic `name`, opened (and provisioned) once.
    pub async fn servicebus_topic(&self, name: &str) -> Result<ServiceBusTopic> {
        if let Some(topic) = self.topics.lock().unwrap().get(name) {
            return Ok(topic.clone());
        }
        let topic = ServiceBusTopic::open(self.namespace.clone(), name, true).await?;
        let mut topics = self.topics.lock().unwrap();
        Ok(topics.entry(name.to_owned()).or_insert(topic).clone())
    }
}

#[async_trait]
impl PubSubHarness for ServiceBusHarness {
    async fn topic(&self, name: &str) -> Result<Arc<dyn TopicDriver>> {
        Ok(Arc::new(self.servicebus_topic(name).await?))
    }

    async fn subscription(
        &self,
        topic: &str,
        name: &str,
        opts: &HarnessSubscriptionOptions,
    ) -> Result<Arc<dyn SubscriptionDriver>> {
        let parent = self.servicebus_topic(topic).await?;
        // As the provider does: with a dead-letter topic the engine
        // publishes dead letters there (the emulator does not forward a
        // dead-letter queue); without one, explicit dead-lettering goes to
        // the subscription's own `$DeadLetterQueue`.
        let sub_opts = ServiceBusSubscriptionOptions {
            lease: opts.lease,
            provision: true,
            ordering: opts.ordering,
            explicit_dead_letter: opts.dead_letter_topic.is_none(),
            max_delivery_count: opts.max_attempts.map_or(2000, |n| n + 10),
            ..ServiceBusSubscriptionOptions::default()
        };
        Ok(Arc::new(
            ServiceBusSubscription::open(&parent, name, &sub_opts).await?,
        ))
    }

    fn unique(&self, base: &str) -> String {
        self.names.unique(base)
    }

    fn patience(&self) -> Duration {
        Duration::from_secs(45)
    }
}
