//! Working with rows: diffs between snapshots or against a source as it is
//! now, guards an application takes before a risky operation, and their
//! undo. The same operations as `tresor diff`, `tresor guard` and `tresor
//! undo` (crates/ops), for the API and the pages.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tresor_core::{RowFilter, TableFilter};
use tresor_ops::{
    DiffOptions, DiffTarget, GuardOptions, NoProgress, Snapshot, TableDiff, UndoOptions,
};

use crate::app::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::jobs::{Failure, JobEnv, JobProgress, JobSpec, tables_filter};

/// What a diff compares.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// The older snapshot (id, prefix, `latest:SOURCE`).
    pub from: String,
    /// The newer snapshot, or `live` for the source as it is now.
    pub to: String,
    /// With `to=live`: the configured source to read [default: the older
    /// snapshot's source].
    #[serde(default)]
    pub source: Option<String>,
    /// Only these tables (comma-separated globs).
    #[serde(default)]
    pub tables: Option<String>,
    /// A row predicate `TABLE: PREDICATE` (see docs/rows.md).
    #[serde(default, rename = "where")]
    pub filter: Option<String>,
    /// List the changed rows (admin only: they hold the data).
    #[serde(default)]
    pub rows: bool,
    /// At most this many rows (default 100, at most 10000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A diff as the API returns it.
#[derive(Debug, Serialize)]
pub struct DiffView {
    /// The older snapshot.
    pub from: String,
    /// The newer snapshot's id, or `live`.
    pub to: String,
    /// Per table.
    pub tables: Vec<TableDiff>,
    /// The changed rows, when asked for (at most `limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<Value>>,
    /// Changed rows in all, when rows were asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_total: Option<u64>,
}

/// Rows a diff answer holds at most.
const MAX_ROWS: usize = 10_000;

/// Computes a diff.
///
/// # Errors
/// Unknown snapshots or sources, bad predicates, repository and database
/// failures; rows asked for by a caller below admin.
pub async fn diff_view(app: &Arc<App>, caller: &Caller, q: &DiffQuery) -> ApiResult<DiffView> {
    if q.rows && !caller.is_admin() {
        return Err(ApiError::forbidden("see changed rows (they hold the data)")
            .hint("leave out rows=true for the counts only, or ask an admin"));
    }
    let tables = match &q.tables {
        Some(t) => tables_filter(
            &t.split(',')
                .map(str::trim)
                .map(String::from)
                .collect::<Vec<_>>(),
        )?,
        None => TableFilter::all(),
    };
    let filters = match &q.filter {
        Some(f) => vec![RowFilter::parse(f).map_err(|e| {
            let mut err = ApiError::bad_request(e.to_string());
            if let Some(h) = e.hint() {
                err = err.hint(h);
            }
            err
        })?],
        None => Vec::new(),
    };
    let from = app.find_snapshot(&q.from).await?;
    let options = DiffOptions {
        tables,
        filters,
        ..DiffOptions::default()
    };
    let limit = q.limit.unwrap_or(100).min(MAX_ROWS);
    let mut rows = Vec::new();
    let mut total = 0u64;
    let mut on_row = |c: tresor_ops::ChangedRow<'_>| {
        total += 1;
        if q.rows && rows.len() < limit {
            rows.push(c.to_json());
        }
    };
    let (to_label, tables) = if q.to == "live" {
        let name = match &q.source {
            Some(s) => s.clone(),
            None => from.source.name.clone().ok_or_else(|| {
                ApiError::bad_request("the snapshot was not taken of a configured source")
                    .hint("name the source to compare with: source=NAME")
            })?,
        };
        let url = app.source_config(&name)?.resolved_url()?;
        let source = app.engines.source(&url)?;
        let t = tresor_ops::diff(
            &app.repo,
            &from,
            DiffTarget::Live(source.as_ref()),
            &options,
            &mut on_row,
        )
        .await?;
        ("live".to_string(), t)
    } else {
        let to = app.find_snapshot(&q.to).await?;
        let t = tresor_ops::diff(
            &app.repo,
            &from,
            DiffTarget::Snapshot(&to),
            &options,
            &mut on_row,
        )
        .await?;
        (to.id.clone(), t)
    };
    Ok(DiffView {
        from: from.id.clone(),
        to: to_label,
        tables,
        rows: q.rows.then_some(rows),
        rows_total: q.rows.then_some(total),
    })
}

/// A guard to take.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardRequest {
    /// The configured source.
    pub source: String,
    /// Only these tables (globs) [default: all].
    #[serde(default)]
    pub tables: Vec<String>,
    /// Only this table group of the source.
    #[serde(default)]
    pub group: Option<String>,
    /// What is about to happen, in the caller's words.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A guard as the API shows it.
#[derive(Debug, Serialize)]
pub struct GuardView {
    /// The guard's id.
    pub guard: String,
    /// Its first 8 characters.
    pub short_id: String,
    /// The source.
    pub source: String,
    /// When it was taken.
    pub time: chrono::DateTime<chrono::Utc>,
    /// Why.
    pub reason: Option<String>,
    /// The tables it covers.
    pub tables: Vec<String>,
    /// Whether the state after the operation was recorded.
    pub closed: bool,
}

fn guard_view(g: &Snapshot, all: &[Snapshot]) -> GuardView {
    GuardView {
        guard: g.id.clone(),
        short_id: g.short_id().to_string(),
        source: g.source.key().to_string(),
        time: g.time,
        reason: g.reason.clone(),
        tables: g.tables.iter().map(|t| t.name.to_string()).collect(),
        closed: tresor_ops::guard_after(all, g).is_some(),
    }
}

fn guard_options(
    app: &App,
    caller: &Caller,
    r: &GuardRequest,
) -> ApiResult<(GuardOptions, String)> {
    let sc = app.source_config(&r.source)?;
    let url = sc.resolved_url()?;
    let mut include = r.tables.clone();
    if let Some(g) = &r.group {
        include.extend(sc.groups.get(g).cloned().ok_or_else(|| {
            ApiError::not_found(format!("no table group named {g:?}")).hint(format!(
                "groups of {}: {}",
                r.source,
                sc.groups.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?);
    }
    Ok((
        GuardOptions {
            source_name: Some(r.source.clone()),
            url: url.clone(),
            tables: tables_filter(&include)?,
            reason: Some(
                r.reason
                    .clone()
                    .unwrap_or_else(|| format!("guard taken by {}", caller.actor())),
            ),
            username: Some(caller.actor()),
        },
        url,
    ))
}

/// Takes a guard now (the answer comes when it is stored).
///
/// # Errors
/// Unknown source or group, database and repository failures.
pub async fn take(app: &Arc<App>, caller: &Caller, r: &GuardRequest) -> ApiResult<GuardView> {
    let (options, url) = guard_options(app, caller, r)?;
    let source = app.engines.source(&url)?;
    let g = tresor_ops::take_guard(&app.repo, source.as_ref(), &options, &NoProgress).await?;
    app.catalog.changed();
    app.store.audit(
        &caller.actor(),
        "guard.take",
        Some(&r.source),
        Some(&format!("guard {}", g.short_id())),
    );
    let all = app.snapshots().await?;
    Ok(guard_view(&g, &all))
}

async fn find_guard(app: &App, id: &str) -> ApiResult<(Snapshot, Arc<Vec<Snapshot>>)> {
    let g = app.find_snapshot(id).await?;
    if !tresor_ops::is_guard(&g) {
        return Err(ApiError::bad_request(format!(
            "snapshot {} is not a guard",
            g.short_id()
        )));
    }
    let all = app.snapshots().await?;
    Ok((g, all))
}

/// Records the state after the guarded operation.
///
/// # Errors
/// Not a guard, already closed, database and repository failures.
pub async fn close(app: &Arc<App>, caller: &Caller, id: &str) -> ApiResult<GuardView> {
    let (g, all) = find_guard(app, id).await?;
    if tresor_ops::guard_after(&all, &g).is_some() {
        return Err(ApiError::new(
            crate::error::Kind::Conflict,
            format!("guard {} is closed already", g.short_id()),
        ));
    }
    let name = g
        .source
        .name
        .clone()
        .ok_or_else(|| ApiError::bad_request("the guard's source is not configured"))?;
    let r = GuardRequest {
        source: name,
        tables: Vec::new(),
        group: None,
        reason: g.reason.clone(),
    };
    let (options, url) = guard_options(app, caller, &r)?;
    let source = app.engines.source(&url)?;
    tresor_ops::close_guard(&app.repo, source.as_ref(), &g, &options).await?;
    app.catalog.changed();
    app.store.audit(
        &caller.actor(),
        "guard.close",
        Some(&r.source),
        Some(&format!("guard {}", g.short_id())),
    );
    let all = app.snapshots().await?;
    Ok(guard_view(&g, &all))
}

/// Every guard, newest first.
///
/// # Errors
/// Repository failures.
pub async fn list(app: &Arc<App>) -> ApiResult<Vec<GuardView>> {
    let all = app.snapshots().await?;
    Ok(all
        .iter()
        .rev()
        .filter(|s| tresor_ops::is_guard(s))
        .map(|g| guard_view(g, &all))
        .collect())
}

/// Removes a guard and its after-state.
///
/// # Errors
/// Not a guard, repository failures.
pub async fn release(app: &Arc<App>, caller: &Caller, id: &str) -> ApiResult<Vec<String>> {
    let (g, all) = find_guard(app, id).await?;
    let removed = tresor_ops::release_guard(&app.repo, &all, &g).await?;
    app.catalog.changed();
    app.store.audit(
        &caller.actor(),
        "guard.release",
        Some(g.source.key()),
        Some(&format!("guard {}", g.short_id())),
    );
    Ok(removed)
}

/// An undo, previewed or started.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UndoRequest {
    /// Only these of the guarded tables (globs).
    #[serde(default)]
    pub tables: Vec<String>,
    /// Revert rows changed again after the operation too.
    #[serde(default)]
    pub force: bool,
    /// Only preview (rehearsed); change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The guard's id typed again (at least 8 characters): needed to
    /// start the undo.
    #[serde(default)]
    pub confirm: Option<String>,
}

/// Previews an undo (the answer), or starts it as a job (its id).
///
/// # Errors
/// Not a guard, a missing or wrong confirmation, failures of the preview.
pub async fn undo(
    app: &Arc<App>,
    caller: &Caller,
    id: &str,
    r: &UndoRequest,
) -> ApiResult<Result<tresor_ops::UndoReport, i64>> {
    let (g, all) = find_guard(app, id).await?;
    let name = g
        .source
        .name
        .clone()
        .ok_or_else(|| ApiError::bad_request("the guard's source is not configured"))?;
    if r.dry_run {
        let url = app.source_config(&name)?.resolved_url()?;
        let target = app.engines.target(&url)?;
        let source = app.engines.source(&url)?;
        let report = tresor_ops::undo(
            &app.repo,
            &all,
            &g,
            target.as_ref(),
            source.as_ref(),
            &UndoOptions {
                tables: tables_filter(&r.tables)?,
                force: r.force,
                dry_run: Some(tresor_ops::DEFAULT_REHEARSAL),
                target_url: url,
                target_name: Some(name.clone()),
                username: Some(caller.actor()),
            },
            &NoProgress,
        )
        .await?;
        return Ok(Ok(report));
    }
    let typed = r.confirm.as_deref().unwrap_or_default().trim();
    if typed.len() < 8 || !g.id.starts_with(typed) {
        return Err(
            ApiError::bad_request("undo needs the guard's id typed again").hint(format!(
                "confirm with \"{}\" (preview first with dry_run: true)",
                g.short_id()
            )),
        );
    }
    let spec = JobSpec::Undo {
        guard: g.id.clone(),
        target: name.clone(),
        tables: r.tables.clone(),
        force: r.force,
    };
    let (job, _) = app
        .jobs
        .submit(crate::jobs::Submit::manual(spec, caller.actor()))?;
    app.store.audit(
        &caller.actor(),
        "guard.undo",
        Some(&name),
        Some(&format!("guard {}", g.short_id())),
    );
    Ok(Err(job))
}

/// The undo job.
pub(crate) async fn run_undo(
    env: &JobEnv,
    guard: &str,
    target: &str,
    tables: &[String],
    force: bool,
    who: &str,
    progress: &Arc<JobProgress>,
) -> Result<Value, Failure> {
    let url = crate::catalog::source_config(&env.config, target)?.resolved_url()?;
    let g = env.catalog.find(guard).await?;
    let all = env.catalog.snapshots().await?;
    let t = env.engines.target(&url)?;
    let s = env.engines.source(&url)?;
    progress.log(
        "info",
        &format!("undoing guard {} in {target}", g.short_id()),
    );
    let report = tresor_ops::undo(
        env.catalog.repo(),
        &all,
        &g,
        t.as_ref(),
        s.as_ref(),
        &UndoOptions {
            tables: tables_filter(tables)?,
            force,
            dry_run: None,
            target_url: url,
            target_name: Some(target.to_string()),
            username: Some(who.to_string()),
        },
        progress.as_ref(),
    )
    .await?;
    for t in &report.tables {
        for k in &t.conflict_keys {
            progress.log("warn", &format!("conflict left as it is: {} {k}", t.table));
        }
    }
    env.catalog.changed();
    serde_json::to_value(&report).map_err(|e| Failure::Api(ApiError::internal(e)))
}
