//! Key files: the master key wrapped under a password.
//!
//! A key file is plain JSON (it must be readable before the master key is
//! known). The master key is encrypted with the repository envelope under a
//! 32-byte key derived from the password with Argon2id.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, CryptoError, MasterKey};

/// Directory of key files.
pub(crate) const KEYS_DIR: &str = "keys";
const KDF_NAME: &str = "argon2id";
const KEY_FILE_VERSION: u32 = 1;

/// Errors of the key module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The password does not open this key file.
    #[error("wrong password for this key (try: check TRESOR_PASSWORD or --password-file)")]
    WrongPassword,
    /// The key file is not valid JSON of the expected shape.
    #[error("key file is malformed")]
    Malformed(#[source] serde_json::Error),
    /// The key file names a KDF this version does not know.
    #[error("key file uses unknown kdf {0:?} (try: upgrade tresor)")]
    UnknownKdf(String),
    /// A field holds an impossible value.
    #[error("key file is malformed: {0}")]
    Invalid(String),
    /// Argon2 refused the parameters.
    #[error("argon2 key derivation failed: {0}")]
    Kdf(String),
}

/// A password, redacted in `Debug` output.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Password(password.into())
    }

    /// The password text. Keep it out of logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Password(s.to_owned())
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Password(s)
    }
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB (default 65536 = 64 MiB).
    pub m_cost_kib: u32,
    /// Iterations (default 3).
    pub t_cost: u32,
    /// Parallelism (default 1).
    pub p_cost: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams {
            m_cost_kib: 64 * 1024,
            t_cost: 3,
            p_cost: 1,
        }
    }
}

/// The most a key file may ask of the machine that opens it: 4 GiB of
/// memory, 64 passes, 64 lanes. A damaged or hostile key file beyond these
/// is refused before any work, instead of exhausting memory or running for
/// hours.
pub const MAX_KDF: KdfParams = KdfParams {
    m_cost_kib: 4 * 1024 * 1024,
    t_cost: 64,
    p_cost: 64,
};

impl KdfParams {
    /// Whether the parameters are within [`MAX_KDF`] (and above zero).
    ///
    /// # Errors
    /// [`KeyError::Invalid`] naming the parameter out of bounds.
    pub fn check_bounds(&self) -> Result<(), KeyError> {
        for (name, value, max) in [
            ("memory (KiB)", self.m_cost_kib, MAX_KDF.m_cost_kib),
            ("iterations", self.t_cost, MAX_KDF.t_cost),
            ("parallelism", self.p_cost, MAX_KDF.p_cost),
        ] {
            if value == 0 || value > max {
                return Err(KeyError::Invalid(format!(
                    "argon2 {name} {value} is outside 1..={max} (a damaged or foreign key file)"
                )));
            }
        }
        Ok(())
    }

    /// Minimal parameters for tests: fast, and worthless against an attacker.
    pub fn insecure_for_tests() -> Self {
        KdfParams {
            m_cost_kib: 8,
            t_cost: 1,
            p_cost: 1,
        }
    }

    fn derive(&self, password: &Password, salt: &[u8]) -> Result<[u8; 32], KeyError> {
        let params = argon2::Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32))
            .map_err(|e| KeyError::Kdf(e.to_string()))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = [0u8; 32];
        argon
            .hash_password_into(password.expose().as_bytes(), salt, &mut out)
            .map_err(|e| KeyError::Kdf(e.to_string()))?;
        Ok(out)
    }
}

/// The JSON content of a file in `keys/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyFile {
    /// Key file layout version (1).
    pub version: u32,
    /// Key derivation function, always `argon2id` in version 1.
    pub kdf: String,
    /// Argon2id memory cost in KiB.
    pub m_cost_kib: u32,
    /// Argon2id iterations.
    pub t_cost: u32,
    /// Argon2id parallelism.
    pub p_cost: u32,
    /// Random 32-byte salt, hex.
    pub salt: String,
    /// When the key was added.
    pub created: DateTime<Utc>,
    /// Host that added the key.
    pub hostname: String,
    /// User that added the key.
    pub username: String,
    /// The 64-byte master key sealed under the derived key, hex.
    pub data: String,
}

impl KeyFile {
    /// Wraps `master` under `password`. Slow by design (Argon2id): call it from
    /// a blocking context.
    ///
    /// # Errors
    /// [`KeyError::Kdf`] when Argon2 refuses the parameters.
    pub fn create(
        password: &Password,
        master: &MasterKey,
        params: KdfParams,
    ) -> Result<Self, KeyError> {
        params.check_bounds()?;
        let mut salt = [0u8; 32];
        rand::fill(&mut salt[..]);
        let derived = params.derive(password, &salt)?;
        let sealed = crypto::seal(&derived, &master.to_bytes())
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        Ok(KeyFile {
            version: KEY_FILE_VERSION,
            kdf: KDF_NAME.into(),
            m_cost_kib: params.m_cost_kib,
            t_cost: params.t_cost,
            p_cost: params.p_cost,
            salt: hex::encode(salt),
            created: Utc::now(),
            hostname: hostname(),
            username: username(),
            data: hex::encode(sealed),
        })
    }

    /// Unwraps the master key. Slow by design (Argon2id).
    ///
    /// # Errors
    /// [`KeyError::WrongPassword`] when the password does not match.
    pub fn open(&self, password: &Password) -> Result<MasterKey, KeyError> {
        if self.kdf != KDF_NAME {
            return Err(KeyError::UnknownKdf(self.kdf.clone()));
        }
        self.params().check_bounds()?;
        let salt =
            hex::decode(&self.salt).map_err(|_| KeyError::Invalid("salt is not hex".into()))?;
        if !(16..=64).contains(&salt.len()) {
            return Err(KeyError::Invalid(format!(
                "salt of {} bytes (expected 16 to 64)",
                salt.len()
            )));
        }
        let data =
            hex::decode(&self.data).map_err(|_| KeyError::Invalid("data is not hex".into()))?;
        let derived = self.params().derive(password, &salt)?;
        let plain = crypto::open(&derived, &data).map_err(|e| match e {
            CryptoError::Damaged => KeyError::WrongPassword,
            other => KeyError::Invalid(other.to_string()),
        })?;
        MasterKey::from_bytes(&plain).map_err(|e| KeyError::Invalid(e.to_string()))
    }

    /// The Argon2id parameters recorded in the file.
    pub fn params(&self) -> KdfParams {
        KdfParams {
            m_cost_kib: self.m_cost_kib,
            t_cost: self.t_cost,
            p_cost: self.p_cost,
        }
    }

    /// Serialises to the stored JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising a struct of strings and integers cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Parses stored JSON bytes.
    ///
    /// # Errors
    /// [`KeyError::Malformed`] for invalid JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, KeyError> {
        serde_json::from_slice(bytes).map_err(KeyError::Malformed)
    }
}

/// What `list_keys` reports about one key file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// Id of the key file (its name in `keys/`).
    pub id: crate::ObjectId,
    /// When the key was added.
    pub created: DateTime<Utc>,
    /// Host that added it.
    pub hostname: String,
    /// User that added it.
    pub username: String,
    /// True for the key that opened this repository handle.
    pub current: bool,
}

pub(crate) fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

pub(crate) fn username() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_open_roundtrip() {
        let master = MasterKey::generate();
        let pw = Password::from("correct horse");
        let kf = KeyFile::create(&pw, &master, KdfParams::insecure_for_tests()).unwrap();
        let json = kf.to_json();
        let parsed = KeyFile::from_json(&json).unwrap();
        let opened = parsed.open(&pw).unwrap();
        assert_eq!(opened.blob_id(b"x"), master.blob_id(b"x"));
        assert!(matches!(
            parsed.open(&Password::from("wrong")),
            Err(KeyError::WrongPassword)
        ));
    }

    #[test]
    fn secrets_do_not_leak() {
        let master = MasterKey::generate();
        let pw = Password::from("hunter2");
        assert!(!format!("{pw:?}").contains("hunter2"));
        let kf = KeyFile::create(&pw, &master, KdfParams::insecure_for_tests()).unwrap();
        let json = String::from_utf8(kf.to_json()).unwrap();
        assert!(!json.contains("hunter2"));
        assert!(!json.contains(&hex::encode(master.to_bytes())));
    }

    #[test]
    fn default_params() {
        let p = KdfParams::default();
        assert_eq!((p.m_cost_kib, p.t_cost, p.p_cost), (65536, 3, 1));
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(KeyFile::from_json(b"{").is_err());
        let master = MasterKey::generate();
        let pw = Password::from("p");
        let mut kf = KeyFile::create(&pw, &master, KdfParams::insecure_for_tests()).unwrap();
        kf.kdf = "scrypt".into();
        assert!(matches!(kf.open(&pw), Err(KeyError::UnknownKdf(_))));
        kf.kdf = KDF_NAME.into();
        kf.salt = "xyz".into();
        assert!(matches!(kf.open(&pw), Err(KeyError::Invalid(_))));
    }

    /// A key file asking for 4 TiB of memory or a million passes is refused
    /// at once, not obeyed.
    #[test]
    fn hostile_costs_are_refused_before_any_work() {
        let master = MasterKey::generate();
        let pw = Password::from("p");
        let good = KeyFile::create(&pw, &master, KdfParams::insecure_for_tests()).unwrap();
        for (m, t, p) in [
            (u32::MAX, 1, 1),
            (8, 1_000_000, 1),
            (8, 1, 10_000),
            (0, 1, 1),
        ] {
            let mut kf = good.clone();
            (kf.m_cost_kib, kf.t_cost, kf.p_cost) = (m, t, p);
            // refused by the bounds, not by running Argon2 with them
            let err = kf.open(&pw).expect_err("refused");
            assert!(matches!(err, KeyError::Invalid(_)), "{err}");
            assert!(err.to_string().contains("outside"), "{err}");
        }
        let mut short = good;
        short.salt = "00".into();
        assert!(matches!(short.open(&pw), Err(KeyError::Invalid(_))));
        assert!(KeyFile::create(&pw, &master, MAX_KDF_PLUS_ONE).is_err());
    }

    const MAX_KDF_PLUS_ONE: KdfParams = KdfParams {
        m_cost_kib: MAX_KDF.m_cost_kib + 1,
        t_cost: 1,
        p_cost: 1,
    };
}
