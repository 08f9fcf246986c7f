//! PostgreSQL binary column values → [`SqlValue`].
//!
//! | PostgreSQL | `SqlValue` |
//! | --- | --- |
//! | `smallint`, `integer`, `bigint`, `oid` | `Int` |
//! | `real`, `double precision` | `Float` |
//! | `numeric` | `Numeric` (exact text, as PostgreSQL prints it) |
//! | `text`, `varchar`, `char(n)`, `name`, enums, `citext`, `xml` | `Text` |
//! | `bytea` | `Bytes` |
//! | `boolean` | `Bool` |
//! | `timestamptz`, `timestamp` (read as UTC) | `Timestamp` (`±infinity` → `i64::MAX` / `i64::MIN`) |
//! | `date` | `Text` `YYYY-MM-DD` |
//! | `time` | `Text` `HH:MM:SS[.ffffff]` |
//! | `uuid` | `Uuid` |
//! | `json`, `jsonb` | `Json` |
//! | arrays of these | `Array` (nested for more than one dimension) |

use strata_core::sqldb::SqlValue;
use strata_core::sqldb::literals::uuid_from_bytes;
use strata_core::sqldb::timestamp::timestamp_to_rfc3339;

use super::encode::{MICROS_PER_DAY, PG_EPOCH_DAYS, PG_EPOCH_MICROS};
use super::numeric::decode_numeric;
use super::types::PgKind;

/// Decodes one value (`None` is SQL `NULL`). The error says what was wrong,
/// for a message that names the column.
pub(crate) fn decode_value(bytes: Option<&[u8]>, kind: &PgKind) -> Result<SqlValue, String> {
    let Some(bytes) = bytes else {
        return Ok(SqlValue::Null);
    };
    let fixed = |n: usize| -> Result<&[u8], String> {
        if bytes.len() == n {
            Ok(bytes)
        } else {
            Err(format!("expected {n} bytes, got {}", bytes.len()))
        }
    };
    macro_rules! be {
        ($ty:ty) => {{
            let raw = fixed(std::mem::size_of::<$ty>())?;
            <$ty>::from_be_bytes(raw.try_into().map_err(|_| "bad length".to_owned())?)
        }};
    }
    Ok(match kind {
        PgKind::Bool => SqlValue::Bool(fixed(1)?[0] != 0),
        PgKind::Int2 => SqlValue::Int(i64::from(be!(i16))),
        PgKind::Int4 => SqlValue::Int(i64::from(be!(i32))),
        PgKind::Int8 => SqlValue::Int(be!(i64)),
        PgKind::Oid => SqlValue::Int(i64::from(be!(u32))),
        PgKind::Float4 => SqlValue::Float(f64::from(be!(f32))),
        PgKind::Float8 => SqlValue::Float(be!(f64)),
        PgKind::Numeric => {
            SqlValue::Numeric(decode_numeric(bytes).ok_or_else(|| "malformed numeric".to_owned())?)
        }
        PgKind::Text => SqlValue::Text(utf8(bytes)?),
        PgKind::Bytea => SqlValue::Bytes(bytes.to_vec()),
        PgKind::Uuid => {
            let raw: [u8; 16] = fixed(16)?.try_into().map_err(|_| "bad length".to_owned())?;
            SqlValue::Uuid(uuid_from_bytes(&raw))
        }
        PgKind::Timestamp | PgKind::Timestamptz => SqlValue::Timestamp(match be!(i64) {
            pg @ (i64::MAX | i64::MIN) => pg,
            pg => pg.saturating_add(PG_EPOCH_MICROS),
        }),
        PgKind::Date => SqlValue::Text(match be!(i32) {
            i32::MAX => "infinity".to_owned(),
            i32::MIN => "-infinity".to_owned(),
            days => date_text(i64::from(days)),
        }),
        PgKind::Time => SqlValue::Text(time_text(be!(i64))),
        PgKind::Json => json(&utf8(bytes)?)?,
        PgKind::Jsonb => match bytes.split_first() {
            Some((1, text)) => json(&utf8(text)?)?,
            _ => return Err("unknown jsonb format version".to_owned()),
        },
        PgKind::Void => SqlValue::Null,
        PgKind::Array { element, .. } => decode_array(bytes, element)?,
        PgKind::Unsupported(name) => {
            return Err(format!(
                "Strata has no binary codec for {name}; cast the column in SQL, e.g. `col::text`"
            ));
        }
    })
}

fn utf8(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "text is not UTF-8".to_owned())
}

fn json(text: &str) -> Result<SqlValue, String> {
    serde_json::from_str(text)
        .map(SqlValue::Json)
        .map_err(|e| format!("malformed JSON: {e}"))
}

/// `YYYY-MM-DD` for days since PostgreSQL's epoch.
fn date_text(pg_days: i64) -> String {
    let micros = (pg_days + PG_EPOCH_DAYS).saturating_mul(MICROS_PER_DAY);
    let text = timestamp_to_rfc3339(micros);
    text.split_once('T')
        .map_or(text.clone(), |(d, _)| d.to_owned())
}

/// `HH:MM:SS` with the fraction only when there is one (as PostgreSQL
/// prints it).
fn time_text(micros: i64) -> String {
    let (secs, frac) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        let frac = format!("{frac:06}");
        format!("{h:02}:{m:02}:{s:02}.{}", frac.trim_end_matches('0'))
    }
}

/// PostgreSQL's `MAXDIM`.
const MAX_DIMS: usize = 6;

/// `ndim, has_null, element oid, (length, lower bound) per dimension`, then
/// the elements, each with its length (`-1` for NULL).
fn decode_array(bytes: &[u8], element: &PgKind) -> Result<SqlValue, String> {
    let mut reader = Reader { rest: bytes };
    let ndim = usize::try_from(reader.i32()?).map_err(|_| "negative dimensions".to_owned())?;
    if ndim > MAX_DIMS {
        return Err(format!(
            "{ndim} dimensions; PostgreSQL has at most {MAX_DIMS}"
        ));
    }
    let _has_null = reader.i32()?;
    let _element_oid = reader.i32()?;
    let mut dims = Vec::with_capacity(ndim);
    for _ in 0..ndim {
        let len = usize::try_from(reader.i32()?).map_err(|_| "negative length".to_owned())?;
        // PostgreSQL sends an empty array with no dimensions; a zero here
        // would have `nest` build any number of empty arrays from nothing.
        if len == 0 {
            return Err("an empty dimension".to_owned());
        }
        let _lower_bound = reader.i32()?;
        dims.push(len);
    }
    let total = dims
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(*d))
        .ok_or_else(|| "array too large".to_owned())?;
    // Every element takes at least its 4-byte length: more elements than
    // that are a lie about the size, refused before anything is built.
    if ndim > 0 && total > reader.rest.len() / 4 {
        return Err("truncated array".to_owned());
    }
    let mut leaves = Vec::new();
    if ndim > 0 {
        for _ in 0..total {
            let len = reader.i32()?;
            let value = if len < 0 {
                None
            } else {
                let len = usize::try_from(len).map_err(|_| "bad length".to_owned())?;
                Some(reader.take(len)?)
            };
            leaves.push(decode_value(value, element)?);
        }
    }
    if !reader.rest.is_empty() {
        return Err("trailing bytes after the array".to_owned());
    }
    Ok(nest(&mut leaves.into_iter(), &dims))
}

/// Reads big-endian words and slices off the front of a buffer.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err("truncated array".to_owned());
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn i32(&mut self) -> Result<i32, String> {
        let raw: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| "truncated array".to_owned())?;
        Ok(i32::from_be_bytes(raw))
    }
}

/// Rebuilds the dimensions of a flattened array as nested `Array`s.
fn nest(leaves: &mut impl Iterator<Item = SqlValue>, dims: &[usize]) -> SqlValue {
    match dims.split_first() {
        None => SqlValue::Array(Vec::new()),
        Some((&len, [])) => SqlValue::Array(leaves.take(len).collect()),
        Some((&len, inner)) => SqlValue::Array((0..len).map(|_| nest(leaves, inner)).collect()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::postgres::encode::encode_param;

    fn round_trip(value: SqlValue, kind: PgKind) -> SqlValue {
        let bytes = encode_param(&value, &kind, "t", 1).unwrap();
        decode_value(bytes.as_deref(), &kind).unwrap()
    }

    #[test]
    fn scalars_round_trip_through_the_wire_format() {
        for (value, kind) in [
            (SqlValue::Bool(true), PgKind::Bool),
            (SqlValue::Int(-7), PgKind::Int2),
            (SqlValue::Int(i64::from(i32::MIN)), PgKind::Int4),
            (SqlValue::Int(i64::MAX), PgKind::Int8),
            (SqlValue::Float(0.5), PgKind::Float4),
            (SqlValue::Float(-1e300), PgKind::Float8),
            (SqlValue::Numeric("-12.340".into()), PgKind::Numeric),
            (SqlValue::Text("héllo".into()), PgKind::Text),
            (SqlValue::Bytes(vec![0, 255]), PgKind::Bytea),
            (
                SqlValue::Uuid("6f9619ff-8b86-d011-b42d-00c04fc964ff".into()),
                PgKind::Uuid,
            ),
            (
                SqlValue::Timestamp(1_700_000_000_123_456),
                PgKind::Timestamptz,
            ),
            (SqlValue::Timestamp(-1), PgKind::Timestamp),
            (SqlValue::Timestamp(i64::MIN), PgKind::Timestamptz),
            (
                SqlValue::Json(serde_json::json!({"a": [1, null]})),
                PgKind::Jsonb,
            ),
            (SqlValue::Json(serde_json::json!("s")), PgKind::Json),
            (SqlValue::Text("2024-02-29".into()), PgKind::Date),
            (SqlValue::Text("13:14:15.25".into()), PgKind::Time),
            (SqlValue::Null, PgKind::Int8),
        ] {
            assert_eq!(round_trip(value.clone(), kind.clone()), value, "{kind:?}");
        }
    }

    #[test]
    fn multi_dimensional_arrays_nest() {
        let kind = PgKind::Array {
            element: Box::new(PgKind::Text),
            element_oid: 25,
        };
        let text = |s: &str| SqlValue::Text(s.into());
        let value = SqlValue::Array(vec![
            SqlValue::Array(vec![text("a"), SqlValue::Null]),
            SqlValue::Array(vec![text("c"), text("d")]),
        ]);
        assert_eq!(round_trip(value.clone(), kind.clone()), value);
        assert_eq!(
            round_trip(SqlValue::Array(vec![]), kind),
            SqlValue::Array(vec![])
        );
    }

    #[test]
    fn malformed_values_are_errors_not_panics() {
        assert!(decode_value(Some(&[1, 2, 3]), &PgKind::Int4).is_err());
        assert!(
            decode_value(
                Some(&[0, 0, 0, 1]),
                &PgKind::Array {
                    element: Box::new(PgKind::Int4),
                    element_oid: 23
                }
            )
            .is_err()
        );
        assert!(decode_value(Some(&[2, b'{', b'}']), &PgKind::Jsonb).is_err());
    }

    #[test]
    fn array_headers_that_lie_about_their_size_are_errors_not_allocations() {
        let int4s = PgKind::Array {
            element: Box::new(PgKind::Int4),
            element_oid: 23,
        };
        let header = |dims: &[i32]| -> Vec<u8> {
            let mut out = Vec::new();
            for word in [dims.len() as i32, 0, 23] {
                out.extend_from_slice(&word.to_be_bytes());
            }
            for &len in dims {
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&1i32.to_be_bytes());
            }
            out
        };
        // A zero dimension beside a huge one: nothing to read, yet billions
        // of empty arrays to build.
        let err = decode_value(Some(&header(&[i32::MAX, 0])), &int4s).unwrap_err();
        assert!(err.contains("empty dimension"), "{err}");
        // More elements than bytes to hold them.
        let err = decode_value(Some(&header(&[i32::MAX])), &int4s).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        // More dimensions than PostgreSQL has.
        let err = decode_value(Some(&header(&[1; 7])), &int4s).unwrap_err();
        assert!(err.contains("at most 6"), "{err}");
        assert!(decode_value(Some(&[0xff]), &PgKind::Text).is_err());
    }
}
