//! [`AzureClients`]: the Blob Storage pipeline of one application, built
//! from [`AzureSettings`] on first use: the HTTP client, the retries and the
//! authorization policy every container client shares.

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::Secret;
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{
    ClientOptions, ExponentialRetryOptions, Pipeline, RetryOptions, Transport, Url,
};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use strata_core::{Error, Result, error_chain};
use tokio::sync::OnceCell;

use crate::entra;
use crate::pubsub::ServiceBusNamespace;
use crate::sas_policy::SasTokenPolicy;
use crate::settings::{AzureCredentials, AzureSettings, invalid};
use crate::shared_key::SharedKeyPolicy;

/// The scope of Entra ID tokens for Azure Storage.
const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// How long connecting to Blob Storage may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a response may go without a byte: no limit on a whole request,
/// which a large body may legitimately exceed, but a silent server fails.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The Azure clients every resource of one application shares. Cheap to
/// clone. Making them sends no request.
#[derive(Clone)]
pub struct AzureClients {
    inner: Arc<Inner>,
}

struct Inner {
    settings: AzureSettings,
    blob: OnceCell<BlobService>,
    service_bus: std::sync::OnceLock<Arc<ServiceBusNamespace>>,
}

impl std::fmt::Debug for AzureClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureClients")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// What every container of the Blob service shares.
#[derive(Clone)]
pub(crate) struct BlobService {
    /// `https://<account>.blob.core.windows.net` or the emulator's URL.
    pub url: Url,
    /// Transport, retries and the authorization policy.
    pub options: ClientOptions,
    /// The same, for the calls the crate lacks (hierarchical listing).
    pub pipeline: Pipeline,
    /// The REST API version the crate speaks, sent with those calls too.
    pub version: String,
    /// Signs service SAS URLs (shared key credentials).
    pub account_key: Option<Secret>,
}

impl AzureClients {
    /// Prepares the clients; no request is sent and no credential is used
    /// until the first container is opened.
    ///
    /// # Errors
    /// None today; fallible like the other clouds' `connect`.
    pub async fn connect(settings: &AzureSettings) -> Result<AzureClients> {
        strata_core::tls::install_crypto_provider();
        Ok(AzureClients {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                blob: OnceCell::new(),
                service_bus: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The settings these clients were made from.
    pub fn settings(&self) -> &AzureSettings {
        &self.inner.settings
    }

    /// The Service Bus namespace's shared connection (made on first use;
    /// it connects when the first link is attached).
    ///
    /// # Errors
    /// `InvalidConfig` when `providers.azure.service_bus` is not set.
    pub fn service_bus(&self) -> Result<Arc<ServiceBusNamespace>> {
        let Some(settings) = &self.inner.settings.service_bus else {
            return Err(invalid(
                "service_bus",
                "Service Bus pub/sub needs the namespace: set `service_bus` to \
                 `{\"connection_string\": …}`, `{\"namespace\", \"key_name\", \"key\"}`, or \
                 `{\"namespace\"}` for Entra ID",
            ));
        };
        Ok(self
            .inner
            .service_bus
            .get_or_init(|| Arc::new(ServiceBusNamespace::new(settings.clone())))
            .clone())
    }

    /// The Blob service, built on first use.
    pub(crate) async fn blob(&self) -> Result<&BlobService> {
        self.inner
            .blob
            .get_or_try_init(|| async { BlobService::new(&self.inner.settings) })
            .await
    }

    /// A client of container `name` (no request).
    pub(crate) async fn container(&self, name: &str) -> Result<BlobContainerClient> {
        let blob = self.blob().await?;
        let mut url = blob.url.clone();
        url.path_segments_mut()
            .map_err(|()| invalid("endpoints.blob", "not a Blob service URL"))?
            .pop_if_empty()
            .push(name);
        let options = BlobContainerClientOptions {
            client_options: blob.options.clone(),
            ..BlobContainerClientOptions::default()
        };
        BlobContainerClient::new(url, None, Some(options)).map_err(|e| {
            Error::invalid_config(format!(
                "Blob Storage container `{name}`: {}",
                error_chain(&e)
            ))
        })
    }

    /// Where Blob Storage requests go, for messages: the account and the
    /// endpoint (never a credential).
    pub(crate) fn describe_blob(&self) -> String {
        let settings = &self.inner.settings;
        let account = settings.account.as_deref().unwrap_or("(unnamed)");
        match settings.blob_service_url() {
            Ok(url) => format!("storage account `{account}` at {url}"),
            Err(_) => format!("storage account `{account}`"),
        }
    }
}

impl BlobService {
    fn new(settings: &AzureSettings) -> Result<BlobService> {
        let url = settings.blob_service_url()?;
        let mut policy: Option<Arc<dyn Policy>> = None;
        let mut account_key = None;
        match &settings.credentials {
            AzureCredentials::SharedKey(key) => {
                policy = Some(Arc::new(SharedKeyPolicy::new(
                    settings.account()?,
                    key.clone(),
                )));
                account_key = Some(key.clone());
            }
            AzureCredentials::Sas(token) => {
                policy = Some(Arc::new(SasTokenPolicy::new(token.clone())));
            }
            AzureCredentials::Entra(entra_settings) => {
                if url.scheme() != "https" {
                    return Err(invalid(
                        "endpoints.blob",
                        "Entra ID tokens are only sent over https; for an http emulator set \
                         credentials (an account key or a connection string)",
                    ));
                }
                let (token, _) = entra::credential(entra_settings, entra::client_options()?)?;
                policy = Some(Arc::new(BearerTokenAuthorizationPolicy::new(
                    token,
                    [STORAGE_SCOPE],
                )));
            }
            AzureCredentials::Anonymous => {}
        }
        let options = ClientOptions {
            transport: Some(Transport::new(Arc::new(http_client()?))),
            per_try_policies: policy.into_iter().collect(),
            retry: RetryOptions::exponential(ExponentialRetryOptions {
                initial_delay: azure_core::time::Duration::milliseconds(200),
                max_retries: 3,
                max_delay: azure_core::time::Duration::seconds(2),
                max_total_elapsed: azure_core::time::Duration::seconds(20),
            }),
            ..ClientOptions::default()
        };
        let pipeline = Pipeline::new(
            Some(env!("CARGO_PKG_NAME")),
            Some(env!("CARGO_PKG_VERSION")),
            options.clone(),
            Vec::new(),
            Vec::new(),
            None,
        );
        Ok(BlobService {
            url,
            options,
            pipeline,
            version: BlobContainerClientOptions::default().version,
            account_key,
        })
    }
}

/// Blob Storage's HTTP client: rustls over the process-wide ring provider,
/// bounded connect and read times, no bound on a whole transfer.
fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .map_err(|e| Error::internal(format!("cannot build an HTTP client: {}", error_chain(&e))))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strata_core::ErrorCode;

    use super::*;
    use crate::EntraSettings;

    #[test]
    fn entra_tokens_are_never_sent_over_plain_http() {
        let settings = AzureSettings {
            account: Some("acct1".into()),
            blob_endpoint: Some("http://127.0.0.1:10000/acct1".into()),
            service_bus: None,
            credentials: AzureCredentials::Entra(EntraSettings::default()),
            provision: false,
        };
        let err = BlobService::new(&settings).err().unwrap();
        assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
        assert!(err.message().contains("https"), "{err}");
        let https = AzureSettings {
            blob_endpoint: None,
            ..settings
        };
        assert!(BlobService::new(&https).is_ok());
    }
}
