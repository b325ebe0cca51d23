//! Guard and undo against a brute-force expectation: a guard, a random
//! "command", the after-state, random later changes, then an undo must
//! leave every row the command touched as it was before the command,
//! unless it changed again afterwards (a conflict, left alone and counted,
//! or reverted too when forced), and every other row as it is now.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use tresor_core::{Connector, Row, TableFilter, Value, rows_same};
use tresor_ops::{
    GuardOptions, NoProgress, UndoOptions, close_guard, list_snapshots, take_guard, undo,
};
use tresor_repo::{InitOptions, KdfParams, Password, Repository, Storage};
use tresor_sqlite::SqliteConnector;

#[derive(Clone, Debug)]
enum Op {
    Insert { n: u8, seed: u16 },
    Update { every: u8, offset: u8 },
    Delete { every: u8, offset: u8 },
    Log { n: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u8..20, any::<u16>()).prop_map(|(n, seed)| Op::Insert { n, seed }),
        (2u8..12, 0u8..12).prop_map(|(every, offset)| Op::Update { every, offset }),
        (3u8..15, 0u8..15).prop_map(|(every, offset)| Op::Delete { every, offset }),
        (1u8..5).prop_map(|n| Op::Log { n }),
    ]
}

fn apply(db: &Path, op: &Op) {
    let c = rusqlite::Connection::open(db).unwrap();
    match op {
        Op::Insert { n, seed } => {
            c.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                 INSERT INTO items (name, qty) SELECT 'item ' || (i * ?2 % 997), i % 9 FROM n",
                rusqlite::params![n, seed],
            )
            .unwrap();
        }
        Op::Update { every, offset } => {
            c.execute(
                "UPDATE items SET qty = qty + 1 WHERE id % ?1 = ?2 % ?1",
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
        Op::Log { n } => {
            for _ in 0..*n {
                c.execute("INSERT INTO log VALUES ('event')", []).unwrap();
            }
        }
    }
}

type Items = BTreeMap<i64, Row>;

async fn state(url: &str) -> (Items, usize) {
    let c = tresor_testing::read_database(&SqliteConnector, url, &TableFilter::all())
        .await
        .unwrap();
    let items = c
        .rows("items")
        .iter()
        .map(|r| match r[0] {
            Value::Int(id) => (id, r.clone()),
            ref other => panic!("id {other:?}"),
        })
        .collect();
    (items, c.rows("log").len())
}

fn same(a: Option<&Row>, b: Option<&Row>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => rows_same(a, b),
        _ => false,
    }
}

async fn run(command: Vec<Op>, later: Vec<Op>, force: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let url = format!("sqlite://{}", db.display());
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER);
             CREATE TABLE log (what TEXT);",
        )
        .unwrap();
    apply(&db, &Op::Insert { n: 40, seed: 7 });
    apply(&db, &Op::Log { n: 3 });
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
    let target = SqliteConnector.target(&url).unwrap();
    let options = GuardOptions {
        url: url.clone(),
        tables: TableFilter::all(),
        reason: Some("guard: random command".into()),
        ..GuardOptions::default()
    };
    let (before, log_before) = state(&url).await;
    let guard = take_guard(&repo, source.as_ref(), &options, &NoProgress)
        .await
        .unwrap();
    for o in &command {
        apply(&db, o);
    }
    let (after, _) = state(&url).await;
    close_guard(&repo, source.as_ref(), &guard, &options)
        .await
        .unwrap();
    for o in &later {
        apply(&db, o);
    }
    let (now, _) = state(&url).await;

    let mut expected = Items::new();
    let mut conflicts = 0u64;
    let keys: std::collections::BTreeSet<i64> = before
        .keys()
        .chain(after.keys())
        .chain(now.keys())
        .copied()
        .collect();
    for k in keys {
        let (b, a, n) = (before.get(&k), after.get(&k), now.get(&k));
        let out = if same(b, a) {
            n
        } else if same(n, a) {
            b
        } else {
            conflicts += 1;
            if force { b } else { n }
        };
        if let Some(r) = out {
            expected.insert(k, r.clone());
        }
    }

    let all = list_snapshots(&repo).await.unwrap();
    let report = undo(
        &repo,
        &all,
        &guard,
        target.as_ref(),
        source.as_ref(),
        &UndoOptions {
            tables: TableFilter::all(),
            force,
            dry_run: None,
            target_url: url.clone(),
            target_name: None,
            username: None,
        },
        &NoProgress,
    )
    .await
    .unwrap();
    let (got, log_now) = state(&url).await;
    assert_eq!(got.len(), expected.len(), "rows after undo");
    for (k, r) in &expected {
        assert!(
            same(got.get(k), Some(r)),
            "row {k}: {:?} vs {r:?}",
            got.get(k)
        );
    }
    let items = report
        .tables
        .iter()
        .find(|t| t.table == "items")
        .expect("items in the report");
    assert_eq!(items.conflicts, conflicts, "{report:?}");
    // SQLite keys `log` by its rowid: the command's appends go, later ones
    // stay
    assert!(log_now >= log_before, "{log_now} < {log_before}");
    // the undo left its safety snapshot, and no plan behind
    let after_undo = list_snapshots(&repo).await.unwrap();
    assert_eq!(after_undo.len(), all.len() + 1);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("TRESOR_PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(8),
        ..ProptestConfig::default()
    })]

    #[test]
    fn undo_reverts_the_command_and_reports_conflicts(
        command in proptest::collection::vec(op(), 1..6),
        later in proptest::collection::vec(op(), 0..4),
        force in any::<bool>(),
    ) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(command, later, force));
    }
}
