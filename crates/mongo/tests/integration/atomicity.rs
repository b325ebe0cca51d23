//! A failed or killed restore leaves the target as it was, on both paths
//! (one transaction, temporary collections).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use mongodb::bson::{Document, doc};
use tokio::sync::mpsc;
use tresor_core::{
    Connector, RestoreMode, RestorePlan, Row, RowBatch, TableFilter, TableName, TableSchema, Value,
    rows_same,
};
use tresor_mongo::MongoConnector;
use tresor_testing::{Contents, Harness, Step, read_database};

use super::harness::MongoHarness;
use super::server::TestServer;

/// Environment variable that turns `child_restore_for_kill_test` into a
/// restore that never ends: `<source url> <target url> <padding bytes>`.
const CHILD_ENV: &str = "TRESOR_MONGO_KILL_CHILD";

fn plan_for(schema: &tresor_core::DatabaseSchema) -> RestorePlan {
    RestorePlan::of_all(schema.clone(), RestoreMode::Replace)
}

fn same(before: &Contents, after: &Contents) -> anyhow::Result<()> {
    let names = |c: &Contents| c.tables.keys().cloned().collect::<Vec<_>>();
    ensure!(
        names(before) == names(after),
        "collections {:?} became {:?}",
        names(before),
        names(after)
    );
    for (name, rows) in &before.tables {
        let other = after.rows(name);
        ensure!(
            rows.len() == other.len() && rows.iter().zip(other).all(|(a, b)| rows_same(a, b)),
            "collection {name} changed ({} documents before, {} after)",
            rows.len(),
            other.len()
        );
    }
    Ok(())
}

fn table<'a>(c: &'a Contents, name: &str) -> anyhow::Result<&'a TableSchema> {
    c.schema
        .table(&TableName::new(name))
        .ok_or_else(|| anyhow!("no {name}"))
}

/// A customer document row with a fresh key.
fn customer(id: i32, name: Option<&str>, padding: usize) -> Row {
    let mut d =
        doc! { "_id": id, "email": format!("new{id}@example.com"), "pad": "p".repeat(padding) };
    if let Some(n) = name {
        d.insert("name", n);
    } else {
        d.insert("name", mongodb::bson::Bson::Null);
    }
    let bytes = d.to_vec().expect("bson");
    vec![Value::Int(i64::from(id)), Value::Document(bytes)]
}

/// Feeds `rows` into `table` of a new session on `url` (in two batches);
/// the load or the commit must fail. Returns the session's error text.
async fn must_fail(
    url: &str,
    plan: &RestorePlan,
    table: &TableSchema,
    rows: Vec<Row>,
) -> anyhow::Result<String> {
    let target = MongoConnector.target(url)?;
    let mut session = target.begin(plan).await?;
    let (tx, rx) = mpsc::channel(2);
    let mut rows = rows;
    let tail = rows.split_off(rows.len() / 2);
    tx.send(rows).await?;
    tx.send(tail).await?;
    drop(tx);
    match session.load_table(table, rx).await {
        Err(e) => Ok(e.to_string()),
        Ok(_) => match session.commit().await {
            Err(e) => Ok(e.to_string()),
            Ok(s) => bail!("a broken stream was committed: {s:?}"),
        },
    }
}

/// No temporary collection is left (they are dropped in the background
/// when a session is dropped).
async fn no_temporaries(h: &MongoHarness, url: &str) -> anyhow::Result<()> {
    let db = url
        .split('?')
        .next()
        .unwrap_or(url)
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let client = h.server.client().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let names = client.database(&db).list_collection_names().await?;
        let left: Vec<_> = names
            .iter()
            .filter(|n| n.starts_with("__tresor_tmp_"))
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "temporary collections left behind: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn failures_leave_target_unchanged(h: &MongoHarness) -> anyhow::Result<()> {
    let src = h.create_database().await?;
    let dst = h.create_database().await?;
    let r = async {
        for (url, n) in [(&src, 10), (&dst, 15)] {
            h.run(url, &Step::CreateShop).await?;
            h.run(url, &Step::FillShop { customers: n }).await?;
        }
        h.run(
            &dst,
            &Step::RenameCustomer {
                id: 2,
                name: "keep me".into(),
            },
        )
        .await?;
        let snapshot = read_database(&MongoConnector, &src, &TableFilter::all()).await?;
        let plan = plan_for(&snapshot.schema);
        let customers = table(&snapshot, "customers")?;
        let orders = table(&snapshot, "orders")?;
        let before = read_database(&MongoConnector, &dst, &TableFilter::all()).await?;

        // one transaction: a row one value short after good rows
        let mut rows = snapshot.rows("orders").to_vec();
        let mut short = rows[0].clone();
        short.pop();
        rows.push(short);
        let e = must_fail(&dst, &plan, orders, rows).await?;
        ensure!(e.contains("values"), "{e}");
        same(
            &before,
            &read_database(&MongoConnector, &dst, &TableFilter::all()).await?,
        )
        .with_context(|| format!("after a short row ({e})"))?;

        // one transaction: a document the validator refuses (name null)
        let mut rows = snapshot.rows("customers").to_vec();
        rows.push(customer(1_000_000, None, 0));
        let e = must_fail(&dst, &plan, customers, rows).await?;
        same(
            &before,
            &read_database(&MongoConnector, &dst, &TableFilter::all()).await?,
        )
        .with_context(|| format!("after a document that fails validation ({e})"))?;

        // temporary collections: 20 MiB of good documents (more than one
        // transaction takes), then one the validator refuses
        let mut rows: Vec<Row> = (0..40)
            .map(|i| customer(2_000_000 + i, Some("big"), 512 * 1024))
            .collect();
        rows.push(customer(3_000_000, None, 0));
        let e = must_fail(&dst, &plan, customers, rows).await?;
        same(
            &before,
            &read_database(&MongoConnector, &dst, &TableFilter::all()).await?,
        )
        .with_context(|| format!("after a failure on temporary collections ({e})"))?;
        no_temporaries(h, &dst).await?;

        // and the same big load, committed, reports the path it took
        let rows: Vec<Row> = (0..40)
            .map(|i| customer(2_000_000 + i, Some("big"), 512 * 1024))
            .collect();
        let target = MongoConnector.target(&dst)?;
        let mut session = target.begin(&plan).await?;
        let (tx, rx) = mpsc::channel(1);
        tx.send(rows).await?;
        drop(tx);
        session.load_table(customers, rx).await?;
        let summary = session.commit().await?;
        ensure!(
            summary.method.starts_with("temporary collections")
                && summary.method.contains("16 MiB"),
            "{summary:?}"
        );
        no_temporaries(h, &dst).await?;
        let state = target.inspect().await?;
        let n = state.table(&TableName::new("customers")).map(|t| t.rows);
        ensure!(n == Some(40), "customers after the big restore: {n:?}");
        Ok(())
    }
    .await;
    h.drop_database(&src).await?;
    h.drop_database(&dst).await?;
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secantus_failures_leave_target_unchanged() {
    let h = MongoHarness::new(TestServer::secantus().await).await;
    failures_leave_target_unchanged(&h).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongod_failures_leave_target_unchanged() {
    let Some(server) = TestServer::mongod("mongod_failures_leave_target_unchanged").await else {
        return;
    };
    let h = MongoHarness::new(server).await;
    failures_leave_target_unchanged(&h).await.unwrap();
}

/// Runs a restore that never finishes when `TRESOR_MONGO_KILL_CHILD` is
/// set (the kill test starts this binary for it); does nothing otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_restore_for_kill_test() {
    let Ok(args) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = args.split(' ');
    let (src, dst, padding, marker) = (
        parts.next().expect("src"),
        parts.next().expect("dst"),
        parts
            .next()
            .and_then(|p| p.parse::<usize>().ok())
            .expect("padding"),
        parts.next().expect("marker"),
    );
    let snapshot = read_database(&MongoConnector, src, &TableFilter::all())
        .await
        .expect("read");
    let plan = plan_for(&snapshot.schema);
    let customers = table(&snapshot, "customers").expect("customers").clone();
    let target = MongoConnector.target(dst).expect("target");
    let mut session = target.begin(&plan).await.expect("begin");
    let (tx, rx) = mpsc::channel::<RowBatch>(1);
    let marker = marker.to_string();
    tokio::spawn(async move {
        let mut id = 5_000_000;
        let mut sent = 0usize;
        loop {
            let batch: RowBatch = (0..256)
                .map(|_| {
                    id += 1;
                    customer(id, Some("never committed"), padding)
                })
                .collect();
            if tx.send(batch).await.is_err() {
                return;
            }
            sent += 1;
            if sent == 40 {
                std::fs::write(&marker, b"loading").expect("marker");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let _ = session.load_table(&customers, rx).await;
    unreachable!("the restore was meant to be killed");
}

/// Kills a process in the middle of a restore (`padding` per document
/// decides the path: small documents stay in the transaction, big ones
/// move to temporary collections); the target is unchanged.
async fn killed_restore(h: &MongoHarness, padding: usize) -> anyhow::Result<()> {
    let src = h.create_database().await?;
    let dst = h.create_database().await?;
    let dir = tempfile::tempdir()?;
    let marker = dir.path().join("marker");
    let r = async {
        for (url, n) in [(&src, 5), (&dst, 12)] {
            h.run(url, &Step::CreateShop).await?;
            h.run(url, &Step::FillShop { customers: n }).await?;
        }
        let before = read_database(&MongoConnector, &dst, &TableFilter::all()).await?;
        let state_before = MongoConnector.target(&dst)?.inspect().await?;
        let mut child = Command::new(std::env::current_exe()?)
            .args([
                "--exact",
                "integration::atomicity::child_restore_for_kill_test",
                "--nocapture",
            ])
            .env(
                CHILD_ENV,
                format!("{src} {dst} {padding} {}", marker.display()),
            )
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while !marker.exists() {
            if let Some(status) = child.try_wait()? {
                bail!("the restoring process ended by itself: {status}");
            }
            ensure!(
                Instant::now() < deadline,
                "the restoring process never got going"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        child.kill()?;
        child.wait()?;

        let after = read_database(&MongoConnector, &dst, &TableFilter::all()).await?;
        same(&before, &after).context("the killed restore changed the target")?;
        let state_after = MongoConnector.target(&dst)?.inspect().await?;
        ensure!(
            state_before == state_after,
            "{state_before:?} became {state_after:?}"
        );
        let db = dst
            .split('?')
            .next()
            .unwrap_or(&dst)
            .rsplit('/')
            .next()
            .unwrap_or_default();
        let client = h.server.client().await;
        let names = client.database(db).list_collection_names().await?;
        let tmps = names
            .iter()
            .filter(|n| n.starts_with("__tresor_tmp_"))
            .count();
        if padding == 0 {
            // the killed transaction stays open on the server until its
            // lifetime runs out (60 s on mongod; SecantusDB spins on any
            // write that conflicts with it): nothing more to do here
            return Ok(());
        }
        ensure!(
            tmps > 0,
            "expected the killed restore to be on temporary collections: {names:?}"
        );
        // the next restore clears what the killed one left behind
        let snapshot = read_database(&MongoConnector, &src, &TableFilter::all()).await?;
        let plan = plan_for(&snapshot.schema);
        let session = MongoConnector.target(&dst)?.begin(&plan).await?;
        session.rollback().await?;
        let names = client.database(db).list_collection_names().await?;
        ensure!(
            !names.iter().any(|n| n.starts_with("__tresor_tmp_")),
            "leftover temporaries not cleared: {names:?}"
        );
        let _ = client
            .database(db)
            .collection::<Document>("customers")
            .count_documents(doc! {})
            .await?;
        Ok(())
    }
    .await;
    if padding > 0 || h.server.real {
        // (after a killed transaction mongod waits for its lifetime to
        // run out; SecantusDB never gets over it, so its databases go with
        // the throwaway server)
        let _ = h.drop_database(&src).await;
        let _ = h.drop_database(&dst).await;
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secantus_killed_restore_leaves_target_unchanged() {
    // one server per case: SecantusDB stays stuck on a killed transaction
    let h = MongoHarness::new(TestServer::secantus().await).await;
    killed_restore(&h, 4096)
        .await
        .context("on temporary collections")
        .unwrap();
    let h = MongoHarness::new(TestServer::secantus().await).await;
    killed_restore(&h, 0)
        .await
        .context("in a transaction")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongod_killed_restore_leaves_target_unchanged() {
    let Some(server) = TestServer::mongod("mongod_killed_restore_leaves_target_unchanged").await
    else {
        return;
    };
    let h = MongoHarness::new(server).await;
    killed_restore(&h, 0)
        .await
        .context("in a transaction")
        .unwrap();
    killed_restore(&h, 4096)
        .await
        .context("on temporary collections")
        .unwrap();
}
