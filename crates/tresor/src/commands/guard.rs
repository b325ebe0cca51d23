//! `tresor guard SOURCE [--protect GROUP] -- COMMAND [ARGS]`: a guard
//! snapshot, the command, what it changed row by row, and the command's
//! exit status (or 5 when it touched protected rows).

use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;
use tresor_core::{RowChange, TableFilter};
use tresor_ops::{
    DiffOptions, DiffTarget, GuardOptions, NoProgress, UndoOptions, close_guard, diff,
    list_snapshots, release_guard, take_guard, undo,
};

use crate::cli::GuardArgs;
use crate::context::Context;
use crate::exit::{UserError, code};
use crate::output::table;

pub async fn run(ctx: &Context, args: &GuardArgs) -> Result<ExitCode> {
    if let Some(spec) = &args.release {
        return release(ctx, spec).await;
    }
    let (Some(source_spec), Some((program, program_args))) =
        (&args.source, args.command.split_first())
    else {
        return Err(UserError::usage(
            "guard needs a source and a command",
            "tresor guard SOURCE [--protect GROUP] -- COMMAND [ARGS]",
        )
        .into());
    };
    let db = ctx.database(source_spec)?;
    let (tables, protected, protect_filter) = guarded_tables(&db, args)?;
    let repo = ctx.open_repo().await?;
    let source = ctx.engines.source(&db.url)?;
    let command_line = args.command.join(" ");
    let options = GuardOptions {
        source_name: db.name.clone(),
        url: db.url.clone(),
        tables,
        reason: Some(format!("guard: {command_line}")),
        username: None,
    };
    let guard = take_guard(&repo, source.as_ref(), &options, &NoProgress).await?;
    if !ctx.global.json && !ctx.global.quiet {
        eprintln!(
            "guard {} taken of {} tables; running: {command_line}",
            guard.short_id(),
            guard.tables.len()
        );
    }
    let status = tokio::process::Command::new(program)
        .args(program_args)
        .status()
        .await
        .map_err(|e| UserError {
            message: format!("cannot run {program}: {e}"),
            hint: Some(format!(
                "nothing was changed; the guard {} stays (release it with --release)",
                guard.short_id()
            )),
            code: code::USAGE,
        })?;
    let after = close_guard(&repo, source.as_ref(), &guard, &options).await?;

    // what the command changed, and whether it touched protected rows
    let mut shown = Vec::new();
    let mut violations = 0u64;
    let limit = args.limit;
    let tables = diff(
        &repo,
        &guard,
        DiffTarget::Snapshot(&after),
        &DiffOptions::default(),
        &mut |c| {
            let protected_row = !protected.is_empty()
                && protect_filter.matches(c.table)
                && !matches!(c.change, RowChange::Inserted(_));
            if protected_row {
                violations += 1;
            }
            if args.rows && shown.len() < limit {
                shown.push((protected_row, super::diff::row_text(&c)));
            }
        },
    )
    .await?;
    let changed: Vec<_> = tables
        .iter()
        .filter(|t| t.inserted + t.updated + t.deleted > 0)
        .collect();
    let mut undone = None;
    if violations > 0 && args.undo_on_violation {
        let target = ctx.engines.target(&db.url)?;
        let all = list_snapshots(&repo).await?;
        let report = undo(
            &repo,
            &all,
            &guard,
            target.as_ref(),
            source.as_ref(),
            &UndoOptions {
                tables: protect_filter.clone(),
                force: false,
                dry_run: None,
                target_url: db.url.clone(),
                target_name: db.name.clone(),
                username: None,
            },
            &NoProgress,
        )
        .await?;
        undone = Some(report);
    }
    let exit = if violations > 0 {
        code::CONFLICT
    } else {
        status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(code::ERROR)
    };
    if ctx.global.json {
        super::print_json(&json!({
            "guard": guard.id,
            "after": after.id,
            "command": command_line,
            "command_status": status.code(),
            "tables": tables,
            "protected_rows_changed": violations,
            "undone": undone,
        }))?;
    } else if !ctx.global.quiet {
        let outcome = Outcome {
            changed: &changed,
            shown: &shown,
            violations,
            protected: &protected,
            undone: undone.as_ref(),
        };
        print_outcome(&outcome, &guard, args.protect.as_deref());
    }
    Ok(ExitCode::from(exit))
}

/// The tables to guard (`--tables`, `--group`, and the protected ones
/// when a selection is given), the protected group's tables, and a filter
/// of those.
fn guarded_tables(
    db: &crate::context::Database,
    args: &GuardArgs,
) -> Result<(TableFilter, Vec<String>, TableFilter)> {
    let group_tables = |g: &str| -> Result<Vec<String>> {
        let Some(cfg) = &db.config else {
            return Err(UserError::usage(
                format!("--group/--protect {g} needs a source defined in tresor.toml"),
                "name the source by its name in the config file",
            )
            .into());
        };
        cfg.groups.get(g).cloned().ok_or_else(|| {
            UserError::not_found(
                format!("no table group named {g:?}"),
                format!(
                    "groups of this source: {}",
                    cfg.groups.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
            .into()
        })
    };
    let protected = match &args.protect {
        Some(g) => group_tables(g)?,
        None => Vec::new(),
    };
    let mut include = args.tables.clone();
    if let Some(g) = &args.group {
        include.extend(group_tables(g)?);
    }
    if !include.is_empty() {
        include.extend(protected.iter().cloned());
    }
    let tables = TableFilter::new(&include, &args.exclude).map_err(|e| {
        UserError::usage(
            e.to_string(),
            "table patterns are globs such as users, user_*",
        )
    })?;
    let protect_filter = TableFilter::new(&protected, &[]).map_err(|e| {
        UserError::usage(
            e.to_string(),
            "table patterns are globs such as users, user_*",
        )
    })?;
    Ok((tables, protected, protect_filter))
}

/// What the guarded command did, for the text output.
struct Outcome<'a> {
    changed: &'a [&'a tresor_ops::TableDiff],
    shown: &'a [(bool, String)],
    violations: u64,
    protected: &'a [String],
    undone: Option<&'a tresor_ops::UndoReport>,
}

fn print_outcome(o: &Outcome<'_>, guard: &tresor_ops::Snapshot, protect: Option<&str>) {
    if o.changed.is_empty() {
        outln!("the command changed no row of the guarded tables");
    } else {
        let mut rows = vec![vec![
            "Table".to_string(),
            "Inserted".into(),
            "Updated".into(),
            "Deleted".into(),
        ]];
        for t in o.changed {
            rows.push(vec![
                t.table.clone(),
                t.inserted.to_string(),
                t.updated.to_string(),
                t.deleted.to_string(),
            ]);
        }
        outln!("the command changed:");
        table(&rows);
        for (protected_row, line) in o.shown {
            outln!("{}{line}", if *protected_row { "! " } else { "" });
        }
    }
    if o.violations > 0 {
        outln!(
            "the command deleted or changed {} protected row(s) ({})",
            o.violations,
            protect.unwrap_or_default()
        );
        match &o.undone {
            Some(r) => outln!(
                "put back at once: {} row(s) reverted (safety snapshot {})",
                r.tables.iter().map(|t| t.reverted).sum::<u64>(),
                r.safety_snapshot
                    .as_deref()
                    .map_or("-", |s| &s[..8.min(s.len())])
            ),
            None => outln!(
                "undo with: tresor undo {} --tables {}",
                guard.short_id(),
                o.protected.join(",")
            ),
        }
    } else if !o.changed.is_empty() {
        outln!("undo with: tresor undo {}", guard.short_id());
    }
}

async fn release(ctx: &Context, spec: &str) -> Result<ExitCode> {
    let repo = ctx.open_repo().await?;
    let all = list_snapshots(&repo).await?;
    let guard = ctx.resolve(&all, spec)?.clone();
    if !tresor_ops::is_guard(&guard) {
        return Err(UserError::usage(
            format!("snapshot {} is not a guard", guard.short_id()),
            "`tresor snapshots` lists guards among the safety snapshots",
        )
        .into());
    }
    let removed = release_guard(&repo, &all, &guard).await?;
    if ctx.global.json {
        super::print_json(&json!({ "released": removed }))?;
    } else if !ctx.global.quiet {
        outln!(
            "released guard {} ({} snapshot(s)); their data goes at the next prune",
            guard.short_id(),
            removed.len()
        );
    }
    super::ok()
}
