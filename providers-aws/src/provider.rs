//! AWS's registrations: `"provider": "aws"` under `pubsub` (SNS + SQS) and
//! `objects` (S3), `"auth": "aws_iam"` for PostgreSQL, and `providers.aws`.
//! One [`AwsCluster`] per `Infra` holds the clients they all share.

use std::sync::Arc;

use async_trait::async_trait;
use strata_core::Result;
use strata_core::config::{InfraConfig, SubscriptionConfig};
use strata_core::objects::BucketDriver;
use strata_core::pubsub::{SubscriptionDriver, TopicDriver};
use strata_core::registry::cloud::{CloudClients, Cluster};
use strata_core::registry::{
    BucketEntry, CloudAccount, DatabaseAuthProvider, FieldError, ObjectsProvider, OpenContext,
    PubSubProvider, Registry, SubscriptionEntry, TopicEntry,
};
use strata_core::sqldb::{CachedToken, ConnectTarget};

use crate::names;
use crate::{
    AwsAccount, AwsClients, AwsSettings, RdsAuthTokenSource, S3Bucket, S3BucketOptions, SnsTopic,
    SqsDeadLetter, SqsSubscription, SqsSubscriptionOptions,
};

/// The name of AWS in configs: the providers' name and the account's key.
const NAME: &str = "aws";

/// Registers AWS's providers, auth method and account settings.
pub fn register(registry: &mut Registry) {
    registry
        .add_cloud(CloudAccount::of::<AwsClients>(
            "Amazon Web Services (SNS+SQS, S3, RDS IAM auth).",
        ))
        .add_pubsub(SnsSqsProvider)
        .add_objects(S3Provider)
        .add_database_auth(RdsIamAuth);
}

/// The AWS clients of one `Infra`, and its SNS topics by logical name, so a
/// subscription finds its topic and its dead-letter topic.
pub type AwsCluster = Cluster<AwsClients>;

impl CloudClients for AwsClients {
    const NAME: &'static str = NAME;
    type Account = AwsAccount;
    type Topic = SnsTopic;

    async fn for_account(account: AwsAccount) -> Result<Self> {
        AwsClients::connect(&AwsSettings::from_account(&account)?).await
    }
}

/// SNS topics, one SQS queue per subscription.
pub struct SnsSqsProvider;

#[async_trait]
impl PubSubProvider for SnsSqsProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The SNS topic name and each subscription's SQS queue name.
    fn check_names(&self, topic: TopicEntry<'_>) -> std::result::Result<(), FieldError> {
        let ordering = topic.config.ordering;
        let fifo = ordering || topic.physical.ends_with(".fifo");
        topic.check_physical_names(
            |name| names::sns_topic_rule(name, ordering),
            |queue| names::sqs_queue_rule(queue, fifo),
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
        let cluster = AwsCluster::of(cx).await?;
        let clients = cluster.clients();
        let provision = clients.settings().provision;
        let sns = SnsTopic::open(clients, topic.physical, topic.config.ordering, provision).await?;
        cluster.add_topic(topic.name, sns.clone());
        Ok(Arc::new(sns))
    }

    async fn open_subscription(
        &self,
        cx: &OpenContext,
        topic: TopicEntry<'_>,
        subscription: SubscriptionEntry<'_>,
    ) -> Result<Arc<dyn SubscriptionDriver>> {
        let cluster = AwsCluster::of(cx).await?;
        let sns = cluster.topic(topic.name)?;
        let dead_letter = match native_dead_letter_queue(&cx.loaded().config, subscription.config) {
            Some((dlt, queue, max_attempts)) => Some(SqsDeadLetter {
                topic: cluster.topic(&dlt)?,
                queue,
                max_attempts,
            }),
            None => None,
        };
        let opts = SqsSubscriptionOptions {
            lease: subscription.config.lease(),
            dead_letter,
            provision: cluster.clients().settings().provision,
        };
        Ok(Arc::new(
            SqsSubscription::open(cluster.clients(), &sns, subscription.physical, &opts).await?,
        ))
    }
}

/// Native redrive only when the config asks for it (`"dead_letter_mode":
/// "native"`): an SQS redrive moves the message as it is, so the dead letter
/// keeps its id and carries none of the engine's `strata.dead_letter.*`
/// attributes. SQS redrive moves a message into exactly one queue, so it
/// stands in for a dead-letter topic only when that topic has exactly one
/// subscription; otherwise the engine publishes dead letters to the topic
/// and every subscription gets them. Returns (dead-letter topic, its one
/// queue, max attempts).
fn native_dead_letter_queue(
    config: &InfraConfig,
    sub: &SubscriptionConfig,
) -> Option<(String, String, u32)> {
    if !sub.native_dead_letter() {
        return None;
    }
    let (dlt, max_attempts) = (sub.dead_letter_topic.as_ref()?, sub.max_attempts?);
    let dl_config = config.pubsub.get(dlt)?;
    let mut subs = dl_config.subscriptions.iter();
    let (dl_sub_name, dl_sub) = subs.next()?;
    if subs.next().is_some() {
        return None;
    }
    Some((
        dlt.clone(),
        dl_sub.physical_name(dlt, dl_sub_name),
        max_attempts,
    ))
}

/// S3 buckets.
pub struct S3Provider;

#[async_trait]
impl ObjectsProvider for S3Provider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check_names(&self, bucket: BucketEntry<'_>) -> std::result::Result<(), FieldError> {
        match names::s3_bucket_rule(bucket.physical) {
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
        let cluster = AwsCluster::of(cx).await?;
        let opts = S3BucketOptions {
            public_base_url: bucket.config.public_base_url.clone(),
            provision: cluster.clients().settings().provision,
        };
        Ok(Arc::new(
            S3Bucket::open(cluster.clients(), bucket.physical, opts).await?,
        ))
    }
}

/// RDS / Aurora IAM database auth tokens, signed with the account's
/// credentials and region.
pub struct RdsIamAuth;

#[async_trait]
impl DatabaseAuthProvider for RdsIamAuth {
    fn name(&self) -> &'static str {
        "aws_iam"
    }

    async fn token(
        &self,
        cx: &OpenContext,
        database: &str,
        target: &ConnectTarget,
    ) -> Result<CachedToken> {
        let cluster = AwsCluster::of(cx).await?;
        let source =
            RdsAuthTokenSource::new(cluster.clients(), &target.host, target.port, &target.user)
                .map_err(|e| match e.code() {
                    strata_core::ErrorCode::InvalidConfig => {
                        cx.invalid_config(&format!("databases.{database}.url"), e.message())
                    }
                    _ => e,
                })?;
        Ok(CachedToken::new(Arc::new(source)))
    }
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
    use std::path::PathBuf;

    use serde_json::json;
    use strata_core::ErrorCode;
    use strata_core::config::{BucketConfig, LoadedConfig, TopicConfig};
    use strata_core::registry::RawOptions;

    use super::*;

    fn context(config: InfraConfig) -> OpenContext {
        let mut registry = Registry::new();
        register(&mut registry);
        let loaded = LoadedConfig {
            config,
            base_dir: PathBuf::from("conf"),
            file: Some(PathBuf::from("conf/infra.config.json")),
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
    async fn names_aws_refuses_fail_before_any_request_naming_file_and_path() {
        let cx = context(InfraConfig::default());
        let mut topic = TopicConfig::on(NAME);
        topic.name = Some("bad name!".into());
        let entry = TopicEntry {
            name: "t",
            physical: "bad name!",
            config: &topic,
        };
        let msg = message(SnsSqsProvider.open_topic(&cx, entry).await);
        assert!(
            msg.starts_with(
                "conf/infra.config.json at `pubsub.t.name`: not a valid SNS topic name"
            ),
            "{msg}"
        );
        let bucket = BucketConfig::on(NAME);
        let entry = BucketEntry {
            name: "UPPER_case",
            physical: "UPPER_case",
            config: &bucket,
        };
        let msg = message(S3Provider.open_bucket(&cx, entry).await);
        assert!(
            msg.starts_with(
                "conf/infra.config.json at `objects.UPPER_case`: not a valid S3 bucket"
            ),
            "{msg}"
        );
    }

    /// SQS redrive only when the config asks for it, and only into a
    /// dead-letter topic with exactly one subscription.
    #[test]
    fn native_redrive_is_chosen_by_the_config_and_needs_one_dead_letter_queue() {
        use strata_core::config::DeadLetterMode;
        let mut config = InfraConfig::default();
        let mut dlq = TopicConfig::on(NAME);
        dlq.subscriptions
            .insert("audit".into(), SubscriptionConfig::default());
        config.pubsub.insert("dlq".into(), dlq);
        let mut sub = SubscriptionConfig {
            dead_letter_topic: Some("dlq".into()),
            max_attempts: Some(3),
            ..SubscriptionConfig::default()
        };
        assert_eq!(
            native_dead_letter_queue(&config, &sub),
            None,
            "engine by default"
        );
        sub.dead_letter_mode = Some(DeadLetterMode::Engine);
        assert_eq!(native_dead_letter_queue(&config, &sub), None);
        sub.dead_letter_mode = Some(DeadLetterMode::Native);
        assert_eq!(
            native_dead_letter_queue(&config, &sub),
            Some(("dlq".into(), "dlq-audit".into(), 3))
        );
        if let Some(dlq) = config.pubsub.get_mut("dlq") {
            dlq.subscriptions
                .insert("archive".into(), SubscriptionConfig::default());
        }
        assert_eq!(
            native_dead_letter_queue(&config, &sub),
            None,
            "two subscriptions: the engine publishes to the topic"
        );
    }

    /// `providers.aws` errors raised while connecting name the file too.
    #[tokio::test]
    async fn account_errors_at_open_name_the_file_and_the_field() {
        let mut config = InfraConfig::default();
        let serde_json::Value::Object(fields) = json!({ "endpoint": "localhost:4566" }) else {
            unreachable!()
        };
        config
            .providers
            .insert(NAME.into(), RawOptions::new(fields));
        let cx = context(config);
        let msg = message(AwsCluster::of(&cx).await);
        assert!(
            msg.starts_with("conf/infra.config.json at `providers.aws.endpoint`: not an endpoint"),
            "{msg}"
        );
    }
}
