//! What each kind of job does, in terms of tresor-ops.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tresor_ops::{
    BackupRequest, ForgetOptions, ImportOptions, Progress, RetentionRules, SourceSpec, Trigger,
    backup, check, forget, import_archive, prune, restore, retain_after_backup,
};
use tresor_repo::RetentionPolicy;

use super::JobEnv;
use super::{Failure, JobProgress, JobSpec, RestoreRequest};
use crate::catalog::source_config;
use crate::error::ApiError;

pub(super) async fn execute(
    env: &JobEnv,
    spec: &JobSpec,
    who: &str,
    progress: &Arc<JobProgress>,
) -> Result<Value, Failure> {
    match spec {
        JobSpec::Backup {
            source,
            tables,
            group,
            reason,
            tags,
            app_version,
        } => {
            let request = BackupRequest {
                group: group.clone(),
                tables: tables.clone(),
                tags: tags.clone(),
                reason: reason.clone(),
                app_version: app_version.clone(),
                trigger: if who == super::SCHEDULER {
                    Trigger::Scheduled
                } else {
                    Trigger::Manual
                },
                username: Some(who.to_string()),
                labels: BTreeMap::from([("server".to_string(), "tresor serve".to_string())]),
                ..BackupRequest::default()
            };
            run_backup(env, source, &request, progress).await
        }
        JobSpec::Restore(job) => run_restore(env, job, who, progress).await,
        JobSpec::Forget {
            source,
            ids,
            retention,
        } => {
            run_forget(
                env,
                source.clone(),
                ids.clone(),
                retention.as_ref(),
                progress,
            )
            .await
        }
        JobSpec::Prune => run_prune(env, progress).await,
        JobSpec::Check { read_data } => run_check(env, *read_data, progress).await,
        JobSpec::Drill { source, snapshot } => {
            drill(env, source, snapshot.as_deref(), progress).await
        }
        JobSpec::Import { upload } => run_import(env, upload, who, progress).await,
        JobSpec::Copy { repository } => run_copy(env, repository, progress).await,
        JobSpec::Undo {
            guard,
            target,
            tables,
            force,
        } => {
            Box::pin(crate::actions::rows::run_undo(
                env, guard, target, tables, *force, who, progress,
            ))
            .await
        }
    }
}

/// A job's figures as stored with it.
fn figures(f: &impl Serialize) -> Result<Value, Failure> {
    serde_json::to_value(f).map_err(|e| Failure::Api(ApiError::internal(e)))
}

/// What a restore did.
#[derive(Serialize)]
struct RestoreFigures<'a> {
    snapshot: &'a str,
    target: &'a str,
    mode: String,
    safety_snapshot: Option<&'a str>,
    rows: u64,
    tables: Vec<TableRows>,
    method: &'a str,
    warnings: &'a [String],
    /// Tables `only_missing` left alone.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    skipped: &'a [tresor_ops::SkippedTable],
    /// Tables the snapshot lacks, dropped (`drop_extra_tables`).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    dropped: &'a [String],
}

/// Rows of one table.
#[derive(Serialize)]
struct TableRows {
    name: String,
    rows: u64,
}

async fn run_restore(
    env: &JobEnv,
    job: &RestoreRequest,
    who: &str,
    progress: &Arc<JobProgress>,
) -> Result<Value, Failure> {
    let sc = source_config(&env.config, &job.target)?;
    let options = job.options(sc, who.to_string(), None)?;
    let (target, mode) = (job.target.as_str(), options.mode);
    let snap = env.catalog.find(&job.snapshot).await?;
    let t = env.engines.target(&options.target_url)?;
    let ts = env.engines.source(&options.target_url)?;
    progress.log(
        "info",
        &format!(
            "restoring snapshot {} into {target} ({mode})",
            snap.short_id()
        ),
    );
    let out = restore(
        env.catalog.repo(),
        &snap,
        t.as_ref(),
        Some(ts.as_ref()),
        &options,
        progress.as_ref(),
    )
    .await?;
    if let Some(s) = &out.safety_snapshot {
        progress.log("info", &format!("safety snapshot {s} taken first"));
    }
    if !out.created.is_empty() {
        let made = out.created.join(", ");
        progress.log(
            "info",
            &match &out.safety_snapshot {
                Some(_) => format!("made {made}, which the target lacked: an undo with the safety snapshot leaves them"),
                None => format!("made {made}, which the target lacked; no safety snapshot was needed: to undo the restore, drop them"),
            },
        );
    }
    for w in &out.summary.warnings {
        progress.log("warn", w);
    }
    for a in &out.summary.changed_values {
        progress.log("warn", &format!("approximated: {a}"));
    }
    for t in &out.dropped {
        progress.log(
            "info",
            &format!("dropped {t}: the snapshot does not have it"),
        );
    }
    for t in &out.skipped {
        progress.log(
            "info",
            &format!("left alone: {} holds {} rows", t.name, t.target_rows),
        );
    }
    figures(&RestoreFigures {
        skipped: &out.skipped,
        dropped: &out.dropped,
        snapshot: &out.snapshot,
        target,
        mode: mode.to_string(),
        safety_snapshot: out.safety_snapshot.as_deref(),
        rows: out.tables.iter().map(|(_, n)| n).sum(),
        tables: out
            .tables
            .iter()
            .map(|(t, n)| TableRows {
                name: t.to_string(),
                rows: *n,
            })
            .collect(),
        method: &out.summary.method,
        warnings: &out.summary.warnings,
    })
}

/// The retention rules in force: the config's, with the ones set at run
/// time in their place.
fn retention_rules(env: &JobEnv) -> Result<RetentionRules, Failure> {
    let mut rules = RetentionRules::from_config(&env.config, &env.engines)?;
    for name in env.config.sources.keys() {
        let r = crate::scheduler::retention_in_force(&env.store, &env.config, name);
        rules.set(name, r.as_ref())?;
    }
    Ok(rules)
}

/// What a forget job did.
#[derive(Serialize)]
struct ForgetFigures<'a> {
    removed: &'a [String],
    kept: usize,
}

async fn run_forget(
    env: &JobEnv,
    source: Option<String>,
    ids: Vec<String>,
    retention: Option<&tresor_ops::RetentionConfig>,
    progress: &Arc<JobProgress>,
) -> Result<Value, Failure> {
    let mut rules = retention_rules(env)?;
    // rules given with the job replace the source's for this run
    let policy = match (retention, &source) {
        (Some(r), Some(s)) => {
            rules.set(s, Some(r))?;
            RetentionPolicy::default()
        }
        (Some(r), None) => r.policy().map_err(ApiError::bad_request)?,
        (None, _) => RetentionPolicy::default(),
    };
    let out = forget(
        env.catalog.repo(),
        &ForgetOptions {
            policy,
            rules,
            tag: None,
            source,
            ids,
            dry_run: false,
        },
    )
    .await?;
    progress.log(
        "info",
        &format!("{} snapshot(s) removed", out.removed.len()),
    );
    for id in &out.removed {
        progress.log("info", &format!("removed snapshot {}", short(id)));
    }
    figures(&ForgetFigures {
        removed: &out.removed,
        kept: out
            .groups
            .values()
            .map(|g| g.iter().filter(|d| d.keep).count())
            .sum(),
    })
}

async fn run_prune(env: &JobEnv, progress: &Arc<JobProgress>) -> Result<Value, Failure> {
    progress.step("removing data no snapshot references");
    let report = prune(env.catalog.repo(), false).await?;
    let said = |r: &tresor_repo::PruneReport| {
        format!(
            "{} packs deleted, {} repacked, {} bytes freed",
            r.packs_deleted, r.packs_repacked, r.bytes_freed
        )
    };
    progress.log("info", &said(&report));
    let mut out = serde_json::to_value(&report).map_err(|e| Failure::Api(ApiError::internal(e)))?;
    // each offsite repository's forgotten copies go too; one that cannot
    // be reached fails the job after the others are done
    let mut failed = None;
    for o in env.offsites.all() {
        if o.config.repository.append_only {
            progress.log(
                "info",
                &format!(
                    "offsite {}: not pruned, its credentials are append-only",
                    o.name
                ),
            );
            continue;
        }
        progress.step(&format!("pruning offsite repository {}", o.name));
        let result = async {
            let repo = o.repo().await?;
            prune(&repo, false).await
        }
        .await;
        match result {
            Ok(r) => {
                progress.log("info", &format!("offsite {}: {}", o.name, said(&r)));
                out["offsite"][&o.name] = serde_json::to_value(&r).unwrap_or(Value::Null);
            }
            Err(e) => {
                progress.log("error", &format!("offsite {}: {e}", o.name));
                failed.get_or_insert(e);
            }
        }
    }
    match failed {
        Some(e) => Err(Failure::Ops(e)),
        None => Ok(out),
    }
}

/// Copies what the offsite repository `name` lacks, then applies its
/// retention; what is seen of it afterwards goes to the dashboard and
/// `/metrics`.
async fn run_copy(env: &JobEnv, name: &str, progress: &Arc<JobProgress>) -> Result<Value, Failure> {
    let offsite = env.offsites.get(name).ok_or_else(|| {
        ApiError::not_found(format!("no offsite repository named {name:?}"))
            .hint("offsite repositories are the [offsite.NAME] tables of tresor.toml")
    })?;
    progress.step(&format!(
        "copying to offsite repository {name} ({})",
        offsite.location
    ));
    let result = async {
        let repo = offsite.repo().await?;
        tresor_ops::sync_offsite(
            env.catalog.repo(),
            &repo,
            &offsite.config,
            env.offsites.rules(),
            progress.as_ref(),
        )
        .await
    }
    .await;
    let now = env.clock.now();
    match result {
        Ok(report) => {
            offsite.record(report.status.clone(), now);
            let c = &report.copy;
            progress.log(
                "info",
                &format!(
                    "{} snapshots copied ({} blobs, {} bytes sent), {} already there; {} still to copy",
                    c.copied.len(),
                    c.blobs_sent,
                    c.bytes_sent,
                    c.skipped.len(),
                    report.status.pending.len()
                ),
            );
            if let Some(f) = &report.forget
                && !f.removed.is_empty()
            {
                progress.log(
                    "info",
                    &format!("offsite retention removed {} copies", f.removed.len()),
                );
            }
            figures(&report)
        }
        Err(e) => {
            offsite.failed(&e.to_string(), now);
            Err(e.into())
        }
    }
}

/// What a check found.
#[derive(Serialize)]
struct CheckFigures {
    snapshots: usize,
    errors: usize,
    damaged_snapshots: Vec<String>,
    read_data: bool,
}

async fn run_check(
    env: &JobEnv,
    read_data: bool,
    progress: &Arc<JobProgress>,
) -> Result<Value, Failure> {
    progress.step(if read_data {
        "checking the repository and reading all data"
    } else {
        "checking the repository structure"
    });
    let out = check(env.catalog.repo(), read_data).await?;
    for e in &out.errors {
        progress.log("error", e);
    }
    for w in &out.report.warnings {
        progress.log("warn", w);
    }
    if !out.is_ok() {
        return Err(Failure::Ops(tresor_ops::OpsError::Corrupt(format!(
            "check found problems: {}",
            out.errors
                .iter()
                .chain(&out.report.errors)
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ))));
    }
    figures(&CheckFigures {
        snapshots: out.snapshots,
        errors: out.errors.len() + out.report.errors.len(),
        damaged_snapshots: out.damaged_snapshots.iter().map(|d| d.id.clone()).collect(),
        read_data,
    })
}

/// What an import stored.
#[derive(Serialize)]
struct ImportFigures<'a> {
    snapshot: &'a str,
    tables: u64,
    rows: u64,
    bytes: u64,
}

async fn run_import(
    env: &JobEnv,
    upload: &str,
    who: &str,
    progress: &Arc<JobProgress>,
) -> Result<Value, Failure> {
    let path = env.uploads.path(upload)?;
    progress.step("validating the archive and storing it as a snapshot");
    let snap = import_archive(
        env.catalog.repo(),
        path,
        &ImportOptions {
            tags: vec!["uploaded".into()],
            username: Some(who.to_string()),
            ..ImportOptions::default()
        },
    )
    .await?;
    env.uploads.remove(upload);
    progress.log("info", &format!("snapshot {} created", snap.short_id()));
    figures(&ImportFigures {
        snapshot: &snap.id,
        tables: snap.totals.tables,
        rows: snap.totals.rows,
        bytes: snap.totals.bytes,
    })
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

async fn run_backup(
    env: &JobEnv,
    name: &str,
    request: &BackupRequest,
    progress: &Arc<JobProgress>,
) -> Result<Value, Failure> {
    let sc = source_config(&env.config, name)?;
    let options = request.options(SourceSpec::Named(name, sc), &env.engines)?;
    let source = env.engines.source(&options.url)?;
    let snap = backup(
        env.catalog.repo(),
        source.as_ref(),
        &options,
        progress.as_ref(),
    )
    .await?;
    progress.log(
        "info",
        &format!(
            "snapshot {}: {} tables, {} rows, {} bytes ({} new)",
            snap.short_id(),
            snap.totals.tables,
            snap.totals.rows,
            snap.totals.bytes,
            snap.totals.added_bytes
        ),
    );
    // the snapshot is saved: a retention that fails is a warning in the
    // job's log, not a failed backup
    let retained = match retention_rules(env) {
        Ok(rules) => retain_after_backup(env.catalog.repo(), &rules, &snap)
            .await
            .map_err(|e| e.to_string()),
        Err(_) => Err("the retention rules are invalid".to_string()),
    };
    let retention_removed = match retained {
        Ok(out) => out.map(|o| o.removed).unwrap_or_default(),
        Err(e) => {
            progress.log(
                "warn",
                &format!("the backup is saved, but its retention rules could not run: {e}"),
            );
            Vec::new()
        }
    };
    if !retention_removed.is_empty() {
        progress.log(
            "info",
            &format!(
                "retention removed {} older snapshot(s): {}",
                retention_removed.len(),
                retention_removed
                    .iter()
                    .map(|id| short(id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    figures(&BackupFigures {
        retention_removed: &retention_removed,
        snapshot: &snap.id,
        tables: snap.totals.tables,
        rows: snap.totals.rows,
        bytes: snap.totals.bytes,
        added_bytes: snap.totals.added_bytes,
        new_chunks: snap.totals.new_chunks,
        reused_chunks: snap.totals.reused_chunks,
        duration_ms: (snap.end_time - snap.time).num_milliseconds(),
    })
}

/// What a backup stored.
#[derive(Serialize)]
struct BackupFigures<'a> {
    snapshot: &'a str,
    tables: u64,
    rows: u64,
    bytes: u64,
    added_bytes: u64,
    new_chunks: u64,
    reused_chunks: u64,
    duration_ms: i64,
    /// Older snapshots the source's retention rules removed afterwards.
    retention_removed: &'a [String],
}

/// Restores a snapshot into a scratch database of the source's own engine
/// on the source's server (or a temporary SQLite file), compares every
/// table with the snapshot row by row, and drops the scratch database
/// (`tresor_ops::drill`, the same drill as `tresor drill`).
async fn drill(
    env: &JobEnv,
    source: &str,
    snapshot: Option<&str>,
    progress: &Arc<JobProgress>,
) -> Result<Value, Failure> {
    let spec = snapshot.map_or_else(|| format!("latest:{source}"), str::to_string);
    let snap = env.catalog.find(&spec).await?;
    let sc = source_config(&env.config, source)?;
    let dir = tempfile::tempdir()
        .map_err(|e| ApiError::internal(format!("cannot create a scratch directory: {e}")))?;
    let scratch = env.engines.scratch_url(&sc.resolved_url()?, dir.path())?;
    progress.log(
        "info",
        &format!(
            "restoring snapshot {} into the scratch database {}",
            snap.short_id(),
            tresor_core::redact_url(&scratch)
        ),
    );
    let report = tresor_ops::drill(
        env.catalog.repo(),
        &snap,
        &env.engines,
        &scratch,
        &sc.drill.assertions,
        progress.as_ref(),
    )
    .await?;
    for w in &report.warnings {
        progress.log("warn", w);
    }
    for a in &report.assertions {
        match a.problem() {
            None => progress.log(
                "info",
                &format!(
                    "assertion {:?} holds: {} ({})",
                    a.name,
                    a.seen.as_deref().unwrap_or("NULL"),
                    a.expect
                ),
            ),
            Some(p) => progress.log("error", &p),
        }
    }
    if !report.ok {
        // the failed job keeps the report, for the dashboard
        return Err(Failure::Drill(
            tresor_ops::drill_failure(&report),
            Box::new(figures(&report)?),
        ));
    }
    progress.log(
        "info",
        &format!(
            "all {} tables restored and identical to the snapshot; restore took {:.1} s",
            report.tables.len(),
            report.restore_seconds
        ),
    );
    figures(&report)
}
