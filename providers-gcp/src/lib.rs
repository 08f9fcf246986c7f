//! # strata-gcp
//!
//! Strata's Google Cloud providers: PubSub on Cloud Pub/Sub ([`PubSubTopic`],
//! [`PubSubSubscription`], on Google's official `google-cloud-pubsub` crate),
//! ObjectStore on Cloud Storage ([`GcsBucket`], on the JSON API through
//! `gcloud-storage`), and Cloud SQL IAM database auth tokens for PostgreSQL
//! ([`CloudSqlAuthTokenSource`]).
//!
//! [`register`] adds them to a registry (`"provider": "gcp"`). In code, build
//! [`GcpSettings`] from a [`GcpAccount`] (the infra config's `providers.gcp`),
//! make one [`GcpClients`] from them, and open each resource with it:
//!
//! ```no_run
//! # async fn demo(account: &strata_gcp::GcpAccount) -> strata_core::Result<()> {
//! use strata_gcp::{GcpClients, GcpSettings, PubSubSubscription, PubSubSubscriptionOptions, PubSubTopic};
//! let settings = GcpSettings::from_account(account)?;
//! let clients = GcpClients::connect(&settings).await?;
//! let topic = PubSubTopic::open(&clients, "orders", settings.provision).await?;
//! let opts = PubSubSubscriptionOptions { provision: settings.provision, ..Default::default() };
//! let sub = PubSubSubscription::open(&clients, &topic, "orders-email", &opts).await?;
//! # let _ = sub; Ok(()) }
//! ```
//!
//! Emulators: `providers.gcp.endpoint` (or `endpoints.pubsub` /
//! `endpoints.storage`), or the `PUBSUB_EMULATOR_HOST` and
//! `STORAGE_EMULATOR_HOST` variables that Google's other clients read; a
//! plain `http://` endpoint is used without credentials.
//!
//! TLS: the Google crates are built without their default crypto provider
//! (aws-lc-rs); they use the process-wide rustls provider, and
//! [`GcpClients::connect`] installs ring there unless one is installed.

mod account;
mod clients;
mod cloudsql;
mod error;
pub mod objects;
mod provider;
pub mod pubsub;
mod settings;

pub use account::{GcpAccount, GcpCredentialsConfig, GcpEndpoints};
pub use clients::GcpClients;
pub use cloudsql::{CloudSqlAuthTokenSource, SQL_LOGIN_SCOPE};
pub use objects::{GcsBucket, GcsBucketOptions};
pub use provider::{
    CloudPubSubProvider, CloudSqlIamAuth, CloudStorageProvider, GcpCluster, register,
};
pub use pubsub::{PubSubDeadLetter, PubSubSubscription, PubSubSubscriptionOptions, PubSubTopic};
pub use settings::{GcpCredentials, GcpSettings};
