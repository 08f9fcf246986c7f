//! Harnesses that run the conformance suites against an AWS emulator
//! (LocalStack or moto): clients, unique names, and each emulator's
//! capability overrides.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use strata_aws::{
    AwsClients, AwsCredentials, AwsSettings, S3Bucket, S3BucketOptions, SnsTopic, SqsDeadLetter,
    SqsSubscription, SqsSubscriptionOptions,
};
use strata_core::Result;
use strata_core::objects::Bucket;
use strata_core::pubsub::{SubscriptionDriver, TopicDriver};
use strata_core::testkit::objects::ObjectsHarness;
use strata_core::testkit::pubsub::{HarnessSubscriptionOptions, PubSubHarness};
use strata_integration_tests::emulator::{EmulatorEndpoint, UniqueNames};

/// One AWS emulator the tests run against.
#[derive(Debug, Clone, Copy)]
pub struct Emulator {
    /// Its name in `localstack/emulators`.
    pub name: &'static str,
    /// The variable holding its endpoint (printed by `localstack/emulators env`).
    pub env: &'static str,
    /// Where `localstack/emulators up` starts it by default.
    pub default_endpoint: &'static str,
    /// Whether its FIFO queues keep a message group in order across
    /// redeliveries; when not, the harness makes no FIFO topics, so the
    /// subscriptions do not claim `ordering` and the ordering case checks
    /// delivery and keys but not the order.
    pub fifo_ordering: bool,
    /// Whether objects are private to their owner, as on S3 (anonymous reads
    /// are denied).
    pub private_objects: bool,
    /// The longest single wait of a pub/sub case.
    pub patience: Duration,
    /// How many messages `batch_publish_many` publishes.
    pub bulk_messages: usize,
}

impl Emulator {
    /// Where the emulator answers.
    pub fn at(&self) -> EmulatorEndpoint {
        EmulatorEndpoint {
            name: self.name,
            env: self.env,
            default_endpoint: self.default_endpoint,
        }
    }

    /// The emulator's endpoint.
    pub fn endpoint(&self) -> String {
        self.at().endpoint()
    }

    /// Settings for the emulator: its endpoint, test keys, provisioning on.
    pub fn settings(&self) -> AwsSettings {
        AwsSettings {
            region: Some("us-east-1".into()),
            endpoint: Some(self.endpoint()),
            credentials: AwsCredentials::Static {
                access_key_id: "test".into(),
                secret_access_key: "test".into(),
                session_token: None,
            },
            provision: true,
            ..AwsSettings::default()
        }
    }

    /// Clients for the emulator; fails the test, saying how to start it,
    /// when nothing answers at its endpoint.
    pub async fn clients(&self) -> AwsClients {
        self.check_reachable().await;
        AwsClients::connect(&self.settings())
            .await
            .unwrap_or_else(|err| panic!("clients for {}: {err}", self.name))
    }

    /// Panics with how to start the emulator when its port is closed.
    pub async fn check_reachable(&self) {
        self.at().check_reachable().await;
    }
}

/// Unique resource names (shared with the GCP harness).
pub type Names = UniqueNames;

/// The base name of the suite's ordering case's topic. SNS fixes ordering per
/// topic (FIFO) when the topic is created, but the suite asks for ordering
/// only when it makes the subscription, so the harness makes the topics of
/// that case FIFO by their name.
const ORDERED_BASE: &str = "ordered";

/// Pub/sub resources on an emulator: SNS topics and SQS subscriptions.
pub struct AwsPubSubHarness {
    emulator: Emulator,
    clients: AwsClients,
    names: Names,
    fifo: Mutex<HashSet<String>>,
    topics: Mutex<HashMap<String, SnsTopic>>,
    /// The queues made for each topic, for native dead-lettering.
    queues: Mutex<HashMap<String, Vec<String>>>,
}

impl AwsPubSubHarness {
    pub async fn new(emulator: &Emulator) -> Self {
        Self {
            emulator: *emulator,
            clients: emulator.clients().await,
            names: Names::new(),
            fifo: Mutex::default(),
            topics: Mutex::default(),
            queues: Mutex::default(),
        }
    }

    /// The SNS topic `name`, opened (and provisioned) once.
    pub async fn sns_topic(&self, name: &str) -> Result<SnsTopic> {
        if let Some(topic) = self.topics.lock().unwrap().get(name) {
            return Ok(topic.clone());
        }
        let fifo = self.fifo.lock().unwrap().contains(name);
        let topic = SnsTopic::open(&self.clients, name, fifo, true).await?;
        let mut topics = self.topics.lock().unwrap();
        Ok(topics.entry(name.to_owned()).or_insert(topic).clone())
    }
}

#[async_trait]
impl PubSubHarness for AwsPubSubHarness {
    async fn topic(&self, name: &str) -> Result<Arc<dyn TopicDriver>> {
        Ok(Arc::new(self.sns_topic(name).await?))
    }

    async fn subscription(
        &self,
        topic: &str,
        name: &str,
        opts: &HarnessSubscriptionOptions,
    ) -> Result<Arc<dyn SubscriptionDriver>> {
        let sns = self.sns_topic(topic).await?;
        // Native redrive moves a dead letter into one queue: used when the
        // dead-letter topic has exactly one subscription (else the engine
        // publishes to the topic, and every subscription gets it).
        let mut dead_letter = None;
        if let Some(dl_topic) = &opts.dead_letter_topic {
            let queues = self.queues.lock().unwrap().get(dl_topic).cloned();
            if let Some([queue]) = queues.as_deref() {
                dead_letter = Some(SqsDeadLetter {
                    topic: self.sns_topic(dl_topic).await?,
                    queue: queue.clone(),
                    max_attempts: opts.max_attempts.unwrap_or(5),
                });
            }
        }
        let sub_opts = SqsSubscriptionOptions {
            lease: opts.lease,
            dead_letter,
            provision: true,
        };
        let sub = SqsSubscription::open(&self.clients, &sns, name, &sub_opts).await?;
        let mut queues = self.queues.lock().unwrap();
        let list = queues.entry(topic.to_owned()).or_default();
        if !list.iter().any(|q| q == name) {
            list.push(name.to_owned());
        }
        Ok(Arc::new(sub))
    }

    fn unique(&self, base: &str) -> String {
        let name = self.names.unique(base);
        if base == ORDERED_BASE && self.emulator.fifo_ordering {
            self.fifo.lock().unwrap().insert(name.clone());
        }
        name
    }

    fn patience(&self) -> Duration {
        self.emulator.patience
    }

    fn bulk_messages(&self) -> usize {
        self.emulator.bulk_messages
    }
}

/// Fresh S3 buckets on an emulator.
pub struct AwsObjectsHarness {
    clients: AwsClients,
    names: Names,
}

impl AwsObjectsHarness {
    pub async fn new(emulator: &Emulator) -> Self {
        Self {
            clients: emulator.clients().await,
            names: Names::new(),
        }
    }

    pub fn clients(&self) -> &AwsClients {
        &self.clients
    }

    /// A fresh bucket's driver and name.
    pub async fn s3_bucket(&self) -> (String, S3Bucket) {
        let name = self.names.unique("b");
        let opts = S3BucketOptions {
            provision: true,
            ..S3BucketOptions::default()
        };
        let bucket = S3Bucket::open(&self.clients, &name, opts)
            .await
            .unwrap_or_else(|err| panic!("bucket `{name}`: {err}"));
        (name, bucket)
    }
}

#[async_trait]
impl ObjectsHarness for AwsObjectsHarness {
    async fn bucket(&self) -> Bucket {
        let (name, driver) = self.s3_bucket().await;
        Bucket::new(name, Arc::new(driver))
    }
}
