//! Connections lent to one statement at a time, kept warm between them.
//!
//! sqlx's pool tests every connection as it comes back with a round trip to
//! the server (a `Sync`), in a task of its own, because a statement cancelled
//! half-way can leave a connection mid-protocol. For a point query that
//! doubles the round trips and the server's work per statement. Here a
//! connection whose statement finished — with rows or with the server's own
//! error, so the protocol is back at `ReadyForQuery` — goes straight onto a
//! stack for the next statement. Only a connection whose statement was
//! cancelled, or failed on the wire, goes back through sqlx, which tests it
//! and heals or closes it.
//!
//! sqlx still opens every connection (with the current auth token), bounds
//! how many exist and runs transactions; the permits here keep the number
//! lent at the pool's size, so sqlx always has room for a lease that finds
//! the stack empty.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::Connection as _;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool, Postgres};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use strata_core::sync::lock;
use strata_core::{ErrorCode, Result};

use super::errors::map_sqlx_error;

/// Connections idle longer than this are pinged before use: the server may
/// have restarted or closed them meanwhile.
pub(super) const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// The pool's connections, lent out one statement at a time.
#[derive(Debug)]
pub(super) struct Leases {
    pool: PgPool,
    /// Finished connections, most recently used last (and first reused).
    idle: Mutex<Vec<IdleConnection>>,
    /// One per connection the pool may hold; closed when the database is.
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
}

#[derive(Debug)]
struct IdleConnection {
    conn: PoolConnection<Postgres>,
    since: Instant,
}

impl Leases {
    /// Lends connections from `pool`, at most `size` at a time; a caller
    /// waits at most `acquire_timeout` for one.
    pub(super) fn new(pool: PgPool, size: u32, acquire_timeout: Duration) -> Self {
        let size = usize::try_from(size.max(1)).unwrap_or(usize::MAX);
        Self {
            pool,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Arc::new(Semaphore::new(size)),
            acquire_timeout,
        }
    }

    /// The sqlx pool underneath (for connect options and closing).
    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A connection for one statement: the most recently finished one, or a
    /// new one from sqlx when none is idle.
    ///
    /// # Errors
    /// `Closed` once the database is closed; `Unavailable` when no connection
    /// came within the acquire timeout or the server cannot be reached.
    pub(super) async fn lease(&self) -> Result<Lease<'_>> {
        let permit = self.permit().await?;
        let conn = self.connection().await?;
        Ok(Lease {
            leases: self,
            conn: Some(conn),
            permit: Some(permit),
            reusable: false,
        })
    }

    /// A connection and its permit for a transaction. The connection goes
    /// back through sqlx when the transaction ends; the permit is released
    /// when the caller drops it.
    pub(super) async fn lease_for_transaction(
        &self,
    ) -> Result<(PoolConnection<Postgres>, OwnedSemaphorePermit)> {
        let permit = self.permit().await?;
        Ok((self.connection().await?, permit))
    }

    /// Stops lending (callers get `Closed`) and closes the idle connections.
    /// Connections lent out close when they come back.
    pub(super) async fn close(&self) {
        self.permits.close();
        let idle = std::mem::take(&mut *self.lock_idle());
        for entry in idle {
            if let Err(err) = entry.conn.close().await {
                tracing::debug!(error = %err, "closing an idle PostgreSQL connection failed");
            }
        }
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit> {
        match tokio::time::timeout(self.acquire_timeout, self.permits.clone().acquire_owned()).await
        {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(map_sqlx_error(sqlx::Error::PoolClosed)),
            Err(_elapsed) => Err(map_sqlx_error(sqlx::Error::PoolTimedOut)),
        }
    }

    async fn connection(&self) -> Result<PoolConnection<Postgres>> {
        loop {
            let Some(mut entry) = self.lock_idle().pop() else {
                return self.pool.acquire().await.map_err(map_sqlx_error);
            };
            if entry.since.elapsed() < PING_IDLE_AFTER || entry.conn.ping().await.is_ok() {
                return Ok(entry.conn);
            }
            // Dead (the server restarted or dropped it): close it and try the next.
            entry.conn.close_on_drop();
        }
    }

    fn give_back(&self, conn: PoolConnection<Postgres>) {
        // Checked under the lock: `close` closes the permits before it
        // empties the stack, so a connection is either emptied out with the
        // others or never pushed.
        let mut idle = self.lock_idle();
        if self.permits.is_closed() {
            return; // dropped: sqlx closes it, the pool being closed
        }
        idle.push(IdleConnection {
            conn,
            since: Instant::now(),
        });
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<IdleConnection>> {
        // The lock guards only pushes and pops, which cannot panic half-way.
        lock(&self.idle)
    }
}

/// A connection lent for one statement. Unless [`finished`](Self::finished)
/// says the protocol is back at rest, dropping it sends the connection back
/// through sqlx to be tested.
#[derive(Debug)]
pub(super) struct Lease<'a> {
    leases: &'a Leases,
    conn: Option<PoolConnection<Postgres>>,
    permit: Option<OwnedSemaphorePermit>,
    reusable: bool,
}

impl Lease<'_> {
    /// The connection.
    pub(super) fn conn(&mut self) -> &mut PgConnection {
        match self.conn.as_mut() {
            Some(conn) => conn,
            None => unreachable!("a lease holds its connection until dropped"),
        }
    }

    /// Records how the statement ended: a result, or an error that leaves
    /// the connection at rest (the server's own error, or one raised before
    /// anything was sent), marks it reusable at once.
    pub(super) fn finished<T>(&mut self, result: Result<T>) -> Result<T> {
        self.reusable = match &result {
            Ok(_) => true,
            Err(err) => leaves_connection_at_rest(err.code()),
        };
        result
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // A connection not given back is dropped here, which hands it to
        // sqlx to be tested.
        if let Some(conn) = self.conn.take()
            && self.reusable
        {
            self.leases.give_back(conn);
        }
        // The permit goes last, so whoever it wakes finds the connection.
        drop(self.permit.take());
    }
}

/// Errors the server reported (its connection then waits for the next
/// statement) and errors raised before anything was sent. Wire failures,
/// timeouts and unexpected states may leave a reply unread.
fn leaves_connection_at_rest(code: ErrorCode) -> bool {
    !matches!(
        code,
        ErrorCode::Unavailable | ErrorCode::Timeout | ErrorCode::Internal | ErrorCode::Closed
    )
}
