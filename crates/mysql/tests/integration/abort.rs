//! An abandoned restore leaves the target as it was.

use tokio::sync::mpsc;
use tresor_core::{Connector, ReadOptions, RestoreMode};
use tresor_mysql::MysqlConnector;

use super::support::{TestDb, backup, plan, restore, wait_for_tables};

async fn shop() -> TestDb {
    let db = TestDb::new().await;
    db.exec(&[
        "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(20))",
        "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, \
         FOREIGN KEY (customer_id) REFERENCES customers (id))",
        "INSERT INTO customers SELECT seq, CONCAT('c', seq) FROM seq_1_to_3000",
        "INSERT INTO orders SELECT seq, seq FROM seq_1_to_3000",
    ])
    .await;
    db
}

/// Begins a restore, loads the first table fully and the second one
/// partly, then drops the session (as a killed task or a failed row stream
/// would).
async fn abandon(url: &str, src: &TestDb, mode: RestoreMode) {
    let b = backup(&src.url, &ReadOptions::default()).await;
    let target = MysqlConnector.target(url).expect("target");
    let plan = plan(&b.schema, mode);
    let mut session = target.begin(&plan).await.expect("begin");
    let (first, rows) = b
        .data
        .iter()
        .find(|(t, _)| t.name == plan.tables[0])
        .expect("first");
    let (tx, rx) = mpsc::channel(4);
    let feed = async move {
        for c in rows.chunks(100) {
            tx.send(c.to_vec()).await.expect("send");
        }
    };
    let (n, ()) = tokio::join!(session.load_table(first, rx), feed);
    n.expect("load");
    let (second, rows) = b
        .data
        .iter()
        .find(|(t, _)| t.name == plan.tables[1])
        .expect("second");
    let (tx, rx) = mpsc::channel(4);
    // the row stream fails halfway: the sender goes away early
    let half = rows[..rows.len() / 2].to_vec();
    let feed = async move {
        for c in half.chunks(100) {
            tx.send(c.to_vec()).await.expect("send");
        }
    };
    let (n, ()) = tokio::join!(session.load_table(second, rx), feed);
    n.expect("partial load");
    drop(session);
}

#[tokio::test]
async fn dropped_session_leaves_an_empty_database_empty() {
    let src = shop().await;
    let dst = TestDb::new().await;
    let before = dst.dump();
    abandon(&dst.url, &src, RestoreMode::Replace).await;
    wait_for_tables(&dst, &[]).await;
    assert_eq!(before, dst.dump());
    src.drop_now().await;
    dst.drop_now().await;
}

#[tokio::test]
async fn dropped_session_leaves_a_new_database_absent() {
    let src = shop().await;
    let dst = TestDb::named();
    abandon(&dst.url, &src, RestoreMode::Replace).await;
    for _ in 0..100 {
        let state = MysqlConnector
            .target(&dst.url)
            .expect("target")
            .inspect()
            .await
            .expect("inspect");
        if !state.exists {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let state = MysqlConnector
        .target(&dst.url)
        .expect("target")
        .inspect()
        .await
        .expect("inspect");
    assert!(!state.exists, "the restore's database is gone");
    src.drop_now().await;
}

#[tokio::test]
async fn dropped_session_leaves_existing_data_unchanged() {
    let src = shop().await;
    // the target holds an older version of the same tables
    let dst = shop().await;
    dst.exec(&[
        "DELETE FROM orders WHERE id > 10",
        "UPDATE customers SET name = 'old'",
    ])
    .await;
    let before = dst.dump();
    abandon(&dst.url, &src, RestoreMode::Replace).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(before, dst.dump());
    abandon(&dst.url, &src, RestoreMode::Merge).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(before, dst.dump());
    // and a full restore afterwards works
    let b = backup(&src.url, &ReadOptions::default()).await;
    restore(&dst.url, &b, RestoreMode::Replace).await;
    assert_eq!(src.dump(), dst.dump());
    src.drop_now().await;
    dst.drop_now().await;
}

#[tokio::test]
async fn explicit_rollback_and_orphans_of_killed_restores() {
    let src = shop().await;
    let dst = TestDb::new().await;
    // a work table left by a killed restore (its lock is free)
    dst.exec(&["CREATE TABLE __tresor_deadbeef_0_customers (id INT)"])
        .await;
    let target = MysqlConnector.target(&dst.url).expect("target");
    let state = target.inspect().await.expect("inspect");
    assert!(state.tables.is_empty(), "work tables are not reported");
    let b = backup(&src.url, &ReadOptions::default()).await;
    let session = target
        .begin(&plan(&b.schema, RestoreMode::Replace))
        .await
        .expect("begin");
    assert_eq!(
        dst.tables().await.len(),
        2,
        "orphan dropped, two work tables"
    );
    session.rollback().await.expect("rollback");
    wait_for_tables(&dst, &[]).await;
    src.drop_now().await;
    dst.drop_now().await;
}
