//! Binding [`SqlValue`]s to SQLite and decoding rows back into them.
//!
//! See the [module docs](super) for how each type is stored and read.

use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteRow};
use sqlx::{Row as _, TypeInfo as _, ValueRef as _};
use strata_core::sqldb::SqlValue;
use strata_core::sqldb::literals::{canonical_uuid, is_decimal, uuid_from_bytes};
use strata_core::sqldb::timestamp::{timestamp_from_rfc3339, timestamp_to_rfc3339};
use strata_core::{Error, Result};

/// A query with its arguments, as sqlx builds it.
pub(crate) type SqliteQuery = sqlx::query::Query<'static, Sqlite, SqliteArguments>;

/// How a column's values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    /// By storage class.
    Storage,
    Bool,
    Json,
    Timestamp,
    Uuid,
    Numeric,
}

/// The kind for a declared column type, e.g. `"TIMESTAMPTZ"` or `"decimal(10,2)"`.
pub(crate) fn kind_of_declared(declared: &str) -> ColumnKind {
    let upper = declared.trim().to_ascii_uppercase();
    let base = upper.split(['(', ' ']).next().unwrap_or_default();
    match base {
        "BOOLEAN" | "BOOL" => ColumnKind::Bool,
        "JSON" | "JSONB" => ColumnKind::Json,
        "TIMESTAMP" | "TIMESTAMPTZ" | "DATETIME" => ColumnKind::Timestamp,
        "UUID" => ColumnKind::Uuid,
        "NUMERIC" | "DECIMAL" => ColumnKind::Numeric,
        _ => ColumnKind::Storage,
    }
}

/// Binds one value; `InvalidArgument` for what SQLite cannot store.
pub(crate) fn bind(query: SqliteQuery, value: &SqlValue, position: usize) -> Result<SqliteQuery> {
    Ok(match value {
        SqlValue::Null => query.bind(None::<i64>),
        SqlValue::Bool(b) => query.bind(i64::from(*b)),
        SqlValue::Int(i) => query.bind(*i),
        SqlValue::Float(f) if f.is_nan() => {
            // SQLite would store NULL in its place.
            return Err(Error::invalid_argument(format!(
                "parameter ${position}: SQLite cannot store NaN (it would become NULL)"
            )));
        }
        SqlValue::Float(f) => query.bind(*f),
        SqlValue::Numeric(text) => {
            if !is_decimal(text) {
                return Err(Error::invalid_argument(format!(
                    "parameter ${position}: {text:?} is not a decimal number"
                )));
            }
            query.bind(text.clone())
        }
        SqlValue::Text(text) => query.bind(text.clone()),
        SqlValue::Bytes(bytes) => query.bind(bytes.clone()),
        SqlValue::Json(json) => query.bind(json.to_string()),
        SqlValue::Timestamp(micros) => query.bind(timestamp_text(*micros)),
        SqlValue::Uuid(text) => match canonical_uuid(text) {
            Some(uuid) => query.bind(uuid),
            None => {
                return Err(Error::invalid_argument(format!(
                    "parameter ${position}: {text:?} is not a UUID"
                )));
            }
        },
        SqlValue::Array(_) => {
            return Err(Error::invalid_argument(format!(
                "parameter ${position}: SQLite has no array type; bind the elements \
                 separately or store them as SqlValue::Json"
            )));
        }
    })
}

/// SQLite's date format: `YYYY-MM-DD HH:MM:SS.ffffff` (UTC, no zone suffix).
pub(crate) fn timestamp_text(micros: i64) -> String {
    let mut text = timestamp_to_rfc3339(micros);
    text.pop(); // the trailing `Z`
    text.replacen('T', " ", 1)
}

/// Reads column `index` of `row` as a `kind` column.
pub(crate) fn decode(row: &SqliteRow, index: usize, kind: ColumnKind) -> Result<SqlValue> {
    let stored = decode_storage(row, index)?;
    Ok(match (kind, stored) {
        (_, SqlValue::Null) => SqlValue::Null,
        (ColumnKind::Bool, SqlValue::Int(i)) => SqlValue::Bool(i != 0),
        (ColumnKind::Json, SqlValue::Text(text)) => match serde_json::from_str(&text) {
            Ok(json) => SqlValue::Json(json),
            Err(_) => SqlValue::Text(text),
        },
        // A JSON column has NUMERIC affinity: bare JSON numbers arrive converted.
        (ColumnKind::Json, SqlValue::Int(i)) => SqlValue::Json(i.into()),
        (ColumnKind::Json, SqlValue::Float(f)) => {
            serde_json::Number::from_f64(f).map_or(SqlValue::Float(f), |n| SqlValue::Json(n.into()))
        }
        (ColumnKind::Timestamp, SqlValue::Text(text)) => match timestamp_from_rfc3339(&text) {
            Some(micros) => SqlValue::Timestamp(micros),
            None => SqlValue::Text(text),
        },
        (ColumnKind::Uuid, SqlValue::Text(text)) => match canonical_uuid(&text) {
            Some(uuid) => SqlValue::Uuid(uuid),
            None => SqlValue::Text(text),
        },
        (ColumnKind::Uuid, SqlValue::Bytes(bytes)) => match <[u8; 16]>::try_from(bytes) {
            Ok(uuid) => SqlValue::Uuid(uuid_from_bytes(&uuid)),
            Err(bytes) => SqlValue::Bytes(bytes),
        },
        (ColumnKind::Numeric, SqlValue::Int(i)) => SqlValue::Numeric(i.to_string()),
        (ColumnKind::Numeric, SqlValue::Float(f)) if f.is_finite() => {
            SqlValue::Numeric(f.to_string())
        }
        (ColumnKind::Numeric, SqlValue::Text(text)) if is_decimal(&text) => SqlValue::Numeric(text),
        (_, other) => other,
    })
}

/// The value by storage class.
fn decode_storage(row: &SqliteRow, index: usize) -> Result<SqlValue> {
    let decode_err = |e: sqlx::Error| {
        Error::internal(format!("cannot decode column {index} of a SQLite row")).with_source(e)
    };
    let raw = row.try_get_raw(index).map_err(decode_err)?;
    if raw.is_null() {
        return Ok(SqlValue::Null);
    }
    let storage = raw.type_info().name().to_owned();
    Ok(match storage.as_str() {
        "INTEGER" => SqlValue::Int(row.try_get_unchecked(index).map_err(decode_err)?),
        "REAL" => SqlValue::Float(row.try_get_unchecked(index).map_err(decode_err)?),
        "BLOB" => SqlValue::Bytes(row.try_get_unchecked(index).map_err(decode_err)?),
        _ => match row.try_get_unchecked::<String, _>(index) {
            Ok(text) => SqlValue::Text(text),
            // TEXT that is not UTF-8 (made with CAST(blob AS TEXT)): keep the bytes.
            Err(_) => SqlValue::Bytes(row.try_get_unchecked(index).map_err(decode_err)?),
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_map_to_kinds() {
        for (declared, kind) in [
            ("BOOLEAN", ColumnKind::Bool),
            ("bool", ColumnKind::Bool),
            ("JSONB", ColumnKind::Json),
            ("json", ColumnKind::Json),
            ("TIMESTAMPTZ", ColumnKind::Timestamp),
            ("timestamp", ColumnKind::Timestamp),
            ("TIMESTAMP WITH TIME ZONE", ColumnKind::Timestamp),
            ("DateTime", ColumnKind::Timestamp),
            ("UUID", ColumnKind::Uuid),
            ("NUMERIC", ColumnKind::Numeric),
            ("decimal(10, 2)", ColumnKind::Numeric),
            ("TEXT", ColumnKind::Storage),
            ("BIGINT", ColumnKind::Storage),
            ("DATE", ColumnKind::Storage),
            ("", ColumnKind::Storage),
        ] {
            assert_eq!(kind_of_declared(declared), kind, "{declared}");
        }
    }

    #[test]
    fn timestamps_use_sqlite_date_format() {
        assert_eq!(timestamp_text(0), "1970-01-01 00:00:00.000000");
        let micros = 1_700_000_000_123_456;
        assert_eq!(
            timestamp_from_rfc3339(&timestamp_text(micros)),
            Some(micros)
        );
    }
}
