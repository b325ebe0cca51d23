//! A backup taken while another connection writes restores to one instant.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mysql_async::prelude::Queryable;
use tresor_core::{ReadOptions, Value};

use super::support::{TestDb, backup};

fn balance_sum(rows: &[Vec<Value>]) -> i64 {
    rows.iter()
        .map(|r| match r[1] {
            Value::Int(i) => i,
            ref other => panic!("balance {other:?}"),
        })
        .sum()
}

async fn balanced_pair_stays_balanced(options: ReadOptions) -> Vec<String> {
    let db = TestDb::new().await;
    db.exec(&[
        "CREATE TABLE left_side (id INT PRIMARY KEY, balance BIGINT NOT NULL)",
        "CREATE TABLE right_side (id INT PRIMARY KEY, balance BIGINT NOT NULL)",
        "INSERT INTO left_side SELECT seq, 500 FROM seq_1_to_2000",
        "INSERT INTO right_side SELECT seq, 500 FROM seq_1_to_2000",
    ])
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = db.conn().await;
    let flag = stop.clone();
    let writes = tokio::spawn(async move {
        let mut n: i64 = 0;
        while !flag.load(Ordering::Relaxed) {
            n += 1;
            let id = n % 2000 + 1;
            let amount = n % 97 - 40;
            let mut tx = writer
                .start_transaction(Default::default())
                .await
                .expect("tx");
            tx.exec_drop(
                "UPDATE left_side SET balance = balance - ? WHERE id = ?",
                (amount, id),
            )
            .await
            .expect("debit");
            tx.exec_drop(
                "UPDATE right_side SET balance = balance + ? WHERE id = ?",
                (amount, id),
            )
            .await
            .expect("credit");
            tx.commit().await.expect("commit");
        }
        n
    });
    let mut warnings = Vec::new();
    for _ in 0..5 {
        let b = backup(&db.url, &options).await;
        let total: i64 = b.data.iter().map(|(_, rows)| balance_sum(rows)).sum();
        assert_eq!(total, 2 * 2000 * 500, "one instant");
        warnings = b.info.warnings.clone();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let n = writes.await.expect("writer");
    assert!(n > 5, "the writer kept writing ({n} transfers)");
    db.drop_now().await;
    warnings
}

#[tokio::test]
async fn one_connection_sees_one_instant() {
    let w = balanced_pair_stays_balanced(ReadOptions::default()).await;
    assert!(w.is_empty(), "{w:?}");
}

#[tokio::test]
async fn parallel_connections_share_the_instant_under_a_global_lock() {
    let mut options = ReadOptions {
        jobs: 3,
        ..ReadOptions::default()
    };
    options
        .options
        .insert("allow-global-lock".into(), "true".into());
    let w = balanced_pair_stays_balanced(options).await;
    assert!(w.is_empty(), "{w:?}");
}

#[tokio::test]
async fn parallel_without_permission_falls_back_to_one_connection() {
    let options = ReadOptions {
        jobs: 4,
        ..ReadOptions::default()
    };
    let w = balanced_pair_stays_balanced(options).await;
    assert!(w.iter().any(|w| w.contains("allow-global-lock")), "{w:?}");
}

/// A session holding a table for a schema change (`LOCK TABLES ...
/// WRITE`, as a migration tool or an `ALTER TABLE` does) stops the
/// backup's read of it after the backup's `lock_wait` (MariaDB's own
/// default is a year), with a conflict that says what to do; once the
/// session lets go, the backup reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_table_stops_the_backup_in_time() {
    use std::time::{Duration, Instant};

    use tresor_core::{Connector, ErrorKind};

    let db = TestDb::new().await;
    db.exec(&[
        "CREATE TABLE users (id INT PRIMARY KEY, name TEXT)",
        "INSERT INTO users VALUES (1, 'ana')",
    ])
    .await;
    let mut migration = db.conn().await;
    migration
        .query_drop("LOCK TABLES users WRITE")
        .await
        .expect("lock");
    let read = ReadOptions {
        lock_wait: Duration::from_secs(2),
        ..ReadOptions::default()
    };
    let started = Instant::now();
    let tried = async {
        let source = tresor_mysql::MysqlConnector.source(&db.url)?;
        let snap = source.open(&read).await?;
        let users = snap.schema().tables[0].clone();
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let drain = async { while rx.recv().await.is_some() {} };
        let (n, ()) = tokio::join!(snap.read_table(&users, tx), drain);
        n
    }
    .await;
    let Err(err) = tried else {
        panic!("the backup read a table another session holds")
    };
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(
        err.hint().is_some_and(|h| h.contains("--lock-wait")),
        "{err}: {:?}",
        err.hint()
    );
    migration.query_drop("UNLOCK TABLES").await.expect("unlock");
    let b = backup(&db.url, &read).await;
    assert_eq!(b.data[0].1.len(), 1);
    db.drop_now().await;
}
