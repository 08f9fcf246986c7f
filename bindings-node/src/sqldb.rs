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
use strata_core::Error;
use strata_core::sqldb::{Database, Row, SqlValue, Transaction};
use tokio::sync::Mutex as AsyncMutex;

use crate::bridge::Ctx;
use crate::out::{JoinedText, Numbers, Out};
use crate::sql_params::decode_params;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
