//! The JS layer's SQL parameter encoding, decoded (the pure half of
//! `sqldb.rs`: no napi here, so the fuzz target in `fuzz/` compiles this very
//! file; it may use only `serde_json` and `strata_core`).
//!
//! Parameters arrive as one JSON array: `null`, booleans and strings as
//! themselves, every other value as a one-key object naming its type (`i`
//! integer, `f` float, `y` the index of a byte buffer passed beside, `t`
//! microseconds since the epoch, `j` JSON, `a` an array of parameters).

use serde_json::Value;
use strata_core::sqldb::SqlValue;
use strata_core::{Error, Result};

/// Decodes the JS layer's parameter encoding (see the module docs).
pub(crate) fn decode_params<B: AsRef<[u8]>>(json: &str, buffers: &[B]) -> Result<Vec<SqlValue>> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| Error::invalid_argument(format!("SQL parameters are not valid: {e}")))?;
    match value {
        Value::Array(items) => items.iter().map(|v| decode(v, buffers)).collect(),
        _ => Err(Error::invalid_argument("SQL parameters must be an array")),
    }
}

fn decode<B: AsRef<[u8]>>(value: &Value, buffers: &[B]) -> Result<SqlValue> {
    let bad = || Error::invalid_argument(format!("unsupported SQL parameter encoding: {value}"));
    Ok(match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Bool(*b),
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Object(map) if map.len() == 1 => {
            let Some((tag, inner)) = map.iter().next() else {
                return Err(bad());
            };
            match (tag.as_str(), inner) {
                ("i", Value::Number(n)) => SqlValue::Int(n.as_i64().ok_or_else(bad)?),
                ("i", Value::String(s)) => SqlValue::Int(s.parse().map_err(|_| {
                    Error::invalid_argument(format!(
                        "SQL integer parameter {s} does not fit in 64 bits"
                    ))
                })?),
                ("f", Value::Number(n)) => SqlValue::Float(n.as_f64().ok_or_else(bad)?),
                ("f", Value::String(s)) => SqlValue::Float(s.parse().map_err(|_| bad())?),
                ("y", Value::Number(n)) => {
                    let index = n.as_u64().ok_or_else(bad)? as usize;
                    let buffer = buffers.get(index).ok_or_else(bad)?;
                    SqlValue::Bytes(buffer.as_ref().to_vec())
                }
                ("t", Value::Number(n)) => SqlValue::Timestamp(
                    n.as_i64()
                        .or_else(|| n.as_f64().map(|f| f.round() as i64))
                        .ok_or_else(bad)?,
                ),
                ("j", v) => SqlValue::Json(v.clone()),
                ("a", Value::Array(items)) => SqlValue::Array(
                    items
                        .iter()
                        .map(|v| decode(v, buffers))
                        .collect::<Result<_>>()?,
                ),
                _ => return Err(bad()),
            }
        }
        _ => return Err(bad()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn decoded(json: &str) -> Result<Vec<SqlValue>> {
        decode_params(json, &[b"\x01\x02".to_vec()])
    }

    #[test]
    fn every_tag_decodes_to_its_sql_value() {
        let values = decoded(
            r#"[null, true, "text", {"i": 42}, {"i": "9007199254740993"}, {"f": 1.5},
                {"f": "NaN"}, {"y": 0}, {"t": 1700000000000000}, {"j": {"a": [1]}},
                {"a": [{"i": 1}, "x"]}]"#,
        )
        .unwrap();
        assert_eq!(values.len(), 11);
        assert_eq!(values[0], SqlValue::Null);
        assert_eq!(values[1], SqlValue::Bool(true));
        assert_eq!(values[2], SqlValue::Text("text".into()));
        assert_eq!(values[3], SqlValue::Int(42));
        assert_eq!(values[4], SqlValue::Int(9_007_199_254_740_993));
        assert_eq!(values[5], SqlValue::Float(1.5));
        assert!(matches!(values[6], SqlValue::Float(f) if f.is_nan()));
        assert_eq!(values[7], SqlValue::Bytes(vec![1, 2]));
        assert_eq!(values[8], SqlValue::Timestamp(1_700_000_000_000_000));
        assert_eq!(values[9], SqlValue::Json(serde_json::json!({"a": [1]})));
        assert_eq!(
            values[10],
            SqlValue::Array(vec![SqlValue::Int(1), SqlValue::Text("x".into())])
        );
    }

    #[test]
    fn malformed_encodings_are_invalid_argument() {
        for bad in [
            "not json",
            r#"{"i": 1}"#,
            r#"[{"y": 5}]"#,
            r#"[{"i": "99999999999999999999"}]"#,
            r#"[{"q": 1}]"#,
            r#"[{"i": 1, "f": 2}]"#,
            "[1]",
        ] {
            let err = decoded(bad).unwrap_err();
            assert_eq!(
                err.code(),
                strata_core::ErrorCode::InvalidArgument,
                "{bad}: {err}"
            );
        }
    }
}
