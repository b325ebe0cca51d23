//! Row-level incremental backups: random histories of inserts, updates,
//! deletes and backups, then forget/prune of random snapshots; every
//! remaining snapshot must restore to exactly the database it was taken
//! from, and `check --read-data` must pass after every step.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use tresor_core::{Connector, RestoreMode, Row, TableFilter, rows_same};
use tresor_ops::{
    BackupOptions, CacheDir, ForgetOptions, NoProgress, RestoreOptions, Snapshot, backup, check,
    forget, list_snapshots, prune, restore,
};
use tresor_repo::{
    ChunkerParams, InitOptions, KdfParams, Password, Repository, RetentionPolicy, Storage,
};
use tresor_sqlite::SqliteConnector;

#[derive(Clone, Debug)]
enum Op {
    Insert { n: u16, seed: u32 },
    Update { every: u16, offset: u16, seed: u32 },
    Delete { every: u16, offset: u16 },
    LogAppend { n: u16 },
    Backup,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u16..400, any::<u32>()).prop_map(|(n, seed)| Op::Insert { n, seed }),
        (2u16..60, 0u16..60, any::<u32>()).prop_map(|(every, offset, seed)| Op::Update {
            every,
            offset,
            seed
        }),
        (3u16..80, 0u16..80).prop_map(|(every, offset)| Op::Delete { every, offset }),
        (1u16..50).prop_map(|n| Op::LogAppend { n }),
        Just(Op::Backup),
        Just(Op::Backup),
    ]
}

fn apply(db: &Path, op: &Op) {
    let c = rusqlite::Connection::open(db).unwrap();
    match op {
        Op::Insert { n, seed } => {
            c.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                 INSERT INTO items (name, qty, data)
                 SELECT 'item ' || (i * ?2 % 9973) || ' ' || hex(randomblob(60)), i % 17, randomblob(i % 40) FROM n",
                rusqlite::params![n, seed],
            )
            .unwrap();
            c.execute(
                "INSERT OR REPLACE INTO kv SELECT 'k' || (abs(random()) % 3000), ?1 FROM items LIMIT ?2",
                rusqlite::params![seed, n / 4 + 1],
            )
            .unwrap();
        }
        Op::Update {
            every,
            offset,
            seed,
        } => {
            c.execute(
                "UPDATE items SET name = name || '+', qty = qty + ?3 WHERE id % ?1 = ?2 % ?1",
                rusqlite::params![every, offset, seed % 100],
            )
            .unwrap();
        }
        Op::Delete { every, offset } => {
            c.execute(
                "DELETE FROM items WHERE id % ?1 = ?2 % ?1",
                rusqlite::params![every, offset],
            )
            .unwrap();
            c.execute(
                "DELETE FROM kv WHERE length(k) % 3 = ?1 % 3 AND rowid % 2 = 0",
                rusqlite::params![offset],
            )
            .ok();
        }
        Op::LogAppend { n } => {
            c.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                 INSERT INTO log SELECT 'event', i FROM n",
                rusqlite::params![n],
            )
            .unwrap();
        }
        Op::Backup => {}
    }
}

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

async fn new_repo() -> Arc<Repository> {
    let options = InitOptions {
        kdf: KdfParams::insecure_for_tests(),
        // small chunks, so that histories span many chunks and runs
        chunker: ChunkerParams {
            min_size: 1024,
            avg_size: 4096,
            max_size: 16384,
        },
        zstd_level: 1,
        object_lock: None,
    };
    Arc::new(
        Repository::init(Storage::memory(), &Password::new("pw"), options)
            .await
            .unwrap(),
    )
}

async fn assert_checks(repo: &Arc<Repository>) {
    let outcome = check(repo, true).await.unwrap();
    assert!(outcome.is_ok(), "check --read-data failed: {outcome:?}");
}

async fn run_history(ops: Vec<Op>, forget_mask: Vec<bool>, use_cache: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let url = format!("sqlite://{}", db.display());
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, data BLOB);
             CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
             CREATE TABLE log (kind TEXT, n INTEGER);",
        )
        .unwrap();
    }
    apply(&db, &Op::Insert { n: 300, seed: 7 });
    let repo = new_repo().await;
    let source = SqliteConnector.source(&url).unwrap();
    let options = BackupOptions {
        url: url.clone(),
        cache: if use_cache {
            CacheDir::At(dir.path().join("cache"))
        } else {
            CacheDir::Off
        },
        ..BackupOptions::default()
    };
    let mut expected: Vec<(Snapshot, Contents)> = Vec::new();
    for op in ops.iter().chain(std::iter::once(&Op::Backup)) {
        apply(&db, op);
        if matches!(op, Op::Backup) {
            let s = backup(&repo, source.as_ref(), &options, &NoProgress)
                .await
                .unwrap();
            expected.push((s, contents(&url).await));
            assert_checks(&repo).await;
        }
    }
    // forget a random subset (never all), then prune
    let doomed: Vec<String> = expected
        .iter()
        .zip(forget_mask.iter().cycle())
        .filter(|(_, f)| **f)
        .map(|((s, _), _)| s.id.clone())
        .take(expected.len().saturating_sub(1))
        .collect();
    if !doomed.is_empty() {
        forget(
            &repo,
            &ForgetOptions {
                policy: RetentionPolicy::default(),
                ids: doomed.clone(),
                ..ForgetOptions::default()
            },
        )
        .await
        .unwrap();
        prune(&repo, false).await.unwrap();
        assert_checks(&repo).await;
    }
    let remaining = list_snapshots(&repo).await.unwrap();
    assert_eq!(remaining.len(), expected.len() - doomed.len());
    for (snapshot, want) in expected.iter().filter(|(s, _)| !doomed.contains(&s.id)) {
        let snapshot = remaining.iter().find(|r| r.id == snapshot.id).unwrap();
        let target = dir
            .path()
            .join(format!("restore-{}.db", snapshot.short_id()));
        let target_url = format!("sqlite://{}", target.display());
        let t = SqliteConnector.target(&target_url).unwrap();
        restore(
            &repo,
            snapshot,
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
            snapshot.short_id()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_remaining_snapshot_restores_exactly(
        ops in proptest::collection::vec(op(), 1..14),
        forget_mask in proptest::collection::vec(any::<bool>(), 1..8),
        use_cache in any::<bool>(),
    ) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_history(ops, forget_mask, use_cache));
    }
}

/// A long, steady history: the run list stays bounded and old chunks stop
/// being referenced, so restores of late snapshots read little dead data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragmentation_stays_bounded_over_many_days() {
    let ops: Vec<Op> = (0..30u16)
        .flat_map(|day| {
            [
                Op::Update {
                    every: 100,
                    offset: day * 7,
                    seed: u32::from(day),
                },
                Op::Insert {
                    n: 50,
                    seed: u32::from(day),
                },
                Op::Delete {
                    every: 997,
                    offset: day,
                },
                Op::Backup,
            ]
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let url = format!("sqlite://{}", db.display());
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, data BLOB);
             CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
             CREATE TABLE log (kind TEXT, n INTEGER);",
        )
        .unwrap();
    }
    apply(&db, &Op::Insert { n: 20_000, seed: 3 });
    let repo = new_repo().await;
    let source = SqliteConnector.source(&url).unwrap();
    let options = BackupOptions {
        url: url.clone(),
        cache: CacheDir::At(dir.path().join("cache")),
        ..BackupOptions::default()
    };
    let first = backup(&repo, source.as_ref(), &options, &NoProgress)
        .await
        .unwrap();
    let mut last = first.clone();
    let mut day = 0;
    for op in &ops {
        apply(&db, op);
        if matches!(op, Op::Backup) {
            day += 1;
            last = backup(&repo, source.as_ref(), &options, &NoProgress)
                .await
                .unwrap();
            let added = last.totals.added_bytes;
            let share = added as f64 / first.totals.added_bytes as f64;
            // the goal of the first week: a day of 1% churn adds at most 5%;
            // later, compaction keeps the cost bounded
            let limit = if day <= 7 { 0.05 } else { 0.12 };
            assert!(
                share <= limit,
                "day {day}: added {added} bytes, {:.1}% of the first backup",
                share * 100.0
            );
        }
    }
    let entry = last.tables.iter().find(|t| t.name.name == "items").unwrap();
    let data = tresor_ops::load_table_data(&repo, &entry.data)
        .await
        .unwrap();
    // bounded run list: compaction keeps runs well below one per row
    assert!(
        (data.runs.len() as u64) * 2 < entry.rows,
        "{} runs for {} rows",
        data.runs.len(),
        entry.rows
    );
    // bounded dead weight: the chunks the last snapshot reads hold at most
    // about twice the rows it uses
    let stored: u64 = data.chunk_rows.iter().sum();
    assert!(
        stored <= 2 * entry.rows + 2000,
        "reads {stored} stored rows for {} rows",
        entry.rows
    );
    assert_eq!(data.rows(), entry.rows);
}

/// The cache and the repository agree: the same history backed up with and
/// without the local cache stores the same table data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_and_repository_paths_agree() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let url = format!("sqlite://{}", db.display());
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, data BLOB);
             CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
             CREATE TABLE log (kind TEXT, n INTEGER);",
        )
        .unwrap();
    }
    apply(&db, &Op::Insert { n: 3000, seed: 1 });
    let source = SqliteConnector.source(&url).unwrap();
    let mut runs = Vec::new();
    for cache in [CacheDir::At(dir.path().join("cache")), CacheDir::Off] {
        let repo = new_repo().await;
        let options = BackupOptions {
            url: url.clone(),
            cache,
            ..BackupOptions::default()
        };
        let copy = dir.path().join("copy.db");
        std::fs::copy(&db, &copy).unwrap();
        let copy_url = format!("sqlite://{}", copy.display());
        let source = SqliteConnector.source(&copy_url).unwrap();
        let options = BackupOptions {
            url: copy_url,
            ..options
        };
        let mut datas = Vec::new();
        for day in 0..4u16 {
            apply(
                &copy,
                &Op::Update {
                    every: 50,
                    offset: day,
                    seed: 9,
                },
            );
            apply(
                &copy,
                &Op::Delete {
                    every: 301,
                    offset: day,
                },
            );
            let s = backup(&repo, source.as_ref(), &options, &NoProgress)
                .await
                .unwrap();
            let items = s.tables.iter().find(|t| t.name.name == "items").unwrap();
            datas.push((
                items.changes,
                tresor_ops::load_table_data(&repo, &items.data)
                    .await
                    .unwrap()
                    .runs,
            ));
        }
        runs.push(datas);
        std::fs::remove_file(&copy).unwrap();
    }
    drop(source);
    assert_eq!(runs[0], runs[1]);
    assert!(
        std::fs::read_dir(dir.path().join("cache")).unwrap().count() > 0,
        "the cache was written"
    );
}
