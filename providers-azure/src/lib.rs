//! Strata providers for Azure. So far: the `providers.azure` account settings
//! and Entra ID access tokens as database passwords for Azure Database for
//! PostgreSQL ([`EntraAuthTokenSource`], `"auth": "azure_entra"`). Blob
//! Storage and Service Bus come in their own issues.

mod entra;
mod provider;

pub use entra::{DATABASE_SCOPE, EntraAuthTokenSource, EntraSettings};
pub use provider::{AzureAccount, AzureCredentialsConfig, AzureEndpoints, EntraIdAuth, register};
