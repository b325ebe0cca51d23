//! Copying snapshots between repositories, in both key modes: a history
//! of row-level incremental backups is copied, every copy restores on its
//! own to the database it was taken from, ids stay the same, a second copy
//! sends nothing, and a renamed copy is refused.

use std::collections::BTreeMap;
use std::sync::Arc;

use tresor_core::{Connector, RestoreMode, Row, TableFilter, rows_same};
use tresor_ops::{
    BackupOptions, CopySelection, NoProgress, RestoreOptions, Snapshot, backup, check,
    copy_snapshots, list_snapshots, load_snapshot, pending_copies, restore,
};
use tresor_repo::{ChunkerParams, InitOptions, KdfParams, Password, Repository, Storage};
use tresor_sqlite::SqliteConnector;

type Contents = BTreeMap<String, Vec<Row>>;

async fn contents(url: &str) -> Contents {
    tresor_testing::read_database(&SqliteConnector, url, &TableFilter::all())
        .await
        .unwrap()
        .tables
}

fn same(a: &Contents, b: &Contents) -> bool {
    a.len() == b.len()
        && a.iter().all(|(k, rows)| {
            b.get(k).is_some_and(|other| {
                rows.len() == other.len() && rows.iter().zip(other).all(|(x, y)| rows_same(x, y))
            })
        })
}

fn options() -> InitOptions {
    InitOptions {
        kdf: KdfParams::insecure_for_tests(),
        // small chunks: the history spans many chunks and runs
        chunker: ChunkerParams {
            min_size: 1024,
            avg_size: 4096,
            max_size: 16384,
        },
        zstd_level: 1,
        ..InitOptions::default()
    }
}

async fn destination(from: &Repository, shared: bool) -> Arc<Repository> {
    let pw = Password::new("another password");
    Arc::new(if shared {
        Repository::init_with_ids_of(Storage::memory(), &pw, options(), from)
            .await
            .unwrap()
    } else {
        Repository::init(Storage::memory(), &pw, options())
            .await
            .unwrap()
    })
}

fn sql(db: &std::path::Path, script: &str) {
    rusqlite::Connection::open(db)
        .unwrap()
        .execute_batch(script)
        .unwrap();
}

async fn restores_to(repo: &Arc<Repository>, s: &Snapshot, dir: &std::path::Path, want: &Contents) {
    let target = dir.join(format!("restore-{}.db", rand_name()));
    let target_url = format!("sqlite://{}", target.display());
    let t = SqliteConnector.target(&target_url).unwrap();
    restore(
        repo,
        s,
        t.as_ref(),
        None,
        &RestoreOptions {
            mode: RestoreMode::Replace,
            target_url: target_url.clone(),
            ..RestoreOptions::default()
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(
        same(&contents(&target_url).await, want),
        "snapshot {} restored differently",
        s.short_id()
    );
}

fn rand_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

async fn history(shared: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let url = format!("sqlite://{}", db.display());
    sql(
        &db,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, data BLOB);
         CREATE TABLE log (kind TEXT, n INTEGER);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO items SELECT i, 'item ' || i, randomblob(40) FROM n;
         INSERT INTO log VALUES ('start', 1);",
    );
    let a = Arc::new(
        Repository::init(Storage::memory(), &Password::new("pw"), options())
            .await
            .unwrap(),
    );
    let source = SqliteConnector.source(&url).unwrap();
    let backup_options = BackupOptions {
        url: url.clone(),
        ..BackupOptions::default()
    };
    let mut expected = Vec::new();
    for day in 0..4 {
        if day > 0 {
            sql(
                &db,
                &format!(
                    "UPDATE items SET name = name || '+' WHERE id % 97 = {day};
                     DELETE FROM items WHERE id % 211 = {day};
                     INSERT INTO log VALUES ('day', {day});"
                ),
            );
        }
        let s = backup(&a, source.as_ref(), &backup_options, &NoProgress)
            .await
            .unwrap();
        assert_eq!(s.parent.is_some(), day > 0, "row-level incremental");
        expected.push((s, contents(&url).await));
    }

    let b = destination(&a, shared).await;
    let all = CopySelection::default();
    assert_eq!(pending_copies(&a, &b, &all).await.unwrap().len(), 4);
    let report = copy_snapshots(&a, &b, &all, &NoProgress).await.unwrap();
    assert_eq!(report.shared_ids, shared);
    assert_eq!(report.copied.len(), 4);
    assert!(report.skipped.is_empty());
    assert!(report.blobs_sent > 0);
    assert!(pending_copies(&a, &b, &all).await.unwrap().is_empty());
    let copies = list_snapshots(&b).await.unwrap();
    let a_config_id = a.config().id.to_hex();
    for ((original, want), copy) in expected.iter().zip(&copies) {
        assert_eq!(copy.id, original.id, "ids stay the same");
        assert_eq!(copy.parent, original.parent);
        let origin = copy.copied_from.as_ref().unwrap();
        assert_eq!(origin.repository, a_config_id);
        assert_eq!(origin.id, original.id);
        assert_eq!(copy.schema == original.schema, shared);
        restores_to(&b, copy, dir.path(), want).await;
    }
    let outcome = check(&b, true).await.unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");

    // nothing left to send
    let again = copy_snapshots(&a, &b, &all, &NoProgress).await.unwrap();
    assert!(again.copied.is_empty());
    assert_eq!(again.skipped.len(), 4);
    assert_eq!((again.blobs_sent, again.blobs_read), (0, 0));

    // a copy of a copy keeps the id too
    let c = destination(&b, shared).await;
    let latest = CopySelection {
        snapshots: vec!["latest".into()],
        ..CopySelection::default()
    };
    let third = copy_snapshots(&b, &c, &latest, &NoProgress).await.unwrap();
    assert_eq!(third.copied.len(), 1);
    let (last, want) = expected.last().unwrap();
    let in_c = load_snapshot(&c, &last.id).await.unwrap();
    assert_eq!(
        in_c.copied_from.as_ref().unwrap().repository,
        b.config().id.to_hex()
    );
    restores_to(&c, &in_c, dir.path(), want).await;

    // a copy under another name is refused: its content names its id
    let moved = "ab".repeat(32);
    let bytes = b
        .storage()
        .read(&format!("snapshots/{}", last.id))
        .await
        .unwrap();
    b.storage()
        .write(&format!("snapshots/{moved}"), bytes)
        .await
        .unwrap();
    assert!(load_snapshot(&b, &moved).await.is_err());
    assert!(!check(&b, false).await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_copies_between_independent_repositories() {
    history(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_copies_between_repositories_sharing_ids() {
    history(true).await;
}

#[tokio::test]
async fn a_repository_is_not_copied_into_itself() {
    let a = Repository::init(Storage::memory(), &Password::new("pw"), options())
        .await
        .unwrap();
    let err = copy_snapshots(&a, &a, &CopySelection::default(), &NoProgress)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("same repository"), "{err}");
}
