//! Values a target cannot hold as the snapshot has them and writes in
//! another form: a floating-point NaN into MySQL, MariaDB's zero date
//! `0000-00-00` into PostgreSQL. A target notes each such value while it
//! loads; the notes become [`Approximation`]s of the restore's summary,
//! which the dry run's rehearsal lists per table and column before
//! anything is written, and `--strict` ([`RestorePlan::strict`]) refuses
//! the first one instead.
//!
//! [`RestorePlan::strict`]: crate::RestorePlan::strict

use std::collections::BTreeMap;

use crate::approximate::Approximation;
use crate::source::{ErrorKind, SourceError};

/// How a target writes one kind of value it cannot hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ValueChange {
    /// The values, as the snapshot has them (`NaN or infinity`).
    pub from: &'static str,
    /// What the target writes instead (`NULL`).
    pub to: &'static str,
    /// Why (`mysql has no NaN or infinity`).
    pub why: &'static str,
}

impl ValueChange {
    /// A blob in a column SQLite declares without a type, which another
    /// engine makes a text column: written as its hex text `\x…`
    /// (PostgreSQL's text form of bytes), see [`hex_text`].
    pub const BLOB_AS_HEX_TEXT: ValueChange = ValueChange {
        from: "blob",
        to: "its hex text \\x...",
        why: "sqlite's untyped column becomes a text column, which holds no bytes",
    };

    /// A floating-point `-0` into SQLite or MariaDB, which store it as
    /// `0` (see [`is_negative_zero`]).
    pub const NEGATIVE_ZERO: ValueChange = ValueChange {
        from: "-0",
        to: "0",
        why: "the target stores a float -0 as 0",
    };
}

/// Whether `v` is a floating-point `-0` ([`ValueChange::NEGATIVE_ZERO`]).
pub fn is_negative_zero(v: &crate::Value) -> bool {
    match v {
        crate::Value::F64(f) => *f == 0.0 && f.is_sign_negative(),
        crate::Value::F32(f) => *f == 0.0 && f.is_sign_negative(),
        _ => false,
    }
}

/// `\x0aff`: the text a blob is written as where only text fits
/// ([`ValueChange::BLOB_AS_HEX_TEXT`]).
pub fn hex_text(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("\\x");
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// The value changes of one restore, counted per table, column and
/// change.
#[derive(Debug, Default)]
pub struct ValueChanges {
    strict: bool,
    seen: BTreeMap<(String, String, ValueChange), u64>,
}

impl ValueChanges {
    /// Changes of a restore that refuses them all when `strict`.
    pub fn new(strict: bool) -> ValueChanges {
        ValueChanges {
            strict,
            seen: BTreeMap::new(),
        }
    }

    /// Notes that a value of `table`.`column` is written as `change`
    /// says.
    ///
    /// # Errors
    /// Under `--strict`, naming the value and the column (nothing has
    /// been committed: the restore rolls back).
    pub fn note(
        &mut self,
        table: &str,
        column: &str,
        change: ValueChange,
    ) -> Result<(), SourceError> {
        if self.strict {
            return Err(SourceError::new(
                ErrorKind::Unsupported,
                format!(
                    "--strict: table {table}, column {column}: a value {} would be written as {} ({})",
                    change.from, change.to, change.why
                ),
            )
            .with_hint("the dry run without --strict lists every value it converts; a restore without --strict goes ahead with them"));
        }
        *self
            .seen
            .entry((table.to_string(), column.to_string(), change))
            .or_default() += 1;
        Ok(())
    }

    /// The error for a value of `table`.`column` that `change` would
    /// write as NULL, into a column that does not take NULL.
    pub fn not_null(table: &str, column: &str, change: ValueChange) -> SourceError {
        SourceError::data(format!(
            "table {table}, column {column}: a value {} would be written as {} ({}), but the column is NOT NULL",
            change.from, change.to, change.why
        ))
        .with_hint(
            "make the column nullable in the target first (create the table yourself and restore into it), or change those values in the source",
        )
    }

    /// Whether nothing was changed.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Takes the changes noted so far, as approximations.
    pub fn take(&mut self) -> Vec<Approximation> {
        std::mem::take(&mut self.seen)
            .into_iter()
            .map(|((table, column, change), n)| Approximation {
                table,
                column: Some(column),
                from: change.from.to_string(),
                to: change.to.to_string(),
                note: change.why.to_string(),
                values: Some(n),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAN: ValueChange = ValueChange {
        from: "NaN",
        to: "NULL",
        why: "mysql has no NaN",
    };

    #[test]
    fn changes_are_counted_per_column() {
        let mut c = ValueChanges::new(false);
        c.note("t", "a", NAN).expect("noted");
        c.note("t", "a", NAN).expect("noted");
        c.note("t", "b", NAN).expect("noted");
        let all = c.take();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].values, Some(2));
        assert_eq!(
            all[0].to_string(),
            "t.a: 2 values NaN become NULL: mysql has no NaN"
        );
        assert!(c.is_empty());
    }

    #[test]
    fn bytes_are_written_as_postgresql_hex_text() {
        assert_eq!(hex_text(&[0, 0xab, 0x10]), "\\x00ab10");
        assert_eq!(hex_text(&[]), "\\x");
    }

    #[test]
    fn strict_refuses_the_first_change() {
        let mut c = ValueChanges::new(true);
        let e = c.note("t", "a", NAN).expect_err("refused");
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().contains("table t, column a"), "{e}");
    }
}
