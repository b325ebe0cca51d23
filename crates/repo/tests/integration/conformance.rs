//! The storage conformance suite: every scenario (object-level ones from
//! `objects.rs`, repository-level ones here) runs against memory, a local
//! directory and a real server of every remote backend, started by the
//! test on a free loopback port.

use std::collections::HashSet;
use std::sync::Arc;

use tresor_repo::{
    BlobId, BlobType, LockKind, ObjectKind, Password, PruneOptions, RepoError, Repository, Storage,
    check, prune,
};

use super::objects::{
    create_if_absent_has_one_winner, deletes, large_objects, listing_many_objects,
    objects_round_trip_and_not_found, ranged_reads,
};
use super::support::{Backend, blob, init, password};

macro_rules! backends {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::memory()).await;
                }
            )*
        }
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::local()).await;
                }
            )*
        }
        backends!(@server s3s_fs, ServerKind::S3sFs, $($name),*);
        backends!(@server moto, ServerKind::Moto, $($name),*);
        backends!(@server azurite, ServerKind::Azurite, $($name),*);
        backends!(@server gcs, ServerKind::Gcs, $($name),*);
        backends!(@server webdav, ServerKind::WebDav, $($name),*);
        backends!(@server sftp_password, ServerKind::Sftp(SftpLogin::Password), $($name),*);
        backends!(@server sftp_key, ServerKind::Sftp(SftpLogin::Key), $($name),*);
    };
    (@server $module:ident, $kind:expr, $($name:ident),*) => {
        mod $module {
            #[allow(unused_imports)]
            use tresor_testing::servers::{ServerKind, SftpLogin};
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::server($kind).await).await;
                }
            )*
        }
    };
}

backends!(
    objects_round_trip_and_not_found,
    ranged_reads,
    large_objects,
    listing_many_objects,
    deletes,
    create_if_absent_has_one_winner,
    init_open_and_wrong_password,
    save_load_and_dedup_across_flushes,
    concurrent_saves_from_eight_tasks,
    two_handles_write_concurrently,
    truncated_pack_is_detected,
    flipped_byte_is_detected,
    missing_pack_is_reported,
    prune_removes_leftovers_of_a_crash,
    lock_conflicts_and_unlock,
    snapshot_objects,
);

async fn pack_paths(storage: &Storage) -> Vec<String> {
    storage
        .list_recursive("data")
        .await
        .unwrap()
        .into_iter()
        .map(|p| format!("data/{p}"))
        .collect()
}

async fn init_open_and_wrong_password(b: Backend) {
    assert!(matches!(
        Repository::open(b.storage.clone(), &password()).await,
        Err(RepoError::NotARepository { .. })
    ));
    let repo = init(&b).await;
    let again = Repository::open(b.reopen(), &password()).await.unwrap();
    assert_eq!(again.config(), repo.config());
    let err = Repository::open(b.reopen(), &Password::from("nope"))
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::WrongPassword));
    assert!(err.to_string().contains("TRESOR_PASSWORD"), "{err}");
}

async fn save_load_and_dedup_across_flushes(b: Backend) {
    let repo = init(&b).await;
    let first = repo.save_blob(BlobType::Data, blob(1, 5000)).await.unwrap();
    let tree = repo
        .save_blob(BlobType::Tree, b"{\"x\":1}".to_vec())
        .await
        .unwrap();
    let compressible = repo
        .save_blob(BlobType::Data, vec![b'a'; 100_000])
        .await
        .unwrap();
    assert!(first.new && tree.new && compressible.new);
    assert!(compressible.stored_bytes < 10_000);
    repo.flush().await.unwrap();

    let again = repo.save_blob(BlobType::Data, blob(1, 5000)).await.unwrap();
    assert!(!again.new);
    assert_eq!(again.stored_bytes, 0);

    let reopened = Repository::open(b.reopen(), &password()).await.unwrap();
    let third = reopened
        .save_blob(BlobType::Data, blob(1, 5000))
        .await
        .unwrap();
    assert!(
        !third.new,
        "dedup against index files written by another handle"
    );
    assert_eq!(reopened.load_blob(&first.id).await.unwrap(), blob(1, 5000));
    assert_eq!(reopened.load_blob(&tree.id).await.unwrap(), b"{\"x\":1}");
    assert_eq!(
        reopened.load_blob(&compressible.id).await.unwrap(),
        vec![b'a'; 100_000]
    );
    let unknown = BlobId([7; 32]);
    assert!(matches!(
        reopened.load_blob(&unknown).await,
        Err(RepoError::BlobNotFound { .. })
    ));
}

async fn concurrent_saves_from_eight_tasks(b: Backend) {
    let repo = Arc::new(init(&b).await.with_pack_size(64 * 1024));
    let mut tasks = Vec::new();
    for t in 0..8u32 {
        let repo = repo.clone();
        tasks.push(tokio::spawn(async move {
            let mut new = 0;
            // Tasks overlap: blob i is saved by two tasks.
            for i in 0..40u32 {
                let n = (t * 20 + i) % 200;
                if repo
                    .save_blob(BlobType::Data, blob(n, 4096))
                    .await
                    .unwrap()
                    .new
                {
                    new += 1;
                }
            }
            new
        }));
    }
    let mut total_new = 0;
    for t in tasks {
        total_new += t.await.unwrap();
    }
    // Task t covers blobs 20t..20t+39: 180 distinct blobs in all.
    assert_eq!(total_new, 180, "every distinct blob stored exactly once");
    repo.flush().await.unwrap();
    let reopened = Repository::open(b.reopen(), &password()).await.unwrap();
    assert_eq!(reopened.indexed_blob_count(), 180);
    for n in 0..180 {
        let id = reopened.blob_id(&blob(n, 4096));
        assert_eq!(reopened.load_blob(&id).await.unwrap(), blob(n, 4096));
    }
    let report = check(&reopened, true, &HashSet::new()).await;
    assert!(report.is_ok(), "{:?}", report.errors);
    assert!(pack_paths(&b.storage).await.len() > 5);
}

async fn two_handles_write_concurrently(b: Backend) {
    init(&b).await;
    let a = Arc::new(
        Repository::open(b.reopen(), &password())
            .await
            .unwrap()
            .with_pack_size(16 * 1024),
    );
    let c = Arc::new(
        Repository::open(b.reopen(), &password())
            .await
            .unwrap()
            .with_pack_size(16 * 1024),
    );
    let ta = {
        let a = a.clone();
        tokio::spawn(async move {
            for i in 0..30 {
                a.save_blob(BlobType::Data, blob(i, 3000)).await.unwrap();
            }
            a.flush().await.unwrap();
        })
    };
    let tc = {
        let c = c.clone();
        tokio::spawn(async move {
            for i in 20..50 {
                c.save_blob(BlobType::Data, blob(i, 3000)).await.unwrap();
            }
            c.flush().await.unwrap();
        })
    };
    ta.await.unwrap();
    tc.await.unwrap();
    let reader = Repository::open(b.reopen(), &password()).await.unwrap();
    let refs: HashSet<BlobId> = (0..50).map(|i| reader.blob_id(&blob(i, 3000))).collect();
    for id in &refs {
        reader.load_blob(id).await.unwrap();
    }
    let report = check(&reader, true, &refs).await;
    assert!(report.is_ok(), "{:?}", report.errors);
    assert!(report.index_files >= 2);
    // The overlap was stored twice; prune cleans it and keeps everything readable.
    let lock = reader.lock(LockKind::Exclusive).await.unwrap();
    prune(&reader, &lock, &refs, &PruneOptions::default())
        .await
        .unwrap();
    lock.release().await.unwrap();
    for id in &refs {
        reader.load_blob(id).await.unwrap();
    }
    assert!(check(&reader, true, &refs).await.is_ok());
}

/// Saves a few blobs into one pack; returns the repository, their ids and the pack path.
async fn one_pack(b: &Backend) -> (Repository, HashSet<BlobId>, String) {
    let repo = init(b).await;
    let mut ids = HashSet::new();
    for i in 0..5 {
        ids.insert(
            repo.save_blob(BlobType::Data, blob(i, 2000))
                .await
                .unwrap()
                .id,
        );
    }
    repo.flush().await.unwrap();
    let packs = pack_paths(&b.storage).await;
    assert_eq!(packs.len(), 1);
    (repo, ids, packs[0].clone())
}

async fn truncated_pack_is_detected(b: Backend) {
    let (repo, ids, path) = one_pack(&b).await;
    let bytes = b.storage.read(&path).await.unwrap();
    b.storage
        .write(&path, bytes[..bytes.len() / 2].to_vec())
        .await
        .unwrap();

    let report = check(&repo, false, &ids).await;
    assert!(!report.is_ok());
    assert_eq!(report.damaged_packs.len(), 1);
    assert!(path.ends_with(&report.damaged_packs[0].pack.to_hex()));
    assert_eq!(report.unreadable_blobs(), ids);

    let last = repo.blob_id(&blob(4, 2000));
    let err = repo.load_blob(&last).await.unwrap_err();
    assert!(matches!(err, RepoError::DamagedBlob { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&report.damaged_packs[0].pack.to_hex())
    );
}

async fn flipped_byte_is_detected(b: Backend) {
    let (repo, ids, path) = one_pack(&b).await;
    let mut bytes = b.storage.read(&path).await.unwrap();
    bytes[100] ^= 0x01;
    b.storage.write(&path, bytes).await.unwrap();

    let quick = check(&repo, false, &ids).await;
    assert!(quick.is_ok(), "structure is intact: {:?}", quick.errors);
    let report = check(&repo, true, &ids).await;
    assert!(!report.is_ok());
    let damaged = &report.damaged_packs[0];
    assert!(damaged.reason.contains("pack id"), "{}", damaged.reason);
    assert_eq!(
        damaged.unreadable_blobs.len(),
        1,
        "only the blob holding byte 100"
    );
    assert_eq!(damaged.blobs.len(), 5);
    let err = repo
        .load_blob(&damaged.unreadable_blobs[0])
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::DamagedBlob { .. }), "{err}");
}

async fn missing_pack_is_reported(b: Backend) {
    let (repo, ids, path) = one_pack(&b).await;
    b.storage.delete(&path).await.unwrap();
    let report = check(&repo, true, &ids).await;
    assert_eq!(report.damaged_packs.len(), 1);
    assert!(report.damaged_packs[0].reason.contains("missing"));
    assert_eq!(report.unreadable_blobs(), ids);
    // Prune refuses to run on a repository that lost referenced data.
    let lock = repo.lock(LockKind::Exclusive).await.unwrap();
    assert!(
        prune(&repo, &lock, &ids, &PruneOptions::default())
            .await
            .is_err()
    );
    lock.release().await.unwrap();
}

async fn prune_removes_leftovers_of_a_crash(b: Backend) {
    let repo = init(&b).await;
    let kept = repo
        .save_blob(BlobType::Data, blob(0, 2000))
        .await
        .unwrap()
        .id;
    repo.flush().await.unwrap();
    {
        // A backup that stores full packs and dies before writing its index.
        let crashed = Repository::open(b.reopen(), &password())
            .await
            .unwrap()
            .with_pack_size(4096);
        for i in 1..10 {
            crashed
                .save_blob(BlobType::Data, blob(i, 3000))
                .await
                .unwrap();
        }
    }
    let refs: HashSet<BlobId> = [kept].into();
    let report = check(&repo, false, &refs).await;
    assert!(report.is_ok(), "{:?}", report.errors);
    assert!(!report.unreferenced_packs.is_empty());
    assert!(report.warnings[0].contains("unreferenced pack"));

    let lock = repo.lock(LockKind::Exclusive).await.unwrap();
    let r = prune(&repo, &lock, &refs, &PruneOptions::default())
        .await
        .unwrap();
    lock.release().await.unwrap();
    assert_eq!(
        r.unreferenced_packs_deleted,
        report.unreferenced_packs.len()
    );
    let after = check(&repo, true, &refs).await;
    assert!(after.is_ok() && after.warnings.is_empty(), "{after:?}");
    assert_eq!(repo.load_blob(&kept).await.unwrap(), blob(0, 2000));
}

async fn lock_conflicts_and_unlock(b: Backend) {
    let repo = init(&b).await;
    let other = Repository::open(b.reopen(), &password()).await.unwrap();
    let shared = repo.lock(LockKind::Shared).await.unwrap();
    let shared2 = other.lock(LockKind::Shared).await.unwrap();
    let err = other.lock(LockKind::Exclusive).await.unwrap_err();
    assert!(err.to_string().contains("tresor unlock"), "{err}");
    shared.release().await.unwrap();
    shared2.release().await.unwrap();

    let excl = repo.lock(LockKind::Exclusive).await.unwrap();
    assert!(other.lock(LockKind::Shared).await.is_err());
    assert_eq!(other.list_locks().await.unwrap().len(), 1);
    // Live locks are not stale; unlock --remove-all removes them anyway.
    assert_eq!(other.remove_stale_locks().await.unwrap(), 0);
    assert_eq!(other.remove_all_locks().await.unwrap(), 1);
    other
        .lock(LockKind::Shared)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    excl.release().await.unwrap();
}

async fn snapshot_objects(b: Backend) {
    let repo = init(&b).await;
    let a = repo
        .save_object(ObjectKind::Snapshot, br#"{"n":1}"#)
        .await
        .unwrap();
    let c = repo
        .save_object(ObjectKind::Snapshot, br#"{"n":2}"#)
        .await
        .unwrap();
    let reopened = Repository::open(b.reopen(), &password()).await.unwrap();
    let mut listed = reopened.list_objects(ObjectKind::Snapshot).await.unwrap();
    listed.sort();
    let mut expected = vec![a, c];
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(
        reopened
            .load_object(ObjectKind::Snapshot, &c)
            .await
            .unwrap(),
        br#"{"n":2}"#
    );
    reopened
        .delete_object(ObjectKind::Snapshot, &a)
        .await
        .unwrap();
    assert_eq!(
        reopened.list_objects(ObjectKind::Snapshot).await.unwrap(),
        vec![c]
    );
}
