//! [`AwsClients`]: one S3, SQS and SNS client each, sharing one HTTPS
//! connection pool, built from [`AwsSettings`].

use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use strata_core::{Error, Result};

use crate::settings::{AwsCredentials, AwsSettings};

/// The region emulators are run with when the config names none.
const EMULATOR_REGION: &str = "us-east-1";

/// The clients every AWS resource of one application shares. Cheap to clone.
///
/// TLS is rustls with ring, set on the HTTP client itself: nothing here
/// depends on the process-wide rustls provider, and aws-lc-rs is not linked.
#[derive(Clone)]
pub struct AwsClients {
    inner: Arc<Inner>,
}

struct Inner {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    settings: AwsSettings,
    region: String,
    /// The resolved credential chain, for signing outside the SDK clients
    /// (RDS IAM auth tokens).
    credentials: Option<SharedCredentialsProvider>,
}

impl std::fmt::Debug for AwsClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsClients")
            .field("region", &self.inner.region)
            .field("settings", &self.inner.settings)
            .finish()
    }
}

impl AwsClients {
    /// Builds the clients. No request is sent: a wrong endpoint or bad
    /// credentials show at the first call (opening a topic, queue or bucket).
    ///
    /// # Errors
    /// `InvalidConfig` when no region is configured anywhere and no endpoint
    /// is overridden.
    pub async fn connect(settings: &AwsSettings) -> Result<AwsClients> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            .build();
        let retries = RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(timeouts)
            .retry_config(retries);
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        loader = match &settings.credentials {
            AwsCredentials::DefaultChain => loader,
            AwsCredentials::Anonymous => loader.no_credentials(),
            AwsCredentials::Static {
                access_key_id,
                secret_access_key,
                session_token,
            } => loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                access_key_id,
                secret_access_key,
                session_token.clone(),
                None,
                "strata-config",
            )),
        };
        let mut config = loader.load().await;
        let region = match config.region() {
            Some(region) => region.to_string(),
            None if settings.has_custom_endpoint() => {
                config = config
                    .into_builder()
                    .region(Region::new(EMULATOR_REGION))
                    .build();
                EMULATOR_REGION.to_owned()
            }
            None => {
                return Err(Error::invalid_config(
                    "no AWS region: set providers.aws.region in the infra config, \
                     or AWS_REGION in the environment",
                ));
            }
        };
        Ok(AwsClients {
            inner: Arc::new(Inner {
                s3: s3_client(&config, settings),
                sqs: sqs_client(&config, settings),
                sns: sns_client(&config, settings),
                settings: settings.clone(),
                region,
                credentials: config.credentials_provider(),
            }),
        })
    }

    /// The credentials the clients sign with (`None` when anonymous).
    pub fn credentials_provider(&self) -> Option<SharedCredentialsProvider> {
        self.inner.credentials.clone()
    }

    /// The S3 client.
    pub fn s3(&self) -> &aws_sdk_s3::Client {
        &self.inner.s3
    }

    /// The SQS client.
    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        &self.inner.sqs
    }

    /// The SNS client.
    pub fn sns(&self) -> &aws_sdk_sns::Client {
        &self.inner.sns
    }

    /// The settings these clients were built from.
    pub fn settings(&self) -> &AwsSettings {
        &self.inner.settings
    }

    /// The region in use.
    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// Where requests to `service` go, for error messages.
    pub(crate) fn describe(&self, service: Service) -> String {
        let settings = &self.inner.settings;
        let endpoint = match service {
            Service::S3 => settings.s3_endpoint(),
            Service::Sqs => settings.sqs_endpoint(),
            Service::Sns => settings.sns_endpoint(),
        };
        match endpoint {
            Some(url) => format!("{} at {url}", service.name()),
            None => format!("{} in {}", service.name(), self.inner.region),
        }
    }
}

/// The services strata-aws talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    S3,
    Sqs,
    Sns,
}

impl Service {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Service::S3 => "S3",
            Service::Sqs => "SQS",
            Service::Sns => "SNS",
        }
    }
}

fn s3_client(config: &SdkConfig, settings: &AwsSettings) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(settings.path_style())
        // Checksums only where S3 requires them: emulators and S3-compatible
        // stores do not all speak the aws-chunked trailers, and TLS already
        // protects the bytes in transit.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(url) = settings.s3_endpoint() {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

fn sqs_client(config: &SdkConfig, settings: &AwsSettings) -> aws_sdk_sqs::Client {
    let mut builder = aws_sdk_sqs::config::Builder::from(config);
    if let Some(url) = settings.sqs_endpoint() {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_sqs::Client::from_conf(builder.build())
}

fn sns_client(config: &SdkConfig, settings: &AwsSettings) -> aws_sdk_sns::Client {
    let mut builder = aws_sdk_sns::config::Builder::from(config);
    if let Some(url) = settings.sns_endpoint() {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_sns::Client::from_conf(builder.build())
}
