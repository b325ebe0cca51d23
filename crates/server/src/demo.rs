//! `tresor serve --demo`: a sample shop database, a local repository and a
//! config with a schedule, all under one directory, so a newcomer sees the
//! whole server with one command.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tresor_ops::{Config, DEMO_PASSWORD, OpsError};
use tresor_repo::{InitOptions, Password, RepoError, Repository, Storage};

/// What [`prepare_demo`] made.
#[derive(Debug)]
pub struct DemoSetup {
    /// The configuration to serve with.
    pub config: Config,
    /// The config file written for reference (`tresor.toml` in the dir).
    pub config_file: PathBuf,
    /// The repository password.
    pub password: String,
    /// The sample database.
    pub database: PathBuf,
}

/// Creates (or reuses) `dir` with `shop.db`, `repo/`, `tresor.toml`, and
/// returns the config: a source `shop` backed up every 10 minutes and
/// twice a day, keeping the last 10 snapshots, with a `user-data` group,
/// and a weekly prune.
///
/// # Errors
/// File system or SQLite failures.
pub async fn prepare_demo(dir: &Path, listen: &str) -> anyhow::Result<DemoSetup> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = std::path::absolute(dir)?;
    let db = dir.join("shop.db");
    if !db.exists() {
        let path = db.clone();
        tokio::task::spawn_blocking(move || create_sample_database(&path, 2_000)).await??;
    }
    let repo_dir = dir.join("repo");
    let storage = Storage::local(&repo_dir)
        .map_err(RepoError::from)
        .map_err(OpsError::from)?;
    let password = DEMO_PASSWORD.to_string();
    match Repository::open(storage.clone(), &Password::new(&password)).await {
        Ok(_) => {}
        Err(RepoError::NotARepository { .. }) => {
            Repository::init(storage, &Password::new(&password), InitOptions::default())
                .await
                .map_err(OpsError::from)?;
        }
        Err(e) => return Err(OpsError::from(e).into()),
    }
    let text = format!(
        r#"# Written by `tresor serve --demo`. Edit and run `tresor serve -c {cfg}`.
[repository]
url = "{repo}"
password-env = "TRESOR_PASSWORD"

[sources.shop]
url = "sqlite://{db}"
schedule = ["*/10 * * * *", "0 6 * * *", "0 18 * * *"]
timezone = "UTC"
catch-up = true
timeout = "10m"
retries = 2
retry-backoff = "30s"
tags = ["demo"]

[sources.shop.groups]
user-data = ["customers", "orders", "order_items"]

[sources.shop.retention]
keep-last = 10
keep-daily = 7

[prune]
schedule = "0 4 * * 0"

[server]
listen = "{listen}"
state-file = "{state}"
log-file = "{log}"
"#,
        cfg = dir.join("tresor.toml").display(),
        repo = repo_dir.display(),
        db = db.display(),
        state = dir.join("server.db").display(),
        log = dir.join("server.log").display(),
    );
    let config_file = dir.join("tresor.toml");
    std::fs::write(&config_file, &text)?;
    let config = Config::parse(&text, "the demo config")?;
    Ok(DemoSetup {
        config,
        config_file,
        password,
        database: db,
    })
}

/// The sample shop: customers, products, orders, order items and an
/// events log without a primary key (the same shape as `tresor demo`).
/// Creates the sample shop database at `path` (customers, products,
/// orders, order items and an events log without a primary key): what
/// `tresor serve --demo` and `tresor demo` back up.
///
/// # Errors
/// The file cannot be created or written.
pub fn create_sample_database(path: &Path, customers: u32) -> anyhow::Result<()> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE,
             balance NUMERIC, created_at TEXT NOT NULL, avatar BLOB);
         CREATE TABLE products (sku TEXT PRIMARY KEY, title TEXT NOT NULL, price REAL NOT NULL) WITHOUT ROWID;
         CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id INTEGER NOT NULL REFERENCES customers(id),
             placed_at TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'new');
         CREATE TABLE order_items (order_id INTEGER NOT NULL REFERENCES orders(id), sku TEXT NOT NULL REFERENCES products(sku),
             quantity INTEGER NOT NULL, PRIMARY KEY (order_id, sku));
         CREATE TABLE events (at TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT);
         CREATE INDEX orders_by_customer ON orders(customer_id);
         CREATE VIEW order_totals AS SELECT o.id, SUM(i.quantity * p.price) AS total
             FROM orders o JOIN order_items i ON i.order_id = o.id JOIN products p ON p.sku = i.sku GROUP BY o.id;",
    )?;
    let tx = conn.transaction()?;
    {
        let mut product = tx.prepare("INSERT INTO products VALUES (?1, ?2, ?3)")?;
        for i in 0..200u32 {
            product.execute(rusqlite::params![
                format!("SKU-{i:04}"),
                format!("Product {i}"),
                f64::from(i % 97) + 0.99
            ])?;
        }
        let mut customer = tx.prepare("INSERT INTO customers VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        let mut order = tx.prepare(
            "INSERT INTO orders (customer_id, placed_at, status) VALUES (?1, ?2, 'shipped')",
        )?;
        let mut item = tx.prepare("INSERT INTO order_items VALUES (?1, ?2, ?3)")?;
        let mut event = tx.prepare("INSERT INTO events VALUES (?1, 'signup', ?2)")?;
        for i in 1..=customers {
            let avatar: Option<Vec<u8>> = (i % 5 == 0).then(|| {
                (0..64u32)
                    .map(|b| u8::try_from(b.wrapping_mul(i) % 256).unwrap_or(0))
                    .collect()
            });
            customer.execute(rusqlite::params![
                i,
                format!("Customer {i}"),
                format!("customer{i}@example.com"),
                format!("{}.{:02}", i * 3 % 1000, i % 100),
                format!("2026-01-{:02}T08:00:00Z", 1 + i % 28),
                avatar
            ])?;
            event.execute(rusqlite::params![
                format!("2026-01-{:02}T08:00:00Z", 1 + i % 28),
                format!("customer {i}")
            ])?;
            for k in 0..3u32 {
                order.execute(rusqlite::params![
                    i,
                    format!("2026-02-{:02}T12:00:00Z", 1 + (i + k) % 28)
                ])?;
                let order_id = tx.last_insert_rowid();
                item.execute(rusqlite::params![
                    order_id,
                    format!("SKU-{:04}", (i + k) % 200),
                    1 + k
                ])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}
