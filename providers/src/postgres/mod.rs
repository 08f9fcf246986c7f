//! PostgreSQL databases (self-hosted, RDS/Aurora, Cloud SQL, Azure Database)
//! on a sqlx connection pool, and a private local server ([`LocalPostgres`]).
//!
//! * The portable `$1, $2, …` placeholders are PostgreSQL's own.
//! * Every statement is prepared (and cached per connection), and each value
//!   is bound in binary for the type PostgreSQL inferred for its placeholder:
//!   a `Text` bound to a `uuid` column is sent as a UUID, an `Int` bound to a
//!   `numeric` as a numeric, an integral `Float` to a `bigint` as an integer.
//!   A value that does not fit its placeholder's type (lossy or ambiguous)
//!   fails with `InvalidArgument` naming the parameter, its type and the
//!   value. A placeholder with no context is `text`; cast it in SQL
//!   (`$1::int8`) to choose.
//! * Errors carry the SQLSTATE and its name (`PostgreSQL 23505
//!   unique_violation: …`). Unique violations, serialization failures and
//!   deadlocks are `Conflict`; other constraint violations, data exceptions
//!   (value too long, out of range) and SQL errors (syntax, unknown table or
//!   column) are `InvalidArgument`; authentication is `PermissionDenied`; a
//!   missing database is `NotFound`; an unreachable server, a shutdown or a
//!   pool timeout is `Unavailable`; `statement_timeout` is `Timeout`; TLS
//!   failures are `InvalidConfig`. No message or log line contains the URL's
//!   password.
//! * Cloud IAM database auth (RDS IAM, Entra ID, Cloud SQL IAM):
//!   [`PostgresDatabase::connect_with_auth_token`] takes a short-lived token
//!   as the password, each new connection uses the current one, and a task
//!   refreshes it before it expires.
//! * A statement whose cached plan went stale after a schema change
//!   (`cached plan must not change result type`) is prepared again once.
//! * A connection goes back to work as soon as its statement has finished,
//!   without the test sqlx's pool makes of every returned connection (a
//!   round trip); only a statement cancelled or failed on the wire sends its
//!   connection through that test (see `leases`).
//! * Connections idle for more than a second are checked before use, so a
//!   pool heals after a server restart: calls in flight fail with
//!   `Unavailable`, later ones reconnect.
//!
//! ## Types
//!
//! | PostgreSQL | read as | also bound from |
//! | --- | --- | --- |
//! | `smallint`, `integer`, `bigint`, `oid` | `Int` | integral `Float`, `Numeric`, `Text` |
//! | `real`, `double precision` | `Float` | `Int`, `Numeric`, `Text` |
//! | `numeric` | `Numeric` (exact text, every digit) | `Int`, `Float`, `Text` |
//! | `text`, `varchar`, `char(n)`, `name`, enums, `citext`, `xml` | `Text` | any scalar, in PostgreSQL's text form |
//! | `bytea` | `Bytes` | |
//! | `boolean` | `Bool` | `Text` (`true`, `f`, `yes`, …) |
//! | `timestamptz`, `timestamp` (as UTC) | `Timestamp` (`±infinity` → `i64::MAX` / `i64::MIN`) | RFC 3339 `Text` |
//! | `date` | `Text` `YYYY-MM-DD` | `Timestamp` at midnight UTC |
//! | `time` | `Text` `HH:MM:SS[.ffffff]` | |
//! | `uuid` | `Uuid` | `Text` |
//! | `json`, `jsonb` | `Json` | JSON `Text`, `Int`, `Float`, `Bool` |
//! | arrays of these | `Array` (nested for more dimensions) | |
//!
//! Domains count as their base type. Other types (`inet`, `interval`,
//! geometric, ranges, …) fail with `InvalidArgument` and the cast to use
//! (`col::text`, `$1::text::inet`).

mod decode;
mod encode;
mod errors;
mod leases;
mod local;
mod numeric;
mod options;
mod provider;
mod types;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::future::BoxFuture;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{
    PgArgumentBuffer, PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions,
    PgStatement, PgTypeInfo, Postgres,
};
use sqlx::{
    Arguments as _, AssertSqlSafe, Column as _, ConnectOptions as _, Connection as _, Either,
    Executor as _, Row as _, SqlSafeStr as _, Statement as _, TypeInfo as _, ValueRef as _,
};
use strata_core::sqldb::{
    AuthToken, CachedToken, DatabaseCapabilities, DatabaseDriver, Row, SqlDialect, SqlExecutor,
    SqlValue, TransactionDriver,
};
use strata_core::{Error, ErrorCode, Result};

use self::decode::decode_value;
use self::encode::encode_param;
use self::errors::map_sqlx_error;
use self::leases::{Leases, PING_IDLE_AFTER};
use self::types::PgKind;

pub use self::local::{
    LocalPostgres, LocalPostgresDatabase, LocalPostgresOptions, POSTGRES_BIN_DIR_ENV,
    find_postgres_bin_dir,
};
pub use self::options::{
    DEFAULT_MAX_CONNECTIONS, PostgresOptions, PostgresSslMode, connect_target, redact_url,
};
pub use self::provider::{DatabaseFallback, PostgresDatabaseOptions, PostgresProvider};
pub use strata_core::sqldb::ConnectTarget;

/// How long `close` waits for open transactions to end.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// A pooled PostgreSQL database implementing [`DatabaseDriver`].
///
/// ```no_run
/// # async fn demo() -> strata_core::Result<()> {
/// use std::sync::Arc;
/// use strata_core::sqldb::{Database, SqlValue};
/// use strata_providers::postgres::{PostgresDatabase, PostgresOptions, PostgresSslMode};
///
/// let mut options = PostgresOptions::new("postgres://app@db.internal:5432/main");
/// options.ssl_mode = Some(PostgresSslMode::VerifyFull);
/// options.ssl_root_cert = Some("certs/ca.pem".into());
/// let db = Database::new("main", Arc::new(PostgresDatabase::connect(options).await?));
/// let rows = db.query("SELECT id FROM users WHERE id = $1", &[SqlValue::Int(1)]).await?;
/// # let _ = rows; Ok(()) }
/// ```
pub struct PostgresDatabase {
    leases: Leases,
    /// The URL without its password, for messages.
    redacted_url: String,
    capabilities: DatabaseCapabilities,
    /// The task that puts a fresh auth token into the pool's connect options
    /// before the current one expires (only with an auth token source).
    token_refresh: Option<tokio::task::AbortHandle>,
}

impl std::fmt::Debug for PostgresDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresDatabase")
            .field("url", &self.redacted_url)
            .field("closed", &self.leases.pool().is_closed())
            .finish_non_exhaustive()
    }
}

impl PostgresDatabase {
    /// Builds the pool and opens one connection to check the server, the
    /// credentials and TLS, within `connect_timeout`.
    ///
    /// Errors (never containing the password): `InvalidConfig` for a
    /// malformed URL, a missing CA file or a TLS failure; `PermissionDenied`
    /// for wrong credentials; `NotFound` for a database that does not exist;
    /// `Unavailable` when the server cannot be reached in time.
    pub async fn connect(options: PostgresOptions) -> Result<PostgresDatabase> {
        Self::open(options, None).await
    }

    /// Like [`connect`](Self::connect), with a short-lived password from
    /// `token` (an RDS IAM, Entra ID or Cloud SQL IAM token) in place of the
    /// URL's. Each new connection uses the current token; a background task
    /// fetches the next one before the current one expires, so the pool keeps
    /// connecting for as long as it lives.
    ///
    /// Errors: as [`connect`](Self::connect), and the token source's error
    /// (typically `PermissionDenied`: no credentials) when the first token
    /// cannot be had. No message contains a token.
    pub async fn connect_with_auth_token(
        options: PostgresOptions,
        token: CachedToken,
    ) -> Result<PostgresDatabase> {
        Self::open(options, Some(token)).await
    }

    async fn open(
        options: PostgresOptions,
        token: Option<CachedToken>,
    ) -> Result<PostgresDatabase> {
        let redacted_url = redact_url(&options.url);
        let mut secrets = options::url_secrets(&options.url);
        let first_token = match &token {
            Some(token) => Some(token.get().await.map_err(|err| {
                Error::new(
                    err.code(),
                    format!(
                        "cannot connect to PostgreSQL at {redacted_url}: no {}: {}",
                        token.describe(),
                        err.message()
                    ),
                )
            })?),
            None => None,
        };
        if let Some(first) = &first_token {
            secrets.push(first.secret().to_owned());
        }
        let failed = |err: sqlx::Error| connect_error(&redacted_url, &secrets, err);

        let mut connect = options.url.parse::<PgConnectOptions>().map_err(&failed)?;
        if let Some(mode) = options.ssl_mode {
            connect = connect.ssl_mode(mode.to_sqlx());
        }
        if let Some(ca) = &options.ssl_root_cert {
            if !tokio::fs::try_exists(ca).await.unwrap_or(false) {
                return Err(Error::invalid_config(format!(
                    "the CA file {} for PostgreSQL at {redacted_url} does not exist",
                    ca.display()
                )));
            }
            connect = connect.ssl_root_cert(ca);
        }
        if let Some(limit) = options.statement_timeout {
            connect = connect.options([("statement_timeout", format!("{}ms", limit.as_millis()))]);
        }
        let without_token = connect.clone();
        if let Some(first) = &first_token {
            connect = connect.password(first.secret());
        }

        // One connection up front: its error says what is wrong (refused,
        // password, TLS), where the pool would only time out.
        match tokio::time::timeout(options.connect_timeout, connect.connect()).await {
            Ok(Ok(conn)) => {
                if let Err(err) = conn.close().await {
                    tracing::debug!(error = %err, "closing the first PostgreSQL connection failed");
                }
            }
            Ok(Err(err)) => return Err(failed(err)),
            Err(_) => {
                return Err(Error::unavailable(format!(
                    "cannot connect to PostgreSQL at {redacted_url}: no answer within {:?}",
                    options.connect_timeout
                )));
            }
        }

        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            // sqlx pings every connection that comes back to it (see
            // `leases`), so only connections idle for a while (maybe across
            // a server restart) need a check before use.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE_AFTER {
                        return Ok(conn.ping().await.is_ok());
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(connect);
        let token_refresh = match (token, first_token) {
            (Some(token), Some(first)) => Some(
                tokio::spawn(keep_token_fresh(
                    pool.clone(),
                    without_token,
                    token,
                    first,
                    redacted_url.clone(),
                ))
                .abort_handle(),
            ),
            _ => None,
        };
        Ok(PostgresDatabase {
            leases: Leases::new(pool, options.max_connections, options.acquire_timeout),
            redacted_url,
            capabilities: DatabaseCapabilities {
                dialect: SqlDialect::Postgres,
                arrays: true,
                json: true,
            },
            token_refresh,
        })
    }

    /// The URL connected to, without its password.
    pub fn redacted_url(&self) -> &str {
        &self.redacted_url
    }
}

/// Stops the token refresh, which holds a handle on the pool.
impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        if let Some(refresh) = &self.token_refresh {
            refresh.abort();
        }
    }
}

/// How long to wait before trying again when a token refresh failed.
const TOKEN_RETRY: Duration = Duration::from_secs(10);

/// Puts a fresh token into the pool's connect options whenever the current one
/// reaches its refresh time, until aborted (the database closed or dropped).
/// A failed refresh is retried; until one succeeds, new connections use the
/// last token, which is still valid for the rest of the cache's margin.
async fn keep_token_fresh(
    pool: PgPool,
    base: PgConnectOptions,
    token: CachedToken,
    mut current: AuthToken,
    redacted_url: String,
) {
    loop {
        let wait = token
            .refresh_at(&current)
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        if pool.is_closed() {
            return;
        }
        match token.get().await {
            Ok(next) => {
                pool.set_connect_options(base.clone().password(next.secret()));
                current = next;
            }
            Err(err) => {
                tracing::warn!(
                    url = %redacted_url,
                    "refreshing the {} failed, retrying in {TOKEN_RETRY:?}: {err}",
                    token.describe()
                );
                tokio::time::sleep(TOKEN_RETRY).await;
            }
        }
    }
}

/// A connection failure, with the password scrubbed from the message; the
/// sqlx error stays as the source only when it does not contain a secret.
fn connect_error(redacted_url: &str, secrets: &[String], err: sqlx::Error) -> Error {
    let (code, message) = errors::describe(&err);
    let message = options::scrub(
        &format!("cannot connect to PostgreSQL at {redacted_url}: {message}"),
        secrets,
    );
    let source_text = format!("{err} {err:?}");
    let error = Error::new(code, message);
    if secrets.iter().any(|s| source_text.contains(s.as_str())) {
        error
    } else {
        error.with_source(err)
    }
}

#[async_trait]
impl DatabaseDriver for PostgresDatabase {
    fn capabilities(&self) -> &DatabaseCapabilities {
        &self.capabilities
    }

    async fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>> {
        let mut lease = self.leases.lease().await?;
        let result = on_fresh_plan(lease.conn(), sql, params, |conn, sql, params| {
            Box::pin(fetch_rows(conn, sql, params))
        })
        .await;
        lease.finished(result)
    }

    async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        let mut lease = self.leases.lease().await?;
        let result = on_fresh_plan(lease.conn(), sql, params, |conn, sql, params| {
            Box::pin(execute(conn, sql, params))
        })
        .await;
        lease.finished(result)
    }

    async fn begin(&self) -> Result<Box<dyn TransactionDriver>> {
        let (conn, permit) = self.leases.lease_for_transaction().await?;
        // What `PgPool::begin` does, on a connection counted by the leases.
        let tx = sqlx::Transaction::begin(conn, None)
            .await
            .map_err(map_sqlx_error)?;
        Ok(Box::new(PostgresTransaction {
            tx,
            _permit: permit,
        }))
    }

    async fn close(&self) {
        if let Some(refresh) = &self.token_refresh {
            refresh.abort();
        }
        // New work fails with `Closed` at once; connections held by open
        // transactions close when those end. Waiting is bounded so a
        // forgotten transaction cannot hang shutdown.
        self.leases.close().await;
        if tokio::time::timeout(CLOSE_GRACE, self.leases.pool().close())
            .await
            .is_err()
        {
            tracing::warn!(
                url = %self.redacted_url,
                "PostgreSQL pool closed with transactions still open; their connections close when they end"
            );
        }
    }
}

/// A transaction on one pooled connection; dropping it rolls back.
pub struct PostgresTransaction {
    tx: sqlx::Transaction<'static, Postgres>,
    /// The connection's place among the leases, given up after `tx` (fields
    /// drop in order).
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl std::fmt::Debug for PostgresTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresTransaction")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SqlExecutor for PostgresTransaction {
    async fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>> {
        fetch_rows(&mut self.tx, sql, params).await
    }

    async fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        execute(&mut self.tx, sql, params).await
    }

    async fn execute_script(&mut self, sql: &str) -> Result<()> {
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&mut *self.tx)
            .await
            .map_err(map_sqlx_error)?;
        Ok(())
    }
}

#[async_trait]
impl TransactionDriver for PostgresTransaction {
    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await.map_err(map_sqlx_error)
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.tx.rollback().await.map_err(map_sqlx_error)
    }
}

/// One statement run on a pooled connection: [`fetch_rows`] or [`execute`].
type Statement<T> =
    for<'c> fn(&'c mut PgConnection, &'c str, &'c [SqlValue]) -> BoxFuture<'c, Result<T>>;

/// Runs `statement`; when PostgreSQL reports that its cached plan went stale
/// (a table altered since it was prepared), forgets the connection's prepared
/// statements and runs it once more, prepared afresh.
async fn on_fresh_plan<T>(
    conn: &mut PgConnection,
    sql: &str,
    params: &[SqlValue],
    statement: Statement<T>,
) -> Result<T> {
    match statement(conn, sql, params).await {
        Err(err) if is_stale_plan(&err) => {
            conn.clear_cached_statements()
                .await
                .map_err(map_sqlx_error)?;
            statement(conn, sql, params).await
        }
        other => other,
    }
}

fn is_stale_plan(err: &Error) -> bool {
    err.code() == ErrorCode::Unsupported && err.message().contains("cached plan must not change")
}

/// A parameter bound as bytes already in the binary format of `ty`.
struct Wire {
    ty: PgTypeInfo,
    bytes: Option<Vec<u8>>,
}

impl sqlx::Type<Postgres> for Wire {
    fn type_info() -> PgTypeInfo {
        // Never used: `produces` names each value's own type.
        PgTypeInfo::with_name("unknown")
    }
}

impl<'q> sqlx::Encode<'q, Postgres> for Wire {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        match &self.bytes {
            Some(bytes) => {
                buf.extend_from_slice(bytes);
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(self.ty.clone())
    }

    fn size_hint(&self) -> usize {
        self.bytes.as_ref().map_or(0, Vec::len)
    }
}

/// A type's name in lower case, spelled out only when a message needs it.
struct TypeName<'a>(&'a PgTypeInfo);

impl std::fmt::Display for TypeName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.name().to_ascii_lowercase())
    }
}

/// Prepares `sql` (a cache hit after the first time on a connection) and
/// binds `params` for the parameter types PostgreSQL inferred.
async fn prepare(
    conn: &mut PgConnection,
    sql: &str,
    params: &[SqlValue],
) -> Result<(PgStatement, PgArguments)> {
    let statement = conn
        .prepare_with(AssertSqlSafe(sql.to_owned()).into_sql_str(), &[])
        .await
        .map_err(map_sqlx_error)?;
    let types: &[PgTypeInfo] = match statement.parameters() {
        Some(Either::Left(types)) => types,
        _ => &[],
    };
    if types.len() != params.len() {
        let used = types.len();
        return Err(Error::invalid_argument(format!(
            "the statement has {used} placeholder(s) ($1..${used}) but {} parameter(s) were given",
            params.len()
        )));
    }
    let mut arguments = PgArguments::default();
    for (i, (value, ty)) in params.iter().zip(types).enumerate() {
        let kind = PgKind::of(ty);
        let bytes = encode_param(value, &kind, TypeName(ty), i + 1)?;
        arguments
            .add(Wire {
                ty: ty.clone(),
                bytes,
            })
            .map_err(|e| Error::invalid_argument(format!("parameter ${}: {e}", i + 1)))?;
    }
    Ok((statement, arguments))
}

async fn execute(conn: &mut PgConnection, sql: &str, params: &[SqlValue]) -> Result<u64> {
    let (statement, arguments) = prepare(conn, sql, params).await?;
    let done = statement
        .query_with(arguments)
        .execute(&mut *conn)
        .await
        .map_err(map_sqlx_error)?;
    Ok(done.rows_affected())
}

async fn fetch_rows(conn: &mut PgConnection, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>> {
    let (statement, arguments) = prepare(conn, sql, params).await?;
    let rows = statement
        .query_with(arguments)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_sqlx_error)?;
    let columns: Arc<[String]> = statement
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let kinds: Vec<(PgKind, &PgTypeInfo)> = statement
        .columns()
        .iter()
        .map(|c| (PgKind::of(c.type_info()), c.type_info()))
        .collect();
    rows.iter()
        .map(|row| {
            let values = kinds
                .iter()
                .enumerate()
                .map(|(i, (kind, ty))| {
                    let raw = row.try_get_raw(i).map_err(map_sqlx_error)?;
                    let bytes = if raw.is_null() {
                        None
                    } else {
                        Some(
                            raw.as_bytes()
                                .map_err(|e| Error::internal(format!("column {i}: {e}")))?,
                        )
                    };
                    decode_value(bytes, kind).map_err(|why| {
                        let message = format!(
                            "column `{}` has type {}: {why}",
                            columns.get(i).map_or("?", String::as_str),
                            TypeName(ty)
                        );
                        match kind {
                            PgKind::Unsupported(_) => Error::invalid_argument(message),
                            _ => Error::internal(message),
                        }
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Row {
                columns: columns.clone(),
                values,
            })
        })
        .collect()
}

/// The binary value decoder as a pure function, for the fuzz targets in
/// `fuzz/` (not an API: it may change with any release).
#[doc(hidden)]
pub mod decode_for_fuzzing {
    use strata_core::sqldb::SqlValue;

    /// Decodes `bytes` (`None`: SQL `NULL`) as a value of the built-in type
    /// `type_oid`; an OID without a codec is an error, as for a column.
    ///
    /// # Errors
    /// What was wrong with the bytes.
    pub fn decode_value(bytes: Option<&[u8]>, type_oid: u32) -> Result<SqlValue, String> {
        let kind = super::types::builtin(type_oid)
            .ok_or_else(|| format!("type oid {type_oid} has no codec"))?;
        super::decode::decode_value(bytes, &kind)
    }
}
