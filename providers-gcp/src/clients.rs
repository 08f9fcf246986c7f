//! [`GcpClients`]: the Pub/Sub and Cloud Storage clients of one application,
//! built from [`GcpSettings`] on first use of each service.

use std::sync::Arc;
use std::time::Duration;

use gcloud_storage::client::google_cloud_auth::credentials::CredentialsFile;
use gcloud_storage::client::{Client as StorageClient, ClientConfig as StorageConfig};
use gcloud_storage::sign::{RsaKeyPair, SignBy};
use google_cloud_auth::credentials::Credentials;
use google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyExt};
use google_cloud_pubsub::client::{BasePublisher, Subscriber, SubscriptionAdmin, TopicAdmin};
use strata_core::{Error, Result};
use tokio::sync::OnceCell;

use crate::settings::{GcpCredentials, GcpSettings};

/// How long an admin call (get or create a topic or subscription) is retried
/// on transient errors.
const ADMIN_RETRY_LIMIT: Duration = Duration::from_secs(10);

/// The Cloud Storage JSON API of Google Cloud itself.
const STORAGE_ENDPOINT: &str = "https://storage.googleapis.com";

/// The clients every GCP resource of one application shares. Cheap to clone.
///
/// Each service's clients are made when a resource of that service is first
/// opened, so an application using only Cloud Storage never resolves
/// credentials for Pub/Sub.
///
/// TLS: rustls with ring. The Google crates are built without their default
/// provider (aws-lc-rs) and use the process-wide one, which
/// [`GcpClients::connect`] installs unless the application already has.
#[derive(Clone)]
pub struct GcpClients {
    inner: Arc<Inner>,
}

struct Inner {
    settings: GcpSettings,
    pubsub: OnceCell<PubSubClients>,
    storage: OnceCell<Storage>,
}

/// The Cloud Storage client and whether it can sign URLs.
struct Storage {
    client: StorageClient,
    signs: bool,
}

/// The Pub/Sub clients: admin (REST), publishing and streaming pull (gRPC).
#[derive(Clone)]
pub(crate) struct PubSubClients {
    pub topics: TopicAdmin,
    pub subscriptions: SubscriptionAdmin,
    pub publisher: BasePublisher,
    pub subscriber: Subscriber,
}

impl std::fmt::Debug for GcpClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpClients")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// The services strata-gcp talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    PubSub,
    Storage,
}

impl GcpClients {
    /// Prepares the clients. No request is sent and no credential is read
    /// yet: a wrong endpoint or bad credentials show when the first topic,
    /// subscription or bucket is opened.
    ///
    /// # Errors
    /// None today; kept fallible like the other providers' `connect`.
    pub async fn connect(settings: &GcpSettings) -> Result<GcpClients> {
        strata_core::tls::install_crypto_provider();
        Ok(GcpClients {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                pubsub: OnceCell::new(),
                storage: OnceCell::new(),
            }),
        })
    }

    /// The settings these clients were built from.
    pub fn settings(&self) -> &GcpSettings {
        &self.inner.settings
    }

    /// The project id.
    pub fn project(&self) -> &str {
        &self.inner.settings.project
    }

    /// Where requests to `service` go, for error messages.
    pub(crate) fn describe(&self, service: Service) -> String {
        let settings = &self.inner.settings;
        match service {
            Service::PubSub => match settings.pubsub_endpoint() {
                Some(url) => format!("Pub/Sub at {url}"),
                None => format!("Pub/Sub in project {}", settings.project),
            },
            Service::Storage => match settings.storage_endpoint() {
                Some(url) => format!("Cloud Storage at {url}"),
                None => "Cloud Storage".to_owned(),
            },
        }
    }

    /// The Pub/Sub clients, made on first use.
    pub(crate) async fn pubsub(&self) -> Result<&PubSubClients> {
        self.inner
            .pubsub
            .get_or_try_init(|| self.make_pubsub())
            .await
    }

    /// The Cloud Storage client, made on first use.
    pub(crate) async fn storage(&self) -> Result<&StorageClient> {
        Ok(&self.storage_clients().await?.client)
    }

    /// Whether the Cloud Storage client can sign URLs: it has a private key,
    /// or a service account to sign as through IAM `signBlob`
    /// (`signing_service_account`, or on Google Cloud the metadata server's).
    pub(crate) async fn storage_signs(&self) -> Result<bool> {
        Ok(self.storage_clients().await?.signs)
    }

    async fn storage_clients(&self) -> Result<&Storage> {
        self.inner
            .storage
            .get_or_try_init(|| self.make_storage())
            .await
    }

    fn pubsub_credentials(&self) -> Result<Credentials> {
        use google_cloud_auth::credentials::{Builder, anonymous, service_account};
        let built = match &self.inner.settings.credentials {
            GcpCredentials::Anonymous => return Ok(anonymous::Builder::new().build()),
            GcpCredentials::ApplicationDefault => Builder::default().build(),
            GcpCredentials::ServiceAccountJson(json) => {
                let key: serde_json::Value = serde_json::from_str(json).map_err(|e| {
                    Error::invalid_config(format!(
                        "providers.gcp.credentials.service_account_json is not JSON: {e}"
                    ))
                })?;
                service_account::Builder::new(key).build()
            }
        };
        built.map_err(|e| {
            Error::invalid_config(format!(
                "GCP credentials for Pub/Sub: {e} (set providers.gcp.credentials, \
                 GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default login`)"
            ))
            .with_source(e)
        })
    }

    async fn make_pubsub(&self) -> Result<PubSubClients> {
        let credentials = self.pubsub_credentials()?;
        let endpoint = self.inner.settings.pubsub_endpoint().map(str::to_owned);
        let target = self.describe(Service::PubSub);
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            Error::invalid_config(format!("{what} client for {target}: {e}"))
        };
        // Each builder takes the same two settings; a macro keeps them in step.
        macro_rules! build {
            ($builder:expr, $what:literal) => {{
                let mut builder = $builder.with_credentials(credentials.clone());
                if let Some(url) = &endpoint {
                    builder = builder.with_endpoint(url.clone());
                }
                builder.build().await.map_err(|e| failed($what, &e))?
            }};
        }
        // Admin calls run at startup, where a wrong endpoint should fail in
        // seconds rather than be retried for minutes.
        let admin_retry = || Aip194Strict.with_time_limit(ADMIN_RETRY_LIMIT);
        Ok(PubSubClients {
            topics: build!(
                TopicAdmin::builder().with_retry_policy(admin_retry()),
                "Pub/Sub topic admin"
            ),
            subscriptions: build!(
                SubscriptionAdmin::builder().with_retry_policy(admin_retry()),
                "Pub/Sub subscription admin"
            ),
            publisher: build!(BasePublisher::builder(), "Pub/Sub publisher"),
            subscriber: build!(Subscriber::builder(), "Pub/Sub subscriber"),
        })
    }

    async fn make_storage(&self) -> Result<Storage> {
        let settings = &self.inner.settings;
        let endpoint = settings
            .storage_endpoint()
            .unwrap_or(STORAGE_ENDPOINT)
            .to_owned();
        let config = StorageConfig {
            storage_endpoint: endpoint,
            project_id: Some(settings.project.clone()),
            ..StorageConfig::default()
        };
        let auth_failed = |e: &dyn std::fmt::Display| {
            Error::invalid_config(format!(
                "GCP credentials for Cloud Storage: {e} (set providers.gcp.credentials, \
                 GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default login`)"
            ))
        };
        let mut config = match &settings.credentials {
            GcpCredentials::Anonymous => config.anonymous(),
            GcpCredentials::ApplicationDefault => {
                config.with_auth().await.map_err(|e| auth_failed(&e))?
            }
            GcpCredentials::ServiceAccountJson(json) => {
                let file = CredentialsFile::new_from_str(json)
                    .await
                    .map_err(|e| auth_failed(&e))?;
                if settings.storage_uses_plain_http() {
                    anonymous_with_signing_key(config, file)?
                } else {
                    config
                        .with_credentials(file)
                        .await
                        .map_err(|e| auth_failed(&e))?
                }
            }
        };
        // The project of the config wins over the one in the key file.
        config.project_id = Some(settings.project.clone());
        if let Some(email) = &settings.signing_service_account {
            // Signed by IAM as this account, with these credentials' token.
            config.default_google_access_id = Some(email.clone());
            config.default_sign_by = Some(SignBy::SignBytes);
        }
        if let Some(iam) = &settings.iam_endpoint {
            config.service_account_endpoint = iam.trim_end_matches('/').to_owned();
        }
        let signs = config.default_sign_by.is_some()
            && config
                .default_google_access_id
                .as_ref()
                .is_some_and(|email| !email.is_empty());
        Ok(Storage {
            client: StorageClient::new(config),
            signs,
        })
    }
}

/// A Cloud Storage client for an emulator (a plain `http://` endpoint) that
/// sends requests without credentials yet signs URLs with the
/// service-account key of `file`.
///
/// Why both: fake-gcs-server ignores tokens, a token must not travel in
/// clear, and minting one would call the key's `token_uri` — but V4 signing
/// is local (RSA-SHA256 with the private key), so a throwaway key is enough
/// to produce, and test, real signed URLs against the emulator.
fn anonymous_with_signing_key(
    config: StorageConfig,
    file: CredentialsFile,
) -> Result<StorageConfig> {
    const FIELD: &str = "providers.gcp.credentials.service_account_json";
    let email = file
        .client_email
        .filter(|email| !email.is_empty())
        .ok_or_else(|| {
            Error::invalid_config(format!(
                "{FIELD} has no `client_email`: a signed URL names the service account \
                 that signs it"
            ))
        })?;
    let key = file
        .private_key
        .filter(|key| !key.is_empty())
        .ok_or_else(|| {
            Error::invalid_config(format!(
                "{FIELD} has no `private_key`: signed URLs are signed with it"
            ))
        })?
        .into_bytes();
    // Checked now rather than at the first signed URL. The error names the
    // PEM label or why the key was rejected, never the key itself.
    RsaKeyPair::try_from(&key).map_err(|e| {
        Error::invalid_config(format!(
            "{FIELD}: `private_key` is not an RSA key in PKCS#8 PEM \
             (`-----BEGIN PRIVATE KEY-----`): {e}"
        ))
    })?;
    let mut config = config.anonymous();
    config.default_google_access_id = Some(email);
    config.default_sign_by = Some(SignBy::PrivateKey(key));
    Ok(config)
}
