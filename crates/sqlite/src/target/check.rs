//! Fitting a snapshot's table onto a table that already exists in the
//! target: which columns to write, and every reason it does not fit.

use tresor_core::{AppForm, RestoreMode, TableSchema};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};
use tresor_core::SourceError;

use crate::catalog::WITHOUT_ROWID;
use crate::error::SqlResultExt;
use crate::sql::{ident, ident_list};
use crate::value::InstantForm;

/// How rows of one snapshot table are written into the target.
#[derive(Debug)]
pub(crate) struct LoadPlan {
    /// The `INSERT` (or upsert) statement.
    pub(crate) sql: String,
    /// For each statement parameter, the position of its value in a row.
    pub(crate) positions: Vec<usize>,
    /// Values per row.
    pub(crate) width: usize,
    /// Per statement parameter, the form its existing column keeps a kind
    /// of value in (a UUID as 32 hex digits in Django's `char(32)`, an
    /// interval as microseconds in its `bigint`), which such a value goes
    /// there in instead of its own. Empty for a table the restore made
    /// from the snapshot, whose columns keep every value in its own form.
    pub(crate) forms: Vec<Option<AppForm>>,
    /// Per statement parameter, the unit of the integers an existing
    /// `DATETIME` column keeps instants in ([`instant_forms`]); empty
    /// where none does.
    pub(crate) instants: Vec<Option<InstantForm>>,
    /// A merge into a table without a primary key: `sql` stages the rows
    /// in a temporary table, and these statements make it first and then
    /// add the staged rows the table lacks.
    pub(crate) missing: Option<MergeMissing>,
}

/// The statements of a merge into a table without a primary key.
#[derive(Debug)]
pub(crate) struct MergeMissing {
    /// Makes the (empty) temporary table the rows are staged in.
    pub(crate) stage: String,
    /// Adds the staged rows the table lacks and drops the stage.
    pub(crate) merge: String,
}

/// The temporary table a merge into a table without a primary key stages
/// its rows in.
const MERGE_STAGE: &str = "tresor_merge_stage";

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The plain `INSERT` of every stored column into a table created from
/// the snapshot; hidden columns (the rowid) only with `with_hidden`.
pub(crate) fn insert_all(snap: &TableSchema, target_name: &str, with_hidden: bool) -> LoadPlan {
    let stored: Vec<_> = snap.stored_columns().collect();
    let mut cols = Vec::new();
    let mut positions = Vec::new();
    for (pos, c) in stored.iter().enumerate() {
        if with_hidden || !c.hidden {
            cols.push(c.name.as_str());
            positions.push(pos);
        }
    }
    LoadPlan {
        sql: insert_sql(target_name, &cols),
        positions,
        width: stored.len(),
        forms: Vec::new(),
        instants: Vec::new(),
        missing: None,
    }
}

fn insert_sql(table: &str, cols: &[&str]) -> String {
    insert_values(table, cols, |i, _| format!("?{i}"))
}

/// `INSERT` of `cols` into `table`, the value of the `i`th (from 1)
/// written by `value`.
fn insert_values(table: &str, cols: &[&str], value: impl Fn(usize, &str) -> String) -> String {
    let params: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| value(i + 1, c))
        .collect();
    format!(
        "INSERT INTO main.{} ({}) VALUES ({})",
        ident(table),
        ident_list(cols.iter().copied()),
        params.join(", ")
    )
}

/// Maps `snap` onto the existing `target` table, pushing every mismatch
/// into `problems`.
pub(crate) fn fit(
    snap: &TableSchema,
    target: &TableSchema,
    mode: RestoreMode,
    problems: &mut Vec<String>,
) -> LoadPlan {
    let name = &snap.name.name;
    let before = problems.len();
    let target_without_rowid = target.extra.contains_key(WITHOUT_ROWID);
    let mut cols: Vec<&str> = Vec::new();
    let mut positions = Vec::new();
    let mut forms = Vec::new();
    let mut rowid = None;
    let stored: Vec<_> = snap.stored_columns().collect();
    for (pos, c) in stored.iter().enumerate() {
        let found = target
            .columns
            .iter()
            .find(|t| !t.hidden && same(&t.name, &c.name));
        if c.hidden {
            // the rowid: kept when the target has one and no real column
            // shadows its name; a merge matches rows by key, keeps the
            // rowid of a row it updates, and gives one it inserts the
            // snapshot's rowid where no other row has it (a row deleted
            // for good comes back as it was, the same to the next backup
            // and to a diff)
            if !target_without_rowid && found.is_none() {
                cols.push(c.name.as_str());
                positions.push(pos);
                forms.push(None);
                rowid = Some(c.name.as_str());
            }
            continue;
        }
        match found {
            None => problems.push(format!(
                "table {name}: column {} is missing in the target",
                c.name
            )),
            Some(t) if !t.is_stored_in_rows() => problems.push(format!(
                "table {name}: column {} is generated in the target",
                c.name
            )),
            Some(t) => {
                forms.push(AppForm::of(&t.engine_type));
                cols.push(t.name.as_str());
                positions.push(pos);
            }
        }
    }
    for t in target
        .columns
        .iter()
        .filter(|t| !t.hidden && t.is_stored_in_rows())
    {
        let in_snapshot = stored.iter().any(|c| !c.hidden && same(&c.name, &t.name));
        if !in_snapshot && !t.nullable && t.default.is_none() && !t.identity {
            problems.push(format!(
                "table {name}: target column {} is not null, has no default and is not in the snapshot",
                t.name
            ));
        }
    }
    let table = &target.name.name;
    if mode == RestoreMode::Merge && snap.primary_key.is_empty() && target.primary_key.is_empty() {
        let missing = merge_missing(table, &cols, rowid);
        let sql = if problems.len() > before {
            String::new()
        } else {
            format!(
                "INSERT INTO temp.{} ({}) VALUES ({})",
                ident(MERGE_STAGE),
                ident_list(cols.iter().copied()),
                (1..=cols.len())
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return LoadPlan {
            sql,
            positions,
            width: stored.len(),
            forms,
            instants: Vec::new(),
            missing: Some(missing),
        };
    }
    let mut sql = match (mode, rowid) {
        // a merge inserts the rowid where it is free, NULL (a new one)
        // where another row took it
        (RestoreMode::Merge, Some(rowid)) => insert_values(table, &cols, |i, c| {
            if c == rowid {
                format!(
                    "(CASE WHEN EXISTS (SELECT 1 FROM main.{} WHERE {} = ?{i}) \
                     THEN NULL ELSE ?{i} END)",
                    ident(table),
                    ident(rowid)
                )
            } else {
                format!("?{i}")
            }
        }),
        _ => insert_sql(table, &cols),
    };
    if mode == RestoreMode::Merge {
        let key_matches = snap.primary_key.len() == target.primary_key.len()
            && snap
                .primary_key
                .iter()
                .all(|k| target.primary_key.iter().any(|t| same(t, k)));
        if !key_matches {
            problems.push(format!(
                "table {name}: primary key ({}) in the target differs from the snapshot's ({})",
                target.primary_key.join(", "),
                snap.primary_key.join(", ")
            ));
        }
        let key_cols: Vec<&str> = target.primary_key.iter().map(String::as_str).collect();
        let updates: Vec<String> = cols
            .iter()
            .filter(|c| !key_cols.iter().any(|k| same(k, c)) && Some(**c) != rowid)
            .map(|c| format!("{0} = excluded.{0}", ident(c)))
            .collect();
        sql.push_str(&format!(
            " ON CONFLICT ({}) ",
            ident_list(key_cols.iter().copied())
        ));
        if updates.is_empty() {
            sql.push_str("DO NOTHING");
        } else {
            sql.push_str("DO UPDATE SET ");
            sql.push_str(&updates.join(", "));
        }
    }
    if problems.len() > before {
        // the plan is never used when something does not fit
        sql.clear();
    }
    LoadPlan {
        sql,
        positions,
        width: stored.len(),
        forms,
        instants: Vec::new(),
        missing: None,
    }
}

/// A merge into `table`, which has no primary key, of the rows staged in
/// `cols` (`rowid` among them, the snapshot's rowid, stored as the
/// stage's own): the staged rows the table lacks, compared by every
/// column and with duplicates counted (a row staged twice and there once
/// is added once), get the snapshot's rowid where it is free.
fn merge_missing(table: &str, cols: &[&str], rowid: Option<&str>) -> MergeMissing {
    let values: Vec<&str> = cols.iter().copied().filter(|c| Some(*c) != rowid).collect();
    let stage = format!("temp.{}", ident(MERGE_STAGE));
    let target = format!("main.{}", ident(table));
    let list = ident_list(values.iter().copied());
    // values compare by their bytes, as a backup and a preview compare
    // them, whatever the column's collation ('A' is not 'a' under NOCASE)
    let partition: Vec<String> = values
        .iter()
        .map(|c| format!("{} COLLATE BINARY", ident(c)))
        .collect();
    let partition = partition.join(", ");
    // the nth copy of a value in the stage is missing unless the table
    // has an nth copy too
    let numbered = |from: &str, extra: &str| {
        format!(
            "SELECT {extra}{list}, row_number() OVER (PARTITION BY {partition}) AS tresor_n \
             FROM {from}"
        )
    };
    let same: Vec<String> = values
        .iter()
        .map(|c| format!("l.{0} IS s.{0} COLLATE BINARY", ident(c)))
        .collect();
    let (into, rowid_value, staged_rowid) = match rowid {
        Some(r) => (
            format!("{list}, {}", ident(r)),
            format!(
                ", CASE WHEN EXISTS (SELECT 1 FROM {target} WHERE {} = s.tresor_rowid) \
                 THEN NULL ELSE s.tresor_rowid END",
                ident(r)
            ),
            "rowid AS tresor_rowid, ",
        ),
        None => (list.clone(), String::new(), ""),
    };
    let picked: Vec<String> = values.iter().map(|c| format!("s.{}", ident(c))).collect();
    MergeMissing {
        stage: format!(
            "DROP TABLE IF EXISTS {stage}; CREATE TEMP TABLE {} AS SELECT {list} FROM {target} WHERE 0",
            ident(MERGE_STAGE)
        ),
        merge: format!(
            "INSERT INTO {target} ({into}) SELECT {}{rowid_value} FROM ({}) AS s \
             WHERE NOT EXISTS (SELECT 1 FROM ({}) AS l WHERE {} AND l.tresor_n = s.tresor_n); \
             DROP TABLE {stage}",
            picked.join(", "),
            numbered(&stage, staged_rowid),
            numbered(&target, ""),
            same.join(" AND ")
        ),
    }
}

/// Per parameter of `load` (into the existing `table`, the snapshot's
/// `snap`), the form its `DATETIME` column keeps instants in, read off the
/// first value the column holds: integers of a unit, or text with a `T`,
/// a zone or milliseconds. A column that keeps the text
/// [`app_datetime`](crate::value::app_datetime) writes, or nothing yet,
/// takes that text, which every such application reads.
///
/// # Errors
/// The table cannot be read.
pub(crate) fn instant_forms(
    conn: &Connection,
    table: &str,
    snap: &TableSchema,
    load: &LoadPlan,
) -> Result<Vec<Option<InstantForm>>, SourceError> {
    let stored: Vec<_> = snap.stored_columns().collect();
    let mut instants = Vec::with_capacity(load.forms.len());
    for (form, pos) in load.forms.iter().zip(&load.positions) {
        let column = match (form, stored.get(*pos)) {
            (Some(AppForm::IntervalEpoch), Some(c)) => &c.name,
            _ => {
                instants.push(None);
                continue;
            }
        };
        let sql = format!(
            "SELECT {c} FROM main.{t} WHERE {c} IS NOT NULL LIMIT 1",
            c = ident(column),
            t = ident(table)
        );
        let first = conn
            .query_row(&sql, [], |row| {
                Ok(match row.get_ref(0)? {
                    ValueRef::Integer(n) => Some(InstantForm::of(n)),
                    ValueRef::Text(t) => InstantForm::of_text(&String::from_utf8_lossy(t)),
                    _ => None,
                })
            })
            .optional()
            .ctx(|| format!("cannot read column {column} of {table}"))?;
        instants.push(first.flatten());
    }
    Ok(instants)
}
