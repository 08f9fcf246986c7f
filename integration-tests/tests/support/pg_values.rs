//! Typed values both ways: every `SqlValue` into a column of its natural
//! type and every supported column type read back, NULL included.

use serde_json::json;
use strata_core::ErrorCode;
use strata_core::sqldb::{Database, SqlValue};
use strata_providers::postgres::PostgresOptions;

use super::run;
use super::shared::FreshDatabases;

fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.to_owned())
}

fn ints(values: &[i64]) -> SqlValue {
    SqlValue::Array(values.iter().map(|v| SqlValue::Int(*v)).collect())
}

const UUID: &str = "6f9619ff-8b86-d011-b42d-00c04fc964ff";

#[tokio::test]
async fn every_value_binds_to_its_natural_column_and_reads_back() {
    run(60, async {
        let dbs = FreshDatabases::new().await;
        let db = dbs.database_with(PostgresOptions::new("")).await;
        let columns: [(&str, &str, SqlValue); 30] = [
            ("i2", "int2", SqlValue::Int(-32768)),
            ("i4", "int4", SqlValue::Int(2_147_483_647)),
            ("i8", "int8", SqlValue::Int(i64::MIN)),
            ("f4", "float4", SqlValue::Float(0.5)),
            ("f8", "float8", SqlValue::Float(-1.25e300)),
            (
                "n",
                "numeric",
                SqlValue::Numeric("-98765432109876543210.0123456789".into()),
            ),
            ("n2", "numeric(10,2)", SqlValue::Numeric("3.50".into())),
            ("t", "text", text("héllo ✓ 'quoted' \"double\"")),
            ("vc", "varchar(20)", text("varchar")),
            ("ch", "char(3)", text("abc")),
            ("b", "bool", SqlValue::Bool(true)),
            ("by", "bytea", SqlValue::Bytes(vec![0, 1, 127, 128, 255])),
            (
                "ts",
                "timestamptz",
                SqlValue::Timestamp(1_700_000_000_123_456),
            ),
            ("tsn", "timestamp", SqlValue::Timestamp(-86_400_000_001)),
            ("d", "date", text("2024-02-29")),
            ("tm", "time", text("23:59:58.25")),
            ("u", "uuid", SqlValue::Uuid(UUID.into())),
            (
                "j",
                "json",
                SqlValue::Json(json!({"k": [1, 2.5, null, "s"]})),
            ),
            (
                "jb",
                "jsonb",
                SqlValue::Json(json!({"nested": {"ok": true}})),
            ),
            ("a_i8", "int8[]", ints(&[1, -2, i64::MAX])),
            (
                "a_i4",
                "int4[]",
                SqlValue::Array(vec![SqlValue::Int(7), SqlValue::Null]),
            ),
            (
                "a_t",
                "text[]",
                SqlValue::Array(vec![text("a,b"), text("{c}"), text("")]),
            ),
            (
                "a_n",
                "numeric[]",
                SqlValue::Array(vec![SqlValue::Numeric("1.10".into())]),
            ),
            (
                "a_u",
                "uuid[]",
                SqlValue::Array(vec![SqlValue::Uuid(UUID.into())]),
            ),
            (
                "a_ts",
                "timestamptz[]",
                SqlValue::Array(vec![SqlValue::Timestamp(0)]),
            ),
            (
                "a_jb",
                "jsonb[]",
                SqlValue::Array(vec![SqlValue::Json(json!([1]))]),
            ),
            (
                "a_b",
                "bool[]",
                SqlValue::Array(vec![SqlValue::Bool(false)]),
            ),
            (
                "a_f8",
                "float8[]",
                SqlValue::Array(vec![SqlValue::Float(1.5)]),
            ),
            (
                "a_by",
                "bytea[]",
                SqlValue::Array(vec![SqlValue::Bytes(vec![9])]),
            ),
            (
                "a_2d",
                "int4[]",
                SqlValue::Array(vec![ints(&[1, 2]), ints(&[3, 4])]),
            ),
        ];
        let defs: Vec<String> = columns.iter().map(|(n, t, _)| format!("{n} {t}")).collect();
        db.execute(
            &format!("CREATE TABLE v (id int4 PRIMARY KEY, {})", defs.join(", ")),
            &[],
        )
        .await
        .unwrap();
        let names: Vec<&str> = columns.iter().map(|(n, _, _)| *n).collect();
        let placeholders: Vec<String> = (2..=columns.len() + 1).map(|i| format!("${i}")).collect();
        let insert = format!(
            "INSERT INTO v (id, {}) VALUES ($1, {})",
            names.join(", "),
            placeholders.join(", ")
        );
        let mut values = vec![SqlValue::Int(1)];
        values.extend(columns.iter().map(|(_, _, v)| v.clone()));
        assert_eq!(db.execute(&insert, &values).await.unwrap(), 1);
        // NULL of every type.
        let mut nulls = vec![SqlValue::Int(2)];
        nulls.extend(columns.iter().map(|_| SqlValue::Null));
        assert_eq!(db.execute(&insert, &nulls).await.unwrap(), 1);

        let rows = db
            .query(
                &format!("SELECT id, {} FROM v ORDER BY id", names.join(", ")),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        for (i, (name, ty, want)) in columns.iter().enumerate() {
            assert_eq!(rows[0].columns[i + 1], *name);
            assert_eq!(&rows[0].values[i + 1], want, "column {name} ({ty})");
            assert_eq!(rows[1].values[i + 1], SqlValue::Null, "NULL {name} ({ty})");
        }
    })
    .await;
}

/// Text and numbers convert where PostgreSQL would parse a literal the same.
#[tokio::test]
async fn text_and_numbers_bind_to_typed_columns_by_their_meaning() {
    run(60, async {
        let dbs = FreshDatabases::new().await;
        let db = dbs.database_with(PostgresOptions::new("")).await;
        db.execute(
            "CREATE TABLE c (u uuid, n numeric, ts timestamptz, d date, jb jsonb, f float8, \
             i int8, b bool)",
            &[],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO c VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                text(&UUID.to_ascii_uppercase()),
                SqlValue::Int(42),
                text("2023-11-14T22:13:20.5+01:00"),
                SqlValue::Timestamp(86_400_000_000),
                text("{\"from\": \"text\"}"),
                SqlValue::Int(3),
                SqlValue::Float(2.0),
                text("yes"),
            ],
        )
        .await
        .unwrap();
        let row = db.query_one("SELECT * FROM c", &[]).await.unwrap().unwrap();
        assert_eq!(
            row.values,
            [
                SqlValue::Uuid(UUID.into()),
                SqlValue::Numeric("42".into()),
                SqlValue::Timestamp(1_699_996_400_500_000),
                text("1970-01-02"),
                SqlValue::Json(json!({"from": "text"})),
                SqlValue::Float(3.0),
                SqlValue::Int(2),
                SqlValue::Bool(true),
            ]
        );
        // Comparisons bind the same way.
        let found = db
            .query(
                "SELECT n FROM c WHERE u = $1 AND n = $2",
                &[text(UUID), text("42.0")],
            )
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn expressions_read_as_their_types() {
    run(60, async {
        let dbs = FreshDatabases::new().await;
        let db = dbs.database_with(PostgresOptions::new("")).await;
        let row = db
            .query_one(
                "SELECT 1::int2 AS a, 'x'::varchar AS b, 1.50 AS c, NULL::int8 AS d, NULL AS e, \
                 ARRAY[1, 2] AS f, '{\"a\": 1}'::json AS g, ARRAY[[1, 2], [3, 4]] AS h, \
                 '{}'::int4[] AS i, 'infinity'::timestamptz AS j, '-infinity'::timestamp AS k, \
                 'q'::\"char\" AS l, 'NaN'::numeric AS m, 12::oid AS n, now() = now() AS o",
                &[],
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.values,
            [
                SqlValue::Int(1),
                text("x"),
                SqlValue::Numeric("1.50".into()),
                SqlValue::Null,
                SqlValue::Null,
                ints(&[1, 2]),
                SqlValue::Json(json!({"a": 1})),
                SqlValue::Array(vec![ints(&[1, 2]), ints(&[3, 4])]),
                SqlValue::Array(vec![]),
                SqlValue::Timestamp(i64::MAX),
                SqlValue::Timestamp(i64::MIN),
                text("q"),
                SqlValue::Numeric("NaN".into()),
                SqlValue::Int(12),
                SqlValue::Bool(true),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn untyped_placeholders_are_text_and_casts_choose_the_type() {
    run(60, async {
        let dbs = FreshDatabases::new().await;
        let db = dbs.database_with(PostgresOptions::new("")).await;
        let one = |db: Database, sql: &'static str, value: SqlValue| async move {
            db.query_one(sql, &[value])
                .await
                .unwrap()
                .unwrap()
                .values
                .remove(0)
        };
        assert_eq!(
            one(db.clone(), "SELECT $1 AS v", SqlValue::Int(5)).await,
            text("5")
        );
        assert_eq!(
            one(db.clone(), "SELECT $1::int8 AS v", SqlValue::Int(5)).await,
            SqlValue::Int(5)
        );
        assert_eq!(
            one(
                db.clone(),
                "SELECT $1::jsonb -> 'a' AS v",
                SqlValue::Json(json!({"a": [1]}))
            )
            .await,
            SqlValue::Json(json!([1]))
        );
        assert_eq!(
            one(db.clone(), "SELECT $1 + 1 AS v", SqlValue::Int(41)).await,
            SqlValue::Int(42)
        );
    })
    .await;
}

#[tokio::test]
async fn types_without_a_codec_say_how_to_cast() {
    run(60, async {
        let dbs = FreshDatabases::new().await;
        let db = dbs.database_with(PostgresOptions::new("")).await;
        let err = db
            .query("SELECT '10.0.0.1'::inet AS addr", &[])
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
        assert!(
            err.message().contains("inet") && err.message().contains("::text"),
            "{err}"
        );
        let err = db
            .query("SELECT $1::inet::text AS addr", &[text("10.0.0.1")])
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
        assert!(
            err.message().contains("$1") && err.message().contains("::text::inet"),
            "{err}"
        );
        let row = db
            .query_one("SELECT ($1::text::inet)::text AS addr", &[text("10.0.0.1")])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.values, [text("10.0.0.1/32")]);
    })
    .await;
}

#[tokio::test]
async fn enum_and_domain_columns_work_as_their_base_types() {
    run(60, async {
        let dbs = FreshDatabases::new().await;
        let db = dbs.database_with(PostgresOptions::new("")).await;
        db.execute_script(
            "CREATE TYPE mood AS ENUM ('sad', 'happy');\n\
             CREATE DOMAIN positive AS int4 CHECK (VALUE > 0);\n\
             CREATE TABLE e (m mood, p positive, ms mood[]);",
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO e VALUES ($1, $2, $3)",
            &[
                text("happy"),
                SqlValue::Int(3),
                SqlValue::Array(vec![text("sad"), text("happy")]),
            ],
        )
        .await
        .unwrap();
        let row = db.query_one("SELECT * FROM e", &[]).await.unwrap().unwrap();
        assert_eq!(
            row.values,
            [
                text("happy"),
                SqlValue::Int(3),
                SqlValue::Array(vec![text("sad"), text("happy")])
            ]
        );
        let err = db
            .execute("INSERT INTO e (p) VALUES ($1)", &[SqlValue::Int(-1)])
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
        assert!(err.message().contains("23514"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn a_table_altered_under_a_cached_statement_is_read_afresh() {
    run(60, async {
        let dbs = FreshDatabases::new().await;
        let mut options = PostgresOptions::new("");
        options.max_connections = 1; // one connection, so the statement is cached
        let db = dbs.database_with(options).await;
        db.execute("CREATE TABLE t (a int4)", &[]).await.unwrap();
        db.execute("INSERT INTO t VALUES (1)", &[]).await.unwrap();
        let before = db.query("SELECT * FROM t", &[]).await.unwrap();
        assert_eq!(before[0].values, [SqlValue::Int(1)]);
        db.execute("ALTER TABLE t ADD COLUMN b text DEFAULT 'new'", &[])
            .await
            .unwrap();
        let after = db.query("SELECT * FROM t", &[]).await.unwrap();
        assert_eq!(after[0].values, [SqlValue::Int(1), text("new")]);
    })
    .await;
}

#[tokio::test]
async fn ten_thousand_rows_decode() {
    run(60, async {
        let dbs = FreshDatabases::new().await;
        let db = dbs.database_with(PostgresOptions::new("")).await;
        let rows = db
            .query(
                "SELECT g AS id, md5(g::text) AS h, g * 1.5 AS n FROM generate_series(1, $1) g",
                &[SqlValue::Int(10_000)],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 10_000);
        assert_eq!(rows[9_999].get("id"), Some(&SqlValue::Int(10_000)));
        assert_eq!(rows[1].get("n"), Some(&SqlValue::Numeric("3.0".into())));
    })
    .await;
}
