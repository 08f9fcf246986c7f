//! `providers.aws` of the infra config: [`AwsAccount`], AWS's own settings
//! type, shared by the SNS+SQS and S3 providers and the RDS auth tokens.

use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;
use strata_core::registry::cloud::check_endpoints;
use strata_core::registry::{FieldError, ProviderOptions, Registry};

/// How to reach one AWS account (or an emulator such as LocalStack or moto).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsAccount {
    /// The region, e.g. `us-east-1` (default: the standard chain, `AWS_REGION`).
    #[serde(default)]
    pub region: Option<String>,
    /// One endpoint for every service, e.g. `http://127.0.0.1:4566` for an
    /// emulator.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Per-service endpoints, overriding `endpoint`.
    #[serde(default)]
    pub endpoints: AwsEndpoints,
    /// Explicit credentials; without them the standard AWS chain is used
    /// (environment, profile files, web identity, container and instance
    /// metadata).
    #[serde(default)]
    pub credentials: Option<AwsCredentialsConfig>,
    /// Create missing topics, queues, subscriptions and buckets at startup.
    #[serde(default)]
    pub provision: bool,
}

/// Per-service endpoint overrides, for emulators that serve one service each.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsEndpoints {
    /// The S3 endpoint.
    #[serde(default)]
    pub s3: Option<String>,
    /// The SQS endpoint.
    #[serde(default)]
    pub sqs: Option<String>,
    /// The SNS endpoint.
    #[serde(default)]
    pub sns: Option<String>,
}

/// Explicit AWS credentials. Put secrets in the environment: `{"$env": "NAME"}`.
///
/// `Debug` shows the access key id only.
#[derive(Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsCredentialsConfig {
    /// The access key id.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// The secret access key.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// A session token, for temporary credentials.
    #[serde(default)]
    pub session_token: Option<String>,
    /// Send unsigned requests (emulators, public buckets).
    #[serde(default)]
    pub anonymous: bool,
}

impl fmt::Debug for AwsCredentialsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentialsConfig")
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

impl ProviderOptions for AwsAccount {
    fn check(&self, _registry: &Registry) -> Result<(), FieldError> {
        self.validate()
    }
}

impl AwsAccount {
    /// The checks the config parser runs: the field (relative to
    /// `providers.aws`) and what is wrong there.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_endpoints([
            ("endpoint", &self.endpoint),
            ("endpoints.s3", &self.endpoints.s3),
            ("endpoints.sqs", &self.endpoints.sqs),
            ("endpoints.sns", &self.endpoints.sns),
        ])?;
        if let Some(creds) = &self.credentials {
            creds
                .check()
                .map_err(|msg| ("credentials".to_owned(), msg))?;
        }
        Ok(())
    }
}

impl AwsCredentialsConfig {
    fn check(&self) -> Result<(), String> {
        let keys = (&self.access_key_id, &self.secret_access_key);
        match (self.anonymous, keys) {
            (true, (None, None)) => Ok(()),
            (true, _) => Err("`anonymous` and access keys exclude each other".into()),
            (false, (Some(_), Some(_))) => Ok(()),
            (false, (None, None)) if self.session_token.is_none() => Ok(()),
            (false, _) => Err(
                "set both access_key_id and secret_access_key (a session_token \
                               needs them too), or neither to use the standard AWS chain"
                    .into(),
            ),
        }
    }
}
