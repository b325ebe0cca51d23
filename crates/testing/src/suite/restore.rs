//! Scenarios of restoring: round trips, replace and merge into existing
//! databases, rollbacks and failures that leave the target unchanged,
//! mismatches and refusals reported before anything is written.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use tokio::sync::mpsc;
use tresor_core::{
    Column, ErrorKind, PortableType, ReadOptions, RestoreMode, RestorePlan, Row, SourceError,
    TableSchema, Value, compare_keys,
};

use super::{Dbs, all, fill, only, plan_for, rename, same_contents, table};
use crate::compare::{compare_databases, copy_database, format_row, read_database};
use crate::{Harness, Step};

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
            load_tables(snap.as_ref(), session.as_mut(), &plan, loaded).await?;
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

/// Loads the first `count` tables of `plan` from `snap` into `session`.
async fn load_tables(
    snap: &dyn tresor_core::SourceSnapshot,
    session: &mut dyn tresor_core::TargetSession,
    plan: &RestorePlan,
    count: usize,
) -> anyhow::Result<()> {
    for name in plan.tables.iter().take(count) {
        let t = plan
            .schema
            .table(name)
            .ok_or_else(|| anyhow!("no table {name}"))?;
        let (tx, rx) = mpsc::channel(4);
        let (read, load) = tokio::join!(snap.read_table(t, tx), session.load_table(t, rx));
        read?;
        load?;
    }
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

/// Merging a table without a primary key adds the snapshot's rows the
/// table lacks (compared by every column, duplicates counted) and keeps
/// every row it has; merging the same snapshot again adds nothing. The
/// keyed table merged alongside merges by key as ever.
///
/// # Errors
/// What differs from the expected merge.
pub async fn merge_without_key_adds_missing_rows(h: &dyn Harness) -> anyhow::Result<()> {
    let mut dbs = Dbs::new(h);
    let r = async {
        let c = h.connector();
        let src = dbs.shop(&[fill(8)]).await?;
        let dst = dbs
            .shop(&[fill(3), rename(2, "only in the target")])
            .await?;
        let tables = only(&["customers", "events"]);
        let before = read_database(c.as_ref(), &dst, &all()).await?;
        let snapshot = read_database(c.as_ref(), &src, &tables).await?;
        let events = table(&before, "events")?.name.to_string();
        // rows as text, sorted: a table without a key has no order
        let bag = |rows: &[Row]| {
            let mut v: Vec<String> = rows.iter().map(|r| format_row(r)).collect();
            v.sort();
            v
        };
        let mut want = bag(before.rows(&events));
        let mut there = want.clone();
        for row in bag(snapshot.rows(&events)) {
            match there.iter().position(|x| *x == row) {
                Some(i) => {
                    there.remove(i);
                }
                None => want.push(row),
            }
        }
        want.sort();
        ensure!(
            want.len() > before.rows(&events).len() && there.len() < before.rows(&events).len(),
            "the fixture must have events in both and events only in the snapshot"
        );
        let mut expected = before.clone();
        let customers = table(&before, "customers")?;
        let merged_customers = merged(
            customers,
            before.rows(&customers.name.to_string()),
            snapshot.rows(&customers.name.to_string()),
        )?;
        expected
            .tables
            .insert(customers.name.to_string(), merged_customers);
        for round in 1..=2 {
            copy_database(c.as_ref(), &src, &dst, RestoreMode::Merge, &tables).await?;
            let after = read_database(c.as_ref(), &dst, &all()).await?;
            let got = bag(after.rows(&events));
            ensure!(
                got == want,
                "merge {round}: the keyless table holds {got:#?}, expected {want:#?}"
            );
            let mut expected = expected.clone();
            expected
                .tables
                .insert(events.clone(), after.rows(&events).to_vec());
            same_contents(&expected, &after)
                .with_context(|| format!("merge {round}: other tables differ"))?;
        }
        Ok(())
    }
    .await;
    dbs.finish(r).await
}

/// A whole-database restore that drops the tables the snapshot lacks
/// (`--drop-extra-tables`): rehearsed, it changes nothing; committed, the
/// target holds exactly the snapshot's tables with the snapshot's rows,
/// and the others (one keyless, one with a key) are gone.
///
/// # Errors
/// What differs from the snapshot, or what the rehearsal changed.
pub async fn drop_extra_tables_leaves_what_the_backup_held(h: &dyn Harness) -> anyhow::Result<()> {
    let mut dbs = Dbs::new(h);
    let r = async {
        let c = h.connector();
        let kept = only(&["customers", "orders"]);
        let src = dbs.shop(&[fill(6), Step::FillAccounts]).await?;
        let dst = dbs
            .shop(&[fill(3), Step::FillAccounts, rename(1, "only in the target")])
            .await?;
        let source = c.source(&src)?;
        let snap = source
            .open(&ReadOptions {
                filter: kept.clone(),
                ..ReadOptions::default()
            })
            .await?;
        let target = c.target(&dst)?;
        let state = target.inspect().await?;
        let mut plan = plan_for(snap.schema(), RestoreMode::Replace);
        plan.drop = state
            .tables
            .iter()
            .filter(|t| !kept.matches(&t.name))
            .map(|t| t.name.clone())
            .collect();
        let mut dropped: Vec<&str> = plan.drop.iter().map(|t| t.name.as_str()).collect();
        dropped.sort_unstable();
        ensure!(
            dropped == ["accounts", "events"],
            "the target's extra tables are {dropped:?}"
        );
        for how in ["rehearse", "commit"] {
            let before = read_database(c.as_ref(), &dst, &all()).await?;
            let mut session = target.begin(&plan).await?;
            load_tables(snap.as_ref(), session.as_mut(), &plan, plan.tables.len()).await?;
            if how == "rehearse" {
                session.rehearse().await.context("the rehearsal failed")?;
                ensure!(
                    target.inspect().await? == state,
                    "the rehearsal changed the target's tables"
                );
                let after = read_database(c.as_ref(), &dst, &all()).await?;
                same_contents(&before, &after).context("the rehearsal changed the target")?;
            } else {
                session.commit().await.context("the restore failed")?;
            }
        }
        snap.close().await?;
        let names: Vec<String> = target
            .inspect()
            .await?
            .tables
            .iter()
            .map(|t| t.name.name.clone())
            .collect();
        ensure!(
            names.len() == 2 && names.iter().all(|n| n == "customers" || n == "orders"),
            "after the restore the target holds {names:?}"
        );
        compare_databases(c.as_ref(), &src, &dst, &kept)
            .await
            .context("the kept tables differ from the snapshot")?;
        Ok(())
    }
    .await;
    dbs.finish(r).await
}

/// An application's session that holds a table the restore must change
/// (it wrote a row of `customers` in a transaction it keeps open) stops
/// the restore after about [`RestorePlan::lock_wait`], not much later and
/// never without end, with an [`ErrorKind::Conflict`] whose hint says to
/// stop the application or wait longer; nothing changes. Once the session
/// lets go, the same restore goes through.
///
/// # Errors
/// A restore that went through, waited far longer than told, failed
/// otherwise, or changed the target.
pub async fn a_held_table_stops_the_restore_in_time(h: &dyn Harness) -> anyhow::Result<()> {
    let mut dbs = Dbs::new(h);
    let r = async {
        let c = h.connector();
        let (src, dst, snap, target) = two_shops(h, &mut dbs).await?;
        let mut plan = plan_for(snap.schema(), RestoreMode::Replace);
        plan.lock_wait = Duration::from_secs(2);
        let before = read_database(c.as_ref(), &dst, &all()).await?;
        let Some(held) = h.hold_customers(&dst).await? else {
            bail!("the harness holds nothing: list the scenario in SKIPS with the reason")
        };
        let started = Instant::now();
        let tried = restore_all(snap.as_ref(), target.as_ref(), &plan).await;
        let waited = started.elapsed();
        drop(held);
        let Err(err) = tried else {
            bail!("the restore went through a table another session holds")
        };
        ensure!(
            err.kind() == ErrorKind::Conflict,
            "expected a conflict, got {:?}: {err}",
            err.kind()
        );
        // generous: the point is a bound near lock_wait instead of the
        // server's own (50 s, 2 min, none)
        ensure!(
            waited < Duration::from_secs(20),
            "the restore gave up after {waited:?}, told to wait 2 s"
        );
        let hint = err.hint().unwrap_or_default();
        ensure!(
            hint.contains("application") && hint.contains("--lock-wait"),
            "the error does not say what to do: {err} ({hint})"
        );
        let after = read_database(c.as_ref(), &dst, &all()).await?;
        same_contents(&before, &after).with_context(|| format!("after {err}"))?;
        // the session let go (its connection may take a moment to close)
        plan.lock_wait = Duration::from_secs(30);
        restore_all(snap.as_ref(), target.as_ref(), &plan)
            .await
            .context("the restore failed once nothing held the table")?;
        snap.close().await?;
        compare_databases(c.as_ref(), &src, &dst, &all()).await
    }
    .await;
    dbs.finish(r).await
}

/// The restore's transaction begun by [`Target::hold`] keeps the tables
/// from other sessions' writes but not from their reads, from before the
/// safety snapshot reads them until the restore commits: the application's
/// write made meanwhile waits (neither overwritten by the restore nor
/// missed by the safety snapshot) and goes on over the restored rows.
///
/// [`Target::hold`]: tresor_core::Target::hold
///
/// # Errors
/// A target that cannot hold, a write that went through while held, a
/// read that waited, or a write lost.
pub async fn a_hold_keeps_writes_out_until_the_commit(h: &dyn Harness) -> anyhow::Result<()> {
    let mut dbs = Dbs::new(h);
    let r = async {
        let c = h.connector();
        let (src, dst, snap, target) = two_shops(h, &mut dbs).await?;
        ensure!(
            target.holds_writes(),
            "the target cannot hold tables: list the scenario in SKIPS with the reason"
        );
        let plan = plan_for(snap.schema(), RestoreMode::Replace);
        let before = read_database(c.as_ref(), &dst, &all()).await?;
        let held = target.hold(&plan).await.context("holding the tables")?;
        // the application writes a row the restore overwrites
        let write = {
            let h_dst = dst.clone();
            let step = rename(2, "written while held");
            async move { h.run(&h_dst, &step).await }
        };
        let (written, checked) = tokio::join!(write, async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            // the safety snapshot's read goes on
            let during = tokio::time::timeout(
                Duration::from_secs(10),
                read_database(c.as_ref(), &dst, &all()),
            )
            .await
            .map_err(|_| anyhow!("a read waited for the held tables"))??;
            same_contents(&before, &during).context("read while held")?;
            let mut session = held.begin().await.context("beginning the held restore")?;
            restore_tables(snap.as_ref(), session.as_mut(), &plan).await?;
            session
                .commit()
                .await
                .context("committing the held restore")?;
            anyhow::Ok(())
        });
        checked?;
        written.context("the application's write failed")?;
        snap.close().await?;
        // what the target holds is the snapshot with the write on top
        h.run(&src, &rename(2, "written while held")).await?;
        compare_databases(c.as_ref(), &src, &dst, &all())
            .await
            .context("the application's write made while the tables were held is not in the target")
    }
    .await;
    dbs.finish(r).await
}

/// Loads every table of `plan` from `snap` in `session`.
async fn restore_tables(
    snap: &dyn tresor_core::SourceSnapshot,
    session: &mut dyn tresor_core::TargetSession,
    plan: &RestorePlan,
) -> Result<(), SourceError> {
    for name in &plan.tables {
        let Some(t) = plan.schema.table(name) else {
            continue;
        };
        let (tx, rx) = mpsc::channel(4);
        let (read, load) = tokio::join!(snap.read_table(t, tx), session.load_table(t, rx));
        read.and(load)?;
    }
    Ok(())
}

/// A shop to restore (5 customers), opened for reading, and a shop to
/// restore into (8 customers, one renamed), as a target; their URLs first.
async fn two_shops(
    h: &dyn Harness,
    dbs: &mut Dbs<'_>,
) -> anyhow::Result<(
    String,
    String,
    Box<dyn tresor_core::SourceSnapshot>,
    Box<dyn tresor_core::Target>,
)> {
    let c = h.connector();
    let src = dbs.shop(&[fill(5)]).await?;
    let dst = dbs.shop(&[fill(8), rename(2, "in the target")]).await?;
    let snap = c.source(&src)?.open(&ReadOptions::default()).await?;
    let target = c.target(&dst)?;
    Ok((src, dst, snap, target))
}

/// Begins a restore of every table of `plan` from `snap`, loads them and
/// commits; rolls back what it began when something fails.
async fn restore_all(
    snap: &dyn tresor_core::SourceSnapshot,
    target: &dyn tresor_core::Target,
    plan: &RestorePlan,
) -> Result<(), SourceError> {
    let mut session = target.begin(plan).await?;
    if let Err(e) = restore_tables(snap, session.as_mut(), plan).await {
        let _ = session.rollback().await;
        return Err(e);
    }
    session.commit().await.map(|_| ())
}
