//! Repository locks: `locks/<random id>`, encrypted JSON.
//!
//! Backups and restores take shared locks; prune takes an exclusive one. A
//! lock is refreshed by a background task while held. A lock is stale when it
//! was not refreshed for 30 minutes, or when it belongs to this host and its
//! process is gone. Acquisition writes the lock and then looks again, so two
//! racing exclusive requests both back off instead of both winning.
//!
//! On append-only storage a lock file can be neither replaced nor deleted,
//! so a lock is a *session* of create-only files: the first one, a new one
//! at every refresh (naming the session), and a release record at the end,
//! which makes every file of the session stale. They stay until `prune` or
//! `unlock`, run with the full credentials, removes stale locks.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::crypto::{MasterKey, ObjectId};
use crate::key::{hostname, username};
use crate::repository::Repository;
use crate::storage::{Storage, StorageError};

/// Directory of lock files.
pub(crate) const LOCKS_DIR: &str = "locks";

/// Errors of the lock module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another process holds a conflicting lock.
    #[error(
        "repository is locked by {holder} (try: wait for it to finish, or run `tresor unlock` if that process is gone)"
    )]
    Locked {
        /// Who holds the lock, in words.
        holder: String,
        /// The conflicting lock.
        lock: Box<LockInfo>,
    },
    /// The operation needs an exclusive lock.
    #[error("an exclusive lock is required for this operation")]
    NotExclusive,
    /// Storage failure.
    #[error("cannot access lock files")]
    Storage(#[from] StorageError),
}

/// Shared or exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockKind {
    /// Backups, restores: many may run together.
    Shared,
    /// Prune: nobody else may run.
    Exclusive,
}

/// Timing of locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockOptions {
    /// How often a held lock is refreshed (default 5 minutes).
    pub refresh_interval: Duration,
    /// Age of the last refresh after which a lock is stale (default 30 minutes).
    pub stale_after: Duration,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            refresh_interval: Duration::from_secs(5 * 60),
            stale_after: Duration::from_secs(30 * 60),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LockFile {
    exclusive: bool,
    hostname: String,
    username: String,
    pid: u32,
    time: DateTime<Utc>,
    refreshed: DateTime<Utc>,
    /// The first file of an append-only lock session (absent: this one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<ObjectId>,
    /// A release record: the session ended.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    released: bool,
}

impl LockFile {
    fn encode(&self, key: &MasterKey) -> Vec<u8> {
        key.encrypt(&serde_json::to_vec(self).unwrap_or_default())
    }
}

/// A lock as found in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockInfo {
    /// Lock file id.
    pub id: ObjectId,
    /// The lock session the file belongs to (its own id, but for the
    /// refreshes and release record of an append-only lock).
    pub session: ObjectId,
    /// True for an exclusive lock.
    pub exclusive: bool,
    /// Host of the holder.
    pub hostname: String,
    /// User of the holder.
    pub username: String,
    /// Process id of the holder.
    pub pid: u32,
    /// When the lock was taken.
    pub time: DateTime<Utc>,
    /// When it was last refreshed.
    pub refreshed: DateTime<Utc>,
    /// True when it may be removed safely.
    pub stale: bool,
}

impl LockInfo {
    fn describe(&self) -> String {
        format!(
            "{} lock {} of pid {} on {} (user {}) taken {}",
            if self.exclusive {
                "an exclusive"
            } else {
                "a shared"
            },
            self.id.short(),
            self.pid,
            self.hostname,
            self.username,
            self.time.format("%Y-%m-%d %H:%M:%S UTC"),
        )
    }
}

fn pid_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    if !proc.is_dir() {
        // No way to tell: assume it lives, and rely on the refresh age.
        return true;
    }
    proc.join(pid.to_string()).exists()
}

fn is_stale(lock: &LockFile, now: DateTime<Utc>, stale_after: Duration, this_host: &str) -> bool {
    let age = now.signed_duration_since(lock.refreshed);
    if age.to_std().is_ok_and(|a| a > stale_after) {
        return true;
    }
    lock.hostname == this_host && !pid_alive(lock.pid)
}

async fn read_locks(
    storage: &Storage,
    key: &MasterKey,
    stale_after: Duration,
) -> Result<Vec<LockInfo>, LockError> {
    let now = Utc::now();
    let host = hostname();
    let mut out = Vec::new();
    let mut released = std::collections::HashSet::new();
    for name in storage.list(LOCKS_DIR).await? {
        let Ok(id) = name.parse::<ObjectId>() else {
            continue;
        };
        let bytes = match storage.read(&format!("{LOCKS_DIR}/{name}")).await {
            Ok(b) => b,
            Err(StorageError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let parsed = key
            .decrypt(&bytes)
            .ok()
            .and_then(|plain| serde_json::from_slice::<LockFile>(&plain).ok());
        let Some(lock) = parsed else {
            tracing::warn!(lock = %id, "ignoring an unreadable lock file");
            continue;
        };
        let session = lock.session.unwrap_or(id);
        if lock.released {
            released.insert(session);
        }
        out.push(LockInfo {
            id,
            session,
            exclusive: lock.exclusive,
            stale: lock.released || is_stale(&lock, now, stale_after, &host),
            hostname: lock.hostname,
            username: lock.username,
            pid: lock.pid,
            time: lock.time,
            refreshed: lock.refreshed,
        });
    }
    for l in &mut out {
        l.stale |= released.contains(&l.session);
    }
    Ok(out)
}

/// Deletes the locks of processes on this host that have ended (a killed
/// backup or restore), so that they do not pile up until someone runs
/// `tresor unlock`. Locks that are only old are left: their holder may
/// live on another host with a wrong clock. Best effort: a lock that
/// cannot be deleted stays ignored as stale.
async fn remove_dead_locks(storage: &Storage, locks: &[LockInfo]) {
    let host = hostname();
    for l in locks {
        if l.hostname == host && !pid_alive(l.pid) {
            match storage
                .delete_unprotected(&format!("{LOCKS_DIR}/{}", l.id))
                .await
            {
                Ok(()) => tracing::info!(
                    lock = %l.id.short(),
                    pid = l.pid,
                    "removed the lock of a process that ended without releasing it"
                ),
                Err(e) => tracing::debug!(error = %e, "cannot remove a dead process's lock"),
            }
        }
    }
}

fn conflict(locks: &[LockInfo], kind: LockKind, own: Option<ObjectId>) -> Option<&LockInfo> {
    locks
        .iter()
        .find(|l| Some(l.id) != own && !l.stale && (kind == LockKind::Exclusive || l.exclusive))
}

/// A held lock. Refreshed in the background until [`LockGuard::release`].
///
/// Dropping the guard without `release` stops the refresh and deletes the
/// lock file in a background task (when a tokio runtime is still running).
#[derive(Debug)]
pub struct LockGuard {
    id: ObjectId,
    kind: LockKind,
    storage: Storage,
    refresher: Option<tokio::task::JoinHandle<()>>,
    /// What ends the lock on append-only storage: a release record.
    release_record: Option<Vec<u8>>,
}

/// Ends a lock: deletes its file, or on append-only storage writes its
/// session's release record.
async fn end_lock(
    storage: &Storage,
    id: ObjectId,
    release_record: Option<Vec<u8>>,
) -> Result<(), StorageError> {
    match release_record {
        Some(record) => {
            let path = format!("{LOCKS_DIR}/{}", ObjectId::random());
            storage.write_unprotected(&path, record, true).await
        }
        None => {
            storage
                .delete_unprotected(&format!("{LOCKS_DIR}/{id}"))
                .await
        }
    }
}

impl LockGuard {
    /// The lock file id.
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// Shared or exclusive.
    pub fn kind(&self) -> LockKind {
        self.kind
    }

    /// True for an exclusive lock.
    pub fn is_exclusive(&self) -> bool {
        self.kind == LockKind::Exclusive
    }

    /// Stops refreshing and deletes the lock file.
    ///
    /// # Errors
    /// Storage failures; the lock then goes stale after 30 minutes.
    pub async fn release(mut self) -> Result<(), LockError> {
        if let Some(task) = self.refresher.take() {
            task.abort();
            let _ = task.await;
        }
        end_lock(&self.storage, self.id, self.release_record.take()).await?;
        Ok(())
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let Some(task) = self.refresher.take() else {
            return;
        };
        task.abort();
        let storage = self.storage.clone();
        let id = self.id;
        let record = self.release_record.take();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = task.await;
                if let Err(e) = end_lock(&storage, id, record).await {
                    tracing::warn!(error = %e, lock = %id.short(), "cannot release the lock");
                }
            });
        }
    }
}

impl Repository {
    /// Takes a lock with the default timing.
    ///
    /// # Errors
    /// [`LockError::Locked`] naming the holder of a conflicting lock.
    pub async fn lock(&self, kind: LockKind) -> Result<LockGuard, LockError> {
        self.lock_with(kind, LockOptions::default()).await
    }

    /// Takes a lock: shared fails when a live exclusive lock exists; exclusive
    /// fails when any live lock exists. Stale locks are ignored (not removed).
    ///
    /// # Errors
    /// [`LockError::Locked`] naming the holder of a conflicting lock.
    pub async fn lock_with(
        &self,
        kind: LockKind,
        options: LockOptions,
    ) -> Result<LockGuard, LockError> {
        let storage = self.storage().clone();
        let key = self.key().clone();
        let locks = read_locks(&storage, &key, options.stale_after).await?;
        if let Some(l) = conflict(&locks, kind, None) {
            return Err(locked(l));
        }
        let append_only = storage.is_append_only();
        if !append_only {
            remove_dead_locks(&storage, &locks).await;
        }
        let now = Utc::now();
        let id = ObjectId::random();
        let mut file = LockFile {
            exclusive: kind == LockKind::Exclusive,
            hostname: hostname(),
            username: username(),
            pid: std::process::id(),
            time: now,
            refreshed: now,
            session: append_only.then_some(id),
            released: false,
        };
        let release_record = append_only.then(|| {
            LockFile {
                released: true,
                ..file.clone()
            }
            .encode(&key)
        });
        let path = format!("{LOCKS_DIR}/{id}");
        storage
            .write_unprotected(&path, file.encode(&key), true)
            .await?;
        // Look again: someone may have locked between our read and our write.
        let locks = read_locks(&storage, &key, options.stale_after).await?;
        if let Some(l) = conflict(&locks, kind, Some(id)) {
            let err = locked(l);
            end_lock(&storage, id, release_record).await?;
            return Err(err);
        }
        let refresh_storage = storage.clone();
        let refresher = tokio::spawn(async move {
            loop {
                tokio::time::sleep(options.refresh_interval).await;
                file.refreshed = Utc::now();
                // append-only: a new file of the session, as the old one
                // cannot be replaced
                let (path, only_new) = if append_only {
                    (format!("{LOCKS_DIR}/{}", ObjectId::random()), true)
                } else {
                    (path.clone(), false)
                };
                if let Err(e) = refresh_storage
                    .write_unprotected(&path, file.encode(&key), only_new)
                    .await
                {
                    tracing::warn!(error = %e, "cannot refresh repository lock");
                }
            }
        });
        Ok(LockGuard {
            id,
            kind,
            storage,
            refresher: Some(refresher),
            release_record,
        })
    }

    /// Every lock in the repository, with staleness judged by the default
    /// 30-minute rule and the process check.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn list_locks(&self) -> Result<Vec<LockInfo>, LockError> {
        read_locks(
            self.storage(),
            self.key(),
            LockOptions::default().stale_after,
        )
        .await
    }

    /// Removes stale locks; returns how many.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn remove_stale_locks(&self) -> Result<usize, LockError> {
        let mut n = 0;
        for l in self.list_locks().await? {
            if l.stale {
                self.storage()
                    .delete_unprotected(&format!("{LOCKS_DIR}/{}", l.id))
                    .await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Removes every lock, live or not (for `tresor unlock --remove-all`);
    /// returns how many files were removed.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn remove_all_locks(&self) -> Result<usize, LockError> {
        let names = self.storage().list(LOCKS_DIR).await?;
        for name in &names {
            self.storage()
                .delete_unprotected(&format!("{LOCKS_DIR}/{name}"))
                .await?;
        }
        Ok(names.len())
    }
}

/// A lock file that is already released (stale from the start): what
/// `check` writes to probe whether append-only credentials can delete,
/// and what `prune` or `unlock` removes later.
pub(crate) fn released_record(key: &MasterKey) -> Vec<u8> {
    let now = Utc::now();
    LockFile {
        exclusive: false,
        hostname: hostname(),
        username: username(),
        pid: std::process::id(),
        time: now,
        refreshed: now,
        session: None,
        released: true,
    }
    .encode(key)
}

fn locked(l: &LockInfo) -> LockError {
    LockError::Locked {
        holder: l.describe(),
        lock: Box::new(l.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InitOptions, KdfParams};

    async fn repo() -> Repository {
        let opts = InitOptions {
            kdf: KdfParams::insecure_for_tests(),
            ..InitOptions::default()
        };
        Repository::init(Storage::memory(), &"pw".into(), opts)
            .await
            .unwrap()
    }

    async fn plant(repo: &Repository, lock: &LockFile) -> ObjectId {
        let id = ObjectId::random();
        repo.storage()
            .write(&format!("{LOCKS_DIR}/{id}"), lock.encode(repo.key()))
            .await
            .unwrap();
        id
    }

    fn foreign(exclusive: bool, age: chrono::Duration) -> LockFile {
        let t = Utc::now() - age;
        LockFile {
            exclusive,
            hostname: "elsewhere.example".into(),
            username: "bob".into(),
            pid: 42,
            time: t,
            refreshed: t,
            session: None,
            released: false,
        }
    }

    #[tokio::test]
    async fn shared_locks_coexist_exclusive_conflicts() {
        let repo = repo().await;
        let a = repo.lock(LockKind::Shared).await.unwrap();
        let b = repo.lock(LockKind::Shared).await.unwrap();
        let err = repo.lock(LockKind::Exclusive).await.unwrap_err();
        assert!(err.to_string().contains("tresor unlock"), "{err}");
        a.release().await.unwrap();
        b.release().await.unwrap();
        let x = repo.lock(LockKind::Exclusive).await.unwrap();
        assert!(x.is_exclusive());
        assert!(repo.lock(LockKind::Shared).await.is_err());
        x.release().await.unwrap();
        assert!(repo.list_locks().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn old_locks_are_stale() {
        let repo = repo().await;
        plant(&repo, &foreign(true, chrono::Duration::minutes(31))).await;
        let locks = repo.list_locks().await.unwrap();
        assert!(locks[0].stale);
        let g = repo.lock(LockKind::Exclusive).await.unwrap();
        g.release().await.unwrap();
        assert_eq!(repo.remove_stale_locks().await.unwrap(), 1);
        assert!(repo.list_locks().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn fresh_foreign_lock_conflicts_and_names_holder() {
        let repo = repo().await;
        plant(&repo, &foreign(true, chrono::Duration::minutes(1))).await;
        let err = repo.lock(LockKind::Shared).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("elsewhere.example") && msg.contains("pid 42"),
            "{msg}"
        );
        assert_eq!(repo.remove_stale_locks().await.unwrap(), 0);
        assert_eq!(repo.remove_all_locks().await.unwrap(), 1);
        repo.lock(LockKind::Shared)
            .await
            .unwrap()
            .release()
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn dead_process_on_this_host_is_stale() {
        let repo = repo().await;
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let mut lock = foreign(true, chrono::Duration::seconds(1));
        lock.hostname = hostname();
        lock.pid = pid;
        plant(&repo, &lock).await;
        assert!(repo.list_locks().await.unwrap()[0].stale);
        // And a live one (ourselves) is not.
        lock.pid = std::process::id();
        let live = plant(&repo, &lock).await;
        let locks = repo.list_locks().await.unwrap();
        assert!(!locks.iter().find(|l| l.id == live).unwrap().stale);
    }

    /// A killed restore or backup on this host leaves its lock; the next
    /// lock taken removes it, and leaves the merely old foreign one.
    #[tokio::test]
    async fn the_next_lock_removes_a_dead_process_lock() {
        let repo = repo().await;
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let mut dead = foreign(false, chrono::Duration::seconds(5));
        dead.hostname = hostname();
        dead.pid = pid;
        let dead = plant(&repo, &dead).await;
        let old = plant(&repo, &foreign(false, chrono::Duration::minutes(40))).await;
        let g = repo.lock(LockKind::Shared).await.unwrap();
        let ids: Vec<_> = repo
            .list_locks()
            .await
            .unwrap()
            .iter()
            .map(|l| l.id)
            .collect();
        assert!(!ids.contains(&dead), "{ids:?}");
        assert!(ids.contains(&old), "{ids:?}");
        g.release().await.unwrap();
    }

    /// Append-only storage: the lock, each refresh and the release are
    /// new files; the release makes the whole session stale.
    #[tokio::test(start_paused = true)]
    async fn append_only_locks_are_sessions_of_new_files() {
        let storage = Storage::open(
            "memory:",
            &crate::StorageOptions {
                append_only: true,
                ..crate::StorageOptions::default()
            },
        )
        .unwrap();
        let opts = InitOptions {
            kdf: KdfParams::insecure_for_tests(),
            ..InitOptions::default()
        };
        let repo = Repository::init(storage, &"pw".into(), opts).await.unwrap();
        let lock_opts = LockOptions {
            refresh_interval: Duration::from_secs(1),
            ..LockOptions::default()
        };
        let g = repo
            .lock_with(LockKind::Exclusive, lock_opts)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let locks = repo.list_locks().await.unwrap();
        assert_eq!(locks.len(), 3, "{locks:?}");
        assert!(locks.iter().all(|l| !l.stale && l.session == g.id()));
        assert!(repo.lock(LockKind::Shared).await.is_err());
        g.release().await.unwrap();
        let locks = repo.list_locks().await.unwrap();
        assert_eq!(locks.len(), 4, "{locks:?}");
        assert!(locks.iter().all(|l| l.stale), "{locks:?}");
        repo.lock(LockKind::Shared)
            .await
            .unwrap()
            .release()
            .await
            .unwrap();
        assert!(matches!(
            repo.remove_stale_locks().await,
            Err(LockError::Storage(StorageError::AppendOnly { .. }))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn guard_refreshes_and_drop_removes() {
        let repo = repo().await;
        let opts = LockOptions {
            refresh_interval: Duration::from_secs(1),
            ..LockOptions::default()
        };
        let g = repo.lock_with(LockKind::Shared, opts).await.unwrap();
        let before = repo.list_locks().await.unwrap()[0].refreshed;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let after = repo.list_locks().await.unwrap()[0].refreshed;
        assert!(after >= before);
        drop(g);
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert!(repo.list_locks().await.unwrap().is_empty());
    }
}
