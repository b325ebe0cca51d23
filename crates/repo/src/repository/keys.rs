//! Key files: one per password, each wrapping the master key.

use futures::StreamExt;

use super::{RepoError, Repository};
use crate::config::{CONFIG_PATH, Config};
use crate::crypto::{MasterKey, ObjectId};
use crate::key::{KEYS_DIR, KdfParams, KeyError, KeyFile, KeyInfo, Password};
use crate::storage::{Storage, StorageError};

impl Repository {
    /// Adds a key file for another password; returns its id.
    ///
    /// # Errors
    /// Storage failures, invalid Argon2 parameters.
    pub async fn add_key(
        &self,
        password: &Password,
        kdf: KdfParams,
    ) -> Result<ObjectId, RepoError> {
        write_key(&self.storage, password, &self.key, kdf).await
    }

    /// Every key file, with the one in use marked.
    ///
    /// # Errors
    /// Storage failures and malformed key files.
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>, RepoError> {
        let mut out = Vec::new();
        for name in self.storage.list(KEYS_DIR).await? {
            let Ok(id) = name.parse::<ObjectId>() else {
                continue;
            };
            let kf = KeyFile::from_json(&self.storage.read(&format!("{KEYS_DIR}/{name}")).await?)?;
            out.push(KeyInfo {
                id,
                created: kf.created,
                hostname: kf.hostname,
                username: kf.username,
                current: id == self.key_id,
            });
        }
        out.sort_by_key(|k| k.created);
        Ok(out)
    }

    /// Removes a key file.
    ///
    /// # Errors
    /// [`RepoError::KeyInUse`] for the key of this handle,
    /// [`RepoError::LastKey`] for the only key, [`RepoError::KeyNotFound`].
    pub async fn remove_key(&self, id: &ObjectId) -> Result<(), RepoError> {
        self.refuse_if_append_only("key remove")?;
        let keys = self.list_keys().await?;
        if !keys.iter().any(|k| k.id == *id) {
            return Err(RepoError::KeyNotFound { id: *id });
        }
        if *id == self.key_id {
            return Err(RepoError::KeyInUse { id: *id });
        }
        if keys.len() <= 1 {
            return Err(RepoError::LastKey);
        }
        self.storage.delete(&format!("{KEYS_DIR}/{id}")).await?;
        Ok(())
    }
}

pub(super) async fn write_key(
    storage: &Storage,
    password: &Password,
    key: &MasterKey,
    kdf: KdfParams,
) -> Result<ObjectId, RepoError> {
    let password = password.clone();
    let master = key.clone();
    let kf =
        tokio::task::spawn_blocking(move || KeyFile::create(&password, &master, kdf)).await??;
    let json = kf.to_json();
    let id = ObjectId::of(&json);
    storage.write(&format!("{KEYS_DIR}/{id}"), json).await?;
    Ok(id)
}

/// The master key (the first key file `password` opens) and the config.
pub(super) async fn open_key_and_config(
    storage: &Storage,
    password: &Password,
) -> Result<(MasterKey, ObjectId, Config), RepoError> {
    let config_bytes = match storage.read(CONFIG_PATH).await {
        Ok(b) => b,
        Err(StorageError::NotFound { .. }) => {
            return Err(RepoError::NotARepository {
                location: storage.location().to_owned(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let (key, key_id) = find_key(storage, password).await?;
    let config = Config::decode(&key, &config_bytes)?;
    Ok((key, key_id, config))
}

async fn find_key(
    storage: &Storage,
    password: &Password,
) -> Result<(MasterKey, ObjectId), RepoError> {
    let names = storage.list(KEYS_DIR).await?;
    let mut files = Vec::new();
    for name in names {
        let Ok(id) = name.parse::<ObjectId>() else {
            continue;
        };
        match storage.read(&format!("{KEYS_DIR}/{name}")).await {
            // a key file is named by the hash of its bytes: one renamed or
            // copied over another is not what it claims to be
            Ok(bytes) if ObjectId::of(&bytes) != id => tracing::warn!(
                key = %id,
                "skipping a key file whose name does not match its content (tresor check names it)"
            ),
            Ok(bytes) => match KeyFile::from_json(&bytes) {
                Ok(kf) => files.push((id, kf)),
                Err(e) => tracing::warn!(key = %id, error = %e, "skipping malformed key file"),
            },
            Err(StorageError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // the cheapest derivations first: a planted key file with the highest
    // cost the bounds allow is tried only after the usual ones
    files.sort_by_key(|(_, kf)| (u64::from(kf.m_cost_kib) * u64::from(kf.t_cost), kf.created));
    // Derivations run on the blocking pool, two at a time (Argon2 is memory hungry).
    let mut attempts = futures::stream::iter(files.into_iter().map(|(id, kf)| {
        let password = password.clone();
        async move {
            let r = tokio::task::spawn_blocking(move || kf.open(&password)).await;
            (id, r)
        }
    }))
    .buffered(2);
    while let Some((id, r)) = attempts.next().await {
        match r? {
            Ok(key) => return Ok((key, id)),
            Err(KeyError::WrongPassword) => {}
            Err(e) => tracing::warn!(key = %id, error = %e, "skipping unusable key file"),
        }
    }
    Err(RepoError::WrongPassword)
}
