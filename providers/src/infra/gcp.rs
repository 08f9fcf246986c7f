//! The `gcp` arms of [`Infra`](super::Infra): one set of clients for the whole
//! config, Pub/Sub topics kept by logical name so subscriptions can find their
//! dead-letter topic, Pub/Sub's native dead-letter policy wherever it can
//! stand in for the engine's, Cloud Storage buckets, and Cloud SQL IAM auth
//! tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use strata_core::config::{InfraConfig, SubscriptionConfig};
use strata_core::objects::BucketDriver;
use strata_core::pubsub::{SubscriptionDriver, TopicDriver};
use strata_core::sqldb::CachedToken;
use strata_core::{Error, Result};
use strata_gcp::{
    CloudSqlAuthTokenSource, GcpClients, GcpSettings, GcsBucket, GcsBucketOptions,
    PubSubDeadLetter, PubSubSubscription, PubSubSubscriptionOptions, PubSubTopic,
};

use super::{lease_of, lock};

/// Pub/Sub's smallest and largest max delivery attempts of a dead-letter
/// policy; outside them the engine dead-letters instead.
const NATIVE_ATTEMPTS: std::ops::RangeInclusive<u32> = 5..=100;

/// GCP clients and the Pub/Sub topics opened so far.
#[derive(Default)]
pub(super) struct GcpState {
    clients: tokio::sync::OnceCell<GcpClients>,
    topics: Mutex<HashMap<String, PubSubTopic>>,
}

impl GcpState {
    /// The clients, made on first use from `providers.gcp` (or the
    /// environment).
    pub(super) async fn clients(&self, config: &InfraConfig) -> Result<GcpClients> {
        self.clients
            .get_or_try_init(|| async {
                let cloud = config.providers.gcp.clone().unwrap_or_default();
                GcpClients::connect(&GcpSettings::from_cloud(&cloud)?).await
            })
            .await
            .cloned()
    }

    pub(super) async fn open_topic(
        &self,
        clients: &GcpClients,
        name: &str,
        physical: &str,
    ) -> Result<Arc<dyn TopicDriver>> {
        let provision = clients.settings().provision;
        let topic = PubSubTopic::open(clients, physical, provision).await?;
        lock(&self.topics).insert(name.to_owned(), topic.clone());
        Ok(Arc::new(topic))
    }

    fn topic(&self, name: &str) -> Result<PubSubTopic> {
        lock(&self.topics).get(name).cloned().ok_or_else(|| {
            Error::invalid_config(format!(
                "pubsub.{name}: a `gcp` subscription needs its topic to use the `gcp` \
                 provider too"
            ))
        })
    }

    pub(super) async fn open_subscription(
        &self,
        clients: &GcpClients,
        config: &InfraConfig,
        topic_name: &str,
        physical: &str,
        sub: &SubscriptionConfig,
    ) -> Result<Arc<dyn SubscriptionDriver>> {
        let topic = self.topic(topic_name)?;
        let ordering = config
            .pubsub
            .get(topic_name)
            .is_some_and(|topic| topic.ordering);
        // Pub/Sub forwards dead letters to a topic, so every subscription of
        // the dead-letter topic gets them, as with the engine's own. Native
        // only when the dead-letter topic is on Pub/Sub too and the attempts
        // are within Pub/Sub's bounds; otherwise the engine publishes them.
        let dead_letter = match (&sub.dead_letter_topic, sub.max_attempts) {
            (Some(dlt), Some(max)) if NATIVE_ATTEMPTS.contains(&max) => lock(&self.topics)
                .get(dlt)
                .cloned()
                .map(|topic| PubSubDeadLetter {
                    topic,
                    max_attempts: max,
                }),
            _ => None,
        };
        let opts = PubSubSubscriptionOptions {
            lease: lease_of(sub),
            ordering,
            dead_letter,
            provision: clients.settings().provision,
            ..PubSubSubscriptionOptions::default()
        };
        Ok(Arc::new(
            PubSubSubscription::open(clients, &topic, physical, &opts).await?,
        ))
    }
}

/// Opens a Cloud Storage bucket.
pub(super) async fn open_bucket(
    clients: &GcpClients,
    physical: &str,
    public_base_url: Option<String>,
) -> Result<Arc<dyn BucketDriver>> {
    let opts = GcsBucketOptions {
        public_base_url,
        provision: clients.settings().provision,
        ..GcsBucketOptions::default()
    };
    Ok(Arc::new(GcsBucket::open(clients, physical, opts).await?))
}

/// A Cloud SQL IAM auth token source for database `name` at the PostgreSQL
/// `url`, with the credentials of the clients' settings.
///
/// A service-account key logs in as one user only (its email without
/// `.gserviceaccount.com`); a `url` naming another draws a warning, since
/// Cloud SQL's own login error would not say why.
pub(super) fn cloud_sql_auth_token(
    clients: &GcpClients,
    name: &str,
    url: &str,
) -> Result<CachedToken> {
    let target = crate::postgres::connect_target(url)?;
    let source = CloudSqlAuthTokenSource::new(&clients.settings().credentials)
        .map_err(|e| Error::new(e.code(), format!("databases.{name}.auth: {}", e.message())))?;
    if let Some(user) = source.database_user().filter(|user| *user != target.user) {
        tracing::warn!(
            database = name,
            "databases.{name}.url names the user `{}`, but the service-account key of \
             providers.gcp logs in to Cloud SQL as `{user}`",
            target.user
        );
    }
    Ok(CachedToken::new(Arc::new(source)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strata_core::ErrorCode;
    use strata_gcp::GcpCredentials;

    use super::*;

    async fn clients(credentials: GcpCredentials) -> GcpClients {
        let settings = GcpSettings {
            project: "demo".into(),
            credentials,
            ..GcpSettings::default()
        };
        GcpClients::connect(&settings).await.unwrap()
    }

    #[tokio::test]
    async fn gcp_iam_without_credentials_is_invalid_config_naming_the_database() {
        let clients = clients(GcpCredentials::Anonymous).await;
        let err =
            cloud_sql_auth_token(&clients, "main", "postgres://app@10.0.0.3/main").unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig);
        assert!(err.message().starts_with("databases.main.auth: "), "{err}");
        assert!(err.message().contains("needs GCP credentials"), "{err}");
    }

    #[tokio::test]
    async fn gcp_iam_with_adc_makes_a_token_source_without_a_request() {
        let clients = clients(GcpCredentials::ApplicationDefault).await;
        let token =
            cloud_sql_auth_token(&clients, "main", "postgres://app%40demo.iam@10.0.0.3/main")
                .unwrap();
        assert!(token.describe().contains("Cloud SQL IAM"), "{token:?}");
    }
}
