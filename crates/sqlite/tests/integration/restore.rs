//! Restores into existing databases and failure cases specific to SQLite.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::Connection;
use tokio::sync::mpsc;
use tresor_core::{
    Column, DatabaseSchema, Engine, ErrorKind, PortableType, ReadOptions, RestoreMode, RestorePlan,
    RowKey, Source, TableFilter, TableName, TableSchema, Target, Value,
};
use tresor_sqlite::{SqliteConnector, SqliteSource, SqliteTarget};
use tresor_testing::{copy_database, read_database, restore_snapshot};

use super::harness::url_of;

fn exec(path: &Path, sql: &str) {
    Connection::open(path).unwrap().execute_batch(sql).unwrap();
}

fn count(path: &Path, sql: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const ITEMS: &str = "CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_triggers_do_not_fire_and_survive() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src.db"), dir.path().join("dst.db"));
    exec(
        &src,
        &format!(
            "{ITEMS} INSERT INTO items VALUES (1, 'a'), (7, 'b'); DELETE FROM items WHERE id = 7;"
        ),
    );
    exec(
        &dst,
        &format!(
            "{ITEMS} CREATE TABLE audit (what TEXT);
             CREATE TRIGGER items_audit AFTER INSERT ON items BEGIN INSERT INTO audit VALUES (new.name); END;
             CREATE TRIGGER items_gone AFTER DELETE ON items BEGIN INSERT INTO audit VALUES ('gone'); END;
             INSERT INTO items (id, name) VALUES (100, 'target');"
        ),
    );
    assert_eq!(count(&dst, "SELECT count(*) FROM audit"), 1);
    let filter = TableFilter::new(&["items"], &[]).unwrap();
    let summary = copy_database(
        &SqliteConnector,
        &url_of(&src),
        &url_of(&dst),
        RestoreMode::Replace,
        &filter,
    )
    .await
    .unwrap();
    assert_eq!(summary.method, "one transaction");
    assert_eq!(
        count(&dst, "SELECT count(*) FROM audit"),
        1,
        "triggers fired during the restore"
    );
    assert_eq!(
        count(
            &dst,
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
        ),
        2
    );
    assert_eq!(count(&dst, "SELECT sum(id) * 10 + count(*) FROM items"), 11);
    // AUTOINCREMENT state is the snapshot's, not the target's 100
    assert_eq!(
        count(&dst, "SELECT seq FROM sqlite_sequence WHERE name = 'items'"),
        7
    );
    // and the triggers work again afterwards
    exec(&dst, "INSERT INTO items (name) VALUES ('later')");
    assert_eq!(count(&dst, "SELECT count(*) FROM audit"), 2);
    assert_eq!(count(&dst, "SELECT max(id) FROM items"), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_foreign_keys_abort_the_restore() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src.db"), dir.path().join("dst.db"));
    let schema = "CREATE TABLE parent (id INTEGER PRIMARY KEY);
                  CREATE TABLE child (id INTEGER PRIMARY KEY,
                      parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE);";
    exec(
        &src,
        &format!("{schema} INSERT INTO parent VALUES (1), (2);"),
    );
    exec(
        &dst,
        &format!(
            "{schema} INSERT INTO parent VALUES (1), (2), (3); INSERT INTO child VALUES (1, 1), (2, 3);"
        ),
    );
    let before = read_database(&SqliteConnector, &url_of(&dst), &TableFilter::all())
        .await
        .unwrap();
    let filter = TableFilter::new(&["parent"], &[]).unwrap();
    let err = copy_database(
        &SqliteConnector,
        &url_of(&src),
        &url_of(&dst),
        RestoreMode::Replace,
        &filter,
    )
    .await
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("foreign key") && msg.contains("child row 2"),
        "{msg}"
    );
    let after = read_database(&SqliteConnector, &url_of(&dst), &TableFilter::all())
        .await
        .unwrap();
    assert_eq!(
        format!("{:?}", before.tables),
        format!("{:?}", after.tables)
    );
}

/// The check reads what the restore can have broken: the restored tables
/// and those referencing them (however the reference spells the name),
/// not a table elsewhere whose references were broken before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_foreign_key_check_covers_what_the_restore_touched() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src.db"), dir.path().join("dst.db"));
    let schema = "CREATE TABLE Parent (id INTEGER PRIMARY KEY);
                  CREATE TABLE child (id INTEGER PRIMARY KEY,
                      parent_id INTEGER NOT NULL REFERENCES PARENT(id));
                  CREATE TABLE lonely (id INTEGER PRIMARY KEY);
                  CREATE TABLE stray (id INTEGER PRIMARY KEY,
                      lonely_id INTEGER REFERENCES lonely(id));";
    exec(
        &src,
        &format!("{schema} INSERT INTO Parent VALUES (1), (2);"),
    );
    // stray's reference was broken before any restore (foreign keys off)
    exec(
        &dst,
        &format!(
            "PRAGMA foreign_keys = OFF; {schema} INSERT INTO Parent VALUES (1), (2), (3); INSERT INTO child VALUES (1, 1), (2, 2);
             INSERT INTO stray VALUES (1, 42);"
        ),
    );
    let filter = TableFilter::new(&["Parent"], &[]).unwrap();
    copy_database(
        &SqliteConnector,
        &url_of(&src),
        &url_of(&dst),
        RestoreMode::Replace,
        &filter,
    )
    .await
    .unwrap();
    assert_eq!(count(&dst, "SELECT count(*) FROM Parent"), 2);
    // a child of a row the snapshot lacks is caught through PARENT
    exec(
        &dst,
        "INSERT INTO Parent VALUES (3); INSERT INTO child VALUES (3, 3);",
    );
    let err = copy_database(
        &SqliteConnector,
        &url_of(&src),
        &url_of(&dst),
        RestoreMode::Replace,
        &filter,
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("child row 3"), "{err:#}");
    assert_eq!(count(&dst, "SELECT count(*) FROM Parent"), 3);
}

/// A merge of a few rows checks the references of the rows it wrote, by
/// key: a row pointing at a missing parent is refused by name, a broken
/// reference elsewhere in the same table is not its business, and a table
/// referencing a merged one by primary key is not read. A merge of many
/// rows checks the whole table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_checks_the_references_of_the_rows_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src.db"), dir.path().join("dst.db"));
    let schema = "CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT UNIQUE);
                  CREATE TABLE child (id INTEGER PRIMARY KEY,
                      parent_id INTEGER REFERENCES parent(id),
                      parent_code TEXT REFERENCES parent(code));";
    exec(
        &src,
        &format!(
            "{schema} INSERT INTO parent VALUES (1, 'a'), (2, 'b');
             INSERT INTO child VALUES (10, 1, 'a'), (11, 2, NULL), (12, NULL, 'b');"
        ),
    );
    // child 99's reference was broken before the restore
    exec(
        &dst,
        &format!(
            "PRAGMA foreign_keys = OFF; {schema} INSERT INTO parent VALUES (1, 'a'), (2, 'b');
             INSERT INTO child VALUES (99, 42, NULL);"
        ),
    );
    let merge = |tables: &[&str]| {
        let filter = TableFilter::new(tables, &[]).unwrap();
        let (src, dst) = (url_of(&src), url_of(&dst));
        async move { copy_database(&SqliteConnector, &src, &dst, RestoreMode::Merge, &filter).await }
    };
    merge(&["child"]).await.unwrap();
    assert_eq!(count(&dst, "SELECT count(*) FROM child"), 4);
    // parent merged: child references it by primary key and by code; only
    // the code can change in a merge, so child is read for that one
    merge(&["parent"]).await.unwrap_err();
    exec(&dst, "DELETE FROM child WHERE id = 99");
    merge(&["parent"]).await.unwrap();

    // a written row whose parent is missing, through either reference
    exec(
        &src,
        "PRAGMA foreign_keys = OFF; INSERT INTO child VALUES (13, 7, NULL), (14, 1, 'zz');",
    );
    let err = merge(&["child"]).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("2 row(s) would point at rows"), "{text}");
    assert!(text.contains("child row (13)"), "{text}");
    assert!(text.contains("child row (14)"), "{text}");
    assert_eq!(count(&dst, "SELECT count(*) FROM child"), 3);

    // many rows: the whole table is checked, and a reference broken
    // before the restore refuses it
    exec(
        &src,
        "DELETE FROM child WHERE id IN (13, 14);
         WITH RECURSIVE n(i) AS (SELECT 1000 UNION ALL SELECT i + 1 FROM n WHERE i < 11000)
         INSERT INTO child SELECT i, 1, NULL FROM n;",
    );
    exec(
        &dst,
        "PRAGMA foreign_keys = OFF; INSERT INTO child VALUES (99, 42, NULL);",
    );
    let err = merge(&["child"]).await.unwrap_err();
    assert!(format!("{err:#}").contains("child row 99"), "{err:#}");
    exec(&dst, "DELETE FROM child WHERE id = 99");
    merge(&["child"]).await.unwrap();
    assert_eq!(count(&dst, "SELECT count(*) FROM child"), 3 + 10_001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_session_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.db");
    exec(
        &src,
        &format!("{ITEMS} INSERT INTO items (name) VALUES ('x'), ('y');"),
    );
    let snap = SqliteSource::new(&src)
        .open(&ReadOptions::default())
        .await
        .unwrap();
    let schema = snap.schema().clone();
    let target = SqliteTarget::new(dir.path().join("new.db"));
    let plan = RestorePlan {
        tables: vec![TableName::new("items")],
        ..RestorePlan::of_all(schema.clone(), RestoreMode::Replace)
    };
    let mut session = target.begin(&plan).await.unwrap();
    assert_eq!(
        files(dir.path()).len(),
        2,
        "the temporary file: {:?}",
        files(dir.path())
    );
    let (tx, rx) = mpsc::channel(2);
    let t = &schema.tables[0];
    let (read, load) = tokio::join!(snap.read_table(t, tx), session.load_table(t, rx));
    assert_eq!(read.unwrap(), load.unwrap());
    drop(session);
    assert_eq!(files(dir.path()), ["src.db"]);
    assert!(!target.inspect().await.unwrap().exists);
    // and a failing restore into a new file cleans up too
    let mut bad = plan.clone();
    bad.schema.tables[0].ddl = Some("CREATE TABLE items (oops".into());
    assert!(target.begin(&bad).await.is_err());
    assert_eq!(files(dir.path()), ["src.db"]);
    // while a committed one leaves just the database
    restore_snapshot(snap.as_ref(), &target, RestoreMode::Replace, true)
        .await
        .unwrap();
    assert_eq!(files(dir.path()), ["new.db", "src.db"]);
    snap.close().await.unwrap();
}

#[tokio::test]
async fn missing_source_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let Err(err) = SqliteSource::new(dir.path().join("nope.db"))
        .open(&ReadOptions::default())
        .await
    else {
        panic!("opened a missing file")
    };
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.hint().is_some());
    let not_db = dir.path().join("text.db");
    std::fs::write(
        &not_db,
        "this is not a database, just some text that is long enough",
    )
    .unwrap();
    let Err(err) = SqliteSource::new(&not_db)
        .open(&ReadOptions::default())
        .await
    else {
        panic!("opened a text file")
    };
    assert_eq!(err.kind(), ErrorKind::Data, "{err}");
}

#[tokio::test]
async fn asking_for_a_missing_table_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    exec(&path, ITEMS);
    let options = ReadOptions {
        filter: TableFilter::new(&["items", "itmes", "x*"], &[]).unwrap(),
        ..ReadOptions::default()
    };
    let Err(err) = SqliteSource::new(&path).open(&options).await else {
        panic!("a misspelt table was ignored")
    };
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.to_string(), "no table named itmes in the database");
    assert_eq!(err.hint(), Some("the tables there are: items"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_of_other_engines_restore_with_portable_types() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("from-pg.db");
    let int = PortableType::Int {
        bits: 64,
        unsigned: false,
    };
    let mut id = Column::new("id", "bigint", int);
    id.nullable = false;
    let table = TableSchema {
        name: TableName::qualified("public", "prices"),
        kind: "table".into(),
        columns: vec![
            id,
            Column::new(
                "price",
                "numeric(10,2)",
                PortableType::Decimal {
                    precision: Some(10),
                    scale: Some(2),
                },
            ),
            Column::new("active", "boolean", PortableType::Bool),
            Column::new("at", "timestamptz", PortableType::TimestampTz),
        ],
        primary_key: vec!["id".into()],
        row_key: RowKey::Columns {
            columns: vec!["id".into()],
        },
        constraints: vec![],
        indexes: vec![],
        foreign_keys: vec![],
        ddl: Some("CREATE TABLE public.prices (...)".into()),
        auto_increment: None,
        comment: None,
        extra: BTreeMap::new(),
    };
    let plan = RestorePlan::of_all(
        DatabaseSchema {
            engine: Engine::POSTGRES,
            tables: vec![table.clone()],
            objects: vec![],
            settings: BTreeMap::new(),
        },
        RestoreMode::Replace,
    );
    let target = SqliteTarget::new(&path);
    let mut session = target.begin(&plan).await.unwrap();
    let (tx, rx) = mpsc::channel(1);
    tx.send(vec![vec![
        Value::Int(1),
        Value::Decimal("1.50".into()),
        Value::Bool(true),
        Value::TimestampTz(tresor_core::Timestamp::from_unix_micros(0)),
    ]])
    .await
    .unwrap();
    drop(tx);
    assert_eq!(session.load_table(&table, rx).await.unwrap(), 1);
    let summary = session.commit().await.unwrap();
    assert!(!summary.warnings.is_empty());
    // declared the way migrations declare them, so ORMs read the columns
    // as their own: a numeric(10,2) is DECIMAL(10,2), whose affinity keeps
    // 1.50 as the number 1.5 (docs/cross-engine.md)
    let conn = Connection::open(&path).unwrap();
    let row: (f64, i64, String) = conn
        .query_row("SELECT price, active, at FROM prices", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(row, (1.5, 1, "1970-01-01 00:00:00Z".into()));
    let declared: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'prices'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        declared.contains("\"price\" DECIMAL(10,2)") && declared.contains("\"active\" BOOLEAN"),
        "{declared}"
    );
}

/// A merge into a table without a primary key adds the snapshot's rows it
/// lacks by their bytes, whatever the column's collation ('A' and 'b' are
/// not the 'a' and 'B' of a NOCASE column), duplicates and NULLs counted,
/// with their snapshot rowids where free; merging again adds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_adds_the_rows_a_keyless_table_lacks_by_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src.db"), dir.path().join("dst.db"));
    let schema = "CREATE TABLE words (w TEXT COLLATE NOCASE, n REAL);";
    exec(
        &src,
        &format!(
            "{schema} INSERT INTO words (rowid, w, n) VALUES (1, 'a', 1), (2, 'A', 1), \
             (3, 'a', 1), (4, NULL, NULL), (5, 'b', 2.5);"
        ),
    );
    exec(
        &dst,
        &format!(
            "{schema} INSERT INTO words (rowid, w, n) VALUES (1, 'a', 1), (2, 'B', 2.5), \
             (9, 'since', 0);"
        ),
    );
    for _ in 0..2 {
        let filter = TableFilter::new(&["words"], &[]).unwrap();
        copy_database(
            &SqliteConnector,
            &url_of(&src),
            &url_of(&dst),
            RestoreMode::Merge,
            &filter,
        )
        .await
        .unwrap();
        let c = Connection::open(&dst).unwrap();
        let rows: Vec<String> = c
            .prepare("SELECT rowid || ':' || quote(w) || ':' || quote(n) FROM words ORDER BY rowid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // rowid 2 is taken by 'B': 'A' gets a new one
        assert_eq!(
            rows,
            [
                "1:'a':1.0",
                "2:'B':2.5",
                "3:'a':1.0",
                "4:NULL:NULL",
                "5:'b':2.5",
                "9:'since':0.0",
                "10:'A':1.0"
            ]
        );
    }
}

/// `--drop-extra-tables` with a full-text table the snapshot lacks: the
/// target lists it by its storage tables, and the virtual table goes with
/// all of them (not its storage alone, which would leave it broken); a
/// full-text table the snapshot has keeps its storage and rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_virtual_table_the_snapshot_lacks_takes_its_storage() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.db");
    let dst = dir.path().join("dst.db");
    let kept = "CREATE VIRTUAL TABLE docs USING fts5(body); \
                INSERT INTO docs VALUES ('kept words');";
    exec(
        &src,
        &format!("{ITEMS} INSERT INTO items (name) VALUES ('x'); {kept}"),
    );
    exec(
        &dst,
        &format!(
            "{ITEMS} INSERT INTO items (name) VALUES ('y'); {kept} \
             CREATE VIRTUAL TABLE notes USING fts5(body); \
             INSERT INTO notes VALUES ('made since the backup'); \
             CREATE TABLE later (id INTEGER PRIMARY KEY);"
        ),
    );
    let snap = SqliteSource::new(&src)
        .open(&ReadOptions::default())
        .await
        .unwrap();
    let target = SqliteTarget::new(&dst);
    let state = target.inspect().await.unwrap();
    let planned = RestorePlan::of_all(snap.schema().clone(), RestoreMode::Replace);
    let plan = RestorePlan {
        drop: state
            .tables
            .iter()
            .filter(|t| !planned.tables.contains(&t.name))
            .map(|t| t.name.clone())
            .collect(),
        ..planned
    };
    assert!(
        plan.drop.iter().any(|t| t.name == "notes_data") && plan.drop.len() > 2,
        "{:?}",
        plan.drop
    );
    let mut session = target.begin(&plan).await.unwrap();
    for name in &plan.tables {
        let t = plan.schema.table(name).unwrap();
        let (tx, rx) = mpsc::channel(2);
        let (read, load) = tokio::join!(snap.read_table(t, tx), session.load_table(t, rx));
        assert_eq!(read.unwrap(), load.unwrap());
    }
    session.commit().await.unwrap();
    assert_eq!(
        count(
            &dst,
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'notes%' OR name = 'later'"
        ),
        0
    );
    assert_eq!(
        count(&dst, "SELECT count(*) FROM docs WHERE docs MATCH 'kept'"),
        1
    );
    assert_eq!(
        count(&dst, "SELECT count(*) FROM items WHERE name = 'x'"),
        1
    );
    let check: String = Connection::open(&dst)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
