//! Database: pooled SQL with bound parameters, typed values, transactions and
//! migrations.
//!
//! SQL is written with PostgreSQL-style positional placeholders (`$1`, `$2`, …)
//! for every provider; a provider whose engine spells them differently rewrites
//! them. Values are only ever bound, never interpolated.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;

use crate::Result;

/// A typed SQL value, as bound or as read.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL `NULL`.
    Null,
    /// `boolean`.
    Bool(bool),
    /// Any integer type, widened.
    Int(i64),
    /// `real` / `double precision`. PostgreSQL keeps `NaN` and ±infinity;
    /// SQLite keeps ±infinity and refuses `NaN` as a parameter
    /// (`InvalidArgument`), since it would store `NULL`.
    Float(f64),
    /// `numeric` / `decimal`, as its exact decimal text.
    Numeric(String),
    /// `text` / `varchar`.
    Text(String),
    /// `bytea` / `blob`.
    Bytes(Vec<u8>),
    /// `json` / `jsonb`.
    Json(serde_json::Value),
    /// `timestamptz` as microseconds since the Unix epoch, UTC.
    Timestamp(i64),
    /// `uuid`, in its canonical hyphenated lower-case text.
    Uuid(String),
    /// A one-dimensional array.
    Array(Vec<SqlValue>),
}

/// One result row: values in column order, with the column names shared by all
/// rows of the result.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Column names, shared by every row of a result.
    pub columns: Arc<[String]>,
    /// Values, one per column.
    pub values: Vec<SqlValue>,
}

impl Row {
    /// The value of the column named `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&SqlValue> {
        self.columns
            .iter()
            .position(|c| c == name)
            .and_then(|i| self.values.get(i))
    }
}

/// The SQL dialect of a provider, for code that must differ (rare).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlDialect {
    /// PostgreSQL (RDS, Cloud SQL, Azure Database, self-hosted).
    Postgres,
    /// SQLite (the embedded default).
    Sqlite,
}

/// What a database provider can do.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseCapabilities {
    /// The SQL dialect.
    pub dialect: SqlDialect,
    /// Native arrays as column types.
    pub arrays: bool,
    /// Native `json` / `jsonb` column types.
    pub json: bool,
}

/// Statements that can run on a pool or inside a transaction.
#[async_trait]
pub trait SqlExecutor: Send {
    /// Runs a statement and returns its rows.
    async fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>>;

    /// Runs a statement and returns the number of rows it affected.
    async fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64>;

    /// Runs several `;`-separated statements without parameters (migrations).
    async fn execute_script(&mut self, sql: &str) -> Result<()>;
}

/// An open transaction. Dropping it without [`commit`](Self::commit) rolls back.
#[async_trait]
pub trait TransactionDriver: SqlExecutor {
    /// Makes the transaction's changes durable.
    async fn commit(self: Box<Self>) -> Result<()>;

    /// Discards the transaction's changes.
    async fn rollback(self: Box<Self>) -> Result<()>;
}

/// A pooled database. Implemented by each provider.
#[async_trait]
pub trait DatabaseDriver: Any + Send + Sync {
    /// What this provider can do.
    fn capabilities(&self) -> &DatabaseCapabilities;

    /// Runs a statement on a pooled connection and returns its rows.
    async fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>>;

    /// Runs a statement on a pooled connection; returns rows affected.
    async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64>;

    /// Starts a transaction on a connection held until it ends.
    async fn begin(&self) -> Result<Box<dyn TransactionDriver>>;

    /// Closes the pool; later calls fail with [`ErrorCode::Closed`](crate::ErrorCode).
    async fn close(&self);
}

mod auth;
mod checksum;
mod database;
pub mod literals;
mod migrations;
pub mod timestamp;

pub use auth::{AuthToken, AuthTokenSource, CachedToken, ConnectTarget};
pub use database::{Database, Transaction, TransactionScope};
pub use migrations::{MIGRATIONS_TABLE, MigrationReport};
