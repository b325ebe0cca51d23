//! Loading rows: one prepared `INSERT` per table, bound row by row.

use std::collections::BTreeSet;

use tresor_core::{
    AppForm, ErrorKind, PortableType, RestoreMode, RowReceiver, SourceError, TableSchema, Value,
    ValueChange, convert::portable_of, is_negative_zero,
};

use super::references::Written;
use super::session::{Inner, table_exists};
use crate::error::SqlResultExt;
use crate::value::{Bind, app_datetime, is_nan, is_native};

/// SQLite turns a NaN into NULL: it is kept as text instead.
const NAN_AS_TEXT: ValueChange = ValueChange {
    from: "NaN",
    to: "the text 'NaN'",
    why: "sqlite has no NaN and would store NULL",
};

/// An unsigned integer beyond SQLite's: bound as its exact text, it
/// becomes the nearest float in a column of numeric affinity.
const UINT_AS_REAL: ValueChange = ValueChange {
    from: "unsigned integer beyond 9223372036854775807",
    to: "the nearest float",
    why: "sqlite's integers are signed 64-bit, and a column of integer or numeric affinity \
          stores such a number's text as a float",
};

/// Whether a column declared `declared` has SQLite's integer, real or
/// numeric affinity (the rules of its documentation, section 3.1), which
/// turn a number's text into a number.
fn numeric_affinity(declared: &str) -> bool {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        return true;
    }
    let text_or_none = ["CHAR", "CLOB", "TEXT", "BLOB"]
        .iter()
        .any(|a| t.contains(a))
        || t.trim().is_empty();
    !text_or_none
}

/// The name of the stored column at `pos`.
fn column(table: &TableSchema, pos: usize) -> &str {
    table
        .stored_columns()
        .nth(pos)
        .map_or("?", |c| c.name.as_str())
}

impl Inner {
    /// Loads the rows of `table`; answers how many.
    pub(super) fn load(
        &mut self,
        table: &TableSchema,
        mut rx: RowReceiver,
    ) -> Result<u64, SourceError> {
        let name = table.name.name.clone();
        let load = self.loads.get(&name).ok_or_else(|| {
            SourceError::new(
                ErrorKind::NotFound,
                format!("table {name} is not part of this restore"),
            )
        })?;
        // taken while the statement borrows the connection; put back below
        let mut changes = std::mem::take(&mut self.changes);
        let conn = self.conn()?;
        if let Some(m) = &load.missing {
            conn.execute_batch(&m.stage)
                .ctx(|| format!("cannot stage the rows of {name}"))?;
        }
        // an application on SQLAlchemy (its migrations by Alembic) writes
        // every timestamp's microseconds
        let every_fraction = load.forms.contains(&Some(AppForm::IntervalEpoch))
            && table_exists(conn, "alembic_version")?;
        // an application on Rails (its `ar_internal_metadata`) keeps a time
        // of day after the date 2000-01-01, and compares it so
        let rails_times = !load.forms.is_empty() && table_exists(conn, "ar_internal_metadata")?;
        let mut stmt = conn
            .prepare(&load.sql)
            .ctx(|| format!("cannot prepare insert into {name}"))?;
        // SQLite stores a float `-0` as `0` (in a column of another type,
        // such as text, the value goes in some other form)
        let floats: Vec<bool> = table
            .stored_columns()
            .map(|c| matches!(portable_of(c), PortableType::Float { .. }))
            .collect();
        let mut n = 0u64;
        let mut foreign: BTreeSet<&'static str> = BTreeSet::new();
        // per parameter, whether its column has numeric affinity: asked
        // at the first unsigned integer beyond SQLite's
        let mut numeric: std::collections::HashMap<usize, bool> = std::collections::HashMap::new();
        // a merge notes the keys it wrote, so the foreign key check can
        // look at those rows rather than the whole table
        let mut written = match self.plan.mode {
            RestoreMode::Merge => Written::of(table),
            RestoreMode::Replace => None,
        };
        while let Some(batch) = rx.blocking_recv() {
            for row in batch {
                if row.len() != load.width {
                    return Err(SourceError::data(format!(
                        "table {name}: row {} has {} values, expected {}",
                        n + 1,
                        row.len(),
                        load.width
                    )));
                }
                for (i, &pos) in load.positions.iter().enumerate() {
                    let converted;
                    // the column's own form is the application's: no
                    // nearest storage class to warn of
                    let form = load.forms.get(i).copied().flatten();
                    let applied = form
                        .and_then(|f| f.apply(&row[pos]))
                        .or_else(|| {
                            // instants as the column keeps them: integers
                            load.instants
                                .get(i)
                                .copied()
                                .flatten()
                                .and_then(|e| e.apply(&row[pos]))
                        })
                        .or_else(|| {
                            (form == Some(AppForm::IntervalEpoch))
                                .then(|| app_datetime(&row[pos], every_fraction))
                                .flatten()
                                .map(|v| (v, None))
                        })
                        .or_else(|| match &row[pos] {
                            Value::Time(t) if rails_times => {
                                Some((Value::Text(format!("2000-01-01 {t}")), None))
                            }
                            _ => None,
                        });
                    let (v, own_form) = match applied {
                        Some((v, change)) => {
                            if let Some(change) = change {
                                changes.note(&name, column(table, pos), change)?;
                            }
                            converted = v;
                            (&converted, true)
                        }
                        None => (&row[pos], false),
                    };
                    if matches!(v, Value::UInt(u) if i64::try_from(*u).is_err()) {
                        let declared = match numeric.get(&i) {
                            Some(d) => *d,
                            None => {
                                let d = numeric_affinity(&declared_type(
                                    conn,
                                    &name,
                                    column(table, pos),
                                )?);
                                numeric.insert(i, d);
                                d
                            }
                        };
                        if declared {
                            changes.note(&name, column(table, pos), UINT_AS_REAL)?;
                        }
                    }
                    if is_nan(v) {
                        changes.note(&name, column(table, pos), NAN_AS_TEXT)?;
                    } else if is_negative_zero(v) && floats.get(pos) == Some(&true) {
                        changes.note(&name, column(table, pos), ValueChange::NEGATIVE_ZERO)?;
                    } else if !is_native(v) && !own_form {
                        foreign.insert(v.kind());
                    }
                    stmt.raw_bind_parameter(i + 1, Bind(v))
                        .ctx(|| format!("cannot bind a value of table {name}"))?;
                }
                if let Err(e) = stmt.raw_execute() {
                    return Err(match (self.plan.mode, &e) {
                        // a unique value another row holds under another key
                        (
                            RestoreMode::Merge,
                            rusqlite::Error::SqliteFailure(
                                rusqlite::ffi::Error {
                                    extended_code: rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE,
                                    ..
                                },
                                detail,
                            ),
                        ) => tresor_core::unique_collision(
                            &name,
                            None,
                            &table.primary_key,
                            detail.as_deref(),
                        ),
                        _ => crate::error::sql_error(
                            format!("cannot write row {} of table {name}", n + 1),
                            e,
                        ),
                    });
                }
                if let Some(w) = written.as_mut() {
                    w.push(&row);
                }
                n += 1;
            }
        }
        drop(stmt);
        if let Some(m) = &load.missing {
            conn.execute_batch(&m.merge)
                .ctx(|| format!("cannot merge the rows of {name}"))?;
        }
        self.changes = changes;
        if !foreign.is_empty() {
            self.warnings.push(format!(
                "table {name}: {} values stored as sqlite's nearest storage class",
                foreign.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        if let Some(w) = written {
            // a table loaded twice is checked whole
            self.written
                .entry(name.clone())
                .and_modify(Written::forget)
                .or_insert(w);
        }
        *self.rows.entry(name).or_default() += n;
        Ok(n)
    }
}

/// The declared type of `column` of `table` (empty when it has none).
fn declared_type(
    conn: &rusqlite::Connection,
    table: &str,
    column: &str,
) -> Result<String, SourceError> {
    use rusqlite::OptionalExtension;
    conn.query_row(
        "SELECT type FROM pragma_table_info(?1) WHERE name = ?2 COLLATE NOCASE",
        [table, column],
        |r| r.get::<_, String>(0),
    )
    .optional()
    .ctx(|| format!("cannot read the columns of {table}"))
    .map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_follows_sqlites_rules() {
        for numeric in [
            "bigint unsigned",
            "INTEGER",
            "REAL",
            "decimal(20,0)",
            "NUMERIC",
            "DATETIME",
        ] {
            assert!(numeric_affinity(numeric), "{numeric}");
        }
        for other in ["", "TEXT", "varchar(20)", "BLOB", "clob"] {
            assert!(!numeric_affinity(other), "{other}");
        }
    }
}
