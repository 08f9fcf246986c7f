//! Google Cloud's registrations: `"provider": "gcp"` under `pubsub` (Cloud
//! Pub/Sub) and `objects` (Cloud Storage), `"auth": "gcp_iam"` for
//! PostgreSQL (Cloud SQL IAM), and `providers.gcp`. One [`GcpCluster`] per
//! `Infra` holds the clients they all share.

use std::sync::Arc;

use async_trait::async_trait;
use strata_core::objects::BucketDriver;
use strata_core::pubsub::{SubscriptionDriver, TopicDriver};
use strata_core::registry::cloud::{CloudClients, Cluster};
use strata_core::registry::{
    BucketEntry, CloudAccount, DatabaseAuthProvider, FieldError, ObjectsProvider, OpenContext,
    PubSubProvider, Registry, SubscriptionEntry, TopicEntry,
};
use strata_core::sqldb::{CachedToken, ConnectTarget};
use strata_core::{Error, Result};

use crate::objects::bucket_name_rule;
use crate::pubsub::names;
use crate::{
    CloudSqlAuthTokenSource, GcpAccount, GcpClients, GcpSettings, GcsBucket, GcsBucketOptions,
    PubSubDeadLetter, PubSubSubscription, PubSubSubscriptionOptions, PubSubTopic,
};

/// The name of Google Cloud in configs: the providers' name and the account's key.
const NAME: &str = "gcp";

/// Pub/Sub's smallest and largest max delivery attempts of a dead-letter
/// policy; outside them the engine dead-letters instead.
const NATIVE_ATTEMPTS: std::ops::RangeInclusive<u32> = 5..=100;

/// Registers Google Cloud's providers, auth method and account settings.
pub fn register(registry: &mut Registry) {
    registry
        .add_cloud(CloudAccount::of::<GcpClients>(
            "Google Cloud (Pub/Sub, Cloud Storage, Cloud SQL IAM auth).",
        ))
        .add_pubsub(CloudPubSubProvider)
        .add_objects(CloudStorageProvider)
        .add_database_auth(CloudSqlIamAuth);
}

/// The GCP clients of one `Infra`, and its Pub/Sub topics by logical name,
/// so a subscription finds its topic and its dead-letter topic. Connected
/// from `providers.gcp` (or the environment).
pub type GcpCluster = Cluster<GcpClients>;

impl CloudClients for GcpClients {
    const NAME: &'static str = NAME;
    type Account = GcpAccount;
    type Topic = PubSubTopic;

    async fn for_account(account: GcpAccount) -> Result<Self> {
        GcpClients::connect(&GcpSettings::from_account(&account)?).await
    }
}

/// Cloud Pub/Sub topics and subscriptions.
pub struct CloudPubSubProvider;

#[async_trait]
impl PubSubProvider for CloudPubSubProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The topic id and each subscription's id.
    fn check_names(&self, topic: TopicEntry<'_>) -> std::result::Result<(), FieldError> {
        topic.check_physical_names(
            |id| names::name_rule("topic", "topics", id),
            |id| names::name_rule("subscription", "subscriptions", id),
        )
    }

    async fn open_topic(
        &self,
        cx: &OpenContext,
        topic: TopicEntry<'_>,
    ) -> Result<Arc<dyn TopicDriver>> {
        // A config built in code skipped the parser: check before any request.
        self.check_names(topic)
            .map_err(|(field, rule)| cx.invalid_config(&join(&topic.path(), &field), rule))?;
        let cluster = GcpCluster::of(cx).await?;
        let provision = cluster.clients().settings().provision;
        let opened = PubSubTopic::open(cluster.clients(), topic.physical, provision).await?;
        cluster.add_topic(topic.name, opened.clone());
        Ok(Arc::new(opened))
    }

    async fn open_subscription(
        &self,
        cx: &OpenContext,
        topic: TopicEntry<'_>,
        subscription: SubscriptionEntry<'_>,
    ) -> Result<Arc<dyn SubscriptionDriver>> {
        let cluster = GcpCluster::of(cx).await?;
        let opened = cluster.topic(topic.name)?;
        // Pub/Sub forwards dead letters to a topic, so every subscription of
        // the dead-letter topic gets them, as with the engine's own, but with
        // a new id and Pub/Sub's own attributes instead of the engine's: so
        // only when the config asks for it (`"dead_letter_mode": "native"`),
        // the dead-letter topic is on Pub/Sub too and the attempts are within
        // Pub/Sub's bounds; otherwise the engine publishes them.
        let sub = subscription.config;
        let dead_letter = match (&sub.dead_letter_topic, sub.max_attempts) {
            (Some(dlt), Some(max))
                if sub.native_dead_letter() && NATIVE_ATTEMPTS.contains(&max) =>
            {
                cluster.find_topic(dlt).map(|topic| PubSubDeadLetter {
                    topic,
                    max_attempts: max,
                })
            }
            _ => None,
        };
        let opts = PubSubSubscriptionOptions {
            lease: sub.lease(),
            ordering: topic.config.ordering,
            dead_letter,
            provision: cluster.clients().settings().provision,
            ..PubSubSubscriptionOptions::default()
        };
        Ok(Arc::new(
            PubSubSubscription::open(cluster.clients(), &opened, subscription.physical, &opts)
                .await?,
        ))
    }
}

/// Cloud Storage buckets.
pub struct CloudStorageProvider;

#[async_trait]
impl ObjectsProvider for CloudStorageProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check_names(&self, bucket: BucketEntry<'_>) -> std::result::Result<(), FieldError> {
        match bucket_name_rule(bucket.physical) {
            Some(rule) => Err((bucket.name_field().to_owned(), rule.to_owned())),
            None => Ok(()),
        }
    }

    async fn open_bucket(
        &self,
        cx: &OpenContext,
        bucket: BucketEntry<'_>,
    ) -> Result<Arc<dyn BucketDriver>> {
        self.check_names(bucket)
            .map_err(|(field, rule)| cx.invalid_config(&join(&bucket.path(), &field), rule))?;
        let cluster = GcpCluster::of(cx).await?;
        let opts = GcsBucketOptions {
            public_base_url: bucket.config.public_base_url.clone(),
            provision: cluster.clients().settings().provision,
            ..GcsBucketOptions::default()
        };
        Ok(Arc::new(
            GcsBucket::open(cluster.clients(), bucket.physical, opts).await?,
        ))
    }
}

/// Cloud SQL IAM database auth tokens, from the account's credentials.
pub struct CloudSqlIamAuth;

#[async_trait]
impl DatabaseAuthProvider for CloudSqlIamAuth {
    fn name(&self) -> &'static str {
        "gcp_iam"
    }

    async fn token(
        &self,
        cx: &OpenContext,
        database: &str,
        target: &ConnectTarget,
    ) -> Result<CachedToken> {
        let cluster = GcpCluster::of(cx).await?;
        cloud_sql_auth_token(cluster.clients(), database, target).map_err(|e| cx.locate(e))
    }
}

/// A Cloud SQL IAM auth token source for database `name` connecting as
/// `target`, with the credentials of the clients' settings.
///
/// A service-account key logs in as one user only (its email without
/// `.gserviceaccount.com`); a target naming another draws a warning, since
/// Cloud SQL's own login error would not say why.
fn cloud_sql_auth_token(
    clients: &GcpClients,
    name: &str,
    target: &ConnectTarget,
) -> Result<CachedToken> {
    let source = CloudSqlAuthTokenSource::new(&clients.settings().credentials).map_err(|e| {
        Error::new(
            e.code(),
            format!("at `databases.{name}.auth`: {}", e.message()),
        )
    })?;
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

/// `a.b` + `c` → `a.b.c`; an empty field is the entry itself.
fn join(base: &str, field: &str) -> String {
    if field.is_empty() {
        base.to_owned()
    } else {
        format!("{base}.{field}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strata_core::ErrorCode;

    use super::*;
    use crate::GcpCredentials;

    async fn clients(credentials: GcpCredentials) -> GcpClients {
        let settings = GcpSettings {
            project: "demo".into(),
            credentials,
            ..GcpSettings::default()
        };
        GcpClients::connect(&settings).await.unwrap()
    }

    fn target(user: &str) -> ConnectTarget {
        ConnectTarget {
            user: user.into(),
            host: "10.0.0.3".into(),
            port: 5432,
        }
    }

    fn context() -> OpenContext {
        let mut registry = Registry::new();
        register(&mut registry);
        let loaded = strata_core::config::LoadedConfig {
            config: strata_core::config::InfraConfig::default(),
            base_dir: "conf".into(),
            file: Some("conf/infra.config.json".into()),
        };
        OpenContext::new(loaded, Box::leak(Box::new(registry)))
    }

    fn message<T>(result: Result<T>) -> String {
        match result {
            Ok(_) => panic!("expected an error"),
            Err(e) => {
                assert_eq!(e.code(), ErrorCode::InvalidConfig, "{e}");
                e.message().to_owned()
            }
        }
    }

    /// A config built in code skips the parser; the openers check names
    /// before any request (no endpoint is reachable here).
    #[tokio::test]
    async fn names_gcp_refuses_fail_before_any_request_naming_file_and_path() {
        let cx = context();
        let mut topic = strata_core::config::TopicConfig::on(NAME);
        topic.name = Some("x".into());
        let entry = TopicEntry {
            name: "t",
            physical: "x",
            config: &topic,
        };
        let msg = message(CloudPubSubProvider.open_topic(&cx, entry).await);
        assert!(
            msg.starts_with(
                "conf/infra.config.json at `pubsub.t.name`: the Pub/Sub topic id is 1 characters"
            ),
            "{msg}"
        );
        let mut bucket = strata_core::config::BucketConfig::on(NAME);
        bucket.name = Some("UPPER_case!!".into());
        let entry = BucketEntry {
            name: "b",
            physical: "UPPER_case!!",
            config: &bucket,
        };
        let msg = message(CloudStorageProvider.open_bucket(&cx, entry).await);
        assert!(
            msg.starts_with(
                "conf/infra.config.json at `objects.b.name`: not valid on Cloud Storage"
            ),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn gcp_iam_without_credentials_is_invalid_config_naming_the_database() {
        let clients = clients(GcpCredentials::Anonymous).await;
        let err = cloud_sql_auth_token(&clients, "main", &target("app")).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig);
        assert!(
            err.message().starts_with("at `databases.main.auth`: "),
            "{err}"
        );
        assert!(err.message().contains("needs GCP credentials"), "{err}");
    }

    #[tokio::test]
    async fn gcp_iam_with_adc_makes_a_token_source_without_a_request() {
        let clients = clients(GcpCredentials::ApplicationDefault).await;
        let token = cloud_sql_auth_token(&clients, "main", &target("app@demo.iam")).unwrap();
        assert!(token.describe().contains("Cloud SQL IAM"), "{token:?}");
    }
}
