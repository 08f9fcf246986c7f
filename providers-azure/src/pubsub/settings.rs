//! [`ServiceBusSettings`]: where a Service Bus namespace is and how it is
//! authorized, resolved once from `providers.azure.service_bus`.

use std::fmt;

use azure_core::credentials::Secret;
use strata_core::{Error, Result};

use super::auth::ServiceBusAuth;
use crate::EntraSettings;
use crate::account::ServiceBusAccount;

/// The Standard tier's largest message.
pub const STANDARD_MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// The port of AMQP over TLS, which the service listens on.
const AMQPS_PORT: u16 = 5671;

/// A resolved Service Bus namespace.
#[derive(Clone)]
pub struct ServiceBusSettings {
    /// The host (`my-ns.servicebus.windows.net`, or `127.0.0.1`).
    pub host: String,
    /// The AMQP port: 5671 with TLS, the endpoint's port for an emulator.
    pub port: u16,
    /// TLS (`amqps://`, `https://` management); off only for an emulator.
    pub tls: bool,
    /// A shared access key or Entra ID. Entra ID tokens go over TLS when
    /// resolved from a config (an emulator's plain AMQP only in code).
    pub auth: ServiceBusAuth,
    /// The largest message the namespace takes.
    pub max_message_bytes: usize,
}

/// Never shows a key or token.
impl fmt::Debug for ServiceBusSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceBusSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl ServiceBusSettings {
    /// Resolves `providers.azure.service_bus`.
    ///
    /// # Errors
    /// `InvalidConfig` naming the field; the message never repeats a secret.
    pub fn from_account(account: &ServiceBusAccount) -> Result<ServiceBusSettings> {
        let max_message_bytes = account
            .max_message_bytes
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(STANDARD_MAX_MESSAGE_BYTES);
        if let Some(cs) = &account.connection_string {
            let mut settings = Self::parse_connection_string(cs)?;
            settings.max_message_bytes = max_message_bytes;
            return Ok(settings);
        }
        account
            .check()
            .map_err(|(field, msg)| invalid(&field, &msg))?;
        let Some(namespace) = &account.namespace else {
            return Err(invalid("service_bus.namespace", "missing"));
        };
        let host = if namespace.contains('.') {
            namespace.clone()
        } else {
            format!("{namespace}.servicebus.windows.net")
        };
        check_host(&host, "service_bus.namespace")?;
        // No key: Entra ID from the environment, as for Blob Storage
        // without `credentials`.
        let auth = match (&account.key_name, &account.key) {
            (Some(key_name), Some(key)) => ServiceBusAuth::SharedAccessKey {
                key_name: key_name.clone(),
                key: Secret::new(key.clone()),
            },
            _ => ServiceBusAuth::entra_id(&EntraSettings::from_env())
                .map_err(|e| invalid("service_bus.namespace", e.message()))?,
        };
        Ok(ServiceBusSettings {
            host,
            port: AMQPS_PORT,
            tls: true,
            auth,
            max_message_bytes,
        })
    }

    /// `Endpoint=sb://host[:port]/;SharedAccessKeyName=…;SharedAccessKey=…
    /// [;UseDevelopmentEmulator=true]`.
    fn parse_connection_string(text: &str) -> Result<ServiceBusSettings> {
        const FIELD: &str = "service_bus.connection_string";
        let (mut endpoint, mut key_name, mut key, mut emulator) = (None, None, None, false);
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, value)) = part.split_once('=') else {
                return Err(invalid(FIELD, "not a connection string: a part has no `=`"));
            };
            match name.to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = Some(value.to_owned()),
                "sharedaccesskeyname" => key_name = Some(value.to_owned()),
                "sharedaccesskey" => key = Some(value.to_owned()),
                "usedevelopmentemulator" => emulator = value.eq_ignore_ascii_case("true"),
                // EntityPath and others: the config names the entities.
                _ => {}
            }
        }
        let (Some(endpoint), Some(key_name), Some(key)) = (endpoint, key_name, key) else {
            return Err(invalid(
                FIELD,
                "a Service Bus connection string needs `Endpoint`, `SharedAccessKeyName` and \
                 `SharedAccessKey`",
            ));
        };
        let authority = endpoint
            .split_once("://")
            .map_or(endpoint.as_str(), |(_, rest)| rest)
            .trim_end_matches('/');
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| invalid(FIELD, "the `Endpoint` port is not a number"))?;
                (host.to_owned(), Some(port))
            }
            None => (authority.to_owned(), None),
        };
        check_host(&host, FIELD)?;
        Ok(ServiceBusSettings {
            host,
            // Microsoft's emulator listens on 5672 unless told otherwise.
            port: port.unwrap_or(if emulator { 5672 } else { AMQPS_PORT }),
            tls: !emulator,
            auth: ServiceBusAuth::SharedAccessKey {
                key_name,
                key: Secret::new(key),
            },
            max_message_bytes: STANDARD_MAX_MESSAGE_BYTES,
        })
    }

    /// The AMQP URL to connect to.
    pub fn amqp_url(&self) -> String {
        let scheme = if self.tls { "amqps" } else { "amqp" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// The management API's base URL (ATOM over HTTP), ending in `/`: the
    /// emulator serves it on its AMQP port.
    pub fn management_url(&self) -> String {
        if self.tls {
            format!("https://{}/", self.host)
        } else {
            format!("http://{}:{}/", self.host, self.port)
        }
    }

    /// The namespace's name for messages (its host; never a credential).
    pub fn namespace(&self) -> &str {
        &self.host
    }

    /// The audience of a token for the whole namespace.
    pub(crate) fn audience(&self) -> String {
        if self.tls {
            format!("sb://{}/", self.host)
        } else {
            format!("sb://{}:{}/", self.host, self.port)
        }
    }
}

fn check_host(host: &str, field: &str) -> Result<()> {
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(invalid(field, "not a Service Bus namespace host name"))
    }
}

fn invalid(field: &str, msg: &str) -> Error {
    Error::invalid_config(format!("providers.azure.{field}: {msg}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn from_cs(cs: &str) -> Result<ServiceBusSettings> {
        ServiceBusSettings::from_account(&ServiceBusAccount {
            connection_string: Some(cs.into()),
            ..ServiceBusAccount::default()
        })
    }

    #[test]
    fn an_emulator_connection_string_is_plain_amqp_on_its_port() {
        let s = from_cs(
            "Endpoint=sb://127.0.0.1:5300;SharedAccessKeyName=Root;SharedAccessKey=k;\
             UseDevelopmentEmulator=true",
        )
        .unwrap();
        assert_eq!(s.amqp_url(), "amqp://127.0.0.1:5300");
        assert_eq!(s.management_url(), "http://127.0.0.1:5300/");
        assert!(
            matches!(&s.auth, ServiceBusAuth::SharedAccessKey { key_name, .. } if key_name == "Root")
        );
    }

    #[test]
    fn a_cloud_namespace_is_amqps_and_https() {
        let s = ServiceBusSettings::from_account(&ServiceBusAccount {
            namespace: Some("orders-ns".into()),
            key_name: Some("send".into()),
            key: Some("s3cr3t".into()),
            ..ServiceBusAccount::default()
        })
        .unwrap();
        assert_eq!(
            s.amqp_url(),
            "amqps://orders-ns.servicebus.windows.net:5671"
        );
        assert_eq!(
            s.management_url(),
            "https://orders-ns.servicebus.windows.net/"
        );
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_bad_connection_string_never_repeats_it() {
        let err = from_cs("Endpoint=sb://x;SharedAccessKey=s3cr3t").unwrap_err();
        assert!(err.message().contains("service_bus.connection_string"));
        assert!(!err.message().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn a_namespace_without_a_key_is_entra_id_over_tls() {
        let s = ServiceBusSettings::from_account(&ServiceBusAccount {
            namespace: Some("orders-ns".into()),
            ..ServiceBusAccount::default()
        })
        .unwrap();
        assert!(matches!(s.auth, ServiceBusAuth::EntraId(_)), "{s:?}");
        assert!(s.tls);
        assert_eq!(
            s.amqp_url(),
            "amqps://orders-ns.servicebus.windows.net:5671"
        );
    }

    #[test]
    fn half_a_shared_access_key_names_the_missing_field() {
        for (key_name, key, missing) in [
            (Some("send"), None, "providers.azure.service_bus.key:"),
            (
                None,
                Some("s3cr3t"),
                "providers.azure.service_bus.key_name:",
            ),
        ] {
            let err = ServiceBusSettings::from_account(&ServiceBusAccount {
                namespace: Some("orders-ns".into()),
                key_name: key_name.map(Into::into),
                key: key.map(Into::into),
                ..ServiceBusAccount::default()
            })
            .unwrap_err();
            assert_eq!(err.code(), strata_core::ErrorCode::InvalidConfig);
            assert!(err.message().contains(missing), "{err}");
            assert!(!err.message().contains("s3cr3t"), "{err}");
        }
    }
}
