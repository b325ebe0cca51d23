//! `tresor restore SNAPSHOT --to TARGET`: preview, confirm, safety snapshot,
//! atomic restore.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Result;
use tresor_core::{RestoreMode, RowFilter, TableFilter};
use tresor_ops::{
    NoProgress, Preview, Progress, RehearsalOutcome, RestoreOptions, RowSelection, list_snapshots,
    preview, restore,
};

use crate::cli::RestoreArgs;
use crate::context::Context;
use crate::exit::{UserError, code};
use crate::output::{Bars, table};

pub async fn run(ctx: &Context, args: &RestoreArgs) -> Result<ExitCode> {
    let db = ctx.database(&args.target)?;
    let filters = super::diff::row_filters(&args.filters)?;
    let repo = ctx.open_repo().await?;
    let all = list_snapshots(&repo).await?;
    let snapshot = ctx.resolve(&all, &args.snapshot)?.clone();
    let tables = super::export::table_selection(
        ctx,
        &snapshot,
        args.group.as_deref(),
        &args.tables,
        &args.exclude,
        db.name.as_deref(),
    )?;
    let target = ctx.engines.target(&db.url)?;
    let target_source = ctx.engines.source(&db.url)?;
    let options = restore_options(args, &db, tables, filters);
    let target_label = db
        .name
        .clone()
        .unwrap_or_else(|| tresor_core::redact_url(&db.url));

    if args.dry_run {
        let rehearsal = (!args.rehearse_for.is_zero()).then_some(args.rehearse_for);
        let options = RestoreOptions {
            rehearsal,
            ..options
        };
        let p = preview(
            &repo,
            &snapshot,
            target.as_ref(),
            target_source.as_ref(),
            &options,
        )
        .await?;
        if ctx.global.json {
            super::print_json(&p)?;
        } else {
            outln!(
                "dry run: restoring snapshot {} into {target_label} ({} mode) would change:",
                snapshot.short_id(),
                p.mode
            );
            print_preview(&p);
            print_rehearsal(&p);
            outln!("nothing was changed");
        }
        return Ok(match p.failure() {
            Some(f) => ExitCode::from(f.class.map_or(code::ERROR, crate::exit::class_code)),
            None => ExitCode::SUCCESS,
        });
    }

    let state = target.inspect().await?;
    let plan = tresor_ops::plan_restore(&repo, &snapshot, &options).await?;
    let dropped = if args.drop_extra_tables {
        tresor_ops::extra_tables(&plan, &state)
    } else {
        Vec::new()
    };
    let touched_with_data: Vec<_> = plan
        .tables
        .iter()
        .chain(&dropped)
        .filter(|t| state.table(t).is_some_and(|e| e.rows > 0))
        .collect();
    // --only-missing leaves every table that holds data alone
    if !touched_with_data.is_empty() && !args.yes && !args.only_missing {
        let interactive =
            std::io::stdin().is_terminal() && std::io::stderr().is_terminal() && !ctx.global.json;
        if !interactive {
            return Err(UserError {
                message: format!(
                    "{target_label} holds data in {} of the tables to restore",
                    touched_with_data.len()
                ),
                hint: Some("look first with --dry-run, then pass --yes (a safety snapshot is taken before anything is overwritten)".into()),
                code: code::CONFLICT,
            }
            .into());
        }
        let p = preview(
            &repo,
            &snapshot,
            target.as_ref(),
            target_source.as_ref(),
            &options,
        )
        .await?;
        eprintln!(
            "restoring snapshot {} into {target_label} ({} mode) will change:",
            snapshot.short_id(),
            p.mode
        );
        print_preview(&p);
        if !options.safety_snapshot {
            eprintln!("no safety snapshot will be taken (--no-safety-snapshot)");
        }
        eprint!("type yes to restore: ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            return Err(UserError::cancelled("restore cancelled; nothing was changed").into());
        }
    }

    let bars = ctx.progress_enabled().then(Bars::new);
    let progress: &dyn Progress = match &bars {
        Some(b) => b,
        None => &NoProgress,
    };
    let result = restore(
        &repo,
        &snapshot,
        target.as_ref(),
        Some(target_source.as_ref()),
        &options,
        progress,
    )
    .await;
    if let Some(b) = &bars {
        b.finish();
    }
    let outcome = result?;
    tracing::info!(
        target: super::LOG_TARGET,
        "restore finished snapshot={} target={target_label} tables={} rows={} safety_snapshot={} left_alone={}",
        snapshot.short_id(),
        outcome.tables.len(),
        outcome.tables.iter().map(|(_, n)| n).sum::<u64>(),
        outcome.safety_snapshot.as_deref().map_or("none", |s| &s[..8.min(s.len())]),
        outcome.skipped.len()
    );
    report(ctx, args, &snapshot, &target_label, &outcome)?;
    super::ok()
}

/// The restore the arguments ask for.
fn restore_options(
    args: &RestoreArgs,
    db: &crate::context::Database,
    tables: TableFilter,
    filters: Vec<RowFilter>,
) -> RestoreOptions {
    RestoreOptions {
        tables,
        // a row selection merges: nothing outside it is touched
        mode: args.mode.unwrap_or(if args.filters.is_empty() {
            RestoreMode::Replace
        } else {
            RestoreMode::Merge
        }),
        safety_snapshot: !args.no_safety_snapshot,
        target_url: db.url.clone(),
        target_name: db.name.clone(),
        username: None,
        rehearsal: None,
        rows: (!args.filters.is_empty()).then_some(RowSelection {
            filters,
            with_related: args.with_related,
        }),
        only_missing: args.only_missing,
        app_version: args
            .app_version
            .clone()
            .or_else(|| db.config.as_ref().and_then(|c| c.app_version.clone())),
        require_same_app_version: args.require_same_app_version,
        with_privileges: args.with_privileges,
        strict: args.strict,
        drop_extra_tables: args.drop_extra_tables,
        lock_wait: Some(args.lock_wait),
    }
}

/// Prints what a restore did.
fn report(
    ctx: &Context,
    args: &RestoreArgs,
    snapshot: &tresor_ops::Snapshot,
    target_label: &str,
    outcome: &tresor_ops::RestoreOutcome,
) -> Result<()> {
    if ctx.global.json {
        super::print_json(outcome)?;
    } else if !ctx.global.quiet {
        if let Some(s) = &outcome.safety_snapshot {
            outln!(
                "safety snapshot {} taken of the data that was overwritten",
                &s[..8.min(s.len())]
            );
        }
        print_skipped(&outcome.skipped);
        if !outcome.dropped.is_empty() {
            outln!(
                "dropped (the snapshot does not have them, --drop-extra-tables): {}",
                outcome.dropped.join(", ")
            );
        }
        let rows: u64 = outcome.tables.iter().map(|(_, n)| n).sum();
        outln!(
            "restored snapshot {} into {target_label}: {} tables, {rows} rows ({})",
            snapshot.short_id(),
            outcome.tables.len(),
            outcome.summary.method
        );
        for w in &outcome.summary.warnings {
            outln!("warning: {w}");
        }
        for a in &outcome.summary.changed_values {
            outln!("approximated: {a}");
        }
        let made = outcome.created.join(", ");
        match &outcome.safety_snapshot {
            Some(s) if made.is_empty() => outln!(
                "undo with: tresor restore {} --to {} --yes",
                &s[..8.min(s.len())],
                tresor_core::redact_url(&args.target)
            ),
            Some(s) => outln!(
                "undo with: tresor restore {} --to {} --yes (the tables this restore made stay: {made})",
                &s[..8.min(s.len())],
                tresor_core::redact_url(&args.target)
            ),
            None if !args.no_safety_snapshot && !made.is_empty() => outln!(
                "no safety snapshot: the target had none of the restored tables, this restore made \
                 them ({made}); to undo it, drop them (latest:safety is an earlier restore's)"
            ),
            None => {}
        }
    }
    Ok(())
}

fn print_rehearsal(p: &Preview) {
    let Some(r) = &p.rehearsal else {
        outln!("not rehearsed (--rehearse-for 0): only rows were counted");
        return;
    };
    match r.outcome {
        RehearsalOutcome::Passed => outln!(
            "rehearsed in {:.1} s ({}): every table loaded and every check passed",
            r.seconds,
            r.method
        ),
        RehearsalOutcome::Stopped => outln!(
            "rehearsal stopped at its limit of {:.0} s after {} of {} tables; not checked: {} \
             (raise --rehearse-for to check everything)",
            r.limit_seconds,
            r.tables_loaded.len(),
            r.tables_loaded.len() + r.tables_not_loaded.len(),
            r.tables_not_loaded
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        RehearsalOutcome::Failed => {
            if let Some(e) = &r.error {
                outln!("the restore would fail: {}", e.message);
                if let Some(h) = &e.hint {
                    outln!("  try: {h}");
                }
            }
        }
    }
    for w in &r.warnings {
        outln!("warning: {w}");
    }
}

fn print_selection(p: &Preview) {
    if p.selection.is_empty() {
        return;
    }
    outln!("rows chosen (merged by key; nothing else is touched):");
    let mut rows = vec![vec![
        "Table".to_string(),
        "Rows".into(),
        "Kept as they are".into(),
        "Why".into(),
    ]];
    for t in &p.selection {
        rows.push(vec![
            t.table.clone(),
            t.rows.to_string(),
            t.already_present.to_string(),
            t.reasons
                .iter()
                .map(|r| format!("{} ({})", r.why, r.rows))
                .collect::<Vec<_>>()
                .join("; "),
        ]);
    }
    table(&rows);
}

/// What `--only-missing` left alone.
/// `1 row`, `12 rows`.
fn rows_of(n: u64) -> String {
    if n == 1 {
        "1 row".into()
    } else {
        format!("{n} rows")
    }
}

fn print_skipped(skipped: &[tresor_ops::SkippedTable]) {
    if skipped.is_empty() {
        return;
    }
    outln!(
        "left alone (they hold data, --only-missing): {}",
        skipped
            .iter()
            .map(|t| format!("{} ({})", t.name, rows_of(t.target_rows)))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn print_preview(p: &Preview) {
    if p.creates_database {
        outln!("the target database does not exist yet: the restore creates it");
    }
    if let Some(w) = p.app_version.warning() {
        outln!("warning: {w}");
    }
    print_skipped(&p.skipped);
    if p.tables.is_empty() {
        outln!("no table to restore");
        return;
    }
    print_selection(p);
    let mut rows = vec![vec![
        "Table".to_string(),
        "Action".into(),
        "Snapshot rows".into(),
        "Target rows".into(),
        "Insert".into(),
        "Update".into(),
        "Delete".into(),
        "Unchanged".into(),
    ]];
    for t in &p.tables {
        rows.push(vec![
            t.name.to_string(),
            t.action.clone(),
            t.snapshot_rows.to_string(),
            t.target_rows.map_or("-".into(), |n| n.to_string()),
            t.inserted.to_string(),
            t.updated.to_string(),
            t.deleted.to_string(),
            t.unchanged.to_string(),
        ]);
    }
    table(&rows);
    for t in &p.tables {
        if let Some(note) = &t.note {
            outln!(
                "{}: {note}; it is made again as the snapshot had it",
                t.name
            );
        }
    }
    if !p.dropped.is_empty() {
        outln!(
            "dropped (the snapshot does not have them, --drop-extra-tables): {}",
            p.dropped
                .iter()
                .map(|t| format!("{} ({})", t.name, rows_of(t.target_rows)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !p.extra_tables.is_empty() {
        outln!(
            "left alone (the snapshot does not have them; --drop-extra-tables drops them): {}",
            p.extra_tables.join(", ")
        );
    }
    if !p.other_sessions.is_empty() {
        outln!(
            "{}: {}; stop the application before restoring",
            tresor_ops::sessions_note(&p.other_sessions),
            tresor_ops::sessions_consequence(p.writes_held, false)
        );
    }
    if !p.approximations.is_empty() {
        outln!(
            "approximated in the target ({}; --strict refuses them):",
            p.approximations.len()
        );
        for a in &p.approximations {
            outln!("  {a}");
        }
    }
}
