//! Finds, or with `provision` creates and configures, topics and
//! subscriptions.

use google_cloud_pubsub::model::{DeadLetterPolicy, Subscription};
use google_cloud_wkt::FieldMask;
use strata_core::registry::cloud::found_or_provisioned;
use strata_core::{Error, ErrorCode, Result};

use super::names::short_id;
use crate::clients::{GcpClients, Service};
use crate::error::gax_error;

/// The shortest and longest ack deadline Pub/Sub accepts, in seconds.
const ACK_DEADLINE_SECS: (i32, i32) = (10, 600);

/// Makes sure topic `path` exists, creating it with `provision`.
pub(crate) async fn ensure_topic(clients: &GcpClients, path: &str, provision: bool) -> Result<()> {
    let target = clients.describe(Service::PubSub);
    let admin = &clients.pubsub().await?.topics;
    let id = short_id(path);
    let found = admin.get_topic().set_topic(path).send().await;
    let found = found
        .map(drop)
        .map_err(|e| gax_error(e, &format!("reading Pub/Sub topic `{id}`"), &target));
    let create = || async {
        match admin.create_topic().set_name(path).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = gax_error(e, &format!("creating Pub/Sub topic `{id}`"), &target);
                // Created meanwhile by another process: use it.
                if err.code() == ErrorCode::AlreadyExists {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    };
    found_or_provisioned(found, provision, create, || {
        format!(
            "Pub/Sub topic `{path}` does not exist ({target}): create it, or set \
             \"provision\": true under providers.gcp to create it at startup"
        )
    })
    .await
}

/// What a subscription should look like.
pub(crate) struct SubscriptionSpec<'a> {
    /// `projects/P/subscriptions/S`.
    pub path: &'a str,
    /// `projects/P/topics/T`.
    pub topic: &'a str,
    /// The server-side ack deadline for new subscriptions, in seconds
    /// (clamped to Pub/Sub's 10 to 600).
    pub ack_deadline_secs: u64,
    /// Deliver messages of an ordering key in order.
    pub ordering: bool,
    /// `(dead-letter topic path, max delivery attempts)`.
    pub dead_letter: Option<(String, u32)>,
}

/// The subscription of `spec`, created or updated with `provision`.
pub(crate) async fn ensure_subscription(
    clients: &GcpClients,
    spec: &SubscriptionSpec<'_>,
    provision: bool,
) -> Result<Subscription> {
    let target = clients.describe(Service::PubSub);
    let admin = &clients.pubsub().await?.subscriptions;
    let id = short_id(spec.path);
    let what = format!("Pub/Sub subscription `{id}`");
    let policy = spec.dead_letter.as_ref().map(|(topic, max)| {
        DeadLetterPolicy::new()
            .set_dead_letter_topic(topic.clone())
            .set_max_delivery_attempts(*max as i32)
    });
    let found = admin
        .get_subscription()
        .set_subscription(spec.path)
        .send()
        .await;
    let existing = match found {
        Ok(existing) => existing,
        Err(e) => {
            let err = gax_error(e, &format!("reading {what}"), &target);
            if err.code() != ErrorCode::NotFound {
                return Err(err);
            }
            if !provision {
                return Err(Error::not_found(format!(
                    "{what} does not exist ({target}): create it on topic `{}`, or set \
                     \"provision\": true under providers.gcp",
                    short_id(spec.topic)
                ))
                .with_source(err));
            }
            let deadline = (spec.ack_deadline_secs.min(600) as i32)
                .clamp(ACK_DEADLINE_SECS.0, ACK_DEADLINE_SECS.1);
            let created = admin
                .create_subscription()
                .set_name(spec.path)
                .set_topic(spec.topic)
                .set_ack_deadline_seconds(deadline)
                .set_enable_message_ordering(spec.ordering)
                .set_or_clear_dead_letter_policy(policy.clone())
                .send()
                .await;
            match created {
                Ok(created) => return Ok(created),
                Err(e) => {
                    let err = gax_error(e, &format!("creating {what}"), &target);
                    if err.code() != ErrorCode::AlreadyExists {
                        return Err(err);
                    }
                    // Created meanwhile by another process: check it as found.
                    admin
                        .get_subscription()
                        .set_subscription(spec.path)
                        .send()
                        .await
                        .map_err(|e| gax_error(e, &format!("reading {what}"), &target))?
                }
            }
        }
    };
    check_existing(&what, spec, &existing)?;
    let same_policy = match (&existing.dead_letter_policy, &policy) {
        (None, None) => true,
        (Some(have), Some(want)) => {
            have.dead_letter_topic == want.dead_letter_topic
                && have.max_delivery_attempts == want.max_delivery_attempts
        }
        _ => false,
    };
    if same_policy {
        return Ok(existing);
    }
    if !provision {
        let want = spec.dead_letter.as_ref().map_or_else(
            || {
                "none: dead letters are the engine's unless the subscription sets \
                 \"dead_letter_mode\": \"native\""
                    .to_owned()
            },
            |(t, max)| format!("topic `{}` after {max} attempts", short_id(t)),
        );
        return Err(Error::invalid_config(format!(
            "{what} has another dead-letter policy than the config asks ({want}): change it, \
             or set \"provision\": true under providers.gcp"
        )));
    }
    let update = existing.clone().set_or_clear_dead_letter_policy(policy);
    admin
        .update_subscription()
        .set_subscription(update)
        .set_update_mask(FieldMask::default().set_paths(["dead_letter_policy"]))
        .send()
        .await
        .map_err(|e| {
            gax_error(
                e,
                &format!("setting the dead-letter policy of {what}"),
                &target,
            )
        })
}

/// What cannot be changed on an existing subscription must already match.
fn check_existing(what: &str, spec: &SubscriptionSpec<'_>, existing: &Subscription) -> Result<()> {
    if existing.topic != spec.topic {
        return Err(Error::invalid_config(format!(
            "{what} belongs to `{}`, not to `{}`: give the subscription another name",
            existing.topic, spec.topic
        )));
    }
    if spec.ordering && !existing.enable_message_ordering {
        return Err(Error::invalid_config(format!(
            "{what} was created without message ordering, and Pub/Sub cannot turn it on \
             later: delete it (or use another name) so it is created with ordering"
        )));
    }
    Ok(())
}
