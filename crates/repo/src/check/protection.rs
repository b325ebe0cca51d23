//! Whether the repository is protected the way it is configured: Object
//! Lock on the bucket and on every object, and credentials that really
//! cannot delete when opened append-only.

use super::CheckReport;
use crate::config::CONFIG_PATH;
use crate::crypto::ObjectId;
use crate::index::INDEX_DIR;
use crate::key::KEYS_DIR;
use crate::lock::{LOCKS_DIR, released_record};
use crate::pack::DATA_DIR;
use crate::repository::{ObjectKind, Repository};
use crate::storage::StorageError;

/// Adds what is missing of the configured protection to `report.errors`
/// (prefixed `protection:`).
pub(super) async fn check_protection(repo: &Repository, report: &mut CheckReport) {
    if let Some(lock) = repo.config().object_lock {
        check_object_lock(repo, lock.days, report).await;
    }
    if repo.storage().is_append_only() {
        probe_append_only(repo, report).await;
    }
}

async fn check_object_lock(repo: &Repository, days: u32, report: &mut CheckReport) {
    let storage = repo.storage();
    let location = storage.location();
    if !storage.supports_object_lock() {
        report.errors.push(format!(
            "protection: the repository asks for {days} days of object lock, and {location} cannot hold any (only S3 can): nothing here is protected"
        ));
        return;
    }
    match storage.bucket_object_lock().await {
        Ok(Some(true)) => {}
        Ok(_) => {
            report.errors.push(format!(
                "protection: the repository asks for {days} days of object lock, and the bucket of {location} has no object lock configuration: objects can be deleted (try: copy the repository to a bucket created with object lock enabled)"
            ));
            return;
        }
        Err(e) => {
            report.errors.push(format!(
                "protection: cannot read the object lock setting of the bucket of {location}: {e}"
            ));
            return;
        }
    }
    let mut paths = vec![CONFIG_PATH.to_owned()];
    for dir in [KEYS_DIR, INDEX_DIR, ObjectKind::Snapshot.dir()] {
        match storage.list(dir).await {
            Ok(names) => paths.extend(names.into_iter().map(|n| format!("{dir}/{n}"))),
            Err(e) => report
                .errors
                .push(format!("protection: cannot list {dir}/: {e}")),
        }
    }
    match storage.list_recursive(DATA_DIR).await {
        Ok(names) => paths.extend(names.into_iter().map(|n| format!("{DATA_DIR}/{n}"))),
        Err(e) => report
            .errors
            .push(format!("protection: cannot list {DATA_DIR}/: {e}")),
    }
    let mut unprotected = Vec::new();
    for path in paths {
        match storage.retention(&path).await {
            Ok(Some(r)) if r.until.is_some() => {}
            Ok(_) => unprotected.push(path),
            Err(StorageError::NotFound { .. }) => {}
            Err(e) => report.errors.push(format!(
                "protection: cannot read the retention of {path}: {e}"
            )),
        }
    }
    if let Some(first) = unprotected.first() {
        report.errors.push(format!(
            "protection: {} object(s) have no object lock retention although the repository asks for {days} days, e.g. {first} (written by a tresor without object lock, or copied in)",
            unprotected.len()
        ));
    }
}

/// Writes a harmless probe (a lock file that is already released) and
/// asks the server to delete it: append-only credentials must be refused.
async fn probe_append_only(repo: &Repository, report: &mut CheckReport) {
    let storage = repo.storage();
    let path = format!("{LOCKS_DIR}/{}", ObjectId::random());
    if let Err(e) = storage
        .write_unprotected(&path, released_record(repo.key()), true)
        .await
    {
        report.errors.push(format!(
            "protection: cannot write the append-only probe {path}: {e}"
        ));
        return;
    }
    match storage.delete_raw(&path).await {
        Ok(()) => report.errors.push(format!(
            "protection: the repository is opened append-only, but these credentials can delete: the probe {path} was deleted (try: give the backup credentials that cannot delete, see docs/storage.md)"
        )),
        Err(e) if e.is_denied() => report.warnings.push(format!(
            "append-only verified: the server refused to delete the probe {path}, a released lock file that prune or unlock with the full credentials removes"
        )),
        Err(e) => report.errors.push(format!(
            "protection: the append-only probe {path} could not be deleted, for another reason than a refusal: {e}"
        )),
    }
}
