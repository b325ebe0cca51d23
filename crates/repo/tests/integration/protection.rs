//! A repository ransomware cannot erase: S3 Object Lock on moto,
//! append-only IAM credentials enforced by moto, and a local directory
//! made append-only with `chattr +a`.

use std::collections::{BTreeMap, HashSet};

use chrono::Utc;
use tresor_repo::{
    BlobType, InitOptions, KdfParams, LockKind, ObjectKind, ObjectLock, ObjectLockMode, Password,
    PruneOptions, RepoError, Repository, Storage, StorageError, StorageOptions, check, prune,
};
use tresor_testing::servers::{APPEND_ONLY_SFTP, ServerKind, SftpLogin, StorageServer};

fn options(key: &(String, String), append_only: bool) -> StorageOptions {
    StorageOptions {
        credentials: BTreeMap::from([
            ("access-key-id".to_owned(), key.0.clone()),
            ("secret-access-key".to_owned(), key.1.clone()),
        ]),
        append_only,
        ..StorageOptions::default()
    }
}

fn init_options(object_lock: Option<ObjectLock>) -> InitOptions {
    InitOptions {
        kdf: KdfParams::insecure_for_tests(),
        object_lock,
        ..InitOptions::default()
    }
}

const ONE_DAY: ObjectLock = ObjectLock {
    days: 1,
    mode: ObjectLockMode::Compliance,
};

/// The access key the server was started with.
fn server_key(server: &StorageServer) -> (String, String) {
    (
        server.credentials["access-key-id"].clone(),
        server.credentials["secret-access-key"].clone(),
    )
}

/// One of `lines` contains `needle`.
fn assert_mentions(lines: &[String], needle: &str) {
    assert!(lines.iter().any(|l| l.contains(needle)), "{lines:?}");
}

async fn moto() -> StorageServer {
    StorageServer::start(ServerKind::Moto)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// Stores a few blobs (in several packs) and one snapshot-like object.
async fn backup(repo: &Repository, tag: u8) -> (Vec<tresor_repo::BlobId>, tresor_repo::ObjectId) {
    let mut ids = Vec::new();
    for i in 0..6u8 {
        // incompressible, so that each blob fills most of a 4 KiB pack
        let mut x = u64::from(tag) << 8 | u64::from(i) | 1;
        let data: Vec<u8> = (0..3000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        ids.push(repo.save_blob(BlobType::Data, data).await.unwrap().id);
    }
    repo.flush().await.unwrap();
    let snap = repo
        .save_object(
            ObjectKind::Snapshot,
            format!("{{\"tag\":{tag}}}").as_bytes(),
        )
        .await
        .unwrap();
    (ids, snap)
}

#[tokio::test]
async fn object_lock_retains_every_object_and_prune_spares_it() {
    let server = moto().await;
    let url = server.moto_bucket("locked", true).await.unwrap();
    let key = server_key(&server);
    let storage = Storage::open(&url, &options(&key, false)).unwrap();
    let pw = Password::from("pw");
    let repo = Repository::init(storage.clone(), &pw, init_options(Some(ONE_DAY)))
        .await
        .unwrap()
        .with_pack_size(4096);
    let (blobs, snap) = backup(&repo, 1).await;

    // every object tresor wrote carries the retention, about a day long
    let mut paths = vec!["config".to_owned(), format!("snapshots/{snap}")];
    for dir in ["keys", "index"] {
        paths.extend(
            storage
                .list(dir)
                .await
                .unwrap()
                .into_iter()
                .map(|n| format!("{dir}/{n}")),
        );
    }
    let packs: Vec<String> = storage
        .list_recursive("data")
        .await
        .unwrap()
        .into_iter()
        .map(|n| format!("data/{n}"))
        .collect();
    assert!(packs.len() >= 2, "{packs:?}");
    paths.extend(packs.iter().cloned());
    for path in &paths {
        let r = storage.retention(path).await.unwrap().unwrap();
        assert_eq!(r.mode, Some(ObjectLockMode::Compliance), "{path}");
        let hours = (r.until.unwrap() - Utc::now()).num_hours();
        assert!((22..=24).contains(&hours), "{path}: {hours} h");
    }

    // the admin credential cannot delete a pack or a snapshot: the server
    // refuses the versioned delete, and says until when
    let err = storage.delete(&packs[0]).await.unwrap_err();
    assert!(
        matches!(err, StorageError::Locked { until: Some(_), .. }),
        "{err}"
    );
    assert!(err.to_string().contains("under object lock until"), "{err}");
    let err = repo
        .delete_object(ObjectKind::Snapshot, &snap)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RepoError::Storage(StorageError::Locked { .. })),
        "{err}"
    );
    assert!(storage.exists(&packs[0]).await.unwrap());
    assert_eq!(
        repo.list_objects(ObjectKind::Snapshot).await.unwrap(),
        vec![snap]
    );

    // a prune as if no snapshot needed anything: every pack and index
    // file is retained, so nothing goes and the index stays whole
    let lock = repo.lock(LockKind::Exclusive).await.unwrap();
    let report = prune(&repo, &lock, &HashSet::new(), &PruneOptions::default())
        .await
        .unwrap();
    lock.release().await.unwrap();
    assert_eq!(report.packs_deleted, 0, "{report:?}");
    assert_eq!(report.index_files_removed, 0, "{report:?}");
    assert!(report.locked.len() >= packs.len(), "{report:?}");
    assert!(
        report
            .locked
            .iter()
            .all(|l| l.until.is_some_and(|u| u > Utc::now())),
        "{report:?}"
    );
    let reopened = Repository::open(Storage::open(&url, &options(&key, false)).unwrap(), &pw)
        .await
        .unwrap();
    for id in &blobs {
        assert!(reopened.load_blob(id).await.is_ok());
    }
    let report = check(&reopened, true, &blobs.iter().copied().collect()).await;
    assert!(report.is_ok(), "{:?}", report.errors);

    // an object written without retention (an older tresor, a copy) is
    // named by check
    let plain = Storage::open(&url, &options(&key, false)).unwrap();
    plain
        .write(
            "snapshots/0000000000000000000000000000000000000000000000000000000000000000",
            b"x".to_vec(),
        )
        .await
        .unwrap();
    let report = check(&reopened, false, &HashSet::new()).await;
    assert_mentions(&report.errors, "1 object(s) have no object lock retention");
}

#[tokio::test]
async fn object_lock_needs_a_bucket_with_object_lock() {
    let server = moto().await;
    let key = server_key(&server);
    let pw = Password::from("pw");
    // init refuses a bucket without object lock, and writes nothing
    let plain = Storage::open(&server.url, &options(&key, false)).unwrap();
    let err = Repository::init(plain.clone(), &pw, init_options(Some(ONE_DAY)))
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::ObjectLockDisabled { .. }), "{err}");
    assert!(plain.list("keys").await.unwrap().is_empty());
    // a local directory has no object lock at all
    let dir = tempfile::tempdir().unwrap();
    let err = Repository::init(
        Storage::local(dir.path()).unwrap(),
        &pw,
        init_options(Some(ONE_DAY)),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("cannot hold object lock"), "{err}");

    // a locked repository copied to a bucket without object lock: check
    // says the protection is gone
    let url = server.moto_bucket("locked", true).await.unwrap();
    let locked = Storage::open(&url, &options(&key, false)).unwrap();
    let repo = Repository::init(locked.clone(), &pw, init_options(Some(ONE_DAY)))
        .await
        .unwrap();
    backup(&repo, 7).await;
    for path in locked.list_recursive("").await.unwrap() {
        plain
            .write(&path, locked.read(&path).await.unwrap())
            .await
            .unwrap();
    }
    let copy = Repository::open(plain, &pw).await.unwrap();
    let report = check(&copy, false, &HashSet::new()).await;
    assert_mentions(&report.errors, "has no object lock configuration");
}

/// moto enforces the append-only IAM policy of docs/storage.md: the
/// backup credential reads and adds, and cannot delete.
///
/// moto (5.2) cannot run a whole tresor backup under IAM: with IAM
/// enforced it recomputes the signature of a listing from the decoded
/// query, so every `ListObjectsV2` with a `/` in its prefix or delimiter
/// (boto3's too) fails with `SignatureDoesNotMatch`. The tresor side of
/// append-only is tested below on moto without IAM and on a local
/// directory the kernel makes append-only.
#[tokio::test]
async fn append_only_iam_policy_refuses_deletes() {
    let server = moto().await;
    let url = server.url.clone();
    let users = server.moto_iam("tresor").await.unwrap();
    let backup = Storage::open(&url, &options(&users.backup, false)).unwrap();
    backup
        .write_if_not_exists("data/ab/pack", b"pack".to_vec())
        .await
        .unwrap();
    backup.write("snapshots/s", b"snap".to_vec()).await.unwrap();
    assert_eq!(backup.read("data/ab/pack").await.unwrap(), b"pack");
    assert!(backup.exists("snapshots/s").await.unwrap());
    for path in ["data/ab/pack", "snapshots/s"] {
        let err = backup.delete(path).await.unwrap_err();
        assert!(err.is_denied(), "{err}");
        assert!(err.hint().unwrap().contains("append-only"), "{err}");
    }
    assert!(backup.exists("data/ab/pack").await.unwrap());
    // keys the server does not know are refused outright
    let stranger = (
        "AKIAIOSFODNN7EXAMPLE".to_owned(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
    );
    let err = Storage::open(&url, &options(&stranger, false))
        .unwrap()
        .read("snapshots/s")
        .await
        .unwrap_err();
    assert!(err.is_denied(), "{err}");
    // the full credential deletes
    let admin = Storage::open(&url, &options(&users.admin, false)).unwrap();
    admin.delete("snapshots/s").await.unwrap();
    assert!(!admin.exists("snapshots/s").await.unwrap());
}

/// Opened append-only: backups and restores work, lock files stay as
/// stale sessions, what deletes is refused at once; check's probe finds
/// out that these credentials (moto without IAM) can delete after all;
/// prune with the full credentials removes the stale locks.
#[tokio::test]
async fn append_only_mode_backs_up_and_refuses_deletes() {
    let server = moto().await;
    let url = server.url.clone();
    let key = server_key(&server);
    let pw = Password::from("pw");
    let admin = Repository::init(
        Storage::open(&url, &options(&key, false)).unwrap(),
        &pw,
        init_options(None),
    )
    .await
    .unwrap();
    let (first, _) = backup(&admin, 1).await;

    let storage = Storage::open(&url, &options(&key, true)).unwrap();
    let repo = Repository::open(storage.clone(), &pw)
        .await
        .unwrap()
        .with_pack_size(4096);
    let lock = repo.lock(LockKind::Shared).await.unwrap();
    let (second, snap) = backup(&repo, 2).await;
    lock.release().await.unwrap();
    for id in first.iter().chain(&second) {
        assert!(repo.load_blob(id).await.is_ok());
    }
    assert!(repo.load_object(ObjectKind::Snapshot, &snap).await.is_ok());
    // the lock and its release record stay, and count as stale
    let locks = repo.list_locks().await.unwrap();
    assert_eq!(locks.len(), 2, "{locks:?}");
    assert!(locks.iter().all(|l| l.stale), "{locks:?}");
    // so the next lock, even exclusive, is not blocked by them
    repo.lock(LockKind::Exclusive)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    // a write is a create: the same bytes again are fine, others refused
    storage.write("probe/same", b"one".to_vec()).await.unwrap();
    storage.write("probe/same", b"one".to_vec()).await.unwrap();
    let err = storage
        .write("probe/same", b"two".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::AppendOnly { .. }), "{err}");
    assert_eq!(storage.read("probe/same").await.unwrap(), b"one");

    // what deletes is refused at once, before any request
    let err = repo.refuse_if_append_only("forget").unwrap_err();
    assert!(
        err.to_string()
            .contains("run forget and prune with the full credentials"),
        "{err}"
    );
    let before = storage.list_recursive("").await.unwrap();
    let lock = repo.lock(LockKind::Exclusive).await.unwrap();
    let err = prune(&repo, &lock, &HashSet::new(), &PruneOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    lock.release().await.unwrap();
    let after = storage.list_recursive("").await.unwrap();
    let data = |v: &[String]| {
        v.iter()
            .filter(|p| !p.starts_with("locks/"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(data(&before), data(&after));
    let err = storage
        .delete(&format!("snapshots/{snap}"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::AppendOnly { .. }), "{err}");
    assert!(repo.remove_stale_locks().await.is_err());
    assert!(matches!(
        repo.remove_key(&repo.key_id()).await,
        Err(RepoError::AppendOnly { .. })
    ));

    // these credentials can delete: check's probe says so
    let report = check(&repo, false, &HashSet::new()).await;
    assert_mentions(&report.errors, "these credentials can delete");

    // prune with the full credentials removes the stale lock files
    let admin = Repository::open(Storage::open(&url, &options(&key, false)).unwrap(), &pw)
        .await
        .unwrap();
    let lock = admin.lock(LockKind::Exclusive).await.unwrap();
    let referenced: HashSet<_> = first.iter().chain(&second).copied().collect();
    let report = prune(&admin, &lock, &referenced, &PruneOptions::default())
        .await
        .unwrap();
    lock.release().await.unwrap();
    assert!(report.stale_locks_removed >= 6, "{report:?}");
    assert!(admin.list_locks().await.unwrap().is_empty());
}

/// A local directory whose directories are append-only (`chattr +a`, as
/// root): files can be added, none removed or renamed away.
#[tokio::test]
async fn append_only_directory_with_chattr() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let pw = Password::from("pw");
    Repository::init(Storage::local(&root).unwrap(), &pw, init_options(None))
        .await
        .unwrap();
    let mut dirs = vec![root.clone()];
    for d in ["keys", "index", "snapshots", "locks", "data"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
        dirs.push(root.join(d));
    }
    for i in 0..=255u8 {
        let d = root.join("data").join(format!("{i:02x}"));
        std::fs::create_dir_all(&d).unwrap();
        dirs.push(d);
    }
    std::fs::create_dir_all(root.join(".tmp")).unwrap();
    chattr("+a", &dirs);
    // the flag goes again however the test ends, so the directory can be
    // removed
    let _undo = Unchattr(dirs);
    let storage = Storage::open(
        root.to_str().unwrap(),
        &StorageOptions {
            append_only: true,
            ..StorageOptions::default()
        },
    )
    .unwrap();
    let repo = Repository::open(storage.clone(), &pw).await.unwrap();
    let lock = repo.lock(LockKind::Shared).await.unwrap();
    let (blobs, snap) = backup(&repo, 3).await;
    lock.release().await.unwrap();
    for id in &blobs {
        assert!(repo.load_blob(id).await.is_ok());
    }
    assert!(repo.load_object(ObjectKind::Snapshot, &snap).await.is_ok());
    // the filesystem refuses what tresor would not even ask
    let raw = Storage::local(&root).unwrap();
    let err = raw.delete(&format!("snapshots/{snap}")).await.unwrap_err();
    assert!(err.is_denied(), "{err}");
    let report = check(&repo, true, &blobs.iter().copied().collect()).await;
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_mentions(&report.warnings, "append-only verified");
}

fn chattr(flag: &str, dirs: &[std::path::PathBuf]) {
    let status = std::process::Command::new("chattr")
        .arg(flag)
        .args(dirs)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "chattr {flag} failed (needs root and ext4)"
    );
}

struct Unchattr(Vec<std::path::PathBuf>);

impl Drop for Unchattr {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-a")
            .args(&self.0)
            .status();
    }
}

/// OpenSSH's `internal-sftp` made append-only ([`APPEND_ONLY_SFTP`]):
/// a backup, its locks and a restore work; the server refuses deletes and
/// rewrites, which check's probe confirms.
#[tokio::test]
async fn append_only_sftp_server() {
    let server = StorageServer::start(ServerKind::Sftp(SftpLogin::KeyAppendOnly))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(APPEND_ONLY_SFTP.contains("remove"));
    let pw = Password::from("pw");
    let opts = |append_only| StorageOptions {
        credentials: server.credentials.clone(),
        append_only,
        ..StorageOptions::default()
    };
    Repository::init(
        Storage::open(&server.url, &opts(true)).unwrap(),
        &pw,
        init_options(None),
    )
    .await
    .unwrap();
    let storage = Storage::open(&server.url, &opts(true)).unwrap();
    let repo = Repository::open(storage.clone(), &pw)
        .await
        .unwrap()
        .with_pack_size(4096);
    let lock = repo.lock(LockKind::Shared).await.unwrap();
    let (blobs, snap) = backup(&repo, 5).await;
    lock.release().await.unwrap();
    for id in &blobs {
        assert!(repo.load_blob(id).await.is_ok());
    }
    assert!(repo.load_object(ObjectKind::Snapshot, &snap).await.is_ok());
    // the server refuses a delete and a replacement, whatever the client
    let raw = Storage::open(&server.url, &opts(false)).unwrap();
    let path = format!("snapshots/{snap}");
    let err = raw.delete(&path).await.unwrap_err();
    assert!(err.is_denied(), "{err}");
    assert!(raw.write(&path, b"ransom".to_vec()).await.is_err());
    assert!(repo.load_object(ObjectKind::Snapshot, &snap).await.is_ok());
    let report = check(&repo, true, &blobs.iter().copied().collect()).await;
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_mentions(&report.warnings, "append-only verified");
}
