//! The scenarios. Each creates its own databases through the [`Harness`]
//! and drops them at the end, also when the scenario fails.

mod backup;
mod restore;

use anyhow::{Context, anyhow, bail};
use tresor_core::{
    RestoreMode, RestorePlan, TableFilter, TableName, TableSchema, TargetState, redact_url,
    rows_same,
};

use crate::compare::{Contents, format_row};
use crate::{Harness, Step};

pub use backup::{consistent_snapshot_under_writes, filters_select_tables, key_order_and_batches};
pub use restore::{
    a_held_table_stops_the_restore_in_time, a_hold_keeps_writes_out_until_the_commit,
    drop_extra_tables_leaves_what_the_backup_held, failure_mid_restore_leaves_target_unchanged,
    merge_into_existing, merge_without_key_adds_missing_rows,
    only_missing_refuses_tables_holding_rows, replace_into_existing,
    rollback_leaves_target_unchanged, round_trip, schema_mismatch_reported_before_writes,
};

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

/// A plan restoring every table of `snap_schema` in `mode`.
fn plan_for(schema: &tresor_core::DatabaseSchema, mode: RestoreMode) -> RestorePlan {
    RestorePlan::of_all(schema.clone(), mode)
}
