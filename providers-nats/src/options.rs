//! The `nats` provider's own fields in a topic entry: how to reach the
//! servers, and how its stream is kept.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use strata_core::registry::{ProviderOptions, Registry};

/// How a stream keeps messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Retention {
    /// A message is kept until every subscription (consumer) has acked it,
    /// then removed; one published while the topic has no subscription is
    /// not kept. The pub/sub meaning of a topic, and the default.
    #[default]
    Interest,
    /// Messages are kept up to the stream's limits (`max_age_seconds`,
    /// `max_messages`, `max_bytes`), acked or not.
    Limits,
}

/// Where a stream keeps messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    /// On disk: survives a server restart (the default).
    #[default]
    File,
    /// In memory: lost when the server (or, with replicas, the cluster) restarts.
    Memory,
}

/// A `nats` topic's fields. Every topic entry names its servers; entries
/// with the same connection fields share one connection.
///
/// `Debug` never shows the password, the token or the NKey seed.
#[derive(Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatsOptions {
    /// Server URLs (`nats://host:4222`, `tls://host:4222`), several for a
    /// cluster; the client also learns the cluster's other members from the
    /// server. Keep credentials out of the URLs: use `user`/`password` or
    /// `token` with `$env`.
    pub servers: Vec<String>,
    /// User name, with `password`.
    #[serde(default)]
    pub user: Option<String>,
    /// Password of `user` (use `{"$env": "VAR"}`).
    #[serde(default)]
    pub password: Option<String>,
    /// Token authentication (use `{"$env": "VAR"}`).
    #[serde(default)]
    pub token: Option<String>,
    /// An NKey user seed (`SU…`; use `{"$env": "VAR"}`): the server knows
    /// the user by its public key, and the seed signs the server's challenge.
    #[serde(default)]
    pub nkey_seed: Option<String>,
    /// A `.creds` file (JWT and NKey seed) for decentralised auth.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// PEM file of the CA certificates the servers are checked against;
    /// setting it requires TLS.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// Require TLS even without `tls_ca_file` (system roots).
    #[serde(default)]
    pub tls_required: bool,
    /// Create missing streams and consumers at startup. Without it a missing
    /// one is `NotFound`, naming the stream or consumer to create.
    #[serde(default)]
    pub provision: bool,
    /// Stream replicas when provisioning (1 to 5; a cluster needs 3 for a
    /// stream to survive the loss of one server). Default 1.
    #[serde(default)]
    #[schemars(range(min = 1, max = 5))]
    pub replicas: Option<u32>,
    /// Stream storage when provisioning.
    #[serde(default)]
    pub storage: Storage,
    /// Stream retention when provisioning.
    #[serde(default)]
    pub retention: Retention,
    /// Oldest message the stream keeps, in seconds (default: no limit; at
    /// most ten years, which also keeps the nanoseconds NATS counts in range).
    #[serde(default)]
    #[schemars(range(min = 1, max = 315_360_000))]
    pub max_age_seconds: Option<u64>,
    /// Most messages the stream keeps; the oldest go first (default: no
    /// limit; at most 10^12, beyond any stream one server holds).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1_000_000_000_000u64))]
    pub max_messages: Option<u64>,
    /// Most bytes the stream keeps; the oldest go first (default: no limit;
    /// at most 1 PiB, beyond any one server's disk).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1_125_899_906_842_624u64))]
    pub max_bytes: Option<u64>,
}

impl fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |set: bool| if set { Some("<redacted>") } else { None };
        f.debug_struct("NatsOptions")
            .field("servers", &self.servers.len())
            .field("user", &self.user)
            .field("password", &redacted(self.password.is_some()))
            .field("token", &redacted(self.token.is_some()))
            .field("nkey_seed", &redacted(self.nkey_seed.is_some()))
            .field("credentials_file", &self.credentials_file)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_required", &self.tls_required)
            .field("provision", &self.provision)
            .field("replicas", &self.replicas)
            .field("storage", &self.storage)
            .field("retention", &self.retention)
            .field("max_age_seconds", &self.max_age_seconds)
            .field("max_messages", &self.max_messages)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl NatsOptions {
    /// Options for one server, everything else default.
    pub fn new(server: impl Into<String>) -> Self {
        Self {
            servers: vec![server.into()],
            ..Self::default()
        }
    }

    /// The fields that make a connection: entries equal here share one.
    pub(crate) fn connection_key(&self) -> ConnectionKey {
        ConnectionKey {
            servers: self.servers.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            nkey_seed: self.nkey_seed.clone(),
            credentials_file: self.credentials_file.clone(),
            tls_ca_file: self.tls_ca_file.clone(),
            tls_required: self.tls_required,
        }
    }

    /// The stream's maximum age, if set.
    pub(crate) fn max_age(&self) -> Duration {
        self.max_age_seconds
            .map_or(Duration::ZERO, Duration::from_secs)
    }
}

/// The connection fields of [`NatsOptions`], as a map key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct ConnectionKey {
    servers: Vec<String>,
    user: Option<String>,
    password: Option<String>,
    token: Option<String>,
    nkey_seed: Option<String>,
    credentials_file: Option<PathBuf>,
    tls_ca_file: Option<PathBuf>,
    tls_required: bool,
}

impl ProviderOptions for NatsOptions {
    fn check(&self, _registry: &Registry) -> std::result::Result<(), (String, String)> {
        if self.servers.is_empty() {
            return Err(("servers".into(), "expected at least one server URL".into()));
        }
        if let Some(i) = self.servers.iter().position(|s| s.trim().is_empty()) {
            return Err((format!("servers[{i}]"), "expected a server URL".into()));
        }
        if self.password.is_some() && self.user.is_none() {
            return Err(("password".into(), "a password needs `user`".into()));
        }
        if self.user.is_some() && self.password.is_none() {
            return Err(("user".into(), "a user needs `password`".into()));
        }
        let methods = [
            self.user.is_some(),
            self.token.is_some(),
            self.nkey_seed.is_some(),
            self.credentials_file.is_some(),
        ];
        if methods.iter().filter(|set| **set).count() > 1 {
            return Err((
                "token".into(),
                "use one of `user`/`password`, `token`, `nkey_seed` and `credentials_file`".into(),
            ));
        }
        if let Some(seed) = &self.nkey_seed {
            // An encoded user seed: `SU` and 56 more base32 characters. The
            // value is never repeated.
            let base32 = |c: char| c.is_ascii_uppercase() || ('2'..='7').contains(&c);
            if !(seed.len() == 58 && seed.starts_with("SU") && seed.chars().all(base32)) {
                return Err((
                    "nkey_seed".into(),
                    "expected an NKey user seed (58 characters starting with `SU`)".into(),
                ));
            }
        }
        match self.replicas {
            Some(0) => return Err(("replicas".into(), "expected at least 1".into())),
            Some(n) if n > 5 => return Err(("replicas".into(), "expected at most 5".into())),
            _ => {}
        }
        for (field, value) in [
            ("max_age_seconds", self.max_age_seconds),
            ("max_messages", self.max_messages),
            ("max_bytes", self.max_bytes),
        ] {
            if value == Some(0) {
                return Err((
                    field.into(),
                    "expected at least 1 (leave it out for no limit)".into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn check(options: &NatsOptions) -> std::result::Result<(), (String, String)> {
        options.check(&Registry::new())
    }

    #[test]
    fn servers_and_credentials_are_checked_together() {
        assert!(check(&NatsOptions::new("nats://127.0.0.1:4222")).is_ok());
        assert_eq!(check(&NatsOptions::default()).unwrap_err().0, "servers");
        let mut options = NatsOptions::new("nats://h");
        options.password = Some("p".into());
        assert_eq!(check(&options).unwrap_err().0, "password");
        options.user = Some("u".into());
        assert!(check(&options).is_ok());
        options.token = Some("t".into());
        assert_eq!(check(&options).unwrap_err().0, "token");
    }

    #[test]
    fn an_nkey_seed_is_checked_without_being_repeated() {
        let mut options = NatsOptions::new("nats://h");
        options.nkey_seed = Some("not-a-seed-secret".into());
        let (path, message) = check(&options).unwrap_err();
        assert_eq!(path, "nkey_seed");
        assert!(!message.contains("secret"), "{message}");
        options.nkey_seed = Some(format!("SU{}", "A".repeat(56)));
        assert!(check(&options).is_ok());
    }

    #[test]
    fn replicas_and_limits_are_bounded() {
        let mut options = NatsOptions::new("nats://h");
        options.replicas = Some(6);
        assert_eq!(check(&options).unwrap_err().0, "replicas");
        options.replicas = Some(3);
        options.max_bytes = Some(0);
        assert_eq!(check(&options).unwrap_err().0, "max_bytes");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut options = NatsOptions::new("nats://u:hidden-in-url@h:4222");
        options.token = Some("tok-secret".into());
        options.nkey_seed = Some("SUseed-secret".into());
        let shown = format!("{options:?}");
        assert!(
            !shown.contains("tok-secret")
                && !shown.contains("hidden-in-url")
                && !shown.contains("seed-secret"),
            "{shown}"
        );
    }

    #[test]
    fn the_config_shape_parses_with_its_defaults() {
        let options: NatsOptions = serde_json::from_value(serde_json::json!({
            "servers": ["nats://h:4222"], "storage": "memory", "retention": "limits",
            "max_age_seconds": 60
        }))
        .unwrap();
        assert_eq!(options.storage, Storage::Memory);
        assert_eq!(options.retention, Retention::Limits);
        assert_eq!(options.max_age(), Duration::from_secs(60));
        assert!(!options.provision);
        let unknown = serde_json::from_value::<NatsOptions>(serde_json::json!({
            "servers": ["nats://h"], "stream": "x"
        }));
        assert!(unknown.is_err(), "unknown fields are refused");
    }
}
