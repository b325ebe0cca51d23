//! Keeping a repository healthy: `check` (naming the snapshots that damage
//! hurts), `forget` (retention rules) and `prune` (garbage collection).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use tresor_repo::{
    BlobId, CheckReport, LockKind, LockedObject, ObjectKind, PruneOptions, PruneReport, RepoError,
    Repository, RetentionPolicy, SnapshotInfo, StorageError, apply_policy,
};

use crate::error::{OpsError, Result};
use crate::retention::RetentionRules;
use crate::snapshot::{Snapshot, Trigger, delete_snapshot, list_snapshots, resolve};

/// The result of `check`.
#[derive(Clone, Debug, Serialize)]
pub struct CheckOutcome {
    /// The repository layer's report.
    pub report: CheckReport,
    /// Snapshots looked at.
    pub snapshots: usize,
    /// Snapshots that cannot be fully restored, with why.
    pub damaged_snapshots: Vec<DamagedSnapshot>,
    /// Problems found above the blob layer (unreadable manifests...).
    pub errors: Vec<String>,
}

impl CheckOutcome {
    /// Whether everything is fine (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.report.is_ok() && self.damaged_snapshots.is_empty() && self.errors.is_empty()
    }
}

/// A snapshot hurt by missing or damaged data.
#[derive(Clone, Debug, Serialize)]
pub struct DamagedSnapshot {
    /// The snapshot id.
    pub id: String,
    /// Its source.
    pub source: String,
    /// When it was taken.
    pub time: chrono::DateTime<chrono::Utc>,
    /// Tables that cannot be restored (empty when the schema itself is
    /// lost).
    pub tables: Vec<String>,
}

/// Verifies the repository; with `read_data`, every stored byte.
///
/// # Errors
/// Only when the snapshot list cannot be read at all; damage is reported
/// in the outcome.
pub async fn check(repo: &Arc<Repository>, read_data: bool) -> Result<CheckOutcome> {
    let lock = repo.lock(LockKind::Shared).await?;
    let snapshots = list_snapshots_tolerant(repo).await;
    let mut errors = snapshots.1;
    let mut referenced = HashSet::new();
    // blob -> (snapshot index, table name or "" for the schema)
    let mut users: BTreeMap<BlobId, Vec<(usize, String)>> = BTreeMap::new();
    for (i, s) in snapshots.0.iter().enumerate() {
        referenced.insert(s.schema);
        users.entry(s.schema).or_default().push((i, String::new()));
        for t in &s.tables {
            referenced.insert(t.data);
            users
                .entry(t.data)
                .or_default()
                .push((i, t.name.to_string()));
            match crate::snapshot::load_table_data(repo, &t.data).await {
                Ok(d) => {
                    for c in d.chunks {
                        referenced.insert(c);
                        users.entry(c).or_default().push((i, t.name.to_string()));
                    }
                }
                Err(e) => errors.push(format!("snapshot {} table {}: {e}", s.short_id(), t.name)),
            }
        }
    }
    let report = tresor_repo::check(repo, read_data, &referenced).await;
    let mut bad: HashSet<BlobId> = report.unreadable_blobs();
    bad.extend(report.missing_blobs.iter().copied());
    for d in &report.damaged_packs {
        bad.extend(d.blobs.iter().copied());
    }
    let mut hurt: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for b in &bad {
        for (i, table) in users.get(b).map(Vec::as_slice).unwrap_or_default() {
            let tables = hurt.entry(*i).or_default();
            if !table.is_empty() && !tables.contains(table) {
                tables.push(table.clone());
            }
        }
    }
    let damaged_snapshots = hurt
        .into_iter()
        .map(|(i, mut tables)| {
            let s = &snapshots.0[i];
            tables.sort();
            DamagedSnapshot {
                id: s.id.clone(),
                source: s.source.key().to_string(),
                time: s.time,
                tables,
            }
        })
        .collect();
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "cannot release repository lock");
    }
    Ok(CheckOutcome {
        report,
        snapshots: snapshots.0.len(),
        damaged_snapshots,
        errors,
    })
}

/// Lists snapshots, collecting unreadable manifests as errors instead of
/// failing.
async fn list_snapshots_tolerant(repo: &Repository) -> (Vec<Snapshot>, Vec<String>) {
    let mut errors = Vec::new();
    let ids = match repo.list_objects(tresor_repo::ObjectKind::Snapshot).await {
        Ok(ids) => ids,
        Err(e) => return (Vec::new(), vec![format!("cannot list snapshots: {e}")]),
    };
    let mut out = Vec::new();
    for id in ids {
        match crate::snapshot::load_snapshot(repo, &id.to_hex()).await {
            Ok(s) => out.push(s),
            Err(e) => errors.push(format!("snapshot {}: {e}", id.short())),
        }
    }
    out.sort_by_key(|s| s.time);
    (out, errors)
}

/// What `forget` should consider and keep.
#[derive(Clone, Debug, Default)]
pub struct ForgetOptions {
    /// Rules given for this run, applied to every series selected. When
    /// empty (and no ids are given), the configured `rules` apply.
    pub policy: RetentionPolicy,
    /// The configured rules per source and group; also which configured
    /// source a snapshot taken by URL belongs to.
    pub rules: RetentionRules,
    /// Only snapshots with this tag.
    pub tag: Option<String>,
    /// Only snapshots of this source (name or URL).
    pub source: Option<String>,
    /// Forget exactly these snapshots (id prefixes) instead of applying the
    /// rules.
    pub ids: Vec<String>,
    /// Decide but delete nothing.
    pub dry_run: bool,
}

/// One snapshot's fate.
#[derive(Clone, Debug, Serialize)]
pub struct ForgetDecision {
    /// Snapshot id.
    pub id: String,
    /// When it was taken.
    pub time: chrono::DateTime<chrono::Utc>,
    /// Whether it stays.
    pub keep: bool,
    /// Why it stays.
    pub reasons: Vec<String>,
}

/// Decisions per series.
#[derive(Clone, Debug, Serialize)]
pub struct ForgetOutcome {
    /// Series (`shop`, `shop (group user-data)`) -> decisions, newest
    /// first.
    pub groups: BTreeMap<String, Vec<ForgetDecision>>,
    /// Snapshots removed (or that would be, in a dry run).
    pub removed: Vec<String>,
    /// Whether nothing was deleted.
    pub dry_run: bool,
    /// Snapshots the rules remove that stay, their manifests under S3
    /// Object Lock retention (kept in `groups`, not in `removed`).
    pub locked: Vec<LockedObject>,
}

/// Applies retention rules (or removes named snapshots). Data stays until
/// [`prune`].
///
/// Snapshots are counted per series: a source's full snapshots, and each
/// of its table groups' apart (see [`RetentionRules`]).
///
/// # Errors
/// No rule given and none configured for the snapshots selected (that would
/// keep everything; say so rather than do nothing), unknown ids, repository
/// failures.
pub async fn forget(repo: &Arc<Repository>, options: &ForgetOptions) -> Result<ForgetOutcome> {
    if !options.dry_run {
        repo.refuse_if_append_only("forget")?;
    }
    let all = list_snapshots(repo).await?;
    let rules = &options.rules;
    let mut groups: BTreeMap<String, Vec<ForgetDecision>> = BTreeMap::new();
    let mut removed = Vec::new();
    if !options.ids.is_empty() {
        for spec in &options.ids {
            let s = match resolve(&all, spec) {
                Ok(s) => s,
                // a manifest list_snapshots skipped as damaged is still
                // removable by its id
                Err(e) => match damaged_manifest(repo, &all, spec).await? {
                    Some(id) => {
                        removed.push(id.clone());
                        groups
                            .entry("(damaged)".into())
                            .or_default()
                            .push(ForgetDecision {
                                id,
                                time: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
                                keep: false,
                                reasons: vec!["damaged manifest".into()],
                            });
                        continue;
                    }
                    None => return Err(e),
                },
            };
            removed.push(s.id.clone());
            groups
                .entry(rules.series(s))
                .or_default()
                .push(ForgetDecision {
                    id: s.id.clone(),
                    time: s.time,
                    keep: false,
                    reasons: vec![],
                });
        }
    } else {
        // series -> (its policy, its snapshots)
        let mut series: BTreeMap<String, (&RetentionPolicy, Vec<SnapshotInfo>)> = BTreeMap::new();
        let selected = all
            .iter()
            .filter(|s| {
                options
                    .tag
                    .as_deref()
                    .is_none_or(|t| s.tags.iter().any(|x| x == t))
            })
            .filter(|s| {
                options.source.as_deref().is_none_or(|src| {
                    rules.owner(s) == src || s.source.key() == src || s.source.url == src
                })
            });
        for s in selected {
            let policy = if options.policy.is_empty() {
                match rules.policy_for(s) {
                    Some(p) => p,
                    None => continue,
                }
            } else {
                &options.policy
            };
            let key = rules.series(s);
            series
                .entry(key.clone())
                .or_insert_with(|| (policy, Vec::new()))
                .1
                .push(SnapshotInfo {
                    id: s.id.clone(),
                    time: s.time,
                    tags: s.tags.clone(),
                    group: key,
                    // guards are kept like safety snapshots, until released
                    reason: if matches!(s.trigger, Trigger::PreRestore | Trigger::Guard) {
                        "pre-restore".to_string()
                    } else {
                        s.reason.clone().unwrap_or_default()
                    },
                });
        }
        if options.policy.is_empty() && series.is_empty() {
            return Err(OpsError::InvalidInput {
                what: match &options.source {
                    Some(src) => format!(
                        "no retention rule given, and tresor.toml sets none for {src:?}, so nothing would be removed"
                    ),
                    None => "no retention rule given, and tresor.toml sets none, so nothing would be removed".into(),
                },
                hint: Some(
                    "give --keep-last N, --keep-daily N, ... or snapshot ids, or set [sources.NAME.retention] keep-last = N"
                        .into(),
                ),
            });
        }
        for (_, (policy, infos)) in series {
            for g in apply_policy(&infos, policy) {
                let decisions = groups.entry(g.group.clone()).or_default();
                for r in &g.snapshots {
                    if !r.keep() {
                        removed.push(r.snapshot.id.clone());
                    }
                    decisions.push(ForgetDecision {
                        id: r.snapshot.id.clone(),
                        time: r.snapshot.time,
                        keep: r.keep(),
                        reasons: r.reasons.iter().map(ToString::to_string).collect(),
                    });
                }
            }
        }
    }
    // manifests under retention stay, and so stays what they reference
    let mut locked = retained_snapshots(repo, &removed).await?;
    if !options.dry_run {
        for id in &removed {
            if locked.iter().any(|l| l.path.ends_with(id.as_str())) {
                continue;
            }
            match delete_snapshot(repo, id).await {
                Ok(()) => {}
                Err(OpsError::Repo(RepoError::Storage(StorageError::Locked { path, until }))) => {
                    locked.push(LockedObject { path, until });
                }
                Err(e) => return Err(e),
            }
        }
    }
    removed.retain(|id| !locked.iter().any(|l| l.path.ends_with(id.as_str())));
    for decisions in groups.values_mut() {
        for d in decisions.iter_mut() {
            if let Some(l) = locked.iter().find(|l| l.path.ends_with(d.id.as_str())) {
                d.keep = true;
                d.reasons.push(match l.until {
                    Some(u) => format!("object lock until {}", u.format("%Y-%m-%d %H:%M UTC")),
                    None => "object lock".into(),
                });
            }
        }
    }
    Ok(ForgetOutcome {
        groups,
        removed,
        dry_run: options.dry_run,
        locked,
    })
}

/// The manifests among `ids` whose S3 Object Lock retention still holds
/// (none when the repository has no Object Lock).
async fn retained_snapshots(repo: &Repository, ids: &[String]) -> Result<Vec<LockedObject>> {
    let mut locked = Vec::new();
    if repo.storage().object_lock().is_none() {
        return Ok(locked);
    }
    let now = chrono::Utc::now();
    for id in ids {
        let path = format!("{}/{id}", ObjectKind::Snapshot.dir());
        match repo.storage().retention(&path).await {
            Ok(Some(r)) if r.holds_at(now) => locked.push(LockedObject {
                path,
                until: r.until,
            }),
            Ok(_) | Err(StorageError::NotFound { .. }) => {}
            Err(e) => return Err(RepoError::from(e).into()),
        }
    }
    Ok(locked)
}

/// The full id of the one manifest whose id starts with `spec` (8 or more
/// hex digits) that is not among the readable snapshots `all`.
async fn damaged_manifest(
    repo: &Arc<Repository>,
    all: &[Snapshot],
    spec: &str,
) -> Result<Option<String>> {
    if spec.len() < 8 || !spec.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let spec = spec.to_ascii_lowercase();
    let ids: Vec<String> = repo
        .list_objects(tresor_repo::ObjectKind::Snapshot)
        .await?
        .iter()
        .map(|id| id.to_hex())
        .filter(|id| id.starts_with(&spec) && !all.iter().any(|s| &s.id == id))
        .collect();
    Ok(match ids.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    })
}

/// Applies the configured rules of the source `snapshot` belongs to, as
/// every backup does when it is done (whoever started it). `None` when the
/// source has no rules.
///
/// # Errors
/// As [`forget`].
pub async fn retain_after_backup(
    repo: &Arc<Repository>,
    rules: &RetentionRules,
    snapshot: &Snapshot,
) -> Result<Option<ForgetOutcome>> {
    if rules.policy_for(snapshot).is_none() {
        return Ok(None);
    }
    forget(
        repo,
        &ForgetOptions {
            rules: rules.clone(),
            source: Some(rules.owner(snapshot).to_string()),
            ..ForgetOptions::default()
        },
    )
    .await
    .map(Some)
}

/// Rebuilds the index from the packs' own headers under an exclusive lock
/// (`tresor repair index`): a damaged, truncated or lost index file loses
/// nothing. Open the repository with `Repository::open_without_index`.
///
/// # Errors
/// A lock held by another process, storage failures.
pub async fn repair_index(repo: &Arc<Repository>) -> Result<tresor_repo::RepairReport> {
    let lock = repo.lock(LockKind::Exclusive).await?;
    let result = repo.rebuild_index().await;
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "cannot release repository lock");
    }
    Ok(result?)
}

/// Removes data no snapshot references, under an exclusive lock taken
/// before the references are computed.
///
/// # Errors
/// A lock held by a running backup, damaged indexes, or referenced data
/// that is already missing (nothing is deleted then).
pub async fn prune(repo: &Arc<Repository>, dry_run: bool) -> Result<PruneReport> {
    if !dry_run {
        repo.refuse_if_append_only("prune")?;
    }
    let lock = repo.lock(LockKind::Exclusive).await?;
    let result = async {
        repo.reload_index().await?;
        let mut referenced = HashSet::new();
        for s in list_snapshots(repo).await? {
            referenced.extend(s.referenced_blobs(repo).await?);
        }
        let options = PruneOptions {
            dry_run,
            ..PruneOptions::default()
        };
        Ok(tresor_repo::prune(repo, &lock, &referenced, &options).await?)
    }
    .await;
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "cannot release repository lock");
    }
    result
}
