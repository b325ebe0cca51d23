//! Scenarios of reading: key order and batches, table filters, one
//! consistent snapshot while writers change the database.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure};
use tokio::sync::mpsc;
use tresor_core::{
    BATCH_ROWS, ReadOptions, RestoreMode, Row, TableFilter, TableName, TableSchema, Value,
    compare_keys, rows_same,
};

use super::{Dbs, fill, only, rename, table, table_names};
use crate::compare::{
    compare_databases, copy_database, format_row, read_database, read_rows, restore_snapshot,
};
use crate::{Harness, Step};

/// Rows arrive in strictly increasing key order, in non-empty batches of
/// at most [`BATCH_ROWS`] rows, each row as wide as the stored columns; the
/// encoded read a backup uses sends the same rows, byte for byte their
/// values' encoding.
///
/// # Errors
/// The first violation.
pub async fn key_order_and_batches(h: &dyn Harness) -> anyhow::Result<()> {
    let mut dbs = Dbs::new(h);
    let r = key_order_in(h, &mut dbs).await;
    dbs.finish(r).await
}

async fn key_order_in(h: &dyn Harness, dbs: &mut Dbs<'_>) -> anyhow::Result<()> {
    let c = h.connector();
    // deletes and renames shuffle physical order in some engines
    let src = dbs
        .shop(&[
            fill(1500),
            rename(700, "moved"),
            Step::DeleteCustomer { id: 3 },
            rename(1, "first"),
        ])
        .await?;
    let source = c.source(&src)?;
    let snap = source.open(&ReadOptions::default()).await?;
    let mut multi_batch = false;
    for t in &snap.schema().tables {
        let width = t.stored_columns().count();
        let keys = t.key_positions();
        if t.name.name == "customers" || t.name.name == "orders" {
            ensure!(
                keys.is_some(),
                "table {} has a primary key but no usable row key: {:?}",
                t.name,
                t.row_key
            );
        }
        let (tx, mut rx) = mpsc::channel::<tresor_core::RowBatch>(4);
        let mut encoded = tresor_core::EncodedBatch::default();
        let check = async {
            let mut last: Option<Vec<Value>> = None;
            let mut batches = 0usize;
            let mut rows = 0u64;
            let mut scratch = Vec::new();
            while let Some(batch) = rx.recv().await {
                batches += 1;
                ensure!(!batch.is_empty(), "table {}: empty batch", t.name);
                ensure!(
                    batch.len() <= BATCH_ROWS,
                    "table {}: batch of {} rows exceeds {BATCH_ROWS}",
                    t.name,
                    batch.len()
                );
                for row in batch {
                    rows += 1;
                    encoded.push(&row, &mut scratch);
                    ensure!(
                        row.len() == width,
                        "table {}: row {rows} has {} values, expected {width}",
                        t.name,
                        row.len()
                    );
                    if let Some(pos) = &keys {
                        let key: Vec<Value> = pos.iter().map(|&i| row[i].clone()).collect();
                        if let Some(prev) = &last {
                            ensure!(
                                compare_keys(prev, &key) == std::cmp::Ordering::Less,
                                "table {}: row {rows} key {} does not follow {}",
                                t.name,
                                format_row(&key),
                                format_row(prev)
                            );
                        }
                        last = Some(key);
                    }
                }
            }
            Ok((batches, rows))
        };
        let (count, checked) = tokio::join!(snap.read_table(t, tx), check);
        let (batches, rows) = checked?;
        let count = count?;
        ensure!(
            count == rows,
            "table {}: read_table reported {count} rows, sent {rows}",
            t.name
        );
        // what a backup reads: the same rows, encoded as the values are
        let (tx, mut rx) = mpsc::channel::<tresor_core::EncodedBatch>(4);
        let gather = async {
            let mut all = Vec::new();
            while let Some(batch) = rx.recv().await {
                for row in batch.iter() {
                    all.push(
                        row.map_err(|e| anyhow!("table {}: bad encoded row: {e}", t.name))?
                            .to_vec(),
                    );
                }
            }
            anyhow::Ok(all)
        };
        let (count, gathered) = tokio::join!(snap.read_table_encoded(t, tx), gather);
        let gathered = gathered?;
        ensure!(
            count? == rows && gathered.len() as u64 == rows,
            "table {}: read_table_encoded sent {} rows, read_table {rows}",
            t.name,
            gathered.len()
        );
        for (i, (a, b)) in encoded.iter().zip(&gathered).enumerate() {
            let a = a.map_err(|e| anyhow!("table {}: {e}", t.name))?;
            ensure!(
                a == &b[..],
                "table {}: row {} is encoded differently by read_table_encoded",
                t.name,
                i + 1
            );
        }
        let expected = match t.name.name.as_str() {
            "customers" => Some(1499),
            "orders" => Some(2998),
            "events" => Some(1500),
            _ => None,
        };
        if let Some(e) = expected {
            ensure!(rows == e, "table {}: {rows} rows, expected {e}", t.name);
        }
        multi_batch |= batches > 1;
    }
    snap.close().await?;
    ensure!(multi_batch, "no table was streamed in more than one batch");
    Ok(())
}

/// Include and exclude filters choose the tables backed up and restored.
///
/// # Errors
/// A table chosen wrongly, or data that differs.
pub async fn filters_select_tables(h: &dyn Harness) -> anyhow::Result<()> {
    let mut dbs = Dbs::new(h);
    let r = async {
        let c = h.connector();
        let src = dbs.shop(&[fill(10), Step::FillAccounts]).await?;
        let filters = [
            TableFilter::new(&["customers", "orders"], &[])?,
            TableFilter::new(&[], &["events", "acc*"])?,
        ];
        for filter in &filters {
            let dst = dbs.create().await?;
            let source = c.source(&src)?;
            let snap = source
                .open(&ReadOptions {
                    filter: filter.clone(),
                    ..ReadOptions::default()
                })
                .await?;
            let mut names: Vec<String> = snap
                .schema()
                .tables
                .iter()
                .map(|t| t.name.name.clone())
                .collect();
            names.sort();
            snap.close().await?;
            ensure!(
                names == ["customers", "orders"],
                "filter {filter:?} captured {names:?}"
            );
            copy_database(c.as_ref(), &src, &dst, RestoreMode::Replace, filter).await?;
            let state = c.target(&dst)?.inspect().await?;
            ensure!(
                table_names(&state) == ["customers", "orders"],
                "filtered restore created {:?}",
                table_names(&state)
            );
            compare_databases(c.as_ref(), &src, &dst, filter).await?;
        }
        Ok(())
    }
    .await;
    dbs.finish(r).await
}

fn balance_sum(t: &TableSchema, rows: &[Row]) -> anyhow::Result<i128> {
    let pos = t
        .stored_columns()
        .position(|c| c.name == "balance")
        .ok_or_else(|| anyhow!("accounts has no balance column"))?;
    rows.iter()
        .map(|r| match &r[pos] {
            Value::Int(i) => Ok(i128::from(*i)),
            Value::UInt(u) => Ok(i128::from(*u)),
            Value::Decimal(d) => d.parse::<i128>().map_err(|e| anyhow!("balance {d}: {e}")),
            other => bail!("unexpected balance {other:?}"),
        })
        .sum()
}

/// While a writer keeps moving money between two accounts, one snapshot
/// reads the same balances at its start and its end, their sum is 1000,
/// and so it is in the database restored from that snapshot.
///
/// # Errors
/// An inconsistent snapshot, or a writer that made no progress.
pub async fn consistent_snapshot_under_writes(h: &dyn Harness) -> anyhow::Result<()> {
    let mut dbs = Dbs::new(h);
    let r = consistent_in(h, &mut dbs).await;
    dbs.finish(r).await
}

async fn consistent_in(h: &dyn Harness, dbs: &mut Dbs<'_>) -> anyhow::Result<()> {
    let c = h.connector();
    let src = dbs.shop(&[fill(300), Step::FillAccounts]).await?;
    let dst = dbs.create().await?;
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let writer = async {
        let mut i: i64 = 0;
        let mut failures = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            i += 1;
            let amount = (i % 11) - 5;
            match h.run(&src, &Step::Transfer { amount }).await {
                Ok(()) => {
                    done.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) if failures.len() < 3 => failures.push(format!("{e:#}")),
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        failures
    };
    let reader = async {
        let r = async {
            let source = c.source(&src)?;
            let snap = source.open(&ReadOptions::default()).await?;
            let accounts = snap
                .schema()
                .table(&TableName::new("accounts"))
                .ok_or_else(|| anyhow!("accounts not captured"))?
                .clone();
            let first = read_rows(snap.as_ref(), &accounts).await?;
            // let the writer commit a few transfers after the snapshot began
            let start = done.load(Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(20);
            while done.load(Ordering::SeqCst) < start + 5 {
                ensure!(
                    Instant::now() < deadline,
                    "the writer committed no transfer while the snapshot was open"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // a slow read of another table
            for t in snap
                .schema()
                .tables
                .iter()
                .filter(|t| t.name.name == "customers")
            {
                let (tx, mut rx) = mpsc::channel(1);
                let slow = async {
                    while rx.recv().await.is_some() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                };
                let (n, ()) = tokio::join!(snap.read_table(t, tx), slow);
                n?;
            }
            let last = read_rows(snap.as_ref(), &accounts).await?;
            ensure!(
                first.len() == last.len() && first.iter().zip(&last).all(|(a, b)| rows_same(a, b)),
                "the snapshot saw concurrent writes: {:?} then {:?}",
                first,
                last
            );
            let sum = balance_sum(&accounts, &first)?;
            ensure!(
                sum == 1000,
                "snapshot balances sum to {sum}, not 1000: {first:?}"
            );
            let target = c.target(&dst)?;
            restore_snapshot(snap.as_ref(), target.as_ref(), RestoreMode::Replace, true).await?;
            snap.close().await?;
            Ok(first)
        }
        .await;
        stop.store(true, Ordering::SeqCst);
        r
    };
    let (failures, first) = tokio::join!(writer, reader);
    let first = first?;
    ensure!(
        done.load(Ordering::SeqCst) >= 5,
        "the writer made no progress: {failures:?}"
    );
    let restored = read_database(c.as_ref(), &dst, &only(&["accounts"])).await?;
    let t = table(&restored, "accounts")?;
    let rows = restored.rows("accounts");
    let sum = balance_sum(t, rows)?;
    ensure!(sum == 1000, "restored balances sum to {sum}, not 1000");
    ensure!(
        rows.len() == first.len() && rows.iter().zip(&first).all(|(a, b)| rows_same(a, b)),
        "restored accounts differ from the snapshot's"
    );
    let live = read_database(c.as_ref(), &src, &only(&["accounts"])).await?;
    let sum = balance_sum(table(&live, "accounts")?, live.rows("accounts"))?;
    ensure!(
        sum == 1000,
        "live balances sum to {sum} after the writer stopped"
    );
    Ok(())
}
