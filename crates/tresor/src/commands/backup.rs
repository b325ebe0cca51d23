//! `tresor backup SOURCE`: take a snapshot.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use tresor_ops::{
    BackupRequest, NoProgress, ParentChoice, Progress, SourceSpec, Trigger, backup_opened,
    open_source,
};

use crate::cli::BackupArgs;
use crate::context::Context;
use crate::output::{Bars, bytes};

pub async fn run(ctx: &Context, args: &BackupArgs) -> Result<ExitCode> {
    let db = ctx.database(&args.source)?;
    let source = ctx.engines.source(&db.url)?;
    let spec = match (&db.name, &db.config) {
        (Some(name), Some(config)) => SourceSpec::Named(name, config),
        _ => SourceSpec::Url(&db.url),
    };
    let backup_options = BackupRequest {
        group: args.group.clone(),
        tables: args.tables.clone(),
        exclude: args.exclude.clone(),
        tags: args.tags.clone(),
        reason: args.reason.clone(),
        app_version: args.app_version.clone(),
        trigger: Trigger::Manual,
        jobs: args.jobs,
        options: args.options.clone(),
        lock_wait: args.lock_wait,
        parent: match (&args.parent, args.force) {
            (_, true) => ParentChoice::None,
            (Some(id), false) => ParentChoice::Id(id.clone()),
            (None, false) => ParentChoice::Latest,
        },
        ..BackupRequest::default()
    }
    .options(spec, &ctx.engines)?;
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
            .map(|s| (s, repo))
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
    let (snapshot, repo) = result?;
    tracing::info!(
        target: super::LOG_TARGET,
        "backup saved snapshot={} source={} tables={} rows={} added_bytes={}{}",
        snapshot.short_id(),
        snapshot.source.key(),
        snapshot.totals.tables,
        snapshot.totals.rows,
        snapshot.totals.added_bytes,
        snapshot
            .reason
            .as_deref()
            .map(|r| format!(" reason={r:?}"))
            .unwrap_or_default()
    );
    if ctx.global.json {
        let mut v = serde_json::to_value(&snapshot)?;
        v["id"] = snapshot.id.clone().into();
        super::print_json(&v)?;
    } else if !ctx.global.quiet {
        let t = &snapshot.totals;
        outln!("snapshot {} saved", snapshot.short_id());
        outln!(
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
        outln!(
            "  tables    {} ({} rows, {})",
            t.tables,
            t.rows,
            bytes(t.bytes)
        );
        outln!(
            "  added     {} to the repository ({} new chunks, {} reused)",
            bytes(t.added_bytes),
            t.new_chunks,
            t.reused_chunks
        );
        outln!("  took      {:.1}s", started.elapsed().as_secs_f64());
        for w in &snapshot.warnings {
            outln!("  warning:  {w}");
        }
    }
    if !args.no_retention {
        let rules = tresor_ops::RetentionRules::from_config(&ctx.config, &ctx.engines)?;
        // the snapshot is saved: a retention that fails is a warning, not
        // a failed backup
        let out = match tresor_ops::retain_after_backup(&repo, &rules, &snapshot).await {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!(target: super::LOG_TARGET, "the backup is saved, but its retention rules could not run: {e}");
                eprintln!(
                    "warning: the backup is saved, but its retention rules could not run: {e} (try: tresor forget)"
                );
                None
            }
        };
        if let Some(out) = &out {
            tracing::info!(
                target: super::LOG_TARGET,
                "retention removed {} snapshot(s) of {}: {}",
                out.removed.len(),
                rules.owner(&snapshot),
                out.removed.iter().map(|id| &id[..8.min(id.len())]).collect::<Vec<_>>().join(", ")
            );
        }
        if let Some(out) = out
            && !ctx.global.quiet
            && !ctx.global.json
        {
            outln!(
                "  retention removed {} older snapshot(s) of {}",
                out.removed.len(),
                rules.owner(&snapshot)
            );
        }
    }
    super::ok()
}
