//! The scenarios. Each creates its own databases through the [`Harness`]
//! and drops them at the end, also when the scenario fails.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use tokio::sync::mpsc;
use tresor_core::{
    BATCH_ROWS, Column, ErrorKind, PortableType, ReadOptions, RestoreMode, RestorePlan, Row,
    SourceError, TableFilter, TableName, TableSchema, TargetState, Value, compare_keys, load_order,
    redact_url, rows_same,
};

use crate::compare::{
    Contents, compare_databases, copy_database, format_row, read_database, read_rows,
    restore_snapshot,
};
use crate::{Harness, Step};

/// Databases made by one scenario, dropped together at its end.
struct Dbs<'h> {
    h: &'h dyn Harness,
    urls: Vec<String>,
}

impl<'h> Dbs<'h> {
    fn new(h: &'h dyn Harness) -> Self {
        Dbs {
            h,
            urls: Vec::new(),
        }
    }

    async fn create(&mut self) -> anyhow::Result<String> {
        let url = self
            .h
            .create_database()
            .await
            .context("creating a database")?;
        self.urls.push(url.clone());
        Ok(url)
    }

    /// A database with the shop's tables, filled by `steps`.
    async fn shop(&mut self, steps: &[Step]) -> anyhow::Result<String> {
        let url = self.create().await?;
        self.h
            .run(&url, &Step::CreateShop)
            .await
            .context("creating the shop")?;
        for s in steps {
            self.h
                .run(&url, s)
                .await
                .with_context(|| format!("running {s:?}"))?;
        }
        Ok(url)
    }

    /// Drops every database, then hands back `result`.
    async fn finish<T>(self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        let mut drop_errors = Vec::new();
        for url in &self.urls {
            if let Err(e) = self.h.drop_database(url).await {
                drop_errors.push(format!("{}: {e:#}", redact_url(url)));
            }
        }
        match result {
            Ok(v) if drop_errors.is_empty() => Ok(v),
            Ok(_) => Err(anyhow!(
                "cannot drop test databases: {}",
                drop_errors.join("; ")
            )),
            Err(e) => Err(e),
        }
    }
}

fn all() -> TableFilter {
    TableFilter::all()
}

fn only(names: &[&str]) -> TableFilter {
    TableFilter::exact(names.iter().map(|n| TableName::new(*n)))
}

fn fill(customers: u32) -> Step {
    Step::FillShop { customers }
}

fn rename(id: u32, name: &str) -> Step {
    Step::RenameCustomer {
        id,
        name: name.to_string(),
    }
}

/// Whether two in-memory databases hold the same rows; a readable report
/// otherwise.
fn same_contents(before: &Contents, after: &Contents) -> anyhow::Result<()> {
    let mut report = Vec::new();
    let names_b: Vec<&String> = before.tables.keys().collect();
    let names_a: Vec<&String> = after.tables.keys().collect();
    if names_b != names_a {
        report.push(format!("tables differ: {names_b:?} vs {names_a:?}"));
    }
    for (name, rows_b) in &before.tables {
        let rows_a = after.rows(name);
        if rows_b.len() != rows_a.len() {
            report.push(format!(
                "table {name}: {} rows before, {} after",
                rows_b.len(),
                rows_a.len()
            ));
        }
        let mut shown = 0;
        for (i, (b, a)) in rows_b.iter().zip(rows_a).enumerate() {
            if !rows_same(b, a) && shown < 5 {
                shown += 1;
                report.push(format!(
                    "table {name}: row {}:\n      expected: {}\n      actual:   {}",
                    i + 1,
                    format_row(b),
                    format_row(a)
                ));
            }
        }
    }
    if report.is_empty() {
        Ok(())
    } else {
        bail!("{}", report.join("\n"))
    }
}

fn table<'a>(c: &'a Contents, name: &str) -> anyhow::Result<&'a TableSchema> {
    c.schema
        .table(&TableName::new(name))
        .ok_or_else(|| anyhow!("table {name} is missing"))
}

fn table_names(state: &TargetState) -> Vec<String> {
    let mut v: Vec<String> = state.tables.iter().map(|t| t.name.name.clone()).collect();
    v.sort();
    v
}

/// Backup of a filled shop restored into an empty database compares equal;
/// restoring again over the now-filled copy (replace) still does.
///
/// # Errors
/// What differs, or any adapter error.
pub async fn round_trip(h: &dyn Harness) -> anyhow::Result<()> {
    let mut dbs = Dbs::new(h);
    let r = round_trip_in(h, &mut dbs).await;
    dbs.finish(r).await
}

async fn round_trip_in(h: &dyn Harness, dbs: &mut Dbs<'_>) -> anyhow::Result<()> {
    let c = h.connector();
    let src = dbs
        .shop(&[
            fill(25),
            rename(3, "Zoë O'Brien \"the\" ☃ \\ % _"),
            rename(6, ""),
            Step::DeleteCustomer { id: 4 },
            Step::FillAccounts,
        ])
        .await?;
    let dst = dbs.create().await?;
    let summary = copy_database(c.as_ref(), &src, &dst, RestoreMode::Replace, &all()).await?;
    let customers = summary
        .rows
        .iter()
        .find(|(k, _)| k.ends_with("customers"))
        .map(|(_, v)| *v);
    ensure!(
        customers == Some(24),
        "summary reports {customers:?} customer rows, expected 24: {summary:?}"
    );
    compare_databases(c.as_ref(), &src, &dst, &all())
        .await
        .context("after restoring into an empty database")?;
    let state = c.target(&dst)?.inspect().await?;
    ensure!(
        state.exists && state.has_data(),
        "restored target looks empty: {state:?}"
    );
    copy_database(c.as_ref(), &src, &dst, RestoreMode::Replace, &all()).await?;
    compare_databases(c.as_ref(), &src, &dst, &all())
        .await
        .context("after restoring over the filled copy")
}

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

/// Replace mode over a database holding other rows leaves exactly the
/// snapshot's rows.
///
/// # Errors
/// What differs.
pub async fn replace_into_existing(h: &dyn Harness) -> anyhow::Result<()> {
    let mut dbs = Dbs::new(h);
    let r = async {
        let c = h.connector();
        let src = dbs.shop(&[fill(30), rename(2, "snapshot name")]).await?;
        let dst = dbs
            .shop(&[fill(40), rename(2, "stale"), Step::DeleteCustomer { id: 5 }])
            .await?;
        copy_database(c.as_ref(), &src, &dst, RestoreMode::Replace, &all()).await?;
        compare_databases(c.as_ref(), &src, &dst, &all()).await?;
        let state = c.target(&dst)?.inspect().await?;
        let customers = state.tables.iter().find(|t| t.name.name == "customers");
        ensure!(
            customers.map(|t| t.rows) == Some(30),
            "target holds {customers:?} customers, expected 30"
        );
        Ok(())
    }
    .await;
    dbs.finish(r).await
}

/// Expected contents of `table` after merging `snapshot` into `before`:
/// rows by key, the snapshot's winning.
fn merged(table: &TableSchema, before: &[Row], snapshot: &[Row]) -> anyhow::Result<Vec<Row>> {
    let pos = table
        .key_positions()
        .ok_or_else(|| anyhow!("table {} has no row key", table.name))?;
    let key = |r: &Row| -> Vec<Value> { pos.iter().map(|&i| r[i].clone()).collect() };
    let mut rows: Vec<(Vec<Value>, Row)> = before.iter().map(|r| (key(r), r.clone())).collect();
    for r in snapshot {
        let k = key(r);
        match rows.iter_mut().find(|(x, _)| compare_keys(x, &k).is_eq()) {
            Some(slot) => slot.1 = r.clone(),
            None => rows.push((k, r.clone())),
        }
    }
    rows.sort_by(|a, b| compare_keys(&a.0, &b.0));
    Ok(rows.into_iter().map(|(_, r)| r).collect())
}

/// Merge mode updates rows whose key exists, inserts new ones, and leaves
/// every other row (and every other table) alone.
///
/// # Errors
/// What differs from the expected merge.
pub async fn merge_into_existing(h: &dyn Harness) -> anyhow::Result<()> {
    let mut dbs = Dbs::new(h);
    let r = async {
        let c = h.connector();
        let src = dbs
            .shop(&[fill(20), rename(5, "from the snapshot")])
            .await?;
        let dst = dbs
            .shop(&[
                fill(30),
                Step::DeleteCustomer { id: 7 },
                rename(10, "changed in the target"),
                rename(25, "only in the target"),
            ])
            .await?;
        let tables = only(&["customers", "orders"]);
        let before = read_database(c.as_ref(), &dst, &all()).await?;
        let snapshot = read_database(c.as_ref(), &src, &tables).await?;
        copy_database(c.as_ref(), &src, &dst, RestoreMode::Merge, &tables).await?;
        let after = read_database(c.as_ref(), &dst, &all()).await?;
        let mut expected = before.clone();
        for name in ["customers", "orders"] {
            let t = table(&before, name)?;
            let rows = merged(t, before.rows(name), snapshot.rows(name))?;
            expected.tables.insert(t.name.to_string(), rows);
        }
        same_contents(&expected, &after).context("merged target differs from the expected merge")
    }
    .await;
    dbs.finish(r).await
}

/// A plan restoring every table of `snap_schema` in `mode`.
fn plan_for(schema: &tresor_core::DatabaseSchema, mode: RestoreMode) -> RestorePlan {
    let refs: Vec<&TableSchema> = schema.tables.iter().collect();
    RestorePlan {
        tables: load_order(&refs),
        schema: schema.clone(),
        mode,
        whole_database: true,
        recreate: Vec::new(),
        privileges: false,
        only_missing: false,
    }
}

/// Beginning a restore, loading rows, then rolling back (explicitly, or by
/// dropping the session) leaves the target exactly as it was, for an
/// existing database and for an empty one.
///
/// # Errors
/// What changed.
pub async fn rollback_leaves_target_unchanged(h: &dyn Harness) -> anyhow::Result<()> {
    let mut dbs = Dbs::new(h);
    let r = rollback_in(h, &mut dbs).await;
    dbs.finish(r).await
}

async fn rollback_in(h: &dyn Harness, dbs: &mut Dbs<'_>) -> anyhow::Result<()> {
    let c = h.connector();
    let src = dbs.shop(&[fill(10), Step::FillAccounts]).await?;
    let dst = dbs.shop(&[fill(15), rename(1, "target")]).await?;
    let empty = dbs.create().await?;
    let source = c.source(&src)?;
    let snap = source.open(&ReadOptions::default()).await?;
    let plan = plan_for(snap.schema(), RestoreMode::Replace);
    for url in [&dst, &empty] {
        let target = c.target(url)?;
        for how in ["rollback", "drop", "rehearse"] {
            let before = read_database(c.as_ref(), url, &all()).await?;
            let state_before = target.inspect().await?;
            let mut session = target.begin(&plan).await?;
            // a rehearsal loads everything, as a preview does
            let loaded = if how == "rehearse" {
                plan.tables.len()
            } else {
                2
            };
            for name in plan.tables.iter().take(loaded) {
                let t = plan
                    .schema
                    .table(name)
                    .ok_or_else(|| anyhow!("no table {name}"))?;
                let (tx, rx) = mpsc::channel(4);
                let (read, load) = tokio::join!(snap.read_table(t, tx), session.load_table(t, rx));
                read?;
                load?;
            }
            match how {
                "rollback" => session.rollback().await?,
                "rehearse" => {
                    session
                        .rehearse()
                        .await
                        .context("a clean rehearsal failed")?;
                }
                _ => drop(session),
            }
            let state_after = target.inspect().await?;
            ensure!(
                state_before == state_after,
                "{how} changed the target: {state_before:?} became {state_after:?}"
            );
            let after = read_database(c.as_ref(), url, &all()).await?;
            same_contents(&before, &after).with_context(|| format!("{how} changed the target"))?;
        }
    }
    snap.close().await?;
    Ok(())
}

/// Feeds `rows` (in one batch) into `table` of a new session on `url`;
/// the load or the commit must fail, and so must the same load followed by
/// a rehearsal (what a preview runs).
async fn must_fail(
    h: &dyn Harness,
    url: &str,
    plan: &RestorePlan,
    good: &[(&TableSchema, Vec<Row>)],
    table: &TableSchema,
    rows: Vec<Row>,
) -> anyhow::Result<SourceError> {
    feed_must_fail(h, url, plan, good, table, rows.clone(), true)
        .await
        .context("the rehearsal approved what the restore refuses")?;
    feed_must_fail(h, url, plan, good, table, rows, false).await
}

async fn feed_must_fail(
    h: &dyn Harness,
    url: &str,
    plan: &RestorePlan,
    good: &[(&TableSchema, Vec<Row>)],
    table: &TableSchema,
    rows: Vec<Row>,
    rehearse: bool,
) -> anyhow::Result<SourceError> {
    let target = h.connector().target(url)?;
    let mut session = target.begin(plan).await?;
    for (t, rows) in good {
        let (tx, rx) = mpsc::channel(1);
        tx.send(rows.clone()).await?;
        drop(tx);
        session.load_table(t, rx).await?;
    }
    let (tx, rx) = mpsc::channel(2);
    let split = rows.len() / 2;
    let mut rows = rows;
    let tail = rows.split_off(split);
    tx.send(rows).await?;
    tx.send(tail).await?;
    drop(tx);
    let finish = |session: Box<dyn tresor_core::TargetSession>| async move {
        if rehearse {
            session.rehearse().await
        } else {
            session.commit().await
        }
    };
    match session.load_table(table, rx).await {
        Err(e) => Ok(e),
        Ok(_) => match finish(session).await {
            Err(e) => Ok(e),
            Ok(s) => bail!(
                "a broken row stream for {} was committed: {s:?}",
                table.name
            ),
        },
    }
}

/// A row stream that breaks half way (a row of the wrong width, a NULL in
/// a NOT NULL column) fails the restore and leaves the target unchanged.
///
/// # Errors
/// What changed, or a broken stream that was accepted.
pub async fn failure_mid_restore_leaves_target_unchanged(h: &dyn Harness) -> anyhow::Result<()> {
    let mut dbs = Dbs::new(h);
    let r = async {
        let c = h.connector();
        let src = dbs.shop(&[fill(10)]).await?;
        let dst = dbs.shop(&[fill(15), rename(2, "keep me")]).await?;
        let snapshot = read_database(c.as_ref(), &src, &all()).await?;
        let plan = plan_for(&snapshot.schema, RestoreMode::Replace);
        let customers = table(&snapshot, "customers")?;
        let orders = table(&snapshot, "orders")?;
        let good = [(customers, snapshot.rows("customers").to_vec())];
        let before = read_database(c.as_ref(), &dst, &all()).await?;

        // a row one value short after some good rows
        let mut rows = snapshot.rows("orders").to_vec();
        let mut short = rows[0].clone();
        short.pop();
        rows.push(short);
        let e = must_fail(h, &dst, &plan, &good, orders, rows).await?;
        let after = read_database(c.as_ref(), &dst, &all()).await?;
        same_contents(&before, &after).with_context(|| format!("after a short row ({e})"))?;

        // NULL for the NOT NULL name, after some good rows
        let name_pos = customers
            .stored_columns()
            .position(|col| col.name == "name")
            .ok_or_else(|| anyhow!("customers has no name column"))?;
        let mut rows = snapshot.rows("customers").to_vec();
        let mut bad = rows[0].clone();
        bad[name_pos] = Value::Null;
        // a fresh key so that only NOT NULL can reject it
        let id_pos = customers
            .key_positions()
            .and_then(|p| p.first().copied())
            .ok_or_else(|| anyhow!("customers has no key"))?;
        bad[id_pos] = Value::Int(1_000_000);
        rows.push(bad);
        let e = must_fail(h, &dst, &plan, &[], customers, rows).await?;
        let after = read_database(c.as_ref(), &dst, &all()).await?;
        same_contents(&before, &after).with_context(|| format!("after a NULL name ({e})"))
    }
    .await;
    dbs.finish(r).await
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

/// Columns the target lacks, in two tables, are all reported in one
/// [`ErrorKind::SchemaMismatch`] error from `begin`, before any row
/// changes.
///
/// # Errors
/// A missing or incomplete report, or a changed target.
pub async fn schema_mismatch_reported_before_writes(h: &dyn Harness) -> anyhow::Result<()> {
    let mut dbs = Dbs::new(h);
    let r = async {
        let c = h.connector();
        let src = dbs.shop(&[fill(5)]).await?;
        let dst = dbs.shop(&[fill(8)]).await?;
        let snapshot = read_database(c.as_ref(), &src, &only(&["customers", "orders"])).await?;
        let mut schema = snapshot.schema.clone();
        for (t, col) in schema
            .tables
            .iter_mut()
            .zip(["loyalty_tier", "coupon_code"])
        {
            let mut extra = Column::new(
                col,
                "text",
                PortableType::Text {
                    max_len: None,
                    fixed: false,
                },
            );
            extra.nullable = false;
            t.columns.push(extra);
        }
        let plan = plan_for(&schema, RestoreMode::Replace);
        let before = read_database(c.as_ref(), &dst, &all()).await?;
        let target = c.target(&dst)?;
        let Err(err) = target.begin(&plan).await else {
            bail!("begin accepted a snapshot with columns the target lacks")
        };
        ensure!(
            err.kind() == ErrorKind::SchemaMismatch,
            "expected a schema mismatch, got {:?}: {err}",
            err.kind()
        );
        let msg = err.to_string();
        ensure!(
            msg.contains("loyalty_tier") && msg.contains("coupon_code"),
            "the error does not name every mismatch: {msg}"
        );
        let after = read_database(c.as_ref(), &dst, &all()).await?;
        same_contents(&before, &after).context("a refused restore changed the target")
    }
    .await;
    dbs.finish(r).await
}

/// The deploy-safe restore's last check: with
/// [`RestorePlan::only_missing`], `begin` refuses planned tables that hold
/// rows (written after the restore was planned) with
/// [`ErrorKind::Conflict`] naming them, and changes nothing; into the same
/// tables empty it begins.
///
/// # Errors
/// A restore that began anyway, a vague error, or a changed target.
pub async fn only_missing_refuses_tables_holding_rows(h: &dyn Harness) -> anyhow::Result<()> {
    let mut dbs = Dbs::new(h);
    let r = async {
        let c = h.connector();
        let src = dbs.shop(&[fill(5)]).await?;
        let dst = dbs.shop(&[fill(8)]).await?;
        let snapshot = read_database(c.as_ref(), &src, &only(&["customers", "orders"])).await?;
        for mode in RestoreMode::ALL {
            let mut plan = plan_for(&snapshot.schema, mode);
            plan.whole_database = false;
            plan.only_missing = true;
            let before = read_database(c.as_ref(), &dst, &all()).await?;
            let Err(err) = c.target(&dst)?.begin(&plan).await else {
                bail!("{mode}: begin accepted tables that hold rows")
            };
            ensure!(
                err.kind() == ErrorKind::Conflict,
                "{mode}: expected a conflict, got {:?}: {err}",
                err.kind()
            );
            let msg = err.to_string();
            ensure!(
                msg.contains("customers") && msg.contains("orders"),
                "{mode}: the error does not name both tables: {msg}"
            );
            let after = read_database(c.as_ref(), &dst, &all()).await?;
            same_contents(&before, &after)
                .with_context(|| format!("{mode}: a refused restore changed the target"))?;
            let empty = dbs.shop(&[]).await?;
            let session = c
                .target(&empty)?
                .begin(&plan)
                .await
                .with_context(|| format!("{mode}: refused empty tables"))?;
            session.rollback().await?;
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

/// Merging a table without a primary key is refused (at `begin`, at the
/// latest before commit) and the target is unchanged.
///
/// # Errors
/// A merge that went through, or a changed target.
pub async fn merge_without_key_is_refused(h: &dyn Harness) -> anyhow::Result<()> {
    let mut dbs = Dbs::new(h);
    let r = async {
        let c = h.connector();
        let src = dbs.shop(&[fill(5)]).await?;
        let dst = dbs.shop(&[fill(6)]).await?;
        let before = read_database(c.as_ref(), &dst, &all()).await?;
        let filter = only(&["customers", "events"]);
        match copy_database(c.as_ref(), &src, &dst, RestoreMode::Merge, &filter).await {
            Ok(s) => bail!("merging the keyless events table went through: {s:?}"),
            Err(e) => {
                let msg = format!("{e:#}");
                ensure!(
                    msg.contains("events"),
                    "the error does not name the table: {msg}"
                );
            }
        }
        let after = read_database(c.as_ref(), &dst, &all()).await?;
        same_contents(&before, &after).context("a refused merge changed the target")
    }
    .await;
    dbs.finish(r).await
}
