//! Azure's registrations: `"provider": "azure"` under `objects` (Blob
//! Storage), `"auth": "azure_entra"` for PostgreSQL, and `providers.azure`.
//! One [`AzureCluster`] per `Infra` holds the clients they share. Service
//! Bus registers here when it lands.

use std::sync::Arc;

use async_trait::async_trait;
use strata_core::objects::BucketDriver;
use strata_core::registry::cloud::{CloudClients, Cluster};
use strata_core::registry::{
    BucketEntry, CloudAccount, DatabaseAuthProvider, FieldError, ObjectsProvider, OpenContext,
    Registry,
};
use strata_core::sqldb::{CachedToken, ConnectTarget};
use strata_core::{Error, Result};

use crate::objects::container_name_rule;
use crate::{
    AzureAccount, AzureClients, AzureSettings, BlobBucket, BlobBucketOptions, EntraAuthTokenSource,
    EntraSettings,
};

/// The name of Azure in configs: the providers' name and the account's key.
const NAME: &str = "azure";

/// Registers Azure's providers, auth method and account settings.
pub fn register(registry: &mut Registry) {
    registry
        .add_cloud(CloudAccount::of::<AzureClients>(
            "Microsoft Azure (Blob Storage, Entra ID database auth; Service Bus to come).",
        ))
        .add_objects(BlobStorageProvider)
        .add_database_auth(EntraIdAuth);
}

/// The Azure clients of one `Infra`, connected from `providers.azure`.
pub type AzureCluster = Cluster<AzureClients>;

impl CloudClients for AzureClients {
    const NAME: &'static str = NAME;
    type Account = AzureAccount;
    /// No pub/sub yet (Service Bus comes in its own issue).
    type Topic = ();

    async fn for_account(account: AzureAccount) -> Result<Self> {
        AzureClients::connect(&AzureSettings::from_account(&account)?).await
    }
}

/// Blob Storage containers.
pub struct BlobStorageProvider;

#[async_trait]
impl ObjectsProvider for BlobStorageProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check_names(&self, bucket: BucketEntry<'_>) -> std::result::Result<(), FieldError> {
        match container_name_rule(bucket.physical) {
            Some(rule) => Err((bucket.name_field().to_owned(), rule.to_owned())),
            None => Ok(()),
        }
    }

    async fn open_bucket(
        &self,
        cx: &OpenContext,
        bucket: BucketEntry<'_>,
    ) -> Result<Arc<dyn BucketDriver>> {
        // A config built in code skipped the parser: check before any request.
        self.check_names(bucket).map_err(|(field, rule)| {
            let path = bucket.path();
            let at = if field.is_empty() {
                path
            } else {
                format!("{path}.{field}")
            };
            cx.invalid_config(&at, rule)
        })?;
        let cluster = AzureCluster::of(cx).await?;
        let opts = BlobBucketOptions {
            public_base_url: bucket.config.public_base_url.clone(),
            provision: cluster.clients().settings().provision,
        };
        Ok(Arc::new(
            BlobBucket::open(cluster.clients(), bucket.physical, opts).await?,
        ))
    }
}

/// Entra ID access tokens for Azure Database for PostgreSQL.
pub struct EntraIdAuth;

#[async_trait]
impl DatabaseAuthProvider for EntraIdAuth {
    fn name(&self) -> &'static str {
        "azure_entra"
    }

    /// Tokens from the credentials in the environment (`providers.azure` has
    /// no Entra fields yet). Makes no request: the first connection fetches
    /// the first token.
    async fn token(
        &self,
        cx: &OpenContext,
        database: &str,
        _target: &ConnectTarget,
    ) -> Result<CachedToken> {
        entra_auth_token_from(database, &EntraSettings::from_env()).map_err(|e| cx.locate(e))
    }
}

/// # Errors
/// `InvalidConfig` naming `databases.<name>.auth` when the credentials are
/// incomplete.
fn entra_auth_token_from(name: &str, settings: &EntraSettings) -> Result<CachedToken> {
    let source = EntraAuthTokenSource::new(settings).map_err(|e| {
        Error::new(
            e.code(),
            format!("at `databases.{name}.auth`: {}", e.message()),
        )
    })?;
    Ok(CachedToken::new(Arc::new(source)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use strata_core::ErrorCode;

    use super::*;

    #[test]
    fn azure_entra_with_an_incomplete_service_principal_names_the_database() {
        let settings = EntraSettings {
            client_secret: Some("s3cr3t".into()),
            ..EntraSettings::default()
        };
        let err = entra_auth_token_from("main", &settings).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig);
        assert!(
            err.message().starts_with("at `databases.main.auth`: "),
            "{err}"
        );
        assert!(err.message().contains("AZURE_TENANT_ID"), "{err}");
        assert!(!err.message().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn azure_entra_with_a_service_principal_makes_a_token_source_without_a_request() {
        let settings = EntraSettings {
            tenant_id: Some("tenant-1".into()),
            client_id: Some("app-1".into()),
            client_secret: Some("s3cr3t".into()),
        };
        let token = entra_auth_token_from("main", &settings).unwrap();
        assert!(
            token.describe().contains("service principal app-1"),
            "{token:?}"
        );
    }
}
