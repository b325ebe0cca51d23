//! Shared fixtures.

use tempfile::TempDir;
use tresor_repo::{InitOptions, KdfParams, Password, Repository, Storage, StorageOptions};
use tresor_testing::servers::{ServerKind, StorageServer};

/// A storage backend under test. Keeps its temporary directory or its
/// server alive.
pub struct Backend {
    pub storage: Storage,
    dir: Option<TempDir>,
    remote: Option<(String, StorageOptions, StorageServer)>,
}

impl Backend {
    pub fn memory() -> Self {
        Backend {
            storage: Storage::memory(),
            dir: None,
            remote: None,
        }
    }

    pub fn local() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Backend {
            storage: Storage::local(dir.path().join("repo")).unwrap(),
            dir: Some(dir),
            remote: None,
        }
    }

    /// A fresh server of `kind`; a missing server fails the test.
    pub async fn server(kind: ServerKind) -> Self {
        let server = StorageServer::start(kind)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let options = StorageOptions {
            credentials: server.credentials.clone(),
            ..StorageOptions::default()
        };
        let url = server.url.clone();
        Backend {
            storage: Storage::open(&url, &options).unwrap(),
            dir: None,
            remote: Some((url, options, server)),
        }
    }

    /// A second, independent handle on the same location.
    pub fn reopen(&self) -> Storage {
        match (&self.dir, &self.remote) {
            (Some(d), _) => Storage::local(d.path().join("repo")).unwrap(),
            (_, Some((url, options, _))) => Storage::open(url, options).unwrap(),
            _ => self.storage.clone(),
        }
    }

    /// Whether racing creates of one name have exactly one winner. S3
    /// decides conditional writes atomically, but both S3 test servers
    /// (s3s-fs and moto) check and then write, and so does wsgidav for a
    /// `MOVE` with `Overwrite: F` (WebDAV servers differ here, which is why
    /// the repository's locks never rely on it): on those only the refusal of an
    /// existing name is checked, since a race can have two winners.
    pub fn atomic_create(&self) -> bool {
        !matches!(
            self.kind(),
            Some(ServerKind::S3sFs | ServerKind::Moto | ServerKind::WebDav)
        )
    }

    /// Whether the server refuses a conditional write over an existing
    /// object. Google Cloud Storage does (`ifGenerationMatch=0`, which
    /// tresor sends); fake-gcs-server ignores the precondition, so on it
    /// create-if-absent cannot be checked.
    pub fn enforces_create_if_absent(&self) -> bool {
        !matches!(self.kind(), Some(ServerKind::Gcs))
    }

    /// The server, for backends that have one.
    #[allow(dead_code)]
    pub fn kind(&self) -> Option<ServerKind> {
        self.remote.as_ref().map(|(_, _, s)| s.kind)
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
