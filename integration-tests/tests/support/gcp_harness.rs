//! Harnesses that run the conformance suites against the GCP emulators:
//! Google's Pub/Sub emulator and fake-gcs-server. Clients, unique names,
//! and where the emulators differ from Google Cloud.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use strata_core::Result;
use strata_core::objects::Bucket;
use strata_core::pubsub::{SubscriptionDriver, TopicDriver};
use strata_core::testkit::objects::ObjectsHarness;
use strata_core::testkit::pubsub::{HarnessSubscriptionOptions, PubSubHarness};
use strata_gcp::{
    GcpClients, GcpCredentials, GcpSettings, GcsBucket, GcsBucketOptions, PubSubDeadLetter,
    PubSubSubscription, PubSubSubscriptionOptions, PubSubTopic,
};
use strata_integration_tests::emulator::{EmulatorEndpoint, UniqueNames};

/// The project the tests use; the emulators accept any.
pub const PROJECT: &str = "strata-test";

/// One emulator the tests run against.
pub type Emulator = EmulatorEndpoint;

/// Google's Pub/Sub emulator.
pub const PUBSUB: Emulator = Emulator {
    name: "pubsub",
    env: "STRATA_TEST_PUBSUB_ENDPOINT",
    default_endpoint: "http://127.0.0.1:8085",
};

/// fake-gcs-server.
pub const GCS: Emulator = Emulator {
    name: "gcs",
    env: "STRATA_TEST_GCS_ENDPOINT",
    default_endpoint: "http://127.0.0.1:4443",
};

/// Settings for both emulators: their endpoints, no credentials, provisioning on.
pub fn settings() -> GcpSettings {
    GcpSettings {
        project: PROJECT.into(),
        pubsub_endpoint: Some(PUBSUB.endpoint()),
        storage_endpoint: Some(GCS.endpoint()),
        credentials: GcpCredentials::Anonymous,
        provision: true,
        ..GcpSettings::default()
    }
}

/// Clients for the emulator `emulator`; fails the test, saying how to start
/// it, when nothing answers at its endpoint.
pub async fn clients(emulator: &Emulator) -> GcpClients {
    emulator.check_reachable().await;
    GcpClients::connect(&settings())
        .await
        .unwrap_or_else(|err| panic!("clients for {}: {err}", emulator.name))
}

/// Unique resource names (shared with the AWS harness).
pub type Names = UniqueNames;

/// Pub/Sub topics and subscriptions on the emulator.
pub struct GcpPubSubHarness {
    clients: GcpClients,
    names: Names,
    topics: Mutex<HashMap<String, PubSubTopic>>,
}

impl GcpPubSubHarness {
    pub async fn new() -> Self {
        Self {
            clients: clients(&PUBSUB).await,
            names: Names::new(),
            topics: Mutex::default(),
        }
    }

    pub fn clients(&self) -> &GcpClients {
        &self.clients
    }

    /// The topic `name`, opened (and provisioned) once.
    pub async fn pubsub_topic(&self, name: &str) -> Result<PubSubTopic> {
        if let Some(topic) = self.topics.lock().unwrap().get(name) {
            return Ok(topic.clone());
        }
        let topic = PubSubTopic::open(&self.clients, name, true).await?;
        let mut topics = self.topics.lock().unwrap();
        Ok(topics.entry(name.to_owned()).or_insert(topic).clone())
    }
}

#[async_trait]
impl PubSubHarness for GcpPubSubHarness {
    async fn topic(&self, name: &str) -> Result<Arc<dyn TopicDriver>> {
        Ok(Arc::new(self.pubsub_topic(name).await?))
    }

    async fn subscription(
        &self,
        topic: &str,
        name: &str,
        opts: &HarnessSubscriptionOptions,
    ) -> Result<Arc<dyn SubscriptionDriver>> {
        let parent = self.pubsub_topic(topic).await?;
        // Pub/Sub dead-letters natively to a topic, whatever its subscriptions.
        let dead_letter = match &opts.dead_letter_topic {
            Some(dl) => Some(PubSubDeadLetter {
                topic: self.pubsub_topic(dl).await?,
                max_attempts: opts.max_attempts.unwrap_or(5),
            }),
            None => None,
        };
        let sub_opts = PubSubSubscriptionOptions {
            lease: opts.lease,
            ordering: opts.ordering,
            dead_letter,
            provision: true,
            ..PubSubSubscriptionOptions::default()
        };
        let sub = PubSubSubscription::open(&self.clients, &parent, name, &sub_opts).await?;
        Ok(Arc::new(sub))
    }

    fn unique(&self, base: &str) -> String {
        self.names.unique(base)
    }

    fn patience(&self) -> Duration {
        Duration::from_secs(45)
    }
}

/// Fresh buckets on fake-gcs-server.
pub struct GcpObjectsHarness {
    clients: GcpClients,
    names: Names,
}

impl GcpObjectsHarness {
    pub async fn new() -> Self {
        Self {
            clients: clients(&GCS).await,
            names: Names::new(),
        }
    }

    /// A fresh bucket's driver and name.
    pub async fn gcs_bucket(&self) -> (String, GcsBucket) {
        let name = self.names.unique("b");
        let opts = GcsBucketOptions {
            provision: true,
            // fake-gcs-server ignores ifGenerationMatch on copyTo/rewriteTo.
            server_side_conditional_copy: false,
            ..GcsBucketOptions::default()
        };
        let bucket = GcsBucket::open(&self.clients, &name, opts)
            .await
            .unwrap_or_else(|err| panic!("bucket `{name}`: {err}"));
        (name, bucket)
    }
}

#[async_trait]
impl ObjectsHarness for GcpObjectsHarness {
    async fn bucket(&self) -> Bucket {
        let (name, driver) = self.gcs_bucket().await;
        Bucket::new(name, Arc::new(driver))
    }
}
