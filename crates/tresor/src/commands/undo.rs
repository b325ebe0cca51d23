//! `tresor undo [GUARD]`: revert what happened since a guard, for the
//! guarded tables only; previewed, atomic, with a safety snapshot.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Result;
use tresor_core::TableFilter;
use tresor_ops::{NoProgress, UndoOptions, UndoReport, list_snapshots, undo};

use crate::cli::UndoArgs;
use crate::context::Context;
use crate::exit::{UserError, class_code, code};
use crate::output::table;

pub async fn run(ctx: &Context, args: &UndoArgs) -> Result<ExitCode> {
    let tables = TableFilter::new(&args.tables, &[]).map_err(|e| {
        UserError::usage(
            e.to_string(),
            "table patterns are globs such as users, user_*",
        )
    })?;
    let repo = ctx.open_repo().await?;
    let all = list_snapshots(&repo).await?;
    let guard = ctx
        .resolve(&all, args.guard.as_deref().unwrap_or("latest:guard"))?
        .clone();
    let spec = args.to.clone().unwrap_or_else(|| {
        guard
            .source
            .name
            .clone()
            .unwrap_or_else(|| guard.source.url.clone())
    });
    let db = ctx.database(&spec)?;
    let target = ctx.engines.target(&db.url)?;
    let source = ctx.engines.source(&db.url)?;
    let options = |dry_run| UndoOptions {
        tables: tables.clone(),
        force: args.force,
        dry_run,
        target_url: db.url.clone(),
        target_name: db.name.clone(),
        username: None,
    };
    let label = db
        .name
        .clone()
        .unwrap_or_else(|| tresor_core::redact_url(&db.url));

    if args.dry_run || !args.yes {
        let preview = undo(
            &repo,
            &all,
            &guard,
            target.as_ref(),
            source.as_ref(),
            &options(Some(args.rehearse_for)),
            &NoProgress,
        )
        .await?;
        let failure = preview
            .preview
            .as_ref()
            .and_then(|p| p.failure())
            .map(|f| f.class.map_or(code::ERROR, class_code));
        if args.dry_run || failure.is_some() {
            if ctx.global.json {
                super::print_json(&preview)?;
            } else {
                outln!(
                    "dry run: undoing guard {} in {label} would revert:",
                    guard.short_id()
                );
                print_report(&preview);
                outln!("nothing was changed");
            }
            return Ok(failure.map_or(ExitCode::SUCCESS, ExitCode::from));
        }
        let interactive =
            std::io::stdin().is_terminal() && std::io::stderr().is_terminal() && !ctx.global.json;
        if !interactive {
            return Err(UserError {
                message: format!("undoing guard {} changes {label}", guard.short_id()),
                hint: Some("look first with --dry-run, then pass --yes".into()),
                code: code::CONFLICT,
            }
            .into());
        }
        eprintln!("undoing guard {} in {label} will revert:", guard.short_id());
        print_report(&preview);
        eprint!("type yes to undo: ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            return Err(UserError::cancelled("undo cancelled; nothing was changed").into());
        }
    }
    let report = undo(
        &repo,
        &all,
        &guard,
        target.as_ref(),
        source.as_ref(),
        &options(None),
        &NoProgress,
    )
    .await?;
    if ctx.global.json {
        super::print_json(&report)?;
    } else if !ctx.global.quiet {
        outln!("undid guard {} in {label}:", guard.short_id());
        print_report(&report);
        if let Some(s) = &report.safety_snapshot {
            outln!(
                "safety snapshot {} holds the tables as they were; undo the undo with: tresor restore {} --to {} --yes",
                &s[..8.min(s.len())],
                &s[..8.min(s.len())],
                tresor_core::redact_url(&spec)
            );
        }
    }
    super::ok()
}

fn print_report(r: &UndoReport) {
    let mut rows = vec![vec![
        "Table".to_string(),
        "Reverted".into(),
        "Conflicts (left as they are)".into(),
    ]];
    for t in &r.tables {
        rows.push(vec![
            t.table.clone(),
            if t.whole_table {
                format!("{} (whole table: no primary key)", t.reverted)
            } else {
                t.reverted.to_string()
            },
            t.conflicts.to_string(),
        ]);
    }
    table(&rows);
    for t in &r.tables {
        for k in &t.conflict_keys {
            outln!(
                "conflict: {} {k} changed again after the guarded command",
                t.table
            );
        }
    }
    if !r.conflicts_detectable {
        outln!(
            "the guard has no after-state (it was not taken around a command), so every \
             difference from it is reverted and later changes cannot be told apart"
        );
    } else if r.conflicts() > 0 {
        outln!("pass --force to revert the conflicting rows too");
    }
    if let Some(p) = &r.preview
        && let Some(reh) = &p.rehearsal
    {
        match &reh.error {
            Some(e) => outln!("the undo would fail: {}", e.message),
            None => outln!("rehearsed: every check of the undo passed"),
        }
    }
    if !r.kept.is_empty() {
        outln!(
            "the repository is append-only: it keeps the undo's own snapshot(s) {} (a `forget` \
             with the full credentials removes them)",
            r.kept
                .iter()
                .map(|s| &s[..8.min(s.len())])
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}
