//! Azure's registrations: `"provider": "azure"` under `pubsub` (Service
//! Bus) and `objects` (Blob Storage), `"auth": "azure_entra"` for
//! PostgreSQL, and `providers.azure`. One [`AzureCluster`] per `Infra` holds
//! the clients they share (one AMQP connection per Service Bus namespace).

use std::sync::Arc;

use async_trait::async_trait;
use strata_core::config::SubscriptionConfig;
use strata_core::objects::BucketDriver;
use strata_core::pubsub::{SubscriptionDriver, TopicDriver};
use strata_core::registry::cloud::{CloudClients, Cluster};
use strata_core::registry::{
    BucketEntry, CloudAccount, DatabaseAuthProvider, FieldError, ObjectsProvider, OpenContext,
    OptionsType, PubSubProvider, Registry, SubscriptionEntry, TopicEntry,
};
use strata_core::sqldb::{CachedToken, ConnectTarget};
use strata_core::{Error, Result};

use crate::objects::container_name_rule;
use crate::pubsub::{Entity, ServiceBusTopicOptions, names};
use crate::{
    AzureAccount, AzureClients, AzureSettings, BlobBucket, BlobBucketOptions, EntraAuthTokenSource,
    EntraSettings, ServiceBusSubscription, ServiceBusSubscriptionOptions, ServiceBusTopic,
};

/// The name of Azure in configs: the providers' name and the account's key.
const NAME: &str = "azure";

/// Registers Azure's providers, auth method and account settings.
pub fn register(registry: &mut Registry) {
    registry
        .add_cloud(CloudAccount::of::<AzureClients>(
            "Microsoft Azure (Service Bus, Blob Storage, Entra ID database auth).",
        ))
        .add_pubsub(ServiceBusProvider)
        .add_objects(BlobStorageProvider)
        .add_database_auth(EntraIdAuth);
}

/// The Azure clients of one `Infra`, connected from `providers.azure`.
pub type AzureCluster = Cluster<AzureClients>;

impl CloudClients for AzureClients {
    const NAME: &'static str = NAME;
    type Account = AzureAccount;
    type Topic = ServiceBusTopic;

    async fn for_account(account: AzureAccount) -> Result<Self> {
        AzureClients::connect(&AzureSettings::from_account(&account)?).await
    }
}

/// Service Bus topics and subscriptions.
pub struct ServiceBusProvider;

#[async_trait]
impl PubSubProvider for ServiceBusProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn options(&self) -> OptionsType {
        OptionsType::of::<ServiceBusTopicOptions>()
    }

    /// The topic's (or queue's) and each subscription's Service Bus entity
    /// name, and what a queue entry may declare.
    fn check_names(&self, topic: TopicEntry<'_>) -> std::result::Result<(), FieldError> {
        let options: ServiceBusTopicOptions = topic.config.options.decode()?;
        options.check_entry(topic)?;
        match options.entity {
            Entity::Topic => {
                topic.check_physical_names(names::topic_rule, names::subscription_rule)
            }
            // The subscription of a queue is the queue: no name to check.
            Entity::Queue => topic.check_physical_names(names::topic_rule, |_| None::<String>),
        }
    }

    async fn open_topic(
        &self,
        cx: &OpenContext,
        topic: TopicEntry<'_>,
    ) -> Result<Arc<dyn TopicDriver>> {
        // A config built in code skipped the parser: check before any request.
        self.check_names(topic)
            .map_err(|(field, rule)| cx.invalid_config(&join(&topic.path(), &field), rule))?;
        let options: ServiceBusTopicOptions = cx.options(&topic.config.options, &topic.path())?;
        let cluster = AzureCluster::of(cx).await?;
        let clients = cluster.clients();
        let namespace = clients.service_bus().map_err(|e| cx.locate(e))?;
        let opened = match options.entity {
            Entity::Topic => {
                ServiceBusTopic::open(namespace, topic.physical, clients.settings().provision)
                    .await?
            }
            Entity::Queue => {
                // A queue is created with what its one subscription asks for.
                let opts = match topic.config.subscriptions.values().next() {
                    Some(sub) => subscription_options(&cluster, topic, sub)?,
                    None => ServiceBusSubscriptionOptions {
                        provision: clients.settings().provision,
                        ordering: topic.config.ordering,
                        ..ServiceBusSubscriptionOptions::default()
                    },
                };
                ServiceBusTopic::open_queue(namespace, topic.physical, &opts).await?
            }
        };
        cluster.add_topic(topic.name, opened.clone());
        Ok(Arc::new(opened))
    }

    async fn open_subscription(
        &self,
        cx: &OpenContext,
        topic: TopicEntry<'_>,
        subscription: SubscriptionEntry<'_>,
    ) -> Result<Arc<dyn SubscriptionDriver>> {
        let cluster = AzureCluster::of(cx).await?;
        let opened = cluster.topic(topic.name)?;
        let opts = subscription_options(&cluster, topic, subscription.config)?;
        Ok(Arc::new(
            ServiceBusSubscription::open(&opened, subscription.physical, &opts).await?,
        ))
    }
}

/// How subscription `sub` of `topic` is opened (and created).
///
/// # Errors
/// `NotFound` when its dead-letter topic is not open.
fn subscription_options(
    cluster: &AzureCluster,
    topic: TopicEntry<'_>,
    sub: &SubscriptionConfig,
) -> Result<ServiceBusSubscriptionOptions> {
    // Dead letters: with a dead-letter topic the engine publishes them
    // there (with its attributes), unless the config asks for the native
    // path: then the subscription forwards its dead-letter queue to that
    // topic and the engine dead-letters explicitly, with its reason.
    // Without a dead-letter topic, explicit dead-lettering goes to the
    // subscription's own `$DeadLetterQueue`.
    let forward_to = match &sub.dead_letter_topic {
        Some(dlt) if sub.native_dead_letter() => Some(cluster.topic(dlt)?.name().to_owned()),
        _ => None,
    };
    Ok(ServiceBusSubscriptionOptions {
        lease: sub.lease(),
        provision: cluster.clients().settings().provision,
        ordering: topic.config.ordering,
        explicit_dead_letter: sub.dead_letter_topic.is_none() || forward_to.is_some(),
        forward_dead_letters_to: forward_to,
        // The engine dead-letters at `max_attempts`; the broker's own
        // count stays above it so it never moves a message first.
        max_delivery_count: sub.max_attempts.map_or(2000, |n| n.saturating_add(10)),
    })
}

/// `path.field`, or `path` for a field of the entry itself.
fn join(path: &str, field: &str) -> String {
    if field.is_empty() {
        path.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// Blob Storage containers.
pub struct BlobStorageProvider;

#[async_trait]
impl ObjectsProvider for BlobStorageProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check_names(&self, bucket: BucketEntry<'_>) -> std::result::Result<(), FieldError> {
        match container_name_rule(bucket.physical) {
            Some(rule) => Err((bucket.name_field().to_owned(), rule.to_owned())),
            None => Ok(()),
        }
    }

    async fn open_bucket(
        &self,
        cx: &OpenContext,
        bucket: BucketEntry<'_>,
    ) -> Result<Arc<dyn BucketDriver>> {
        // A config built in code skipped the parser: check before any request.
        self.check_names(bucket)
            .map_err(|(field, rule)| cx.invalid_config(&join(&bucket.path(), &field), rule))?;
        let cluster = AzureCluster::of(cx).await?;
        let opts = BlobBucketOptions {
            public_base_url: bucket.config.public_base_url.clone(),
            provision: cluster.clients().settings().provision,
        };
        Ok(Arc::new(
            BlobBucket::open(cluster.clients(), bucket.physical, opts).await?,
        ))
    }
}

/// Entra ID access tokens for Azure Database for PostgreSQL.
pub struct EntraIdAuth;

#[async_trait]
impl DatabaseAuthProvider for EntraIdAuth {
    fn name(&self) -> &'static str {
        "azure_entra"
    }

    /// Tokens from the credentials in the environment (`providers.azure` has
    /// no Entra fields yet). Makes no request: the first connection fetches
    /// the first token.
    async fn token(
        &self,
        cx: &OpenContext,
        database: &str,
        _target: &ConnectTarget,
    ) -> Result<CachedToken> {
        entra_auth_token_from(database, &EntraSettings::from_env()).map_err(|e| cx.locate(e))
    }
}

/// # Errors
/// `InvalidConfig` naming `databases.<name>.auth` when the credentials are
/// incomplete.
fn entra_auth_token_from(name: &str, settings: &EntraSettings) -> Result<CachedToken> {
    let source = EntraAuthTokenSource::new(settings).map_err(|e| {
        Error::new(
            e.code(),
            format!("at `databases.{name}.auth`: {}", e.message()),
        )
    })?;
    Ok(CachedToken::new(Arc::new(source)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strata_core::ErrorCode;

    use super::*;

    #[test]
    fn azure_entra_with_an_incomplete_service_principal_names_the_database() {
        let settings = EntraSettings {
            client_secret: Some("s3cr3t".into()),
            ..EntraSettings::default()
        };
        let err = entra_auth_token_from("main", &settings).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig);
        assert!(
            err.message().starts_with("at `databases.main.auth`: "),
            "{err}"
        );
        assert!(err.message().contains("AZURE_TENANT_ID"), "{err}");
        assert!(!err.message().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn azure_entra_with_a_service_principal_makes_a_token_source_without_a_request() {
        let settings = EntraSettings {
            tenant_id: Some("tenant-1".into()),
            client_id: Some("app-1".into()),
            client_secret: Some("s3cr3t".into()),
        };
        let token = entra_auth_token_from("main", &settings).unwrap();
        assert!(
            token.describe().contains("service principal app-1"),
            "{token:?}"
        );
    }
}
