//! One connection to a NATS server or cluster, and the errors of the client
//! mapped onto Strata's.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::{ConnectErrorKind, ConnectOptions};
use strata_core::{Error, Result};

use crate::options::NatsOptions;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a JetStream request, or a publish's ack, may take.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection and its JetStream context. Cheap to clone; reconnects by
/// itself (without limit) after the connection drops.
#[derive(Clone)]
pub struct NatsClient {
    pub(crate) client: async_nats::Client,
    pub(crate) js: jetstream::Context,
    /// The servers' names for messages: hosts and ports, never credentials.
    pub(crate) endpoint: String,
}

impl std::fmt::Debug for NatsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsClient")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl NatsClient {
    /// Connects to the first server of `options.servers` that answers.
    ///
    /// # Errors
    /// `PermissionDenied` when the server refuses the credentials (the
    /// message never carries them), `Unavailable` when no server answers,
    /// `InvalidConfig` for a malformed URL or an unreadable TLS/credentials file.
    pub async fn connect(options: &NatsOptions) -> Result<Self> {
        // async-nats builds its TLS config through rustls' process-wide
        // provider: ring, the one this build has.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let endpoint = endpoint(&options.servers);
        let mut connect = ConnectOptions::new()
            .name("strata")
            .connection_timeout(CONNECT_TIMEOUT)
            .request_timeout(Some(REQUEST_TIMEOUT))
            .max_reconnects(None);
        if let (Some(user), Some(password)) = (&options.user, &options.password) {
            connect = connect.user_and_password(user.clone(), password.clone());
        }
        if let Some(token) = &options.token {
            connect = connect.token(token.clone());
        }
        if let Some(seed) = &options.nkey_seed {
            connect = connect.nkey(seed.clone());
        }
        if let Some(path) = &options.credentials_file {
            connect = connect.credentials_file(path).await.map_err(|err| {
                Error::invalid_config(format!(
                    "NATS credentials file `{}` could not be read: {}",
                    path.display(),
                    err.kind()
                ))
            })?;
        }
        if let Some(ca) = &options.tls_ca_file {
            connect = connect.add_root_certificates(ca.clone()).require_tls(true);
        }
        if options.tls_required {
            connect = connect.require_tls(true);
        }
        let client = connect
            .connect(options.servers.as_slice())
            .await
            .map_err(|err| connect_error(&endpoint, &err))?;
        let js = jetstream::ContextBuilder::new()
            .timeout(REQUEST_TIMEOUT)
            .build(client.clone());
        Ok(Self {
            client,
            js,
            endpoint,
        })
    }

    /// The JetStream context, for a call Strata does not wrap.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// The servers, as `host:port` list without credentials.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The largest message (payload and headers) the server accepts.
    pub fn max_payload(&self) -> usize {
        self.client.server_info().max_payload
    }
}

/// `host:port, host:port` of `servers`, with any `user:password@` dropped.
pub(crate) fn endpoint(servers: &[String]) -> String {
    servers
        .iter()
        .map(|url| {
            let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            rest.split('/').next().unwrap_or(rest).to_owned()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn connect_error(endpoint: &str, err: &async_nats::ConnectError) -> Error {
    // The client's messages may quote the server's, which never carry the
    // secret; still, only the kind is repeated.
    let kind = err.kind();
    match kind {
        ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
            Error::permission_denied(format!(
                "NATS at {endpoint} refused the connection's credentials ({kind})"
            ))
        }
        ConnectErrorKind::ServerParse => {
            Error::invalid_config(format!("a NATS server URL is malformed ({endpoint})"))
        }
        ConnectErrorKind::Tls => {
            Error::unavailable(format!("TLS with NATS at {endpoint} failed: {err}"))
        }
        _ => Error::unavailable(format!("NATS at {endpoint} is unreachable ({kind})")),
    }
}

/// An error of a JetStream call that is not about the request itself: the
/// connection or the cluster.
pub(crate) fn unavailable(what: &str, err: impl std::fmt::Display) -> Error {
    Error::unavailable(format!("NATS {what} failed: {err}"))
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn endpoint_drops_credentials_and_schemes() {
        let servers = vec![
            "nats://app:s3cret@a.example:4222".to_owned(),
            "tls://b.example:4223".to_owned(),
            "c.example".to_owned(),
        ];
        let shown = endpoint(&servers);
        assert_eq!(shown, "a.example:4222, b.example:4223, c.example");
        assert!(!shown.contains("s3cret"));
    }
}
