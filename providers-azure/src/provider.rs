//! Azure's registrations: `providers.azure` and `"auth": "azure_entra"` for
//! PostgreSQL. Blob Storage and Service Bus register here when they land.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use strata_core::registry::{
    CloudAccount, DatabaseAuthProvider, OpenContext, OptionsType, ProviderOptions, Registry,
};
use strata_core::sqldb::{CachedToken, ConnectTarget};
use strata_core::{Error, Result};

use crate::{EntraAuthTokenSource, EntraSettings};

/// Registers Azure's auth method and account settings.
pub fn register(registry: &mut Registry) {
    registry
        .add_cloud(CloudAccount {
            name: "azure",
            description: "Microsoft Azure (Entra ID database auth; Service Bus and Blob Storage \
                          to come).",
            options: OptionsType::of::<AzureAccount>(),
        })
        .add_database_auth(EntraIdAuth);
}

/// How to reach one Azure storage account or Service Bus namespace.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureAccount {
    /// The storage account or Service Bus namespace.
    #[serde(default)]
    pub account: Option<String>,
    /// One endpoint for every service (an emulator).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Per-service endpoints, overriding `endpoint`.
    #[serde(default)]
    pub endpoints: AzureEndpoints,
    /// Explicit credentials; without them, Entra ID from the environment.
    #[serde(default)]
    pub credentials: Option<AzureCredentialsConfig>,
    /// Create missing topics, subscriptions and containers at startup.
    #[serde(default)]
    pub provision: bool,
}

/// Per-service endpoint overrides.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureEndpoints {
    /// The Blob Storage endpoint.
    #[serde(default)]
    pub blob: Option<String>,
    /// The Service Bus endpoint.
    #[serde(default)]
    pub servicebus: Option<String>,
}

/// Explicit Azure credentials. Put secrets in the environment: `{"$env": "NAME"}`.
///
/// `Debug` never shows them.
#[derive(Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureCredentialsConfig {
    /// Storage account key or Service Bus shared access key.
    #[serde(default)]
    pub account_key: Option<String>,
    /// A connection string.
    #[serde(default)]
    pub connection_string: Option<String>,
    /// Use no credentials (emulators that accept anonymous requests).
    #[serde(default)]
    pub anonymous: bool,
}

impl fmt::Debug for AzureCredentialsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("AzureCredentialsConfig")
            .field("account_key", &hidden(&self.account_key))
            .field("connection_string", &hidden(&self.connection_string))
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

impl ProviderOptions for AzureAccount {}

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
