//! Entra ID access tokens for one scope: Azure Database for PostgreSQL's
//! (`ossrdbms-aad`, sent as the password of the Entra principal's database
//! user: the user or group name, or the managed identity's name) and Service
//! Bus's (put on `$cbs` as a `jwt`, and the management API's bearer token).
//!
//! Strata's config has no Entra fields yet, so the credentials come from the
//! environment, the way Azure SDKs read them:
//! - `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET`: a service
//!   principal with a client secret (the client-credentials grant);
//! - otherwise a managed identity: the user-assigned one whose client id is
//!   `AZURE_CLIENT_ID`, or the system-assigned one.
//!
//! `azure_identity` does the exchange; [`CachedToken`] keeps the token and
//! fetches the next one [`CachedToken::DEFAULT_MARGIN`] before it expires
//! (Entra tokens live an hour or more), and refuses one that arrives with no
//! more than that left.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::error::ErrorKind;
use azure_core::http::{
    AsyncRawResponse, ClientOptions, ExponentialRetryOptions, HttpClient, Request, RetryOptions,
    Transport,
};
use azure_identity::{
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId,
};
#[cfg(doc)]
use strata_core::sqldb::CachedToken;
use strata_core::sqldb::{AuthToken, AuthTokenSource};
use strata_core::{Error, ErrorCode, Result, error_chain};

/// The scope Azure Database for PostgreSQL (and MySQL) accepts tokens for.
pub const DATABASE_SCOPE: &str = "https://ossrdbms-aad.database.windows.net/.default";

/// What to set, for messages about missing or unusable credentials.
const CREDENTIALS_HINT: &str = "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET \
     for a service principal, or run on Azure with a managed identity (AZURE_CLIENT_ID picks a \
     user-assigned one)";

/// Who logs in: a service principal (all three fields) or a managed identity
/// (no secret; `client_id` picks a user-assigned one).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EntraSettings {
    /// The directory (tenant) id of the service principal.
    pub tenant_id: Option<String>,
    /// The application (client) id of the service principal, or of a
    /// user-assigned managed identity.
    pub client_id: Option<String>,
    /// The service principal's client secret.
    pub client_secret: Option<String>,
}

impl EntraSettings {
    /// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET`; unset or
    /// empty variables are `None`.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            tenant_id: var("AZURE_TENANT_ID"),
            client_id: var("AZURE_CLIENT_ID"),
            client_secret: var("AZURE_CLIENT_SECRET"),
        }
    }
}

/// Shows who, never the secret.
impl fmt::Debug for EntraSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraSettings")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Mints Entra ID access tokens for one scope: [`new`](Self::new) for Azure
/// Database for PostgreSQL, [`for_scope`](Self::for_scope) for another
/// service (Service Bus's is `strata_azure::SERVICE_BUS_SCOPE`).
///
/// ```no_run
/// # async fn demo() -> strata_core::Result<()> {
/// use std::sync::Arc;
/// use strata_azure::{EntraAuthTokenSource, EntraSettings};
/// use strata_core::sqldb::CachedToken;
/// let source = EntraAuthTokenSource::new(&EntraSettings::from_env())?;
/// let token = CachedToken::new(Arc::new(source));
/// let password = token.get().await?; // refreshed before it expires
/// # let _ = password; Ok(()) }
/// ```
pub struct EntraAuthTokenSource {
    credential: Arc<dyn TokenCredential>,
    principal: Principal,
    /// What the tokens are for (`https://<service>/.default`).
    scope: &'static str,
    /// Kept to scrub from messages, should the endpoint echo it.
    secret: Option<Secret>,
}

/// Who the tokens are for, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    ServicePrincipal {
        tenant_id: String,
        client_id: String,
    },
    ManagedIdentity {
        client_id: Option<String>,
    },
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ServicePrincipal {
                tenant_id,
                client_id,
            } => write!(f, "service principal {client_id} in tenant {tenant_id}"),
            Self::ManagedIdentity {
                client_id: Some(id),
            } => write!(f, "user-assigned managed identity {id}"),
            Self::ManagedIdentity { client_id: None } => {
                f.write_str("the system-assigned managed identity")
            }
        }
    }
}

impl fmt::Debug for EntraAuthTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntraAuthTokenSource")
            .field("principal", &self.principal)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl EntraAuthTokenSource {
    /// Tokens for Azure Database for PostgreSQL ([`DATABASE_SCOPE`]) for the
    /// principal `settings` names. Makes no request.
    ///
    /// # Errors
    /// `InvalidConfig` for a client secret without a tenant or client id, and
    /// for ids `azure_identity` refuses.
    pub fn new(settings: &EntraSettings) -> Result<Self> {
        Self::for_scope(settings, DATABASE_SCOPE)
    }

    /// Tokens for `scope` for the principal `settings` names. Makes no
    /// request.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn for_scope(settings: &EntraSettings, scope: &'static str) -> Result<Self> {
        Self::with_client_options(settings, scope, client_options()?)
    }

    /// As [`for_scope`](Self::for_scope), but every token request goes to
    /// `127.0.0.1:port` over plain HTTP (path and form unchanged), without
    /// retries: for tests with a local stand-in for the token endpoint,
    /// since `azure_identity` only takes an https:// authority.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    #[doc(hidden)]
    pub fn through_loopback(
        settings: &EntraSettings,
        scope: &'static str,
        port: u16,
    ) -> Result<Self> {
        strata_core::tls::install_crypto_provider();
        let options = ClientOptions {
            transport: Some(Transport::new(Arc::new(ToLoopback {
                port,
                http: strata_core::http::client()?,
            }))),
            retry: RetryOptions::none(),
            ..ClientOptions::default()
        };
        Self::with_client_options(settings, scope, options)
    }

    /// As [`for_scope`](Self::for_scope), sending through `options`.
    fn with_client_options(
        settings: &EntraSettings,
        scope: &'static str,
        options: ClientOptions,
    ) -> Result<Self> {
        let (credential, principal) = credential(settings, options)?;
        Ok(Self {
            credential,
            principal,
            scope,
            secret: settings.client_secret.clone().map(Secret::new),
        })
    }

    /// `text` without the client secret.
    fn scrub(&self, text: String) -> String {
        match self.secret.as_ref().map(Secret::secret) {
            Some(s) if !s.is_empty() => text.replace(s, "***"),
            _ => text,
        }
    }
}

#[async_trait]
impl AuthTokenSource for EntraAuthTokenSource {
    async fn fetch(&self) -> Result<AuthToken> {
        let token = self
            .credential
            .get_token(&[self.scope], None)
            .await
            .map_err(|e| {
                let (code, status) = classify(&e);
                let status = status.map(|s| format!("HTTP {s}: ")).unwrap_or_default();
                // What to set helps when the credentials are refused, or when
                // there is no managed identity to reach (not on Azure).
                let hint = match (code, &self.principal) {
                    (ErrorCode::PermissionDenied, _) | (_, Principal::ManagedIdentity { .. }) => {
                        format!(" ({CREDENTIALS_HINT})")
                    }
                    _ => String::new(),
                };
                Error::new(
                    code,
                    format!(
                        "Entra ID auth: no access token for {}: {status}{}{hint}",
                        self.principal,
                        self.scrub(error_chain(&e))
                    ),
                )
            })?;
        Ok(AuthToken::new(
            token.token.secret(),
            SystemTime::from(token.expires_on),
        ))
    }

    fn describe(&self) -> String {
        format!("Entra ID access token for {}", self.principal)
    }
}

/// Sends each request to `127.0.0.1:port` over plain HTTP, path and body
/// unchanged ([`EntraAuthTokenSource::through_loopback`]).
#[derive(Debug)]
struct ToLoopback {
    port: u16,
    http: reqwest::Client,
}

#[async_trait]
impl HttpClient for ToLoopback {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let mut local = request.clone();
        let url = local.url_mut();
        let moved = url.set_scheme("http").is_ok()
            && url.set_host(Some("127.0.0.1")).is_ok()
            && url.set_port(Some(self.port)).is_ok();
        if !moved {
            return Err(azure_core::Error::with_message(
                ErrorKind::Connection,
                "the token request's URL cannot be sent to the loopback endpoint",
            ));
        }
        self.http.execute_request(&local).await
    }
}

/// The `azure_identity` credential of the principal `settings` names, and
/// who that is: shared by database tokens and Blob Storage requests.
///
/// # Errors
/// `InvalidConfig` for a client secret without a tenant or client id, and
/// for ids `azure_identity` refuses.
pub(crate) fn credential(
    settings: &EntraSettings,
    options: ClientOptions,
) -> Result<(Arc<dyn TokenCredential>, Principal)> {
    Ok(match settings {
        EntraSettings {
            tenant_id: Some(tenant_id),
            client_id: Some(client_id),
            client_secret: Some(secret),
        } => {
            let principal = Principal::ServicePrincipal {
                tenant_id: tenant_id.clone(),
                client_id: client_id.clone(),
            };
            let credential = ClientSecretCredential::new(
                tenant_id,
                client_id.clone(),
                Secret::new(secret.clone()),
                Some(ClientSecretCredentialOptions {
                    client_options: options,
                }),
            )
            .map_err(|e| invalid(&principal, &e))?;
            (credential, principal)
        }
        EntraSettings {
            client_secret: Some(_),
            tenant_id,
            client_id,
        } => {
            let missing: Vec<_> = [
                ("AZURE_TENANT_ID", tenant_id.is_none()),
                ("AZURE_CLIENT_ID", client_id.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, missing)| missing.then_some(name))
            .collect();
            return Err(Error::invalid_config(format!(
                "Entra ID auth: a client secret (AZURE_CLIENT_SECRET) needs {} too",
                missing.join(" and ")
            )));
        }
        EntraSettings { client_id, .. } => {
            let principal = Principal::ManagedIdentity {
                client_id: client_id.clone(),
            };
            let credential =
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                    client_options: options,
                }))
                .map_err(|e| invalid(&principal, &e))?;
            (credential, principal)
        }
    })
}

/// The HTTP client `azure_identity` sends with: Strata's (rustls over the
/// process-wide ring provider, with timeouts), and a few retries of transient
/// failures (the default retries for a minute, too long for a login).
pub(crate) fn client_options() -> Result<ClientOptions> {
    let http = strata_core::http::client()?;
    Ok(ClientOptions {
        transport: Some(Transport::new(Arc::new(http))),
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            max_retries: 3,
            max_total_elapsed: azure_core::time::Duration::seconds(20),
            ..ExponentialRetryOptions::default()
        }),
        ..ClientOptions::default()
    })
}

fn invalid(principal: &Principal, err: &azure_core::Error) -> Error {
    Error::invalid_config(format!(
        "Entra ID auth for {principal}: {} ({CREDENTIALS_HINT})",
        error_chain(err)
    ))
}

/// Unreachable or overloaded endpoints are `Unavailable`; a refusal (an HTTP
/// 4xx, or a credential error with no response) is `PermissionDenied`. With
/// the HTTP status, if there was an answer.
fn classify(err: &azure_core::Error) -> (ErrorCode, Option<u16>) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut code = ErrorCode::PermissionDenied;
    while let Some(e) = source {
        if let Some(e) = e.downcast_ref::<azure_core::Error>() {
            match e.kind() {
                ErrorKind::HttpResponse { status, .. } => {
                    let status = u16::from(*status);
                    let code = match status {
                        408 => ErrorCode::Timeout,
                        429 | 500..=599 => ErrorCode::Unavailable,
                        _ => ErrorCode::PermissionDenied,
                    };
                    return (code, Some(status));
                }
                ErrorKind::Connection | ErrorKind::Io => code = ErrorCode::Unavailable,
                _ => {}
            }
        }
        source = e.source();
    }
    (code, None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "entra_tests.rs"]
mod tests;
