//! How to reach a Redis server: [`RedisOptions`], from code or from the infra
//! config, and their resolution into a `redis` crate client.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::provider::RedisCacheOptions;
use ::redis::{Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, TlsCertificates};
use strata_core::{Error, Result};

/// Default for [`RedisOptions::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default for [`RedisOptions::response_timeout`].
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default for [`RedisOptions::reconnect_attempts`].
pub const DEFAULT_RECONNECT_ATTEMPTS: usize = 6;
/// Default for [`RedisOptions::reconnect_max_delay`].
pub const DEFAULT_RECONNECT_MAX_DELAY: Duration = Duration::from_secs(2);

/// How to connect to a Redis server (self-hosted, ElastiCache, Memorystore,
/// Azure Cache for Redis).
///
/// Fields set here override the same part of the URL, so the URL can stay free
/// of secrets. `Debug` never shows the password.
///
/// ```
/// use strata_providers::redis::RedisOptions;
///
/// let mut options = RedisOptions::new("rediss://cache.example.com:6380/2");
/// options.username = Some("app".into());
/// options.password = std::env::var("REDIS_PASSWORD").ok();
/// # let _ = options;
/// ```
#[derive(Clone)]
pub struct RedisOptions {
    /// `redis[s]://[user[:password]@]host[:port][/db]`; `rediss://` is TLS.
    pub url: String,
    /// ACL user name (Redis 6+).
    pub username: Option<String>,
    /// The ACL user's password, or without a user the server's auth string.
    pub password: Option<String>,
    /// Database index (the URL's path, else 0).
    pub db: Option<u32>,
    /// PEM file of the CA certificates a `rediss://` server is checked
    /// against, instead of the system's roots.
    pub tls_ca_file: Option<PathBuf>,
    /// Longest wait for one TCP (and TLS) connection attempt.
    pub connect_timeout: Duration,
    /// Longest wait for the reply to one command.
    pub response_timeout: Duration,
    /// Connection attempts after a connection drops before the calls waiting
    /// for it fail with `Unavailable` (the next call starts a new round).
    pub reconnect_attempts: usize,
    /// Longest pause between two reconnection attempts (the pauses grow
    /// exponentially from 100 ms, with jitter).
    pub reconnect_max_delay: Duration,
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &redact_url(&self.url))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("reconnect_attempts", &self.reconnect_attempts)
            .field("reconnect_max_delay", &self.reconnect_max_delay)
            .finish()
    }
}

impl RedisOptions {
    /// Options for `url` with the default timeouts and reconnection policy.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            username: None,
            password: None,
            db: None,
            tls_ca_file: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            reconnect_attempts: DEFAULT_RECONNECT_ATTEMPTS,
            reconnect_max_delay: DEFAULT_RECONNECT_MAX_DELAY,
        }
    }

    /// The options of a `redis` cache in the infra config. A relative
    /// `tls_ca_file` resolves against `base_dir` (the config file's folder).
    pub fn from_config(config: &RedisCacheOptions, base_dir: &Path) -> Self {
        let mut options = Self::new(config.url.clone());
        options.username = config.username.clone();
        options.password = config.password.clone();
        options.db = config.db;
        options.tls_ca_file = config.tls_ca_file.as_ref().map(|p| base_dir.join(p));
        if let Some(ms) = config.connect_timeout_ms {
            options.connect_timeout = Duration::from_millis(ms.max(1));
        }
        if let Some(ms) = config.response_timeout_ms {
            options.response_timeout = Duration::from_millis(ms.max(1));
        }
        options
    }

    /// Resolves the URL and overrides into a client, reading the CA file.
    pub(super) async fn client(&self) -> Result<Target> {
        let shown = redact_url(&self.url);
        let scheme = self.url.split_once("://").map(|(s, _)| s);
        let tls = match scheme {
            Some("redis") => false,
            Some("rediss") => true,
            _ => {
                return Err(Error::invalid_config(format!(
                    "redis url `{shown}` must start with `redis://` or `rediss://` (TLS)"
                )));
            }
        };
        // The crate's own parse error names no part of the URL, so the source
        // cannot leak the password.
        let info: ConnectionInfo = self.url.as_str().into_connection_info().map_err(|err| {
            Error::invalid_config(format!("redis url `{shown}` is not valid: {err}"))
        })?;
        let mut settings = info.redis_settings().clone();
        if let Some(user) = &self.username {
            settings = settings.set_username(user);
        }
        if let Some(password) = &self.password {
            settings = settings.set_password(password);
        }
        if let Some(db) = self.db {
            settings = settings.set_db(i64::from(db));
        }
        let endpoint = endpoint_name(
            tls,
            info.addr(),
            settings.username(),
            settings.password().is_some(),
            settings.db(),
        );
        let secret = settings.password().map(str::to_owned);
        let info = info.set_redis_settings(settings);
        let client = match (&self.tls_ca_file, tls) {
            (Some(_), false) => {
                return Err(Error::invalid_config(format!(
                    "a TLS CA file is set for {endpoint}, which is not a rediss:// (TLS) URL"
                )));
            }
            (Some(path), true) => {
                let pem = tokio::fs::read(path).await.map_err(|err| {
                    Error::invalid_config(format!(
                        "cannot read the TLS CA file {} for {endpoint}: {err}",
                        path.display()
                    ))
                })?;
                let certs = TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                Client::build_with_tls(info, certs).map_err(|err| {
                    Error::invalid_config(format!(
                        "the TLS CA file {} for {endpoint} is not usable: {err}",
                        path.display()
                    ))
                })?
            }
            (None, _) => Client::open(info)
                .map_err(|err| Error::invalid_config(format!("cannot use {endpoint}: {err}")))?,
        };
        Ok(Target {
            client,
            endpoint,
            secret,
            tls,
        })
    }
}

/// A resolved connection target.
pub(super) struct Target {
    pub(super) client: Client,
    /// The endpoint for messages: `redis[s]://[user@]host:port/db`, no password.
    pub(super) endpoint: String,
    /// The password, kept only to scrub it from error messages.
    pub(super) secret: Option<String>,
    /// `rediss://`.
    pub(super) tls: bool,
}

fn endpoint_name(
    tls: bool,
    addr: &ConnectionAddr,
    user: Option<&str>,
    has_password: bool,
    db: i64,
) -> String {
    let scheme = if tls { "rediss" } else { "redis" };
    let auth = match (user, has_password) {
        (Some(user), _) => format!("{user}@"),
        (None, true) => "<auth>@".to_owned(),
        (None, false) => String::new(),
    };
    format!("{scheme}://{auth}{addr}/{db}")
}

/// The URL without its password or query, for messages: a URL that does not
/// parse is still shown without what could be a secret.
pub(super) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<not a URL>".to_owned();
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let rest = &rest[..end];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let user = if user.is_empty() { "<auth>" } else { user };
            format!("{scheme}://{user}@{host}{path}")
        }
        None => format!("{scheme}://{authority}{path}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_drops_the_password_and_query() {
        assert_eq!(
            redact_url("redis://app:s3cret@host:6379/2?protocol=resp3"),
            "redis://app@host:6379/2"
        );
        assert_eq!(redact_url("rediss://:s3cret@host"), "rediss://<auth>@host");
        assert_eq!(redact_url("redis://host:1/0"), "redis://host:1/0");
        assert_eq!(redact_url("s3cret"), "<not a URL>");
        assert_eq!(
            redact_url("redis://a:b@c@host/1"),
            "redis://a@host/1",
            "the last @ ends the credentials"
        );
    }

    #[tokio::test]
    async fn fields_override_the_url_and_the_endpoint_hides_the_password() {
        let mut options = RedisOptions::new("redis://u1:pw1@10.0.0.1:7000/3");
        options.username = Some("u2".into());
        options.password = Some("pw2".into());
        options.db = Some(5);
        let target = options.client().await.unwrap();
        assert_eq!(target.endpoint, "redis://u2@10.0.0.1:7000/5");
        assert_eq!(target.secret.as_deref(), Some("pw2"));
        let settings = target.client.get_connection_info().redis_settings();
        assert_eq!(settings.username(), Some("u2"));
        assert_eq!(settings.password(), Some("pw2"));
        assert_eq!(settings.db(), 5);
        let debug = format!("{options:?}");
        assert!(!debug.contains("pw1") && !debug.contains("pw2"), "{debug}");
    }

    #[tokio::test]
    async fn url_parts_are_used_when_no_field_overrides_them() {
        let target = RedisOptions::new("rediss://:auth-string@cache.local:6380/7")
            .client()
            .await
            .unwrap();
        assert_eq!(target.endpoint, "rediss://<auth>@cache.local:6380/7");
        assert_eq!(target.secret.as_deref(), Some("auth-string"));
        assert!(matches!(
            target.client.get_connection_info().addr(),
            ConnectionAddr::TcpTls { .. }
        ));
    }

    #[tokio::test]
    async fn bad_urls_are_invalid_config_without_the_password() {
        for url in [
            "http://user:topsecret@host",
            "redis://user:topsecret@host/notanumber",
            "topsecret",
        ] {
            let err = RedisOptions::new(url).client().await.err().unwrap();
            assert_eq!(err.code(), strata_core::ErrorCode::InvalidConfig, "{url}");
            assert!(!format!("{err} {err:?}").contains("topsecret"), "{err:?}");
        }
    }

    #[tokio::test]
    async fn a_ca_file_needs_tls_and_must_exist() {
        let mut options = RedisOptions::new("redis://host");
        options.tls_ca_file = Some("/nonexistent/ca.pem".into());
        let err = options.client().await.err().unwrap();
        assert!(err.message().contains("not a rediss://"), "{err}");
        options.url = "rediss://host".into();
        let err = options.client().await.err().unwrap();
        assert!(
            err.message().contains("cannot read the TLS CA file"),
            "{err}"
        );
    }

    fn parse(cache: &str) -> strata_core::Result<strata_core::config::InfraConfig> {
        strata_core::config::parse_config(
            &format!(r#"{{ "caches": {{ "c": {cache} }} }}"#),
            "infra.config.json",
            crate::embedded_registry(),
            &|_| None,
        )
    }

    #[test]
    fn config_checks_name_the_field_and_never_echo_the_url() {
        let cases = [
            (
                r#"{ "provider": "memory", "password": "p" }"#,
                "caches.c.password",
            ),
            (r#"{ "provider": "memory", "db": 1 }"#, "caches.c.db"),
            (
                r#"{ "provider": "redis", "url": "http://u:topsecret@h" }"#,
                "caches.c.url",
            ),
            (
                r#"{ "provider": "redis", "url": "redis://h", "tls_ca_file": "ca.pem" }"#,
                "caches.c.tls_ca_file",
            ),
            (
                r#"{ "provider": "redis", "url": "redis://h", "response_timeout_ms": 0 }"#,
                "caches.c.response_timeout_ms",
            ),
        ];
        for (cache, path) in cases {
            let err = parse(cache).expect_err(cache);
            assert_eq!(err.code(), strata_core::ErrorCode::InvalidConfig, "{err}");
            assert!(err.message().contains(path), "{cache}: {err}");
            assert!(!err.message().contains("topsecret"), "{err}");
        }
        parse(r#"{ "provider": "redis", "url": "rediss://h", "tls_ca_file": "ca.pem", "db": 2 }"#)
            .unwrap();
    }

    #[test]
    fn from_config_copies_fields_and_resolves_the_ca_file() {
        let text = r#"{ "caches": { "sessions": {
            "provider": "redis", "url": "rediss://h:6380", "username": "app",
            "password": { "$env": "PW" }, "db": 4, "tls_ca_file": "certs/ca.pem",
            "connect_timeout_ms": 1500, "response_timeout_ms": 250 } } }"#;
        let config = strata_core::config::parse_config(
            text,
            "infra.config.json",
            crate::embedded_registry(),
            &|name| (name == "PW").then(|| "from-env".to_owned()),
        )
        .unwrap();
        let cache = &config.caches["sessions"];
        assert!(
            !format!("{config:?}").contains("from-env"),
            "config Debug shows the password"
        );
        let own: RedisCacheOptions = cache
            .options
            .parse("caches.sessions", crate::embedded_registry())
            .unwrap();
        assert!(!format!("{own:?}").contains("from-env"), "{own:?}");
        let options = RedisOptions::from_config(&own, Path::new("/app"));
        assert_eq!(options.password.as_deref(), Some("from-env"));
        assert_eq!(options.username.as_deref(), Some("app"));
        assert_eq!(options.db, Some(4));
        assert_eq!(
            options.tls_ca_file,
            Some(PathBuf::from("/app/certs/ca.pem"))
        );
        assert_eq!(options.connect_timeout, Duration::from_millis(1500));
        assert_eq!(options.response_timeout, Duration::from_millis(250));
    }
}
