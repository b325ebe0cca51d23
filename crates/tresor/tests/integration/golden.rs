//! The golden repository: `tests/fixtures/repo-v1`, written once by tresor
//! 0.1.0 and committed as it came out (`tests/fixtures/README.md` says how,
//! with the script that made it). It is never regenerated: every later
//! version must open, check and restore it as it is, or the backups users
//! already have would stop working. The expected rows are written here, not
//! read back through tresor. The snapshots' times, host and user are those
//! of the machine that made them and are not looked at.

use std::path::{Path, PathBuf};

use rusqlite::types::Value;

use super::support::{Env, files_under, stderr};

/// The golden repository's password.
const GOLDEN_PASSWORD: &str = "golden";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo-v1")
}

/// A copy of the golden repository in a temporary directory (a restore
/// takes a lock, which writes into the repository).
fn golden_env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let from = fixture();
    for file in files_under(&from) {
        let to = repo.join(file.strip_prefix(&from).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&file, &to).unwrap();
    }
    Env {
        dir,
        remote: Some(repo.display().to_string()),
        remote_env: Vec::new(),
    }
}

/// Runs `tresor` with the golden password and asserts success; stdout.
fn run(env: &Env, args: &[&str]) -> String {
    let out = env
        .command()
        .env("TRESOR_PASSWORD", GOLDEN_PASSWORD)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tresor {args:?} failed on the golden repository:\n{}",
        stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn int(i: i64) -> Value {
    Value::Integer(i)
}

fn real(f: f64) -> Value {
    Value::Real(f)
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn blob(b: &[u8]) -> Value {
    Value::Blob(b.to_vec())
}

const NULL: Value = Value::Null;

/// Every row of `table`, in primary key order.
fn rows(db: &Path, table: &str, key: &str) -> Vec<Vec<Value>> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut stmt = c
        .prepare(&format!("SELECT * FROM {table} ORDER BY {key}"))
        .unwrap();
    let width = stmt.column_count();
    stmt.query_map([], |r| (0..width).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The definitions of the restored database, by name.
fn schema(db: &Path) -> Vec<(String, String, String)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut stmt = c
        .prepare(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn expected_schema() -> Vec<(String, String, String)> {
    [
        (
            "table",
            "customers",
            "CREATE TABLE customers (\n  id INTEGER PRIMARY KEY,\n  name TEXT NOT NULL,\n  \
             email TEXT UNIQUE,\n  balance REAL,\n  joined DATE,\n  \
             active BOOLEAN NOT NULL DEFAULT 1\n)",
        ),
        (
            "table",
            "orders",
            "CREATE TABLE orders (\n  id INTEGER PRIMARY KEY,\n  \
             customer_id INTEGER NOT NULL REFERENCES customers(id),\n  \
             total DECIMAL(10,2),\n  placed_at DATETIME,\n  payload BLOB,\n  note TEXT\n)",
        ),
        (
            "index",
            "orders_customer",
            "CREATE INDEX orders_customer ON orders(customer_id)",
        ),
        (
            "table",
            "settings",
            "CREATE TABLE settings (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
        ),
    ]
    .into_iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect()
}

/// The rows of each table in a snapshot.
struct Expected {
    customers: Vec<Vec<Value>>,
    orders: Vec<Vec<Value>>,
    settings: Vec<Vec<Value>>,
}

/// The database as it was first backed up (snapshot `golden-first`).
fn first() -> Expected {
    Expected {
        customers: vec![
            vec![
                int(1),
                text("Ada Lovelace"),
                text("ada@example.com"),
                real(1234.5),
                text("1815-12-10"),
                int(1),
            ],
            vec![
                int(2),
                text("Émile Zola"),
                text("emile@example.fr"),
                real(-0.25),
                text("1840-04-02"),
                int(0),
            ],
            vec![
                int(3),
                text("李小龍"),
                NULL,
                NULL,
                text("1940-11-27"),
                int(1),
            ],
        ],
        orders: vec![
            vec![
                int(10),
                int(1),
                real(19.99),
                text("2024-02-29 23:59:59"),
                blob(&[0x00, 0xff, 0x10]),
                NULL,
            ],
            vec![
                int(11),
                int(1),
                real(0.5),
                text("2025-01-01 00:00:00"),
                NULL,
                text("gift 'wrapped'"),
            ],
            vec![
                int(12),
                int(3),
                int(1_000_000),
                text("1999-12-31 12:00:00"),
                blob(&[]),
                text("two\nlines"),
            ],
        ],
        settings: vec![
            vec![text("big"), int(i64::MAX)],
            vec![text("magic"), blob(&[0xde, 0xad, 0xbe, 0xef])],
            vec![text("max_items"), int(42)],
            vec![text("nothing"), NULL],
            vec![text("ratio"), real(0.75)],
            vec![text("small"), int(i64::MIN)],
            vec![text("theme"), text("dark")],
        ],
    }
}

/// The database at the second, incremental backup (snapshot
/// `golden-second`): customer 2's balance changed, order 11 deleted,
/// order 13 and setting `added` inserted.
fn second() -> Expected {
    let mut e = first();
    e.customers[1][3] = real(99.75);
    e.orders.remove(1);
    e.orders.push(vec![
        int(13),
        int(2),
        real(7.25),
        text("2026-03-01 08:30:00"),
        blob(&[0x01]),
        text("second"),
    ]);
    e.settings.insert(0, vec![text("added"), text("yes")]);
    e
}

#[test]
fn golden_repository_v1_opens_checks_and_restores() {
    let env = golden_env();
    let checked = run(&env, &["check"]);
    assert!(checked.contains("checked 2 snapshots"), "{checked}");
    let checked = run(&env, &["check", "--read-data"]);
    assert!(checked.contains("checked 2 snapshots"), "{checked}");

    let listed: serde_json::Value =
        serde_json::from_str(&run(&env, &["--json", "snapshots"])).unwrap();
    let snapshots = listed.as_array().unwrap();
    assert_eq!(snapshots.len(), 2, "{listed:#}");
    let tagged = |tag: &str| {
        snapshots
            .iter()
            .find(|s| s["tags"].as_array().unwrap().iter().any(|t| t == tag))
            .unwrap_or_else(|| panic!("no snapshot tagged {tag}: {listed:#}"))
    };
    let (a, b) = (tagged("golden-first"), tagged("golden-second"));
    for s in [a, b] {
        assert_eq!(s["tresor_version"], "0.1.0");
        assert_eq!(s["source"]["engine"], "sqlite");
        assert_eq!(s["source"]["url"], "shop.db");
    }
    assert!(a.get("parent").is_none_or(serde_json::Value::is_null));
    assert_eq!(b["parent"], a["id"], "the second snapshot is incremental");
    let table_rows = |s: &serde_json::Value| -> Vec<(String, u64)> {
        s["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["name"]["name"].as_str().unwrap().to_string(),
                    t["rows"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let counts = |c: u64, o: u64, s: u64| {
        vec![
            ("customers".to_string(), c),
            ("orders".to_string(), o),
            ("settings".to_string(), s),
        ]
    };
    assert_eq!(table_rows(a), counts(3, 3, 7));
    assert_eq!(table_rows(b), counts(3, 3, 8));

    for (snapshot, expected) in [(a, first()), (b, second())] {
        let id = snapshot["id"].as_str().unwrap();
        let db = env.path(&format!("restored-{id}.db"));
        run(
            &env,
            &["restore", id, "--to", db.to_str().unwrap(), "--yes"],
        );
        assert_eq!(schema(&db), expected_schema(), "snapshot {id}");
        assert_eq!(
            rows(&db, "customers", "id"),
            expected.customers,
            "snapshot {id}"
        );
        assert_eq!(rows(&db, "orders", "id"), expected.orders, "snapshot {id}");
        assert_eq!(
            rows(&db, "settings", "key"),
            expected.settings,
            "snapshot {id}"
        );
    }
}
