//! `tresor backup SOURCE`: take a snapshot.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use tresor_core::{ReadOptions, TableFilter};
use tresor_ops::{
    BackupOptions, NoProgress, ParentChoice, Progress, Trigger, backup_opened, open_source,
};

use crate::cli::BackupArgs;
use crate::context::Context;
use crate::exit::UserError;
use crate::output::{Bars, bytes};

pub async fn run(ctx: &Context, args: &BackupArgs) -> Result<ExitCode> {
    let db = ctx.database(&args.source)?;
    let filter = filter(&db, args)?;
    let source = ctx.engines.source(&db.url)?;
    let mut options = db
        .config
        .as_ref()
        .map(|c| c.options.clone())
        .unwrap_or_default();
    options.extend(args.options.iter().cloned());
    let mut tags = db
        .config
        .as_ref()
        .map(|c| c.tags.clone())
        .unwrap_or_default();
    tags.extend(args.tags.iter().cloned());
    let backup_options = BackupOptions {
        source_name: db.name.clone(),
        url: db.url.clone(),
        read: ReadOptions {
            filter,
            // parallel reads pay off where the engine shares one snapshot
            // between connections without locking (PostgreSQL)
            jobs: args
                .jobs
                .or(db.config.as_ref().and_then(|c| c.jobs))
                .unwrap_or(match ctx.engines.engine_of(&db.url) {
                    Ok(tresor_core::Engine::Postgres) => 2,
                    _ => 1,
                }),
            options,
        },
        trigger: Trigger::Manual,
        reason: args.reason.clone(),
        tags,
        app_version: args.app_version.clone(),
        parent: match (&args.parent, args.force) {
            (_, true) => ParentChoice::None,
            (Some(id), false) => ParentChoice::Id(id.clone()),
            (None, false) => ParentChoice::Latest,
        },
        ..BackupOptions::default()
    };
    let started = Instant::now();
    let bars = ctx.progress_enabled().then(Bars::new);
    let progress: &dyn Progress = match &bars {
        Some(b) => b,
        None => &NoProgress,
    };
    // the key is derived from the password while the source opens its
    // snapshot
    let (repo, opened) = tokio::join!(
        ctx.open_repo(),
        open_source(source.as_ref(), &backup_options, progress)
    );
    let result: Result<_> = match (repo, opened) {
        (Ok(repo), Ok(opened)) => backup_opened(&repo, opened, &backup_options, progress)
            .await
            .map_err(Into::into),
        (Err(e), opened) => {
            if let Ok(o) = opened {
                o.close().await;
            }
            Err(e)
        }
        (Ok(_), Err(e)) => Err(e.into()),
    };
    if let Some(b) = &bars {
        b.finish();
    }
    let snapshot = result?;
    if ctx.global.json {
        let mut v = serde_json::to_value(&snapshot)?;
        v["id"] = snapshot.id.into();
        super::print_json(&v)?;
    } else if !ctx.global.quiet {
        let t = &snapshot.totals;
        println!("snapshot {} saved", snapshot.short_id());
        println!(
            "  source    {}{}",
            snapshot
                .source
                .name
                .as_deref()
                .map(|n| format!("{n} "))
                .unwrap_or_default(),
            if snapshot.source.name.is_some() {
                format!("({})", snapshot.source.url)
            } else {
                snapshot.source.url.clone()
            }
        );
        println!(
            "  tables    {} ({} rows, {})",
            t.tables,
            t.rows,
            bytes(t.bytes)
        );
        println!(
            "  added     {} to the repository ({} new chunks, {} reused)",
            bytes(t.added_bytes),
            t.new_chunks,
            t.reused_chunks
        );
        println!("  took      {:.1}s", started.elapsed().as_secs_f64());
        for w in &snapshot.warnings {
            println!("  warning:  {w}");
        }
    }
    super::ok()
}

fn filter(db: &crate::context::Database, args: &BackupArgs) -> Result<TableFilter> {
    let invalid = |e: tresor_core::FilterError| {
        UserError::usage(
            e.to_string(),
            "table patterns are globs such as users, user_*, public.*",
        )
    };
    match (&db.config, &args.group) {
        (Some(c), group) => {
            if args.tables.is_empty() && args.exclude.is_empty() {
                return Ok(c.filter(group.as_deref())?);
            }
            let mut include = match group {
                Some(g) => c.groups.get(g).cloned().unwrap_or_default(),
                None => c.include.clone(),
            };
            include.extend(args.tables.iter().cloned());
            let mut exclude = c.exclude.clone();
            exclude.extend(args.exclude.iter().cloned());
            Ok(TableFilter::new(&include, &exclude).map_err(invalid)?)
        }
        (None, Some(g)) => Err(UserError::usage(
            format!("--group {g} needs a source defined in tresor.toml"),
            "define the source and its groups in tresor.toml, or use --tables",
        )
        .into()),
        (None, None) => Ok(TableFilter::new(&args.tables, &args.exclude).map_err(invalid)?),
    }
}
