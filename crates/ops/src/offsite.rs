//! Offsite repositories (`[offsite.NAME]` in tresor.toml): opening one with
//! its own password, what it still lacks of the primary, and bringing it
//! up to date: copy what is missing ([`crate::copy_snapshots`]), then
//! apply its own retention. The server runs [`sync_offsite`] after each
//! backup and on the offsite's schedule; `tresor copy --offsite NAME` runs
//! the same function by hand.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tresor_repo::{Repository, RetentionPolicy, SnapshotInfo, apply_policy};

use crate::config::OffsiteConfig;
use crate::copy::{CopyReport, CopySelection, copy_snapshots};
use crate::error::{OpsError, Result};
use crate::maintenance::{ForgetOptions, ForgetOutcome, forget};
use crate::open::{PASSWORD_VAR, PasswordSource, open_repository};
use crate::progress::Progress;
use crate::retention::RetentionRules;
use crate::snapshot::{Snapshot, Trigger, list_snapshots};

/// Opens the offsite repository `name` with its own password: its
/// `password-file` or `password-env`, never `TRESOR_PASSWORD` (the
/// primary's).
///
/// # Errors
/// As [`open_repository`].
pub async fn open_offsite(config: &OffsiteConfig) -> Result<Repository> {
    let env = |var: &str| {
        if var == PASSWORD_VAR {
            None
        } else {
            std::env::var(var).ok()
        }
    };
    let from = PasswordSource {
        env: Some(&env),
        ..PasswordSource::default()
    };
    open_repository(&config.repository, &from).await
}

/// Where an offsite repository stands against the primary.
#[derive(Clone, Debug, Serialize)]
pub struct OffsiteStatus {
    /// Snapshots the offsite repository holds.
    pub copies: usize,
    /// Snapshots of the primary it should hold and lacks, oldest first.
    pub pending: Vec<PendingCopy>,
}

impl OffsiteStatus {
    /// When the oldest snapshot not yet copied was taken.
    pub fn oldest_pending(&self) -> Option<DateTime<Utc>> {
        self.pending.iter().map(|p| p.time).min()
    }
}

/// A snapshot not copied yet.
#[derive(Clone, Debug, Serialize)]
pub struct PendingCopy {
    /// Its id (the same in both repositories once copied).
    pub id: String,
    /// Its source.
    pub source: String,
    /// When it was taken.
    pub time: DateTime<Utc>,
}

/// What [`sync_offsite`] did.
#[derive(Clone, Debug, Serialize)]
pub struct OffsiteReport {
    /// The copy.
    pub copy: CopyReport,
    /// The offsite retention's decisions, when it has rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget: Option<ForgetOutcome>,
    /// Where it stands afterwards.
    pub status: OffsiteStatus,
}

/// What the offsite repository lacks: the primary's snapshots of the
/// sources it takes (safety snapshots and guards stay home) that it does
/// not hold and that its own retention would keep, so that a copy forgotten
/// there is not sent again.
///
/// # Errors
/// Listing either repository fails.
pub async fn offsite_status(
    primary: &Repository,
    offsite: &Repository,
    config: &OffsiteConfig,
    rules: &RetentionRules,
) -> Result<OffsiteStatus> {
    let home = list_snapshots(primary).await?;
    offsite_status_from(&home, offsite, config, rules).await
}

/// [`offsite_status`] against the primary's snapshots `home` already
/// listed (the server's cached list).
///
/// # Errors
/// Listing the offsite repository fails.
pub async fn offsite_status_from(
    home: &[Snapshot],
    offsite: &Repository,
    config: &OffsiteConfig,
    rules: &RetentionRules,
) -> Result<OffsiteStatus> {
    let there = list_snapshots(offsite).await?;
    status_of(home, &there, config, rules)
}

fn status_of(
    home: &[Snapshot],
    there: &[Snapshot],
    config: &OffsiteConfig,
    rules: &RetentionRules,
) -> Result<OffsiteStatus> {
    let held: HashSet<&str> = there.iter().map(|s| s.id.as_str()).collect();
    let mut candidates: Vec<&Snapshot> = home
        .iter()
        .filter(|s| !held.contains(s.id.as_str()))
        .filter(|s| !matches!(s.trigger, Trigger::PreRestore | Trigger::Guard))
        .filter(|s| config.takes(rules.owner(s)))
        .collect();
    if let Some(policy) = policy_of(config)? {
        let info = |s: &Snapshot| SnapshotInfo {
            id: s.id.clone(),
            time: s.time,
            tags: s.tags.clone(),
            group: rules.series(s),
            reason: s.reason.clone().unwrap_or_default(),
        };
        let all: Vec<SnapshotInfo> = there
            .iter()
            .chain(candidates.iter().copied())
            .map(info)
            .collect();
        let kept: HashSet<String> = apply_policy(&all, &policy)
            .into_iter()
            .flat_map(|g| g.snapshots)
            .filter(|r| r.keep())
            .map(|r| r.snapshot.id)
            .collect();
        candidates.retain(|s| kept.contains(&s.id));
    }
    candidates.sort_by_key(|s| s.time);
    Ok(OffsiteStatus {
        copies: there.len(),
        pending: candidates
            .into_iter()
            .map(|s| PendingCopy {
                id: s.id.clone(),
                source: rules.owner(s).to_string(),
                time: s.time,
            })
            .collect(),
    })
}

fn policy_of(config: &OffsiteConfig) -> Result<Option<RetentionPolicy>> {
    let Some(r) = &config.retention else {
        return Ok(None);
    };
    let policy = r.policy().map_err(|e| OpsError::InvalidInput {
        what: format!("offsite retention: {e}"),
        hint: Some("see docs/config.md, [offsite.NAME.retention]".into()),
    })?;
    Ok((!policy.is_empty()).then_some(policy))
}

/// Brings the offsite repository up to date: copies every snapshot it
/// lacks (see [`offsite_status`]), oldest first, then applies its
/// retention. Data no copy references any more goes at the offsite's next
/// `prune`.
///
/// # Errors
/// The copy's errors; a snapshot copied before the failure stays copied.
pub async fn sync_offsite(
    primary: &Repository,
    offsite: &Arc<Repository>,
    config: &OffsiteConfig,
    rules: &RetentionRules,
    progress: &dyn Progress,
) -> Result<OffsiteReport> {
    let before = offsite_status(primary, offsite, config, rules).await?;
    let selection = CopySelection {
        snapshots: before.pending.iter().map(|p| p.id.clone()).collect(),
        ..CopySelection::default()
    };
    let copy = if selection.snapshots.is_empty() {
        CopyReport::default()
    } else {
        copy_snapshots(primary, offsite, &selection, progress).await?
    };
    let forget = match policy_of(config)? {
        Some(policy) => Some(
            forget(
                offsite,
                &ForgetOptions {
                    policy,
                    rules: rules.clone(),
                    ..ForgetOptions::default()
                },
            )
            .await?,
        ),
        None => None,
    };
    let status = offsite_status(primary, offsite, config, rules).await?;
    Ok(OffsiteReport {
        copy,
        forget,
        status,
    })
}
