//! Diffs against a brute-force comparison of both sides: random change
//! histories of a SQLite database, a backup after each step, then the diff
//! of random pairs of snapshots and of each snapshot against the live
//! database must list exactly the rows a full comparison finds, and pairs
//! of incremental snapshots must skip the rows they share.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use tresor_core::{Connector, Row, RowChange, RowFilter, TableFilter, Value, rows_same};
use tresor_ops::{
    BackupOptions, CacheDir, DiffOptions, DiffTarget, NoProgress, Snapshot, TableStatus, backup,
    diff,
};
use tresor_repo::{InitOptions, KdfParams, Password, Repository, Storage};
use tresor_sqlite::SqliteConnector;

#[derive(Clone, Debug)]
enum Op {
    Insert { n: u16, seed: u32 },
    Update { every: u16, offset: u16 },
    Delete { every: u16, offset: u16 },
    Backup,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u16..200, any::<u32>()).prop_map(|(n, seed)| Op::Insert { n, seed }),
        (2u16..40, 0u16..40).prop_map(|(every, offset)| Op::Update { every, offset }),
        (3u16..60, 0u16..60).prop_map(|(every, offset)| Op::Delete { every, offset }),
        Just(Op::Backup),
    ]
}

fn apply(db: &Path, op: &Op) {
    let c = rusqlite::Connection::open(db).unwrap();
    match op {
        Op::Insert { n, seed } => {
            c.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                 INSERT INTO items (name, qty) SELECT 'item ' || (i * ?2 % 9973), i % 17 FROM n",
                rusqlite::params![n, seed],
            )
            .unwrap();
        }
        Op::Update { every, offset } => {
            c.execute(
                "UPDATE items SET qty = qty + 1, name = name || '+' WHERE id % ?1 = ?2 % ?1",
                rusqlite::params![every, offset],
            )
            .unwrap();
        }
        Op::Delete { every, offset } => {
            c.execute(
                "DELETE FROM items WHERE id % ?1 = ?2 % ?1",
                rusqlite::params![every, offset],
            )
            .unwrap();
        }
        Op::Backup => {}
    }
}

/// The items table by id.
type Items = BTreeMap<i64, Row>;

async fn items(url: &str) -> Items {
    let c = tresor_testing::read_database(&SqliteConnector, url, &TableFilter::all())
        .await
        .unwrap();
    c.rows("items")
        .iter()
        .map(|r| match r[0] {
            Value::Int(id) => (id, r.clone()),
            ref other => panic!("id {other:?}"),
        })
        .collect()
}

/// (inserted, updated, deleted) ids, brute force.
fn expected(old: &Items, new: &Items, pick: impl Fn(&Row) -> bool) -> [Vec<i64>; 3] {
    let mut out = [Vec::new(), Vec::new(), Vec::new()];
    for (id, r) in new {
        match old.get(id) {
            None if pick(r) => out[0].push(*id),
            Some(o) if !rows_same(o, r) && (pick(o) || pick(r)) => out[1].push(*id),
            _ => {}
        }
    }
    for (id, r) in old {
        if !new.contains_key(id) && pick(r) {
            out[2].push(*id);
        }
    }
    out
}

async fn diffed(
    repo: &Arc<Repository>,
    from: &Snapshot,
    to: DiffTarget<'_>,
    options: &DiffOptions,
) -> ([Vec<i64>; 3], tresor_ops::TableDiff) {
    let mut got = [Vec::new(), Vec::new(), Vec::new()];
    let mut on_row = |c: tresor_ops::ChangedRow<'_>| {
        let id = match c.key_values().as_slice() {
            [Value::Int(id)] => *id,
            other => panic!("key {other:?}"),
        };
        let slot = match c.change {
            RowChange::Inserted(_) => 0,
            RowChange::Updated { .. } => {
                assert!(
                    !c.changed_columns().is_empty(),
                    "an update names its columns"
                );
                1
            }
            RowChange::Deleted(_) => 2,
        };
        got[slot].push(id);
    };
    let tables = diff(repo, from, to, options, &mut on_row).await.unwrap();
    let items = tables
        .into_iter()
        .find(|t| t.table == "items")
        .expect("items compared");
    (got, items)
}

async fn run_history(ops: Vec<Op>, pairs: Vec<(usize, usize)>) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let url = format!("sqlite://{}", db.display());
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER);")
        .unwrap();
    apply(&db, &Op::Insert { n: 300, seed: 3 });
    let repo = Arc::new(
        Repository::init(
            Storage::memory(),
            &Password::new("pw"),
            InitOptions {
                kdf: KdfParams::insecure_for_tests(),
                chunker: tresor_repo::ChunkerParams {
                    min_size: 512,
                    avg_size: 2048,
                    max_size: 8192,
                },
                ..InitOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    let source = SqliteConnector.source(&url).unwrap();
    let options = BackupOptions {
        url: url.clone(),
        cache: CacheDir::At(dir.path().join("cache")),
        ..BackupOptions::default()
    };
    let mut history: Vec<(Snapshot, Items)> = Vec::new();
    for op in std::iter::once(&Op::Backup).chain(ops.iter()) {
        apply(&db, op);
        if matches!(op, Op::Backup) {
            let s = backup(&repo, source.as_ref(), &options, &NoProgress)
                .await
                .unwrap();
            history.push((s, items(&url).await));
        }
    }
    let all = DiffOptions::default();
    let cheap = DiffOptions {
        filters: vec![RowFilter::parse("items: qty < 5 or name like '%+'").unwrap()],
        ..DiffOptions::default()
    };
    let pick_cheap = |r: &Row| {
        let qty = matches!(r[2], Value::Int(q) if q < 5);
        let plus = matches!(&r[1], Value::Text(n) if n.ends_with('+'));
        qty || plus
    };
    for (i, j) in pairs {
        let (i, j) = (i % history.len(), j % history.len());
        let ((a, ia), (b, ib)) = (&history[i], &history[j]);
        let (got, t) = diffed(&repo, a, DiffTarget::Snapshot(b), &all).await;
        assert_eq!(got, expected(ia, ib, |_| true), "snapshots {i} -> {j}");
        let changed = got.iter().map(Vec::len).sum::<usize>() as u64;
        assert_eq!(t.inserted + t.updated + t.deleted, changed);
        assert_eq!(t.status == TableStatus::Unchanged, changed == 0, "{t:?}");
        assert_eq!(
            t.unchanged,
            Some(ib.len() as u64 - t.inserted - t.updated),
            "{t:?}"
        );
        if i + 1 == j && changed * 4 < ib.len() as u64 {
            assert!(t.rows_skipped > 0, "an incremental pair shares rows: {t:?}");
            assert!(
                t.rows_compared < (ia.len() + ib.len()) as u64,
                "the cost follows the change: {t:?}"
            );
        }
        let (got, t) = diffed(&repo, a, DiffTarget::Snapshot(b), &cheap).await;
        assert_eq!(got, expected(ia, ib, pick_cheap), "filtered {i} -> {j}");
        assert_eq!(t.unchanged, None);
    }
    // against the live database: the snapshot's keys and digests from the
    // local row cache, and from the repository without one
    let live = items(&url).await;
    for cache in [CacheDir::At(dir.path().join("cache")), CacheDir::Off] {
        let all = DiffOptions {
            cache: cache.clone(),
            ..DiffOptions::default()
        };
        let cheap = DiffOptions {
            cache: cache.clone(),
            ..cheap.clone()
        };
        for (k, (s, content)) in history.iter().enumerate() {
            let (got, t) = diffed(&repo, s, DiffTarget::Live(source.as_ref()), &all).await;
            assert_eq!(
                got,
                expected(content, &live, |_| true),
                "snapshot {k} -> live ({cache:?})"
            );
            assert_eq!(
                t.unchanged,
                Some(live.len() as u64 - t.inserted - t.updated),
                "{t:?}"
            );
            let (got, _) = diffed(&repo, s, DiffTarget::Live(source.as_ref()), &cheap).await;
            assert_eq!(
                got,
                expected(content, &live, pick_cheap),
                "filtered snapshot {k} -> live ({cache:?})"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("TRESOR_PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(8),
        ..ProptestConfig::default()
    })]

    #[test]
    fn diffs_equal_a_brute_force_comparison(
        ops in proptest::collection::vec(op(), 1..14),
        pairs in proptest::collection::vec((0usize..20, 0usize..20), 1..6),
    ) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_history(ops, pairs));
    }
}

/// `--where` naming a table neither side has, or a column the table lacks,
/// is refused with the names there are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_row_filters_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let url = format!("sqlite://{}", db.display());
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);")
        .unwrap();
    let repo = Arc::new(
        Repository::init(
            Storage::memory(),
            &Password::new("pw"),
            InitOptions {
                kdf: KdfParams::insecure_for_tests(),
                ..InitOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    let source = SqliteConnector.source(&url).unwrap();
    let s = backup(
        &repo,
        source.as_ref(),
        &BackupOptions {
            url: url.clone(),
            cache: CacheDir::Off,
            ..BackupOptions::default()
        },
        &NoProgress,
    )
    .await
    .unwrap();
    for (filter, said) in [
        ("orders: id = 1", "neither side has"),
        ("items: price > 3", "no column price"),
    ] {
        let options = DiffOptions {
            filters: vec![RowFilter::parse(filter).unwrap()],
            ..DiffOptions::default()
        };
        let e = diff(&repo, &s, DiffTarget::Snapshot(&s), &options, &mut |_| {})
            .await
            .expect_err(filter);
        assert!(e.to_string().contains(said), "{filter}: {e}");
    }
}
