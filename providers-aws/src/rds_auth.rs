//! RDS / Aurora IAM database authentication: a SigV4-presigned `connect` URL
//! used as the PostgreSQL password.
//!
//! The token is signed locally with the credentials of the AWS chain (no call
//! to AWS), is valid for 15 minutes, and is only checked when a connection
//! opens; [`strata_core::sqldb::CachedToken`] refreshes it before it expires.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use strata_core::sqldb::{AuthToken, AuthTokenSource};
use strata_core::{Error, Result};

use crate::AwsClients;

/// The longest validity RDS accepts.
pub const RDS_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// SigV4's unreserved characters stay; everything else is escaped.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Mints RDS IAM auth tokens for one database user at one endpoint.
///
/// ```no_run
/// # async fn demo(clients: &strata_aws::AwsClients) -> strata_core::Result<()> {
/// use strata_core::sqldb::AuthTokenSource;
/// let source = strata_aws::RdsAuthTokenSource::new(clients, "db.abc.eu-west-1.rds.amazonaws.com", 5432, "app")?;
/// let token = source.fetch().await?; // the password for user `app`
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RdsAuthTokenSource {
    host: String,
    port: u16,
    user: String,
    region: String,
    credentials: Option<SharedCredentialsProvider>,
}

impl std::fmt::Debug for RdsAuthTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdsAuthTokenSource")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl RdsAuthTokenSource {
    /// Tokens for `user` at `host:port`, signed with the clients' credentials
    /// and region.
    ///
    /// # Errors
    /// `InvalidConfig` for an empty host or user.
    pub fn new(clients: &AwsClients, host: &str, port: u16, user: &str) -> Result<Self> {
        Self::with_credentials(
            clients.credentials_provider(),
            clients.region(),
            host,
            port,
            user,
        )
    }

    /// Tokens signed with `credentials` (`None`: no credentials, every fetch
    /// fails with `PermissionDenied`) for a database in `region`.
    ///
    /// # Errors
    /// `InvalidConfig` for an empty host or user.
    pub fn with_credentials(
        credentials: Option<SharedCredentialsProvider>,
        region: &str,
        host: &str,
        port: u16,
        user: &str,
    ) -> Result<Self> {
        if host.is_empty() || user.is_empty() {
            return Err(Error::invalid_config(
                "RDS IAM auth needs the database host and user in the PostgreSQL url \
                 (postgres://USER@HOST:PORT/DB)",
            ));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            user: user.to_owned(),
            region: region.to_owned(),
            credentials,
        })
    }

    /// The token for `identity` at `now` (the whole algorithm, deterministic).
    fn sign(&self, identity: &Identity, now: SystemTime) -> Result<String> {
        let mut settings = SigningSettings::default();
        settings.expires_in = Some(RDS_TOKEN_LIFETIME);
        settings.signature_location = SignatureLocation::QueryParams;
        let params = v4::SigningParams::builder()
            .identity(identity)
            .region(&self.region)
            .name("rds-db")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| Error::internal(format!("cannot sign an RDS auth token: {e}")))?;
        let url = format!(
            "https://{}:{}/?Action=connect&DBUser={}",
            self.host,
            self.port,
            utf8_percent_encode(&self.user, QUERY_VALUE)
        );
        let request =
            SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
                .map_err(|e| {
                    Error::invalid_config(format!(
                        "RDS IAM auth: `{}:{}` is not a valid host and port: {e}",
                        self.host, self.port
                    ))
                })?;
        let (instructions, _signature) = sign(request, &params.into())
            .map_err(|e| Error::internal(format!("cannot sign an RDS auth token: {e}")))?
            .into_parts();
        let mut token = url
            .strip_prefix("https://")
            .map_or_else(|| url.clone(), str::to_owned);
        for (name, value) in instructions.params() {
            let value: &Cow<'_, str> = value;
            token.push('&');
            token.push_str(name);
            token.push('=');
            token.extend(utf8_percent_encode(value, QUERY_VALUE));
        }
        Ok(token)
    }
}

#[async_trait]
impl AuthTokenSource for RdsAuthTokenSource {
    async fn fetch(&self) -> Result<AuthToken> {
        let no_credentials = || {
            Error::permission_denied(
                "RDS IAM auth: no AWS credentials to sign the token with; set \
                 AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or an instance/task role",
            )
        };
        let provider = self.credentials.as_ref().ok_or_else(no_credentials)?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            Error::permission_denied(format!(
                "RDS IAM auth: cannot load AWS credentials to sign the token: {e}"
            ))
        })?;
        let now = SystemTime::now();
        let identity: Identity = credentials.into();
        let secret = self.sign(&identity, now)?;
        Ok(AuthToken::new(secret, now + RDS_TOKEN_LIFETIME))
    }

    fn describe(&self) -> String {
        format!(
            "RDS IAM auth token for {}@{}:{}",
            self.user, self.host, self.port
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use aws_credential_types::Credentials;

    use super::*;

    fn source(user: &str) -> RdsAuthTokenSource {
        RdsAuthTokenSource::with_credentials(
            None,
            "us-east-1",
            "prod-instance.us-east-1.rds.amazonaws.com",
            3306,
            user,
        )
        .unwrap()
    }

    fn identity(session_token: Option<&str>) -> Identity {
        Credentials::new(
            "akid",
            "secret",
            session_token.map(str::to_owned),
            None,
            "test",
        )
        .into()
    }

    /// 2024-08-26T22:00:00Z
    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_724_709_600)
    }

    #[test]
    fn the_token_is_a_presigned_connect_url_without_its_scheme() {
        let token = source("peccy").sign(&identity(None), at()).unwrap();
        // As the AWS SDKs (and botocore) sign it for the same inputs.
        assert_eq!(
            token,
            "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=peccy\
             &X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=akid%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request\
             &X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89"
        );
    }

    #[test]
    fn a_session_token_is_carried_escaped() {
        let token = source("peccy")
            .sign(&identity(Some("ab+c/d=")), at())
            .unwrap();
        // The same signature as botocore's `generate_db_auth_token` at the
        // same instant (parameter order is free).
        let mut params: Vec<&str> = token.split('&').collect();
        params.sort_unstable();
        let mut expected: Vec<&str> =
            "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect\
             &DBUser=peccy&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=akid%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request\
             &X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
             &X-Amz-Security-Token=ab%2Bc%2Fd%3D\
             &X-Amz-Signature=6abe9c2bab70572b19e0cf8b793012c61d7669e4149f730fdbe133844d869631"
                .split('&')
                .collect();
        expected.sort_unstable();
        assert_eq!(params, expected);
    }

    #[test]
    fn the_signature_depends_on_the_user_and_the_time() {
        let s = source("peccy");
        let a = s.sign(&identity(None), at()).unwrap();
        let b = source("other").sign(&identity(None), at()).unwrap();
        let c = s
            .sign(&identity(None), at() + Duration::from_secs(1))
            .unwrap();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[tokio::test]
    async fn no_credentials_is_permission_denied_saying_what_to_set() {
        let err = source("peccy").fetch().await.unwrap_err();
        assert_eq!(err.code(), strata_core::ErrorCode::PermissionDenied);
        assert!(err.message().contains("AWS_ACCESS_KEY_ID"), "{err}");
    }

    #[tokio::test]
    async fn a_fetched_token_expires_in_fifteen_minutes() {
        let provider =
            SharedCredentialsProvider::new(Credentials::new("akid", "secret", None, None, "test"));
        let s = RdsAuthTokenSource::with_credentials(
            Some(provider),
            "eu-west-1",
            "db.example",
            5432,
            "app",
        )
        .unwrap();
        let before = SystemTime::now();
        let token = s.fetch().await.unwrap();
        let lifetime = token.expires_at().duration_since(before).unwrap();
        assert!(
            lifetime >= RDS_TOKEN_LIFETIME
                && lifetime < RDS_TOKEN_LIFETIME + Duration::from_secs(5)
        );
        assert!(
            token
                .secret()
                .starts_with("db.example:5432/?Action=connect&DBUser=app&")
        );
        assert!(
            token
                .secret()
                .contains("%2Feu-west-1%2Frds-db%2Faws4_request")
        );
    }

    #[test]
    fn an_empty_user_is_invalid_config() {
        let err =
            RdsAuthTokenSource::with_credentials(None, "us-east-1", "db", 5432, "").unwrap_err();
        assert_eq!(err.code(), strata_core::ErrorCode::InvalidConfig);
    }
}
