//! A database with every storage class, affinity and schema feature,
//! restored into a new file: `sqlite3 .dump` of both is identical and
//! `PRAGMA integrity_check` passes.
//!
//! SQLite turns a NaN into NULL when it is written, so the database holds
//! no NaN: there is nothing to preserve.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use rusqlite::{Connection, params};
use tresor_core::{Connector, ReadOptions, RestoreMode, RowKey, TableFilter, TableName, Value};
use tresor_sqlite::SqliteConnector;
use tresor_testing::{compare_databases, copy_database};

use super::harness::url_of;

const BULK_ROWS: i64 = 200_000;
const BLOB_MIB: usize = 4;

/// Builds the awkward database at `path`.
fn build(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        r#"
        PRAGMA foreign_keys = OFF;
        PRAGMA user_version = 42;
        PRAGMA application_id = 305419896;
        BEGIN;
        CREATE TABLE "all types" (
            i INTEGER, t TEXT, r REAL, n NUMERIC, b BLOB, untyped,
            v VARCHAR(10), d DOUBLE PRECISION, bo BOOLEAN, dt DATETIME
        );
        CREATE INDEX "all types by t" ON "all types"(t);
        CREATE TABLE "select" (
            "from" TEXT, "order" INTEGER, "group by" REAL, "quote""d" BLOB,
            "ünïcödé 名前" TEXT, "table" INTEGER PRIMARY KEY
        );
        CREATE UNIQUE INDEX "idx ""weird""" ON "select"("from", "order") WHERE "order" > 0;
        CREATE INDEX expr_idx ON "select"(lower("from"), "order" * 2);
        CREATE TABLE wr (k, n INTEGER, v, PRIMARY KEY (k, n)) WITHOUT ROWID;
        CREATE VIEW "v w" AS SELECT "from", "order" FROM "select" WHERE "order" > 1;
        CREATE TABLE log (msg TEXT, at INTEGER);
        CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT);
        CREATE TRIGGER log_audit AFTER INSERT ON log BEGIN
            INSERT INTO audit (what) VALUES ('logged ' || new.msg);
        END;
        CREATE TABLE textpk (code TEXT PRIMARY KEY COLLATE NOCASE, label TEXT) ;
        CREATE TABLE child (id INTEGER PRIMARY KEY, code TEXT REFERENCES textpk(code) ON DELETE CASCADE);
        CREATE TABLE descpk (id INTEGER PRIMARY KEY DESC, v TEXT);
        CREATE TABLE gen (a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2) VIRTUAL,
                          x TEXT, c TEXT AS (upper(x)) STORED);
        CREATE TABLE shadowed (rowid TEXT, v TEXT);
        CREATE TABLE st (id INTEGER PRIMARY KEY, s TEXT, i INT, any_ ANY) STRICT;
        CREATE TABLE bulk (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c REAL);
        CREATE INDEX bulk_b ON bulk(b);
        CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB);
        CREATE VIRTUAL TABLE docs USING fts5(title, body);
        INSERT INTO docs VALUES ('first', 'the quick brown fox'), ('zweite', 'über den Zaun');
        DELETE FROM docs WHERE title = 'first';
        INSERT INTO docs VALUES ('third', 'jumps over the lazy dog');
        CREATE VIRTUAL TABLE boxes USING rtree(id, x0, x1, y0, y1);
        INSERT INTO boxes VALUES (1, 0, 1, 0, 1), (2, -5.5, 3.25, 10, 20);
        COMMIT;
        "#,
    )
    .unwrap();

    let tx = conn.unchecked_transaction().unwrap();
    {
        let mut s = tx
            .prepare(r#"INSERT INTO "all types" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"#)
            .unwrap();
        let floats = [
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            -0.0,
            0.1 + 0.2,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            -123.456,
        ];
        let ints = [i64::MIN, i64::MAX, 0, -1, 1 << 53, (1 << 53) + 1];
        for (k, f) in floats.iter().enumerate() {
            let i = ints[k % ints.len()];
            s.execute(params![
                i,
                i,
                f,
                f,
                f,
                f,
                i,
                f,
                (k % 2) as i64,
                "2024-02-29 12:00:00"
            ])
            .unwrap();
            s.execute(params![
                *f,
                format!("{f}"),
                i,
                format!("{i}"),
                i,
                i,
                f,
                i,
                "yes",
                f
            ])
            .unwrap();
        }
        // NULL vs '' vs empty blob in every column kind
        for v in [
            rusqlite::types::Value::Null,
            rusqlite::types::Value::Text(String::new()),
            rusqlite::types::Value::Blob(Vec::new()),
        ] {
            s.execute(params![v, v, v, v, v, v, v, v, v, v]).unwrap();
        }
    }
    tx.execute_batch(
        r#"
        INSERT INTO "all types"(t, untyped, b) VALUES
            (CAST(x'ff' AS TEXT), CAST(x'c328fffe' AS TEXT), CAST(x'80' AS TEXT)),
            ('nul' || char(0) || 'inside', 'tab	and
newline', x'00ff00'),
            ('12', '12', '12'), ('1.5e3', ' 7 ', '0x10');
        INSERT INTO "select" VALUES
            ('SELECT * FROM x; --', 1, 1.5, x'22', 'naïve café ☕ 🎉', 3),
            ('Quote "it"', 2, -2.5, x'', '''single''', 1),
            ('ORDER', 0, 0.0, NULL, '', 2),
            ('from', -5, NULL, x'00', 'ß', 10);
        INSERT INTO wr VALUES
            ('b', 1, 'text key'), ('B', 1, 'upper'), ('é', 2, 'unicode'), ('a', 3, NULL),
            (1, 1, 'int key'), (2.5, 1, 'real key'), (x'01', 1, 'blob key'), (x'', 1, 'empty blob'),
            ('', 1, 'empty text'), (-9223372036854775808, 0, 'min'), ('z', -1, 'neg');
        INSERT INTO log VALUES ('one', 1), ('two', 2), ('two', 2), ('three', 3);
        DELETE FROM log WHERE msg = 'one';
        INSERT INTO audit (what) VALUES ('manual');
        DELETE FROM audit WHERE what = 'manual';
        INSERT INTO textpk VALUES ('abc', 'lower'), ('XYZ', 'upper'), ('Ünï', 'unicode');
        INSERT INTO child VALUES (1, 'abc'), (2, 'XYZ'), (3, NULL), (4, 'missing parent');
        INSERT INTO descpk VALUES (5, 'five'), (1, 'one'), (9, 'nine');
        INSERT INTO gen (a, x) VALUES (1, 'a'), (NULL, NULL), (-7, 'Wörd');
        INSERT INTO shadowed VALUES ('r1', 'v1'), ('r2', 'v2');
        DELETE FROM shadowed WHERE v = 'v1';
        INSERT INTO st VALUES (1, 'strict', 2, 3.5), (2, NULL, NULL, x'ab');
        "#,
    )
    .unwrap();
    tx.execute(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1)
         INSERT INTO bulk SELECT x * 3, x * x - 5000, printf('row %d %s', x, hex(x)),
             CASE WHEN x % 3 = 0 THEN NULL ELSE x / 7.0 END FROM c",
        [BULK_ROWS],
    )
    .unwrap();
    tx.execute("DELETE FROM bulk WHERE id % 1000 = 0", [])
        .unwrap();
    for i in 0..3u8 {
        let data: Vec<u8> = (0..BLOB_MIB << 20)
            .map(|j| (j as u8).wrapping_mul(31).wrapping_add(i))
            .collect();
        tx.execute("INSERT INTO blobs VALUES (?1, ?2)", params![i, data])
            .unwrap();
    }
    tx.commit().unwrap();
    // statistics in the middle of sqlite_master, then more objects after
    conn.execute_batch(
        "ANALYZE;
         CREATE TABLE late (id INTEGER PRIMARY KEY, v);
         INSERT INTO late VALUES (1, 'after analyze');
         CREATE INDEX late_v ON late(v);
         CREATE VIEW late_view AS SELECT count(*) AS n FROM late;",
    )
    .unwrap();
}

fn dump(path: &Path) -> String {
    let out = Command::new("sqlite3")
        .arg(path)
        .arg(".dump")
        .output()
        .expect("the sqlite3 command-line tool (apt-get install sqlite3)");
    assert!(
        out.status.success(),
        "sqlite3 .dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            let cut = |s: &str| s.chars().take(300).collect::<String>();
            return format!(
                "line {}:\n  original: {}\n  restored: {}",
                i + 1,
                cut(x),
                cut(y)
            );
        }
    }
    format!(
        "one dump is a prefix of the other ({} vs {} lines)",
        a.lines().count(),
        b.lines().count()
    )
}

fn pragma_i64(conn: &Connection, name: &str) -> i64 {
    conn.pragma_query_value(None, name, |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_round_trips_into_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original.db");
    let restored = dir.path().join("re stored ☃.sqlite");
    let t = Instant::now();
    build(&original);
    let built = t.elapsed();

    let c = SqliteConnector;
    let summary = copy_database(
        &c,
        &url_of(&original),
        &url_of(&restored),
        RestoreMode::Replace,
        &TableFilter::all(),
    )
    .await
    .unwrap();
    assert_eq!(summary.method, "temporary file renamed into place");
    assert_eq!(summary.rows["bulk"], (BULK_ROWS - BULK_ROWS / 1000) as u64);
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    let restored_in = t.elapsed() - built;

    compare_databases(
        &c,
        &url_of(&original),
        &url_of(&restored),
        &TableFilter::all(),
    )
    .await
    .unwrap();

    let (a, b) = (dump(&original), dump(&restored));
    assert!(
        a == b,
        "sqlite3 .dump differs at {}",
        first_difference(&a, &b)
    );
    assert!(
        a.contains("CREATE TRIGGER log_audit"),
        "the dump lacks objects"
    );
    assert!(
        a.contains("INSERT INTO sqlite_stat1"),
        "the dump lacks statistics"
    );

    let conn = Connection::open(&restored).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let orig = Connection::open(&original).unwrap();
    for p in [
        "user_version",
        "application_id",
        "page_size",
        "auto_vacuum",
        "freelist_count",
    ] {
        if p != "freelist_count" {
            assert_eq!(pragma_i64(&conn, p), pragma_i64(&orig, p), "pragma {p}");
        }
    }
    assert_eq!(pragma_i64(&conn, "user_version"), 42);
    // exact storage: invalid UTF-8 stays TEXT, '' and x'' stay apart
    let (ty, hex): (String, String) = conn
        .query_row(
            r#"SELECT typeof(t), hex(t) FROM "all types" WHERE hex(t) = 'FF'"#,
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((ty.as_str(), hex.as_str()), ("text", "FF"));
    let kinds: Vec<String> = conn
        .prepare(r#"SELECT typeof(untyped) || ':' || coalesce(length(untyped), -1) FROM "all types" WHERE length(untyped) = 0 OR untyped IS NULL ORDER BY rowid"#)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kinds, ["null:-1", "text:0", "blob:0"]);
    // rowids survive deletes (log lost row 1, shadowed lost row 1)
    let rowids: Vec<i64> = conn
        .prepare("SELECT _rowid_ FROM log ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rowids, [2, 3, 4]);
    let seq: i64 = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'audit'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let max: i64 = conn
        .query_row("SELECT max(id) FROM audit", [], |r| r.get(0))
        .unwrap();
    assert!(
        seq > max,
        "AUTOINCREMENT state lost: seq {seq}, max id {max}"
    );
    // the trigger exists, and did not fire during the load
    let audits: i64 = conn
        .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
        .unwrap();
    assert_eq!(audits, 4, "one per original log insert");
    // no temporary file left behind
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains("tresor-tmp")),
        "left behind: {names:?}"
    );
    eprintln!("built in {built:?}, restored in {restored_in:?}");
}

#[tokio::test]
async fn schema_captures_keys_objects_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema.db");
    build(&path);
    let source = SqliteConnector.source(&url_of(&path)).unwrap();
    let snap = source.open(&ReadOptions::default()).await.unwrap();
    let schema = snap.schema().clone();
    let key = |t: &str| {
        schema
            .table(&TableName::new(t))
            .unwrap_or_else(|| panic!("table {t}"))
            .row_key
            .clone()
    };
    let cols = |names: &[&str]| RowKey::Columns {
        columns: names.iter().map(|s| s.to_string()).collect(),
    };
    assert_eq!(key("select"), cols(&["table"]));
    assert_eq!(key("wr"), cols(&["k", "n"]));
    assert_eq!(key("log"), cols(&["rowid"]));
    assert_eq!(
        key("descpk"),
        cols(&["rowid"]),
        "INTEGER PRIMARY KEY DESC is no rowid alias"
    );
    assert_eq!(key("shadowed"), cols(&["_rowid_"]));
    let log = schema.table(&TableName::new("log")).unwrap();
    assert!(log.columns[0].hidden && log.primary_key.is_empty());
    let gen_t = schema.table(&TableName::new("gen")).unwrap();
    assert_eq!(gen_t.stored_columns().count(), 3, "a, x and the rowid");
    assert!(
        !schema
            .tables
            .iter()
            .any(|t| t.name.name.starts_with("sqlite_")),
        "internal tables are not captured as tables"
    );
    let kinds: Vec<(&str, &str)> = schema
        .objects
        .iter()
        .map(|o| (o.kind.as_str(), o.name.name.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("view", "v w"),
            ("trigger", "log_audit"),
            ("virtual_table", "docs"),
            ("virtual_table", "boxes"),
            ("view", "late_view"),
        ]
    );
    assert_eq!(schema.settings["user_version"], 42);
    assert_eq!(schema.settings["application_id"], 305_419_896);
    assert_eq!(schema.settings["encoding"], "utf-8");
    let sel = schema.table(&TableName::new("select")).unwrap();
    assert_eq!(sel.indexes.len(), 2);
    assert!(
        sel.ddl
            .as_deref()
            .unwrap()
            .starts_with("CREATE TABLE \"select\"")
    );
    let child = schema.table(&TableName::new("child")).unwrap();
    assert_eq!(child.foreign_keys[0].references, TableName::new("textpk"));
    assert_eq!(child.foreign_keys[0].on_delete.as_deref(), Some("CASCADE"));

    // values exactly as stored
    let wr = schema.table(&TableName::new("wr")).unwrap().clone();
    let rows = tresor_testing::read_rows(snap.as_ref(), &wr).await.unwrap();
    let keys: Vec<&Value> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(keys[0], &Value::Int(i64::MIN));
    assert!(matches!(keys.last(), Some(Value::Bytes(b)) if b == &[1]));
    let all = schema.table(&TableName::new("all types")).unwrap().clone();
    let rows = tresor_testing::read_rows(snap.as_ref(), &all)
        .await
        .unwrap();
    let raw = rows
        .iter()
        .find(|r| r[2] == Value::RawText(vec![0xff]))
        .expect("invalid UTF-8 text comes back as RawText");
    assert_eq!(raw[6], Value::RawText(vec![0xc3, 0x28, 0xff, 0xfe]));
    // a REAL column stores -0.0 as the integer 0 (SQLite's own choice);
    // a column without affinity keeps the sign
    assert!(
        rows.iter().any(|r| r[6].same(&Value::F64(-0.0))),
        "-0.0 in an untyped column"
    );
    snap.close().await.unwrap();
}
