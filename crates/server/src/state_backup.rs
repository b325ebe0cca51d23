//! The server backs up its own state (users, password and token hashes,
//! jobs, the audit log, settings) into the repository as snapshots of their
//! own (trigger `server-state`, source `server:state`), so a lost server
//! comes back from the repository alone: `tresor serve --restore-state`.
//!
//! A backup runs every `[server] state-backup` interval when the state
//! changed since the last one, and once more on shutdown after the jobs
//! have stopped; the newest [`KEEP`] are kept. `latest` never chooses
//! these snapshots.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tresor_core::RestoreMode;
use tresor_ops::{
    BackupOptions, CacheDir, Engines, NoProgress, OpsError, RestoreOptions, Snapshot, Trigger,
    backup, delete_snapshot, list_snapshots, resolve, restore,
};
use tresor_repo::Repository;

use crate::app::App;

/// The source name state snapshots are filed under (it cannot be a
/// configured source: names may not contain ':').
pub const STATE_SOURCE: &str = "server:state";

/// State snapshots kept.
pub const KEEP: usize = 10;

fn url_of(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Backs the state file up now; removes state snapshots beyond [`KEEP`]
/// (not from an append-only repository).
///
/// # Errors
/// Reading the state file, or the repository.
pub(crate) async fn back_up(app: &App) -> Result<Snapshot, OpsError> {
    let url = url_of(&app.config.server.state_file);
    let source = app.engines.source(&url)?;
    let snapshot = backup(
        &app.repo,
        source.as_ref(),
        &BackupOptions {
            source_name: Some(STATE_SOURCE.into()),
            url,
            trigger: Trigger::ServerState,
            reason: Some("the server's own state".into()),
            username: Some("server".into()),
            cache: CacheDir::Off,
            ..BackupOptions::default()
        },
        &NoProgress,
    )
    .await?;
    let all = list_snapshots(&app.repo).await?;
    let states: Vec<&Snapshot> = all
        .iter()
        .filter(|s| s.trigger == Trigger::ServerState)
        .collect();
    // an append-only repository keeps every one (`tresor forget` with the
    // full credentials removes them as any other snapshot)
    let excess = if app.repo.storage().is_append_only() {
        0
    } else {
        states.len().saturating_sub(KEEP)
    };
    for old in states.iter().take(excess) {
        delete_snapshot(&app.repo, &old.id).await?;
    }
    app.catalog.changed();
    Ok(snapshot)
}

/// Backs up the state whenever it changed, every `interval`, until
/// shutdown; returns the change count it last backed up.
pub(crate) async fn run(app: Arc<App>, interval: Duration) -> Option<u64> {
    let mut backed_up: Option<u64> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = app.shutdown.cancelled() => return backed_up,
        }
        backed_up = back_up_if_changed(&app, backed_up).await;
    }
}

/// Backs up the state if it changed since `backed_up`; returns the change
/// count now backed up.
pub(crate) async fn back_up_if_changed(app: &Arc<App>, backed_up: Option<u64>) -> Option<u64> {
    let changes = app.store.changes();
    if backed_up == Some(changes) {
        return backed_up;
    }
    let a = app.clone();
    match crate::jobs::off_thread(move || async move { back_up(&a).await }).await {
        Ok(Ok(s)) => {
            tracing::info!(snapshot = %s.short_id(), "backed up the server's state");
            Some(changes)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot back up the server's state");
            backed_up
        }
        Err(e) => {
            tracing::warn!(error = %e.message, "cannot back up the server's state");
            backed_up
        }
    }
}

/// Restores the newest state snapshot into `state_file`, which must not
/// exist (a server whose state was lost). Returns the snapshot restored.
///
/// # Errors
/// The state file exists, the repository has no state snapshot, or the
/// restore fails (nothing is written then).
pub async fn restore_state(
    repo: &Arc<Repository>,
    engines: &Engines,
    state_file: &Path,
) -> Result<Snapshot, OpsError> {
    if state_file.exists() {
        return Err(OpsError::InvalidInput {
            what: format!(
                "the state file {} exists; --restore-state brings back a lost one",
                state_file.display()
            ),
            hint: Some("move it away first if you mean to replace it".into()),
        });
    }
    let all = list_snapshots(repo).await?;
    let snapshot = resolve(&all, "latest:server-state")?.clone();
    let url = url_of(state_file);
    let target = engines.target(&url)?;
    restore(
        repo,
        &snapshot,
        target.as_ref(),
        None,
        &RestoreOptions {
            mode: RestoreMode::Replace,
            safety_snapshot: false,
            target_url: url,
            ..RestoreOptions::default()
        },
        &NoProgress,
    )
    .await?;
    Ok(snapshot)
}
