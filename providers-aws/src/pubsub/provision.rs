//! Finds, or with `provision` creates and configures, a subscription's SQS
//! queue and its SNS subscription.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName as Attr;
use serde_json::{Value, json};
use strata_core::registry::cloud::found_or_provisioned;
use strata_core::{Error, ErrorCode, Result};

use super::SnsTopic;
use crate::clients::{AwsClients, Service};
use crate::error::sdk_error;

/// What a subscription needs to know of its queue.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Queue {
    pub url: String,
    pub arn: String,
    /// The queue's visibility timeout: the lease of its deliveries.
    pub visibility: Duration,
    /// `(dead-letter queue ARN, max receive count)` of its redrive policy.
    pub redrive: Option<(String, u32)>,
}

/// What a queue should look like.
pub(crate) struct QueueSpec<'a> {
    /// The physical queue name (`.fifo` included for FIFO queues).
    pub name: &'a str,
    /// The topic whose messages the queue receives.
    pub topic: &'a SnsTopic,
    /// The visibility timeout in seconds to set; `None` leaves it as is.
    pub visibility_secs: Option<u32>,
    /// `(dead-letter queue ARN, max receive count)` to set.
    pub redrive: Option<(String, u32)>,
}

/// The queue of `spec`, created and configured when `provision` is set.
pub(crate) async fn ensure_queue(
    clients: &AwsClients,
    spec: &QueueSpec<'_>,
    provision: bool,
) -> Result<Queue> {
    let target = clients.describe(Service::Sqs);
    let name = spec.name;
    let url = found_or_provisioned(
        queue_url(clients, name, &target).await,
        provision,
        || create_queue(clients, name, &target),
        || {
            format!(
                "SQS queue `{name}` does not exist ({target}): create it and subscribe it to \
                 SNS topic `{}` with raw message delivery, or set \"provision\": true under \
                 providers.aws",
                spec.topic.name()
            )
        },
    )
    .await?;
    let mut attributes = queue_attributes(clients, &url, name, &target).await?;
    let arn = attributes
        .get(&Attr::QueueArn)
        .cloned()
        .ok_or_else(|| Error::internal(format!("SQS queue `{name}` reported no QueueArn")))?;
    if provision {
        let mut desired = HashMap::new();
        desired.insert(Attr::Policy, send_policy(&arn, spec.topic.arn()));
        if let Some(secs) = spec.visibility_secs {
            desired.insert(Attr::VisibilityTimeout, secs.to_string());
        }
        if let Some((dlq, max)) = &spec.redrive {
            let policy = json!({ "deadLetterTargetArn": dlq, "maxReceiveCount": max });
            desired.insert(Attr::RedrivePolicy, policy.to_string());
        }
        clients
            .sqs()
            .set_queue_attributes()
            .queue_url(&url)
            .set_attributes(Some(desired.clone()))
            .send()
            .await
            .map_err(|e| sdk_error(e, &format!("configuring SQS queue `{name}`"), &target))?;
        attributes.extend(desired);
    }
    let visibility = attributes
        .get(&Attr::VisibilityTimeout)
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(30), Duration::from_secs);
    let redrive = attributes
        .get(&Attr::RedrivePolicy)
        .and_then(|policy| parse_redrive(policy));
    Ok(Queue {
        url,
        arn,
        visibility,
        redrive,
    })
}

/// Makes sure `queue` is subscribed to `topic` with raw message delivery.
pub(crate) async fn ensure_subscribed(
    clients: &AwsClients,
    topic: &SnsTopic,
    queue_name: &str,
    queue: &Queue,
    provision: bool,
) -> Result<()> {
    let target = clients.describe(Service::Sns);
    let what = format!(
        "subscription of SQS queue `{queue_name}` to SNS topic `{}`",
        topic.name()
    );
    let sns = clients.sns();
    if let Some(arn) = find_subscription(clients, topic, &queue.arn, &what, &target).await? {
        let attributes = sns
            .get_subscription_attributes()
            .subscription_arn(&arn)
            .send()
            .await
            .map_err(|e| sdk_error(e, &what, &target))?
            .attributes
            .unwrap_or_default();
        if attributes.get("RawMessageDelivery").map(String::as_str) == Some("true") {
            return Ok(());
        }
        if !provision {
            return Err(Error::invalid_config(format!(
                "{what} does not use raw message delivery: set its RawMessageDelivery \
                 attribute to true, or set \"provision\": true under providers.aws"
            )));
        }
        sns.set_subscription_attributes()
            .subscription_arn(&arn)
            .attribute_name("RawMessageDelivery")
            .attribute_value("true")
            .send()
            .await
            .map_err(|e| sdk_error(e, &what, &target))?;
        return Ok(());
    }
    if !provision {
        return Err(Error::not_found(format!(
            "{what} does not exist ({target}): subscribe the queue with raw message delivery, \
             or set \"provision\": true under providers.aws"
        )));
    }
    sns.subscribe()
        .topic_arn(topic.arn())
        .protocol("sqs")
        .endpoint(&queue.arn)
        .attributes("RawMessageDelivery", "true")
        .return_subscription_arn(true)
        .send()
        .await
        .map_err(|e| sdk_error(e, &format!("creating {what}"), &target))?;
    Ok(())
}

/// The ARN of `topic`'s subscription delivering to `queue_arn`, if any.
async fn find_subscription(
    clients: &AwsClients,
    topic: &SnsTopic,
    queue_arn: &str,
    what: &str,
    target: &str,
) -> Result<Option<String>> {
    let mut token = None;
    loop {
        let page = clients
            .sns()
            .list_subscriptions_by_topic()
            .topic_arn(topic.arn())
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| sdk_error(e, &format!("looking up {what}"), target))?;
        let found = page.subscriptions().iter().find(|s| {
            s.protocol() == Some("sqs")
                && s.endpoint() == Some(queue_arn)
                && s.subscription_arn().is_some_and(|a| a.starts_with("arn:"))
        });
        if let Some(arn) = found.and_then(|s| s.subscription_arn()) {
            return Ok(Some(arn.to_owned()));
        }
        token = page.next_token;
        if token.is_none() {
            return Ok(None);
        }
    }
}

async fn queue_url(clients: &AwsClients, name: &str, target: &str) -> Result<String> {
    let output = clients
        .sqs()
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| sdk_error(e, &format!("looking up SQS queue `{name}`"), target))?;
    output
        .queue_url
        .ok_or_else(|| Error::internal(format!("SQS returned no URL for queue `{name}`")))
}

async fn create_queue(clients: &AwsClients, name: &str, target: &str) -> Result<String> {
    let mut create = clients.sqs().create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        create = create
            .attributes(Attr::FifoQueue, "true")
            .attributes(Attr::ContentBasedDeduplication, "false");
    }
    match create.send().await {
        Ok(output) => output
            .queue_url
            .ok_or_else(|| Error::internal(format!("SQS created queue `{name}` without a URL"))),
        Err(err) => {
            let err = sdk_error(err, &format!("creating SQS queue `{name}`"), target);
            // Created meanwhile by another process: use it.
            if err.code() == ErrorCode::AlreadyExists {
                queue_url(clients, name, target).await
            } else {
                Err(err)
            }
        }
    }
}

async fn queue_attributes(
    clients: &AwsClients,
    url: &str,
    name: &str,
    target: &str,
) -> Result<HashMap<Attr, String>> {
    let output = clients
        .sqs()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Attr::All)
        .send()
        .await
        .map_err(|e| sdk_error(e, &format!("reading SQS queue `{name}`"), target))?;
    Ok(output.attributes.unwrap_or_default())
}

/// The queue policy that lets `topic_arn` deliver to the queue.
fn send_policy(queue_arn: &str, topic_arn: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "strata-sns-delivery",
            "Effect": "Allow",
            "Principal": { "Service": "sns.amazonaws.com" },
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": { "ArnEquals": { "aws:SourceArn": topic_arn } }
        }]
    })
    .to_string()
}

/// `(deadLetterTargetArn, maxReceiveCount)` of a redrive policy; the count
/// comes as a number or a string depending on who wrote it.
fn parse_redrive(policy: &str) -> Option<(String, u32)> {
    let value: Value = serde_json::from_str(policy).ok()?;
    let arn = value.get("deadLetterTargetArn")?.as_str()?.to_owned();
    let count = match value.get("maxReceiveCount")? {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    Some((arn, u32::try_from(count).ok()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn redrive_policies_parse_with_numbers_or_strings() {
        let numeric = r#"{"deadLetterTargetArn":"arn:aws:sqs:r:1:dlq","maxReceiveCount":5}"#;
        let text = r#"{"deadLetterTargetArn":"arn:aws:sqs:r:1:dlq","maxReceiveCount":"5"}"#;
        for policy in [numeric, text] {
            assert_eq!(
                parse_redrive(policy),
                Some(("arn:aws:sqs:r:1:dlq".to_owned(), 5))
            );
        }
        assert_eq!(parse_redrive("not json"), None);
        assert_eq!(parse_redrive("{}"), None);
    }

    #[test]
    fn the_send_policy_names_the_queue_and_only_the_topic() {
        let policy: Value = serde_json::from_str(&send_policy("arn:q", "arn:t")).unwrap();
        let statement = &policy["Statement"][0];
        assert_eq!(statement["Resource"], "arn:q");
        assert_eq!(
            statement["Condition"]["ArnEquals"]["aws:SourceArn"],
            "arn:t"
        );
        assert_eq!(statement["Principal"]["Service"], "sns.amazonaws.com");
    }
}
