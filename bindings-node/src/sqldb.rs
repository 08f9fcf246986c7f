//! Databases and transactions across the boundary.
//!
//! Parameters come from JS as one JSON array (the JS layer tags what JSON
//! cannot say: `{"i": n}` integer, `{"f": n}` float, `{"y": k}` the k-th
//! Buffer, `{"t": µs}` timestamp, `{"j": v}` JSON document, `{"a": […]}`
//! array; plain strings, booleans and `null` stand for themselves), with the
//! Buffers alongside. Rows go back as one table of numbers and one string
//! (see [`rows`]).

use std::path::PathBuf;
use std::sync::Arc;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use serde_json::Value;
use strata_core::sqldb::{Database, Row, SqlValue, Transaction};
use strata_core::{Error, Result};
use tokio::sync::Mutex as AsyncMutex;

use crate::bridge::Ctx;
use crate::out::{JoinedText, Numbers, Out};
use crate::wire::Cell;

/// One database (a pool).
#[napi]
pub struct NativeDatabase {
    db: Database,
    ctx: Ctx,
}

impl NativeDatabase {
    pub(crate) fn new(db: Database, ctx: Ctx) -> Self {
        Self { db, ctx }
    }
}

#[napi]
impl NativeDatabase {
    /// Runs a statement; answers with its rows.
    #[napi]
    pub fn query(&self, id: u32, sql: String, params: String, buffers: Vec<Buffer>) {
        let db = self.db.clone();
        let params = decode_params(&params, &buffers);
        self.ctx
            .spawn(id, async move { Ok(rows(db.query(&sql, &params?).await?)) });
    }

    /// Runs a statement; answers with the number of rows affected.
    #[napi]
    pub fn execute(&self, id: u32, sql: String, params: String, buffers: Vec<Buffer>) {
        let db = self.db.clone();
        let params = decode_params(&params, &buffers);
        self.ctx.spawn(id, async move {
            db.execute(&sql, &params?).await.map(Out::count)
        });
    }

    /// Starts a transaction; answers with a `NativeTransaction`.
    #[napi]
    pub fn begin(&self, id: u32) {
        let db = self.db.clone();
        let ctx = self.ctx.clone();
        self.ctx.spawn(id, async move {
            let tx = db.begin().await?;
            Ok(Out::class(NativeTransaction {
                tx: Arc::new(AsyncMutex::new(Some(tx))),
                ctx,
            }))
        });
    }

    /// Applies the pending migrations of `dir`; answers with
    /// `[appliedNames, alreadyAppliedCount]`.
    #[napi]
    pub fn migrate(&self, id: u32, dir: String) {
        let db = self.db.clone();
        self.ctx.spawn(id, async move {
            let report = db.migrate(&PathBuf::from(dir)).await?;
            Ok(Out::List(vec![
                Out::strs(report.applied),
                Out::count(report.already_applied as u64),
            ]))
        });
    }

    /// The database's logical name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.db.name().to_owned()
    }
}

/// An open transaction. Dropped (garbage-collected) unfinished, it rolls back.
#[napi]
pub struct NativeTransaction {
    /// `None` once committed or rolled back.
    tx: Arc<AsyncMutex<Option<Transaction>>>,
    ctx: Ctx,
}

fn ended() -> Error {
    Error::closed("the transaction has already been committed or rolled back")
}

#[napi]
impl NativeTransaction {
    /// Runs a statement in the transaction; answers with its rows.
    #[napi]
    pub fn query(&self, id: u32, sql: String, params: String, buffers: Vec<Buffer>) {
        let tx = self.tx.clone();
        let params = decode_params(&params, &buffers);
        self.ctx.spawn(id, async move {
            let params = params?;
            let mut guard = tx.lock().await;
            let tx = guard.as_mut().ok_or_else(ended)?;
            Ok(rows(tx.query(&sql, &params).await?))
        });
    }

    /// Runs a statement in the transaction; answers with rows affected.
    #[napi]
    pub fn execute(&self, id: u32, sql: String, params: String, buffers: Vec<Buffer>) {
        let tx = self.tx.clone();
        let params = decode_params(&params, &buffers);
        self.ctx.spawn(id, async move {
            let params = params?;
            let mut guard = tx.lock().await;
            let tx = guard.as_mut().ok_or_else(ended)?;
            tx.execute(&sql, &params).await.map(Out::count)
        });
    }

    /// Commits (`commit` true) or rolls back.
    #[napi]
    pub fn end(&self, id: u32, commit: bool) {
        let tx = self.tx.clone();
        // Not `ctx.spawn`'s closed check: a transaction open while the Infra
        // closes must still be able to roll back.
        let ctx = Ctx {
            hub: self.ctx.hub.clone(),
            closed: Arc::default(),
        };
        ctx.spawn(id, async move {
            let tx = tx.lock().await.take().ok_or_else(ended)?;
            if commit {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            Ok(Out::Undefined)
        });
    }
}

/// Rows as `[columns, rowCount, cells, text, others]`: `cells` is a
/// `Float64Array` of two numbers per cell, row by row (a [`Cell`] code and its
/// number), `text` every text cell joined, and `others` the values that are
/// none of those (bigints, Buffers, JSON, arrays), in order. The JS side
/// builds the row objects from it: a 10,000-row result crosses as one typed
/// array and one string instead of a napi call per cell.
fn rows(rows: Vec<Row>) -> Out {
    table(rows, JoinedText::default())
}

/// [`rows`], joining the text cells into `text` (those past its limit go
/// among the others).
fn table(rows: Vec<Row>, mut text: JoinedText) -> Out {
    let columns = rows
        .first()
        .map(|r| r.columns.iter().cloned().map(Out::Str).collect())
        .unwrap_or_default();
    let count = rows.len();
    let width = rows.first().map_or(0, |r| r.values.len());
    let mut cells = Vec::with_capacity(count * width * 2);
    let mut others = Vec::new();
    for row in rows {
        for value in row.values {
            let (cell, number) = match value {
                SqlValue::Null => (Cell::Null, 0.0),
                SqlValue::Bool(true) => (Cell::True, 0.0),
                SqlValue::Bool(false) => (Cell::False, 0.0),
                SqlValue::Float(f) => (Cell::Number, f),
                SqlValue::Numeric(s) | SqlValue::Text(s) | SqlValue::Uuid(s) => {
                    match text.push(s) {
                        Ok(units) => (Cell::Text, units as f64),
                        Err(s) => {
                            others.push(Out::Str(s));
                            (Cell::Other, 0.0)
                        }
                    }
                }
                SqlValue::Timestamp(micros) => (Cell::Date, micros as f64 / 1000.0),
                other => match sql_out(other) {
                    Out::Num(n) => (Cell::Number, n),
                    other => {
                        others.push(other);
                        (Cell::Other, 0.0)
                    }
                },
            };
            cells.extend_from_slice(&[f64::from(cell as u8), number]);
        }
    }
    Out::List(vec![
        Out::List(columns),
        Out::count(count as u64),
        Out::Floats(Numbers(cells)),
        Out::Str(text.into_string()),
        Out::List(others),
    ])
}

fn sql_out(value: SqlValue) -> Out {
    match value {
        SqlValue::Null => Out::Null,
        SqlValue::Bool(b) => Out::Bool(b),
        SqlValue::Int(n) => Out::int(n),
        SqlValue::Float(f) => Out::Num(f),
        SqlValue::Numeric(s) | SqlValue::Text(s) | SqlValue::Uuid(s) => Out::Str(s),
        SqlValue::Bytes(b) => Out::Bytes(b.into()),
        SqlValue::Json(v) => Out::Json(v),
        SqlValue::Timestamp(micros) => Out::Date(micros as f64 / 1000.0),
        SqlValue::Array(items) => Out::List(items.into_iter().map(sql_out).collect()),
    }
}

/// Decodes the JS layer's parameter encoding (see the module docs).
fn decode_params<B: AsRef<[u8]>>(json: &str, buffers: &[B]) -> Result<Vec<SqlValue>> {
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

    /// A row table's parts: columns, row count, cells, text, others.
    fn parts(table: Out) -> (Vec<Out>, f64, Vec<f64>, String, Vec<Out>) {
        let Out::List(parts) = table else {
            panic!("rows are a list")
        };
        let Ok(
            [
                Out::List(cols),
                Out::Num(count),
                Out::Floats(Numbers(cells)),
                Out::Str(text),
                Out::List(others),
            ],
        ) = <[Out; 5]>::try_from(parts)
        else {
            panic!("[columns, rowCount, cells, text, others]")
        };
        (cols, count, cells, text, others)
    }

    #[test]
    fn rows_go_out_as_a_table_of_cells_and_one_text() {
        let columns: Arc<[String]> = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()].into();
        let row = |values| Row {
            columns: columns.clone(),
            values,
        };
        let (cols, count, cells, text, others) = parts(rows(vec![
            row(vec![
                SqlValue::Int(1),
                SqlValue::Timestamp(1_500),
                SqlValue::Text("hé".into()),
            ]),
            row(vec![
                SqlValue::Null,
                SqlValue::Bool(false),
                SqlValue::Int(i64::MAX),
            ]),
        ]));
        assert!(
            matches!(cols.as_slice(), [Out::Str(a), Out::Str(_), Out::Str(c)] if a == "a" && c == "c")
        );
        assert_eq!(count, 2.0);
        assert_eq!(
            cells,
            [1.0, 1.0, 5.0, 1.5, 4.0, 2.0, 0.0, 0.0, 3.0, 0.0, 6.0, 0.0]
        );
        assert_eq!(text, "hé");
        assert!(matches!(others.as_slice(), [Out::BigInt(n)] if *n == i64::MAX));
    }

    #[test]
    fn texts_beyond_the_join_limit_travel_on_their_own() {
        let columns: Arc<[String]> = vec!["t".to_owned()].into();
        let rows_of = ["abc", "defg", "h"].map(|t| Row {
            columns: columns.clone(),
            values: vec![SqlValue::Text(t.to_owned())],
        });
        let (_, _, cells, text, others) = parts(table(rows_of.into(), JoinedText::with_limit(4)));
        // "abc" joins (3 bytes), "defg" would make 7 > 4, "h" makes 4.
        assert_eq!(cells, [4.0, 3.0, 6.0, 0.0, 4.0, 1.0]);
        assert_eq!(text, "abch");
        assert!(matches!(others.as_slice(), [Out::Str(s)] if s == "defg"));
    }

    #[test]
    fn no_rows_is_an_empty_table() {
        let (cols, count, cells, text, others) = parts(rows(Vec::new()));
        assert!(cols.is_empty() && cells.is_empty() && text.is_empty() && others.is_empty());
        assert_eq!(count, 0.0);
    }
}
