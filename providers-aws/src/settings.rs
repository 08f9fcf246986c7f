//! [`AwsSettings`]: how strata-aws reaches AWS or an emulator, read from the
//! infra config's `providers.aws` ([`AwsAccount`]).

use std::fmt;
use std::time::Duration;

use crate::account::AwsAccount;
use strata_core::{Error, Result};

/// Where credentials come from.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum AwsCredentials {
    /// The standard AWS chain: environment, shared profile files, web identity,
    /// container and instance metadata.
    #[default]
    DefaultChain,
    /// Keys given in the config (usually through `{"$env": NAME}`).
    Static {
        /// The access key id.
        access_key_id: String,
        /// The secret access key.
        secret_access_key: String,
        /// A session token, for temporary credentials.
        session_token: Option<String>,
    },
    /// Unsigned requests, for emulators and public buckets.
    Anonymous,
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Settings get logged: the secret and the token never reach a log line.
        match self {
            AwsCredentials::DefaultChain => f.write_str("DefaultChain"),
            AwsCredentials::Anonymous => f.write_str("Anonymous"),
            AwsCredentials::Static {
                access_key_id,
                session_token,
                ..
            } => f
                .debug_struct("Static")
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"<redacted>")
                .field(
                    "session_token",
                    &session_token.as_ref().map(|_| "<redacted>"),
                )
                .finish(),
        }
    }
}

/// How to reach AWS (or an emulator such as LocalStack or moto).
///
/// ```
/// use strata_aws::{AwsCredentials, AwsSettings};
/// let settings = AwsSettings {
///     region: Some("us-east-1".into()),
///     endpoint: Some("http://127.0.0.1:4566".into()),
///     credentials: AwsCredentials::Static {
///         access_key_id: "test".into(),
///         secret_access_key: "test".into(),
///         session_token: None,
///     },
///     ..AwsSettings::default()
/// };
/// assert!(settings.path_style());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// The region; `None` asks the standard chain (`AWS_REGION`, profile).
    pub region: Option<String>,
    /// One endpoint for every service, e.g. `http://127.0.0.1:4566`.
    pub endpoint: Option<String>,
    /// The S3 endpoint, overriding `endpoint`.
    pub s3_endpoint: Option<String>,
    /// The SQS endpoint, overriding `endpoint`.
    pub sqs_endpoint: Option<String>,
    /// The SNS endpoint, overriding `endpoint`.
    pub sns_endpoint: Option<String>,
    /// Where credentials come from.
    pub credentials: AwsCredentials,
    /// S3 path-style addressing (`endpoint/bucket/key`); `None` means on
    /// exactly when the S3 endpoint is overridden (emulators and S3-compatible
    /// stores rarely resolve `bucket.host` names).
    pub force_path_style: Option<bool>,
    /// Create missing topics, queues, subscriptions and buckets.
    pub provision: bool,
    /// How long opening a connection may take before the attempt fails.
    pub connect_timeout: Duration,
    /// How long an attempt may wait for the server's next bytes before it
    /// fails (and is retried): a server that accepts a connection and then
    /// never answers costs this long, not forever. Above SQS's 20 s long poll.
    pub read_timeout: Duration,
    /// Attempts per request (1 = no retries) for throttling, 5xx and
    /// connection failures.
    pub max_attempts: u32,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            region: None,
            endpoint: None,
            s3_endpoint: None,
            sqs_endpoint: None,
            sns_endpoint: None,
            credentials: AwsCredentials::DefaultChain,
            force_path_style: None,
            provision: false,
            connect_timeout: Duration::from_secs(3),
            read_timeout: Duration::from_secs(60),
            max_attempts: 3,
        }
    }
}

impl AwsSettings {
    /// Reads `providers.aws` of the infra config.
    ///
    /// # Errors
    /// `InvalidConfig` naming the field for an endpoint that is not an
    /// `http(s)://` URL or half a key pair (the config parser reports the
    /// same before anything opens).
    pub fn from_account(account: &AwsAccount) -> Result<AwsSettings> {
        account.validate().map_err(|(field, message)| {
            Error::invalid_config(format!("at `providers.aws.{field}`: {message}"))
        })?;
        let credentials = match &account.credentials {
            None => AwsCredentials::DefaultChain,
            Some(c) if c.anonymous => AwsCredentials::Anonymous,
            Some(c) => match (&c.access_key_id, &c.secret_access_key) {
                (Some(id), Some(secret)) => AwsCredentials::Static {
                    access_key_id: id.clone(),
                    secret_access_key: secret.clone(),
                    session_token: c.session_token.clone(),
                },
                _ => AwsCredentials::DefaultChain,
            },
        };
        Ok(AwsSettings {
            region: account.region.clone().filter(|r| !r.is_empty()),
            endpoint: account.endpoint.clone(),
            s3_endpoint: account.endpoints.s3.clone(),
            sqs_endpoint: account.endpoints.sqs.clone(),
            sns_endpoint: account.endpoints.sns.clone(),
            credentials,
            provision: account.provision,
            ..AwsSettings::default()
        })
    }

    /// The endpoint S3 requests go to, if overridden.
    pub fn s3_endpoint(&self) -> Option<&str> {
        self.s3_endpoint.as_deref().or(self.endpoint.as_deref())
    }

    /// The endpoint SQS requests go to, if overridden.
    pub fn sqs_endpoint(&self) -> Option<&str> {
        self.sqs_endpoint.as_deref().or(self.endpoint.as_deref())
    }

    /// The endpoint SNS requests go to, if overridden.
    pub fn sns_endpoint(&self) -> Option<&str> {
        self.sns_endpoint.as_deref().or(self.endpoint.as_deref())
    }

    /// Whether S3 uses path-style addressing.
    pub fn path_style(&self) -> bool {
        self.force_path_style
            .unwrap_or_else(|| self.s3_endpoint().is_some())
    }

    /// Whether any service endpoint is overridden (an emulator, most likely).
    pub fn has_custom_endpoint(&self) -> bool {
        self.endpoint.is_some()
            || self.s3_endpoint.is_some()
            || self.sqs_endpoint.is_some()
            || self.sns_endpoint.is_some()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::account::{AwsCredentialsConfig, AwsEndpoints};
    use strata_core::ErrorCode;

    fn account() -> AwsAccount {
        AwsAccount {
            region: Some("eu-west-1".into()),
            ..AwsAccount::default()
        }
    }

    #[test]
    fn endpoints_per_service_override_the_shared_one() {
        let mut a = account();
        a.endpoint = Some("http://127.0.0.1:4566".into());
        a.endpoints = AwsEndpoints {
            s3: Some("http://127.0.0.1:9000".into()),
            ..AwsEndpoints::default()
        };
        let s = AwsSettings::from_account(&a).unwrap();
        assert_eq!(s.s3_endpoint(), Some("http://127.0.0.1:9000"));
        assert_eq!(s.sqs_endpoint(), Some("http://127.0.0.1:4566"));
        assert_eq!(s.sns_endpoint(), Some("http://127.0.0.1:4566"));
        assert!(s.path_style(), "an overridden S3 endpoint means path style");
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn real_aws_uses_virtual_hosted_style() {
        let s = AwsSettings::from_account(&account()).unwrap();
        assert!(!s.path_style() && !s.has_custom_endpoint());
        assert_eq!(s.credentials, AwsCredentials::DefaultChain);
    }

    #[test]
    fn bad_urls_are_invalid_config_naming_the_field() {
        let mut a = account();
        a.endpoint = Some("127.0.0.1:4566".into());
        let err = AwsSettings::from_account(&a).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig);
        assert!(err.message().contains("providers.aws.endpoint"), "{err}");
        assert!(!err.message().contains("4566"), "{err}");
    }

    #[test]
    fn credentials_static_anonymous_and_mistakes() {
        let with = |creds: AwsCredentialsConfig| {
            let mut a = account();
            a.credentials = Some(creds);
            AwsSettings::from_account(&a)
        };
        let s = with(AwsCredentialsConfig {
            access_key_id: Some("AKID".into()),
            secret_access_key: Some("SECRET".into()),
            ..AwsCredentialsConfig::default()
        })
        .unwrap();
        let shown = format!("{:?}", s.credentials);
        assert!(
            shown.contains("AKID") && !shown.contains("SECRET"),
            "{shown}"
        );
        let s = with(AwsCredentialsConfig {
            anonymous: true,
            ..AwsCredentialsConfig::default()
        })
        .unwrap();
        assert_eq!(s.credentials, AwsCredentials::Anonymous);
        for bad in [
            AwsCredentialsConfig {
                access_key_id: Some("AKID".into()),
                ..AwsCredentialsConfig::default()
            },
            AwsCredentialsConfig {
                anonymous: true,
                access_key_id: Some("AKID".into()),
                secret_access_key: Some("S".into()),
                ..AwsCredentialsConfig::default()
            },
        ] {
            let err = with(bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
            assert!(err.message().contains("providers.aws.credentials"), "{err}");
        }
    }
}
