//! Strata providers for Azure: PubSub on Service Bus ([`ServiceBusTopic`],
//! [`ServiceBusSubscription`], over AMQP with `fe2o3-amqp`), ObjectStore on
//! Blob Storage ([`BlobBucket`], on Microsoft's `azure_storage_blob`), Entra
//! ID access tokens as database passwords for Azure Database for PostgreSQL
//! ([`EntraAuthTokenSource`], `"auth": "azure_entra"`), and the
//! `providers.azure` account settings.
//!
//! [`register`] adds them to a registry (`"provider": "azure"`). In code,
//! build [`AzureSettings`] from an [`AzureAccount`], make one
//! [`AzureClients`] from them, and open each container with it:
//!
//! ```no_run
//! # async fn demo(account: &strata_azure::AzureAccount) -> strata_core::Result<()> {
//! use strata_azure::{AzureClients, AzureSettings, BlobBucket, BlobBucketOptions};
//! let settings = AzureSettings::from_account(account)?;
//! let clients = AzureClients::connect(&settings).await?;
//! let bucket = BlobBucket::open(&clients, "uploads", BlobBucketOptions::default()).await?;
//! # let _ = bucket; Ok(()) }
//! ```
//!
//! Service Bus takes a connection string, a shared access key, or (a namespace
//! alone) Entra ID tokens for [`SERVICE_BUS_SCOPE`] from the same source.
//!
//! Blob Storage credentials are one of: the account key (requests signed with Shared
//! Key), a SAS token, a connection string (`UseDevelopmentEmulator=true` is
//! Azurite's well-known account), none (anonymous), or by default Entra ID
//! from the environment (service principal or managed identity).
//!
//! TLS: `azure_core` sends through a reqwest client built here with rustls
//! over the process-wide ring provider; no other TLS stack is linked.

mod account;
mod clients;
mod entra;
mod error;
pub mod objects;
mod provider;
pub mod pubsub;
mod sas_policy;
mod settings;
mod shared_key;

pub use account::{AzureAccount, AzureCredentialsConfig, AzureEndpoints, ServiceBusAccount};
pub use clients::AzureClients;
pub use entra::{DATABASE_SCOPE, EntraAuthTokenSource, EntraSettings};
pub use objects::{BlobBucket, BlobBucketOptions};
pub use provider::{AzureCluster, BlobStorageProvider, EntraIdAuth, ServiceBusProvider, register};
pub use pubsub::{
    SERVICE_BUS_SCOPE, ServiceBusAuth, ServiceBusNamespace, ServiceBusSettings,
    ServiceBusSubscription, ServiceBusSubscriptionOptions, ServiceBusTopic,
};
pub use settings::{AzureCredentials, AzureSettings, DEV_ACCOUNT};
