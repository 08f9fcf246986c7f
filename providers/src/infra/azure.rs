//! The `azure` arms of [`Infra`](super::Infra): Entra ID auth tokens for
//! Azure Database for PostgreSQL.

use std::sync::Arc;

use strata_azure::{EntraAuthTokenSource, EntraSettings};
use strata_core::sqldb::CachedToken;
use strata_core::{Error, Result};

/// Entra ID tokens for database `name`, from the credentials in the
/// environment (`providers.azure` has no Entra fields yet). Makes no request:
/// the first connection fetches the first token.
///
/// # Errors
/// `InvalidConfig` naming `databases.<name>.auth` when the environment's
/// credentials are incomplete.
pub(super) fn entra_auth_token(name: &str) -> Result<CachedToken> {
    entra_auth_token_from(name, &EntraSettings::from_env())
}

fn entra_auth_token_from(name: &str, settings: &EntraSettings) -> Result<CachedToken> {
    let source = EntraAuthTokenSource::new(settings)
        .map_err(|e| Error::new(e.code(), format!("databases.{name}.auth: {}", e.message())))?;
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
        assert!(err.message().starts_with("databases.main.auth: "), "{err}");
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
