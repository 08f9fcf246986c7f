//! Cloud SQL for PostgreSQL IAM database authentication: an OAuth 2.0 access
//! token with the `sqlservice.login` scope, sent as the password of the IAM
//! principal's database user.
//!
//! Two ways to get one, by the credentials of `providers.gcp`:
//! - a service-account key: the OAuth 2.0 JWT-bearer grant (RFC 7523) at the
//!   key's `token_uri`. google-cloud-auth would turn the key into a
//!   self-signed JWT instead, which Cloud SQL's login is not documented to
//!   accept;
//! - Application Default Credentials: google-cloud-auth (metadata server,
//!   gcloud user credentials, workload identity), except that a
//!   `GOOGLE_APPLICATION_CREDENTIALS` file holding a service-account key gets
//!   the JWT-bearer grant too, for the same reason.
//!
//! [`CachedToken`] keeps the token and fetches the next one before it expires,
//! by the source's [`refresh_margin`](AuthTokenSource::refresh_margin):
//! [`CachedToken::DEFAULT_MARGIN`] (five minutes) for a key's hour-long
//! tokens, 60 s for Application Default Credentials. The cache, not this
//! source, refuses a token that arrives with no more than that left.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::FutureExt as _;
use google_cloud_auth::credentials::AccessTokenCredentials;
use google_cloud_auth::signer::Signer;
use serde::Deserialize;
use strata_core::sqldb::{AuthToken, AuthTokenSource, CachedToken};
use strata_core::{Error, ErrorCode, Result, error_chain};
use tokio::sync::OnceCell;

use crate::settings::GcpCredentials;

/// The OAuth scope Cloud SQL IAM database login requires.
pub const SQL_LOGIN_SCOPE: &str = "https://www.googleapis.com/auth/sqlservice.login";

/// RFC 7523's grant type: a signed JWT exchanged for an access token.
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google's token endpoint, for keys that name none.
const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The longest validity Google accepts for a JWT assertion.
const ASSERTION_LIFETIME: u64 = 3600;
/// Where a service-account key's email ends; Cloud SQL's user name drops it.
const SERVICE_ACCOUNT_DOMAIN: &str = ".gserviceaccount.com";

/// The lifetime claimed for an Application Default Credentials token, and
/// its refresh margin. google-cloud-auth does not report the expiry, but it
/// refreshes its token 240 s before expiry and serves the cached one until
/// then, so a token it hands out normally has 240 s or more left. Claiming
/// 240 s and refreshing 60 s before, Strata asks it again every 180 s (an
/// in-memory read) and logs in with 60 s or more to spare. The default
/// five-minute margin would exceed the claimed lifetime, and
/// [`CachedToken`] would refuse every token.
const ADC_LIFETIME: Duration = Duration::from_secs(240);
/// See [`ADC_LIFETIME`].
const ADC_MARGIN: Duration = Duration::from_secs(60);

/// Mints Cloud SQL IAM database auth tokens from the credentials of
/// `providers.gcp`.
///
/// The database user is the IAM principal's email; for a service account,
/// without `.gserviceaccount.com` ([`database_user`](Self::database_user)).
///
/// ```no_run
/// # async fn demo(settings: &strata_gcp::GcpSettings) -> strata_core::Result<()> {
/// use std::sync::Arc;
/// use strata_core::sqldb::CachedToken;
/// use strata_gcp::CloudSqlAuthTokenSource;
/// let source = CloudSqlAuthTokenSource::new(&settings.credentials)?;
/// let token = CachedToken::new(Arc::new(source));
/// let password = token.get().await?; // refreshed before it expires
/// # let _ = password; Ok(()) }
/// ```
pub struct CloudSqlAuthTokenSource {
    credentials: Source,
}

enum Source {
    /// Resolved on first use: google-cloud-auth spawns its refresh task on
    /// the runtime, and reading the ADC file is I/O.
    ApplicationDefault {
        key_file: Option<PathBuf>,
        resolved: OnceCell<Adc>,
    },
    ServiceAccount(JwtBearer),
}

enum Adc {
    Google(AccessTokenCredentials),
    ServiceAccount(JwtBearer),
}

impl std::fmt::Debug for CloudSqlAuthTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("CloudSqlAuthTokenSource");
        match &self.credentials {
            Source::ApplicationDefault { .. } => s.field("credentials", &"ApplicationDefault"),
            Source::ServiceAccount(grant) => s
                .field("client_email", &grant.client_email)
                .field("token_uri", &grant.token_uri),
        };
        s.finish_non_exhaustive()
    }
}

impl CloudSqlAuthTokenSource {
    /// Tokens from `credentials`: the JWT-bearer grant for a service-account
    /// key, google-cloud-auth for Application Default Credentials. A
    /// [`CachedToken`] refreshes them [`CachedToken::DEFAULT_MARGIN`] before
    /// expiry for a key (tokens live an hour), 60 s for ADC, whose tokens are
    /// taken to have 240 s left.
    ///
    /// # Errors
    /// `InvalidConfig` for anonymous credentials (there is no one to log in
    /// as) and for a key that is not a service-account key.
    pub fn new(credentials: &GcpCredentials) -> Result<Self> {
        // The HTTP client and the key signer use the process-wide rustls
        // provider and panic without one.
        strata_core::tls::install_crypto_provider();
        match credentials {
            GcpCredentials::Anonymous => Err(Error::invalid_config(
                "Cloud SQL IAM auth (`auth: \"gcp_iam\"`) needs GCP credentials, but \
                 providers.gcp has none (`anonymous`, or a plain http:// emulator endpoint \
                 without credentials): set providers.gcp.credentials.service_account_json, or \
                 leave them out to use Application Default Credentials",
            )),
            GcpCredentials::ServiceAccountJson(json) => Ok(Self {
                credentials: Source::ServiceAccount(JwtBearer::from_key_json(
                    json,
                    "providers.gcp.credentials.service_account_json",
                )?),
            }),
            GcpCredentials::ApplicationDefault => Ok(Self::application_default(
                std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from),
            )),
        }
    }

    fn application_default(key_file: Option<PathBuf>) -> Self {
        Self {
            credentials: Source::ApplicationDefault {
                key_file,
                resolved: OnceCell::new(),
            },
        }
    }

    /// The PostgreSQL user a service-account key logs in as: its email
    /// without `.gserviceaccount.com`. `None` for Application Default
    /// Credentials, whose principal is only known from a token.
    pub fn database_user(&self) -> Option<String> {
        match &self.credentials {
            Source::ServiceAccount(grant) => Some(grant.database_user()),
            Source::ApplicationDefault { .. } => None,
        }
    }
}

#[async_trait]
impl AuthTokenSource for CloudSqlAuthTokenSource {
    async fn fetch(&self) -> Result<AuthToken> {
        let grant = match &self.credentials {
            Source::ServiceAccount(grant) => grant,
            Source::ApplicationDefault { key_file, resolved } => {
                match resolve_adc(key_file.as_deref(), resolved).await? {
                    Adc::ServiceAccount(grant) => grant,
                    Adc::Google(credentials) => {
                        let token = credentials.access_token().await.map_err(|e| {
                            let code = if e.is_transient() {
                                ErrorCode::Unavailable
                            } else {
                                ErrorCode::PermissionDenied
                            };
                            Error::new(
                                code,
                                format!(
                                    "Cloud SQL IAM auth: no access token from Application \
                                     Default Credentials: {}",
                                    error_chain(&e)
                                ),
                            )
                        })?;
                        return Ok(AuthToken::new(
                            token.token,
                            SystemTime::now() + ADC_LIFETIME,
                        ));
                    }
                }
            }
        };
        let (secret, expires_at) = grant.exchange().await?;
        Ok(AuthToken::new(secret, expires_at))
    }

    fn describe(&self) -> String {
        match &self.credentials {
            Source::ServiceAccount(grant) => {
                format!("Cloud SQL IAM access token for {}", grant.client_email)
            }
            Source::ApplicationDefault { .. } => {
                "Cloud SQL IAM access token from Application Default Credentials".to_owned()
            }
        }
    }

    /// [`CachedToken::DEFAULT_MARGIN`] for a key (tokens live an hour); 60 s
    /// for Application Default Credentials, whose tokens are taken to have
    /// 240 s left.
    fn refresh_margin(&self) -> Duration {
        match &self.credentials {
            Source::ServiceAccount(_) => CachedToken::DEFAULT_MARGIN,
            Source::ApplicationDefault { .. } => ADC_MARGIN,
        }
    }
}

/// Application Default Credentials, resolved once: a service-account key in
/// `key_file` (`GOOGLE_APPLICATION_CREDENTIALS`) gets the JWT-bearer grant,
/// anything else google-cloud-auth.
async fn resolve_adc<'a>(key_file: Option<&Path>, resolved: &'a OnceCell<Adc>) -> Result<&'a Adc> {
    resolved
        .get_or_try_init(|| async {
            if let Some(path) = key_file
                && let Some(json) = service_account_key_file(path).await
            {
                let what = format!("the GOOGLE_APPLICATION_CREDENTIALS file {}", path.display());
                return Ok(Adc::ServiceAccount(JwtBearer::from_key_json(&json, &what)?));
            }
            google_cloud_auth::credentials::Builder::default()
                .with_scopes([SQL_LOGIN_SCOPE])
                .build_access_token_credentials()
                .map(Adc::Google)
                .map_err(|e| {
                    Error::invalid_config(format!(
                        "Cloud SQL IAM auth: no Application Default Credentials: {} (run \
                         `gcloud auth application-default login`, set \
                         GOOGLE_APPLICATION_CREDENTIALS, or set \
                         providers.gcp.credentials.service_account_json)",
                        error_chain(&e)
                    ))
                })
        })
        .await
}

/// The JSON of `path` if it is a service-account key; anything else (another
/// credential type, an unreadable file) is left to google-cloud-auth, which
/// says what is wrong with it.
async fn service_account_key_file(path: &Path) -> Option<String> {
    let json = tokio::fs::read_to_string(path).await.ok()?;
    let value: serde_json::Value = serde_json::from_str(&json).ok()?;
    (value.get("type")?.as_str()? == "service_account").then_some(json)
}

/// The fields of a service-account key the grant needs; `private_key` stays
/// in the signer.
#[derive(Deserialize)]
struct KeyFields {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: String,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

/// The OAuth 2.0 JWT-bearer grant (RFC 7523) for one service-account key.
struct JwtBearer {
    client_email: String,
    key_id: Option<String>,
    token_uri: String,
    signer: Signer,
    http: reqwest::Client,
}

/// What a token endpoint answers (RFC 6749 §5.1 and §5.2).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<serde_json::Value>,
    error: Option<String>,
    error_description: Option<String>,
}

impl JwtBearer {
    /// `what` names where the key came from, for messages.
    fn from_key_json(json: &str, what: &str) -> Result<Self> {
        let invalid = |detail: String| Error::invalid_config(format!("{what}: {detail}"));
        let mut key: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            invalid(format!(
                "not JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let fields: KeyFields = serde_json::from_value(key.clone())
            .map_err(|e| invalid(format!("not a service-account key: {e}")))?;
        if let Some(kind) = fields.kind.as_deref().filter(|k| *k != "service_account") {
            return Err(invalid(format!(
                "a `{kind}` credential, not a service-account key (`\"type\": \"service_account\"`)"
            )));
        }
        if fields.client_email.is_empty() {
            return Err(invalid("`client_email` is empty".to_owned()));
        }
        let token_uri = fields
            .token_uri
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| GOOGLE_TOKEN_URI.to_owned());
        check_token_uri(&token_uri).map_err(invalid)?;
        // google-cloud-auth's key parser insists on these two, which the
        // grant does not need.
        if let Some(object) = key.as_object_mut() {
            for field in ["private_key_id", "project_id"] {
                object
                    .entry(field)
                    .or_insert_with(|| serde_json::Value::String(String::new()));
            }
        }
        let signer = google_cloud_auth::credentials::service_account::Builder::new(key)
            .build_signer()
            .map_err(|e| invalid(format!("not a service-account key: {}", error_chain(&e))))?;
        // The signer reads the key only when it signs: one signature now
        // turns a bad key into a config error at startup. Signing with a
        // local key never waits, so the future is ready at once.
        if let Some(Err(e)) = signer.sign(b"probe").now_or_never() {
            return Err(invalid(format!(
                "`private_key` is not a usable RSA key (PKCS#8 PEM, \
                 `-----BEGIN PRIVATE KEY-----`): {}",
                error_chain(&e)
            )));
        }
        let http = strata_core::http::client()?;
        Ok(Self {
            client_email: fields.client_email,
            key_id: fields.private_key_id.filter(|id| !id.is_empty()),
            token_uri,
            signer,
            http,
        })
    }

    fn database_user(&self) -> String {
        self.client_email
            .strip_suffix(SERVICE_ACCOUNT_DOMAIN)
            .unwrap_or(&self.client_email)
            .to_owned()
    }

    /// The signed JWT the grant sends, issued at `iat` (seconds since the
    /// epoch): RS256, `kid` naming the key, valid for an hour at `token_uri`.
    async fn assertion(&self, iat: u64) -> Result<String> {
        let mut header = serde_json::json!({ "alg": "RS256", "typ": "JWT" });
        if let Some(kid) = &self.key_id {
            header["kid"] = serde_json::Value::String(kid.clone());
        }
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": SQL_LOGIN_SCOPE,
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .signer
            .sign(signing_input.as_bytes())
            .await
            .map_err(|e| {
                Error::invalid_config(format!(
                    "Cloud SQL IAM auth: cannot sign with the private key of {}: {}",
                    self.client_email,
                    error_chain(&e)
                ))
            })?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// Exchanges a fresh assertion for an access token: (token, expiry).
    async fn exchange(&self) -> Result<(String, SystemTime)> {
        let sent_at = SystemTime::now();
        let iat = sent_at
            .duration_since(UNIX_EPOCH)
            .map_err(|_| Error::internal("the system clock is before 1970"))?
            .as_secs();
        let assertion = self.assertion(iat).await?;
        let endpoint = format!("the token endpoint {}", self.token_uri);
        let response = self
            .http
            .post(&self.token_uri)
            .form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", &assertion)])
            .send()
            .await
            .map_err(|e| {
                let code = if e.is_timeout() {
                    ErrorCode::Timeout
                } else {
                    ErrorCode::Unavailable
                };
                Error::new(
                    code,
                    format!(
                        "Cloud SQL IAM auth: cannot reach {endpoint} for {}: {}",
                        self.client_email,
                        error_chain(&e)
                    ),
                )
            })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            Error::unavailable(format!(
                "Cloud SQL IAM auth: reading the answer of {endpoint}: {}",
                error_chain(&e)
            ))
        })?;
        let answer: Option<TokenAnswer> = serde_json::from_slice(&body).ok();
        if !status.is_success() {
            let code = match status.as_u16() {
                408 => ErrorCode::Timeout,
                429 | 500..=599 => ErrorCode::Unavailable,
                400..=499 => ErrorCode::PermissionDenied,
                _ => ErrorCode::Internal,
            };
            // Only the endpoint's error code and description are shown, short
            // and with the assertion scrubbed should the server echo it.
            let detail = match answer {
                Some(TokenAnswer {
                    error: Some(error),
                    error_description,
                    ..
                }) => match error_description {
                    Some(d) => format!(": {error}: {d}"),
                    None => format!(": {error}"),
                },
                _ => String::new(),
            };
            let signature = assertion.rsplit('.').next().unwrap_or(&assertion);
            let detail: String = detail
                .replace(&assertion, "***")
                .replace(signature, "***")
                .chars()
                .take(300)
                .collect();
            return Err(Error::new(
                code,
                format!(
                    "Cloud SQL IAM auth: {endpoint} answered HTTP {status} for service \
                     account {}{detail}",
                    self.client_email
                ),
            ));
        }
        // The body holds the token: no part of it goes into a message.
        let unusable = |what: &str| {
            Error::internal(format!(
                "Cloud SQL IAM auth: {endpoint} answered without {what}"
            ))
        };
        let answer = answer.ok_or_else(|| unusable("a JSON token response"))?;
        let token = answer
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unusable("an `access_token`"))?;
        let seconds = answer
            .expires_in
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .ok_or_else(|| unusable("an `expires_in`"))?;
        Ok((token, sent_at + Duration::from_secs(seconds)))
    }
}

/// A key's `token_uri` receives a signed assertion: HTTPS, or plain HTTP to
/// this machine only (a local stand-in).
fn check_token_uri(uri: &str) -> std::result::Result<(), String> {
    let url = reqwest::Url::parse(uri).map_err(|e| format!("`token_uri` `{uri}`: {e}"))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "`token_uri` `{uri}` must be an https:// URL (http:// only to localhost)"
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "cloudsql_tests.rs"]
mod tests;
