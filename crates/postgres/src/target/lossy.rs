//! Values of another engine's snapshot that PostgreSQL cannot hold as
//! they are, written in another form and noted (docs/cross-engine.md,
//! "What is approximated"):
//!
//! - MySQL's and MariaDB's zero and invalid dates (`0000-00-00`,
//!   `2024-02-30` under a permissive `sql_mode`) in dates and timestamps
//!   become NULL;
//!   A column made by the restore whose default is MySQL's zero date
//!   (`NOT NULL DEFAULT '0000-00-00 00:00:00'`, as legacy applications
//!   declare them) takes NULL in PostgreSQL ([`zero_date_defaults`]);
//! - a blob in a column SQLite declares without a type, which becomes
//!   `text`, is written as its hex text `\x…` (PostgreSQL's `bytea` text
//!   form);
//! - into an existing column that keeps less than the snapshot's values
//!   (`numeric(10,2)`, `timestamp(0)`), PostgreSQL rounds them: noted
//!   ([`tresor_core::Keeps`]).

use tresor_core::{
    Approximation, Column, Date, Engine, Keeps, PortableType, RestorePlan, SourceError,
    TableSchema, TargetState, Value, ValueChange, ValueChanges, convert::portable_of, hex_text,
};

use super::session::TargetColumn;
use crate::encode::ColumnEncoder;
use crate::types::Codec;

/// MySQL's zero and invalid dates.
const ZERO_DATE: ValueChange = ValueChange {
    from: "zero or invalid date (0000-00-00)",
    to: "NULL",
    why: "postgresql has no zero or invalid dates",
};

/// Whether `c` is a date or timestamp column whose default is MySQL's
/// zero date: made without `NOT NULL` from another engine's snapshot.
pub(super) fn zero_date_default(c: &Column) -> bool {
    matches!(
        portable_of(c),
        PortableType::Date | PortableType::Timestamp | PortableType::TimestampTz
    ) && c
        .default
        .as_deref()
        .is_some_and(|d| d.contains("0000-00-00"))
}

/// The approximations of making the tables of `plan` that `state` lacks
/// from another engine's snapshot: each `NOT NULL` column with a zero
/// date default takes NULL.
pub(super) fn zero_date_defaults(plan: &RestorePlan, state: &TargetState) -> Vec<Approximation> {
    plan.schema
        .tables
        .iter()
        .filter(|t| plan.tables.contains(&t.name) && state.table(&t.name).is_none())
        .flat_map(|t| {
            t.stored_columns()
                .filter(|c| !c.nullable && zero_date_default(c))
                .map(|c| Approximation {
                    table: t.name.to_string(),
                    column: Some(c.name.clone()),
                    from: "NOT NULL".into(),
                    to: "NULL allowed".into(),
                    note: "the default is MySQL's zero date, and zero dates become NULL".into(),
                    values: None,
                })
        })
        .collect()
}

/// What one column's values may need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// Dates and timestamps of a MySQL or MariaDB snapshot.
    ValidDate,
    /// Text written from SQLite's untyped column.
    TextNotBytes,
    /// Values an existing column keeps less of.
    Keep(Keeps),
}

/// The columns of one table whose values may need another form.
pub(super) struct Lossy {
    table: String,
    /// Position in the row as read, the column, whether it takes NULL,
    /// and what it needs.
    columns: Vec<(usize, String, bool, Need)>,
}

impl Lossy {
    /// The columns of `table` (a snapshot of another engine when
    /// `foreign`), written with `encoders` (one per kept column, in
    /// order), whose values may need another form.
    /// A table made by this restore is `fresh`.
    pub(super) fn of(
        table: &TableSchema,
        (encoders, targets): (&[ColumnEncoder], &[TargetColumn]),
        keep: &[usize],
        (engine, fresh): (Engine, bool),
    ) -> Lossy {
        let foreign = engine != Engine::POSTGRES;
        let stored: Vec<_> = table.stored_columns().collect();
        let mut columns = Vec::new();
        if !fresh {
            for &at in keep {
                let Some(c) = stored.get(at) else { continue };
                let Some(t) = targets.iter().find(|t| t.name == c.name) else {
                    continue;
                };
                if let Some(keeps) = Keeps::to_check(c, engine, &t.type_text, false) {
                    columns.push((at, c.name.clone(), true, Need::Keep(keeps)));
                }
            }
        }
        if foreign {
            for (&at, enc) in keep.iter().zip(encoders) {
                let Some(c) = stored.get(at) else { continue };
                let need = match (&enc.codec, &portable_of(c)) {
                    (Codec::Text, PortableType::Dynamic) => Need::TextNotBytes,
                    (Codec::Date | Codec::Timestamp | Codec::TimestampTz, _)
                        if matches!(
                            portable_of(c),
                            PortableType::Date
                                | PortableType::Timestamp
                                | PortableType::TimestampTz
                        ) =>
                    {
                        Need::ValidDate
                    }
                    _ => continue,
                };
                // whether the column takes NULL is the target's to say:
                // one the restore made for a zero date default, or an
                // existing one that takes it though the snapshot's did not
                // (a zero date became NULL in an earlier move)
                let nullable = targets
                    .iter()
                    .find(|t| t.name == c.name)
                    .map_or(c.nullable || (fresh && zero_date_default(c)), |t| {
                        !t.not_null
                    });
                columns.push((at, c.name.clone(), nullable, need));
            }
        }
        Lossy {
            table: table.name.to_string(),
            columns,
        }
    }

    /// Whether no column needs anything.
    pub(super) fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Writes the values of `row` that PostgreSQL cannot hold in their
    /// other form, noting each in `changes`.
    ///
    /// # Errors
    /// A zero date in a column that does not take NULL, and any change
    /// under `--strict`.
    pub(super) fn apply(
        &self,
        row: &mut [Value],
        changes: &mut ValueChanges,
    ) -> Result<(), SourceError> {
        for (at, column, nullable, need) in &self.columns {
            let Some(v) = row.get_mut(*at) else { continue };
            match need {
                Need::ValidDate if !valid_date(v) => {
                    if !nullable {
                        return Err(ValueChanges::not_null(&self.table, column, ZERO_DATE));
                    }
                    changes.note(&self.table, column, ZERO_DATE)?;
                    *v = Value::Null;
                }
                Need::TextNotBytes => {
                    if let Value::Bytes(b) = v {
                        changes.note(&self.table, column, ValueChange::BLOB_AS_HEX_TEXT)?;
                        *v = Value::Text(hex_text(b));
                    }
                }
                Need::Keep(keeps) => {
                    if keeps.changes(v) {
                        changes.note(&self.table, column, keeps.change())?;
                    }
                }
                Need::ValidDate => {}
            }
        }
        Ok(())
    }
}

/// Whether a date or timestamp value is one PostgreSQL holds (anything
/// else passes: the encoder says what is wrong with it).
fn valid_date(v: &Value) -> bool {
    let date = match v {
        Value::Date(d) => d,
        Value::Timestamp(t) | Value::TimestampTz(t) => &t.date,
        _ => return true,
    };
    match date {
        Date::Ymd { .. } => date.to_epoch_days().is_some(),
        Date::Infinity | Date::NegInfinity => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: u8, day: u8) -> Value {
        Value::Date(Date::Ymd { year, month, day })
    }

    #[test]
    fn zero_and_invalid_dates_are_not_held() {
        assert!(valid_date(&date(2024, 2, 29)));
        assert!(!valid_date(&date(2023, 2, 29)));
        assert!(!valid_date(&date(0, 0, 0)));
        assert!(!valid_date(&date(2024, 0, 15)));
        assert!(!valid_date(&date(2024, 4, 31)));
        assert!(valid_date(&Value::Date(Date::Infinity)));
        assert!(valid_date(&Value::Text("x".into())));
    }
}
