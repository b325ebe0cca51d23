//! Restore: snapshot rows -> target, atomically, after an optional preview
//! and an automatic safety snapshot of whatever the restore overwrites.

mod load;
mod preview;
mod rehearsal;
mod spelling;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;
use tresor_core::{
    Approximation, DatabaseSchema, ReadOptions, RestoreMode, RestorePlan, RestoreSummary,
    RowReceiver, Source, TableFilter, TableName, TableSchema, Target, TargetState, load_order,
};
use tresor_repo::Repository;

use crate::backup::{BackupOptions, backup, restrict_schema};
use crate::error::{OpsError, Result};
use crate::progress::{NoProgress, Progress};
use crate::rows::stream_table;
use crate::select::{RowSelection, Selected, drop_present, select};
use crate::snapshot::{Snapshot, Trigger, load_schema};

use load::{Finish, Loaded, load};
pub use preview::{Preview, TablePreview, preview};
pub use rehearsal::{DEFAULT_REHEARSAL, Rehearsal, RehearsalError, RehearsalOutcome};

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
    /// Refuse a restore into another engine, or into an older PostgreSQL,
    /// that would approximate anything (`--strict`): a type the target
    /// cannot hold as it is, an object that is not translated or
    /// rewritten.
    pub strict: bool,
    /// Also drop the tables (collections) the target has and the snapshot
    /// lacks (`--drop-extra-tables`), within the restore's atomicity: the
    /// database becomes what the backup held, as after an upgrade whose
    /// migrations are rolled back. Only a whole-database restore in
    /// replace mode can; the safety snapshot keeps what it drops.
    pub drop_extra_tables: bool,
    /// How long to wait, in all, for other sessions to let go of the
    /// tables the restore locks (`--lock-wait`); `None` waits
    /// [`DEFAULT_LOCK_WAIT`](tresor_core::DEFAULT_LOCK_WAIT).
    pub lock_wait: Option<Duration>,
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
    /// With `drop_extra_tables`: the tables the snapshot lacks, dropped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    /// The tables the restore made because the target lacked them: undoing
    /// it with the safety snapshot leaves them (it holds only the tables
    /// that were there).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub created: Vec<String>,
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
    let mut names: Vec<TableName> = full.tables.iter().map(TableSchema::chosen_by).collect();
    names.dedup();
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
        options.tables.matches(&t.chosen_by())
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
    if snapshot.tables.is_empty() {
        return Err(OpsError::InvalidInput {
            what: format!(
                "snapshot {} holds no table (the database was empty when it was backed up): \
                 there is nothing to restore",
                snapshot.short_id()
            ),
            hint: Some("`tresor snapshots` lists the others".into()),
        });
    }
    if schema.tables.is_empty() {
        return Err(OpsError::InvalidInput {
            what: "the table selection matches no table of the snapshot".into(),
            hint: Some("check --tables; `tresor show SNAPSHOT` lists the tables".into()),
        });
    }
    let refs: Vec<&TableSchema> = schema.tables.iter().collect();
    let tables = load_order(&refs);
    let inbound_keys = full
        .tables
        .iter()
        .filter(|t| schema.table(&t.name).is_none())
        .flat_map(|t| {
            t.foreign_keys
                .iter()
                .filter(|fk| tables.contains(&fk.references))
                .map(|fk| (t.name.clone(), fk.clone()))
        })
        .collect();
    Ok(Planned {
        plan: RestorePlan {
            whole_database: options.tables.is_all() && !snapshot.partial && selected.is_none(),
            recreate: Vec::new(),
            privileges: options.with_privileges,
            schema,
            mode: options.mode,
            tables,
            only_missing: false,
            strict: options.strict,
            inbound_keys,
            drop: Vec::new(),
            drop_extra_types: false,
            lock_wait: options.lock_wait.unwrap_or(tresor_core::DEFAULT_LOCK_WAIT),
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

/// The target's tables a whole-database restore of `plan` does not
/// cover: made after the backup, or renamed. A name that is a planned one
/// but for its case is not among them (the restore may well write to it).
pub fn extra_tables(plan: &RestorePlan, state: &TargetState) -> Vec<TableName> {
    let planned: std::collections::HashSet<String> = plan
        .tables
        .iter()
        .map(|t| t.to_string().to_lowercase())
        .collect();
    state
        .tables
        .iter()
        .filter(|t| !planned.contains(&t.name.to_string().to_lowercase()))
        .map(|t| t.name.clone())
        .collect()
}

/// With `drop_extra_tables`, plans to drop the target's tables the
/// snapshot lacks, but for the catalog's own (PostgreSQL's large objects
/// are not a table to drop).
fn plan_drops(plan: &mut RestorePlan, state: &TargetState, options: &RestoreOptions) -> Result<()> {
    if !options.drop_extra_tables {
        return Ok(());
    }
    let why = if options.rows.is_some() {
        Some("a row selection (--where)")
    } else if options.only_missing {
        Some("--only-missing")
    } else if options.mode != RestoreMode::Replace {
        Some("merge mode")
    } else if !options.tables.is_all() {
        Some("a restore of some tables (--tables, --exclude, --group)")
    } else if !plan.whole_database {
        Some("a snapshot of some tables")
    } else {
        None
    };
    if let Some(why) = why {
        return Err(OpsError::InvalidInput {
            what: format!(
                "--drop-extra-tables makes the database what the backup held, which {why} does not restore"
            ),
            hint: Some(
                "restore a whole-database snapshot in replace mode, or leave out --drop-extra-tables \
                 (the extra tables are then left alone)"
                    .into(),
            ),
        });
    }
    plan.drop = extra_tables(plan, state)
        .into_iter()
        .filter(|t| t.schema.as_deref() != Some("pg_catalog"))
        .collect();
    plan.drop_extra_types = true;
    Ok(())
}

/// Into an engine without schemas (SQLite, MySQL/MariaDB), a table of
/// another schema than PostgreSQL's `public` (`app.t`) goes in under its
/// own name (`t`). A restore cannot yet tell such a table from the
/// target's own of that name: it planned `app.t` as a table to make and
/// `t` as one to leave alone, then loaded into `t`, without a safety
/// snapshot or a confirmation. Refused, as are two tables that would meet
/// under one name.
fn refuse_flattened(
    plan: &RestorePlan,
    state: &TargetState,
    engine: tresor_core::Engine,
) -> Result<()> {
    if engine != tresor_core::Engine::SQLITE && engine != tresor_core::Engine::MYSQL {
        return Ok(());
    }
    let mut seen: std::collections::HashMap<String, &TableName> = std::collections::HashMap::new();
    for t in &plan.tables {
        if let Some(other) = seen.insert(t.name.to_lowercase(), t) {
            return Err(OpsError::InvalidInput {
                what: format!(
                    "tables {other} and {t} would both be table {} in {engine}, which has no schemas",
                    t.name
                ),
                hint: Some(format!(
                    "restore one of them at a time, into separate databases (--tables {other}, \
                     then --tables {t})"
                )),
            });
        }
        if t.schema.is_none() {
            continue;
        }
        if let Some(there) = state
            .tables
            .iter()
            .find(|e| e.name.schema.is_none() && e.name.name.eq_ignore_ascii_case(&t.name))
        {
            return Err(OpsError::InvalidInput {
                what: format!(
                    "table {t} of the snapshot would go into the target's table {}: {engine} has \
                     no schemas, and a restore into an existing table of another schema's name \
                     is not supported",
                    there.name
                ),
                hint: Some(format!(
                    "restore into a database without table {} (tresor makes it), or leave {t} \
                     out (--exclude {t})",
                    there.name
                )),
            });
        }
    }
    Ok(())
}

/// A merge goes row by row. The storage of a virtual table (SQLite's
/// full-text index: `fi_segdir`, `fi_segments`, ...) is one structure
/// that its rows make only together: merged row by row it was corrupt
/// (`database disk image is malformed`, its searches missing rows), and
/// the dry run had passed. Refused; replace mode restores it whole.
fn refuse_merging_storage(plan: &RestorePlan, options: &RestoreOptions) -> Result<()> {
    if options.mode != RestoreMode::Merge {
        return Ok(());
    }
    let owners: std::collections::BTreeSet<&str> = plan
        .tables
        .iter()
        .filter_map(|t| plan.schema.table(t))
        .filter_map(TableSchema::shadow_of)
        .collect();
    if owners.is_empty() {
        return Ok(());
    }
    let list = owners.into_iter().collect::<Vec<_>>().join(",");
    Err(OpsError::InvalidInput {
        what: format!(
            "a merge cannot go into virtual table {list}: its storage makes one index only \
             whole, which a merge row by row would corrupt"
        ),
        hint: Some(format!(
            "leave it out of the merge (--exclude {list}), or restore it whole in replace mode \
             (--tables {list})"
        )),
    })
}

/// Tables of the plan the target has now, holding rows or not, as the
/// target spells them.
fn in_target(plan: &RestorePlan, state: &TargetState) -> Vec<TableName> {
    plan.tables
        .iter()
        .filter(|t| state.table(t).is_some())
        .cloned()
        .collect()
}

/// Whether a restore of `plan` takes a safety snapshot first: asked to,
/// and it changes tables the target has (`touched`, empty or not, so that
/// an undo empties again what was empty) or drops some.
fn takes_safety_snapshot(
    options: &RestoreOptions,
    plan: &RestorePlan,
    touched: &[TableName],
) -> bool {
    options.safety_snapshot && !(touched.is_empty() && plan.drop.is_empty())
}

/// Tables of the plan that hold rows in the target now.
fn overwritten(plan: &RestorePlan, state: &TargetState) -> Vec<TableName> {
    plan.tables
        .iter()
        .filter(|t| state.table(t).is_some_and(|e| e.rows > 0))
        .cloned()
        .collect()
}

/// A filter choosing `tables` of the target as a backup chooses them:
/// the storage of a virtual table by the virtual table's name (a source
/// lists only the virtual table, and reads its storage with it).
pub(crate) fn choosing(plan: &RestorePlan, tables: &[TableName]) -> TableFilter {
    let mut names: Vec<TableName> = Vec::new();
    for t in tables {
        let n = plan
            .schema
            .table(t)
            .map_or_else(|| t.clone(), TableSchema::chosen_by);
        if !names.contains(&n) {
            names.push(n);
        }
    }
    TableFilter::exact(names)
}

/// The tables a safety snapshot keeps: those of the target the restore
/// changes and those it drops, empty or not (so that an undo empties again
/// what was empty and brings back what was dropped), chosen as a backup
/// chooses them.
async fn safety_filter(
    plan: &RestorePlan,
    existing: &[TableName],
    source: &dyn Source,
) -> Result<TableFilter> {
    let mut tables = existing.to_vec();
    if !plan.drop.is_empty() {
        // the tables to drop are not the snapshot's: the target knows which
        // of them are the storage of a virtual table
        let live = source.open(&ReadOptions::default()).await?;
        tables.extend(plan.drop.iter().map(|t| {
            live.schema()
                .table(t)
                .map_or_else(|| t.clone(), TableSchema::chosen_by)
        }));
        live.close().await?;
    }
    Ok(choosing(plan, &tables))
}

/// Leaves out of a restore into another engine what only the snapshot's
/// engine can hold (PostgreSQL's large objects, the storage of SQLite's
/// virtual tables); the approximations name it, and `--strict` refuses it.
fn leave_out_unheld(plan: &mut RestorePlan, engine: tresor_core::Engine) {
    if plan.schema.engine == engine {
        return;
    }
    let unheld: Vec<TableName> = plan
        .schema
        .tables
        .iter()
        .filter(|t| t.is_engine_storage())
        .map(|t| t.name.clone())
        .collect();
    plan.tables.retain(|n| !unheld.contains(n));
    plan.schema.tables.retain(|t| !t.is_engine_storage());
}

/// What restoring `plan` into `target` approximates: into another engine,
/// the tables it will make there (the others keep their own types, and
/// values are converted into them or fail) and, for a whole database, the
/// objects it does not translate; into a server of an older version (or
/// another build) of the same engine, what the target rewrites for it.
/// With `strict`, any is a refusal.
async fn approximations_of(
    plan: &RestorePlan,
    state: &TargetState,
    target: &dyn Target,
    options: &RestoreOptions,
) -> Result<Vec<Approximation>> {
    let engine = target.engine();
    let made: Vec<&TableSchema> = plan
        .tables
        .iter()
        .filter(|t| state.table(t).is_none())
        .filter_map(|t| plan.schema.table(t))
        .collect();
    let mut found = tresor_core::approximations(
        &plan.schema,
        &made,
        engine,
        &|p| target.approximate_type(p),
        plan.whole_database,
    );
    found.extend(target.version_approximations(plan, state).await?);
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
            definition_change(snap, now).is_some() || references_dropped(now, &plan.drop).is_some()
        })
        .cloned()
        .collect()
}

/// Foreign keys a table holds on a table the restore drops
/// (`--drop-extra-tables`): an upgrade made both. The table is made again
/// as the snapshot had it; left as it is, it would keep a key on a table
/// that is gone (MariaDB and SQLite let it, and every insert then fails).
pub(crate) fn references_dropped(live: &TableSchema, drop: &[TableName]) -> Option<String> {
    let parts: Vec<String> = live
        .foreign_keys
        .iter()
        .filter(|f| drop.contains(&f.references))
        .map(|f| {
            format!(
                "foreign key ({}) references {}, which the restore drops",
                f.columns.join(", "),
                f.references
            )
        })
        .collect();
    (!parts.is_empty())
        .then(|| format!("definition changed since the backup: {}", parts.join(", ")))
}

/// Foreign keys that point at another table than the snapshot's did (the
/// table they referenced was renamed, and the keys followed it): the table
/// is made again so that its keys point where the snapshot's did.
fn reference_change(snapshot: &TableSchema, live: &TableSchema) -> Option<String> {
    let target = |f: &tresor_core::ForeignKey| {
        format!("{}({})", f.references, f.referenced_columns.join(", "))
    };
    let mut parts = Vec::new();
    for f in &live.foreign_keys {
        let was = snapshot
            .foreign_keys
            .iter()
            .find(|s| s.columns == f.columns)
            .map(target);
        if let Some(was) = was
            && was != target(f)
        {
            parts.push(format!(
                "foreign key ({}) references {}, was {was}",
                f.columns.join(", "),
                target(f)
            ));
        }
    }
    (!parts.is_empty())
        .then(|| format!("definition changed since the backup: {}", parts.join(", ")))
}

/// What a migration added to or took from a table whose columns it left
/// as they were: indexes, unique and check constraints, foreign keys,
/// column defaults and `NOT NULL`. A restore that left them would keep the
/// table as the migration made it, and the migration, run again after an
/// upgrade was rolled back, would fail on what it finds there (`relation
/// "ix_member__member_id" already exists`). Foreign keys the table lost
/// are not a change here: the restore adds them back anyway. MongoDB
/// compares its collections' options and indexes itself.
fn outline_change(snapshot: &TableSchema, live: &TableSchema) -> Option<String> {
    if live.kind == "collection" || snapshot.kind == "collection" {
        return None;
    }
    let mut parts = Vec::new();
    let index = |i: &tresor_core::Index| (i.name.clone(), i.columns.clone(), i.unique);
    for i in &live.indexes {
        match snapshot.indexes.iter().find(|s| s.name == i.name) {
            None => parts.push(format!("index {} was added", i.name)),
            Some(s) if index(s) != index(i) => parts.push(format!("index {} changed", i.name)),
            Some(_) => {}
        }
    }
    for s in &snapshot.indexes {
        if !live.indexes.iter().any(|i| i.name == s.name) {
            parts.push(format!("index {} is missing", s.name));
        }
    }
    let constraint = |c: &tresor_core::Constraint| {
        (
            c.name.clone(),
            c.kind.clone(),
            c.definition
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        )
    };
    let named = |c: &&tresor_core::Constraint| !c.name.is_empty();
    for c in live.constraints.iter().filter(named) {
        match snapshot.constraints.iter().find(|s| s.name == c.name) {
            None => parts.push(format!("{} constraint {} was added", c.kind, c.name)),
            Some(s) if constraint(s) != constraint(c) => {
                parts.push(format!("{} constraint {} changed", c.kind, c.name));
            }
            Some(_) => {}
        }
    }
    for s in snapshot.constraints.iter().filter(named) {
        if !live.constraints.iter().any(|c| c.name == s.name) {
            parts.push(format!("{} constraint {} is missing", s.kind, s.name));
        }
    }
    // SQLite's constraints may have no name: compared by what they say
    let unnamed = |t: &TableSchema| {
        let mut v: Vec<(String, String)> = t
            .constraints
            .iter()
            .filter(|c| c.name.is_empty())
            .map(|c| {
                let (_, kind, definition) = constraint(c);
                (kind, definition)
            })
            .collect();
        v.sort();
        v
    };
    let (was, now) = (unnamed(snapshot), unnamed(live));
    for (kind, definition) in now.iter().filter(|c| !was.contains(c)) {
        parts.push(format!("{kind} constraint {definition} was added"));
    }
    for (kind, definition) in was.iter().filter(|c| !now.contains(c)) {
        parts.push(format!("{kind} constraint {definition} is missing"));
    }
    for f in &live.foreign_keys {
        if !snapshot.foreign_keys.iter().any(|s| s.columns == f.columns) {
            parts.push(format!(
                "foreign key ({}) references {} was added",
                f.columns.join(", "),
                f.references
            ));
        }
    }
    for c in live.stored_columns() {
        let Some(was) = snapshot.stored_columns().find(|s| s.name == c.name) else {
            continue;
        };
        if was.default != c.default {
            parts.push(match &c.default {
                Some(d) => format!("column {} defaults to {d}", c.name),
                None => format!("column {} lost its default", c.name),
            });
        }
        if was.nullable != c.nullable {
            parts.push(if c.nullable {
                format!("column {} takes NULL", c.name)
            } else {
                format!("column {} is NOT NULL", c.name)
            });
        }
    }
    (!parts.is_empty())
        .then(|| format!("definition changed since the backup: {}", parts.join(", ")))
}

/// How `live`'s stored columns differ from `snapshot`'s (names, order and
/// declared types), in words; `None` when they are the same (and
/// then what else changed: keys, indexes, constraints, defaults).
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
        return reference_change(snapshot, live).or_else(|| outline_change(snapshot, live));
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
    refuse_flattened(&plan, &state, target.engine())?;
    refuse_merging_storage(&plan, options)?;
    let skipped = keep_only_missing(&mut plan, &state, options)?;
    plan_drops(&mut plan, &state, options)?;
    approximations_of(&plan, &state, target, options).await?;
    leave_out_unheld(&mut plan, target.engine());
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
            dropped: Vec::new(),
            created: Vec::new(),
        });
    }
    let existing = in_target(&plan, &state);
    if let Some(source) = target_source
        && !existing.is_empty()
    {
        let live = source
            .open(&ReadOptions {
                filter: choosing(&plan, &existing),
                lock_wait: plan.lock_wait,
                ..ReadOptions::default()
            })
            .await?;
        spelling::spell_as_target(&mut plan, snapshot.source.engine, live.schema());
        if options.mode == RestoreMode::Replace && selected.is_none() {
            plan.recreate = to_recreate(&plan, snapshot, target.engine(), live.schema(), false);
        }
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
    let touched = in_target(&plan, &state);
    let others = if overwritten.is_empty() && plan.drop.is_empty() {
        Vec::new()
    } else {
        others_connected(target, &plan, &state).await
    };
    let mut safety = None;
    let mut held = None;
    if takes_safety_snapshot(options, &plan, &touched) {
        let Some(source) = target_source else {
            return Err(OpsError::Internal(
                "a safety snapshot needs a source for the target".into(),
            ));
        };
        if target.holds_writes() {
            // nothing the application writes can fall between the safety
            // snapshot and the restore: its writes wait until the commit
            progress.step("holding the tables the restore changes against writes");
            held = Some(target.hold(&plan).await?);
        }
        progress.step("taking a safety snapshot of the tables the restore overwrites");
        let taken = safety_snapshot(repo, snapshot, source, &plan, &touched, options).await;
        match taken {
            Ok(id) => safety = Some(id),
            Err(e) => {
                if let Some(h) = held
                    && let Err(r) = h.release().await
                {
                    tracing::warn!(error = %r, "cannot let the held tables go");
                }
                return Err(e);
            }
        }
    }

    let writes_held = held.is_some();
    let result = async {
        let lock = repo.lock(tresor_repo::LockKind::Shared).await?;
        progress.step("restoring");
        let result = load(
            repo,
            snapshot,
            target,
            &plan,
            selected.as_ref(),
            Finish::Commit(held),
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
    if !others.is_empty() {
        summary.warnings.push(format!(
            "{} when the restore began: {}; stop the application before a restore",
            sessions_note(&others),
            sessions_consequence(writes_held, true)
        ));
    }
    Ok(RestoreOutcome {
        snapshot: snapshot.id.clone(),
        safety_snapshot: safety,
        summary,
        tables,
        skipped,
        dropped: plan.drop.iter().map(ToString::to_string).collect(),
        created: plan
            .tables
            .iter()
            .filter(|t| !touched.contains(t))
            .map(ToString::to_string)
            .collect(),
    })
}

/// Backs up the tables of the target a restore of `plan` changes (`existing`,
/// empty or not, and those it drops), trigger `pre-restore`; returns the
/// snapshot's id.
async fn safety_snapshot(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    source: &dyn Source,
    plan: &RestorePlan,
    existing: &[TableName],
    options: &RestoreOptions,
) -> Result<String> {
    let filter = safety_filter(plan, existing, source).await?;
    let backup_options = BackupOptions {
        source_name: options.target_name.clone(),
        url: options.target_url.clone(),
        read: ReadOptions {
            filter,
            lock_wait: plan.lock_wait,
            ..ReadOptions::default()
        },
        trigger: Trigger::PreRestore,
        reason: Some(format!("before restoring snapshot {}", snapshot.short_id())),
        username: options.username.clone(),
        ..BackupOptions::default()
    };
    Ok(backup(repo, source, &backup_options, &NoProgress).await?.id)
}

/// What a restore means for the writes of the other sessions connected to
/// its target: with the tables held from the safety snapshot on
/// ([`Target::hold`]), they wait for the commit; without, what they write
/// meanwhile is overwritten, and what they write after the safety snapshot
/// is in neither. In the past tense once the restore is done.
pub fn sessions_consequence(writes_held: bool, done: bool) -> &'static str {
    match (writes_held, done) {
        (true, false) => {
            "their writes to the restored tables wait from the safety snapshot until the \
             restore commits, then go on over the restored data (a transaction of theirs that \
             already held rows the restore needs may instead be ended with a deadlock error, \
             for the application to retry)"
        }
        (true, true) => {
            "their writes to the restored tables waited from the safety snapshot until the \
             restore committed, then went on over the restored data (a transaction of theirs \
             that already held rows the restore needed may instead have been ended with a \
             deadlock error, for the application to retry)"
        }
        (false, false) => {
            "what they write while the restore runs is overwritten, and what they write after \
             its safety snapshot is not in it"
        }
        (false, true) => {
            "what they wrote while it ran was overwritten, and what they wrote after the safety \
             snapshot is not in it"
        }
    }
}

/// The other clients connected to a target that holds tables `plan`
/// restores (none where the engine cannot tell or will not say).
async fn others_connected(
    target: &dyn Target,
    plan: &RestorePlan,
    state: &TargetState,
) -> Vec<tresor_core::OtherSession> {
    if !state.exists || !plan.tables.iter().any(|t| state.table(t).is_some()) {
        return Vec::new();
    }
    match target.other_sessions().await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "cannot list the target's other sessions");
            Vec::new()
        }
    }
}

/// "2 other sessions were connected to the database (session 7 (shop-web,
/// user shop): idle; ...)", the first five named.
pub fn sessions_note(sessions: &[tresor_core::OtherSession]) -> String {
    const NAMED: usize = 5;
    let mut named: Vec<String> = sessions
        .iter()
        .take(NAMED)
        .map(ToString::to_string)
        .collect();
    if sessions.len() > NAMED {
        named.push(format!("and {} more", sessions.len() - NAMED));
    }
    let (count, were) = match sessions.len() {
        1 => ("1 other session".to_string(), "was"),
        n => (format!("{n} other sessions"), "were"),
    };
    format!(
        "{count} {were} connected to the database ({})",
        named.join("; ")
    )
}

/// The schema a snapshot recorded, restricted to the tables `filter`
/// selects.
pub async fn snapshot_schema(
    repo: &Arc<Repository>,
    snapshot: &Snapshot,
    filter: &TableFilter,
) -> Result<DatabaseSchema> {
    let full = load_schema(repo, snapshot).await?;
    Ok(restrict_schema(&full, |t| filter.matches(&t.chosen_by())))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_names_the_first_five_sessions() {
        let session = |id: u32| tresor_core::OtherSession {
            id: id.to_string(),
            application: "shop-web".into(),
            user: "shop".into(),
            host: "10.0.0.5".into(),
            state: "idle".into(),
        };
        assert_eq!(
            sessions_note(&[session(7)]),
            "1 other session was connected to the database \
             (session 7 (shop-web, user shop, from 10.0.0.5): idle)"
        );
        let many: Vec<_> = (1..=7).map(session).collect();
        let note = sessions_note(&many);
        assert!(
            note.starts_with("7 other sessions were connected"),
            "{note}"
        );
        assert!(
            note.contains("session 5 (") && !note.contains("session 6 ("),
            "{note}"
        );
        assert!(note.ends_with("; and 2 more)"), "{note}");
        let bare = tresor_core::OtherSession {
            id: "12".into(),
            user: "root".into(),
            state: "idle in transaction".into(),
            ..tresor_core::OtherSession::default()
        };
        assert_eq!(
            bare.to_string(),
            "session 12 (user root): idle in transaction"
        );
    }
}
