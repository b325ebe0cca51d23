//! [`SqliteHarness`]: throwaway database files in a temporary directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{Connection, params};
use tresor_core::Connector;
use tresor_sqlite::SqliteConnector;
use tresor_testing::{Harness, Held, Step};

/// Makes databases as files in its own temporary directory.
pub struct SqliteHarness {
    dir: tempfile::TempDir,
    next: AtomicU64,
    wal: bool,
}

impl SqliteHarness {
    /// Databases in WAL mode (`wal`) or rollback-journal mode.
    pub fn new(wal: bool) -> Self {
        SqliteHarness {
            dir: tempfile::tempdir().expect("temp dir"),
            next: AtomicU64::new(1),
            wal,
        }
    }

    /// The directory holding the databases.
    #[allow(dead_code)]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The file a `sqlite://` URL made by the harness names.
pub fn path_of(url: &str) -> PathBuf {
    PathBuf::from(url.strip_prefix("sqlite://").unwrap_or(url))
}

/// A URL for a file path.
pub fn url_of(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

pub fn open(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

fn run_step(path: &Path, step: &Step) -> anyhow::Result<()> {
    let mut conn = open(path)?;
    match step {
        Step::CreateShop => conn.execute_batch(
            "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE,
                 balance DECIMAL(12,2), note TEXT NULL, photo BLOB NULL);
             CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id),
                 total DECIMAL(12,2), placed_at TIMESTAMP);
             CREATE INDEX orders_customer ON orders(customer_id);
             CREATE TABLE events(kind TEXT, payload TEXT);
             CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);",
        )?,
        Step::FillShop { customers } => {
            let tx = conn.transaction()?;
            {
                let mut c = tx.prepare("INSERT INTO customers VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
                let mut o = tx.prepare("INSERT INTO orders VALUES (?1, ?2, ?3, ?4)")?;
                let mut e = tx.prepare("INSERT INTO events VALUES (?1, ?2)")?;
                for i in 1..=i64::from(*customers) {
                    let note = (i % 2 == 1).then(|| format!("note {i}"));
                    let photo = vec![(i % 251) as u8; (i % 7) as usize];
                    c.execute(params![
                        i,
                        format!("customer {i}"),
                        format!("c{i}@example.com"),
                        format!("{i}.50"),
                        note,
                        photo
                    ])?;
                    for id in [2 * i - 1, 2 * i] {
                        o.execute(params![id, i, format!("{id}.25"), "2024-01-02 03:04:05"])?;
                    }
                    e.execute(params![format!("kind {}", i % 3), format!("payload {i}")])?;
                }
            }
            tx.commit()?;
        }
        Step::RenameCustomer { id, name } => {
            conn.execute("UPDATE customers SET name = ?1 WHERE id = ?2", params![name, id])?;
        }
        Step::DeleteCustomer { id } => {
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM orders WHERE customer_id = ?1", [id])?;
            tx.execute("DELETE FROM customers WHERE id = ?1", [id])?;
            tx.commit()?;
        }
        Step::FillAccounts => {
            conn.execute_batch("INSERT INTO accounts VALUES (1, 500), (2, 500)")?;
        }
        Step::Transfer { amount } => {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute("UPDATE accounts SET balance = balance - ?1 WHERE id = 1", [amount])?;
            tx.execute("UPDATE accounts SET balance = balance + ?1 WHERE id = 2", [amount])?;
            tx.commit()?;
        }
    }
    Ok(())
}

#[async_trait]
impl Harness for SqliteHarness {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::new(SqliteConnector)
    }

    async fn create_database(&self) -> anyhow::Result<String> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let path = self.dir.path().join(format!("db {n}.db"));
        let conn = open(&path)?;
        if self.wal {
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        }
        Ok(url_of(&path))
    }

    async fn drop_database(&self, url: &str) -> anyhow::Result<()> {
        let path = path_of(url);
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        for suffix in ["-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        Ok(())
    }

    async fn hold_customers(&self, url: &str) -> anyhow::Result<Option<Held>> {
        let conn = open(&path_of(url))?;
        conn.execute_batch("BEGIN IMMEDIATE; UPDATE customers SET name = name WHERE id = 1")?;
        Ok(Some(Box::new(conn)))
    }

    async fn run(&self, url: &str, step: &Step) -> anyhow::Result<()> {
        let path = path_of(url);
        let step = step.clone();
        tokio::task::spawn_blocking(move || run_step(&path, &step)).await?
    }
}
