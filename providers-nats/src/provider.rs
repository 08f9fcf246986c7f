//! The registration: `"provider": "nats"` under `pubsub`. One [`NatsCluster`]
//! per `Infra` keeps one connection per distinct set of connection fields.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use strata_core::Result;
use strata_core::pubsub::{SubscriptionDriver, TopicDriver};
use strata_core::registry::{
    OpenContext, OptionsType, PubSubProvider, Registry, SubscriptionEntry, TopicEntry,
};
use tokio::sync::Mutex;

use crate::options::{ConnectionKey, NatsOptions};
use crate::{NatsClient, NatsSubscription, NatsTopic};

/// The provider's name in configs.
const NAME: &str = "nats";

/// Registers the NATS JetStream pub/sub provider.
pub fn register(registry: &mut Registry) {
    registry.add_pubsub(NatsPubSubProvider);
}

/// The connections of one `Infra`.
#[derive(Default)]
pub struct NatsCluster {
    clients: Mutex<HashMap<ConnectionKey, NatsClient>>,
}

impl NatsCluster {
    /// The cluster of `cx`, made on first use.
    pub async fn of(cx: &OpenContext) -> Result<Arc<NatsCluster>> {
        cx.cluster(|| async { Ok(NatsCluster::default()) }).await
    }

    /// The connection for `options`, made on first use.
    pub async fn client(&self, options: &NatsOptions) -> Result<NatsClient> {
        let mut clients = self.clients.lock().await;
        let key = options.connection_key();
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let client = NatsClient::connect(options).await?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

/// Topics as JetStream streams, subscriptions as durable pull consumers.
pub struct NatsPubSubProvider;

impl NatsPubSubProvider {
    async fn topic(
        cx: &OpenContext,
        topic: TopicEntry<'_>,
    ) -> Result<(NatsClient, NatsOptions, NatsTopic)> {
        let options: NatsOptions = cx.options(&topic.config.options, &topic.path())?;
        let client = NatsCluster::of(cx).await?.client(&options).await?;
        let driver = NatsTopic::open(&client, topic.physical, &options).await?;
        Ok((client, options, driver))
    }
}

#[async_trait]
impl PubSubProvider for NatsPubSubProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn options(&self) -> OptionsType {
        OptionsType::of::<NatsOptions>()
    }

    async fn open_topic(
        &self,
        cx: &OpenContext,
        topic: TopicEntry<'_>,
    ) -> Result<Arc<dyn TopicDriver>> {
        let (_, _, driver) = Self::topic(cx, topic).await?;
        Ok(Arc::new(driver))
    }

    async fn open_subscription(
        &self,
        cx: &OpenContext,
        topic: TopicEntry<'_>,
        subscription: SubscriptionEntry<'_>,
    ) -> Result<Arc<dyn SubscriptionDriver>> {
        let (client, options, driver) = Self::topic(cx, topic).await?;
        Ok(Arc::new(
            NatsSubscription::open(
                &client,
                &driver,
                subscription.physical,
                subscription.config.lease(),
                options.provision,
                topic.config.ordering,
            )
            .await?,
        ))
    }
}
