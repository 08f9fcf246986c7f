//! The portable [`Database`] and [`Transaction`] over any [`DatabaseDriver`].

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use futures::future::BoxFuture;

use super::{DatabaseCapabilities, DatabaseDriver, Row, SqlValue, TransactionDriver};
use crate::{Error, Result};

/// Refuses SQL text holding a NUL byte, for every provider at once: SQLite's
/// C API reads the text only up to the NUL (its worker then never got past the
/// statement and the connection was lost), and PostgreSQL's wire protocol
/// sends SQL as a NUL-terminated string. A NUL as data belongs in a bound
/// parameter (bytes on PostgreSQL, whose text type cannot hold it).
fn check_sql(sql: &str) -> Result<()> {
    match sql.bytes().position(|b| b == 0) {
        None => Ok(()),
        Some(at) => Err(Error::invalid_argument(format!(
            "SQL text contains a NUL byte (at byte {at}); pass such data as a bound parameter"
        ))),
    }
}

/// A named, pooled SQL database.
///
/// SQL uses `$1, $2, …` placeholders on every provider and values are always
/// bound, never interpolated. Cloning is cheap and shares the pool.
///
/// ```
/// # async fn demo(db: strata_core::sqldb::Database) -> strata_core::Result<()> {
/// use strata_core::sqldb::SqlValue;
///
/// db.execute(
///     "INSERT INTO users (name, email) VALUES ($1, $2)",
///     &[SqlValue::from("Ada"), SqlValue::from("ada@example.com")],
/// ).await?;
/// let row = db
///     .query_one("SELECT name FROM users WHERE email = $1", &["ada@example.com".into()])
///     .await?;
/// assert_eq!(row.and_then(|r| r.get("name").cloned()), Some(SqlValue::from("Ada")));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Database {
    name: Arc<str>,
    driver: Arc<dyn DatabaseDriver>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("name", &self.name)
            .field("capabilities", self.driver.capabilities())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// The provider's driver behind this database when it is a `T`, for
    /// a call Strata does not wrap; `None` on another provider.
    pub fn driver_as<T: DatabaseDriver>(&self) -> Option<&T> {
        let driver: &dyn std::any::Any = self.driver.as_ref();
        driver.downcast_ref::<T>()
    }

    /// The database called `name` (as in the infra config) served by `driver`.
    pub fn new(name: impl Into<String>, driver: Arc<dyn DatabaseDriver>) -> Self {
        Self {
            name: Arc::from(name.into()),
            driver,
        }
    }

    /// The logical name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The provider underneath.
    pub fn driver(&self) -> &Arc<dyn DatabaseDriver> {
        &self.driver
    }

    /// What the provider can do (dialect, arrays, JSON).
    pub fn capabilities(&self) -> &DatabaseCapabilities {
        self.driver.capabilities()
    }

    /// Runs a statement on a pooled connection and returns all its rows.
    pub async fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>> {
        check_sql(sql)?;
        self.driver.query(sql, params).await
    }

    /// Runs a statement and returns its first row, or `None` when it returned
    /// none (further rows are ignored).
    pub async fn query_one(&self, sql: &str, params: &[SqlValue]) -> Result<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs a statement and returns the number of rows it affected.
    pub async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        check_sql(sql)?;
        self.driver.execute(sql, params).await
    }

    /// Runs several `;`-separated statements without parameters, atomically
    /// (inside one transaction).
    pub async fn execute_script(&self, sql: &str) -> Result<()> {
        // Checked before a connection is taken for the transaction.
        check_sql(sql)?;
        let mut tx = self.begin().await?;
        tx.execute_script(sql).await?;
        tx.commit().await
    }

    /// Starts a transaction that holds one pooled connection until
    /// [`Transaction::commit`] or [`Transaction::rollback`]; dropping it rolls
    /// back. Prefer [`Database::transaction`] where a closure fits.
    pub async fn begin(&self) -> Result<Transaction> {
        Ok(Transaction {
            inner: self.driver.begin().await?,
        })
    }

    /// Runs `f` inside a transaction: commits when it returns `Ok`, rolls back
    /// when it returns `Err` (or panics), and returns what `f` returned.
    ///
    /// The closure receives the transaction and returns a boxed future, which
    /// may borrow from the caller (`Box::pin(async move { … })`).
    ///
    /// ```
    /// # async fn demo(db: strata_core::sqldb::Database) -> strata_core::Result<()> {
    /// use strata_core::sqldb::SqlValue;
    ///
    /// let moved = db
    ///     .transaction(|tx| {
    ///         Box::pin(async move {
    ///             let a = tx.execute("UPDATE accounts SET balance = balance - 10 WHERE id = $1", &[SqlValue::Int(1)]).await?;
    ///             let b = tx.execute("UPDATE accounts SET balance = balance + 10 WHERE id = $1", &[SqlValue::Int(2)]).await?;
    ///             Ok(a + b)
    ///         })
    ///     })
    ///     .await?;
    /// # let _ = moved; Ok(()) }
    /// ```
    pub async fn transaction<'env, F, T>(&self, f: F) -> Result<T>
    where
        F: for<'t> FnOnce(&'t mut TransactionScope<'env>) -> BoxFuture<'t, Result<T>> + Send,
        T: Send,
    {
        let mut scope = TransactionScope {
            tx: self.begin().await?,
            _env: PhantomData,
        };
        let result = f(&mut scope).await;
        let tx = scope.tx;
        match result {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(err) => {
                // The closure's error is the one worth reporting; a failed
                // rollback still ends the transaction (the connection drops it).
                if let Err(rollback) = tx.rollback().await {
                    tracing::warn!(
                        database = %self.name,
                        error = %rollback,
                        "rollback after a failed transaction closure also failed"
                    );
                }
                Err(err)
            }
        }
    }

    /// Closes the pool; later calls fail with [`ErrorCode::Closed`](crate::ErrorCode).
    pub async fn close(&self) {
        self.driver.close().await;
    }
}

/// The transaction handed to a [`Database::transaction`] closure: a
/// [`Transaction`] (through `Deref`) whose lifetime `'env` lets the closure's
/// future borrow from the caller's scope.
pub struct TransactionScope<'env> {
    tx: Transaction,
    _env: PhantomData<&'env ()>,
}

impl fmt::Debug for TransactionScope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionScope").finish_non_exhaustive()
    }
}

impl Deref for TransactionScope<'_> {
    type Target = Transaction;
    fn deref(&self) -> &Transaction {
        &self.tx
    }
}

impl DerefMut for TransactionScope<'_> {
    fn deref_mut(&mut self) -> &mut Transaction {
        &mut self.tx
    }
}

/// An open transaction on one connection. Dropping it without
/// [`commit`](Self::commit) rolls back.
pub struct Transaction {
    inner: Box<dyn TransactionDriver>,
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction").finish_non_exhaustive()
    }
}

impl Transaction {
    /// Wraps a provider's transaction (for providers and tests; applications
    /// get one from [`Database::begin`]).
    pub fn from_driver(inner: Box<dyn TransactionDriver>) -> Self {
        Self { inner }
    }

    /// Runs a statement and returns all its rows.
    pub async fn query(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>> {
        check_sql(sql)?;
        self.inner.query(sql, params).await
    }

    /// Runs a statement and returns its first row, if any.
    pub async fn query_one(&mut self, sql: &str, params: &[SqlValue]) -> Result<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs a statement and returns the number of rows it affected.
    pub async fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        check_sql(sql)?;
        self.inner.execute(sql, params).await
    }

    /// Runs several `;`-separated statements without parameters.
    pub async fn execute_script(&mut self, sql: &str) -> Result<()> {
        check_sql(sql)?;
        self.inner.execute_script(sql).await
    }

    /// Makes the transaction's changes durable.
    pub async fn commit(self) -> Result<()> {
        self.inner.commit().await
    }

    /// Discards the transaction's changes.
    pub async fn rollback(self) -> Result<()> {
        self.inner.rollback().await
    }
}

macro_rules! sql_value_from {
    ($($ty:ty => $variant:ident),* $(,)?) => {$(
        impl From<$ty> for SqlValue {
            fn from(value: $ty) -> Self {
                SqlValue::$variant(value.into())
            }
        }
    )*};
}

sql_value_from!(
    bool => Bool,
    i32 => Int,
    i64 => Int,
    f64 => Float,
    String => Text,
    &str => Text,
    Vec<u8> => Bytes,
    serde_json::Value => Json,
);

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(value: Option<T>) -> Self {
        value.map_or(SqlValue::Null, Into::into)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::ErrorCode;
    use crate::sqldb::{SqlDialect, SqlExecutor};

    /// Records every statement that reaches the provider.
    #[derive(Default)]
    struct Recorder {
        seen: Arc<Mutex<Vec<String>>>,
    }

    struct RecorderTx {
        seen: Arc<Mutex<Vec<String>>>,
    }

    const CAPABILITIES: DatabaseCapabilities = DatabaseCapabilities {
        dialect: SqlDialect::Sqlite,
        arrays: false,
        json: false,
    };

    #[async_trait]
    impl DatabaseDriver for Recorder {
        fn capabilities(&self) -> &DatabaseCapabilities {
            &CAPABILITIES
        }
        async fn query(&self, sql: &str, _: &[SqlValue]) -> Result<Vec<Row>> {
            self.seen.lock().unwrap().push(sql.to_owned());
            Ok(Vec::new())
        }
        async fn execute(&self, sql: &str, _: &[SqlValue]) -> Result<u64> {
            self.seen.lock().unwrap().push(sql.to_owned());
            Ok(0)
        }
        async fn begin(&self) -> Result<Box<dyn TransactionDriver>> {
            self.seen.lock().unwrap().push("BEGIN".to_owned());
            Ok(Box::new(RecorderTx {
                seen: self.seen.clone(),
            }))
        }
        async fn close(&self) {}
    }

    #[async_trait]
    impl SqlExecutor for RecorderTx {
        async fn query(&mut self, sql: &str, _: &[SqlValue]) -> Result<Vec<Row>> {
            self.seen.lock().unwrap().push(sql.to_owned());
            Ok(Vec::new())
        }
        async fn execute(&mut self, sql: &str, _: &[SqlValue]) -> Result<u64> {
            self.seen.lock().unwrap().push(sql.to_owned());
            Ok(0)
        }
        async fn execute_script(&mut self, sql: &str) -> Result<()> {
            self.seen.lock().unwrap().push(sql.to_owned());
            Ok(())
        }
    }

    #[async_trait]
    impl TransactionDriver for RecorderTx {
        async fn commit(self: Box<Self>) -> Result<()> {
            Ok(())
        }
        async fn rollback(self: Box<Self>) -> Result<()> {
            Ok(())
        }
    }

    fn refused<T: fmt::Debug>(result: Result<T>, what: &str) {
        match result {
            Err(err) => {
                assert_eq!(err.code(), ErrorCode::InvalidArgument, "{what}: {err}");
                assert!(err.to_string().contains("NUL"), "{what}: {err}");
            }
            Ok(v) => panic!("{what}: expected InvalidArgument, got Ok({v:?})"),
        }
    }

    #[tokio::test]
    async fn nul_in_sql_text_is_refused_before_the_provider_sees_it() {
        let recorder = Recorder::default();
        let seen = recorder.seen.clone();
        let db = Database::new("db", Arc::new(recorder));
        for sql in ["SELECT 1\0", "\0", "SELECT\0 1", "SELECT 1; \0 SELECT 2"] {
            refused(db.query(sql, &[]).await, "query");
            refused(db.query_one(sql, &[]).await, "query_one");
            refused(db.execute(sql, &[]).await, "execute");
            refused(db.execute_script(sql).await, "execute_script");
        }
        assert!(
            seen.lock().unwrap().is_empty(),
            "{:?}",
            seen.lock().unwrap()
        );

        let mut tx = db.begin().await.unwrap();
        refused(tx.query("SELECT 1\0", &[]).await, "tx.query");
        refused(tx.query_one("SELECT 1\0", &[]).await, "tx.query_one");
        refused(tx.execute("SELECT 1\0", &[]).await, "tx.execute");
        refused(tx.execute_script("SELECT 1;\0").await, "tx.execute_script");
        tx.commit().await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            ["BEGIN"],
            "only BEGIN reached the provider"
        );

        // A NUL as bound data is fine, and so is SQL without one.
        db.query("SELECT $1", &[SqlValue::from("a\0b")])
            .await
            .unwrap();
        assert_eq!(seen.lock().unwrap().last().unwrap(), "SELECT $1");
    }
}
