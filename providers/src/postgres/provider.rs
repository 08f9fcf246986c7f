//! The PostgreSQL provider's registration: `"provider": "postgres"` under
//! `databases` — a server at a URL (with a password or a cloud's auth
//! tokens), or a private local server run by Strata.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use strata_core::Result;
use strata_core::registry::{
    DatabaseEntry, DatabaseProvider, OpenContext, OptionsType, ProviderOptions, Registry,
};
use strata_core::sqldb::DatabaseDriver;

use super::{
    LocalPostgresDatabase, LocalPostgresOptions, PostgresDatabase, PostgresOptions,
    PostgresSslMode, connect_target, find_postgres_bin_dir, redact_url,
};
use crate::sqlite::{SqliteDatabase, SqliteOptions};

/// The auth method that needs no token source: the password in the URL.
const PASSWORD_AUTH: &str = "password";

/// The longest wait for a connection (`acquire_timeout_ms`,
/// `connect_timeout_ms`), in milliseconds: an hour. A call waiting longer for
/// a connection is a hang, not a timeout.
pub const MAX_CONNECT_TIMEOUT_MS: u64 = 3_600_000;
/// The longest `statement_timeout_ms`: a day. A statement running longer is a
/// batch job that should turn the limit off (leave the field out).
pub const MAX_STATEMENT_TIMEOUT_MS: u64 = 86_400_000;

/// The `postgres` database's own fields.
///
/// `Debug` hides the password in the URL.
#[derive(Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresDatabaseOptions {
    /// `postgres://` URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Instead of `url`: Strata runs a private PostgreSQL server for this
    /// database under `.strata/postgres/<name>/` (with the `initdb` /
    /// `pg_ctl` found on this machine) and stops it on close.
    #[serde(default)]
    pub local: Option<bool>,
    /// How long a call waits for a pooled connection before failing with
    /// `Unavailable`, in milliseconds (default 10000, at most an hour).
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_CONNECT_TIMEOUT_MS))]
    pub acquire_timeout_ms: Option<u64>,
    /// How long startup waits for the first connection, in milliseconds
    /// (default 10000, at most an hour).
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_CONNECT_TIMEOUT_MS))]
    pub connect_timeout_ms: Option<u64>,
    /// The server cancels a statement running longer, in milliseconds
    /// (default: the server's `statement_timeout`; at most a day).
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_STATEMENT_TIMEOUT_MS))]
    pub statement_timeout_ms: Option<u64>,
    /// TLS mode, as libpq's `sslmode` (default: the URL's `sslmode`, else
    /// `prefer`).
    #[serde(default)]
    #[schemars(extend("enum" = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]))]
    pub ssl_mode: Option<String>,
    /// PEM file of the CA certificates that sign the server's certificate
    /// (for `verify-ca` / `verify-full`), relative to the config file.
    #[serde(default)]
    pub ssl_root_cert: Option<String>,
    /// How Strata proves who it is (default `password`: the one in the `url`,
    /// if any). `aws_iam` (RDS / Aurora IAM tokens signed with the
    /// credentials of `providers.aws`, 15 minutes), `gcp_iam` (Cloud SQL IAM
    /// database auth with the credentials of `providers.gcp`, an hour) and
    /// `azure_entra` (Entra ID tokens for the service principal of
    /// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET`, or the
    /// managed identity) come with the cloud's build feature; tokens are
    /// refreshed before they expire, and the `url` then names the user, host
    /// and port without a password.
    #[serde(default)]
    pub auth: Option<String>,
    /// With `"local": true` only: what to use where PostgreSQL's server
    /// binaries are missing (default: nothing, startup fails saying so).
    #[serde(default)]
    pub fallback: Option<DatabaseFallback>,
}

/// What a local PostgreSQL database falls back to without PostgreSQL's binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseFallback {
    /// An SQLite file at `.strata/<name>.db` next to the config file (SQL that
    /// only PostgreSQL understands will then fail).
    Sqlite,
}

impl PostgresDatabaseOptions {
    fn is_local(&self) -> bool {
        self.local == Some(true)
    }

    fn auth(&self) -> &str {
        self.auth.as_deref().unwrap_or(PASSWORD_AUTH)
    }
}

impl ProviderOptions for PostgresDatabaseOptions {
    fn check(&self, registry: &Registry) -> std::result::Result<(), (String, String)> {
        let local = self.is_local();
        let method = self.auth();
        if method != PASSWORD_AUTH && registry.database_auth(method).is_none() {
            return Err(("auth".into(), unknown_auth(registry)));
        }
        if self.url.is_none() && !local {
            return Err((
                "url".into(),
                "the `postgres` provider needs a `url` (postgres://…), or `\"local\": true` \
                 for a private server run by Strata"
                    .into(),
            ));
        }
        if self.fallback.is_some() && !local {
            return Err((
                "fallback".into(),
                "`fallback` applies only to a `\"local\": true` PostgreSQL".into(),
            ));
        }
        if local && self.auth() != PASSWORD_AUTH {
            return Err((
                "auth".into(),
                "a `local` server uses its own password; cloud IAM auth needs a `url`".into(),
            ));
        }
        if local && self.url.is_some() {
            return Err((
                "local".into(),
                "`local` runs a private server; it cannot go with a `url`".into(),
            ));
        }
        // A malformed URL is a config error now, not a connection failure at
        // startup. The message never shows the URL: it may hold a password.
        if let Some(url) = &self.url
            && url.parse::<sqlx::postgres::PgConnectOptions>().is_err()
        {
            return Err((
                "url".into(),
                "not a PostgreSQL URL (expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE)"
                    .into(),
            ));
        }
        if let Some(mode) = &self.ssl_mode
            && mode.parse::<PostgresSslMode>().is_err()
        {
            return Err((
                "ssl_mode".into(),
                format!(
                    "unknown ssl_mode; expected one of {}",
                    PostgresSslMode::NAMES.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// Why `method` is no auth method here, listing those that are.
/// The message never repeats `method`: a misplaced value may be a secret.
fn unknown_auth(registry: &Registry) -> String {
    let mut have = vec![PASSWORD_AUTH];
    have.extend(registry.database_auth_names());
    let have: Vec<String> = have.iter().map(|m| format!("`{m}`")).collect();
    format!(
        "not an auth method of this build (a cloud's method comes with its cargo feature; \
         for Node, the addon built with it); this build has: {}",
        have.join(", ")
    )
}

impl fmt::Debug for PostgresDatabaseOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresDatabaseOptions")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("local", &self.local)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("statement_timeout_ms", &self.statement_timeout_ms)
            .field("ssl_mode", &self.ssl_mode)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .field("auth", &self.auth)
            .field("fallback", &self.fallback)
            .finish()
    }
}

/// PostgreSQL: self-hosted, RDS, Cloud SQL, Azure Database, or a private
/// local server.
pub struct PostgresProvider;

#[async_trait]
impl DatabaseProvider for PostgresProvider {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn options(&self) -> OptionsType {
        OptionsType::of::<PostgresDatabaseOptions>()
    }

    async fn open_database(
        &self,
        cx: &OpenContext,
        database: DatabaseEntry<'_>,
    ) -> Result<Arc<dyn DatabaseDriver>> {
        let name = database.name;
        let own: PostgresDatabaseOptions =
            cx.options(&database.config.options, &database.path())?;
        let at = database.path();
        let opts =
            PostgresOptions::from_config(&own, database.config.max_connections, cx.base_dir())
                .map_err(|e| cx.invalid_config(&at, e.message()))?;
        if own.is_local() {
            if let (Err(missing), Some(DatabaseFallback::Sqlite)) =
                (find_postgres_bin_dir(), own.fallback)
            {
                let path = cx.embedded_path(&[&format!("{name}.db")]);
                tracing::warn!(
                    database = name,
                    "{} Using the SQLite fallback at {} as the config allows.",
                    missing.message(),
                    path.display()
                );
                return Ok(Arc::new(
                    SqliteDatabase::open(SqliteOptions::file(path)).await?,
                ));
            }
            let local = LocalPostgresOptions::for_database(cx.base_dir(), name);
            return Ok(Arc::new(LocalPostgresDatabase::start(local, opts).await?));
        }
        let method = own.auth();
        if method == PASSWORD_AUTH {
            return Ok(Arc::new(PostgresDatabase::connect(opts).await?));
        }
        let Some(auth) = cx.registry().database_auth(method) else {
            return Err(cx.invalid_config(&format!("{at}.auth"), unknown_auth(cx.registry())));
        };
        let target = connect_target(&opts.url)
            .map_err(|e| cx.invalid_config(&format!("{at}.url"), e.message()))?;
        let token = auth.token(cx, name, &target).await?;
        Ok(Arc::new(
            PostgresDatabase::connect_with_auth_token(opts, token).await?,
        ))
    }
}
