//! A writer thread keeps committing while a backup reads: the snapshot is
//! one consistent instant, in WAL and in rollback-journal mode.
//!
//! Each write moves `amount` into account 1 and records it in `ledger`, in
//! one transaction, so `balance(1) == 500 + sum(ledger)` always holds. The
//! backup reads `ledger` slowly first and `accounts` last: a snapshot that
//! saw writes between the two reads breaks the equation.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::mpsc;
use tresor_core::{ReadOptions, RestoreMode, Row, Source, TableName, Value};
use tresor_sqlite::{SqliteSource, SqliteTarget};
use tresor_testing::{read_rows, restore_snapshot};

fn setup(path: &Path, wal: bool) {
    let conn = Connection::open(path).unwrap();
    if wal {
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
    }
    conn.execute_batch(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
         INSERT INTO accounts VALUES (1, 500), (2, 500);
         CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL, pad BLOB);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000)
         INSERT INTO ledger (amount, pad) SELECT 0, zeroblob(100) FROM c;",
    )
    .unwrap();
}

/// Commits writes until `stop`; counts the commits in `done`.
fn writer(path: &Path, stop: &AtomicBool, done: &AtomicU64) {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_millis(5)).unwrap();
    let mut i: i64 = 0;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let amount = i % 13 - 6;
        let ok = conn
            .execute_batch(&format!(
                "BEGIN IMMEDIATE;
                 UPDATE accounts SET balance = balance + {amount} WHERE id = 1;
                 INSERT INTO ledger (amount) VALUES ({amount});
                 COMMIT;"
            ))
            .is_ok();
        if ok {
            done.fetch_add(1, Ordering::SeqCst);
        } else {
            let _ = conn.execute_batch("ROLLBACK");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn balance(accounts: &[Row]) -> i64 {
    match &accounts[0][1] {
        Value::Int(i) => *i,
        other => panic!("balance {other:?}"),
    }
}

fn ledger_sum(ledger: &[Row]) -> i64 {
    ledger
        .iter()
        .map(|r| match &r[1] {
            Value::Int(i) => *i,
            other => panic!("amount {other:?}"),
        })
        .sum()
}

async fn snapshot_is_consistent(wal: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    setup(&path, wal);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let thread = {
        let (path, stop, done) = (path.clone(), Arc::clone(&stop), Arc::clone(&done));
        std::thread::spawn(move || writer(&path, &stop, &done))
    };
    while done.load(Ordering::SeqCst) < 10 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let snap = SqliteSource::new(&path)
        .open(&ReadOptions::default())
        .await
        .unwrap();
    let during_start = done.load(Ordering::SeqCst);
    let schema = snap.schema().clone();
    let ledger_t = schema.table(&TableName::new("ledger")).unwrap();
    let accounts_t = schema.table(&TableName::new("accounts")).unwrap();
    // slow read of the ledger: the writer gets time to commit in between
    let (tx, mut rx) = mpsc::channel(1);
    let slow = async {
        let mut rows = Vec::new();
        while let Some(batch) = rx.recv().await {
            rows.extend(batch);
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        rows
    };
    let (n, ledger) = tokio::join!(snap.read_table(ledger_t, tx), slow);
    assert_eq!(n.unwrap(), ledger.len() as u64);
    let accounts = read_rows(snap.as_ref(), accounts_t).await.unwrap();
    let during = done.load(Ordering::SeqCst) - during_start;
    assert_eq!(
        balance(&accounts),
        500 + ledger_sum(&ledger),
        "the snapshot mixes two instants"
    );
    assert_eq!(
        snap.info().warnings.is_empty(),
        wal,
        "{:?}",
        snap.info().warnings
    );

    // the restored copy is the same instant
    let copy = dir.path().join("copy.db");
    restore_snapshot(
        snap.as_ref(),
        &SqliteTarget::new(&copy),
        RestoreMode::Replace,
        true,
    )
    .await
    .unwrap();
    snap.close().await.unwrap();
    let after_close = done.load(Ordering::SeqCst);
    if wal {
        assert!(
            during >= 5,
            "in WAL mode the writer keeps committing ({during})"
        );
    } else {
        assert!(
            during <= 1,
            "a rollback-journal writer waits for the reader ({during})"
        );
    }
    // writers go on once the backup is over
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while done.load(Ordering::SeqCst) < after_close + 5 {
        assert!(std::time::Instant::now() < deadline, "the writer is stuck");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::SeqCst);
    thread.join().unwrap();

    let conn = Connection::open(&copy).unwrap();
    let (b, s): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT balance FROM accounts WHERE id = 1), (SELECT sum(amount) FROM ledger)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(b, 500 + s);
    assert_eq!(b, balance(&accounts));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_snapshot_is_consistent_under_writes() {
    snapshot_is_consistent(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_journal_snapshot_is_consistent_under_writes() {
    snapshot_is_consistent(false).await;
}
