//! A drill's verification: every table read back from the scratch
//! database and compared with the snapshot by its digest, and a table that
//! differs compared row by row, which names what differs. The scratch
//! database is changed between the restore and the verification (when the
//! drill says it starts verifying), as damage would change it.

use std::path::Path;
use std::sync::{Arc, Mutex};

use tresor_core::Connector;
use tresor_ops::{
    BackupOptions, CacheDir, DrillReport, DrillTable, Engines, NoProgress, Progress, backup, drill,
};
use tresor_repo::{InitOptions, KdfParams, Password, Repository, Storage};
use tresor_sqlite::SqliteConnector;

async fn new_repo() -> Arc<Repository> {
    let options = InitOptions {
        kdf: KdfParams::insecure_for_tests(),
        ..InitOptions::default()
    };
    Arc::new(
        Repository::init(Storage::memory(), &Password::new("pw"), options)
            .await
            .unwrap(),
    )
}

/// Customers, their orders, and notes; 200 notes, so that the rows of one
/// table span several batches.
fn shop(path: &Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE orders (id INTEGER PRIMARY KEY,
                              customer_id INTEGER NOT NULL REFERENCES customers(id),
                              total REAL);
         CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
         INSERT INTO customers VALUES (1, 'ada'), (2, 'grace'), (3, 'edsger');
         INSERT INTO orders VALUES (10, 1, 9.5), (11, 2, 20.0), (12, 3, 1.25);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200)
         INSERT INTO notes SELECT x, 'note ' || x FROM n;",
    )
    .unwrap();
}

/// Runs `tamper` when the drill starts its verification: after the restore
/// committed, before anything is read back.
struct Tamper {
    tamper: Box<dyn Fn() + Send + Sync>,
    done: Mutex<bool>,
}

impl Tamper {
    fn new(tamper: impl Fn() + Send + Sync + 'static) -> Self {
        Tamper {
            tamper: Box::new(tamper),
            done: Mutex::new(false),
        }
    }
}

impl Progress for Tamper {
    fn step(&self, message: &str) {
        if message.starts_with("verifying every table") {
            (self.tamper)();
            *self.done.lock().unwrap() = true;
        }
    }
}

/// Drills the shop's snapshot, running `sql` against the scratch database
/// between the restore and the verification.
async fn drill_tampered(sql: &'static str) -> DrillReport {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.db");
    shop(&db);
    let url = format!("sqlite://{}", db.display());
    let repo = new_repo().await;
    let source = SqliteConnector.source(&url).unwrap();
    let options = BackupOptions {
        url: url.clone(),
        cache: CacheDir::Off,
        ..BackupOptions::default()
    };
    let snapshot = backup(&repo, source.as_ref(), &options, &NoProgress)
        .await
        .unwrap();
    let scratch = dir.path().join("tresor_drill_test.db");
    let engines = Engines::new().with(Arc::new(SqliteConnector));
    let at = scratch.clone();
    let tamper = Tamper::new(move || {
        let c = rusqlite::Connection::open(&at).unwrap();
        c.execute_batch(sql).unwrap();
    });
    let report = drill(
        &repo,
        &snapshot,
        &engines,
        &format!("sqlite://{}", scratch.display()),
        &[],
        &tamper,
    )
    .await
    .unwrap();
    assert!(*tamper.done.lock().unwrap(), "the drill never verified");
    assert!(!scratch.exists(), "the scratch database is left");
    report
}

fn table<'a>(report: &'a DrillReport, name: &str) -> &'a DrillTable {
    report
        .tables
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no table {name} in {report:?}"))
}

#[tokio::test]
async fn an_untouched_scratch_database_passes_by_digest() {
    let report = drill_tampered("SELECT 1").await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.tables.len(), 3);
    // listed in the snapshot's order, whatever order they were read in
    let names: Vec<&str> = report.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["customers", "orders", "notes"], "{report:?}");
    for t in &report.tables {
        assert!(t.ok, "{t:?}");
        assert_eq!(t.check.as_deref(), Some("digest"), "{t:?}");
        assert!(t.problem.is_none() && t.note.is_none(), "{t:?}");
    }
}

/// A changed value and a missing row: the digest catches both, and the row
/// by row comparison says what differs.
#[tokio::test]
async fn a_changed_or_missing_row_fails_and_is_named_row_by_row() {
    let report = drill_tampered(
        "UPDATE customers SET name = 'ADA' WHERE id = 1;
         DELETE FROM notes WHERE id = 150;",
    )
    .await;
    assert!(!report.ok, "{report:?}");
    let customers = table(&report, "customers");
    assert!(!customers.ok, "{customers:?}");
    assert_eq!(customers.check.as_deref(), Some("rows"), "{customers:?}");
    assert_eq!(
        customers.problem.as_deref(),
        Some("0 rows missing, 1 differ, 0 extra"),
        "{customers:?}"
    );
    assert_eq!(
        customers.note.as_deref(),
        Some("the rows' digest differs from the snapshot's"),
        "{customers:?}"
    );
    let notes = table(&report, "notes");
    assert!(!notes.ok, "{notes:?}");
    assert_eq!(notes.check.as_deref(), Some("rows"), "{notes:?}");
    assert_eq!(
        notes.problem.as_deref(),
        Some("1 rows missing, 0 differ, 0 extra"),
        "{notes:?}"
    );
    assert_eq!(
        notes.note.as_deref(),
        Some("199 rows restored, the snapshot holds 200"),
        "{notes:?}"
    );
    // the table nobody touched is still proven by its digest
    let orders = table(&report, "orders");
    assert!(orders.ok, "{orders:?}");
    assert_eq!(orders.check.as_deref(), Some("digest"), "{orders:?}");
    let e = tresor_ops::drill_failure(&report);
    assert!(
        e.to_string()
            .contains("table customers: 0 rows missing, 1 differ"),
        "{e}"
    );
    assert!(e.to_string().contains("table notes: 1 rows missing"), "{e}");
}

/// An extra row in the scratch database.
#[tokio::test]
async fn an_extra_row_fails() {
    let report = drill_tampered("INSERT INTO orders VALUES (13, 1, 3.0)").await;
    assert!(!report.ok, "{report:?}");
    let orders = table(&report, "orders");
    assert_eq!(orders.check.as_deref(), Some("rows"), "{orders:?}");
    assert_eq!(
        orders.problem.as_deref(),
        Some("0 rows missing, 0 differ, 1 extra"),
        "{orders:?}"
    );
    assert!(table(&report, "customers").ok, "{report:?}");
}

/// A table that holds other columns in the scratch database cannot be
/// compared by its digest: it is compared row by row, and none of its
/// rows is the snapshot's.
#[tokio::test]
async fn a_table_of_another_layout_is_compared_row_by_row() {
    let report = drill_tampered("ALTER TABLE customers ADD COLUMN extra TEXT").await;
    let customers = table(&report, "customers");
    assert_eq!(customers.check.as_deref(), Some("rows"), "{customers:?}");
    assert!(
        customers
            .note
            .as_deref()
            .is_some_and(|n| n.contains("stored columns or key differ")),
        "{customers:?}"
    );
    assert!(!customers.ok, "{customers:?}");
    assert_eq!(
        customers.problem.as_deref(),
        Some("3 rows missing, 0 differ, 3 extra"),
        "{customers:?}"
    );
    assert!(!report.ok, "{report:?}");
    assert!(table(&report, "orders").ok, "{report:?}");
}

/// `sql` run by `psql` in PostgreSQL database `db` of the test server.
fn psql(db: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Drills a PostgreSQL shop's snapshot, running `sql` against the scratch
/// database between the restore and the verification.
async fn drill_postgres_tampered(sql: &'static str) -> DrillReport {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("tresor_ops_drill_{}_{nanos}", std::process::id());
    let (source_db, scratch) = (format!("{name}_src"), format!("{name}_scratch"));
    psql("postgres", &format!("CREATE DATABASE {source_db}"));
    psql(
        &source_db,
        "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
         CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL, customer int REFERENCES customers);
         INSERT INTO customers VALUES (1, 'ada'), (2, 'grace'), (3, 'edsger');
         INSERT INTO notes SELECT g, 'note ' || g, g % 3 + 1 FROM generate_series(1, 200) g;",
    );
    let url = |db: &str| format!("postgres://postgres@127.0.0.1/{db}");
    let repo = new_repo().await;
    let source = tresor_postgres::PostgresConnector
        .source(&url(&source_db))
        .unwrap();
    let options = BackupOptions {
        url: url(&source_db),
        cache: CacheDir::Off,
        ..BackupOptions::default()
    };
    let snapshot = backup(&repo, source.as_ref(), &options, &NoProgress)
        .await
        .unwrap();
    let engines = Engines::new().with(Arc::new(tresor_postgres::PostgresConnector));
    let at = scratch.clone();
    let tamper = Tamper::new(move || {
        psql(&at, sql);
    });
    let report = drill(&repo, &snapshot, &engines, &url(&scratch), &[], &tamper)
        .await
        .unwrap();
    psql("postgres", &format!("DROP DATABASE {source_db}"));
    assert!(*tamper.done.lock().unwrap(), "the drill never verified");
    let left = psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{scratch}'"),
    );
    assert_eq!(left, "0", "the scratch database is left");
    report
}

/// PostgreSQL: the tables are read back in the order the server stores
/// them (no sort, no index walk). A row updated to the same values moves
/// to the end of its table there, so its table reads back in another
/// order: it is read again in key order and passes by its digest. A row
/// that changed fails, and is named row by row, as on SQLite.
#[tokio::test]
async fn postgres_reads_back_in_stored_order_and_again_in_key_order() {
    let report = drill_postgres_tampered("UPDATE notes SET body = body WHERE id = 7").await;
    assert!(report.ok, "{report:?}");
    for t in &report.tables {
        assert!(t.ok, "{t:?}");
        assert_eq!(t.check.as_deref(), Some("digest"), "{t:?}");
    }
    assert_eq!(
        table(&report, "notes").note.as_deref(),
        Some("stored in another order than its key's: read again in key order"),
        "{report:?}"
    );
    assert_eq!(table(&report, "customers").note, None, "{report:?}");
    let report = drill_postgres_tampered(
        "UPDATE notes SET body = 'changed' WHERE id = 7; UPDATE customers SET name = name",
    )
    .await;
    assert!(!report.ok, "{report:?}");
    let notes = table(&report, "notes");
    assert_eq!(notes.check.as_deref(), Some("rows"), "{notes:?}");
    assert_eq!(
        notes.problem.as_deref(),
        Some("0 rows missing, 1 differ, 0 extra"),
        "{notes:?}"
    );
    let customers = table(&report, "customers");
    assert!(customers.ok, "{customers:?}");
    assert_eq!(customers.check.as_deref(), Some("digest"), "{customers:?}");
}
