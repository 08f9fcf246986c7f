//! Maps sqlx / SQLite errors to portable [`ErrorCode`]s.
//!
//! Constraint violations follow what PostgreSQL's SQLSTATE class 23 maps to,
//! so code behaves the same on both: a unique or primary-key violation is
//! `Conflict` (someone else has that key), every other constraint (foreign
//! key, check, not null) is `InvalidArgument` (the data is wrong).

use sqlx::error::{DatabaseError, ErrorKind};
use strata_core::{Error, ErrorCode};

// SQLite primary result codes (https://www.sqlite.org/rescode.html).
const SQLITE_ERROR: i32 = 1;
const SQLITE_PERM: i32 = 3;
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_NOMEM: i32 = 7;
const SQLITE_READONLY: i32 = 8;
const SQLITE_INTERRUPT: i32 = 9;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_TOOBIG: i32 = 18;
const SQLITE_CONSTRAINT: i32 = 19;
const SQLITE_MISMATCH: i32 = 20;
const SQLITE_AUTH: i32 = 23;
const SQLITE_RANGE: i32 = 25;

/// The portable error for a sqlx error, keeping it as the source.
pub(crate) fn map_sqlx_error(err: sqlx::Error) -> Error {
    let (code, message) = match &err {
        sqlx::Error::Database(db) => (
            database_code(db.as_ref()),
            format!("SQLite: {}", db.message()),
        ),
        sqlx::Error::PoolClosed => (
            ErrorCode::Closed,
            "the SQLite database is closed".to_owned(),
        ),
        sqlx::Error::PoolTimedOut => (
            ErrorCode::Timeout,
            "timed out waiting for a pooled SQLite connection".to_owned(),
        ),
        sqlx::Error::Io(e) => (ErrorCode::Unavailable, format!("SQLite I/O error: {e}")),
        sqlx::Error::Configuration(e) => (
            ErrorCode::InvalidConfig,
            format!("SQLite configuration: {e}"),
        ),
        sqlx::Error::WorkerCrashed => (
            ErrorCode::Unavailable,
            "the SQLite connection worker stopped".to_owned(),
        ),
        other => (ErrorCode::Internal, format!("SQLite: {other}")),
    };
    Error::new(code, message).with_source(err)
}

fn database_code(db: &dyn DatabaseError) -> ErrorCode {
    match db.kind() {
        ErrorKind::UniqueViolation => return ErrorCode::Conflict,
        ErrorKind::ForeignKeyViolation
        | ErrorKind::NotNullViolation
        | ErrorKind::CheckViolation => {
            return ErrorCode::InvalidArgument;
        }
        _ => {}
    }
    // sqlx reports the extended result code; its low byte is the primary one.
    let extended = db
        .code()
        .and_then(|c| c.parse::<i32>().ok())
        .unwrap_or(SQLITE_ERROR);
    match extended & 0xff {
        // SQLITE_ERROR is a syntax error, a missing table or column, …
        SQLITE_ERROR | SQLITE_CONSTRAINT | SQLITE_MISMATCH | SQLITE_RANGE | SQLITE_TOOBIG => {
            ErrorCode::InvalidArgument
        }
        SQLITE_BUSY | SQLITE_LOCKED | SQLITE_IOERR | SQLITE_CANTOPEN | SQLITE_INTERRUPT => {
            ErrorCode::Unavailable
        }
        SQLITE_PERM | SQLITE_READONLY | SQLITE_AUTH => ErrorCode::PermissionDenied,
        SQLITE_FULL | SQLITE_NOMEM => ErrorCode::ResourceExhausted,
        _ => ErrorCode::Internal,
    }
}
