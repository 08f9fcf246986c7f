//! [`ServiceBusSubscription`]: receives from a Service Bus subscription in
//! PeekLock mode.
//!
//! One task owns each receiving link (`links`; fe2o3's `recv` needs it exclusively):
//! it forwards deliveries into a channel, which `receive` reads (cancel
//! safe), and sends the dispositions it is asked for. Settling:
//! ack = complete (Accepted), nack = abandon (Modified, delivery failed, so
//! the broker counts the attempt), dead-letter = Rejected with
//! `com.microsoft:dead-letter` and the reason. A delivery whose link has
//! gone (the connection dropped) is settled by lock token through
//! `$management` instead, so a reconnect loses no settlement.
//!
//! Ordering keys are session ids: an ordered subscription requires
//! sessions, and a few session links (each holding one session's lock)
//! take one message at a time, granting the next only after the last is
//! settled, so a key's messages are handled in order and a retried one
//! comes back before the key's next. A session link that stays idle gives
//! its session up, so every key is served.
//!
//! A nack with a delay holds the message locked (renewing the lock while
//! the delay is longer than half of it) and abandons it when the delay has
//! passed: Service Bus's abandon has no delay, and scheduling a copy would
//! lose the broker's delivery count and native dead-lettering. If the
//! process dies meanwhile, the lock runs out and the message comes back
//! sooner than asked, never later than one lock duration.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use async_trait::async_trait;
use fe2o3_amqp::link::delivery::DeliveryInfo;
use fe2o3_amqp::link::receiver::TerminalDeliveryState;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::definitions::{Error as AmqpError, ErrorCondition, Fields};
use fe2o3_amqp::types::messaging::{Accepted, Modified, Rejected};
use fe2o3_amqp::types::primitives::{Symbol, Value};
use fe2o3_amqp_management::client::MgmtClient;
use strata_core::pubsub::{Delivery, DeliveryHandle, PubSubCapabilities, SubscriptionDriver};
use strata_core::sync::lock;
use strata_core::{Error, Result};
use tokio::sync::{Mutex, mpsc, oneshot, watch};

use super::connection::{ATTACH_TIMEOUT, SESSION_WAIT, ServiceBusNamespace, attach_receiver_on};
use super::links::{Received, Settle, run_link, run_session_link};
use super::management::{self, NewSubscription, Receiving};
use super::requests::{RenewLock, UpdateDisposition};
use super::topic::ServiceBusTopic;
use super::{capabilities, wire};

/// The dead-letter condition Service Bus reads from a Rejected outcome.
const DEAD_LETTER: &str = "com.microsoft:dead-letter";
/// How long a settlement or management request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Prefetch before the subscriber says how many it holds.
const DEFAULT_CREDIT: u32 = 16;
/// Most session links (sessions served at once) of one consumer.
const MAX_SESSION_LINKS: u32 = 8;
/// Wait after failing to accept a session.
const SESSION_RETRY: Duration = Duration::from_millis(200);

/// How a subscription is opened.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceBusSubscriptionOptions {
    /// The lock duration a new subscription gets (5 s to 5 min); an
    /// existing one keeps its own, which [`SubscriptionDriver::lease`] reports.
    pub lease: Duration,
    /// Deliveries before the broker dead-letters by itself. The engine
    /// dead-letters at its `max_attempts`, so this stays above it.
    pub max_delivery_count: u32,
    /// Create the subscription when missing.
    pub provision: bool,
    /// Messages sharing an ordering key are handled in order: a new
    /// subscription requires sessions (session id = ordering key).
    pub ordering: bool,
    /// Claim explicit dead-lettering: the engine then moves a message to
    /// the subscription's `$DeadLetterQueue` with its reason. Off when the
    /// engine should publish dead letters to a dead-letter topic instead.
    pub explicit_dead_letter: bool,
    /// A new subscription forwards its dead letters to this topic or queue
    /// (`ForwardDeadLetteredMessagesTo`), so explicit dead letters reach a
    /// dead-letter topic natively.
    pub forward_dead_letters_to: Option<String>,
}

impl Default for ServiceBusSubscriptionOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            max_delivery_count: 2000,
            provision: false,
            ordering: false,
            explicit_dead_letter: true,
            forward_dead_letters_to: None,
        }
    }
}

/// What a subscription (or a queue in a topic's place) is created with.
impl From<&ServiceBusSubscriptionOptions> for NewSubscription {
    fn from(opts: &ServiceBusSubscriptionOptions) -> Self {
        NewSubscription {
            lock_duration: opts.lease,
            requires_session: opts.ordering,
            max_delivery_count: opts.max_delivery_count,
            forward_dead_letters_to: opts.forward_dead_letters_to.clone(),
        }
    }
}

/// A consumer of one Service Bus subscription, or of a queue.
pub struct ServiceBusSubscription {
    inner: Arc<Inner>,
    /// Dropped with the subscription: its session links then stop.
    _closed: watch::Sender<bool>,
}

struct Inner {
    namespace: Arc<ServiceBusNamespace>,
    /// `topic/Subscriptions/name`, or the queue's name.
    path: String,
    lease: Duration,
    capabilities: PubSubCapabilities,
    credit: AtomicU32,
    /// Receives through session links (the subscription requires sessions).
    sessions: bool,
    sessions_started: AtomicBool,
    closed: watch::Receiver<bool>,
    /// The plain (sessionless) link: its id and connection generation.
    plain: Mutex<Option<(u64, u64)>>,
    /// The command channel of every live link, by link id.
    links: SyncMutex<HashMap<u64, mpsc::UnboundedSender<Settle>>>,
    deliveries_tx: mpsc::UnboundedSender<Received>,
    deliveries: Mutex<mpsc::UnboundedReceiver<Received>>,
    /// Unsettled deliveries by handle.
    held: SyncMutex<HashMap<u64, Held>>,
    next_handle: AtomicU64,
    next_link: AtomicU64,
    mgmt: Mutex<Option<(MgmtClient, u64)>>,
}

struct Held {
    info: DeliveryInfo,
    link: u64,
    lock_token: Option<[u8; 16]>,
}

impl ServiceBusSubscription {
    /// Opens subscription `name` of `topic`, created with `opts` when
    /// missing and `opts.provision` is set. When `topic` is a queue, the
    /// queue itself is received from and `name` is not used.
    ///
    /// # Errors
    /// `NotFound` (saying how to fix it), `PermissionDenied`, `Unavailable`;
    /// `Unsupported` for a session-enabled subscription (sessions are not
    /// served yet).
    pub async fn open(
        topic: &ServiceBusTopic,
        name: &str,
        opts: &ServiceBusSubscriptionOptions,
    ) -> Result<ServiceBusSubscription> {
        let namespace = topic.namespace().clone();
        let entity = if topic.is_queue() {
            Receiving::Queue(topic.name())
        } else {
            Receiving::Subscription {
                topic: topic.name(),
                name,
            }
        };
        let facts = management::ensure_receiving(
            namespace.settings(),
            entity,
            opts.provision,
            &opts.into(),
        )
        .await?;
        if opts.ordering && !facts.requires_session {
            let what = match entity {
                Receiving::Queue(queue) => format!("queue `{queue}`"),
                Receiving::Subscription { topic, name } => {
                    format!("subscription `{name}` of topic `{topic}`")
                }
            };
            return Err(Error::invalid_config(format!(
                "Service Bus {what} exists without sessions, which an ordered topic needs \
                 (session id = ordering key): recreate it with RequiresSession"
            )));
        }
        let max = namespace.settings().max_message_bytes;
        let (closed_tx, closed) = watch::channel(false);
        let (deliveries_tx, deliveries) = mpsc::unbounded_channel();
        let mut caps = capabilities(max, true, opts.explicit_dead_letter);
        caps.ordering = facts.requires_session;
        Ok(ServiceBusSubscription {
            inner: Arc::new(Inner {
                namespace,
                path: entity.path(),
                lease: facts.lock_duration,
                capabilities: caps,
                credit: AtomicU32::new(DEFAULT_CREDIT),
                sessions: facts.requires_session,
                sessions_started: AtomicBool::new(false),
                closed,
                plain: Mutex::new(None),
                links: SyncMutex::new(HashMap::new()),
                deliveries_tx,
                deliveries: Mutex::new(deliveries),
                held: SyncMutex::new(HashMap::new()),
                next_handle: AtomicU64::new(1),
                next_link: AtomicU64::new(1),
                mgmt: Mutex::new(None),
            }),
            _closed: closed_tx,
        })
    }
}

impl Inner {
    /// Attaches the plain link if there is none alive.
    async fn ensure_plain_link(&self) -> Result<()> {
        let mut plain = self.plain.lock().await;
        let generation = self.namespace.generation();
        if let Some((id, g)) = *plain
            && g == generation
            && lock(&self.links).get(&id).is_some_and(|c| !c.is_closed())
        {
            return Ok(());
        }
        if let Some((old, _)) = plain.take() {
            // Its task ends when its command channel closes.
            lock(&self.links).remove(&old);
        }
        let credit = self.credit.load(Ordering::Relaxed);
        let (receiver, generation) = self
            .namespace
            .attach_receiver(&self.path, Some(credit), false)
            .await?;
        let id = self.next_link.fetch_add(1, Ordering::Relaxed);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        lock(&self.links).insert(id, commands);
        tokio::spawn(run_link(
            id,
            receiver,
            commands_rx,
            self.deliveries_tx.clone(),
        ));
        *plain = Some((id, generation));
        Ok(())
    }

    /// Starts the session links once.
    fn start_sessions(self: &Arc<Self>) {
        if self.sessions_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let slots = self
            .credit
            .load(Ordering::Relaxed)
            .clamp(1, MAX_SESSION_LINKS);
        for _ in 0..slots {
            tokio::spawn(session_slot(self.clone()));
        }
    }

    fn take(&self, handle: &DeliveryHandle) -> Result<Held> {
        let id = parse_handle(handle)?;
        lock(&self.held)
            .remove(&id)
            .ok_or_else(|| unknown_handle(handle))
    }

    /// Settles `held` on its link, or by lock token when that link is gone.
    async fn settle(&self, held: Held, state: TerminalDeliveryState) -> Result<()> {
        let commands = lock(&self.links)
            .get(&held.link)
            .filter(|c| !c.is_closed())
            .cloned();
        if let Some(commands) = commands {
            let (done, answer) = oneshot::channel();
            let sent = commands.send(Settle {
                info: held.info.clone(),
                state: state.clone(),
                done,
            });
            if sent.is_ok()
                && let Ok(Ok(result)) = tokio::time::timeout(REQUEST_TIMEOUT, answer).await
            {
                return result.map_err(|e| {
                    Error::unavailable(format!(
                        "settling a message of Service Bus subscription `{}`: {e}",
                        self.path
                    ))
                });
            }
        }
        let Some(token) = held.lock_token else {
            return Err(Error::unavailable(format!(
                "the link of Service Bus subscription `{}` is gone and the delivery has no \
                 lock token; it is redelivered when its lock expires",
                self.path
            )));
        };
        let (status, reason) = match state {
            TerminalDeliveryState::Accepted(_) => ("completed", None),
            TerminalDeliveryState::Rejected(r) => (
                "suspended",
                r.error.and_then(|e| e.description).or(Some(String::new())),
            ),
            _ => ("abandoned", None),
        };
        self.management(UpdateDisposition {
            status,
            lock_tokens: vec![token],
            reason,
        })
        .await
    }

    /// Sends a `$management` request of this subscription.
    async fn management<R>(&self, request: R) -> Result<()>
    where
        R: fe2o3_amqp_management::request::Request<Response = super::requests::Reply>,
    {
        let mut mgmt = self.mgmt.lock().await;
        let generation = self.namespace.generation();
        if mgmt.as_ref().is_none_or(|(_, g)| *g != generation) {
            *mgmt = None;
            *mgmt = Some(self.namespace.attach_management(&self.path).await?);
        }
        let Some((client, _)) = mgmt.as_mut() else {
            return Err(self.namespace.unreachable("no management link"));
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, client.call(request)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(fe2o3_amqp_management::error::Error::Status(status))) => {
                let code = u16::from(status.code.0);
                let text = status.description.unwrap_or_default();
                if code == 410 || text.contains("lock") {
                    Err(Error::precondition_failed(format!(
                        "Service Bus subscription `{}`: the message's lock was lost ({code} \
                         {text}); it will be redelivered",
                        self.path
                    )))
                } else {
                    Err(Error::unavailable(format!(
                        "Service Bus subscription `{}`: management request answered {code} {text}",
                        self.path
                    )))
                }
            }
            Ok(Err(err)) => {
                *mgmt = None;
                Err(self
                    .namespace
                    .unreachable(&format!("management request: {err}")))
            }
            Err(_) => {
                *mgmt = None;
                Err(self.namespace.unreachable("management request timed out"))
            }
        }
    }

    fn lock_token(&self, handle: &DeliveryHandle) -> Result<[u8; 16]> {
        let id = parse_handle(handle)?;
        lock(&self.held)
            .get(&id)
            .ok_or_else(|| unknown_handle(handle))?
            .lock_token
            .ok_or_else(|| Error::invalid_argument("the delivery has no lock token"))
    }
}

/// Keeps one session link: accepts the next available session, serves it
/// until it has been idle a while (`links::SESSION_IDLE`), then takes another; stops
/// when the subscription is dropped.
async fn session_slot(inner: Arc<Inner>) {
    let mut closed = inner.closed.clone();
    // An AMQP session of the slot's own: accepting a Service Bus session
    // may wait, and must not hold up the shared one.
    let mut own: Option<(SessionHandle<()>, u64)> = None;
    loop {
        let generation = inner.namespace.generation();
        if own
            .as_ref()
            .is_none_or(|(s, g)| *g != generation || s.is_ended())
        {
            own = tokio::select! {
                _ = closed.changed() => return,
                begun = inner.namespace.begin_session() => begun.ok(),
            };
        }
        let Some((session, _)) = own.as_mut() else {
            tokio::select! {
                _ = closed.changed() => return,
                () = tokio::time::sleep(SESSION_RETRY) => continue,
            }
        };
        let attached = tokio::select! {
            _ = closed.changed() => break,
            attached = tokio::time::timeout(
                ATTACH_TIMEOUT + SESSION_WAIT,
                attach_receiver_on(session, &inner.path, None, true),
            ) => attached.unwrap_or_else(|_| Err("no answer to the attach".to_owned())),
        };
        let Ok(receiver) = attached else {
            // No session available (or the namespace is down): try again.
            tokio::select! {
                _ = closed.changed() => break,
                () = tokio::time::sleep(SESSION_RETRY) => continue,
            }
        };
        let id = inner.next_link.fetch_add(1, Ordering::Relaxed);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        lock(&inner.links).insert(id, commands);
        run_session_link(
            id,
            receiver,
            commands_rx,
            inner.deliveries_tx.clone(),
            closed.clone(),
        )
        .await;
        lock(&inner.links).remove(&id);
        if closed.has_changed().unwrap_or(true) {
            break;
        }
    }
    if let Some((mut session, _)) = own {
        let _ = session.end().await;
    }
}

#[async_trait]
impl SubscriptionDriver for ServiceBusSubscription {
    fn capabilities(&self) -> &PubSubCapabilities {
        &self.inner.capabilities
    }

    fn lease(&self) -> Duration {
        self.inner.lease
    }

    fn set_max_held(&self, deliveries: usize) {
        let credit = u32::try_from(deliveries).unwrap_or(u32::MAX).clamp(1, 5000);
        self.inner.credit.store(credit, Ordering::Relaxed);
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let inner = &self.inner;
        if inner.sessions {
            inner.start_sessions();
        } else {
            inner.ensure_plain_link().await?;
        }
        let mut channel = inner.deliveries.lock().await;
        let first = match tokio::time::timeout(wait, channel.recv()).await {
            Ok(Some(d)) => d,
            // `None` cannot happen: `inner` holds a sender.
            Err(_) | Ok(None) => return Ok(Vec::new()),
        };
        let mut raw = vec![first];
        while raw.len() < max {
            match channel.try_recv() {
                Ok(d) => raw.push(d),
                Err(_) => break,
            }
        }
        drop(channel);
        let mut out = Vec::with_capacity(raw.len());
        let mut held = lock(&inner.held);
        for (link_id, delivery) in raw {
            let info = DeliveryInfo::from(&delivery);
            let lock_token = wire::lock_token(delivery.delivery_tag().as_ref());
            let message = wire::decode(delivery.into_message());
            let id = inner.next_handle.fetch_add(1, Ordering::Relaxed);
            held.insert(
                id,
                Held {
                    info,
                    link: link_id,
                    lock_token,
                },
            );
            out.push(Delivery {
                message,
                handle: DeliveryHandle(id.to_string()),
            });
        }
        Ok(out)
    }

    async fn ack(&self, handles: Vec<DeliveryHandle>) -> Result<()> {
        let mut first_error = None;
        for handle in handles {
            let result = match self.inner.take(&handle) {
                Ok(held) => {
                    self.inner
                        .settle(held, TerminalDeliveryState::Accepted(Accepted {}))
                        .await
                }
                Err(err) => Err(err),
            };
            if let Err(err) = result {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn nack(&self, handle: DeliveryHandle, redeliver_after: Duration) -> Result<()> {
        let abandon = TerminalDeliveryState::Modified(Modified {
            delivery_failed: Some(true),
            undeliverable_here: Some(false),
            message_annotations: None,
        });
        if redeliver_after.is_zero() {
            let held = self.inner.take(&handle)?;
            return self.inner.settle(held, abandon).await;
        }
        // Checked now, so a bad handle fails here and not in the task.
        parse_handle(&handle)?;
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let mut left = redeliver_after;
            let step = inner.lease / 2;
            while left > step && !step.is_zero() {
                tokio::time::sleep(step).await;
                left -= step;
                let Ok(token) = inner.lock_token(&handle) else {
                    return;
                };
                if let Err(err) = inner
                    .management(RenewLock {
                        lock_tokens: vec![token],
                    })
                    .await
                {
                    tracing::warn!("keeping a nacked message locked failed: {err}");
                }
            }
            tokio::time::sleep(left).await;
            if let Ok(held) = inner.take(&handle)
                && let Err(err) = inner.settle(held, abandon).await
            {
                tracing::warn!("abandoning a nacked message failed: {err}");
            }
        });
        Ok(())
    }

    /// Renews the message's lock: Service Bus extends it by the
    /// subscription's lock duration, whatever `lease` asks.
    async fn extend_lease(&self, handle: &DeliveryHandle, _lease: Duration) -> Result<()> {
        let token = self.inner.lock_token(handle)?;
        self.inner
            .management(RenewLock {
                lock_tokens: vec![token],
            })
            .await
    }

    async fn dead_letter(&self, handle: DeliveryHandle, reason: &str) -> Result<()> {
        let held = self.inner.take(&handle)?;
        let mut info = Fields::new();
        info.insert(
            Symbol::from("DeadLetterReason"),
            Value::String(reason.to_owned()),
        );
        info.insert(
            Symbol::from("DeadLetterErrorDescription"),
            Value::String(reason.to_owned()),
        );
        let rejected = TerminalDeliveryState::Rejected(Rejected {
            error: Some(AmqpError::new(
                ErrorCondition::Custom(Symbol::from(DEAD_LETTER)),
                Some(reason.to_owned()),
                Some(info),
            )),
        });
        self.inner.settle(held, rejected).await
    }
}

impl Drop for ServiceBusSubscription {
    fn drop(&mut self) {
        // Closing the command channels ends the links' tasks, which close
        // the links; the broker then releases what was not settled. (Session
        // links also stop on `_closed`, dropped with `self`.)
        lock(&self.inner.links).clear();
    }
}

fn parse_handle(handle: &DeliveryHandle) -> Result<u64> {
    handle.0.parse().map_err(|_| unknown_handle(handle))
}

fn unknown_handle(handle: &DeliveryHandle) -> Error {
    Error::invalid_argument(format!(
        "`{}` is not an unsettled delivery of this Service Bus subscription",
        handle.0
    ))
}
