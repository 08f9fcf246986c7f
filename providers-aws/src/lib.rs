//! # strata-aws
//!
//! Strata's AWS providers: PubSub on SNS + SQS ([`SnsTopic`],
//! [`SqsSubscription`]), ObjectStore on S3 ([`S3Bucket`]), and IAM auth tokens
//! for RDS / Aurora PostgreSQL ([`RdsAuthTokenSource`]).
//!
//! [`register`] adds them to a registry (`"provider": "aws"`). In code, build
//! [`AwsSettings`] from an [`AwsAccount`] (the infra config's `providers.aws`),
//! make one [`AwsClients`] from them, and open each resource with it:
//!
//! ```no_run
//! # async fn demo(account: &strata_aws::AwsAccount) -> strata_core::Result<()> {
//! use strata_aws::{AwsClients, AwsSettings, S3Bucket, SnsTopic, SqsSubscription, SqsSubscriptionOptions};
//! let settings = AwsSettings::from_account(account)?;
//! let clients = AwsClients::connect(&settings).await?;
//! let topic = SnsTopic::open(&clients, "orders", false, settings.provision).await?;
//! let opts = SqsSubscriptionOptions { provision: settings.provision, ..Default::default() };
//! let sub = SqsSubscription::open(&clients, &topic, "orders-email", &opts).await?;
//! let bucket = S3Bucket::open(&clients, "uploads", Default::default()).await?;
//! # let _ = (sub, bucket); Ok(()) }
//! ```
//!
//! TLS: the HTTPS client is rustls with ring, configured on the client itself,
//! so this crate neither links aws-lc-rs nor needs the process-wide rustls
//! provider (installing ring there, as `strata-providers` does, is harmless).

mod account;
mod clients;
mod error;
pub mod names;
pub mod objects;
mod provider;
pub mod pubsub;
mod rds_auth;
mod settings;

pub use account::{AwsAccount, AwsCredentialsConfig, AwsEndpoints};
pub use clients::AwsClients;
pub use objects::{S3Bucket, S3BucketOptions};
pub use provider::{AwsCluster, RdsIamAuth, S3Provider, SnsSqsProvider, register};
pub use pubsub::{SnsTopic, SqsDeadLetter, SqsSubscription, SqsSubscriptionOptions};
pub use rds_auth::{RDS_TOKEN_LIFETIME, RdsAuthTokenSource};
pub use settings::{AwsCredentials, AwsSettings};
