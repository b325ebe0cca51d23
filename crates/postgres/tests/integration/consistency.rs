//! One instant for the whole backup, also with parallel worker
//! connections, while a writer keeps two tables in balance.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tresor_core::{ReadOptions, RestoreMode};

use super::common::{TestDb, copy_database};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_backup_sees_one_instant() {
    let src = TestDb::create().await;
    src.exec(
        "CREATE TABLE debit (id integer PRIMARY KEY, v bigint NOT NULL);
         CREATE TABLE credit (id integer PRIMARY KEY, v bigint NOT NULL);
         CREATE TABLE debit_log (n bigint PRIMARY KEY);
         CREATE TABLE credit_log (n bigint PRIMARY KEY);
         CREATE TABLE filler (id integer PRIMARY KEY, t text);
         INSERT INTO debit VALUES (1, 0); INSERT INTO credit VALUES (1, 0);
         INSERT INTO filler SELECT i, repeat('x', 100) FROM generate_series(1, 200000) i;",
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, commits) = (Arc::clone(&stop), Arc::clone(&commits));
        let client = src.client().await;
        tokio::spawn(async move {
            let mut n: i64 = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                client.execute("SELECT 1", &[]).await.expect("ping");
                client
                    .batch_execute(&format!(
                        "BEGIN; UPDATE debit SET v = v + 1; INSERT INTO debit_log VALUES ({n});
                         UPDATE credit SET v = v - 1; INSERT INTO credit_log VALUES ({n}); COMMIT;"
                    ))
                    .await
                    .expect("transfer");
                commits.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    // let the writer get going
    while commits.load(Ordering::SeqCst) < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let dst = TestDb::unborn();
    let before = commits.load(Ordering::SeqCst);
    copy_database(
        &src.url(),
        &dst.url(),
        RestoreMode::Replace,
        ReadOptions {
            jobs: 4,
            ..Default::default()
        },
    )
    .await
    .expect("copy");
    let during = commits.load(Ordering::SeqCst) - before;
    stop.store(true, Ordering::SeqCst);
    writer.await.expect("writer");
    assert!(during > 0, "the writer committed nothing during the backup");

    let c = dst.client().await;
    let row = c
        .query_one(
            "SELECT (SELECT v FROM debit) + (SELECT v FROM credit), \
                    (SELECT count(*) FROM debit_log), (SELECT count(*) FROM credit_log), \
                    (SELECT v FROM debit), (SELECT count(*) FROM filler)",
            &[],
        )
        .await
        .expect("query");
    let (sum, dl, cl, dv, filler): (i64, i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    assert_eq!(sum, 0, "debit and credit out of balance");
    assert_eq!(dl, cl, "logs out of step");
    assert_eq!(dl, dv, "log and balance out of step");
    assert_eq!(filler, 200_000);
}

/// A migration holds a table (`ALTER TABLE` in a transaction left open):
/// the backup waits for it a second at a time, and after its `lock_wait`
/// gives up having read nothing, naming the session and what it ran,
/// while the application's reads of that table's neighbours go on. Once
/// the migration commits, the backup reads its new definition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_holding_a_table_stops_the_backup_in_time() {
    use std::time::{Duration, Instant};

    use tresor_core::{Connector, ErrorKind};

    let src = TestDb::create().await;
    src.exec(
        "CREATE TABLE users (id integer PRIMARY KEY, name text);
         CREATE TABLE notes (id integer PRIMARY KEY, body text);
         INSERT INTO users VALUES (1, 'ana'); INSERT INTO notes VALUES (1, 'hi');",
    )
    .await;
    let migration = src.client().await;
    migration
        .batch_execute(
            "SET application_name = 'migrate'; BEGIN; ALTER TABLE users ADD COLUMN email text",
        )
        .await
        .expect("the migration");
    let source = tresor_postgres::PostgresConnector
        .source(&src.url())
        .expect("source");
    let read = ReadOptions {
        lock_wait: Duration::from_secs(2),
        ..ReadOptions::default()
    };
    let started = Instant::now();
    let Err(err) = source.open(&read).await else {
        panic!("the backup read a table a migration holds")
    };
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(
            "the backup waited 2s for other sessions to let go of table public.users, and read nothing"
        ),
        "{text}"
    );
    assert!(
        text.contains("(migrate, user postgres) holds public.users: idle in transaction for ")
            && !text.contains("for 0s")
            && text.contains("ALTER TABLE users ADD COLUMN email text"),
        "{text}"
    );
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("pg_terminate_backend(") && h.contains("--lock-wait")),
        "{:?}",
        err.hint()
    );
    // the other tables answer meanwhile, and once the migration is done
    // the backup goes through and sees it
    let app = src.client().await;
    app.batch_execute("SET statement_timeout = '2s'; SELECT * FROM notes")
        .await
        .expect("the application's read");
    migration.batch_execute("COMMIT").await.expect("commit");
    let snap = source
        .open(&read)
        .await
        .expect("the backup after the migration");
    let users = snap
        .schema()
        .tables
        .iter()
        .find(|t| t.name.name == "users")
        .expect("users");
    assert!(users.column("email").is_some());
    snap.close().await.expect("close");
}
