//! Shared fixtures.

use tempfile::TempDir;
use tresor_repo::{InitOptions, KdfParams, Password, Repository, Storage};

/// A storage backend under test. Keeps its temporary directory alive.
pub struct Backend {
    pub storage: Storage,
    dir: Option<TempDir>,
}

impl Backend {
    pub fn memory() -> Self {
        Backend {
            storage: Storage::memory(),
            dir: None,
        }
    }

    pub fn local() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Backend {
            storage: Storage::local(dir.path().join("repo")).unwrap(),
            dir: Some(dir),
        }
    }

    /// A second, independent handle on the same location.
    pub fn reopen(&self) -> Storage {
        match &self.dir {
            Some(d) => Storage::local(d.path().join("repo")).unwrap(),
            None => self.storage.clone(),
        }
    }
}

pub fn password() -> Password {
    Password::from("correct horse battery staple")
}

pub fn options() -> InitOptions {
    InitOptions {
        kdf: KdfParams::insecure_for_tests(),
        ..InitOptions::default()
    }
}

pub async fn init(b: &Backend) -> Repository {
    Repository::init(b.storage.clone(), &password(), options())
        .await
        .unwrap()
}

/// Incompressible distinct content.
pub fn blob(i: u32, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(&i.to_le_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}
