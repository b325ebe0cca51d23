//! Uploaded archives waiting to be imported, kept as temporary files until
//! they are imported or the server stops.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::ApiError;

/// An uploaded archive.
pub struct Upload {
    /// Who uploaded it.
    pub user_id: i64,
    /// The temporary file (deleted on drop).
    pub file: tempfile::TempPath,
    /// What the validation found.
    pub info: serde_json::Value,
}

/// The uploads of this server run, by id.
#[derive(Default)]
pub struct Uploads {
    map: Mutex<HashMap<String, Upload>>,
}

impl Uploads {
    fn map(&self) -> MutexGuard<'_, HashMap<String, Upload>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps an upload under `id`.
    pub fn insert(&self, id: String, upload: Upload) {
        self.map().insert(id, upload);
    }

    /// Who uploaded `id`, if it is still there.
    pub fn owner(&self, id: &str) -> Option<i64> {
        self.map().get(id).map(|u| u.user_id)
    }

    /// What the validation of `id` found.
    pub fn info(&self, id: &str) -> Option<serde_json::Value> {
        self.map().get(id).map(|u| u.info.clone())
    }

    /// The file of an upload.
    ///
    /// # Errors
    /// 404 for an unknown or used upload.
    pub fn path(&self, id: &str) -> Result<PathBuf, ApiError> {
        self.map()
            .get(id)
            .map(|u| u.file.to_path_buf())
            .ok_or_else(|| {
                ApiError::not_found(format!("no upload {id:?}"))
                    .hint("uploads are kept until imported or until the server restarts")
            })
    }

    /// Deletes an upload's file.
    pub fn remove(&self, id: &str) {
        self.map().remove(id);
    }
}
