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

pub async fn run(global: &Global, args: &DemoArgs) -> Result<ExitCode> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let db = dir.join("shop.db");
    let repo_dir = dir.join("repo");
    let restored = dir.join("restored.db");
    let password = std::env::var(tresor_ops::PASSWORD_VAR)
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| tresor_ops::DEMO_PASSWORD.to_string());
    let say = |s: String| {
        if !global.quiet && !global.json {
            outln!("{s}");
        }
    };

    if !db.exists() {
        let customers = args.customers;
        let path = db.clone();
        tokio::task::spawn_blocking(move || {
            tresor_server::create_sample_database(&path, customers)
        })
        .await??;
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
        outln!();
        outln!("Try next:");
        outln!("  export TRESOR_REPOSITORY={repo_arg} TRESOR_PASSWORD={password}");
        outln!("  tresor snapshots");
        outln!("  tresor show latest");
        outln!("  tresor restore latest --to {} --dry-run", db.display());
        outln!("  tresor export latest -o shop.zip");
        outln!("  tresor check --read-data");
    }
    super::ok()
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
