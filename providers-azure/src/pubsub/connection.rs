//! [`ServiceBusNamespace`]: the one AMQP connection per namespace that every
//! topic and subscription shares, authorized through CBS with a shared access
//! signature for the whole namespace, and re-opened (with backoff) when it
//! drops. Links attached on a dropped connection are gone; their owners see a
//! new [`generation`](ServiceBusNamespace::generation) and attach again.

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

use super::sas;
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
/// A token is put again when this little of its lifetime is left.
const TOKEN_REFRESH: Duration = Duration::from_secs(15 * 60);

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
    cbs: CbsClient,
    /// When the namespace token expires (seconds since the epoch).
    token_expiry: u64,
}

impl Live {
    fn is_usable(&self) -> bool {
        !self.connection.is_closed() && !self.session.is_ended()
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

    /// The live connection, opened (again) if there is none, and its token
    /// put again when it is near expiry.
    async fn live(&self) -> Result<MutexGuard<'_, Option<Live>>> {
        let mut live = self.live.lock().await;
        if live.as_ref().is_some_and(Live::is_usable) {
            if let Some(l) = live.as_mut()
                && l.token_expiry < unix_now() + TOKEN_REFRESH.as_secs()
            {
                match self.put_token(&mut l.cbs).await {
                    Ok(expiry) => l.token_expiry = expiry,
                    Err(err) => tracing::warn!("Service Bus token refresh failed: {err}"),
                }
            }
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
        let token_expiry = self.put_token(&mut cbs).await?;
        Ok(Live {
            connection,
            session,
            cbs,
            token_expiry,
        })
    }

    /// Puts a namespace-wide token; returns its expiry.
    async fn put_token(&self, cbs: &mut CbsClient) -> Result<u64> {
        let s = &self.settings;
        let audience = s.audience();
        let (token, expiry) = sas::token(&audience, &s.key_name, &s.key)?;
        let expires_at = Timestamp::from_milliseconds(
            i64::try_from(expiry.saturating_mul(1000)).unwrap_or(i64::MAX),
        );
        let put = tokio::time::timeout(
            ATTACH_TIMEOUT,
            cbs.put_token(
                audience.as_str(),
                CbsToken::new(token, "servicebus.windows.net:sastoken", expires_at),
            ),
        )
        .await;
        let Ok(put) = put else {
            return Err(self.unreachable("CBS put-token had no answer"));
        };
        match put {
            Ok(()) => Ok(expiry),
            Err(fe2o3_amqp_management::error::Error::Status(status)) => {
                let code = u16::from(status.code.0);
                if code == 401 || code == 403 {
                    Err(Error::permission_denied(format!(
                        "Service Bus namespace `{}` refused the shared access signature of key \
                         name `{}`: check the key name and key",
                        s.namespace(),
                        s.key_name
                    )))
                } else {
                    Err(self.unreachable(&format!("CBS put-token answered {code}")))
                }
            }
            Err(err) => Err(self.unreachable(&format!("CBS put-token: {err}"))),
        }
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
        Error::new(
            ErrorCode::Unavailable,
            format!(
                "Service Bus namespace `{}` at {} is unreachable: {detail}",
                self.settings.namespace(),
                self.settings.amqp_url()
            ),
        )
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
