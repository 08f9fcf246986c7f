//! [`ServiceBusNamespace`]: the one AMQP connection per namespace that every
//! topic and subscription shares, authorized through CBS with a token for
//! the whole namespace (a shared access signature or an Entra ID access
//! token, [`ServiceBusAuth`](super::ServiceBusAuth)) that a task of the
//! connection puts again before it expires, and re-opened (with backoff)
//! when it drops. Links attached on a dropped connection are gone; their
//! owners see a new [`generation`](ServiceBusNamespace::generation) and
//! attach again.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::link::receiver::CreditMode;
use fe2o3_amqp::sasl_profile::SaslProfile;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::definitions::{Fields, ReceiverSettleMode, SenderSettleMode};
use fe2o3_amqp::types::messaging::{FilterSet, Source};
use fe2o3_amqp::types::primitives::{Symbol, Timestamp, Value};
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use fe2o3_amqp_cbs::client::CbsClient;
use fe2o3_amqp_cbs::token::CbsToken;
use fe2o3_amqp_management::client::MgmtClient;
use strata_core::{Error, ErrorCode, Result};
use tokio::sync::{Mutex, MutexGuard};

use super::auth::NamespaceToken;
use super::settings::ServiceBusSettings;

/// The source filter that asks for a session (a null value: any session).
const SESSION_FILTER: &str = "com.microsoft:session-filter";
/// How long the broker may wait for a session to become available.
pub(crate) const SESSION_WAIT: Duration = Duration::from_secs(2);
/// Longest wait before reconnecting after consecutive failures.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long connecting (TCP, TLS, SASL, open, begin, put-token) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long attaching a link (or beginning a session) may take; a session
/// receiver's attach may wait `SESSION_WAIT` for a session on top.
pub(crate) const ATTACH_TIMEOUT: Duration = Duration::from_secs(30);
/// The least time between two renewal attempts.
const RENEWAL_MIN_WAIT: Duration = Duration::from_secs(1);

/// One Service Bus namespace's AMQP connection, shared by its entities.
pub struct ServiceBusNamespace {
    settings: ServiceBusSettings,
    live: Mutex<Option<Live>>,
    generation: AtomicU64,
    failures: AtomicU32,
}

impl std::fmt::Debug for ServiceBusNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBusNamespace")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

struct Live {
    connection: ConnectionHandle<()>,
    session: SessionHandle<()>,
    /// The task that puts the token again (it owns the CBS link).
    renewal: Renewal,
}

/// Stops the token renewal task when the connection it serves is dropped.
struct Renewal(tokio::task::JoinHandle<()>);

impl Drop for Renewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Live {
    fn is_usable(&self) -> bool {
        // A connection whose token expired unrenewed is opened afresh.
        !self.connection.is_closed() && !self.session.is_ended() && !self.renewal.0.is_finished()
    }
}

impl ServiceBusNamespace {
    /// A namespace; nothing is sent until the first link is attached.
    pub fn new(settings: ServiceBusSettings) -> Self {
        Self {
            settings,
            live: Mutex::new(None),
            generation: AtomicU64::new(0),
            failures: AtomicU32::new(0),
        }
    }

    /// The settings it was made from.
    pub fn settings(&self) -> &ServiceBusSettings {
        &self.settings
    }

    /// Bumped on every new connection: a link attached at an older
    /// generation is gone.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Attaches a sender to `address` (a topic or queue).
    ///
    /// # Errors
    /// `Unavailable` when the namespace cannot be reached, `PermissionDenied`
    /// for a refused key, `NotFound` for a missing entity.
    pub async fn attach_sender(&self, address: &str) -> Result<(Sender, u64)> {
        let mut live = self.live().await?;
        let generation = self.generation();
        let Some(l) = live.as_mut() else {
            return Err(self.unreachable("no connection"));
        };
        let attach = Sender::builder()
            .name(link_name("sender", address))
            .target(address.to_owned())
            .sender_settle_mode(SenderSettleMode::Unsettled)
            .receiver_settle_mode(ReceiverSettleMode::First)
            .attach(&mut l.session);
        let attached = tokio::time::timeout(ATTACH_TIMEOUT, attach)
            .await
            .map_err(|_| "no answer to the attach".to_owned())
            .and_then(|r| r.map_err(|err| format!("{err:?}")));
        match attached {
            Ok(sender) => Ok((sender, generation)),
            Err(err) => Err(self.link_error(&mut live, address, &err)),
        }
    }

    /// Attaches a PeekLock receiver to `address`: with `credit`, that many
    /// messages of prefetch, renewed as they are settled; without, credit is
    /// granted by hand. `session` accepts the next available session
    /// (waiting at most `SESSION_WAIT` for one).
    ///
    /// # Errors
    /// As [`attach_sender`](Self::attach_sender); `Unavailable` when no
    /// session became available.
    pub async fn attach_receiver(
        &self,
        address: &str,
        credit: Option<u32>,
        session: bool,
    ) -> Result<(Receiver, u64)> {
        let mut live = self.live().await?;
        let generation = self.generation();
        let Some(l) = live.as_mut() else {
            return Err(self.unreachable("no connection"));
        };
        let attached = tokio::time::timeout(
            ATTACH_TIMEOUT,
            attach_receiver_on(&mut l.session, address, credit, session),
        )
        .await
        .unwrap_or_else(|_| Err("no answer to the attach".to_owned()));
        match attached {
            Ok(receiver) => Ok((receiver, generation)),
            Err(err) => Err(self.link_error(&mut live, address, &err)),
        }
    }

    /// Begins an AMQP session of its own on the connection, for links that
    /// may take long to attach (a session receiver waits for a session to
    /// become available) and must not hold up the others.
    ///
    /// # Errors
    /// As [`attach_sender`](Self::attach_sender).
    pub async fn begin_session(&self) -> Result<(SessionHandle<()>, u64)> {
        let mut live = self.live().await?;
        let generation = self.generation();
        let Some(l) = live.as_mut() else {
            return Err(self.unreachable("no connection"));
        };
        let begun = tokio::time::timeout(ATTACH_TIMEOUT, Session::begin(&mut l.connection))
            .await
            .map_err(|_| "no answer to the begin".to_owned())
            .and_then(|r| r.map_err(|err| err.to_string()));
        match begun {
            Ok(session) => Ok((session, generation)),
            Err(err) => {
                let err = self.unreachable(&format!("beginning a session: {err}"));
                if !l.is_usable() {
                    *live = None;
                }
                Err(err)
            }
        }
    }

    /// Attaches a request/response pair to `<entity>/$management`.
    ///
    /// # Errors
    /// As [`attach_sender`](Self::attach_sender).
    pub async fn attach_management(&self, entity: &str) -> Result<(MgmtClient, u64)> {
        let mut live = self.live().await?;
        let generation = self.generation();
        let Some(l) = live.as_mut() else {
            return Err(self.unreachable("no connection"));
        };
        let node = format!("{entity}/$management");
        let attach = MgmtClient::builder()
            .management_node_address(node.clone())
            .client_node_addr(link_name("mgmt", entity))
            .attach(&mut l.session);
        let attached = tokio::time::timeout(ATTACH_TIMEOUT, attach)
            .await
            .map_err(|_| "no answer to the attach".to_owned())
            .and_then(|r| r.map_err(|err| format!("{err:?}")));
        match attached {
            Ok(client) => Ok((client, generation)),
            Err(err) => Err(self.link_error(&mut live, &node, &err)),
        }
    }

    /// The live connection, opened (again) if there is none.
    async fn live(&self) -> Result<MutexGuard<'_, Option<Live>>> {
        let mut live = self.live.lock().await;
        if live.as_ref().is_some_and(Live::is_usable) {
            return Ok(live);
        }
        *live = None;
        let failures = self.failures.load(Ordering::Acquire);
        if failures > 0 {
            let backoff = Duration::from_millis(100u64 << failures.min(6)).min(MAX_BACKOFF);
            tokio::time::sleep(backoff).await;
        }
        let opened = tokio::time::timeout(CONNECT_TIMEOUT, self.open()).await;
        match opened {
            Ok(Ok(opened)) => {
                self.failures.store(0, Ordering::Release);
                self.generation.fetch_add(1, Ordering::AcqRel);
                *live = Some(opened);
                Ok(live)
            }
            Ok(Err(err)) => {
                self.failures.fetch_add(1, Ordering::AcqRel);
                Err(err)
            }
            Err(_) => {
                self.failures.fetch_add(1, Ordering::AcqRel);
                Err(self.unreachable("connecting timed out"))
            }
        }
    }

    async fn open(&self) -> Result<Live> {
        let s = &self.settings;
        let url = s.amqp_url();
        let builder = Connection::builder()
            .container_id(format!("strata-{:016x}", fastrand::u64(..)))
            .sasl_profile(SaslProfile::Anonymous)
            .hostname(s.host.as_str())
            .max_frame_size(65536u32)
            .alt_tls_establishment(s.tls);
        let mut connection = builder
            .open(url.as_str())
            .await
            .map_err(|e| self.unreachable(&format!("{e}")))?;
        let mut session = Session::begin(&mut connection)
            .await
            .map_err(|e| self.unreachable(&format!("{e}")))?;
        let mut cbs = CbsClient::attach(&mut session)
            .await
            .map_err(|e| self.unreachable(&format!("CBS: {e}")))?;
        let token = s.auth.token(&s.audience(), s.namespace()).await?;
        let expiry = put_token(&mut cbs, s, token).await?;
        let renewal = tokio::spawn(renew(cbs, s.clone(), expiry));
        Ok(Live {
            connection,
            session,
            renewal: Renewal(renewal),
        })
    }

    /// The error of a failed attach; a dead connection is dropped so the
    /// next attach opens a new one.
    fn link_error(&self, live: &mut Option<Live>, address: &str, detail: &str) -> Error {
        if live.as_ref().is_some_and(|l| !l.is_usable()) {
            *live = None;
        }
        let ns = self.settings.namespace();
        if detail.contains("not-found") || detail.contains("NotFound") {
            Error::not_found(format!(
                "Service Bus entity `{address}` does not exist in namespace `{ns}`"
            ))
        } else if detail.contains("unauthorized") || detail.contains("Unauthorized") {
            Error::permission_denied(format!(
                "Service Bus namespace `{ns}` refused access to `{address}`"
            ))
        } else {
            Error::unavailable(format!(
                "Service Bus namespace `{ns}`: attaching to `{address}` failed: {detail}"
            ))
        }
    }

    /// Marks the connection dead (after a link saw it fail).
    pub async fn drop_if_dead(&self) {
        let mut live = self.live.lock().await;
        if live.as_ref().is_some_and(|l| !l.is_usable()) {
            *live = None;
        }
    }

    pub(crate) fn unreachable(&self, detail: &str) -> Error {
        unreachable(&self.settings, detail)
    }
}

fn unreachable(s: &ServiceBusSettings, detail: &str) -> Error {
    Error::new(
        ErrorCode::Unavailable,
        format!(
            "Service Bus namespace `{}` at {} is unreachable: {detail}",
            s.namespace(),
            s.amqp_url()
        ),
    )
}

/// Puts `token` on `$cbs` for the whole namespace; returns its expiry.
///
/// # Errors
/// `PermissionDenied` when the namespace refuses it (naming the key name or
/// principal, never the token), `Unavailable` otherwise.
async fn put_token(
    cbs: &mut CbsClient,
    s: &ServiceBusSettings,
    token: NamespaceToken,
) -> Result<u64> {
    let audience = s.audience();
    let expires_at = Timestamp::from_milliseconds(
        i64::try_from(token.expires.saturating_mul(1000)).unwrap_or(i64::MAX),
    );
    let put = tokio::time::timeout(
        ATTACH_TIMEOUT,
        cbs.put_token(
            audience.as_str(),
            CbsToken::new(token.value.as_str(), token.token_type, expires_at),
        ),
    )
    .await;
    let Ok(put) = put else {
        return Err(unreachable(s, "CBS put-token had no answer"));
    };
    match put {
        Ok(()) => Ok(token.expires),
        Err(fe2o3_amqp_management::error::Error::Status(status)) => {
            let code = u16::from(status.code.0);
            // What the service said, unless it echoes the token.
            let said = status
                .description
                .filter(|d| !d.is_empty() && !d.contains(&token.value))
                .map(|d| format!(" ({code}: {d})"))
                .unwrap_or_else(|| format!(" ({code})"));
            if code == 401 || code == 403 {
                Err(s.auth.refused(s.namespace(), &said))
            } else {
                Err(unreachable(s, &format!("CBS put-token answered{said}")))
            }
        }
        Err(err) => Err(unreachable(s, &format!("CBS put-token: {err}"))),
    }
}

/// Keeps a connection authorized: wakes at half the put token's remaining
/// lifetime and puts the auth's current token when it is a newer one. A
/// shared access signature is signed afresh each time; an Entra ID token is
/// the cached one until the cache fetches the next within its margin of
/// expiry, which the halving reaches without knowing the margin. Ends when
/// the token has expired (the next attach then opens a new connection) or,
/// by abort, with the connection.
async fn renew(mut cbs: CbsClient, s: ServiceBusSettings, mut expiry: u64) {
    loop {
        let left = expiry.saturating_sub(unix_now());
        if left == 0 {
            tracing::warn!(
                "Service Bus namespace `{}`: the token expired before it could be renewed",
                s.namespace()
            );
            return;
        }
        tokio::time::sleep(Duration::from_secs(left / 2).max(RENEWAL_MIN_WAIT)).await;
        let renewed = match s.auth.token(&s.audience(), s.namespace()).await {
            Ok(token) if token.expires > expiry => put_token(&mut cbs, &s, token).await,
            Ok(_) => continue,
            Err(err) => Err(err),
        };
        match renewed {
            Ok(next) => expiry = next,
            Err(err) => tracing::warn!("Service Bus token renewal failed: {err}"),
        }
    }
}

/// Attaches a PeekLock receiver on `session` (see
/// [`ServiceBusNamespace::attach_receiver`]); the error is fe2o3's, as text.
pub(crate) async fn attach_receiver_on(
    session: &mut SessionHandle<()>,
    address: &str,
    credit: Option<u32>,
    sessionful: bool,
) -> std::result::Result<Receiver, String> {
    let mut source = Source::builder().address(address.to_owned());
    let mut properties = Fields::new();
    if sessionful {
        let mut filter = FilterSet::new();
        filter.insert(Symbol::from(SESSION_FILTER), Value::Null);
        source = source.filter(filter);
        properties.insert(
            Symbol::from("com.microsoft:timeout"),
            Value::Uint(u32::try_from(SESSION_WAIT.as_millis()).unwrap_or(u32::MAX)),
        );
    }
    Receiver::builder()
        .name(link_name("receiver", address))
        .source(source.build())
        .target(link_name("receiver-target", address))
        .sender_settle_mode(SenderSettleMode::Unsettled)
        .receiver_settle_mode(ReceiverSettleMode::Second)
        .credit_mode(credit.map_or(CreditMode::Manual, |c| CreditMode::Auto(c.max(1))))
        .auto_accept(false)
        .properties(properties)
        .attach(session)
        .await
        .map_err(|err| format!("{err:?}"))
}

/// A link name unique on the connection.
fn link_name(kind: &str, address: &str) -> String {
    format!("{kind}-{address}-{:08x}", fastrand::u32(..))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
