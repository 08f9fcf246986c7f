//! `providers.azure` of the infra config: [`AzureAccount`], Azure's own
//! settings type, shared by Blob Storage and Service Bus.

use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;
use strata_core::registry::cloud::check_endpoints;
use strata_core::registry::{FieldError, ProviderOptions, Registry};

/// How to reach one Azure storage account (or Service Bus namespace).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureAccount {
    /// The storage account name (default: the connection string's
    /// `AccountName`).
    #[serde(default)]
    pub account: Option<String>,
    /// One endpoint for every service, e.g. Azurite's
    /// `http://127.0.0.1:10000/devstoreaccount1` (the account in the path).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Per-service endpoints, overriding `endpoint`.
    #[serde(default)]
    pub endpoints: AzureEndpoints,
    /// Explicit credentials, one kind of them; without them, Entra ID from the
    /// environment (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`,
    /// else the managed identity).
    #[serde(default)]
    pub credentials: Option<AzureCredentialsConfig>,
    /// The Service Bus namespace that serves `"provider": "azure"` pub/sub.
    #[serde(default)]
    pub service_bus: Option<ServiceBusAccount>,
    /// Create missing containers, topics and subscriptions at startup.
    #[serde(default)]
    pub provision: bool,
}

/// How to reach a Service Bus namespace: a connection string; the namespace
/// with a shared access key name and key; or the namespace alone, for Entra
/// ID from the environment (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
/// `AZURE_CLIENT_SECRET`, else the managed identity), as Blob Storage
/// without `credentials`. Put the key in the environment: `{"$env": "NAME"}`.
///
/// `Debug` never shows the key.
#[derive(Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceBusAccount {
    /// `Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=…;
    /// SharedAccessKey=…` (with `;UseDevelopmentEmulator=true` for an
    /// emulator, which speaks plain AMQP on the endpoint's port).
    #[serde(default)]
    pub connection_string: Option<String>,
    /// The namespace: `my-namespace` or its host name
    /// (`my-namespace.servicebus.windows.net`). Without `key_name` and `key`,
    /// authorized with Entra ID.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The shared access policy's name (e.g. `RootManageSharedAccessKey`);
    /// needs `key`.
    #[serde(default)]
    pub key_name: Option<String>,
    /// The shared access policy's key; needs `key_name`.
    #[serde(default)]
    pub key: Option<String>,
    /// The largest message the namespace takes, in bytes: 262144 (256 KiB)
    /// on the Standard tier, up to 104857600 (100 MiB) on Premium.
    #[serde(default)]
    #[schemars(range(min = 1024, max = 104_857_600))]
    pub max_message_bytes: Option<u64>,
}

impl fmt::Debug for ServiceBusAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("ServiceBusAccount")
            .field("connection_string", &hidden(&self.connection_string))
            .field("namespace", &self.namespace)
            .field("key_name", &self.key_name)
            .field("key", &hidden(&self.key))
            .field("max_message_bytes", &self.max_message_bytes)
            .finish()
    }
}

/// Per-service endpoint overrides.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureEndpoints {
    /// The Blob Storage endpoint (default
    /// `https://<account>.blob.core.windows.net`).
    #[serde(default)]
    pub blob: Option<String>,
    /// The Service Bus endpoint.
    #[serde(default)]
    pub servicebus: Option<String>,
}

/// Explicit Azure credentials, at most one kind. Put secrets in the
/// environment: `{"$env": "NAME"}`.
///
/// `Debug` never shows them.
#[derive(Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AzureCredentialsConfig {
    /// The storage account's shared key (base64), signing every request
    /// (Shared Key) and service SAS URLs.
    #[serde(default)]
    pub account_key: Option<String>,
    /// A connection string (`AccountName=…;AccountKey=…;BlobEndpoint=…`,
    /// `…;SharedAccessSignature=…`, or `UseDevelopmentEmulator=true` for
    /// Azurite's well-known account).
    #[serde(default)]
    pub connection_string: Option<String>,
    /// A SAS token (`sv=…&sig=…`, with or without the leading `?`) sent
    /// with every request.
    #[serde(default)]
    pub sas_token: Option<String>,
    /// Use no credentials (public containers, emulators that accept
    /// anonymous requests).
    #[serde(default)]
    pub anonymous: bool,
}

impl fmt::Debug for AzureCredentialsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("AzureCredentialsConfig")
            .field("account_key", &hidden(&self.account_key))
            .field("connection_string", &hidden(&self.connection_string))
            .field("sas_token", &hidden(&self.sas_token))
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

impl ProviderOptions for AzureAccount {
    fn check(&self, _registry: &Registry) -> Result<(), FieldError> {
        self.validate()
    }
}

impl AzureAccount {
    /// The checks the config parser runs: the field (relative to
    /// `providers.azure`) and what is wrong there.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(account) = &self.account
            && let Some(rule) = account_name_rule(account)
        {
            return Err(("account".to_owned(), rule.to_owned()));
        }
        check_endpoints([
            ("endpoint", &self.endpoint),
            ("endpoints.blob", &self.endpoints.blob),
            ("endpoints.servicebus", &self.endpoints.servicebus),
        ])?;
        if let Some(creds) = &self.credentials {
            let kinds = [
                creds.account_key.is_some(),
                creds.connection_string.is_some(),
                creds.sas_token.is_some(),
                creds.anonymous,
            ];
            if kinds.into_iter().filter(|set| *set).count() > 1 {
                return Err((
                    "credentials".into(),
                    "give one of `account_key`, `connection_string`, `sas_token` and \
                     `anonymous`"
                        .into(),
                ));
            }
        }
        if let Some(bus) = &self.service_bus {
            bus.check()?;
        }
        Ok(())
    }
}

impl ServiceBusAccount {
    /// Which way of reaching the namespace is given, and that it is whole:
    /// the field (relative to `providers.azure`) and what is wrong there.
    /// The implicit Entra ID (a namespace without a key) is the one Blob
    /// Storage has; half a shared access key is an error naming the other
    /// half, never a silent switch to Entra ID.
    pub(crate) fn check(&self) -> Result<(), FieldError> {
        let field = |name: &str| format!("service_bus.{name}");
        let parts = self.namespace.is_some() || self.key_name.is_some() || self.key.is_some();
        if self.connection_string.is_some() == parts {
            return Err((
                "service_bus".into(),
                "give either `connection_string`, or `namespace` (with `key_name` and `key` for \
                 a shared access key, alone for Entra ID)"
                    .into(),
            ));
        }
        if parts && self.namespace.is_none() {
            return Err((
                field("namespace"),
                "a shared access key needs its namespace".into(),
            ));
        }
        match (&self.key_name, &self.key) {
            (Some(_), None) => Err((
                field("key"),
                "missing: `key_name` needs its key (leave both out for Entra ID)".into(),
            )),
            (None, Some(_)) => Err((
                field("key_name"),
                "missing: `key` needs its key name (leave both out for Entra ID)".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// Storage account names: 3 to 24 lowercase letters and digits. The
/// message never repeats the name.
pub(crate) fn account_name_rule(name: &str) -> Option<&'static str> {
    let ok = (3..=24).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (!ok).then_some("not a storage account name: 3 to 24 lowercase letters and digits")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_kind_of_credentials_and_valid_names_only() {
        let mut account = AzureAccount {
            account: Some("devstoreaccount1".into()),
            endpoint: Some("http://127.0.0.1:10000/devstoreaccount1".into()),
            ..AzureAccount::default()
        };
        assert!(account.validate().is_ok());
        account.credentials = Some(AzureCredentialsConfig {
            account_key: Some("k".into()),
            sas_token: Some("sv=1".into()),
            ..AzureCredentialsConfig::default()
        });
        assert_eq!(account.validate().unwrap_err().0, "credentials");
        account.credentials = None;
        account.account = Some("Not_An_Account".into());
        let (field, msg) = account.validate().unwrap_err();
        assert_eq!(field, "account");
        assert!(!msg.contains("Not_An_Account"), "{msg}");
    }

    #[test]
    fn service_bus_takes_a_namespace_alone_but_not_half_a_key() {
        let with = |bus: ServiceBusAccount| {
            AzureAccount {
                service_bus: Some(bus),
                ..AzureAccount::default()
            }
            .validate()
        };
        let entra = ServiceBusAccount {
            namespace: Some("orders-ns".into()),
            ..ServiceBusAccount::default()
        };
        assert!(with(entra.clone()).is_ok());
        let half = ServiceBusAccount {
            key_name: Some("send".into()),
            ..entra.clone()
        };
        assert_eq!(with(half).unwrap_err().0, "service_bus.key");
        let other_half = ServiceBusAccount {
            key: Some("s3cr3t".into()),
            ..entra.clone()
        };
        let (field, msg) = with(other_half).unwrap_err();
        assert_eq!(field, "service_bus.key_name");
        assert!(!msg.contains("s3cr3t"), "{msg}");
        let no_namespace = ServiceBusAccount {
            key_name: Some("send".into()),
            key: Some("s3cr3t".into()),
            ..ServiceBusAccount::default()
        };
        assert_eq!(with(no_namespace).unwrap_err().0, "service_bus.namespace");
        let both = ServiceBusAccount {
            connection_string: Some("Endpoint=sb://x/".into()),
            ..entra
        };
        assert_eq!(with(both).unwrap_err().0, "service_bus");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let creds = AzureCredentialsConfig {
            account_key: Some("s3cr3t".into()),
            ..AzureCredentialsConfig::default()
        };
        assert!(!format!("{creds:?}").contains("s3cr3t"));
    }
}
