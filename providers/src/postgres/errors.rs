//! Maps sqlx / PostgreSQL errors to portable [`ErrorCode`]s, keeping the
//! SQLSTATE and its condition name in the message
//! (`PostgreSQL 23505 unique_violation: duplicate key value …`).
//!
//! | SQLSTATE | code | why |
//! | --- | --- | --- |
//! | `23505` unique violation | `Conflict` | someone else has that key (as on SQLite) |
//! | other `23…` constraint violations | `InvalidArgument` | the data is wrong |
//! | `22…` data exceptions (too long, out of range, bad text) | `InvalidArgument` | |
//! | `42501` insufficient privilege | `PermissionDenied` | |
//! | other `42…` syntax, undefined table/column/function | `InvalidArgument` | the SQL is wrong; a missing table is a bug in the SQL or a missing migration, not a missing row, so not `NotFound` (the same on SQLite) |
//! | `3D000` database does not exist | `NotFound` | the configured database is missing |
//! | `28…` authentication | `PermissionDenied` | |
//! | `40001` serialization failure, `40P01` deadlock | `Conflict` | retry the transaction |
//! | `08…` connection, `57P01..03` shutdown / starting, `53300` too many connections | `Unavailable` | retrying later may help |
//! | `57014` statement timeout / cancel | `Timeout` | |
//! | `53…` disk full, out of memory | `ResourceExhausted` | |
//! | `0A000` feature not supported | `Unsupported` | |
//! | I/O errors, pool timeouts, a crashed worker | `Unavailable` | |
//! | TLS failures | `InvalidConfig` | a wrong CA or `ssl_mode`; retrying does not help |
//! | a closed pool | `Closed` | |

use sqlx::error::DatabaseError;
use sqlx::postgres::PgDatabaseError;
use strata_core::{Error, ErrorCode};

/// The portable error for a sqlx error, keeping it as the source.
pub(crate) fn map_sqlx_error(err: sqlx::Error) -> Error {
    let (code, message) = describe(&err);
    Error::new(code, message).with_source(err)
}

/// The code and message for a sqlx error (without attaching it).
pub(crate) fn describe(err: &sqlx::Error) -> (ErrorCode, String) {
    match err {
        sqlx::Error::Database(db) => database_error(db.as_ref()),
        sqlx::Error::PoolClosed => (
            ErrorCode::Closed,
            "the PostgreSQL database is closed".to_owned(),
        ),
        sqlx::Error::PoolTimedOut => (
            ErrorCode::Unavailable,
            "timed out waiting for a PostgreSQL connection: the server is unreachable or every \
             pooled connection is busy"
                .to_owned(),
        ),
        // rustls reports a failed handshake (an untrusted or mismatched
        // certificate) as invalid data on the socket.
        sqlx::Error::Io(e) if is_tls_failure(e) => (
            ErrorCode::InvalidConfig,
            format!("TLS with PostgreSQL failed: {e} (check ssl_mode and ssl_root_cert)"),
        ),
        sqlx::Error::Io(e) => (
            ErrorCode::Unavailable,
            format!("cannot reach PostgreSQL: {e}"),
        ),
        sqlx::Error::Tls(e) => (
            ErrorCode::InvalidConfig,
            format!("TLS with PostgreSQL failed: {e} (check ssl_mode and ssl_root_cert)"),
        ),
        sqlx::Error::Configuration(e) => (
            ErrorCode::InvalidConfig,
            format!("PostgreSQL connection settings: {e}"),
        ),
        sqlx::Error::WorkerCrashed => (
            ErrorCode::Unavailable,
            "the PostgreSQL connection worker stopped".to_owned(),
        ),
        sqlx::Error::Encode(e) => (
            ErrorCode::InvalidArgument,
            format!("cannot encode a parameter for PostgreSQL: {e}"),
        ),
        other => (ErrorCode::Internal, format!("PostgreSQL: {other}")),
    }
}

fn is_tls_failure(err: &std::io::Error) -> bool {
    let text = err.to_string();
    err.kind() == std::io::ErrorKind::InvalidData
        && ["certificate", "TLS", "tls", "handshake", "peer"]
            .iter()
            .any(|word| text.contains(word))
}

fn database_error(db: &dyn DatabaseError) -> (ErrorCode, String) {
    let sqlstate = db.code().map(|c| c.into_owned()).unwrap_or_default();
    let code = code_for_sqlstate(&sqlstate);
    let mut message = match condition_name(&sqlstate) {
        Some(name) => format!("PostgreSQL {sqlstate} {name}: {}", db.message()),
        None => format!("PostgreSQL {sqlstate}: {}", db.message()),
    };
    if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
        if let Some(detail) = pg.detail() {
            message.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = pg.hint() {
            message.push_str(&format!(" hint: {hint}"));
        }
    }
    (code, message)
}

/// The portable code for a SQLSTATE (see the module table).
pub(crate) fn code_for_sqlstate(sqlstate: &str) -> ErrorCode {
    match sqlstate {
        "23505" => ErrorCode::Conflict,
        "42501" => ErrorCode::PermissionDenied,
        "3D000" => ErrorCode::NotFound,
        "40001" | "40P01" => ErrorCode::Conflict,
        "57P01" | "57P02" | "57P03" | "53300" => ErrorCode::Unavailable,
        "57014" => ErrorCode::Timeout,
        "0A000" => ErrorCode::Unsupported,
        "08P01" => ErrorCode::Internal,
        _ => match sqlstate.get(..2).unwrap_or_default() {
            "22" | "23" | "42" | "2B" | "21" | "25" | "26" | "34" | "44" | "54" | "P0" => {
                ErrorCode::InvalidArgument
            }
            "28" => ErrorCode::PermissionDenied,
            "40" => ErrorCode::Conflict,
            "08" | "57" => ErrorCode::Unavailable,
            "53" => ErrorCode::ResourceExhausted,
            "55" => ErrorCode::Conflict,
            _ => ErrorCode::Internal,
        },
    }
}

/// PostgreSQL's condition names for the SQLSTATEs applications meet most.
fn condition_name(sqlstate: &str) -> Option<&'static str> {
    Some(match sqlstate {
        "08000" => "connection_exception",
        "08003" => "connection_does_not_exist",
        "08006" => "connection_failure",
        "08P01" => "protocol_violation",
        "0A000" => "feature_not_supported",
        "21000" => "cardinality_violation",
        "22001" => "string_data_right_truncation",
        "22003" => "numeric_value_out_of_range",
        "22007" => "invalid_datetime_format",
        "22008" => "datetime_field_overflow",
        "22012" => "division_by_zero",
        "22P02" => "invalid_text_representation",
        "22P05" => "untranslatable_character",
        "23502" => "not_null_violation",
        "23503" => "foreign_key_violation",
        "23505" => "unique_violation",
        "23514" => "check_violation",
        "23P01" => "exclusion_violation",
        "25P02" => "in_failed_sql_transaction",
        "28000" => "invalid_authorization_specification",
        "28P01" => "invalid_password",
        "3D000" => "invalid_catalog_name",
        "3F000" => "invalid_schema_name",
        "40001" => "serialization_failure",
        "40P01" => "deadlock_detected",
        "42501" => "insufficient_privilege",
        "42601" => "syntax_error",
        "42703" => "undefined_column",
        "42704" => "undefined_object",
        "42804" => "datatype_mismatch",
        "42809" => "wrong_object_type",
        "42883" => "undefined_function",
        "42P01" => "undefined_table",
        "42P02" => "undefined_parameter",
        "42P07" => "duplicate_table",
        "42P18" => "indeterminate_datatype",
        "53100" => "disk_full",
        "53200" => "out_of_memory",
        "53300" => "too_many_connections",
        "55P03" => "lock_not_available",
        "57014" => "query_canceled",
        "57P01" => "admin_shutdown",
        "57P02" => "crash_shutdown",
        "57P03" => "cannot_connect_now",
        "P0001" => "raise_exception",
        "XX000" => "internal_error",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_portable_codes() {
        for (sqlstate, code) in [
            ("23505", ErrorCode::Conflict),
            ("23503", ErrorCode::InvalidArgument),
            ("23502", ErrorCode::InvalidArgument),
            ("23514", ErrorCode::InvalidArgument),
            ("42601", ErrorCode::InvalidArgument),
            ("42P01", ErrorCode::InvalidArgument),
            ("42883", ErrorCode::InvalidArgument),
            ("42501", ErrorCode::PermissionDenied),
            ("22001", ErrorCode::InvalidArgument),
            ("22003", ErrorCode::InvalidArgument),
            ("28P01", ErrorCode::PermissionDenied),
            ("28000", ErrorCode::PermissionDenied),
            ("3D000", ErrorCode::NotFound),
            ("40001", ErrorCode::Conflict),
            ("40P01", ErrorCode::Conflict),
            ("57P01", ErrorCode::Unavailable),
            ("08006", ErrorCode::Unavailable),
            ("53300", ErrorCode::Unavailable),
            ("53100", ErrorCode::ResourceExhausted),
            ("57014", ErrorCode::Timeout),
            ("0A000", ErrorCode::Unsupported),
            ("XX000", ErrorCode::Internal),
            ("", ErrorCode::Internal),
        ] {
            assert_eq!(code_for_sqlstate(sqlstate), code, "{sqlstate}");
        }
    }

    #[test]
    fn pool_and_io_failures_are_unavailable_and_closed_is_closed() {
        assert_eq!(
            describe(&sqlx::Error::PoolTimedOut).0,
            ErrorCode::Unavailable
        );
        assert_eq!(describe(&sqlx::Error::PoolClosed).0, ErrorCode::Closed);
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(describe(&sqlx::Error::Io(io)).0, ErrorCode::Unavailable);
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "invalid peer certificate: BadSignature",
        );
        assert_eq!(describe(&sqlx::Error::Io(tls)).0, ErrorCode::InvalidConfig);
    }
}
