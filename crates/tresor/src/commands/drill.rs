//! `tresor drill [SNAPSHOT] [--target URL] [--source S]`: restore into a
//! scratch database of the same engine, compare, drop.

use std::process::ExitCode;

use anyhow::Result;
use tresor_ops::{NoProgress, Progress, list_snapshots, resolve};

use crate::cli::DrillArgs;
use crate::context::Context;
use crate::exit::code;
use crate::output::{Bars, bytes};

pub async fn run(ctx: &Context, args: &DrillArgs) -> Result<ExitCode> {
    let repo = ctx.open_repo().await?;
    let all = list_snapshots(&repo).await?;
    let snapshot = resolve(&all, &args.snapshot)?.clone();
    let dir = tempfile::tempdir()?;
    let scratch = match (&args.target, &args.source) {
        (Some(t), _) => ctx.database(t)?.url,
        (None, Some(s)) => ctx.engines.scratch_url(&ctx.database(s)?.url, dir.path())?,
        (None, None) => {
            // the configured source with credentials, else the URL the
            // snapshot recorded
            let url = match snapshot
                .source
                .name
                .as_deref()
                .and_then(|n| ctx.database(n).ok())
            {
                Some(db) => db.url,
                None => snapshot.source.url.clone(),
            };
            ctx.engines.scratch_url(&url, dir.path())?
        }
    };
    let bars = ctx.progress_enabled().then(Bars::new);
    let progress: &dyn Progress = match &bars {
        Some(b) => b,
        None => &NoProgress,
    };
    let report = tresor_ops::drill(&repo, &snapshot, &ctx.engines, &scratch, progress).await;
    if let Some(b) = &bars {
        b.finish();
    }
    let report = report?;
    if ctx.global.json {
        super::print_json(&report)?;
    } else {
        for t in &report.tables {
            match &t.problem {
                None if !ctx.global.quiet => println!("  ok      {} ({} rows)", t.name, t.rows),
                None => {}
                Some(p) => println!("  FAILED  {}: {p}", t.name),
            }
        }
        for w in &report.warnings {
            println!("warning: {w}");
        }
        if !ctx.global.quiet || !report.ok {
            println!(
                "drill of snapshot {} {}: {} tables, {} rows ({}) restored into {} in {:.1} s, compared in {:.1} s; the scratch database was dropped",
                snapshot.short_id(),
                if report.ok { "passed" } else { "FAILED" },
                report.tables.len(),
                report.rows,
                bytes(report.bytes),
                report.scratch,
                report.restore_seconds,
                report.verify_seconds
            );
        }
    }
    if report.ok {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(code::DAMAGED))
    }
}
