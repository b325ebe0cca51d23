//! Row predicates: `--where 'orders: customer_id = 42 and placed_at >=
//! '2026-11-01''`, a documented subset of SQL that tresor evaluates itself
//! on snapshot rows, so it means the same on every engine and needs no
//! database.
//!
//! The language (parsed with `sqlparser`, evaluated here):
//!
//! - comparisons `=`, `<>`/`!=`, `<`, `<=`, `>`, `>=` between a column and
//!   a literal (either side);
//! - `AND`, `OR`, `NOT`, parentheses;
//! - `IN (...)`, `NOT IN (...)`, `BETWEEN ... AND ...`;
//! - `LIKE`, `NOT LIKE`, `ILIKE` with `%` and `_` (and `ESCAPE 'c'`);
//! - `IS NULL`, `IS NOT NULL`, `IS TRUE`, `IS FALSE`, and a boolean column
//!   on its own (`active`, `not deleted`);
//! - literals: numbers, `'text'`, `TRUE`/`FALSE`, `NULL`, `X'hex'`, and
//!   typed literals `DATE '...'`, `TIME '...'`, `TIMESTAMP '...'`,
//!   `TIMESTAMPTZ '...'` (or `TIMESTAMP WITH TIME ZONE`), `UUID '...'`.
//!
//! Columns are named as in the table (quoted with `"..."` or `` `...` ``
//! when they need it); a name that matches no column exactly matches one
//! case-insensitively when that is unique. In a MongoDB collection, names
//! (and dotted paths such as `address.city`) that are not columns are
//! looked up in the document.
//!
//! Comparison follows SQL where the engines agree and is documented where
//! they do not: `NULL` compares as unknown (a row matches only when the
//! whole predicate is true); numbers compare by value across integer,
//! float and decimal; text compares byte-wise (the `C` collation); a text
//! literal compared with a date, time, timestamp, uuid, number or boolean
//! column is read as one (`created_at >= '2026-11-01'`); date-like text
//! (SQLite applications store dates as text) compares with typed
//! date literals by its parsed value; a zone-less timestamp compares by its
//! wall clock, an instant (`timestamptz`) in UTC.

mod eval;
mod parse;

use std::fmt;

use crate::schema::{TableName, TableSchema};

pub use eval::BoundPredicate;

/// A predicate that did not parse or does not fit its table.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PredicateError {
    message: String,
    hint: Option<String>,
}

impl PredicateError {
    fn new(message: impl Into<String>) -> Self {
        PredicateError {
            message: message.into(),
            hint: None,
        }
    }

    fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    /// The operator with its sides swapped (`1 < x` is `x > 1`).
    fn flipped(self) -> Cmp {
        match self {
            Cmp::Lt => Cmp::Gt,
            Cmp::Le => Cmp::Ge,
            Cmp::Gt => Cmp::Lt,
            Cmp::Ge => Cmp::Le,
            other => other,
        }
    }
}

/// A literal as written; what it means depends on the value it meets.
#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Null,
    Bool(bool),
    /// A number as written (`42`, `-1.5`, `1e3`).
    Number(String),
    Text(String),
    Bytes(Vec<u8>),
    Date(crate::value::Date),
    Time(crate::value::Time),
    Timestamp(crate::value::Timestamp),
    /// An instant in UTC.
    TimestampTz(crate::value::Timestamp),
    Uuid([u8; 16]),
}

/// A column (or, in a document collection, a field path).
#[derive(Clone, Debug, PartialEq, Eq)]
struct ColumnRef {
    path: Vec<String>,
    /// Whether the name was quoted (then it matches exactly only).
    quoted: bool,
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path.join("."))
    }
}

/// The parsed predicate tree.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Compare {
        column: ColumnRef,
        op: Cmp,
        value: Literal,
    },
    In {
        column: ColumnRef,
        values: Vec<Literal>,
        negated: bool,
    },
    Between {
        column: ColumnRef,
        low: Literal,
        high: Literal,
        negated: bool,
    },
    Like {
        column: ColumnRef,
        pattern: String,
        escape: Option<char>,
        case_insensitive: bool,
        negated: bool,
    },
    IsNull {
        column: ColumnRef,
        negated: bool,
    },
    IsBool {
        column: ColumnRef,
        value: bool,
        negated: bool,
    },
    /// A boolean column on its own (`where active`): its value, unknown
    /// when NULL.
    Truth(ColumnRef),
    Const(bool),
}

/// A parsed predicate, not yet tied to a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Predicate {
    text: String,
    root: Node,
}

impl Predicate {
    /// Parses a predicate (without the `TABLE:` prefix).
    ///
    /// # Errors
    /// SQL that does not parse, or that uses anything outside the language
    /// above (functions, arithmetic, subqueries, column-to-column
    /// comparisons), named in the message.
    pub fn parse(text: &str) -> Result<Predicate, PredicateError> {
        Ok(Predicate {
            text: text.trim().to_string(),
            root: parse::parse(text)?,
        })
    }

    /// The predicate as the user wrote it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Ties the predicate to `table`'s columns (its
    /// [`TableSchema::stored_columns`] order, the order snapshot rows
    /// arrive in).
    ///
    /// # Errors
    /// A column the table does not have (with the columns it has), or an
    /// ambiguous case-insensitive match.
    pub fn bind(&self, table: &TableSchema) -> Result<BoundPredicate, PredicateError> {
        eval::bind(&self.root, table)
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One `--where` argument: a table and a predicate on its rows.
#[derive(Clone, Debug, PartialEq)]
pub struct RowFilter {
    /// The table, as the user named it.
    pub table: TableName,
    /// The predicate.
    pub predicate: Predicate,
}

impl RowFilter {
    /// Parses `TABLE: PREDICATE` (`"odd:name": ...` when the table name
    /// holds a colon; `schema.table: ...` for PostgreSQL schemas).
    ///
    /// # Errors
    /// No `TABLE:` prefix, an empty predicate, or a predicate that does not
    /// parse.
    pub fn parse(text: &str) -> Result<RowFilter, PredicateError> {
        let text = text.trim();
        let (table, rest) = split_table(text).ok_or_else(|| {
            PredicateError::new(format!("{text:?} does not name a table"))
                .with_hint("write TABLE: PREDICATE, for example \"orders: customer_id = 42\"")
        })?;
        if rest.trim().is_empty() {
            return Err(PredicateError::new(format!(
                "the row filter for {table} has no predicate"
            ))
            .with_hint("write TABLE: PREDICATE, for example \"orders: customer_id = 42\""));
        }
        Ok(RowFilter {
            table: parse_table_name(&table),
            predicate: Predicate::parse(rest)?,
        })
    }

    /// Whether the filter names `table` (an unqualified name matches a
    /// table of that name in any schema).
    pub fn applies_to(&self, table: &TableName) -> bool {
        self.table.name == table.name
            && (self.table.schema.is_none() || self.table.schema == table.schema)
    }
}

/// Splits `TABLE: PREDICATE` at the first colon outside double quotes.
fn split_table(text: &str) -> Option<(String, &str)> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => {
                let table = text[..i].trim();
                if table.is_empty() {
                    return None;
                }
                return Some((table.to_string(), &text[i + 1..]));
            }
            _ => {}
        }
    }
    None
}

/// `schema.table`, `"Odd.Name"` or `table`.
fn parse_table_name(text: &str) -> TableName {
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return TableName::new(inner.replace("\"\"", "\""));
    }
    match text.split_once('.') {
        Some((schema, name)) if !schema.is_empty() && !name.is_empty() => TableName {
            schema: Some(unquote(schema)),
            name: unquote(name),
        },
        _ => TableName::new(text),
    }
}

fn unquote(s: &str) -> String {
    s.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .map_or_else(|| s.to_string(), |t| t.replace("\"\"", "\""))
}

/// What [`BoundPredicate::matches`] decides for one row, with SQL's
/// three-valued logic.
fn and3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn or3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_filters_split_at_the_table() {
        let f = RowFilter::parse("orders: customer_id = 42").expect("parse");
        assert_eq!(f.table, TableName::new("orders"));
        assert_eq!(f.predicate.text(), "customer_id = 42");
        let f = RowFilter::parse("public.orders: placed_at >= '2026-11-01 10:00'").expect("parse");
        assert_eq!(f.table.schema.as_deref(), Some("public"));
        assert_eq!(f.predicate.text(), "placed_at >= '2026-11-01 10:00'");
        let f = RowFilter::parse("\"odd:name\": id = 1").expect("parse");
        assert_eq!(f.table, TableName::new("odd:name"));
        assert!(RowFilter::parse("id = 1").is_err());
        assert!(RowFilter::parse("orders:").is_err());
        assert!(RowFilter::parse(": id = 1").is_err());
        let f = RowFilter::parse("orders: id = 1").expect("parse");
        assert!(f.applies_to(&TableName::new("orders")));
        assert!(f.applies_to(&TableName {
            schema: Some("public".into()),
            name: "orders".into()
        }));
        assert!(!f.applies_to(&TableName::new("order")));
    }

    #[test]
    fn three_valued_logic() {
        assert_eq!(and3(None, Some(false)), Some(false));
        assert_eq!(and3(None, Some(true)), None);
        assert_eq!(or3(None, Some(true)), Some(true));
        assert_eq!(or3(None, Some(false)), None);
    }
}
