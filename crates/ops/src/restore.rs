//! Restore: snapshot rows -> target, atomically, after an optional preview
//! and an automatic safety snapshot of whatever the restore overwrites.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;
use tresor_core::{
    Approximation, DatabaseSchema, DiffCounts, ReadOptions, RestoreMode, RestorePlan,
    RestoreSummary, Row, RowBatch, RowKey, RowReceiver, Source, TableFilter, TableName,
    TableSchema, Target, TargetState, diff_keyed, diff_unkeyed, load_order,
};
use tresor_repo::Repository;

use crate::backup::{BackupOptions, backup, restrict_schema};
use crate::error::{OpsError, Result};
use crate::progress::{NoProgress, Progress, forward_counting};
use crate::rows::stream_table;
use crate::select::{RowSelection, Selected, SelectedTable, TableRows, drop_present, select};
use crate::snapshot::{Snapshot, Trigger, load_schema};

/// How to restore.
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// Which tables of the snapshot to restore.
    pub tables: TableFilter,
    /// Replace or merge.
    pub mode: RestoreMode,
    /// Take a safety snapshot of the target's overwritten tables first
    /// (needs a source for the target).
    pub safety_snapshot: bool,
    /// The target URL, recorded in the safety snapshot.
    pub target_url: String,
    /// The target's name in `tresor.toml`, if any.
    pub target_name: Option<String>,
    /// Who asked for the restore.
    pub username: Option<String>,
    /// For [`preview`]: rehearse the restore (load every row into the
    /// target inside its transaction or work tables, run every check the
    /// commit runs, then roll back) for at most this long. `None` computes
    /// the row counts only.
    pub rehearsal: Option<Duration>,
    /// Restore only chosen rows (`--where`, `--with-related`), in merge
    /// mode: nothing outside the selection is touched.
    pub rows: Option<RowSelection>,
    /// Restore only the tables that are missing or empty in the target and
    /// leave every other one alone (`--only-missing`, the deploy-safe
    /// restore: user data that exists is never overwritten).
    pub only_missing: bool,
    /// The version of the application running on the target, when known:
    /// a snapshot of another version is reported (and refused with
    /// `require_same_app_version`).
    pub app_version: Option<String>,
    /// Refuse a snapshot whose application version is not `app_version`.
    pub require_same_app_version: bool,
    /// Also restore roles, owners, grants and default privileges
    /// (`--with-privileges`; PostgreSQL).
    pub with_privileges: bool,
    /// Refuse a restore into another engine that would approximate
    /// anything (`--strict`): a type the target cannot hold as it is, an
    /// object that is not translated.
    pub strict: bool,
}

/// The application versions of a snapshot and of the restore's target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppVersions {
    /// The version recorded with the snapshot.
    pub snapshot: Option<String>,
    /// The version the target runs.
    pub target: Option<String>,
    /// Whether both are known and differ.
    pub differs: bool,
}

impl AppVersions {
    /// What `options` says about `snapshot`'s version.
    ///
    /// # Errors
    /// `require_same_app_version` and the versions are not the same (an
    /// unknown version is not the same either).
    pub fn check(snapshot: &Snapshot, options: &RestoreOptions) -> Result<AppVersions> {
        let v = AppVersions {
            snapshot: snapshot.app_version.clone(),
            target: options.app_version.clone(),
            differs: matches!(
                (&snapshot.app_version, &options.app_version),
                (Some(a), Some(b)) if a != b
            ),
        };
        if options.require_same_app_version
            && (v.differs || v.snapshot.is_none() || v.target.is_none())
        {
            let name = |x: &Option<String>| x.clone().unwrap_or_else(|| "unknown".into());
            return Err(OpsError::InvalidInput {
                what: format!(
                    "snapshot {} was taken by application version {}, and the target runs {}",
                    snapshot.short_id(),
                    name(&v.snapshot),
                    name(&v.target)
                ),
                hint: Some(
                    "restore a snapshot of the version the target runs, or leave out --require-same-app-version"
                        .into(),
                ),
            });
        }
        Ok(v)
    }

    /// The warning to show when the versions differ.
    pub fn warning(&self) -> Option<String> {
        match (&self.snapshot, &self.target) {
            (Some(s), Some(t)) if self.differs => Some(format!(
                "the snapshot was taken by application version {s}; the target runs {t}"
            )),
            _ => None,
        }
    }
}

/// A table `only_missing` left alone because the target holds rows in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedTable {
    /// The table.
    #[serde(serialize_with = "as_text")]
    pub name: TableName,
    /// Rows it holds in the target.
    pub target_rows: u64,
}

/// How long previews rehearse a restore unless told otherwise.
pub const DEFAULT_REHEARSAL: Duration = Duration::from_secs(300);

/// How a rehearsal ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RehearsalOutcome {
    /// Every row was loaded and every check of the commit passed; the
    /// restore will succeed unless the target changes meanwhile.
    Passed,
    /// The restore would fail; nothing was changed.
    Failed,
    /// The time bound ran out before every table was loaded: the tables
    /// loaded passed, the rest and the final checks were not run.
    Stopped,
}

/// Why a rehearsal failed, as the restore would have reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RehearsalError {
    /// The error message.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The class of failure (for exit codes and HTTP statuses).
    #[serde(skip)]
    pub class: Option<crate::ErrorClass>,
}

/// What rehearsing the restore found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rehearsal {
    /// Passed, failed or stopped.
    pub outcome: RehearsalOutcome,
    /// Seconds it took.
    pub seconds: f64,
    /// The time bound it ran under.
    pub limit_seconds: f64,
    /// Tables loaded completely, in load order (as shown to users).
    pub tables_loaded: Vec<String>,
    /// Tables of the plan not loaded (stopped, or after a failure).
    pub tables_not_loaded: Vec<String>,
    /// The error, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RehearsalError>,
    /// What the target reported (approximations, skipped objects).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// How the target held the rehearsal (and dropped it).
    pub method: String,
}

/// What a restore would do to one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TablePreview {
    /// The table.
    pub name: TableName,
    /// `create` (the table is new), `replace`, `merge`, or `recreate` (a
    /// replace of a table whose definition changed since the backup: it is
    /// created again as the snapshot had it, with its rows).
    pub action: String,
    /// How the table's definition in the target differs from the
    /// snapshot's, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Rows in the snapshot.
    pub snapshot_rows: u64,
    /// Rows in the target now, if the table exists.
    pub target_rows: Option<u64>,
    /// Rows that would be inserted.
    pub inserted: u64,
    /// Rows that would be changed.
    pub updated: u64,
    /// Rows that would be deleted (replace mode only).
    pub deleted: u64,
    /// Rows that stay as they are.
    pub unchanged: u64,
}

/// What a restore would do.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Preview {
    /// The snapshot.
    pub snapshot: String,
    /// Replace or merge.
    pub mode: RestoreMode,
    /// Whether the target holds data in a table the restore touches (the
    /// restore then needs confirmation and takes a safety snapshot).
    pub overwrites_data: bool,
    /// Per table, in load order.
    pub tables: Vec<TablePreview>,
    /// For a whole-database restore: tables the target holds that the
    /// snapshot does not (created after the backup, or renamed). A restore
    /// leaves them as they are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_tables: Vec<String>,
    /// For a row selection: per table, how many rows come and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub selection: Vec<SelectedTable>,
    /// The restore executed and rolled back, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<Rehearsal>,
    /// With `only_missing`: tables left alone because they hold data.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedTable>,
    /// The snapshot's and the target's application versions.
    pub app_version: AppVersions,
    /// Whether the target database does not exist yet (the restore
    /// creates it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub creates_database: bool,
    /// Into another engine: per table and column, what cannot be kept as
    /// it was (the type it becomes, what changes), and the objects not
    /// translated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub approximations: Vec<Approximation>,
}

impl Preview {
    /// The rehearsal's error, when the rehearsal found that the restore
    /// would fail.
    pub fn failure(&self) -> Option<&RehearsalError> {
        self.rehearsal.as_ref().and_then(|r| r.error.as_ref())
    }
}

/// What a restore did.
#[derive(Clone, Debug, Serialize)]
pub struct RestoreOutcome {
    /// The snapshot restored.
    pub snapshot: String,
    /// The safety snapshot taken first, if any.
    pub safety_snapshot: Option<String>,
    /// The target's report.
    pub summary: RestoreSummary,
    /// Rows restored per table, in load order.
    pub tables: Vec<(TableName, u64)>,
    /// With `only_missing`: tables left alone because they hold data.
    pub skipped: Vec<SkippedTable>,
}

/// Decides which tables a restore covers and in what order.
///
/// # Errors
/// A filter naming a table the snapshot lacks, or merge mode on a table
/// without a key.
pub async fn plan_restore(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    options: &RestoreOptions,
) -> Result<RestorePlan> {
    Ok(plan(repo, snapshot, options).await?.plan)
}

/// A plan, and for a row selection the rows it restores.
struct Planned {
    plan: RestorePlan,
    selected: Option<Selected>,
    app_version: AppVersions,
}

async fn plan(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    options: &RestoreOptions,
) -> Result<Planned> {
    let app_version = AppVersions::check(snapshot, options)?;
    let full = load_schema(repo, snapshot).await?;
    let names: Vec<TableName> = full.tables.iter().map(|t| t.name.clone()).collect();
    let missing = options.tables.unmatched_literals(names.iter());
    if !missing.is_empty() {
        return Err(OpsError::NotFound {
            what: format!(
                "snapshot {} has no table named {}",
                snapshot.short_id(),
                missing.join(", ")
            ),
            hint: Some(format!(
                "the snapshot holds: {}",
                names
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        });
    }
    let selected = match &options.rows {
        Some(rows) => {
            if options.mode == RestoreMode::Replace {
                return Err(OpsError::InvalidInput {
                    what: "a row selection (--where) restores in merge mode".into(),
                    hint: Some(
                        "leave out --mode replace: the chosen rows are inserted or updated by \
                         key, and nothing else is touched"
                            .into(),
                    ),
                });
            }
            Some(select(repo, snapshot, &full, &options.tables, rows).await?)
        }
        None => None,
    };
    let schema = restrict_schema(&full, |t| {
        options.tables.matches(&t.name)
            && selected
                .as_ref()
                .is_none_or(|s| s.tables.contains_key(&t.name))
    });
    if let Some(s) = &selected
        && s.tables.is_empty()
    {
        return Err(OpsError::NotFound {
            what: "no row of the snapshot matches the --where predicates".into(),
            hint: Some(
                "check the predicates with `tresor diff SNAPSHOT --live --where ...`".into(),
            ),
        });
    }
    if schema.tables.is_empty() {
        return Err(OpsError::InvalidInput {
            what: "the table selection matches no table of the snapshot".into(),
            hint: Some("check --tables; `tresor show SNAPSHOT` lists the tables".into()),
        });
    }
    if options.mode == RestoreMode::Merge
        && let Some(t) = schema.tables.iter().find(|t| t.row_key == RowKey::None)
    {
        return Err(OpsError::InvalidInput {
            what: format!(
                "table {} has no primary key, so rows cannot be merged",
                t.name
            ),
            hint: Some("restore it with --mode replace, or leave it out with --tables".into()),
        });
    }
    let refs: Vec<&TableSchema> = schema.tables.iter().collect();
    let tables = load_order(&refs);
    Ok(Planned {
        plan: RestorePlan {
            whole_database: options.tables.is_all() && !snapshot.partial && selected.is_none(),
            recreate: Vec::new(),
            privileges: options.with_privileges,
            schema,
            mode: options.mode,
            tables,
            only_missing: false,
        },
        selected,
        app_version,
    })
}

fn as_text<S: serde::Serializer>(name: &TableName, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(name)
}

/// With `only_missing`, narrows `plan` to the tables the target lacks or
/// holds no row in, and says which were left alone.
fn keep_only_missing(
    plan: &mut RestorePlan,
    state: &TargetState,
    options: &RestoreOptions,
) -> Result<Vec<SkippedTable>> {
    if !options.only_missing {
        return Ok(Vec::new());
    }
    if options.rows.is_some() {
        return Err(OpsError::InvalidInput {
            what: "--only-missing restores whole tables; it cannot take a row selection".into(),
            hint: Some("leave out --where, or leave out --only-missing".into()),
        });
    }
    let skipped: Vec<SkippedTable> = plan
        .tables
        .iter()
        .filter_map(|t| {
            state.table(t).filter(|e| e.rows > 0).map(|e| SkippedTable {
                name: t.clone(),
                target_rows: e.rows,
            })
        })
        .collect();
    plan.tables
        .retain(|t| !skipped.iter().any(|s| &s.name == t));
    plan.schema = restrict_schema(&plan.schema, |t| plan.tables.contains(&t.name));
    // the target's other tables and objects are not this restore's
    plan.whole_database = false;
    // the target checks again, inside its transaction, that no table
    // gained rows since it was inspected
    plan.only_missing = true;
    Ok(skipped)
}

/// Tables of the plan that hold rows in the target now.
fn overwritten(plan: &RestorePlan, state: &TargetState) -> Vec<TableName> {
    plan.tables
        .iter()
        .filter(|t| state.table(t).is_some_and(|e| e.rows > 0))
        .cloned()
        .collect()
}

/// Computes what a restore would insert, update and delete, without
/// changing anything. `target_source` reads the target's current rows.
///
/// # Errors
/// Repository and database failures.
pub async fn preview(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    target: &dyn Target,
    target_source: &dyn Source,
    options: &RestoreOptions,
) -> Result<Preview> {
    let Planned {
        mut plan,
        mut selected,
        app_version,
    } = plan(repo, snapshot, options).await?;
    let state = target.inspect().await?;
    let skipped = keep_only_missing(&mut plan, &state, options)?;
    if plan.tables.is_empty() {
        return Ok(Preview {
            snapshot: snapshot.id.clone(),
            mode: options.mode,
            overwrites_data: false,
            tables: Vec::new(),
            extra_tables: Vec::new(),
            selection: Vec::new(),
            rehearsal: None,
            skipped,
            app_version,
            creates_database: !state.exists,
            approximations: Vec::new(),
        });
    }
    let approximations = approximations_of(&plan, &state, target.engine(), options)?;
    if let Some(sel) = selected.as_mut() {
        let existing: Vec<TableName> = plan
            .tables
            .iter()
            .filter(|t| state.table(t).is_some())
            .cloned()
            .collect();
        drop_present(sel, target_source, &existing).await?;
    }
    let existing: Vec<TableName> = plan
        .tables
        .iter()
        .filter(|t| state.table(t).is_some())
        .cloned()
        .collect();
    let live = if existing.is_empty() {
        None
    } else {
        let read = ReadOptions {
            filter: TableFilter::exact(existing.clone()),
            ..ReadOptions::default()
        };
        Some(target_source.open(&read).await?)
    };
    if let Some(live) = &live {
        plan.recreate = to_recreate(
            &plan,
            snapshot,
            target.engine(),
            live.schema(),
            selected.is_some(),
        );
    }
    let mut tables = Vec::with_capacity(plan.tables.len());
    for name in &plan.tables {
        let (Some(entry), Some(schema)) = (snapshot.table(name), plan.schema.table(name)) else {
            continue;
        };
        let target_rows = state.table(name).map(|e| e.rows);
        let live_schema = live.as_ref().and_then(|l| l.schema().table(name).cloned());
        let chosen = selected.as_ref().and_then(|s| s.tables.get(name));
        let differs = live_schema
            .as_ref()
            .filter(|_| plan.recreate.contains(name))
            .and_then(|l| definition_change(schema, l));
        if let Some(change) = differs {
            // the table is made again as the snapshot had it
            tables.push(TablePreview {
                name: name.clone(),
                action: "recreate".into(),
                note: Some(change),
                snapshot_rows: entry.rows,
                target_rows,
                inserted: entry.rows,
                updated: 0,
                deleted: target_rows.unwrap_or(0),
                unchanged: 0,
            });
            continue;
        }
        let mut counts = match (&live, live_schema) {
            (Some(live), Some(live_schema)) => {
                // SQLite's implicit rowid is no column in another engine:
                // the comparison leaves it out on both sides
                let (compared, own) = without_absent_rowid(schema, &live_schema);
                let projection = projection(&compared, &live_schema)?;
                let (stx, srx) = mpsc::channel(4);
                let (ftx, frx) = mpsc::channel(4);
                let (otx, orx) = mpsc::channel(4);
                let (ltx, lrx) = mpsc::channel(4);
                let (ptx, prx) = mpsc::channel(4);
                let diff = async {
                    match compared.key_positions() {
                        Some(keys) => diff_keyed(prx, orx, &keys).await,
                        None => diff_unkeyed(prx, orx).await,
                    }
                };
                let (a, _, _, b, _, d) = tokio::join!(
                    stream_table(repo, entry, stx),
                    keep_chosen(srx, ftx, chosen),
                    project(frx, otx, &own),
                    live.read_table(&live_schema, ltx),
                    project(lrx, ptx, &projection),
                    diff
                );
                a?;
                b?;
                d?
            }
            _ => DiffCounts {
                inserted: chosen.map_or(entry.rows, |c| c.len()),
                ..DiffCounts::default()
            },
        };
        if let Some(c) = chosen {
            // the target's other rows are not part of a row selection
            counts.deleted = 0;
            counts.unchanged = c.len().saturating_sub(counts.inserted + counts.updated);
        }
        let action = match (target_rows, options.mode) {
            (None, _) => "create",
            (Some(_), RestoreMode::Replace) => "replace",
            (Some(_), RestoreMode::Merge) => "merge",
        };
        tables.push(TablePreview {
            name: name.clone(),
            action: action.into(),
            note: None,
            snapshot_rows: entry.rows,
            target_rows,
            inserted: counts.inserted,
            updated: counts.updated,
            deleted: if options.mode == RestoreMode::Merge {
                0
            } else {
                counts.deleted
            },
            unchanged: counts.unchanged
                + if options.mode == RestoreMode::Merge {
                    counts.deleted
                } else {
                    0
                },
        });
    }
    if let Some(live) = live {
        live.close().await?;
    }
    let rehearsal = match options.rehearsal {
        Some(limit) => {
            Some(rehearse(repo, snapshot, target, &plan, selected.as_ref(), limit).await?)
        }
        None => None,
    };
    let extra_tables = if plan.whole_database {
        state
            .tables
            .iter()
            .filter(|t| !plan.tables.contains(&t.name))
            .map(|t| t.name.to_string())
            .collect()
    } else {
        Vec::new()
    };
    Ok(Preview {
        selection: selected.as_ref().map(Selected::report).unwrap_or_default(),
        snapshot: snapshot.id.clone(),
        mode: options.mode,
        overwrites_data: !overwritten(&plan, &state).is_empty(),
        tables,
        extra_tables,
        rehearsal,
        skipped,
        app_version,
        creates_database: !state.exists,
        approximations,
    })
}

/// What restoring `plan` into a `engine` database approximates: the
/// tables it will make there (the others keep their own types, and
/// values are converted into them or fail) and, for a whole database, the
/// objects it does not translate. With `strict`, any is a refusal.
fn approximations_of(
    plan: &RestorePlan,
    state: &TargetState,
    engine: tresor_core::Engine,
    options: &RestoreOptions,
) -> Result<Vec<Approximation>> {
    let made: Vec<&TableSchema> = plan
        .tables
        .iter()
        .filter(|t| state.table(t).is_none())
        .filter_map(|t| plan.schema.table(t))
        .collect();
    let found = tresor_core::approximations(&plan.schema, &made, engine, plan.whole_database);
    if options.strict && !found.is_empty() {
        let shown: Vec<String> = found.iter().take(3).map(ToString::to_string).collect();
        let more = found.len().saturating_sub(3);
        return Err(OpsError::Unsupported(format!(
            "--strict: this restore into {} would approximate {} thing(s): {}{}; the dry run without --strict lists them all, and a restore without --strict goes ahead with them",
            engine.name(),
            found.len(),
            shown.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        )));
    }
    Ok(found)
}

/// Runs the restore of `plan` into `target` and rolls it back, for at most
/// `limit`. A failure of the restore itself is the rehearsal's outcome;
/// only a failure to read the snapshot is an error.
async fn rehearse(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    target: &dyn Target,
    plan: &RestorePlan,
    selected: Option<&Selected>,
    limit: Duration,
) -> Result<Rehearsal> {
    let started = Instant::now();
    let deadline = started + limit;
    let lock = repo.lock(tresor_repo::LockKind::Shared).await?;
    let result = load(
        repo,
        snapshot,
        target,
        plan,
        selected,
        Finish::Rehearse(deadline),
        &NoProgress,
    )
    .await;
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "cannot release repository lock");
    }
    let loaded: Vec<&TableName> = match &result {
        Ok(Loaded::Done { tables, .. } | Loaded::Stopped { tables }) => {
            tables.iter().map(|(t, _)| t).collect()
        }
        Err(_) => Vec::new(),
    };
    let not_loaded = plan
        .tables
        .iter()
        .filter(|t| !loaded.contains(t))
        .map(ToString::to_string)
        .collect();
    let loaded = loaded.iter().map(ToString::to_string).collect();
    let mut rehearsal = Rehearsal {
        outcome: RehearsalOutcome::Passed,
        seconds: started.elapsed().as_secs_f64(),
        limit_seconds: limit.as_secs_f64(),
        tables_loaded: loaded,
        tables_not_loaded: not_loaded,
        error: None,
        warnings: Vec::new(),
        method: String::new(),
    };
    match result {
        Ok(Loaded::Done { summary, .. }) => {
            rehearsal.warnings = summary.warnings;
            rehearsal.method = summary.method;
        }
        Ok(Loaded::Stopped { .. }) => rehearsal.outcome = RehearsalOutcome::Stopped,
        // the snapshot itself is unreadable: that is not the target's verdict
        Err(e @ (OpsError::Repo(_) | OpsError::Corrupt(_))) => return Err(e),
        Err(e) => {
            rehearsal.outcome = RehearsalOutcome::Failed;
            rehearsal.error = Some(RehearsalError {
                message: e.to_string(),
                hint: e.hint(),
                class: Some(e.class()),
            });
        }
    }
    Ok(rehearsal)
}

/// How `live`'s stored columns differ from `snapshot`'s (names, order and
/// declared types), in words; `None` when they are the same.
/// Tables of `plan` that the target has with another definition than the
/// snapshot's. A whole-table restore in replace mode into the same engine
/// makes them again as the snapshot had them (a migration that added or
/// dropped a column is what the user restores away from); a row selection
/// or a merge keeps the target's tables and must fit them.
fn to_recreate(
    plan: &RestorePlan,
    snapshot: &Snapshot,
    engine: tresor_core::Engine,
    live: &tresor_core::DatabaseSchema,
    row_selection: bool,
) -> Vec<TableName> {
    if plan.mode != RestoreMode::Replace || row_selection || engine != snapshot.source.engine {
        return Vec::new();
    }
    plan.tables
        .iter()
        .filter(|n| {
            let (Some(snap), Some(now)) = (plan.schema.table(n), live.table(n)) else {
                return false;
            };
            definition_change(snap, now).is_some()
        })
        .cloned()
        .collect()
}

fn definition_change(snapshot: &TableSchema, live: &TableSchema) -> Option<String> {
    let a: Vec<(&str, &str)> = snapshot
        .stored_columns()
        .map(|c| (c.name.as_str(), c.engine_type.as_str()))
        .collect();
    let b: Vec<(&str, &str)> = live
        .stored_columns()
        .map(|c| (c.name.as_str(), c.engine_type.as_str()))
        .collect();
    if a == b {
        return None;
    }
    let mut parts = Vec::new();
    for (n, t) in &b {
        match a.iter().find(|(x, _)| x == n) {
            None => parts.push(format!("column {n} was added")),
            Some((_, s)) if !s.eq_ignore_ascii_case(t) => {
                parts.push(format!("column {n} is {t}, was {s}"));
            }
            Some(_) => {}
        }
    }
    for (n, _) in &a {
        if !b.iter().any(|(x, _)| x == n) {
            parts.push(format!("column {n} is missing"));
        }
    }
    if parts.is_empty() {
        parts.push("the columns are in another order".into());
    }
    Some(format!(
        "definition changed since the backup: {}",
        parts.join(", ")
    ))
}

/// The snapshot's table as compared with a live table of another engine:
/// without hidden columns (SQLite's implicit rowid) the live table lacks,
/// keyed by its primary key instead; and the positions of the columns
/// kept in the snapshot's rows.
fn without_absent_rowid(snapshot: &TableSchema, live: &TableSchema) -> (TableSchema, Vec<usize>) {
    let absent = |c: &tresor_core::Column| c.hidden && live.column(&c.name).is_none();
    let all: Vec<usize> = (0..snapshot.stored_columns().count()).collect();
    if !snapshot.stored_columns().any(absent) {
        return (snapshot.clone(), all);
    }
    let keep: Vec<usize> = snapshot
        .stored_columns()
        .enumerate()
        .filter(|(_, c)| !absent(c))
        .map(|(i, _)| i)
        .collect();
    let mut t = snapshot.clone();
    let dropped: Vec<String> = t
        .columns
        .iter()
        .filter(|c| absent(c))
        .map(|c| c.name.clone())
        .collect();
    t.columns.retain(|c| !dropped.contains(&c.name));
    t.row_key = if t.primary_key.is_empty() || t.primary_key.iter().any(|k| dropped.contains(k)) {
        RowKey::None
    } else {
        RowKey::Columns {
            columns: t.primary_key.clone(),
        }
    };
    (t, keep)
}

/// For each column of the snapshot's table, its position in the live
/// table's rows.
fn projection(snapshot: &TableSchema, live: &TableSchema) -> Result<Vec<usize>> {
    let live_cols: Vec<&str> = live.stored_columns().map(|c| c.name.as_str()).collect();
    let mut missing = Vec::new();
    let positions: Vec<usize> = snapshot
        .stored_columns()
        .filter_map(|c| {
            let p = live_cols.iter().position(|l| *l == c.name);
            if p.is_none() {
                missing.push(c.name.clone());
            }
            p
        })
        .collect();
    if !missing.is_empty() {
        return Err(OpsError::Source(
            tresor_core::SourceError::new(
                tresor_core::ErrorKind::SchemaMismatch,
                format!(
                    "table {} in the target lacks columns {}",
                    snapshot.name,
                    missing.join(", ")
                ),
            )
            .with_hint("restore into a new database, or migrate the target first"),
        ));
    }
    Ok(positions)
}

async fn project(mut rx: RowReceiver, tx: mpsc::Sender<RowBatch>, positions: &[usize]) {
    let identity = positions.iter().enumerate().all(|(i, p)| i == *p);
    while let Some(batch) = rx.recv().await {
        let whole = identity && batch.first().is_none_or(|r| r.len() == positions.len());
        let batch = if whole {
            batch
        } else {
            batch
                .into_iter()
                .map(|row| positions.iter().map(|&p| row[p].clone()).collect::<Row>())
                .collect()
        };
        if tx.send(batch).await.is_err() {
            return;
        }
    }
}

/// Restores `snapshot` into `target`. When the target holds rows in a
/// table the restore touches and `options.safety_snapshot` is set, backs
/// those tables up first (trigger `pre-restore`) through `target_source`.
///
/// # Errors
/// Any failure rolls the target back to what it was.
pub async fn restore(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    target: &dyn Target,
    target_source: Option<&dyn Source>,
    options: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreOutcome> {
    let Planned {
        mut plan,
        mut selected,
        app_version,
    } = plan(repo, snapshot, options).await?;
    let state = target.inspect().await?;
    let skipped = keep_only_missing(&mut plan, &state, options)?;
    approximations_of(&plan, &state, target.engine(), options)?;
    if plan.tables.is_empty() {
        // every table holds data: nothing to do, and nothing changed
        return Ok(RestoreOutcome {
            snapshot: snapshot.id.clone(),
            safety_snapshot: None,
            summary: RestoreSummary {
                method: "nothing restored: every table holds data".into(),
                ..RestoreSummary::default()
            },
            tables: Vec::new(),
            skipped,
        });
    }
    let existing: Vec<TableName> = plan
        .tables
        .iter()
        .filter(|t| state.table(t).is_some())
        .cloned()
        .collect();
    if let Some(source) = target_source
        && !existing.is_empty()
        && options.mode == RestoreMode::Replace
        && selected.is_none()
    {
        let live = source
            .open(&ReadOptions {
                filter: TableFilter::exact(existing.clone()),
                ..ReadOptions::default()
            })
            .await?;
        plan.recreate = to_recreate(&plan, snapshot, target.engine(), live.schema(), false);
        live.close().await?;
    }
    if let Some(sel) = selected.as_mut() {
        let Some(source) = target_source else {
            return Err(OpsError::Internal(
                "a row selection needs a source for the target".into(),
            ));
        };
        drop_present(sel, source, &existing).await?;
    }
    let overwritten = overwritten(&plan, &state);
    let mut safety = None;
    if options.safety_snapshot && !overwritten.is_empty() {
        let Some(source) = target_source else {
            return Err(OpsError::Internal(
                "a safety snapshot needs a source for the target".into(),
            ));
        };
        progress.step("taking a safety snapshot of the tables the restore overwrites");
        let backup_options = BackupOptions {
            source_name: options.target_name.clone(),
            url: options.target_url.clone(),
            read: ReadOptions {
                filter: TableFilter::exact(overwritten),
                ..ReadOptions::default()
            },
            trigger: Trigger::PreRestore,
            reason: Some(format!("before restoring snapshot {}", snapshot.short_id())),
            username: options.username.clone(),
            ..BackupOptions::default()
        };
        let s = backup(repo, source, &backup_options, &NoProgress).await?;
        safety = Some(s.id);
    }

    let result = async {
        let lock = repo.lock(tresor_repo::LockKind::Shared).await?;
        progress.step("restoring");
        let result = load(
            repo,
            snapshot,
            target,
            &plan,
            selected.as_ref(),
            Finish::Commit,
            progress,
        )
        .await;
        if let Err(e) = lock.release().await {
            tracing::warn!(error = %e, "cannot release repository lock");
        }
        result
    }
    .await;
    let (summary, tables) = match result {
        Ok(Loaded::Done { summary, tables }) => (summary, tables),
        Ok(Loaded::Stopped { .. }) => {
            return Err(OpsError::Internal(
                "a restore stopped without a deadline".into(),
            ));
        }
        Err(e) => {
            // the target is as it was: the safety snapshot holds nothing
            // the user could need, and `latest:safety` must not offer it
            if let Some(id) = &safety
                && let Err(d) = crate::snapshot::delete_snapshot(repo, id).await
            {
                tracing::warn!(error = %d, snapshot = %id, "cannot remove the safety snapshot of a failed restore");
            }
            return Err(e);
        }
    };
    let mut summary = summary;
    if let Some(w) = app_version.warning() {
        summary.warnings.push(w);
    }
    Ok(RestoreOutcome {
        snapshot: snapshot.id.clone(),
        safety_snapshot: safety,
        summary,
        tables,
        skipped,
    })
}

/// Whether [`load`] ends in a commit or in a rehearsal's rollback.
#[derive(Clone, Copy)]
enum Finish {
    Commit,
    /// Roll back at the end, and stop loading at the deadline.
    Rehearse(Instant),
}

/// What [`load`] got to.
enum Loaded {
    /// Every table loaded; committed or rehearsed.
    Done {
        summary: RestoreSummary,
        tables: Vec<(TableName, u64)>,
    },
    /// A rehearsal's deadline passed; `tables` were loaded completely,
    /// and everything was rolled back.
    Stopped { tables: Vec<(TableName, u64)> },
}

/// Forwards batches until `deadline` (if any); false when it cut the
/// stream short.
async fn forward_until(
    mut rx: mpsc::Receiver<RowBatch>,
    tx: mpsc::Sender<RowBatch>,
    deadline: Option<Instant>,
) -> bool {
    while let Some(batch) = rx.recv().await {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        if tx.send(batch).await.is_err() {
            return true;
        }
    }
    true
}

/// Forwards the rows a row selection restores (all rows without one);
/// returns how many it forwarded.
async fn keep_chosen(
    mut rx: mpsc::Receiver<RowBatch>,
    tx: mpsc::Sender<RowBatch>,
    chosen: Option<&TableRows>,
) -> u64 {
    let mut n = 0u64;
    while let Some(batch) = rx.recv().await {
        let batch: RowBatch = match chosen {
            Some(c) => batch.into_iter().filter(|r| c.admits(r)).collect(),
            None => batch,
        };
        if batch.is_empty() {
            continue;
        }
        n += batch.len() as u64;
        if tx.send(batch).await.is_err() {
            break;
        }
    }
    n
}

async fn load(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    target: &dyn Target,
    plan: &RestorePlan,
    selected: Option<&Selected>,
    finish: Finish,
    progress: &dyn Progress,
) -> Result<Loaded> {
    let deadline = match finish {
        Finish::Commit => None,
        Finish::Rehearse(d) => Some(d),
    };
    let mut session = target.begin(plan).await?;
    let mut done = Vec::with_capacity(plan.tables.len());
    for name in &plan.tables {
        let (Some(entry), Some(schema)) = (snapshot.table(name), plan.schema.table(name)) else {
            let _ = session.rollback().await;
            return Err(OpsError::Corrupt(format!(
                "table {name} is in the schema but not in the manifest"
            )));
        };
        let chosen = selected.and_then(|s| s.tables.get(name));
        progress.table_started(name, Some(chosen.map_or(entry.rows, |c| c.len())));
        let (tx, rx) = mpsc::channel(4);
        let (ctx, crx) = mpsc::channel(4);
        let (ktx, krx) = mpsc::channel(4);
        let (dtx, drx) = mpsc::channel(1);
        let (streamed, kept, complete, (), loaded) = tokio::join!(
            stream_table(repo, entry, ctx),
            keep_chosen(crx, ktx, chosen),
            forward_until(krx, dtx, deadline),
            forward_counting(drx, tx, name, progress),
            session.load_table(schema, rx)
        );
        if !complete {
            session.rollback().await?;
            return Ok(Loaded::Stopped { tables: done });
        }
        let rows = match (streamed, loaded) {
            (Err(e), _) => {
                let _ = session.rollback().await;
                return Err(e);
            }
            (_, Err(e)) => {
                let _ = session.rollback().await;
                return Err(e.into());
            }
            (Ok(_), Ok(written)) if kept != written => {
                let _ = session.rollback().await;
                return Err(OpsError::Internal(format!(
                    "table {name}: {kept} rows sent but the target wrote {written}"
                )));
            }
            (Ok(_), Ok(n)) => n,
        };
        progress.table_finished(name, rows);
        done.push((name.clone(), rows));
    }
    let summary = match finish {
        Finish::Commit => {
            progress.step("committing");
            session.commit().await?
        }
        Finish::Rehearse(_) => session.rehearse().await?,
    };
    Ok(Loaded::Done {
        summary,
        tables: done,
    })
}

/// The schema a snapshot recorded, restricted to the tables `filter`
/// selects.
pub async fn snapshot_schema(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    filter: &TableFilter,
) -> Result<DatabaseSchema> {
    let full = load_schema(repo, snapshot).await?;
    Ok(restrict_schema(&full, |t| filter.matches(&t.name)))
}

/// Streams all selected tables of a snapshot to a consumer, one after the
/// other, for exports and drills.
pub async fn for_each_table<F, Fut>(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    schema: &DatabaseSchema,
    mut f: F,
) -> Result<()>
where
    F: FnMut(TableSchema, RowReceiver) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let entries: Vec<_> = schema
        .tables
        .iter()
        .filter_map(|t| snapshot.table(&t.name).map(|e| (t.clone(), e.clone())))
        .collect();
    let mut it = futures::stream::iter(entries);
    while let Some((table, entry)) = it.next().await {
        let (tx, rx) = mpsc::channel(4);
        let (a, b) = tokio::join!(stream_table(repo, &entry, tx), f(table, rx));
        b?;
        a?;
    }
    Ok(())
}
