//! The shared conformance suite (`tresor-testing`) on MongoDB.
//!
//! Every scenario runs; the three that cannot apply to documents
//! (`failure_mid_restore_leaves_target_unchanged`,
//! `consistent_snapshot_under_writes`, `merge_without_key_adds_missing_rows`) are
//! skipped in `tresor_testing::SKIPS`, which says why. The MongoDB form of
//! the snapshot scenario is [`snapshot_under_writes`] below.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, ensure};
use mongodb::bson::RawDocument;
use tresor_core::{Connector, ReadOptions, RestoreMode, Row, TableName, Value};
use tresor_mongo::MongoConnector;
use tresor_testing::{Harness, Step};

use super::harness::MongoHarness;
use super::server::TestServer;

tresor_testing::conformance!(
    one secantus_conformance,
    "mongodb",
    MongoHarness::new(TestServer::secantus().await).await
);

tresor_testing::conformance!(one mongod_conformance, "mongodb", {
    let Some(server) = TestServer::mongod("mongod_conformance").await else {
        return;
    };
    MongoHarness::new(server).await
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongod_snapshot_under_writes() {
    let Some(server) = TestServer::mongod("mongod_snapshot_under_writes").await else {
        return;
    };
    let h = MongoHarness::new(server).await;
    snapshot_under_writes(&h).await.unwrap();
}

/// The balance of each account document, in key order.
fn balances(rows: &[Row]) -> anyhow::Result<Vec<i64>> {
    rows.iter()
        .map(|r| match &r[1] {
            Value::Document(b) => Ok(RawDocument::from_bytes(b)?.get_i64("balance")?),
            other => Err(anyhow!("not a document: {other:?}")),
        })
        .collect()
}

/// `consistent_snapshot_under_writes` for documents: while a writer moves
/// money between two accounts in transactions, one snapshot reads the
/// same balances before and after a slow read of another collection, and
/// they sum to 1000.
async fn snapshot_under_writes(h: &MongoHarness) -> anyhow::Result<()> {
    let src = h.create_database().await?;
    let r = async {
        h.run(&src, &Step::CreateShop).await?;
        h.run(&src, &Step::FillShop { customers: 300 }).await?;
        h.run(&src, &Step::FillAccounts).await?;
        let stop = AtomicBool::new(false);
        let done = AtomicU64::new(0);
        let writer = async {
            let mut i = 0i64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                if h.run(
                    &src,
                    &Step::Transfer {
                        amount: (i % 11) - 5,
                    },
                )
                .await
                .is_ok()
                {
                    done.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        let reader = async {
            let r = async {
                let snap = MongoConnector
                    .source(&src)?
                    .open(&ReadOptions::default())
                    .await?;
                ensure!(
                    snap.info().consistency.contains("cluster time"),
                    "no snapshot: {:?}",
                    snap.info()
                );
                let accounts = snap
                    .schema()
                    .table(&TableName::new("accounts"))
                    .ok_or_else(|| anyhow!("no accounts"))?
                    .clone();
                let first = tresor_testing::read_rows(snap.as_ref(), &accounts).await?;
                let start = done.load(Ordering::SeqCst);
                let deadline = Instant::now() + Duration::from_secs(20);
                while done.load(Ordering::SeqCst) < start + 5 {
                    ensure!(Instant::now() < deadline, "the writer made no progress");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let customers = snap
                    .schema()
                    .table(&TableName::new("customers"))
                    .ok_or_else(|| anyhow!("no customers"))?
                    .clone();
                tresor_testing::read_rows(snap.as_ref(), &customers).await?;
                let last = tresor_testing::read_rows(snap.as_ref(), &accounts).await?;
                let (b1, b2) = (balances(&first)?, balances(&last)?);
                ensure!(
                    b1 == b2,
                    "the snapshot saw concurrent writes: {b1:?} then {b2:?}"
                );
                ensure!(
                    b1.iter().sum::<i64>() == 1000,
                    "balances {b1:?} do not sum to 1000"
                );
                snap.close().await?;
                Ok(())
            }
            .await;
            stop.store(true, Ordering::SeqCst);
            r
        };
        let ((), r) = tokio::join!(writer, reader);
        r
    }
    .await;
    h.drop_database(&src).await?;
    r.context("snapshot under writes")
}

/// On SecantusDB (a single-node replica set as far as the driver knows)
/// the source takes the snapshot path and reports its cluster time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secantus_snapshot_reports_cluster_time() {
    let h = MongoHarness::new(TestServer::secantus().await).await;
    let src = h.create_database().await.unwrap();
    h.run(&src, &Step::CreateShop).await.unwrap();
    h.run(&src, &Step::FillAccounts).await.unwrap();
    let snap = MongoConnector
        .source(&src)
        .unwrap()
        .open(&ReadOptions::default())
        .await
        .unwrap();
    let info = snap.info().clone();
    snap.close().await.unwrap();
    h.drop_database(&src).await.unwrap();
    assert!(info.consistency.contains("cluster time"), "{info:?}");
    assert!(info.warnings.is_empty(), "{info:?}");
    assert!(!info.server_version.is_empty(), "{info:?}");
}

/// A standalone server has neither snapshot reads nor transactions: the
/// backup says so, the restore takes temporary collections, and the data
/// still arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secantus_standalone_falls_back() {
    let h = MongoHarness::new(TestServer::secantus_with("--standalone").await).await;
    let src = h.create_database().await.unwrap();
    let dst = h.create_database().await.unwrap();
    h.run(&src, &Step::CreateShop).await.unwrap();
    h.run(&src, &Step::FillShop { customers: 20 })
        .await
        .unwrap();
    let snap = MongoConnector
        .source(&src)
        .unwrap()
        .open(&ReadOptions::default())
        .await
        .unwrap();
    let info = snap.info().clone();
    snap.close().await.unwrap();
    assert!(info.consistency.contains("no snapshot"), "{info:?}");
    assert!(
        info.warnings.iter().any(|w| w.contains("standalone")),
        "{info:?}"
    );
    let filter = tresor_core::TableFilter::all();
    let summary =
        tresor_testing::copy_database(&MongoConnector, &src, &dst, RestoreMode::Replace, &filter)
            .await
            .unwrap();
    assert!(
        summary.method.starts_with("temporary collections")
            && summary.method.contains("standalone"),
        "{summary:?}"
    );
    tresor_testing::compare_databases(&MongoConnector, &src, &dst, &filter)
        .await
        .unwrap();
    h.drop_database(&src).await.unwrap();
    h.drop_database(&dst).await.unwrap();
}
