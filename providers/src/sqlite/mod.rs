//! SQLite databases (the embedded default), on a sqlx connection pool.
//!
//! * Files use WAL journaling (readers never wait for the writer) with
//!   `synchronous = NORMAL`, and foreign keys are enforced.
//! * In-memory databases are shared by every connection of the pool (SQLite's
//!   `memdb` VFS) and live until [`DatabaseDriver::close`].
//! * SQL uses the portable `$1, $2, …` placeholders; they are rewritten to
//!   SQLite's `?1, ?2, …` outside literals, quoted identifiers and comments.
//! * One writer at a time: transactions and `execute` wait for this
//!   process's writer turn, for up to [`SqliteOptions::write_wait`], instead
//!   of failing after the busy timeout; on a file, transactions begin
//!   `IMMEDIATE` (the write lock up front, so a read-then-write transaction
//!   never fails at the upgrade). `query` takes no turn: WAL readers never
//!   wait.
//! * Errors: unique violations are `Conflict`, other constraint violations,
//!   SQL errors and unbindable values are `InvalidArgument`, a busy or locked
//!   database is `Unavailable`, a closed pool is `Closed`.
//!
//! ## Types
//!
//! SQLite stores five storage classes (NULL, INTEGER, REAL, TEXT, BLOB), so
//! the richer portable types are stored as one of them:
//!
//! | `SqlValue` | stored as |
//! | --- | --- |
//! | `Bool` | INTEGER 0 / 1 |
//! | `Json` | TEXT (compact JSON) |
//! | `Timestamp` | TEXT `YYYY-MM-DD HH:MM:SS.ffffff`, UTC: SQLite's own date format, so `datetime()` and friends work and texts sort in time order |
//! | `Uuid` | TEXT, canonical lower-case |
//! | `Numeric` | TEXT (a `NUMERIC` column converts it to INTEGER or REAL, keeping 15 significant digits) |
//! | `Float` | REAL; ±infinity are kept, `NaN` is rejected (SQLite would store NULL) |
//! | `Array` | rejected: SQLite has no arrays |
//!
//! Reading uses the column's *declared* type when the column comes from a
//! table: `BOOLEAN`/`BOOL` → `Bool`, `JSON`/`JSONB` → `Json`,
//! `TIMESTAMP`/`TIMESTAMPTZ`/`DATETIME` → `Timestamp`, `UUID` → `Uuid`,
//! `NUMERIC`/`DECIMAL` → `Numeric`. Anything else, expressions, and stored
//! values that do not fit the declared type (text that is not JSON in a
//! `JSON` column) are read by storage class.

mod errors;
mod placeholders;
mod provider;
mod values;

pub use self::provider::{SqliteDatabaseOptions, SqliteProvider};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{
    AssertSqlSafe, Column as _, ConnectOptions as _, Connection as _, Row as _, TypeInfo as _,
};
use strata_core::sqldb::{
    DatabaseCapabilities, DatabaseDriver, Row, SqlDialect, SqlExecutor, SqlValue, TransactionDriver,
};
use strata_core::{Error, Result};
use tokio::sync::{Mutex, OwnedMutexGuard};

use self::errors::map_sqlx_error;
use self::placeholders::rewrite_placeholders;
use self::values::{ColumnKind, bind, decode, kind_of_declared};

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlitePath {
    /// A database file.
    File(PathBuf),
    /// A private in-memory database, gone when closed.
    InMemory,
}

/// How to open a SQLite database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// The file, or in-memory.
    pub path: SqlitePath,
    /// Pool size (at least 1). SQLite runs one writer at a time; more
    /// connections add concurrent readers.
    pub max_connections: u32,
    /// How long a statement waits for a lock held by another connection
    /// before failing with `Unavailable`.
    pub busy_timeout: Duration,
    /// Create the file, and its folder, when they do not exist.
    pub create_if_missing: bool,
    /// How long a transaction or `execute` waits for this process's writer
    /// turn (another open transaction) before failing with `Unavailable`.
    pub write_wait: Duration,
}

impl SqliteOptions {
    /// A database file, created if missing, with default pool settings.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            path: SqlitePath::File(path.into()),
            ..Self::in_memory()
        }
    }

    /// A private in-memory database with default pool settings.
    pub fn in_memory() -> Self {
        Self {
            path: SqlitePath::InMemory,
            max_connections: 4,
            busy_timeout: Duration::from_secs(5),
            create_if_missing: true,
            write_wait: Duration::from_secs(60),
        }
    }
}

/// A pooled SQLite database implementing [`DatabaseDriver`].
///
/// ```no_run
/// # async fn demo() -> strata_core::Result<()> {
/// use std::sync::Arc;
/// use strata_core::sqldb::Database;
/// use strata_providers::sqlite::{SqliteDatabase, SqliteOptions};
///
/// let driver = SqliteDatabase::open(SqliteOptions::file(".strata/main.db")).await?;
/// let db = Database::new("main", Arc::new(driver));
/// db.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)", &[]).await?;
/// # Ok(()) }
/// ```
pub struct SqliteDatabase {
    pool: SqlitePool,
    /// Keeps an in-memory database alive while the pool's connections come
    /// and go (memdb frees a database with its last connection).
    keeper: Mutex<Option<SqliteConnection>>,
    /// This process's writer turn: SQLite runs one writer at a time, and a
    /// writer that finds the lock taken fails after the busy timeout, so
    /// writers queue here instead.
    writer: Arc<Mutex<()>>,
    write_wait: Duration,
    path: SqlitePath,
    capabilities: DatabaseCapabilities,
}

impl std::fmt::Debug for SqliteDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDatabase")
            .field("path", &self.path)
            .field("closed", &self.pool.is_closed())
            .finish_non_exhaustive()
    }
}

/// How long `close` waits for open transactions to end.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Distinguishes the in-memory databases of one process.
static MEMORY_DB_SEQ: AtomicU64 = AtomicU64::new(0);

impl SqliteDatabase {
    /// Opens (and for files, creates when allowed) the database and checks
    /// that a connection works.
    ///
    /// Errors: `NotFound` for a missing file when `create_if_missing` is off,
    /// `Unavailable` when the file cannot be opened or read, `Internal` for a
    /// file that is not a database, `InvalidConfig` for options sqlx refuses.
    pub async fn open(options: SqliteOptions) -> Result<SqliteDatabase> {
        if let SqlitePath::File(path) = &options.path {
            prepare_file(path, options.create_if_missing).await?;
        }
        let connect = SqliteConnectOptions::new()
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            .create_if_missing(options.create_if_missing);
        let connect = match &options.path {
            SqlitePath::File(path) => connect
                .filename(path)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal),
            SqlitePath::InMemory => {
                // memdb names starting with `/` are shared between the
                // connections of this process, with ordinary locking (unlike
                // shared-cache `:memory:`, busy_timeout applies).
                let seq = MEMORY_DB_SEQ.fetch_add(1, Ordering::Relaxed);
                let name = format!("/strata-{}-{seq}-{}", std::process::id(), fastrand::u64(..));
                connect.filename(name).vfs("memdb").create_if_missing(true)
            }
        };
        let keeper = match options.path {
            SqlitePath::InMemory => Some(
                connect
                    .connect()
                    .await
                    .map_err(|e| opening(&options.path, e))?,
            ),
            SqlitePath::File(_) => None,
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(0)
            .connect_with(connect)
            .await
            .map_err(|e| opening(&options.path, e))?;
        Ok(SqliteDatabase {
            pool,
            keeper: Mutex::new(keeper),
            writer: Arc::new(Mutex::new(())),
            write_wait: options.write_wait,
            path: options.path,
            capabilities: DatabaseCapabilities {
                dialect: SqlDialect::Sqlite,
                arrays: false,
                json: true,
            },
        })
    }

    /// Where the database lives.
    pub fn path(&self) -> &SqlitePath {
        &self.path
    }

    /// Waits for this process's writer turn, at most `write_wait`.
    async fn writer_turn(&self) -> Result<OwnedMutexGuard<()>> {
        tokio::time::timeout(self.write_wait, self.writer.clone().lock_owned())
            .await
            .map_err(|_| {
                Error::unavailable(format!(
                    "SQLite: another transaction held the write lock for {} s",
                    self.write_wait.as_secs()
                ))
            })
    }
}

/// Creates the folder of a database file, or reports a missing file.
async fn prepare_file(path: &Path, create: bool) -> Result<()> {
    if create {
        match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| {
                    let e = Error::from(e);
                    let message =
                        format!("cannot create folder {}: {}", dir.display(), e.message());
                    Error::new(e.code(), message).with_source(e)
                })?;
            }
            _ => {}
        }
    } else if !tokio::fs::try_exists(path).await.unwrap_or(true) {
        return Err(Error::not_found(format!(
            "SQLite database file {} does not exist (and create_if_missing is off)",
            path.display()
        )));
    }
    Ok(())
}

fn opening(path: &SqlitePath, err: sqlx::Error) -> Error {
    let err = map_sqlx_error(err);
    let at = match path {
        SqlitePath::File(p) => p.display().to_string(),
        SqlitePath::InMemory => "in-memory database".to_owned(),
    };
    let message = format!("cannot open SQLite {at}: {}", err.message());
    Error::new(err.code(), message).with_source(err)
}

#[async_trait]
impl DatabaseDriver for SqliteDatabase {
    fn capabilities(&self) -> &DatabaseCapabilities {
        &self.capabilities
    }

    async fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>> {
        let query = prepare(sql, params)?;
        let mut conn = self.pool.acquire().await.map_err(map_sqlx_error)?;
        fetch_rows(&mut conn, query).await
    }

    async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        let query = prepare(sql, params)?;
        let _turn = self.writer_turn().await?;
        let done = query.execute(&self.pool).await.map_err(map_sqlx_error)?;
        Ok(done.rows_affected())
    }

    async fn begin(&self) -> Result<Box<dyn TransactionDriver>> {
        let turn = self.writer_turn().await?;
        // A file (WAL) takes the write lock up front, so a writer of another
        // process cannot make the upgrade fail; readers are not blocked. An
        // in-memory database has no WAL, and there an early write lock would
        // block the pool's readers: the writer turn alone serializes.
        let begin = match self.path {
            SqlitePath::File(_) => "BEGIN IMMEDIATE",
            SqlitePath::InMemory => "BEGIN",
        };
        let tx = self.pool.begin_with(begin).await.map_err(map_sqlx_error)?;
        Ok(Box::new(SqliteTransaction { tx, _turn: turn }))
    }

    async fn close(&self) {
        // New work fails with `Closed` at once; connections checked out by open
        // transactions close when those end. Waiting for them is bounded so a
        // forgotten transaction cannot hang shutdown.
        if tokio::time::timeout(CLOSE_GRACE, self.pool.close())
            .await
            .is_err()
        {
            tracing::warn!(
                path = ?self.path,
                "SQLite pool closed with transactions still open; their connections close when they end"
            );
        }
        if let Some(conn) = self.keeper.lock().await.take()
            && let Err(err) = conn.close().await
        {
            tracing::warn!(error = %err, "closing the in-memory SQLite keeper connection failed");
        }
    }
}

/// A transaction on one pooled connection; dropping it rolls back. It holds
/// the writer turn until it ends.
pub struct SqliteTransaction {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    _turn: OwnedMutexGuard<()>,
}

impl std::fmt::Debug for SqliteTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteTransaction").finish_non_exhaustive()
    }
}

#[async_trait]
impl SqlExecutor for SqliteTransaction {
    async fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>> {
        let query = prepare(sql, params)?;
        fetch_rows(&mut self.tx, query).await
    }

    async fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        let query = prepare(sql, params)?;
        let done = query.execute(&mut *self.tx).await.map_err(map_sqlx_error)?;
        Ok(done.rows_affected())
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
impl TransactionDriver for SqliteTransaction {
    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await.map_err(map_sqlx_error)
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.tx.rollback().await.map_err(map_sqlx_error)
    }
}

/// Rewrites the placeholders, checks the parameter count and binds.
fn prepare(sql: &str, params: &[SqlValue]) -> Result<values::SqliteQuery> {
    let (sql, used) = rewrite_placeholders(sql)?;
    if used != params.len() {
        return Err(Error::invalid_argument(format!(
            "the statement uses {used} placeholder(s) ($1..${used}) but {} parameter(s) were given",
            params.len()
        )));
    }
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (i, value) in params.iter().enumerate() {
        query = bind(query, value, i + 1)?;
    }
    Ok(query)
}

/// Runs a query on `conn` and decodes its rows, reading declared column types.
async fn fetch_rows(conn: &mut SqliteConnection, query: values::SqliteQuery) -> Result<Vec<Row>> {
    let rows: Vec<SqliteRow> = query.fetch_all(&mut *conn).await.map_err(map_sqlx_error)?;
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let columns: Arc<[String]> = first
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let kinds = column_kinds(conn, first).await?;
    rows.iter()
        .map(|row| {
            let values = kinds
                .iter()
                .enumerate()
                .map(|(i, kind)| decode(row, i, *kind))
                .collect::<Result<Vec<_>>>()?;
            Ok(Row {
                columns: columns.clone(),
                values,
            })
        })
        .collect()
}

/// How to read each column. sqlx parses the declared types it knows
/// (`BOOLEAN`, `DATETIME`, `INTEGER`, …); for the others (`JSON`, `UUID`,
/// `NUMERIC`, `TIMESTAMPTZ`, …) it reports `NULL`, and the declared type is
/// read from the table the column comes from.
async fn column_kinds(conn: &mut SqliteConnection, row: &SqliteRow) -> Result<Vec<ColumnKind>> {
    let mut kinds = Vec::with_capacity(row.columns().len());
    let mut declared: HashMap<String, HashMap<String, String>> = HashMap::new();
    for column in row.columns() {
        let kind = match column.type_info().name() {
            "BOOLEAN" => ColumnKind::Bool,
            "DATETIME" => ColumnKind::Timestamp,
            "NULL" => match column.origin().table_column() {
                Some(origin) => {
                    if !declared.contains_key(origin.table.as_ref()) {
                        let types = declared_types(conn, &origin.table).await?;
                        declared.insert(origin.table.to_string(), types);
                    }
                    declared
                        .get(origin.table.as_ref())
                        .and_then(|types| types.get(origin.name.as_ref()))
                        .map_or(ColumnKind::Storage, |t| kind_of_declared(t))
                }
                None => ColumnKind::Storage,
            },
            _ => ColumnKind::Storage,
        };
        kinds.push(kind);
    }
    Ok(kinds)
}

/// Column name → declared type of `table` (`schema.table` for attached ones).
async fn declared_types(
    conn: &mut SqliteConnection,
    table: &str,
) -> Result<HashMap<String, String>> {
    let (schema, name) = table.split_once('.').unwrap_or(("main", table));
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT name, type FROM pragma_table_info(?1, ?2)")
            .bind(name.to_owned())
            .bind(schema.to_owned())
            .fetch_all(&mut *conn)
            .await
            .map_err(map_sqlx_error)?;
    Ok(rows.into_iter().collect())
}
