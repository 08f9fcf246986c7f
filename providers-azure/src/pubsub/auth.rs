//! [`ServiceBusAuth`]: how a namespace is authorized. A shared access key
//! signs a SAS token for each use; Entra ID asks `azure_identity` (through
//! [`EntraAuthTokenSource`], the credential code the `azure_entra` database
//! auth uses) for an access token of [`SERVICE_BUS_SCOPE`]. Either is put on
//! `$cbs` for the whole namespace and sent in `Authorization` to the
//! management API; they differ only in the CBS token type, the header's
//! form, and who a refusal names.

use std::fmt;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use azure_core::credentials::Secret;
use strata_core::sqldb::CachedToken;
use strata_core::{Error, Result};

use super::sas;
use crate::{EntraAuthTokenSource, EntraSettings};

/// The scope of Entra ID tokens for Service Bus (any namespace; the
/// token's audience is `https://servicebus.azure.net`).
pub const SERVICE_BUS_SCOPE: &str = "https://servicebus.azure.net/.default";

/// The CBS token type of a shared access signature, as the SDKs send it.
const SAS_TOKEN_TYPE: &str = "servicebus.windows.net:sastoken";
/// The CBS token type of an Entra ID access token.
const JWT_TOKEN_TYPE: &str = "jwt";

/// How a Service Bus namespace is authorized. `Debug` shows the key name or
/// the Entra ID principal, never a key or token.
#[derive(Clone)]
pub enum ServiceBusAuth {
    /// A shared access policy's name and key (used as given: Service Bus
    /// keys are not base64-decoded).
    SharedAccessKey {
        /// The policy's name (`RootManageSharedAccessKey`).
        key_name: String,
        /// Its key.
        key: Secret,
    },
    /// Entra ID access tokens for [`SERVICE_BUS_SCOPE`], cached and fetched
    /// again within the cache's margin of their expiry.
    EntraId(CachedToken),
}

impl fmt::Debug for ServiceBusAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SharedAccessKey { key_name, .. } => f
                .debug_struct("SharedAccessKey")
                .field("key_name", key_name)
                .finish_non_exhaustive(),
            Self::EntraId(token) => f.debug_tuple("EntraId").field(&token.describe()).finish(),
        }
    }
}

/// A token for the whole namespace, as CBS takes it.
pub(crate) struct NamespaceToken {
    /// The SAS token or the JWT.
    pub value: String,
    /// Its CBS token type.
    pub token_type: &'static str,
    /// When it expires, in seconds since the epoch.
    pub expires: u64,
}

impl ServiceBusAuth {
    /// Entra ID tokens for the principal `settings` names. Makes no request.
    ///
    /// # Errors
    /// `InvalidConfig` for incomplete service principal settings.
    pub fn entra_id(settings: &EntraSettings) -> Result<Self> {
        let source = EntraAuthTokenSource::for_scope(settings, SERVICE_BUS_SCOPE)?;
        Ok(Self::EntraId(CachedToken::new(Arc::new(source))))
    }

    /// A token for `audience` (`sb://<host>/`): a SAS signed now, or the
    /// cached Entra ID token (fetched if it is near expiry).
    ///
    /// # Errors
    /// The token source's error (`PermissionDenied` for refused
    /// credentials, `Unavailable` for an unreachable endpoint), naming
    /// `namespace`.
    pub(crate) async fn token(&self, audience: &str, namespace: &str) -> Result<NamespaceToken> {
        match self {
            Self::SharedAccessKey { key_name, key } => {
                let (value, expires) = sas::token(audience, key_name, key)?;
                Ok(NamespaceToken {
                    value,
                    token_type: SAS_TOKEN_TYPE,
                    expires,
                })
            }
            Self::EntraId(cache) => {
                let token = cache.get().await.map_err(|e| {
                    Error::new(
                        e.code(),
                        format!("Service Bus namespace `{namespace}`: {}", e.message()),
                    )
                })?;
                let expires = token
                    .expires_at()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                Ok(NamespaceToken {
                    value: token.secret().to_owned(),
                    token_type: JWT_TOKEN_TYPE,
                    expires,
                })
            }
        }
    }

    /// The `Authorization` header of a management request: the SAS token
    /// itself, or `Bearer <token>`.
    ///
    /// # Errors
    /// As [`token`](Self::token).
    pub(crate) async fn authorization(&self, audience: &str, namespace: &str) -> Result<String> {
        let token = self.token(audience, namespace).await?;
        Ok(match self {
            Self::SharedAccessKey { .. } => token.value,
            Self::EntraId(_) => format!("Bearer {}", token.value),
        })
    }

    /// `PermissionDenied` for a token the namespace refused: names the
    /// namespace and the key name or principal, and says what to check;
    /// `detail` is what the service said (never holding the token).
    pub(crate) fn refused(&self, namespace: &str, detail: &str) -> Error {
        match self {
            Self::SharedAccessKey { key_name, .. } => Error::permission_denied(format!(
                "Service Bus namespace `{namespace}` refused the shared access signature of key \
                 name `{key_name}`{detail}: check the key name and key"
            )),
            Self::EntraId(token) => Error::permission_denied(format!(
                "Service Bus namespace `{namespace}` refused the {}{detail}: check that it is \
                 for this tenant and that the principal has a Service Bus data role (Azure \
                 Service Bus Data Sender, Receiver or Owner) on the namespace",
                token.describe()
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, SystemTime};

    use async_trait::async_trait;
    use strata_core::ErrorCode;
    use strata_core::sqldb::{AuthToken, AuthTokenSource};

    use super::*;

    #[derive(Debug)]
    struct Fixed;

    #[async_trait]
    impl AuthTokenSource for Fixed {
        async fn fetch(&self) -> Result<AuthToken> {
            Ok(AuthToken::new(
                "eyJ.jwt.sig",
                SystemTime::now() + Duration::from_secs(3600),
            ))
        }
        fn describe(&self) -> String {
            "Entra ID access token for service principal app-1 in tenant t-1".into()
        }
    }

    fn entra() -> ServiceBusAuth {
        ServiceBusAuth::EntraId(CachedToken::new(Arc::new(Fixed)))
    }

    #[tokio::test]
    async fn entra_tokens_are_jwt_on_cbs_and_bearer_on_http() {
        let token = entra().token("sb://ns/", "ns").await.unwrap();
        assert_eq!(token.token_type, "jwt");
        assert_eq!(token.value, "eyJ.jwt.sig");
        assert!(token.expires > sas::TOKEN_LIFETIME.as_secs());
        let header = entra().authorization("sb://ns/", "ns").await.unwrap();
        assert_eq!(header, "Bearer eyJ.jwt.sig");
    }

    #[tokio::test]
    async fn a_shared_access_key_is_a_sas_token_on_both() {
        let sas = ServiceBusAuth::SharedAccessKey {
            key_name: "Root".into(),
            key: Secret::new("s3cr3t"),
        };
        let token = sas.token("sb://ns/", "ns").await.unwrap();
        assert_eq!(token.token_type, "servicebus.windows.net:sastoken");
        let header = sas.authorization("sb://ns/", "ns").await.unwrap();
        assert!(header.starts_with("SharedAccessSignature "), "{header}");
    }

    #[test]
    fn a_refusal_names_the_namespace_and_who_never_the_key() {
        let err = entra().refused("ns.servicebus.windows.net", " (401)");
        assert_eq!(err.code(), ErrorCode::PermissionDenied);
        let text = err.message();
        assert!(text.contains("ns.servicebus.windows.net"), "{text}");
        assert!(text.contains("service principal app-1"), "{text}");
        assert!(!text.contains("eyJ"), "{text}");
        let sas = ServiceBusAuth::SharedAccessKey {
            key_name: "Root".into(),
            key: Secret::new("s3cr3t"),
        };
        let text = format!("{} {sas:?}", sas.refused("ns", ""));
        assert!(
            text.contains("`Root`") && !text.contains("s3cr3t"),
            "{text}"
        );
    }
}
