//! PLACEHOLDER (replaced by the real copy module at merge).
#![allow(missing_docs)]
use chrono::{DateTime, Utc};
use serde::Serialize;
use tresor_repo::Repository;

use crate::error::{OpsError, Result};
use crate::progress::Progress;
use crate::snapshot::Snapshot;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopySelection {
    pub snapshots: Vec<String>,
    pub source: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CopiedSnapshot {
    pub id: String,
    pub source: String,
    pub time: DateTime<Utc>,
    pub blobs_sent: u64,
    pub bytes_sent: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    pub copied: Vec<CopiedSnapshot>,
    pub skipped: Vec<String>,
    pub blobs_sent: u64,
    pub bytes_sent: u64,
    pub blobs_present: u64,
    pub blobs_read: u64,
    pub shared_ids: bool,
}

pub async fn pending_copies(
    _from: &Repository,
    _to: &Repository,
    _select: &CopySelection,
) -> Result<Vec<Snapshot>> {
    Err(OpsError::Unsupported("placeholder".into()))
}

pub async fn copy_snapshots(
    _from: &Repository,
    _to: &Repository,
    _select: &CopySelection,
    _progress: &dyn Progress,
) -> Result<CopyReport> {
    Err(OpsError::Unsupported("placeholder".into()))
}
