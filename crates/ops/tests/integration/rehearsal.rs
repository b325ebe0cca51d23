//! The preview is the restore minus the commit: a preview rehearses the
//! restore (every row loaded, every check of the commit run, then rolled
//! back), so that what it approves succeeds and what would fail is named
//! before anything is written.

use std::sync::Arc;
use std::time::Duration;

use tresor_core::{Connector, RestoreMode, TableFilter};
use tresor_ops::{
    BackupOptions, CacheDir, NoProgress, RehearsalOutcome, RestoreOptions, Trigger, backup,
    list_snapshots, preview, resolve, restore,
};
use tresor_repo::{InitOptions, KdfParams, Password, Repository, Storage};
use tresor_sqlite::SqliteConnector;

async fn new_repo() -> Arc<Repository> {
    let options = InitOptions {
        kdf: KdfParams::insecure_for_tests(),
        ..InitOptions::default()
    };
    Arc::new(
        Repository::init(Storage::memory(), &Password::new("pw"), options)
            .await
            .unwrap(),
    )
}

/// A shop: orders reference customers.
fn shop(path: &std::path::Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE orders (id INTEGER PRIMARY KEY,
                              customer_id INTEGER NOT NULL REFERENCES customers(id),
                              total REAL);
         INSERT INTO customers VALUES (1, 'ada'), (2, 'grace'), (3, 'edsger');
         INSERT INTO orders VALUES (10, 1, 9.5), (11, 2, 20.0), (12, 3, 1.25);",
    )
    .unwrap();
}

fn dump(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sqlite3")
        .arg(path)
        .arg(".dump")
        .output()
        .expect("sqlite3 is installed (bash .ci/services)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    repo: Arc<Repository>,
    db: std::path::PathBuf,
    url: String,
}

async fn backed_up_shop() -> (Fixture, tresor_ops::Snapshot) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.db");
    shop(&db);
    let url = format!("sqlite://{}", db.display());
    let repo = new_repo().await;
    let source = SqliteConnector.source(&url).unwrap();
    let options = BackupOptions {
        url: url.clone(),
        cache: CacheDir::Off,
        ..BackupOptions::default()
    };
    let snap = backup(&repo, source.as_ref(), &options, &NoProgress)
        .await
        .unwrap();
    (
        Fixture {
            _dir: dir,
            repo,
            db,
            url,
        },
        snap,
    )
}

fn options(f: &Fixture, tables: &[&str], rehearsal: Option<Duration>) -> RestoreOptions {
    let tables: Vec<String> = tables.iter().map(ToString::to_string).collect();
    RestoreOptions {
        tables: TableFilter::new(&tables, &[]).unwrap(),
        mode: RestoreMode::Replace,
        safety_snapshot: true,
        target_url: f.url.clone(),
        target_name: None,
        username: None,
        rehearsal,
        rows: None,
        only_missing: false,
        ..RestoreOptions::default()
    }
}

/// A restore of `orders` alone into a database that lost a customer the
/// orders reference: the commit's foreign-key check refuses it, and the
/// preview must say so instead of approving it.
#[tokio::test]
async fn a_rehearsal_finds_what_the_commit_would_refuse() {
    let (f, snap) = backed_up_shop().await;
    {
        let c = rusqlite::Connection::open(&f.db).unwrap();
        c.execute_batch(
            "DELETE FROM orders WHERE customer_id = 3; DELETE FROM customers WHERE id = 3;",
        )
        .unwrap();
    }
    let before = dump(&f.db);
    let target = SqliteConnector.target(&f.url).unwrap();
    let target_source = SqliteConnector.source(&f.url).unwrap();
    let opts = options(&f, &["orders"], Some(Duration::from_secs(60)));

    let p = preview(
        &f.repo,
        &snap,
        target.as_ref(),
        target_source.as_ref(),
        &opts,
    )
    .await
    .unwrap();
    let r = p.rehearsal.as_ref().expect("rehearsed");
    assert_eq!(r.outcome, RehearsalOutcome::Failed, "{r:?}");
    let failure = p.failure().expect("the failure is named");
    assert!(
        failure.message.contains("foreign key"),
        "{}",
        failure.message
    );
    assert_eq!(dump(&f.db), before, "a preview changes nothing");

    let err = restore(
        &f.repo,
        &snap,
        target.as_ref(),
        Some(target_source.as_ref()),
        &opts,
        &NoProgress,
    )
    .await
    .expect_err("the restore fails as the preview said");
    assert!(err.to_string().contains("foreign key"), "{err}");
    assert_eq!(dump(&f.db), before, "a failed restore changes nothing");
    // a failed restore leaves no safety snapshot behind for `latest:safety`
    let all = list_snapshots(&f.repo).await.unwrap();
    assert!(
        all.iter().all(|s| s.trigger != Trigger::PreRestore),
        "{:?}",
        all.iter().map(|s| s.trigger).collect::<Vec<_>>()
    );
}

/// A clean preview changes nothing, and the restore it approved succeeds;
/// `latest` afterwards is still the user's backup, not the safety
/// snapshot the restore took.
#[tokio::test]
async fn a_clean_rehearsal_changes_nothing_and_the_restore_succeeds() {
    let (f, snap) = backed_up_shop().await;
    let original = dump(&f.db);
    {
        let c = rusqlite::Connection::open(&f.db).unwrap();
        c.execute_batch(
            "UPDATE customers SET name = 'changed' WHERE id = 1;
             INSERT INTO orders VALUES (13, 2, 3.0);",
        )
        .unwrap();
    }
    let changed = dump(&f.db);
    let target = SqliteConnector.target(&f.url).unwrap();
    let target_source = SqliteConnector.source(&f.url).unwrap();
    let opts = options(&f, &[], Some(Duration::from_secs(60)));
    let p = preview(
        &f.repo,
        &snap,
        target.as_ref(),
        target_source.as_ref(),
        &opts,
    )
    .await
    .unwrap();
    let r = p.rehearsal.as_ref().expect("rehearsed");
    assert_eq!(r.outcome, RehearsalOutcome::Passed, "{r:?}");
    assert_eq!(r.tables_loaded.len(), 2);
    assert!(r.tables_not_loaded.is_empty());
    assert_eq!(dump(&f.db), changed, "a preview changes nothing");

    let out = restore(
        &f.repo,
        &snap,
        target.as_ref(),
        Some(target_source.as_ref()),
        &opts,
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(out.safety_snapshot.is_some());
    assert_eq!(dump(&f.db), original);
    let all = list_snapshots(&f.repo).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(resolve(&all, "latest").unwrap().id, snap.id);
    assert_eq!(
        Some(resolve(&all, "latest:safety").unwrap().id.clone()),
        out.safety_snapshot
    );
}

/// A rehearsal that runs out of time says how far it got and changes
/// nothing.
#[tokio::test]
async fn a_rehearsal_stops_at_its_time_bound() {
    let (f, snap) = backed_up_shop().await;
    {
        let c = rusqlite::Connection::open(&f.db).unwrap();
        c.execute_batch("DELETE FROM orders;").unwrap();
    }
    let before = dump(&f.db);
    let target = SqliteConnector.target(&f.url).unwrap();
    let target_source = SqliteConnector.source(&f.url).unwrap();
    let opts = options(&f, &[], Some(Duration::ZERO));
    let p = preview(
        &f.repo,
        &snap,
        target.as_ref(),
        target_source.as_ref(),
        &opts,
    )
    .await
    .unwrap();
    let r = p.rehearsal.as_ref().expect("rehearsed");
    assert_eq!(r.outcome, RehearsalOutcome::Stopped, "{r:?}");
    assert!(r.error.is_none());
    assert_eq!(r.tables_not_loaded.len(), 2);
    assert_eq!(dump(&f.db), before);
}
