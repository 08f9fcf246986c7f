//! [`PubSubSubscription`]: the [`SubscriptionDriver`] over one Pub/Sub
//! subscription.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use strata_core::pubsub::{Delivery, DeliveryHandle, PubSubCapabilities, SubscriptionDriver};
use strata_core::{Error, Result};

use super::provision::{SubscriptionSpec, ensure_subscription};
use super::receiver::{PullSettings, Receiver};
use super::{PubSubTopic, capabilities, names};
use crate::clients::{GcpClients, Service};

/// Pub/Sub's bounds for a dead-letter policy's max delivery attempts.
const MAX_ATTEMPTS: (u32, u32) = (5, 100);

/// Where a subscription's dead letters go natively: after `max_attempts`
/// deliveries Pub/Sub forwards a message to `topic`, and every subscription
/// of that topic receives it.
///
/// On Google Cloud the Pub/Sub service account
/// (`service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com`) needs the
/// publisher role on the dead-letter topic and the subscriber role on this
/// subscription; Strata cannot grant them.
#[derive(Debug, Clone)]
pub struct PubSubDeadLetter {
    /// The dead-letter topic.
    pub topic: PubSubTopic,
    /// Deliveries before a message moves (5 to 100).
    pub max_attempts: u32,
}

/// How to open a [`PubSubSubscription`].
#[derive(Debug, Clone)]
pub struct PubSubSubscriptionOptions {
    /// How long a delivery stays leased before it is redelivered (kept by
    /// Strata; the server-side ack deadline of a new subscription is this,
    /// clamped to Pub/Sub's 10 to 600 s).
    pub lease: Duration,
    /// Deliver messages sharing an ordering key in order
    /// (`enable_message_ordering`, fixed when the subscription is created).
    pub ordering: bool,
    /// Native dead-lettering; see [`PubSubDeadLetter`].
    pub dead_letter: Option<PubSubDeadLetter>,
    /// Most deliveries this consumer prefetches at once, whatever its
    /// subscriber's `max_concurrency` (it prefetches twice that): the rest
    /// stay with Pub/Sub for other consumers.
    pub max_outstanding: usize,
    /// Create the subscription if missing, and set its dead-letter policy.
    pub provision: bool,
}

impl Default for PubSubSubscriptionOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            ordering: false,
            dead_letter: None,
            max_outstanding: 1000,
            provision: false,
        }
    }
}

/// Receives from one Pub/Sub subscription over streaming pull. Cheap to
/// clone; clones share one stream. Open the subscription again for another
/// competing consumer.
#[derive(Clone)]
pub struct PubSubSubscription {
    inner: Arc<Inner>,
}

struct Inner {
    path: String,
    receiver: Receiver,
    lease: Duration,
    capabilities: PubSubCapabilities,
}

impl std::fmt::Debug for PubSubSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubSubSubscription")
            .field("path", &self.inner.path)
            .field("lease", &self.inner.lease)
            .field("capabilities", &self.inner.capabilities)
            .finish()
    }
}

impl PubSubSubscription {
    /// Opens subscription `name` (an id in the configured project, or a full
    /// name) of `topic`.
    ///
    /// # Errors
    /// `InvalidArgument` for an invalid id; `NotFound` when the subscription
    /// is missing and `opts.provision` is false; `InvalidConfig` when it
    /// belongs to another topic, lacks ordering that is asked for, or has
    /// another dead-letter policy and may not be changed, or `max_attempts`
    /// is outside 5 to 100; `PermissionDenied` / `Unavailable` as for any
    /// call.
    pub async fn open(
        clients: &GcpClients,
        topic: &PubSubTopic,
        name: &str,
        opts: &PubSubSubscriptionOptions,
    ) -> Result<PubSubSubscription> {
        let path = names::subscription_path(clients.project(), name)?;
        if opts.lease.is_zero() {
            return Err(Error::invalid_config(format!(
                "subscription `{name}`: the lease must be longer than zero"
            )));
        }
        let dead_letter = match &opts.dead_letter {
            Some(dead) if !(MAX_ATTEMPTS.0..=MAX_ATTEMPTS.1).contains(&dead.max_attempts) => {
                return Err(Error::invalid_config(format!(
                    "subscription `{name}`: max_attempts is {}; Pub/Sub dead-letter policies \
                     allow {} to {}",
                    dead.max_attempts, MAX_ATTEMPTS.0, MAX_ATTEMPTS.1
                )));
            }
            Some(dead) => Some((dead.topic.path().to_owned(), dead.max_attempts)),
            None => None,
        };
        let lease_secs = opts.lease.as_secs() + u64::from(opts.lease.subsec_nanos() > 0);
        let spec = SubscriptionSpec {
            path: &path,
            topic: topic.path(),
            ack_deadline_secs: lease_secs,
            ordering: opts.ordering,
            dead_letter,
        };
        let found = ensure_subscription(clients, &spec, opts.provision).await?;
        let settings = PullSettings {
            path: path.clone(),
            lease: opts.lease,
            max_outstanding: opts.max_outstanding,
            ordered: found.enable_message_ordering,
            target: clients.describe(Service::PubSub),
        };
        let client = clients.pubsub().await?.subscriber.clone();
        Ok(PubSubSubscription {
            inner: Arc::new(Inner {
                path,
                receiver: Receiver::new(client, settings),
                lease: opts.lease,
                capabilities: capabilities(
                    found.enable_message_ordering,
                    found.dead_letter_policy.is_some(),
                ),
            }),
        })
    }

    /// The subscription's full name, `projects/P/subscriptions/S`.
    pub fn path(&self) -> &str {
        &self.inner.path
    }
}

#[async_trait]
impl SubscriptionDriver for PubSubSubscription {
    fn capabilities(&self) -> &PubSubCapabilities {
        &self.inner.capabilities
    }

    fn lease(&self) -> Duration {
        self.inner.lease
    }

    fn set_max_held(&self, deliveries: usize) {
        self.inner.receiver.set_max_held(deliveries);
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        self.inner.receiver.receive(max, wait).await
    }

    async fn ack(&self, handles: Vec<DeliveryHandle>) -> Result<()> {
        self.inner.receiver.leases().ack(&handles)
    }

    async fn nack(&self, handle: DeliveryHandle, redeliver_after: Duration) -> Result<()> {
        self.inner.receiver.leases().nack(&handle, redeliver_after)
    }

    async fn extend_lease(&self, handle: &DeliveryHandle, lease: Duration) -> Result<()> {
        self.inner.receiver.leases().extend(handle, lease)
    }
}
