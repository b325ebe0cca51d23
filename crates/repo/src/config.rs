//! The repository config object, stored encrypted at `config`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::crypto::{CryptoError, MasterKey, ObjectId};
use crate::storage::{MAX_OBJECT_LOCK_DAYS, ObjectLock};

/// Path of the config object.
pub(crate) const CONFIG_PATH: &str = "config";

/// The repository format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Errors of the config module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config was written by a newer tresor.
    #[error(
        "repository format version {found} is newer than this tresor supports ({FORMAT_VERSION}) (try: upgrade tresor)"
    )]
    TooNew {
        /// Version found in the repository.
        found: u32,
    },
    /// The config does not decrypt.
    #[error("config object cannot be decrypted")]
    Crypto(#[source] CryptoError),
    /// The config decrypts but is not valid.
    #[error("config object is malformed")]
    Malformed(#[source] serde_json::Error),
    /// A parameter is out of range.
    #[error("invalid repository parameters: {0}")]
    Invalid(String),
}

/// Content-defined chunking parameters, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    /// Smallest chunk (default 64 KiB).
    pub min_size: u32,
    /// Target average chunk (default 512 KiB).
    pub avg_size: u32,
    /// Largest chunk (default 2 MiB).
    pub max_size: u32,
}

impl Default for ChunkerParams {
    fn default() -> Self {
        ChunkerParams {
            min_size: 64 * 1024,
            avg_size: 512 * 1024,
            max_size: 2 * 1024 * 1024,
        }
    }
}

/// The repository config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Format version (1).
    pub version: u32,
    /// Random repository id.
    pub id: ObjectId,
    /// Chunker parameters shared by every writer, so equal data cuts equally.
    pub chunker: ChunkerParams,
    /// Zstd level for blobs (default 3).
    pub zstd_level: i32,
    /// When the repository was created.
    pub created: DateTime<Utc>,
    /// S3 Object Lock retention every object is written with (absent:
    /// none). Read by every writer, so backups keep protecting whatever
    /// credentials they use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLock>,
}

impl Config {
    /// A new config with a random id.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when chunk sizes are not ordered or zero, or
    /// the zstd level is outside 1..=22.
    pub fn new(chunker: ChunkerParams, zstd_level: i32) -> Result<Self, ConfigError> {
        if chunker.min_size == 0
            || chunker.min_size > chunker.avg_size
            || chunker.avg_size > chunker.max_size
        {
            return Err(ConfigError::Invalid(
                "chunk sizes must satisfy 0 < min <= avg <= max".into(),
            ));
        }
        if !(1..=22).contains(&zstd_level) {
            return Err(ConfigError::Invalid(format!(
                "zstd level {zstd_level} is outside 1..=22"
            )));
        }
        Ok(Config {
            version: FORMAT_VERSION,
            id: ObjectId::random(),
            chunker,
            zstd_level,
            created: Utc::now(),
            object_lock: None,
        })
    }

    /// Sets the Object Lock retention of a new repository.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for 0 days or more than
    /// [`MAX_OBJECT_LOCK_DAYS`].
    pub fn with_object_lock(mut self, lock: Option<ObjectLock>) -> Result<Self, ConfigError> {
        if let Some(l) = lock
            && !(1..=MAX_OBJECT_LOCK_DAYS).contains(&l.days)
        {
            return Err(ConfigError::Invalid(format!(
                "object lock of {} days is outside 1..={MAX_OBJECT_LOCK_DAYS}",
                l.days
            )));
        }
        self.object_lock = lock;
        Ok(self)
    }

    /// Encrypts the config as stored.
    pub(crate) fn encode(&self, key: &MasterKey) -> Vec<u8> {
        key.encrypt(&serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decrypts and validates a stored config.
    pub(crate) fn decode(key: &MasterKey, bytes: &[u8]) -> Result<Self, ConfigError> {
        let plain = key.decrypt(bytes).map_err(ConfigError::Crypto)?;
        // Look at the version first, so a newer layout gives "upgrade tresor"
        // rather than a parse error.
        let value: serde_json::Value =
            serde_json::from_slice(&plain).map_err(ConfigError::Malformed)?;
        let version = value
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if version > u64::from(FORMAT_VERSION) {
            return Err(ConfigError::TooNew {
                found: u32::try_from(version).unwrap_or(u32::MAX),
            });
        }
        serde_json::from_value(value).map_err(ConfigError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let key = MasterKey::generate();
        let c = Config::new(ChunkerParams::default(), 3).unwrap();
        assert_eq!(Config::decode(&key, &c.encode(&key)).unwrap(), c);
        assert_eq!(c.chunker.avg_size, 512 * 1024);
    }

    #[test]
    fn newer_version_asks_for_upgrade() {
        let key = MasterKey::generate();
        let json = br#"{"version":2,"something":"new"}"#;
        let err = Config::decode(&key, &key.encrypt(json)).unwrap_err();
        assert!(matches!(err, ConfigError::TooNew { found: 2 }));
        assert!(err.to_string().contains("upgrade tresor"));
    }

    #[test]
    fn invalid_params() {
        let bad = ChunkerParams {
            min_size: 10,
            avg_size: 5,
            max_size: 20,
        };
        assert!(Config::new(bad, 3).is_err());
        assert!(Config::new(ChunkerParams::default(), 0).is_err());
        let key = MasterKey::generate();
        assert!(Config::decode(&key, b"garbage").is_err());
        assert!(matches!(
            Config::decode(&key, &key.encrypt(b"[]")),
            Err(ConfigError::Malformed(_))
        ));
    }
}
