//! Moving and comparing whole databases through their [`Source`]s and
//! [`Target`]s, straight through channels (no repository involved).
//!
//! [`Source`]: tresor_core::Source
//! [`Target`]: tresor_core::Target

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, anyhow, bail};
use tokio::sync::mpsc;
use tresor_core::{
    Connector, DatabaseSchema, ReadOptions, RestoreMode, RestorePlan, RestoreSummary, Row,
    RowReceiver, SourceSnapshot, TableFilter, TableSchema, Target, Value, redact_url, rows_same,
};

/// Batches in flight between a reader and a writer.
const CHANNEL_DEPTH: usize = 4;

/// Everything in a (small) database, read into memory.
#[derive(Clone, Debug)]
pub struct Contents {
    /// The schema the source reported.
    pub schema: DatabaseSchema,
    /// Rows per table (keyed by the table's display name), in the order
    /// the source streamed them.
    pub tables: BTreeMap<String, Vec<Row>>,
}

impl Contents {
    /// The rows of `table`, empty when there is no such table.
    pub fn rows(&self, table: &str) -> &[Row] {
        self.tables.get(table).map_or(&[], Vec::as_slice)
    }
}

/// Reads the tables `filter` selects from the database at `url` into
/// memory. Meant for test fixtures, not for big databases.
///
/// # Errors
/// Any source error.
pub async fn read_database(
    connector: &dyn Connector,
    url: &str,
    filter: &TableFilter,
) -> anyhow::Result<Contents> {
    let source = connector.source(url)?;
    let snap = source
        .open(&ReadOptions {
            filter: filter.clone(),
            ..ReadOptions::default()
        })
        .await
        .with_context(|| format!("opening {}", redact_url(url)))?;
    let mut tables = BTreeMap::new();
    for t in &snap.schema().tables {
        tables.insert(t.name.to_string(), read_rows(snap.as_ref(), t).await?);
    }
    let schema = snap.schema().clone();
    snap.close().await?;
    Ok(Contents { schema, tables })
}

/// Reads all rows of one table of an open snapshot.
///
/// # Errors
/// Any source error.
pub async fn read_rows(snap: &dyn SourceSnapshot, table: &TableSchema) -> anyhow::Result<Vec<Row>> {
    let (tx, mut rx) = mpsc::channel(CHANNEL_DEPTH);
    let (count, rows) = tokio::join!(snap.read_table(table, tx), async move {
        let mut all = Vec::new();
        while let Some(batch) = rx.recv().await {
            all.extend(batch);
        }
        all
    });
    let count = count.with_context(|| format!("reading table {}", table.name))?;
    if count != rows.len() as u64 {
        bail!(
            "table {}: read_table reported {count} rows but sent {}",
            table.name,
            rows.len()
        );
    }
    Ok(rows)
}

/// Restores the tables of an open snapshot into `target` in one session
/// and commits it.
///
/// # Errors
/// The first read or write error; the session is then dropped, which must
/// roll the target back.
pub async fn restore_snapshot(
    snap: &dyn SourceSnapshot,
    target: &dyn Target,
    mode: RestoreMode,
    whole_database: bool,
) -> anyhow::Result<RestoreSummary> {
    let schema = snap.schema().clone();
    let plan = RestorePlan {
        whole_database,
        ..RestorePlan::of_all(schema.clone(), mode)
    };
    let mut session = target.begin(&plan).await.context("beginning the restore")?;
    for name in &plan.tables {
        let table = schema
            .table(name)
            .ok_or_else(|| anyhow!("planned table {name} is not in the schema"))?;
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let (read, written) =
            tokio::join!(snap.read_table(table, tx), session.load_table(table, rx));
        let written = written.with_context(|| format!("loading table {name}"))?;
        let read = read.with_context(|| format!("reading table {name}"))?;
        if read != written {
            bail!("table {name}: {read} rows read but {written} written");
        }
    }
    session.commit().await.context("committing the restore")
}

/// Copies the tables `filter` selects from `from` into `to` (a whole
/// database restore when the filter selects everything).
///
/// # Errors
/// Any source or target error.
pub async fn copy_database(
    connector: &dyn Connector,
    from: &str,
    to: &str,
    mode: RestoreMode,
    filter: &TableFilter,
) -> anyhow::Result<RestoreSummary> {
    let source = connector.source(from)?;
    let snap = source
        .open(&ReadOptions {
            filter: filter.clone(),
            ..ReadOptions::default()
        })
        .await
        .with_context(|| format!("opening {}", redact_url(from)))?;
    let target = connector.target(to)?;
    let summary = restore_snapshot(snap.as_ref(), target.as_ref(), mode, filter.is_all()).await?;
    snap.close().await?;
    Ok(summary)
}

struct Stream {
    rx: RowReceiver,
    buf: std::vec::IntoIter<Row>,
}

impl Stream {
    async fn next(&mut self) -> Option<Row> {
        loop {
            if let Some(r) = self.buf.next() {
                return Some(r);
            }
            self.buf = self.rx.recv().await?.into_iter();
        }
    }
}

/// Differences between two row streams: `(rows left, rows right, report)`.
async fn diff_streams(left: RowReceiver, right: RowReceiver) -> (u64, u64, Vec<String>) {
    let mut l = Stream {
        rx: left,
        buf: Vec::new().into_iter(),
    };
    let mut r = Stream {
        rx: right,
        buf: Vec::new().into_iter(),
    };
    let (mut nl, mut nr) = (0u64, 0u64);
    let mut report = Vec::new();
    loop {
        let (a, b) = (l.next().await, r.next().await);
        if a.is_none() && b.is_none() {
            break;
        }
        if a.is_some() {
            nl += 1;
        }
        if b.is_some() {
            nr += 1;
        }
        let same = match (&a, &b) {
            (Some(a), Some(b)) => rows_same(a, b),
            _ => false,
        };
        if !same && report.len() < 5 {
            let row = nl.max(nr);
            report.push(format!(
                "row {row}:\n      left:  {}\n      right: {}",
                a.as_deref().map_or("(none)".into(), format_row),
                b.as_deref().map_or("(none)".into(), format_row),
            ));
        }
    }
    (nl, nr, report)
}

/// A row for humans: each value's debug form, long ones shortened.
pub fn format_row(row: &[Value]) -> String {
    let parts: Vec<String> = row
        .iter()
        .map(|v| {
            let s = match v {
                Value::Bytes(b) if b.len() > 16 => format!("Bytes({} bytes)", b.len()),
                other => format!("{other:?}"),
            };
            if s.chars().count() > 80 {
                let short: String = s.chars().take(77).collect();
                format!("{short}...")
            } else {
                s
            }
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

fn column_names(t: &TableSchema) -> Vec<String> {
    t.stored_columns().map(|c| c.name.clone()).collect()
}

/// Compares the tables `filter` selects in two databases, table by table
/// and row by row with [`rows_same`], streaming (big databases are fine).
///
/// # Errors
/// A readable report of every difference found (up to five rows per
/// table), or any source error.
pub async fn compare_databases(
    connector: &dyn Connector,
    left: &str,
    right: &str,
    filter: &TableFilter,
) -> anyhow::Result<()> {
    let options = ReadOptions {
        filter: filter.clone(),
        ..ReadOptions::default()
    };
    let ls = connector.source(left)?;
    let rs = connector.source(right)?;
    let lsnap = ls
        .open(&options)
        .await
        .with_context(|| format!("opening {}", redact_url(left)))?;
    let rsnap = rs
        .open(&options)
        .await
        .with_context(|| format!("opening {}", redact_url(right)))?;
    let mut report = String::new();
    let lnames: Vec<String> = lsnap
        .schema()
        .tables
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    let rnames: Vec<String> = rsnap
        .schema()
        .tables
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    let mut sorted_l = lnames.clone();
    let mut sorted_r = rnames.clone();
    sorted_l.sort();
    sorted_r.sort();
    if sorted_l != sorted_r {
        let _ = writeln!(
            report,
            "tables differ:\n  left:  {lnames:?}\n  right: {rnames:?}"
        );
    }
    for lt in &lsnap.schema().tables {
        let Some(rt) = rsnap.schema().table(&lt.name) else {
            continue;
        };
        if column_names(lt) != column_names(rt) {
            let _ = writeln!(
                report,
                "table {}: columns differ:\n  left:  {:?}\n  right: {:?}",
                lt.name,
                column_names(lt),
                column_names(rt)
            );
            continue;
        }
        if lt.row_key != rt.row_key {
            let _ = writeln!(
                report,
                "table {}: row keys differ: {:?} vs {:?}",
                lt.name, lt.row_key, rt.row_key
            );
        }
        let (ltx, lrx) = mpsc::channel(CHANNEL_DEPTH);
        let (rtx, rrx) = mpsc::channel(CHANNEL_DEPTH);
        let (lr, rr, (nl, nr, diffs)) = tokio::join!(
            lsnap.read_table(lt, ltx),
            rsnap.read_table(rt, rtx),
            diff_streams(lrx, rrx)
        );
        lr.with_context(|| format!("reading {} from {}", lt.name, redact_url(left)))?;
        rr.with_context(|| format!("reading {} from {}", rt.name, redact_url(right)))?;
        if nl != nr {
            let _ = writeln!(report, "table {}: {nl} rows left, {nr} rows right", lt.name);
        }
        for d in diffs {
            let _ = writeln!(report, "table {}: {d}", lt.name);
        }
    }
    lsnap.close().await?;
    rsnap.close().await?;
    if report.is_empty() {
        Ok(())
    } else {
        bail!(
            "databases differ ({} vs {}):\n{report}",
            redact_url(left),
            redact_url(right)
        )
    }
}
