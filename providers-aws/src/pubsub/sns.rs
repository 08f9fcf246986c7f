//! [`SnsTopic`]: the [`TopicDriver`] over one SNS topic.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use strata_core::pubsub::{OutgoingMessage, PubSubCapabilities, TopicDriver};
use strata_core::{Error, ErrorCode, Result};

use super::wire::{self, Encoded, MAX_WIRE_BYTES};
use super::{capabilities, fifo_name};
use crate::clients::{AwsClients, Service};
use crate::error::{classify, copy_error, sdk_error};

/// Publishes to one SNS topic. Cheap to clone.
///
/// ```no_run
/// # async fn demo(clients: strata_aws::AwsClients) -> strata_core::Result<()> {
/// use std::sync::Arc;
/// use strata_core::pubsub::{OutgoingMessage, Topic, TopicOptions};
/// let driver = strata_aws::SnsTopic::open(&clients, "orders", false, true).await?;
/// let orders = Topic::new("orders", Arc::new(driver), TopicOptions::default());
/// orders.publish(OutgoingMessage::new("hello")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SnsTopic {
    inner: Arc<Inner>,
}

struct Inner {
    clients: AwsClients,
    name: String,
    arn: String,
    fifo: bool,
    capabilities: PubSubCapabilities,
}

impl std::fmt::Debug for SnsTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnsTopic")
            .field("arn", &self.inner.arn)
            .field("fifo", &self.inner.fifo)
            .finish()
    }
}

impl SnsTopic {
    /// Opens topic `name` (or a topic ARN). With `ordering` it is a FIFO topic
    /// and `.fifo` is appended to the name unless already there. With
    /// `provision` a missing topic is created.
    ///
    /// # Errors
    /// `NotFound` when the topic does not exist and `provision` is false,
    /// `PermissionDenied` for bad credentials, `Unavailable` when SNS cannot be
    /// reached.
    pub async fn open(
        clients: &AwsClients,
        name: &str,
        ordering: bool,
        provision: bool,
    ) -> Result<SnsTopic> {
        let physical = if ordering && !name.starts_with("arn:") {
            fifo_name(name)
        } else {
            name.to_owned()
        };
        let fifo = physical.ends_with(".fifo");
        let target = clients.describe(Service::Sns);
        let arn = if physical.starts_with("arn:") {
            clients
                .sns()
                .get_topic_attributes()
                .topic_arn(&physical)
                .send()
                .await
                .map_err(|e| sdk_error(e, &format!("SNS topic `{physical}`"), &target))?;
            physical.clone()
        } else if provision {
            let mut create = clients.sns().create_topic().name(&physical);
            if fifo {
                create = create.attributes("FifoTopic", "true");
            }
            let created = create
                .send()
                .await
                .map_err(|e| sdk_error(e, &format!("creating SNS topic `{physical}`"), &target))?;
            created.topic_arn.ok_or_else(|| {
                Error::internal(format!("SNS created topic `{physical}` without an ARN"))
            })?
        } else {
            find_topic(clients, &physical, &target).await?
        };
        let short = arn.rsplit(':').next().unwrap_or(&arn).to_owned();
        Ok(SnsTopic {
            inner: Arc::new(Inner {
                clients: clients.clone(),
                name: short,
                arn,
                fifo,
                capabilities: PubSubCapabilities {
                    messaging_system: "aws.sns",
                    ..capabilities(fifo, false)
                },
            }),
        })
    }

    /// The topic's ARN.
    pub fn arn(&self) -> &str {
        &self.inner.arn
    }

    /// The topic's physical name (with `.fifo` for FIFO topics).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether this is a FIFO topic (ordering keys are honoured).
    pub fn is_fifo(&self) -> bool {
        self.inner.fifo
    }

    /// Sends one PublishBatch of at most 10 entries within SNS's byte limit,
    /// writing each entry's outcome into `results`.
    async fn send(&self, entries: Vec<(usize, Encoded)>, results: &mut [Option<Result<String>>]) {
        let target = self.inner.clients.describe(Service::Sns);
        let what = format!("SNS PublishBatch to topic `{}`", self.inner.name);
        let mut request = self
            .inner
            .clients
            .sns()
            .publish_batch()
            .topic_arn(&self.inner.arn);
        for (slot, encoded) in &entries {
            match entry(*slot, encoded) {
                Ok(entry) => request = request.publish_batch_request_entries(entry),
                Err(err) => results[*slot] = Some(Err(err)),
            }
        }
        let entries: Vec<(usize, Encoded)> = entries
            .into_iter()
            .filter(|(slot, _)| results[*slot].is_none())
            .collect();
        if entries.is_empty() {
            return;
        }
        let output = match request.send().await {
            Ok(output) => output,
            Err(err) => {
                let err = sdk_error(err, &what, &target);
                for (slot, _) in &entries {
                    results[*slot] = Some(Err(copy_error(&err)));
                }
                return;
            }
        };
        let slot_of = |id: Option<&str>| id.and_then(|id| id.parse::<usize>().ok());
        for ok in output.successful.unwrap_or_default() {
            if let Some((slot, encoded)) =
                entries.iter().find(|(s, _)| Some(*s) == slot_of(ok.id()))
            {
                results[*slot] = Some(Ok(encoded.id.clone()));
            }
        }
        for failed in output.failed.unwrap_or_default() {
            let Some(slot) = slot_of(Some(failed.id())) else {
                continue;
            };
            let status = if failed.sender_fault() { 400 } else { 500 };
            let code = classify(Some(failed.code()), status);
            let message = failed.message().unwrap_or("no reason given");
            results[slot] = Some(Err(Error::new(
                code,
                format!("{what}: {}: {message}", failed.code()),
            )));
        }
    }
}

/// The PublishBatch entry for `encoded`, with id `slot`.
fn entry(slot: usize, encoded: &Encoded) -> Result<PublishBatchRequestEntry> {
    let mut entry = PublishBatchRequestEntry::builder()
        .id(slot.to_string())
        .message(&encoded.body);
    for (name, value) in &encoded.attributes {
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| Error::internal(format!("SNS attribute `{name}`: {e}")))?;
        entry = entry.message_attributes(name, value);
    }
    if let Some(group) = &encoded.group_id {
        entry = entry
            .message_group_id(group)
            .message_deduplication_id(&encoded.id);
    }
    entry
        .build()
        .map_err(|e| Error::internal(format!("SNS PublishBatch entry: {e}")))
}

/// Finds an existing topic's ARN by name.
async fn find_topic(clients: &AwsClients, name: &str, target: &str) -> Result<String> {
    let suffix = format!(":{name}");
    let mut token = None;
    loop {
        let page = clients
            .sns()
            .list_topics()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| sdk_error(e, &format!("looking up SNS topic `{name}`"), target))?;
        if let Some(arn) = page
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .find(|arn| arn.ends_with(&suffix))
        {
            return Ok(arn.to_owned());
        }
        token = page.next_token;
        if token.is_none() {
            return Err(Error::not_found(format!(
                "SNS topic `{name}` does not exist ({target}): create it, \
                 or set \"provision\": true under providers.aws to create it at startup"
            )));
        }
    }
}

#[async_trait]
impl TopicDriver for SnsTopic {
    fn capabilities(&self) -> &PubSubCapabilities {
        &self.inner.capabilities
    }

    async fn publish_batch(&self, batch: Vec<OutgoingMessage>) -> Vec<Result<String>> {
        let mut results: Vec<Option<Result<String>>> = batch.iter().map(|_| None).collect();
        let max = self.inner.capabilities.max_message_bytes;
        // Group into PublishBatch calls of at most 10 entries and 256 KiB; the
        // portable batcher already stays near that, this makes sure of it.
        let mut calls: Vec<Vec<(usize, Encoded)>> = Vec::new();
        let mut bytes = 0;
        for (slot, message) in batch.into_iter().enumerate() {
            let size = message.encoded_len();
            if size > max {
                results[slot] = Some(Err(Error::invalid_argument(format!(
                    "the message is {size} bytes, above the SNS limit of {max} \
                     (payload, attribute names and values, and ordering key)"
                ))));
                continue;
            }
            let encoded = match wire::encode(message, self.inner.fifo) {
                Ok(encoded) if encoded.wire_len > MAX_WIRE_BYTES => {
                    results[slot] = Some(Err(Error::invalid_argument(format!(
                        "the message is {} bytes as SNS counts them, above its limit of \
                         {MAX_WIRE_BYTES} (binary payloads are sent base64-encoded, 4/3 larger)",
                        encoded.wire_len
                    ))));
                    continue;
                }
                Ok(encoded) => encoded,
                Err(err) => {
                    results[slot] = Some(Err(err));
                    continue;
                }
            };
            let fits = calls
                .last()
                .is_some_and(|call| call.len() < 10 && bytes + encoded.wire_len <= MAX_WIRE_BYTES);
            if !fits {
                calls.push(Vec::new());
                bytes = 0;
            }
            bytes += encoded.wire_len;
            if let Some(call) = calls.last_mut() {
                call.push((slot, encoded));
            }
        }
        // One call after the other: FIFO topics keep the order of a key.
        for call in calls {
            self.send(call, &mut results).await;
        }
        results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| {
                    Err(Error::new(
                        ErrorCode::Internal,
                        "SNS PublishBatch answered neither success nor failure for a message",
                    ))
                })
            })
            .collect()
    }
}
