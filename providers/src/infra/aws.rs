//! The `aws` arms of [`Infra`](super::Infra): one set of clients for the whole
//! config, SNS topics kept by logical name so subscriptions can find their
//! dead-letter topic, and native SQS redrive only where it keeps every
//! subscription of the dead-letter topic served.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use strata_aws::{
    AwsClients, AwsSettings, S3Bucket, S3BucketOptions, SnsTopic, SqsDeadLetter, SqsSubscription,
    SqsSubscriptionOptions,
};
use strata_core::config::{InfraConfig, SubscriptionConfig, TopicConfig};
use strata_core::objects::BucketDriver;
use strata_core::pubsub::{SubscriptionDriver, TopicDriver};
use strata_core::{Error, Result};

use super::{lease_of, lock, subscription_name};

/// AWS clients and the SNS topics opened so far.
#[derive(Default)]
pub(super) struct AwsState {
    clients: tokio::sync::OnceCell<AwsClients>,
    topics: Mutex<HashMap<String, SnsTopic>>,
}

impl AwsState {
    /// The clients, made on first use from `providers.aws` (or the defaults).
    pub(super) async fn clients(&self, config: &InfraConfig) -> Result<AwsClients> {
        self.clients
            .get_or_try_init(|| async {
                let cloud = config.providers.aws.clone().unwrap_or_default();
                AwsClients::connect(&AwsSettings::from_cloud(&cloud)?).await
            })
            .await
            .cloned()
    }

    pub(super) async fn open_topic(
        &self,
        clients: &AwsClients,
        name: &str,
        physical: &str,
        config: &TopicConfig,
    ) -> Result<Arc<dyn TopicDriver>> {
        let provision = clients.settings().provision;
        let topic = SnsTopic::open(clients, physical, config.ordering, provision).await?;
        lock(&self.topics).insert(name.to_owned(), topic.clone());
        Ok(Arc::new(topic))
    }

    fn topic(&self, name: &str) -> Result<SnsTopic> {
        lock(&self.topics).get(name).cloned().ok_or_else(|| {
            Error::invalid_config(format!(
                "pubsub.{name}: an `aws` subscription needs its topic (and its dead-letter \
                 topic) to use the `aws` provider too"
            ))
        })
    }

    pub(super) async fn open_subscription(
        &self,
        clients: &AwsClients,
        config: &InfraConfig,
        topic_name: &str,
        queue: &str,
        sub: &SubscriptionConfig,
    ) -> Result<Arc<dyn SubscriptionDriver>> {
        let topic = self.topic(topic_name)?;
        let dead_letter = match native_dead_letter_queue(config, sub) {
            Some((dlt, queue, max_attempts)) => Some(SqsDeadLetter {
                topic: self.topic(&dlt)?,
                queue,
                max_attempts,
            }),
            None => None,
        };
        let opts = SqsSubscriptionOptions {
            lease: lease_of(sub),
            dead_letter,
            provision: clients.settings().provision,
        };
        Ok(Arc::new(
            SqsSubscription::open(clients, &topic, queue, &opts).await?,
        ))
    }
}

/// SQS redrive moves a message into exactly one queue, so it stands in for a
/// dead-letter topic only when that topic has exactly one subscription; otherwise
/// the engine publishes dead letters to the topic and every subscription gets
/// them. Returns (dead-letter topic, its one queue, max attempts).
fn native_dead_letter_queue(
    config: &InfraConfig,
    sub: &SubscriptionConfig,
) -> Option<(String, String, u32)> {
    let (dlt, max_attempts) = (sub.dead_letter_topic.as_ref()?, sub.max_attempts?);
    let dl_config = config.pubsub.get(dlt)?;
    let mut subs = dl_config.subscriptions.iter();
    let (dl_sub_name, dl_sub) = subs.next()?;
    if subs.next().is_some() {
        return None;
    }
    Some((
        dlt.clone(),
        subscription_name(dlt, dl_sub_name, dl_sub),
        max_attempts,
    ))
}

/// Opens an S3 bucket.
pub(super) async fn open_bucket(
    clients: &AwsClients,
    physical: &str,
    public_base_url: Option<String>,
    provision: bool,
) -> Result<Arc<dyn BucketDriver>> {
    let opts = S3BucketOptions {
        public_base_url,
        provision,
    };
    Ok(Arc::new(S3Bucket::open(clients, physical, opts).await?))
}

/// An RDS IAM auth token source for the PostgreSQL `url` (its user, host and
/// port), signed with the clients' credentials and region.
pub(super) fn rds_auth_token(
    clients: &AwsClients,
    url: &str,
) -> Result<strata_core::sqldb::CachedToken> {
    let target = crate::postgres::connect_target(url)?;
    let source =
        strata_aws::RdsAuthTokenSource::new(clients, &target.host, target.port, &target.user)?;
    Ok(strata_core::sqldb::CachedToken::new(Arc::new(source)))
}
