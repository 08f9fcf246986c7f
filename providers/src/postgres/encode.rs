//! [`SqlValue`] → PostgreSQL binary parameters, for the type PostgreSQL
//! inferred for each placeholder.
//!
//! A value converts to its placeholder's type where the meaning is exact and
//! obvious (an `Int` for a `numeric`, a `Text` holding a UUID for a `uuid`, an
//! integral `Float` for a `bigint`); anything lossy or ambiguous is an
//! `InvalidArgument` naming the parameter, its type and the value.

use strata_core::sqldb::SqlValue;
use strata_core::sqldb::literals::uuid_to_bytes;
use strata_core::sqldb::timestamp::{timestamp_from_rfc3339, timestamp_to_rfc3339};
use strata_core::{Error, Result};

use super::numeric::encode_numeric;
use super::types::PgKind;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
pub(crate) const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from the Unix epoch to PostgreSQL's.
pub(crate) const PG_EPOCH_DAYS: i64 = 10_957;
pub(crate) const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The binary form of `value` for parameter `$position` of type `kind`
/// (named `type_name` in errors); `None` for SQL `NULL`.
pub(crate) fn encode_param(
    value: &SqlValue,
    kind: &PgKind,
    type_name: impl std::fmt::Display,
    position: usize,
) -> Result<Option<Vec<u8>>> {
    if matches!(value, SqlValue::Null) {
        return Ok(None);
    }
    let mut out = Vec::new();
    encode_value(value, kind, &mut out).map_err(|why| {
        Error::invalid_argument(format!("parameter ${position} has type {type_name}: {why}"))
    })?;
    Ok(Some(out))
}

fn encode_value(value: &SqlValue, kind: &PgKind, out: &mut Vec<u8>) -> Result<(), String> {
    match kind {
        PgKind::Array {
            element,
            element_oid,
        } => match value {
            SqlValue::Array(items) => encode_array(items, element, *element_oid, out),
            other => Err(format!("expected an array, got {}", describe(other))),
        },
        PgKind::Unsupported(name) => Err(format!(
            "Strata has no binary codec for {name}; cast the placeholder in SQL, \
             e.g. `$n::text::{name}`, and bind text"
        )),
        scalar => encode_scalar(value, scalar, out),
    }
}

fn encode_scalar(value: &SqlValue, kind: &PgKind, out: &mut Vec<u8>) -> Result<(), String> {
    match kind {
        PgKind::Bool => out.push(u8::from(as_bool(value)?)),
        PgKind::Int2 => {
            let i = as_i64(value)?;
            let v = i16::try_from(i).map_err(|_| format!("{i} is out of range for smallint"))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        PgKind::Int4 => {
            let i = as_i64(value)?;
            let v = i32::try_from(i).map_err(|_| format!("{i} is out of range for integer"))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        PgKind::Int8 => out.extend_from_slice(&as_i64(value)?.to_be_bytes()),
        PgKind::Oid => {
            let i = as_i64(value)?;
            let v = u32::try_from(i).map_err(|_| format!("{i} is out of range for oid"))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        PgKind::Float4 => {
            let f = as_f64(value)?;
            #[allow(clippy::cast_possible_truncation)] // range checked below
            let v = f as f32;
            if f.is_finite() && !v.is_finite() {
                return Err(format!("{f} is out of range for real"));
            }
            out.extend_from_slice(&v.to_be_bytes());
        }
        PgKind::Float8 => out.extend_from_slice(&as_f64(value)?.to_be_bytes()),
        PgKind::Numeric => {
            let text = as_decimal_text(value)?;
            let bytes = encode_numeric(&text)
                .ok_or_else(|| format!("{text:?} is not a decimal number in numeric's range"))?;
            out.extend_from_slice(&bytes);
        }
        PgKind::Text => out.extend_from_slice(as_text(value)?.as_bytes()),
        PgKind::Bytea => match value {
            SqlValue::Bytes(bytes) => out.extend_from_slice(bytes),
            other => return Err(format!("expected Bytes, got {}", describe(other))),
        },
        PgKind::Uuid => {
            let text = match value {
                SqlValue::Uuid(t) | SqlValue::Text(t) => t,
                other => return Err(format!("expected a UUID, got {}", describe(other))),
            };
            let bytes = uuid_to_bytes(text).ok_or_else(|| format!("{text:?} is not a UUID"))?;
            out.extend_from_slice(&bytes);
        }
        PgKind::Timestamp | PgKind::Timestamptz => {
            let micros = as_timestamp(value)?;
            let pg = match micros {
                i64::MAX | i64::MIN => micros, // ±infinity
                _ => micros
                    .checked_sub(PG_EPOCH_MICROS)
                    .ok_or_else(|| format!("{micros} µs is out of range for a timestamp"))?,
            };
            out.extend_from_slice(&pg.to_be_bytes());
        }
        PgKind::Date => {
            let micros = as_timestamp(value)?;
            if micros.rem_euclid(MICROS_PER_DAY) != 0 {
                return Err(format!(
                    "{} is not midnight UTC, so it is not a date",
                    timestamp_to_rfc3339(micros)
                ));
            }
            let days = micros.div_euclid(MICROS_PER_DAY) - PG_EPOCH_DAYS;
            let days = i32::try_from(days).map_err(|_| "the date is out of range".to_owned())?;
            out.extend_from_slice(&days.to_be_bytes());
        }
        PgKind::Time => {
            let text = match value {
                SqlValue::Text(t) => t,
                other => return Err(format!("expected Text `HH:MM:SS`, got {}", describe(other))),
            };
            let micros =
                parse_time(text).ok_or_else(|| format!("{text:?} is not a time of day"))?;
            out.extend_from_slice(&micros.to_be_bytes());
        }
        PgKind::Json | PgKind::Jsonb => {
            if *kind == PgKind::Jsonb {
                out.push(1); // jsonb binary format version
            }
            out.extend_from_slice(as_json_text(value)?.as_bytes());
        }
        PgKind::Void | PgKind::Array { .. } | PgKind::Unsupported(_) => {
            return Err(format!("cannot bind {}", describe(value)));
        }
    }
    Ok(())
}

/// `ndim, has_null, element oid, (length, lower bound) per dimension`, then
/// each element with its length (`-1` for NULL). Nested arrays become the
/// dimensions of a multi-dimensional array and must be rectangular.
fn encode_array(
    items: &[SqlValue],
    element: &PgKind,
    element_oid: u32,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let mut dims = Vec::new();
    let mut level = items;
    loop {
        dims.push(level.len());
        match level.first() {
            Some(SqlValue::Array(inner)) => level = inner,
            _ => break,
        }
    }
    let mut leaves = Vec::new();
    flatten(items, &dims, &mut leaves)?;
    let ndim = if items.is_empty() { 0 } else { dims.len() };
    let has_null = leaves.iter().any(|v| matches!(v, SqlValue::Null));
    let i32_of = |n: usize| i32::try_from(n).map_err(|_| "the array is too large".to_owned());
    out.extend_from_slice(&i32_of(ndim)?.to_be_bytes());
    out.extend_from_slice(&i32::from(has_null).to_be_bytes());
    out.extend_from_slice(&element_oid.to_be_bytes());
    for dim in dims.iter().take(ndim) {
        out.extend_from_slice(&i32_of(*dim)?.to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
    }
    for (i, leaf) in leaves.iter().enumerate() {
        if matches!(leaf, SqlValue::Null) {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            continue;
        }
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        encode_scalar(leaf, element, out).map_err(|why| format!("element {i}: {why}"))?;
        let len = i32_of(out.len() - at - 4)?;
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

fn flatten<'a>(
    items: &'a [SqlValue],
    dims: &[usize],
    leaves: &mut Vec<&'a SqlValue>,
) -> Result<(), String> {
    let ragged = || "nested arrays must all have the same length".to_owned();
    let (&len, rest) = dims.split_first().ok_or_else(ragged)?;
    if items.len() != len {
        return Err(ragged());
    }
    for item in items {
        match (item, rest.is_empty()) {
            (SqlValue::Array(inner), false) => flatten(inner, rest, leaves)?,
            (SqlValue::Array(_), true) => return Err(ragged()),
            (_, false) => return Err(ragged()),
            (leaf, true) => leaves.push(leaf),
        }
    }
    Ok(())
}

/// A short description of a value for error messages (never the whole of a
/// large value).
pub(crate) fn describe(value: &SqlValue) -> String {
    let shown = match value {
        SqlValue::Text(t) | SqlValue::Numeric(t) | SqlValue::Uuid(t) => format!("{t:?}"),
        SqlValue::Bytes(b) => format!("{} bytes", b.len()),
        SqlValue::Array(items) => format!("{} elements", items.len()),
        SqlValue::Json(j) => j.to_string(),
        SqlValue::Int(i) => i.to_string(),
        SqlValue::Float(f) => f.to_string(),
        SqlValue::Bool(b) => b.to_string(),
        SqlValue::Timestamp(t) => timestamp_to_rfc3339(*t),
        SqlValue::Null => return "NULL".to_owned(),
    };
    let variant = match value {
        SqlValue::Null => "Null",
        SqlValue::Bool(_) => "Bool",
        SqlValue::Int(_) => "Int",
        SqlValue::Float(_) => "Float",
        SqlValue::Numeric(_) => "Numeric",
        SqlValue::Text(_) => "Text",
        SqlValue::Bytes(_) => "Bytes",
        SqlValue::Json(_) => "Json",
        SqlValue::Timestamp(_) => "Timestamp",
        SqlValue::Uuid(_) => "Uuid",
        SqlValue::Array(_) => "Array",
    };
    if shown.chars().count() > 48 {
        let cut: String = shown.chars().take(47).collect();
        format!("{variant} {cut}…")
    } else {
        format!("{variant} {shown}")
    }
}

fn as_i64(value: &SqlValue) -> Result<i64, String> {
    let not_integer = || format!("expected an integer, got {}", describe(value));
    match value {
        SqlValue::Int(i) => Ok(*i),
        SqlValue::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => {
            #[allow(clippy::cast_possible_truncation)] // integral and in range
            Ok(*f as i64)
        }
        SqlValue::Numeric(t) | SqlValue::Text(t) => t.trim().parse().map_err(|_| not_integer()),
        _ => Err(not_integer()),
    }
}

fn as_f64(value: &SqlValue) -> Result<f64, String> {
    match value {
        SqlValue::Float(f) => Ok(*f),
        #[allow(clippy::cast_precision_loss)] // as PostgreSQL's int8 → float8 cast
        SqlValue::Int(i) => Ok(*i as f64),
        SqlValue::Numeric(t) | SqlValue::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| format!("expected a number, got {}", describe(value))),
        _ => Err(format!("expected a number, got {}", describe(value))),
    }
}

fn as_bool(value: &SqlValue) -> Result<bool, String> {
    match value {
        SqlValue::Bool(b) => Ok(*b),
        SqlValue::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => Ok(true),
            "f" | "false" | "n" | "no" | "off" | "0" => Ok(false),
            _ => Err(format!("expected a boolean, got {}", describe(value))),
        },
        _ => Err(format!("expected a boolean, got {}", describe(value))),
    }
}

fn as_decimal_text(value: &SqlValue) -> Result<String, String> {
    match value {
        SqlValue::Numeric(t) | SqlValue::Text(t) => Ok(t.trim().to_owned()),
        SqlValue::Int(i) => Ok(i.to_string()),
        // Display prints the shortest text that reads back as the same f64.
        SqlValue::Float(f) if f.is_finite() => Ok(f.to_string()),
        SqlValue::Float(f) if f.is_nan() => Ok("NaN".to_owned()),
        SqlValue::Float(f) => Ok(if *f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()),
        other => Err(format!(
            "expected a decimal number, got {}",
            describe(other)
        )),
    }
}

/// PostgreSQL's own text form of a scalar, for `text` placeholders (the type
/// PostgreSQL picks for a placeholder with no other context).
fn as_text(value: &SqlValue) -> Result<String, String> {
    Ok(match value {
        SqlValue::Text(t) | SqlValue::Numeric(t) | SqlValue::Uuid(t) => t.clone(),
        SqlValue::Int(i) => i.to_string(),
        SqlValue::Float(f) => f.to_string(),
        SqlValue::Bool(b) => b.to_string(),
        SqlValue::Timestamp(t) => timestamp_to_rfc3339(*t),
        SqlValue::Json(j) => j.to_string(),
        other => return Err(format!("expected text, got {}", describe(other))),
    })
}

fn as_timestamp(value: &SqlValue) -> Result<i64, String> {
    match value {
        SqlValue::Timestamp(micros) => Ok(*micros),
        SqlValue::Text(t) => match t.trim() {
            "infinity" => Ok(i64::MAX),
            "-infinity" => Ok(i64::MIN),
            trimmed => timestamp_from_rfc3339(trimmed)
                .ok_or_else(|| format!("{t:?} is not an RFC 3339 timestamp")),
        },
        other => Err(format!("expected a Timestamp, got {}", describe(other))),
    }
}

/// JSON text for a `json`/`jsonb` placeholder. `Text` must already be JSON
/// (as a text literal in SQL would); bind `Json("…")` for a JSON string.
fn as_json_text(value: &SqlValue) -> Result<String, String> {
    match value {
        SqlValue::Json(j) => Ok(j.to_string()),
        SqlValue::Text(t) => match serde_json::from_str::<serde::de::IgnoredAny>(t) {
            Ok(_) => Ok(t.clone()),
            Err(e) => Err(format!(
                "Text is not JSON ({e}); bind SqlValue::Json for a JSON string"
            )),
        },
        SqlValue::Int(i) => Ok(i.to_string()),
        SqlValue::Float(f) => serde_json::Number::from_f64(*f)
            .map(|n| n.to_string())
            .ok_or_else(|| format!("{f} has no JSON form")),
        SqlValue::Bool(b) => Ok(b.to_string()),
        other => Err(format!("expected JSON, got {}", describe(other))),
    }
}

/// `HH:MM[:SS[.ffffff]]` → microseconds since midnight.
fn parse_time(text: &str) -> Option<i64> {
    let mut parts = text.trim().splitn(3, ':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let (s, frac) = match parts.next() {
        None => (0, 0),
        Some(sec) => {
            let (s, f) = sec.split_once('.').unwrap_or((sec, ""));
            if !f.bytes().all(|b| b.is_ascii_digit()) || f.len() > 6 {
                return None;
            }
            let frac: i64 = if f.is_empty() {
                0
            } else {
                format!("{f:0<6}").parse().ok()?
            };
            (s.parse().ok()?, frac)
        }
    };
    let in_range = (0..24).contains(&h) && (0..60).contains(&m) && (0..60).contains(&s);
    in_range.then(|| ((h * 60 + m) * 60 + s) * 1_000_000 + frac)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn enc(value: SqlValue, kind: PgKind) -> Result<Option<Vec<u8>>> {
        encode_param(&value, &kind, "t", 1)
    }

    #[test]
    fn integers_are_range_checked_for_their_column() {
        assert_eq!(
            enc(SqlValue::Int(1), PgKind::Int2).unwrap(),
            Some(vec![0, 1])
        );
        let err = enc(SqlValue::Int(70_000), PgKind::Int2).unwrap_err();
        assert!(err.message().contains("out of range for smallint"), "{err}");
        assert!(err.message().contains("$1"), "{err}");
        assert!(enc(SqlValue::Int(i64::from(i32::MAX) + 1), PgKind::Int4).is_err());
        assert_eq!(
            enc(SqlValue::Float(3.0), PgKind::Int8).unwrap(),
            Some(3i64.to_be_bytes().to_vec())
        );
        assert!(enc(SqlValue::Float(3.5), PgKind::Int8).is_err());
        assert!(enc(SqlValue::Text("abc".into()), PgKind::Int8).is_err());
        assert!(enc(SqlValue::Bool(true), PgKind::Int4).is_err());
    }

    #[test]
    fn timestamps_count_from_the_postgres_epoch() {
        let bytes = enc(SqlValue::Timestamp(PG_EPOCH_MICROS), PgKind::Timestamptz).unwrap();
        assert_eq!(bytes, Some(vec![0; 8]));
        let bytes = enc(SqlValue::Text("2000-01-02".into()), PgKind::Date).unwrap();
        assert_eq!(bytes, Some(1i32.to_be_bytes().to_vec()));
        assert!(
            enc(SqlValue::Timestamp(1), PgKind::Date).is_err(),
            "not midnight"
        );
        assert_eq!(
            enc(SqlValue::Timestamp(i64::MAX), PgKind::Timestamp).unwrap(),
            Some(i64::MAX.to_be_bytes().to_vec()),
            "infinity"
        );
    }

    #[test]
    fn arrays_carry_dimensions_and_nulls() {
        let kind = PgKind::Array {
            element: Box::new(PgKind::Int4),
            element_oid: 23,
        };
        let bytes = enc(
            SqlValue::Array(vec![SqlValue::Int(7), SqlValue::Null]),
            kind.clone(),
        )
        .unwrap()
        .unwrap();
        let mut want = Vec::new();
        for word in [1i32, 1, 23, 2, 1, 4, 7, -1] {
            want.extend_from_slice(&word.to_be_bytes());
        }
        assert_eq!(bytes, want);
        let empty = enc(SqlValue::Array(vec![]), kind.clone()).unwrap().unwrap();
        assert_eq!(empty.len(), 12);
        let ragged = SqlValue::Array(vec![
            SqlValue::Array(vec![SqlValue::Int(1)]),
            SqlValue::Int(2),
        ]);
        assert!(enc(ragged, kind).is_err());
    }

    #[test]
    fn json_text_must_be_json() {
        assert_eq!(
            enc(SqlValue::Text("{\"a\":1}".into()), PgKind::Jsonb).unwrap(),
            Some(b"\x01{\"a\":1}".to_vec())
        );
        let err = enc(SqlValue::Text("not json".into()), PgKind::Json).unwrap_err();
        assert!(err.message().contains("not JSON"), "{err}");
    }

    #[test]
    fn times_of_day_parse() {
        assert_eq!(parse_time("00:00"), Some(0));
        assert_eq!(parse_time("01:02:03.5"), Some(3_723_500_000));
        assert_eq!(parse_time("24:00:00"), None);
        assert_eq!(parse_time("12:00:00.1234567"), None);
    }

    #[test]
    fn unsupported_types_explain_the_cast() {
        let err = enc(
            SqlValue::Text("10.0.0.1".into()),
            PgKind::Unsupported("inet".into()),
        )
        .unwrap_err();
        assert!(err.message().contains("::text::inet"), "{err}");
    }
}
