//! forget and prune on a repository under S3 Object Lock (moto), and on
//! append-only storage.

use std::collections::BTreeMap;
use std::sync::Arc;

use tresor_core::Connector;
use tresor_ops::{
    BackupOptions, CacheDir, ForgetOptions, NoProgress, backup, check, forget, list_snapshots,
    prune,
};
use tresor_repo::{
    InitOptions, KdfParams, ObjectLock, ObjectLockMode, Password, Repository, Storage,
    StorageOptions,
};
use tresor_sqlite::SqliteConnector;
use tresor_testing::servers::{ServerKind, StorageServer};

fn sqlite(dir: &std::path::Path) -> String {
    let db = dir.join("app.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO items (name) VALUES ('a'), ('b'), ('c');",
    )
    .unwrap();
    format!("sqlite://{}", db.display())
}

async fn two_backups(repo: &Arc<Repository>, url: &str) -> Vec<String> {
    let source = SqliteConnector.source(url).unwrap();
    let options = BackupOptions {
        url: url.to_owned(),
        cache: CacheDir::Off,
        ..BackupOptions::default()
    };
    let first = backup(repo, source.as_ref(), &options, &NoProgress)
        .await
        .unwrap();
    rusqlite::Connection::open(url.trim_start_matches("sqlite://"))
        .unwrap()
        .execute("INSERT INTO items (name) VALUES ('d')", [])
        .unwrap();
    let second = backup(repo, source.as_ref(), &options, &NoProgress)
        .await
        .unwrap();
    vec![first.id, second.id]
}

#[tokio::test]
async fn forget_and_prune_keep_what_object_lock_retains() {
    let server = StorageServer::start(ServerKind::Moto)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let url = server.moto_bucket("locked", true).await.unwrap();
    let options = StorageOptions {
        credentials: server.credentials.clone(),
        ..StorageOptions::default()
    };
    let repo = Arc::new(
        Repository::init(
            Storage::open(&url, &options).unwrap(),
            &Password::new("pw"),
            InitOptions {
                kdf: KdfParams::insecure_for_tests(),
                object_lock: Some(ObjectLock {
                    days: 2,
                    mode: ObjectLockMode::Governance,
                }),
                ..InitOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let ids = two_backups(&repo, &sqlite(dir.path())).await;

    let outcome = forget(
        &repo,
        &ForgetOptions {
            ids: vec![ids[0].clone()],
            ..ForgetOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(outcome.removed.is_empty(), "{outcome:?}");
    assert_eq!(outcome.locked.len(), 1, "{outcome:?}");
    assert!(outcome.locked[0].path.ends_with(&ids[0]), "{outcome:?}");
    let kept: Vec<_> = outcome.groups.values().flatten().collect();
    assert!(
        kept.iter()
            .any(|d| d.keep && d.reasons.iter().any(|r| r.starts_with("object lock until"))),
        "{kept:?}"
    );
    // the snapshot stays listed, and so does what it needs
    assert_eq!(list_snapshots(&repo).await.unwrap().len(), 2);
    let report = prune(&repo, false).await.unwrap();
    assert_eq!(report.packs_deleted, 0, "{report:?}");
    let outcome = check(&repo, true).await.unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[tokio::test]
async fn forget_and_prune_refuse_append_only_storage_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let pw = Password::new("pw");
    let repo = Arc::new(
        Repository::init(
            Storage::local(&root).unwrap(),
            &pw,
            InitOptions {
                kdf: KdfParams::insecure_for_tests(),
                ..InitOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    let ids = two_backups(&repo, &sqlite(dir.path())).await;
    let append_only = StorageOptions {
        append_only: true,
        credentials: BTreeMap::new(),
        ..StorageOptions::default()
    };
    let repo = Arc::new(
        Repository::open(
            Storage::open(root.to_str().unwrap(), &append_only).unwrap(),
            &pw,
        )
        .await
        .unwrap(),
    );
    let before = repo.storage().list_recursive("").await.unwrap();
    let err = forget(
        &repo,
        &ForgetOptions {
            ids: vec![ids[0].clone()],
            ..ForgetOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("run forget and prune with the full credentials"),
        "{err}"
    );
    let err = prune(&repo, false).await.unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(repo.storage().list_recursive("").await.unwrap(), before);
    // a dry run reads only
    prune(&repo, true).await.unwrap();
    assert_eq!(list_snapshots(&repo).await.unwrap().len(), 2);
}
