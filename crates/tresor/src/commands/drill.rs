//! `tresor drill [SNAPSHOT] [--target URL] [--source S]`: restore into a
//! scratch database of the same engine, verify every table against the
//! snapshot, run the source's assertions, drop.

use std::process::ExitCode;

use anyhow::Result;
use tresor_ops::{DrillReport, NoProgress, Progress, Snapshot, list_snapshots};

use crate::cli::DrillArgs;
use crate::context::Context;
use crate::exit::{UserError, code};
use crate::output::{Bars, bytes};

pub async fn run(ctx: &Context, args: &DrillArgs) -> Result<ExitCode> {
    let repo = ctx.open_repo().await?;
    let all = list_snapshots(&repo).await?;
    let snapshot = ctx.resolve(&all, &args.snapshot)?.clone();
    let dir = tempfile::tempdir()?;
    // the configured source (for credentials and assertions): --source,
    // else the one the snapshot was taken of
    let named = match &args.source {
        Some(s) => Some(ctx.database(s)?),
        None => snapshot
            .source
            .name
            .as_deref()
            .and_then(|n| ctx.database(n).ok()),
    };
    let scratch = match (&args.target, &named) {
        (Some(t), _) => ctx.database(t)?.url,
        (None, Some(db)) => ctx.engines.scratch_url(&db.url, dir.path())?,
        // the URL the snapshot recorded, which keeps no password: tried
        // without one (the server may trust, or PGPASSWORD or a password
        // file give it)
        (None, None) => ctx
            .engines
            .scratch_url(&snapshot.source.url.replacen(":***@", "@", 1), dir.path())?,
    };
    let without_password =
        args.target.is_none() && named.is_none() && snapshot.source.url.contains(":***@");
    let assertions = named
        .as_ref()
        .and_then(|db| db.config.as_ref())
        .map(|c| c.drill.assertions.clone())
        .unwrap_or_default();
    let bars = ctx.progress_enabled().then(Bars::new);
    let progress: &dyn Progress = match &bars {
        Some(b) => b,
        None => &NoProgress,
    };
    let report = tresor_ops::drill(
        &repo,
        &snapshot,
        &ctx.engines,
        &scratch,
        &assertions,
        progress,
    )
    .await;
    if let Some(b) = &bars {
        b.finish();
    }
    let report = match report {
        Err(e) if without_password => {
            return Err(UserError {
                message: format!("{e:#}"),
                hint: Some(format!(
                    "snapshot {} records its source without its password, and the drill tried \
                     without one: name the source from tresor.toml with --source NAME, or give \
                     a scratch database with --target URL",
                    snapshot.short_id()
                )),
                code: code::DATABASE,
            }
            .into());
        }
        report => report?,
    };
    if ctx.global.json {
        super::print_json(&report)?;
    } else {
        print_report(ctx, &report, &snapshot);
    }
    if !report.ok {
        eprintln!("error: {}", tresor_ops::drill_failure(&report));
    }
    if report.ok {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(code::DAMAGED))
    }
}

fn print_report(ctx: &Context, report: &DrillReport, snapshot: &Snapshot) {
    for t in &report.tables {
        match (&t.problem, &t.check) {
            (None, Some(check)) if !ctx.global.quiet => {
                outln!("  ok      {} ({} rows, {check})", t.name, t.rows);
            }
            (None, None) if !ctx.global.quiet => outln!("  -       {} (not checked)", t.name),
            (None, _) => {}
            (Some(p), _) => outln!("  FAILED  {}: {p}", t.name),
        }
        if let Some(n) = &t.note
            && (!ctx.global.quiet || t.problem.is_some())
        {
            outln!("          ({n})");
        }
    }
    for a in &report.assertions {
        let seen = a.seen.as_deref().unwrap_or("NULL");
        match &a.error {
            _ if a.ok && ctx.global.quiet => {}
            _ if a.ok => outln!("  ok      {} ({seen}, expected {})", a.name, a.expect),
            Some(e) => outln!("  FAILED  {}: {e}", a.name),
            None => outln!("  FAILED  {}: {seen}, expected {}", a.name, a.expect),
        }
    }
    for w in &report.warnings {
        outln!("warning: {w}");
    }
    if !ctx.global.quiet || !report.ok {
        outln!(
            "drill of snapshot {} {}: {} tables, {} rows ({}) restored into {} in {:.1} s, verified in {:.1} s; the scratch database was dropped",
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
