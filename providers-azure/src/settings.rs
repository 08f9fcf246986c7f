//! [`AzureSettings`]: what the Blob Storage clients are built from, resolved
//! once from [`AzureAccount`] (connection strings taken apart, the kind of
//! credentials decided).

use std::fmt;

use azure_core::credentials::Secret;
use azure_core::http::Url;
use strata_core::{Error, Result};

use crate::account::account_name_rule;
use crate::pubsub::ServiceBusSettings;
use crate::{AzureAccount, EntraSettings};

/// Azurite's development account: its name and key are fixed and published
/// by Microsoft (not a secret), and what `UseDevelopmentEmulator=true` means.
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// Where Azurite's Blob service listens by default.
const DEV_BLOB_HOST: &str = "http://127.0.0.1:10000";

/// How requests to Blob Storage are authorized.
#[derive(Clone)]
pub enum AzureCredentials {
    /// The account's shared key: every request signed (Shared Key), and
    /// service SAS URLs.
    SharedKey(Secret),
    /// A SAS token added to every request.
    Sas(Secret),
    /// Entra ID tokens (service principal or managed identity); signed URLs
    /// are user-delegation SAS.
    Entra(EntraSettings),
    /// No credentials.
    Anonymous,
}

/// Says which kind, never the secret.
impl fmt::Debug for AzureCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SharedKey(_) => f.write_str("SharedKey(<redacted>)"),
            Self::Sas(_) => f.write_str("Sas(<redacted>)"),
            Self::Entra(settings) => f.debug_tuple("Entra").field(settings).finish(),
            Self::Anonymous => f.write_str("Anonymous"),
        }
    }
}

/// Resolved Azure settings.
#[derive(Debug, Clone)]
pub struct AzureSettings {
    /// The storage account.
    pub account: Option<String>,
    /// The Blob Storage endpoint, when not the account's default.
    pub blob_endpoint: Option<String>,
    /// How requests are authorized.
    pub credentials: AzureCredentials,
    /// The Service Bus namespace (`service_bus`), when configured.
    pub service_bus: Option<ServiceBusSettings>,
    /// Create missing containers, topics and subscriptions.
    pub provision: bool,
}

impl AzureSettings {
    /// Resolves `providers.azure`.
    ///
    /// # Errors
    /// `InvalidConfig` naming the field (under `providers.azure`) for a
    /// connection string or key that cannot be used; the message never
    /// repeats a secret.
    pub fn from_account(account: &AzureAccount) -> Result<AzureSettings> {
        account
            .validate()
            .map_err(|(field, msg)| invalid(&field, &msg))?;
        let creds = account.credentials.clone().unwrap_or_default();
        let mut parsed = ConnectionString::default();
        if let Some(cs) = &creds.connection_string {
            parsed = ConnectionString::parse(cs)?;
        }
        let credentials = if let Some(key) = creds.account_key.or(parsed.key) {
            check_key(&key)?;
            AzureCredentials::SharedKey(Secret::new(key))
        } else if let Some(sas) = creds.sas_token.or(parsed.sas) {
            AzureCredentials::Sas(Secret::new(sas.trim_start_matches('?').to_owned()))
        } else if creds.anonymous {
            AzureCredentials::Anonymous
        } else {
            AzureCredentials::Entra(EntraSettings::from_env())
        };
        let blob_endpoint = account
            .endpoints
            .blob
            .clone()
            .or_else(|| account.endpoint.clone())
            .or(parsed.blob_endpoint);
        let name = account
            .account
            .clone()
            .or(parsed.account)
            .or_else(|| blob_endpoint.as_deref().and_then(account_in_endpoint));
        if let Some(name) = &name
            && let Some(rule) = account_name_rule(name)
        {
            return Err(invalid("credentials.connection_string", rule));
        }
        let service_bus = account
            .service_bus
            .as_ref()
            .map(ServiceBusSettings::from_account)
            .transpose()?;
        Ok(AzureSettings {
            account: name,
            blob_endpoint,
            credentials,
            service_bus,
            provision: account.provision,
        })
    }

    /// The storage account's name.
    ///
    /// # Errors
    /// `InvalidConfig` when neither `account` nor a connection string names it.
    pub fn account(&self) -> Result<&str> {
        self.account.as_deref().ok_or_else(|| {
            invalid(
                "account",
                "Blob Storage needs the storage account: set `account` (or a connection string \
                 with `AccountName`)",
            )
        })
    }

    /// The Blob service URL: the endpoint given, else
    /// `https://<account>.blob.core.windows.net`.
    ///
    /// # Errors
    /// `InvalidConfig` without an account, or for an endpoint that is no URL.
    pub fn blob_service_url(&self) -> Result<Url> {
        let text = match &self.blob_endpoint {
            Some(endpoint) => endpoint.clone(),
            None => format!("https://{}.blob.core.windows.net", self.account()?),
        };
        let mut url = Url::parse(&text)
            .map_err(|_| invalid("endpoints.blob", "not an endpoint URL (http(s)://host…)"))?;
        if url.cannot_be_a_base() || url.query().is_some() {
            return Err(invalid(
                "endpoints.blob",
                "not a Blob service URL (no query; SAS tokens go in credentials.sas_token)",
            ));
        }
        // One form for every path below it: without a trailing `/`.
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&path);
        Ok(url)
    }
}

/// The account a Blob endpoint names: `<account>.blob.…` in the host, or
/// the first path segment of an emulator's URL (`…:10000/devstoreaccount1`).
fn account_in_endpoint(endpoint: &str) -> Option<String> {
    let url = Url::parse(endpoint).ok()?;
    let from_host = url
        .host_str()
        .and_then(|host| host.split_once(".blob."))
        .map(|(account, _)| account.to_owned());
    let from_path = || {
        url.path_segments()?
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    from_host
        .or_else(from_path)
        .filter(|name| account_name_rule(name).is_none())
}

/// The parts of a storage connection string Strata uses.
#[derive(Default)]
struct ConnectionString {
    account: Option<String>,
    key: Option<String>,
    sas: Option<String>,
    blob_endpoint: Option<String>,
}

impl ConnectionString {
    /// `Name=value;…` pairs (a value may contain `=`, as keys end in it).
    fn parse(text: &str) -> Result<ConnectionString> {
        const FIELD: &str = "credentials.connection_string";
        let mut out = ConnectionString::default();
        let (mut protocol, mut suffix, mut emulator, mut proxy) = (None, None, false, None);
        for pair in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, value)) = pair.split_once('=') else {
                return Err(invalid(
                    FIELD,
                    "not a connection string (expected `Name=value;…` pairs)",
                ));
            };
            let value = Some(value.to_owned());
            match name.trim().to_ascii_lowercase().as_str() {
                "accountname" => out.account = value,
                "accountkey" => out.key = value,
                "sharedaccesssignature" => out.sas = value,
                "blobendpoint" => out.blob_endpoint = value,
                "defaultendpointsprotocol" => protocol = value,
                "endpointsuffix" => suffix = value,
                "usedevelopmentemulator" => {
                    emulator = value.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
                }
                "developmentstorageproxyuri" => proxy = value,
                // Other services' endpoints and settings.
                _ => {}
            }
        }
        if emulator {
            let host = proxy.unwrap_or_else(|| DEV_BLOB_HOST.to_owned());
            out.account.get_or_insert_with(|| DEV_ACCOUNT.to_owned());
            out.key.get_or_insert_with(|| DEV_ACCOUNT_KEY.to_owned());
            out.blob_endpoint
                .get_or_insert_with(|| format!("{}/{DEV_ACCOUNT}", host.trim_end_matches('/')));
        }
        if out.blob_endpoint.is_none()
            && let Some(account) = &out.account
        {
            let protocol = protocol.unwrap_or_else(|| "https".to_owned());
            let suffix = suffix.unwrap_or_else(|| "core.windows.net".to_owned());
            out.blob_endpoint = Some(format!("{protocol}://{account}.blob.{suffix}"));
        }
        if out.key.is_some() && out.account.is_none() {
            return Err(invalid(
                FIELD,
                "an `AccountKey` needs the `AccountName` it belongs to",
            ));
        }
        Ok(out)
    }
}

/// An account key is base64 (of 64 bytes on Azure).
fn check_key(key: &str) -> Result<()> {
    match azure_core::base64::decode(key) {
        Ok(bytes) if !bytes.is_empty() => Ok(()),
        _ => Err(invalid(
            "credentials.account_key",
            "not a storage account key (base64, as the portal shows it)",
        )),
    }
}

/// `InvalidConfig` at `providers.azure.<field>`.
pub(crate) fn invalid(field: &str, msg: &str) -> Error {
    Error::invalid_config(format!("at `providers.azure.{field}`: {msg}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::AzureCredentialsConfig;

    fn with_connection_string(cs: &str) -> Result<AzureSettings> {
        AzureSettings::from_account(&AzureAccount {
            credentials: Some(AzureCredentialsConfig {
                connection_string: Some(cs.into()),
                ..AzureCredentialsConfig::default()
            }),
            ..AzureAccount::default()
        })
    }

    #[test]
    fn the_development_emulator_is_azurites_well_known_account() {
        let s = with_connection_string("UseDevelopmentEmulator=True;").unwrap();
        assert_eq!(s.account().unwrap(), DEV_ACCOUNT);
        assert!(matches!(s.credentials, AzureCredentials::SharedKey(_)));
        assert_eq!(
            s.blob_service_url().unwrap().as_str(),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
    }

    #[test]
    fn a_cloud_connection_string_gives_the_account_endpoint() {
        let s = with_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=a2V5;\
             EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(
            s.blob_service_url().unwrap().as_str(),
            "https://acct1.blob.core.windows.net/"
        );
        let s = with_connection_string(
            "BlobEndpoint=https://x.example/;SharedAccessSignature=sv=1&sig=abc",
        )
        .unwrap();
        assert!(matches!(s.credentials, AzureCredentials::Sas(_)));
    }

    #[test]
    fn the_account_is_read_from_the_endpoint_when_not_given() {
        assert_eq!(
            account_in_endpoint("https://acct1.blob.core.windows.net").as_deref(),
            Some("acct1")
        );
        assert_eq!(
            account_in_endpoint("http://127.0.0.1:10000/devstoreaccount1").as_deref(),
            Some("devstoreaccount1")
        );
        assert_eq!(account_in_endpoint("http://127.0.0.1:10000"), None);
    }

    #[test]
    fn bad_connection_strings_and_keys_never_echo_the_secret() {
        for cs in ["garbage-s3cr3t", "AccountKey=s3cr3t=="] {
            let err = with_connection_string(cs).unwrap_err();
            assert!(!err.message().contains("s3cr3t"), "{err}");
            assert!(err.message().contains("connection_string"), "{err}");
        }
        let err = AzureSettings::from_account(&AzureAccount {
            account: Some("acct1".into()),
            credentials: Some(AzureCredentialsConfig {
                account_key: Some("not base64 s3cr3t!".into()),
                ..AzureCredentialsConfig::default()
            }),
            ..AzureAccount::default()
        })
        .unwrap_err();
        assert!(err.message().contains("account_key"), "{err}");
        assert!(!err.message().contains("s3cr3t"), "{err}");
    }
}
