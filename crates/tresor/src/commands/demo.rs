//! `tresor demo`: a sample shop database, a repository, two backups and a
//! restore, so a newcomer sees the whole cycle with nothing set up.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use tresor_core::{ReadOptions, RestoreMode, TableFilter};
use tresor_ops::{BackupOptions, NoProgress, RestoreOptions, Trigger, backup, restore};
use tresor_repo::{InitOptions, Password, Repository, Storage};

use crate::cli::{DemoArgs, Global};
use crate::context::engines;
use crate::output::bytes;

const DEMO_PASSWORD: &str = "tresor-demo";

pub async fn run(global: &Global, args: &DemoArgs) -> Result<ExitCode> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let db = dir.join("shop.db");
    let repo_dir = dir.join("repo");
    let restored = dir.join("restored.db");
    let password = std::env::var("TRESOR_PASSWORD").unwrap_or_else(|_| DEMO_PASSWORD.to_string());
    let say = |s: String| {
        if !global.quiet && !global.json {
            println!("{s}");
        }
    };

    if !db.exists() {
        let customers = args.customers;
        let path = db.clone();
        tokio::task::spawn_blocking(move || create_shop(&path, customers)).await??;
        say(format!(
            "created a sample shop database at {}",
            db.display()
        ));
    }
    let storage = Storage::local(&repo_dir)
        .map_err(tresor_repo::RepoError::from)
        .map_err(tresor_ops::OpsError::from)?;
    let repo = match Repository::open(storage.clone(), &Password::new(&password)).await {
        Ok(r) => r,
        Err(tresor_repo::RepoError::NotARepository { .. }) => {
            let r = Repository::init(storage, &Password::new(&password), InitOptions::default())
                .await
                .map_err(tresor_ops::OpsError::from)?;
            say(format!(
                "created a repository at {} (password: {password})",
                repo_dir.display()
            ));
            r
        }
        Err(e) => return Err(tresor_ops::OpsError::from(e).into()),
    };
    let repo = Arc::new(repo);
    let engines = engines();
    let url = format!("sqlite://{}", std::path::absolute(&db)?.display());
    let source = engines.source(&url)?;
    let options = BackupOptions {
        source_name: Some("shop".into()),
        url: url.clone(),
        read: ReadOptions::default(),
        trigger: Trigger::Manual,
        reason: Some("demo".into()),
        ..BackupOptions::default()
    };
    let first = backup(&repo, source.as_ref(), &options, &NoProgress).await?;
    say(format!(
        "backup 1: snapshot {} with {} tables, {} rows, {} stored",
        first.short_id(),
        first.totals.tables,
        first.totals.rows,
        bytes(first.totals.added_bytes)
    ));

    let path = db.clone();
    tokio::task::spawn_blocking(move || a_day_of_business(&path)).await??;
    let second = backup(&repo, source.as_ref(), &options, &NoProgress).await?;
    say(format!(
        "backup 2 after a day of orders: snapshot {}, {} added ({} new chunks, {} reused)",
        second.short_id(),
        bytes(second.totals.added_bytes),
        second.totals.new_chunks,
        second.totals.reused_chunks
    ));

    if restored.exists() {
        std::fs::remove_file(&restored)?;
    }
    let target_url = format!("sqlite://{}", std::path::absolute(&restored)?.display());
    let target = engines.target(&target_url)?;
    let outcome = restore(
        &repo,
        &first,
        target.as_ref(),
        None,
        &RestoreOptions {
            tables: TableFilter::all(),
            mode: RestoreMode::Replace,
            safety_snapshot: false,
            target_url: target_url.clone(),
            ..RestoreOptions::default()
        },
        &NoProgress,
    )
    .await?;
    let rows: u64 = outcome.tables.iter().map(|(_, n)| n).sum();
    say(format!(
        "restored snapshot {} into {} ({rows} rows)",
        first.short_id(),
        restored.display()
    ));
    if global.json {
        super::print_json(&serde_json::json!({
            "database": db, "repository": repo_dir, "restored": restored,
            "snapshots": [first.id, second.id],
        }))?;
    } else if !global.quiet {
        let repo_arg = repo_dir.display();
        println!();
        println!("Try next:");
        println!("  export TRESOR_REPOSITORY={repo_arg} TRESOR_PASSWORD={password}");
        println!("  tresor snapshots");
        println!("  tresor show latest");
        println!("  tresor restore latest --to {} --dry-run", db.display());
        println!("  tresor export latest -o shop.zip");
        println!("  tresor check --read-data");
    }
    super::ok()
}

/// Creates the sample shop: customers, products, orders, order items and
/// an events log without a primary key.
fn create_shop(path: &Path, customers: u32) -> Result<()> {
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
             FROM orders o JOIN order_items i ON i.order_id = o.id JOIN products p ON p.sku = i.sku GROUP BY o.id;
         PRAGMA user_version = 3;",
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
            let avatar: Option<Vec<u8>> =
                (i % 5 == 0).then(|| (0..64).map(|b| (b * i) as u8).collect());
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

/// Some churn: new orders, a renamed customer, a deleted event.
fn a_day_of_business(path: &Path) -> Result<()> {
    let mut conn = rusqlite::Connection::open(path)?;
    let tx = conn.transaction()?;
    tx.execute(
        "UPDATE customers SET name = name || ' (vip)' WHERE id % 100 = 7",
        [],
    )?;
    tx.execute(
        "INSERT INTO orders (customer_id, placed_at, status) SELECT id, '2026-03-01T09:00:00Z', 'new' FROM customers WHERE id % 50 = 1",
        [],
    )?;
    tx.execute("DELETE FROM events WHERE rowid % 1000 = 0", [])?;
    tx.execute(
        "INSERT INTO events VALUES ('2026-03-01T09:00:00Z', 'sale', 'spring sale started')",
        [],
    )?;
    tx.commit()?;
    Ok(())
}
