//! How to reach a PostgreSQL server: URL, pool, timeouts and TLS; and keeping
//! the URL's password out of every message.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use sqlx::postgres::PgSslMode;
use strata_core::sqldb::ConnectTarget;

use super::provider::PostgresDatabaseOptions;
use strata_core::{Error, Result};

/// Whether and how to use TLS, as libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostgresSslMode {
    /// Never TLS.
    Disable,
    /// Plain first; TLS if the server insists.
    Allow,
    /// TLS if the server offers it, plain otherwise (libpq's default).
    Prefer,
    /// TLS, without checking the server's certificate.
    Require,
    /// TLS, with a certificate signed by a trusted CA (any host name).
    VerifyCa,
    /// TLS, with a trusted certificate for the host name connected to.
    VerifyFull,
}

impl PostgresSslMode {
    /// Every mode's name as written in URLs and configs.
    pub const NAMES: [&'static str; 6] = [
        "disable",
        "allow",
        "prefer",
        "require",
        "verify-ca",
        "verify-full",
    ];

    /// The libpq name, e.g. `verify-full`.
    pub fn as_str(self) -> &'static str {
        match self {
            PostgresSslMode::Disable => "disable",
            PostgresSslMode::Allow => "allow",
            PostgresSslMode::Prefer => "prefer",
            PostgresSslMode::Require => "require",
            PostgresSslMode::VerifyCa => "verify-ca",
            PostgresSslMode::VerifyFull => "verify-full",
        }
    }

    pub(crate) fn to_sqlx(self) -> PgSslMode {
        match self {
            PostgresSslMode::Disable => PgSslMode::Disable,
            PostgresSslMode::Allow => PgSslMode::Allow,
            PostgresSslMode::Prefer => PgSslMode::Prefer,
            PostgresSslMode::Require => PgSslMode::Require,
            PostgresSslMode::VerifyCa => PgSslMode::VerifyCa,
            PostgresSslMode::VerifyFull => PgSslMode::VerifyFull,
        }
    }
}

impl FromStr for PostgresSslMode {
    type Err = Error;

    /// Parses a libpq `sslmode` name; `InvalidConfig` lists the valid ones.
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "disable" => PostgresSslMode::Disable,
            "allow" => PostgresSslMode::Allow,
            "prefer" => PostgresSslMode::Prefer,
            "require" => PostgresSslMode::Require,
            "verify-ca" => PostgresSslMode::VerifyCa,
            "verify-full" => PostgresSslMode::VerifyFull,
            other => {
                return Err(Error::invalid_config(format!(
                    "unknown PostgreSQL ssl_mode `{other}`; expected one of {}",
                    Self::NAMES.join(", ")
                )));
            }
        })
    }
}

/// How to connect to PostgreSQL. `Debug` shows the URL without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/database?sslmode=…` (libpq URL
    /// parameters such as `sslmode`, `sslrootcert`, `application_name` and
    /// `options` apply).
    pub url: String,
    /// Pool size (at least 1).
    pub max_connections: u32,
    /// How long a call waits for a pooled connection (including opening a new
    /// one, retried while the server refuses connections) before failing
    /// with `Unavailable`.
    pub acquire_timeout: Duration,
    /// How long [`PostgresDatabase::connect`](super::PostgresDatabase::connect)
    /// waits for its first connection.
    pub connect_timeout: Duration,
    /// TLS mode; `None` keeps the URL's `sslmode` (default `prefer`).
    pub ssl_mode: Option<PostgresSslMode>,
    /// PEM file of the CA certificates that sign the server's certificate
    /// (for `verify-ca` / `verify-full`).
    pub ssl_root_cert: Option<PathBuf>,
    /// Server-side limit per statement (`statement_timeout`); a statement
    /// running longer fails with `Timeout`. `None` keeps the server's.
    pub statement_timeout: Option<Duration>,
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("ssl_mode", &self.ssl_mode)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// Default pool size.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

impl PostgresOptions {
    /// The server at `url`, with default pool settings: 10 connections,
    /// 10 s to acquire one or to connect, TLS as the URL says.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            ssl_mode: None,
            ssl_root_cert: None,
            statement_timeout: None,
        }
    }

    /// The options of a `postgres` database in the infra config
    /// (`max_connections` is a portable field of the entry); relative paths
    /// (`ssl_root_cert`) resolve against `base_dir`, the config file's folder.
    ///
    /// With `"local": true` the `url` is left empty: the local server's
    /// ([`LocalPostgresDatabase::start`](super::LocalPostgresDatabase::start))
    /// replaces it.
    ///
    /// Errors: `InvalidConfig` for a missing `url` (when not local) or an
    /// unknown `ssl_mode`.
    pub fn from_config(
        config: &PostgresDatabaseOptions,
        max_connections: Option<u32>,
        base_dir: &Path,
    ) -> Result<Self> {
        let local = config.local == Some(true);
        let url = match &config.url {
            Some(url) => url.clone(),
            // The local server's URL is known once it runs.
            None if local => String::new(),
            None => {
                return Err(Error::invalid_config(
                    "the `postgres` provider needs a `url` (postgres://…) or `\"local\": true`",
                ));
            }
        };
        let mut options = Self::new(url);
        if let Some(n) = max_connections {
            options.max_connections = n;
        }
        if let Some(ms) = config.acquire_timeout_ms {
            options.acquire_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = config.connect_timeout_ms {
            options.connect_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = config.statement_timeout_ms {
            options.statement_timeout = Some(Duration::from_millis(ms));
        }
        if let Some(mode) = &config.ssl_mode {
            options.ssl_mode = Some(mode.parse()?);
        }
        if let Some(cert) = &config.ssl_root_cert {
            options.ssl_root_cert = Some(base_dir.join(cert));
        }
        Ok(options)
    }
}

/// The user, host and port of a `postgres://` URL, as libpq would read them.
///
/// # Errors
/// `InvalidConfig` for a malformed URL (the message never shows its password).
pub fn connect_target(url: &str) -> Result<ConnectTarget> {
    let options = url
        .parse::<sqlx::postgres::PgConnectOptions>()
        .map_err(|e| {
            Error::invalid_config(scrub(
                &format!("invalid PostgreSQL url {}: {e}", redact_url(url)),
                &url_secrets(url),
            ))
        })?;
    Ok(ConnectTarget {
        user: options.get_username().to_owned(),
        host: options.get_host().to_owned(),
        port: options.get_port(),
    })
}

/// The URL with its password (in the user info or a `password=` parameter)
/// replaced by `***`, for messages and logs.
///
/// ```
/// use strata_providers::postgres::redact_url;
/// assert_eq!(
///     redact_url("postgres://app:s3cr%40t@db:5432/main?sslmode=require"),
///     "postgres://app:***@db:5432/main?sslmode=require"
/// );
/// assert_eq!(redact_url("postgres://db/main?password=x&a=b"), "postgres://db/main?password=***&a=b");
/// ```
pub fn redact_url(url: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match before_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:***@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => before_query.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// Every form in which the URL's password might show up in a message: as
/// written and percent-decoded.
pub(crate) fn url_secrets(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let (before_query, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    if let Some((_, rest)) = before_query.split_once("://") {
        let authority = rest.split('/').next().unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            secrets.push(password.to_owned());
        }
    }
    for pair in query.unwrap_or_default().split('&') {
        if let Some((key, value)) = pair.split_once('=')
            && key.eq_ignore_ascii_case("password")
        {
            secrets.push(value.to_owned());
        }
    }
    let decoded: Vec<String> = secrets
        .iter()
        .filter_map(|s| percent_decode_str(s).decode_utf8().ok())
        .map(|s| s.into_owned())
        .collect();
    secrets.extend(decoded);
    secrets.retain(|s| !s.is_empty());
    secrets.sort();
    secrets.dedup();
    secrets
}

/// `text` with every secret replaced by `***`.
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    // Longest first, so a secret containing another is replaced whole.
    let mut ordered: Vec<&String> = secrets.iter().collect();
    ordered.sort_by_key(|s| std::cmp::Reverse(s.len()));
    ordered.into_iter().fold(text.to_owned(), |acc, secret| {
        acc.replace(secret.as_str(), "***")
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_in_every_form() {
        for (url, want) in [
            ("postgres://u:p@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("postgres://h:5432/db", "postgres://h:5432/db"),
            ("postgres://u:p@ss@h/db", "postgres://u:***@h/db"),
            (
                "postgresql://u:p@h/db?sslmode=require&PASSWORD=q",
                "postgresql://u:***@h/db?sslmode=require&PASSWORD=***",
            ),
            ("postgres://u:p@h", "postgres://u:***@h"),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn secrets_are_found_raw_and_decoded_and_scrubbed() {
        let secrets = url_secrets("postgres://u:s%40cret@h/db?password=other");
        assert!(secrets.contains(&"s%40cret".to_owned()));
        assert!(secrets.contains(&"s@cret".to_owned()));
        assert!(secrets.contains(&"other".to_owned()));
        assert_eq!(
            scrub("auth failed for s@cret and s%40cret", &secrets),
            "auth failed for *** and ***"
        );
        assert!(url_secrets("postgres://u@h/db").is_empty());
    }

    #[test]
    fn ssl_modes_parse_by_libpq_name() {
        for name in PostgresSslMode::NAMES {
            assert_eq!(name.parse::<PostgresSslMode>().unwrap().as_str(), name);
        }
        let err = "verify_full".parse::<PostgresSslMode>().unwrap_err();
        assert!(err.message().contains("verify-full"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let options = PostgresOptions::new("postgres://u:hunter2@h/db");
        assert!(!format!("{options:?}").contains("hunter2"));
    }
}
