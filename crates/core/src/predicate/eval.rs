//! Evaluating a predicate on rows: [`bind`] resolves columns once per
//! table, [`BoundPredicate::matches`] decides per row.

use std::cmp::Ordering;

use bson::raw::{RawBsonRef, RawDocument};

use super::parse::{hex_bytes, parse_instant, parse_uuid, parse_wall_clock};
use super::{Cmp, ColumnRef, Literal, Node, PredicateError, and3, or3};
use crate::schema::{PortableType, TableSchema};
use crate::value::{Date, Time, Timestamp, Value, compare_values};

/// Where a predicate finds a value in a row.
#[derive(Clone, Debug)]
enum Target {
    Column(usize),
    /// A field path inside the document column (MongoDB).
    Field {
        column: usize,
        path: Vec<String>,
    },
}

#[derive(Clone, Debug)]
enum Bound {
    And(Box<Bound>, Box<Bound>),
    Or(Box<Bound>, Box<Bound>),
    Not(Box<Bound>),
    Compare(Target, Cmp, Literal),
    In(Target, Vec<Literal>, bool),
    Between(Target, Literal, Literal, bool),
    Like(Target, Like, bool),
    IsNull(Target, bool),
    IsBool(Target, bool, bool),
    Truth(Target),
    Const(bool),
}

/// A predicate tied to one table's columns.
#[derive(Clone, Debug)]
pub struct BoundPredicate {
    root: Bound,
}

impl BoundPredicate {
    /// Whether `row` (values in [`TableSchema::stored_columns`] order)
    /// satisfies the predicate: true only when the whole predicate is true
    /// (unknown, as from a comparison with NULL, does not match).
    pub fn matches(&self, row: &[Value]) -> bool {
        eval(&self.root, row) == Some(true)
    }
}

pub(super) fn bind(node: &Node, table: &TableSchema) -> Result<BoundPredicate, PredicateError> {
    let names: Vec<&str> = table.stored_columns().map(|c| c.name.as_str()).collect();
    let document = table
        .stored_columns()
        .position(|c| c.portable == PortableType::Document);
    let resolver = Resolver {
        table,
        names: &names,
        document,
    };
    Ok(BoundPredicate {
        root: resolver.node(node)?,
    })
}

struct Resolver<'a> {
    table: &'a TableSchema,
    names: &'a [&'a str],
    document: Option<usize>,
}

impl Resolver<'_> {
    fn node(&self, node: &Node) -> Result<Bound, PredicateError> {
        Ok(match node {
            Node::And(a, b) => Bound::And(Box::new(self.node(a)?), Box::new(self.node(b)?)),
            Node::Or(a, b) => Bound::Or(Box::new(self.node(a)?), Box::new(self.node(b)?)),
            Node::Not(a) => Bound::Not(Box::new(self.node(a)?)),
            Node::Compare { column, op, value } => {
                Bound::Compare(self.target(column)?, *op, value.clone())
            }
            Node::In {
                column,
                values,
                negated,
            } => Bound::In(self.target(column)?, values.clone(), *negated),
            Node::Between {
                column,
                low,
                high,
                negated,
            } => Bound::Between(self.target(column)?, low.clone(), high.clone(), *negated),
            Node::Like {
                column,
                pattern,
                escape,
                case_insensitive,
                negated,
            } => Bound::Like(
                self.target(column)?,
                Like::new(pattern, *escape, *case_insensitive),
                *negated,
            ),
            Node::IsNull { column, negated } => Bound::IsNull(self.target(column)?, *negated),
            Node::IsBool {
                column,
                value,
                negated,
            } => Bound::IsBool(self.target(column)?, *value, *negated),
            Node::Truth(column) => Bound::Truth(self.target(column)?),
            Node::Const(b) => Bound::Const(*b),
        })
    }

    fn target(&self, column: &ColumnRef) -> Result<Target, PredicateError> {
        if let [name] = column.path.as_slice() {
            if let Some(i) = self.names.iter().position(|n| n == name) {
                return Ok(Target::Column(i));
            }
            if !column.quoted {
                let folded: Vec<usize> = self
                    .names
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.eq_ignore_ascii_case(name))
                    .map(|(i, _)| i)
                    .collect();
                match folded.as_slice() {
                    [i] => return Ok(Target::Column(*i)),
                    [] => {}
                    _ => {
                        return Err(PredicateError::new(format!(
                            "column {name} of table {} is ambiguous: several columns differ only \
                             in case",
                            self.table.name
                        ))
                        .with_hint("quote the column name with \"...\" to choose one exactly"));
                    }
                }
            }
        }
        if let Some(doc) = self.document {
            return Ok(Target::Field {
                column: doc,
                path: column.path.clone(),
            });
        }
        Err(
            PredicateError::new(format!("table {} has no column {column}", self.table.name))
                .with_hint(format!("its columns are: {}", self.names.join(", "))),
        )
    }
}

fn eval(node: &Bound, row: &[Value]) -> Option<bool> {
    match node {
        Bound::And(a, b) => and3(eval(a, row), eval(b, row)),
        Bound::Or(a, b) => or3(eval(a, row), eval(b, row)),
        Bound::Not(a) => eval(a, row).map(|v| !v),
        Bound::Const(b) => Some(*b),
        Bound::Compare(t, op, lit) => {
            let v = value(t, row)?;
            compare(&v, lit).map(|o| holds(*op, o))
        }
        Bound::In(t, list, negated) => {
            let v = value(t, row)?;
            // unknown (NULL) members do not stop the search: a later
            // equal member still makes it true
            let mut found = Some(false);
            for lit in list {
                found = or3(found, compare(&v, lit).map(|o| o == Ordering::Equal));
            }
            found.map(|f| f != *negated)
        }
        Bound::Between(t, low, high, negated) => {
            let v = value(t, row)?;
            let inside = and3(
                compare(&v, low).map(|o| o != Ordering::Less),
                compare(&v, high).map(|o| o != Ordering::Greater),
            );
            inside.map(|i| i != *negated)
        }
        Bound::Like(t, like, negated) => {
            let v = value(t, row)?;
            let text = as_text(&v)?;
            Some(like.matches(&text) != *negated)
        }
        Bound::IsNull(t, negated) => {
            let null = value(t, row).is_none_or(|v| v.is_null());
            Some(null != *negated)
        }
        Bound::Truth(t) => value(t, row).as_ref().and_then(as_bool),
        Bound::IsBool(t, want, negated) => {
            let v = value(t, row);
            let is = v.as_ref().and_then(as_bool) == Some(*want);
            Some(is != *negated)
        }
    }
}

fn holds(op: Cmp, o: Ordering) -> bool {
    match op {
        Cmp::Eq => o == Ordering::Equal,
        Cmp::Ne => o != Ordering::Equal,
        Cmp::Lt => o == Ordering::Less,
        Cmp::Le => o != Ordering::Greater,
        Cmp::Gt => o == Ordering::Greater,
        Cmp::Ge => o != Ordering::Less,
    }
}

/// The value a target names in `row`; `None` for NULL and missing fields.
fn value(t: &Target, row: &[Value]) -> Option<Value> {
    let v = match t {
        Target::Column(i) => row.get(*i)?.clone(),
        Target::Field { column, path } => match row.get(*column)? {
            Value::Document(bytes) => field(bytes, path)?,
            _ => return None,
        },
    };
    (!v.is_null()).then_some(v)
}

/// A field of a BSON document by path, as a [`Value`] (the types a
/// predicate can compare; others are unknown).
fn field(bytes: &[u8], path: &[String]) -> Option<Value> {
    let mut doc = RawDocument::from_bytes(bytes).ok()?;
    let (last, parents) = path.split_last()?;
    for p in parents {
        doc = match doc.get(p).ok()?? {
            RawBsonRef::Document(d) => d,
            _ => return None,
        };
    }
    Some(match doc.get(last).ok()?? {
        RawBsonRef::Null | RawBsonRef::Undefined => Value::Null,
        RawBsonRef::Boolean(b) => Value::Bool(b),
        RawBsonRef::Int32(i) => Value::Int(i64::from(i)),
        RawBsonRef::Int64(i) => Value::Int(i),
        RawBsonRef::Double(f) => Value::F64(f),
        RawBsonRef::String(s) => Value::Text(s.to_string()),
        RawBsonRef::Decimal128(d) => Value::Decimal(d.to_string()),
        RawBsonRef::ObjectId(o) => Value::Bytes(o.bytes().to_vec()),
        RawBsonRef::Binary(b) => Value::Bytes(b.bytes.to_vec()),
        RawBsonRef::DateTime(d) => Value::TimestampTz(Timestamp::from_unix_micros(
            d.timestamp_millis().saturating_mul(1000),
        )),
        _ => return None,
    })
}

/// A number literal as an exact integer, when it is one.
fn integer(lit: &str) -> Option<i128> {
    lit.parse::<i128>().ok()
}

fn is_plain_decimal(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Compares a value with a number written as text.
fn compare_number(v: &Value, lit: &str) -> Option<Ordering> {
    match v {
        Value::Int(i) => match integer(lit) {
            Some(n) => Some(i128::from(*i).cmp(&n)),
            None => float_cmp(*i as f64, lit),
        },
        Value::UInt(u) => match integer(lit) {
            Some(n) => Some(i128::from(*u).cmp(&n)),
            None => float_cmp(*u as f64, lit),
        },
        Value::Decimal(d) if is_plain_decimal(lit) && is_plain_decimal(d) => {
            Some(compare_values(v, &Value::Decimal(lit.to_string())))
        }
        Value::Decimal(d) => float_cmp(d.parse().ok()?, lit),
        Value::F64(f) => float_cmp(*f, lit),
        Value::F32(f) => float_cmp(f64::from(*f), lit),
        Value::Bool(b) => integer(lit).map(|n| i128::from(u8::from(*b)).cmp(&n)),
        // numbers kept as text (SQLite lets applications do that)
        Value::Text(s) => {
            let t = s.trim();
            match (integer(t), integer(lit)) {
                (Some(a), Some(b)) => Some(a.cmp(&b)),
                _ => float_cmp(t.parse().ok()?, lit),
            }
        }
        _ => None,
    }
}

fn float_cmp(a: f64, lit: &str) -> Option<Ordering> {
    let b: f64 = lit.parse().ok()?;
    a.partial_cmp(&b)
}

fn compare(v: &Value, lit: &Literal) -> Option<Ordering> {
    match lit {
        Literal::Null => None,
        Literal::Number(n) => compare_number(v, n),
        Literal::Bool(b) => as_bool(v).map(|x| x.cmp(b)),
        Literal::Text(s) => compare_text(v, s),
        Literal::Bytes(b) => match v {
            Value::Bytes(x) => Some(x.as_slice().cmp(b.as_slice())),
            _ => None,
        },
        Literal::Date(d) => compare_wall(
            v,
            Timestamp {
                date: *d,
                micros: 0,
            },
        ),
        Literal::Timestamp(t) => compare_wall(v, *t),
        Literal::TimestampTz(t) => compare_instant(v, *t),
        Literal::Time(t) => match v {
            Value::Time(x) | Value::TimeTz { time: x, .. } => Some(x.cmp(t)),
            Value::Text(s) => s.trim().parse::<Time>().ok().map(|x| x.cmp(t)),
            _ => None,
        },
        Literal::Uuid(u) => match v {
            Value::Uuid(x) => Some(x.cmp(u)),
            Value::Bytes(x) if x.len() == 16 => Some(x.as_slice().cmp(u.as_slice())),
            Value::Text(s) => parse_uuid(s).map(|x| x.cmp(u)),
            _ => None,
        },
    }
}

/// A text literal meets a value: read as the value's kind.
fn compare_text(v: &Value, s: &str) -> Option<Ordering> {
    match v {
        Value::Text(x) | Value::Enum(x) | Value::Json(x) => Some(x.as_bytes().cmp(s.as_bytes())),
        Value::RawText(x) => Some(x.as_slice().cmp(s.as_bytes())),
        Value::Other { text, .. } => Some(text.as_bytes().cmp(s.as_bytes())),
        Value::Int(_) | Value::UInt(_) | Value::F32(_) | Value::F64(_) | Value::Decimal(_) => {
            compare_number(v, s.trim())
        }
        Value::Bool(_) => {
            let b = parse_bool(s)?;
            as_bool(v).map(|x| x.cmp(&b))
        }
        Value::Date(_) | Value::Timestamp(_) => compare_wall(v, parse_wall_clock(s).ok()?),
        Value::TimestampTz(_) => compare_instant(v, parse_instant(s).ok()?),
        Value::Time(x) | Value::TimeTz { time: x, .. } => {
            let t = with_seconds_time(s.trim()).parse::<Time>().ok()?;
            Some(x.cmp(&t))
        }
        Value::Uuid(x) => parse_uuid(s).map(|u| x.cmp(&u)),
        // an ObjectId written as its 24 hex digits
        Value::Bytes(x) if x.len() == 12 && s.len() == 24 => {
            hex_bytes(s).map(|b| x.as_slice().cmp(b.as_slice()))
        }
        Value::Bytes(x) => Some(x.as_slice().cmp(s.as_bytes())),
        _ => None,
    }
}

fn with_seconds_time(s: &str) -> String {
    if s.matches(':').count() == 1 {
        format!("{s}:00")
    } else {
        s.to_string()
    }
}

/// Compares with a wall-clock timestamp (a date literal is its midnight).
fn compare_wall(v: &Value, t: Timestamp) -> Option<Ordering> {
    let x = match v {
        Value::Date(d) => Timestamp {
            date: *d,
            micros: 0,
        },
        Value::Timestamp(x) | Value::TimestampTz(x) => *x,
        Value::Text(s) => parse_wall_clock(s).ok()?,
        _ => return None,
    };
    Some(order_timestamps(x, t))
}

/// Compares with an instant (UTC).
fn compare_instant(v: &Value, t: Timestamp) -> Option<Ordering> {
    let x = match v {
        Value::TimestampTz(x) | Value::Timestamp(x) => *x,
        Value::Date(d) => Timestamp {
            date: *d,
            micros: 0,
        },
        Value::Text(s) => parse_instant(s).ok()?,
        _ => return None,
    };
    Some(order_timestamps(x, t))
}

fn order_timestamps(a: Timestamp, b: Timestamp) -> Ordering {
    fn rank(d: Date) -> u8 {
        match d {
            Date::NegInfinity => 0,
            Date::Ymd { .. } => 1,
            Date::Infinity => 2,
        }
    }
    rank(a.date)
        .cmp(&rank(b.date))
        .then_with(|| a.date.cmp(&b.date))
        .then_with(|| a.micros.cmp(&b.micros))
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A value as a boolean: booleans, and integers 0 and 1 (MySQL and SQLite
/// keep booleans that way).
fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Int(0) | Value::UInt(0) => Some(false),
        Value::Int(1) | Value::UInt(1) => Some(true),
        _ => None,
    }
}

/// A value as text for `LIKE`: text as it is, numbers and dates in their
/// usual text form.
fn as_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Text(s) | Value::Enum(s) | Value::Json(s) | Value::Decimal(s) => s.clone(),
        Value::RawText(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Other { text, .. } => text.clone(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::F64(f) => f.to_string(),
        Value::F32(f) => f.to_string(),
        Value::Date(d) => d.to_string(),
        Value::Timestamp(t) | Value::TimestampTz(t) => t.to_string().replacen('T', " ", 1),
        Value::Time(t) => t.to_string(),
        _ => return None,
    })
}

/// A compiled `LIKE` pattern.
#[derive(Clone, Debug)]
pub(super) struct Like {
    parts: Vec<LikePart>,
    case_insensitive: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum LikePart {
    Char(char),
    One,
    Any,
}

impl Like {
    fn new(pattern: &str, escape: Option<char>, case_insensitive: bool) -> Like {
        let mut parts = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            let part = match c {
                c if Some(c) == escape => LikePart::Char(chars.next().unwrap_or(c)),
                '%' => LikePart::Any,
                '_' => LikePart::One,
                c => LikePart::Char(if case_insensitive {
                    c.to_lowercase().next().unwrap_or(c)
                } else {
                    c
                }),
            };
            if part == LikePart::Any && parts.last() == Some(&LikePart::Any) {
                continue;
            }
            parts.push(part);
        }
        Like {
            parts,
            case_insensitive,
        }
    }

    /// Iterative matching with one backtrack point per `%` (linear in
    /// practice, never exponential).
    fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = if self.case_insensitive {
            text.chars()
                .map(|c| c.to_lowercase().next().unwrap_or(c))
                .collect()
        } else {
            text.chars().collect()
        };
        let (mut p, mut t) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.parts.get(p) {
                Some(LikePart::Any) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(LikePart::One) => {
                    p += 1;
                    t += 1;
                }
                Some(LikePart::Char(c)) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.parts[p..].iter().all(|x| *x == LikePart::Any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predicate::Predicate;
    use crate::schema::{Column, RowKey, TableName};

    fn tbl(name: &str, columns: &[(&str, PortableType)]) -> TableSchema {
        TableSchema {
            name: TableName::new(name),
            kind: "table".into(),
            columns: columns
                .iter()
                .map(|(n, p)| Column::new(*n, "x", p.clone()))
                .collect(),
            primary_key: vec![],
            row_key: RowKey::None,
            constraints: vec![],
            indexes: vec![],
            foreign_keys: vec![],
            ddl: None,
            auto_increment: None,
            comment: None,
            extra: std::collections::BTreeMap::new(),
        }
    }

    const TEXT: PortableType = PortableType::Text {
        max_len: None,
        fixed: false,
    };

    fn table() -> TableSchema {
        let int = PortableType::Int {
            bits: 64,
            unsigned: false,
        };
        let mut t = tbl(
            "orders",
            &[
                ("id", int.clone()),
                ("customer_id", int),
                (
                    "Total",
                    PortableType::Decimal {
                        precision: Some(12),
                        scale: Some(2),
                    },
                ),
                ("placed_at", PortableType::Timestamp),
                ("note", TEXT),
                ("paid", PortableType::Bool),
            ],
        );
        t.row_key = RowKey::Columns {
            columns: vec!["id".into()],
        };
        t
    }

    fn row(
        id: i64,
        customer: i64,
        total: &str,
        at: &str,
        note: Option<&str>,
        paid: bool,
    ) -> Vec<Value> {
        vec![
            Value::Int(id),
            Value::Int(customer),
            Value::Decimal(total.into()),
            Value::Timestamp(at.parse().expect("timestamp")),
            note.map_or(Value::Null, |n| Value::Text(n.into())),
            Value::Bool(paid),
        ]
    }

    fn m(pred: &str, r: &[Value]) -> bool {
        Predicate::parse(pred)
            .expect("parse")
            .bind(&table())
            .expect("bind")
            .matches(r)
    }

    #[test]
    fn operators_on_a_row() {
        let r = row(
            7,
            42,
            "19.90",
            "2026-11-02T08:30:00",
            Some("Gift wrap"),
            true,
        );
        for (pred, want) in [
            ("id = 7", true),
            ("id <> 7", false),
            ("id != 8", true),
            ("customer_id = 42 and placed_at >= '2026-11-01'", true),
            ("customer_id = 42 and placed_at >= '2026-11-03'", false),
            ("placed_at < timestamp '2026-11-02 08:31'", true),
            (
                "placed_at between date '2026-11-01' and date '2026-11-02'",
                false,
            ),
            (
                "placed_at between date '2026-11-01' and date '2026-11-03'",
                true,
            ),
            ("total = 19.9", true),
            ("total > 19.89 and total < 19.91", true),
            ("\"Total\" = '19.90'", true),
            ("id in (1, 2, 7)", true),
            ("id not in (1, 2, 7)", false),
            ("note like 'Gift%'", true),
            ("note like 'gift%'", false),
            ("note ilike 'gift%'", true),
            ("note like '_ift w_ap'", true),
            ("note is null", false),
            ("note is not null", true),
            ("paid is true", true),
            ("paid = false", false),
            ("paid = 'yes'", true),
            ("not (id = 7 or id = 8)", false),
            ("id = 7 or note = 'x'", true),
            ("true", true),
            ("paid", true),
            ("not paid", false),
            ("paid and id = 7", true),
        ] {
            assert_eq!(m(pred, &r), want, "{pred}");
        }
    }

    #[test]
    fn null_is_unknown() {
        let r = row(1, 1, "1", "2026-01-01T00:00:00", None, false);
        assert!(!m("note = 'x'", &r));
        assert!(!m("note <> 'x'", &r), "NULL <> 'x' is unknown, not true");
        assert!(!m("not (note = 'x')", &r));
        assert!(m("note is null", &r));
        let r2 = vec![
            Value::Int(1),
            Value::Int(1),
            Value::Decimal("1".into()),
            Value::Timestamp("2026-01-01T00:00:00".parse().expect("ts")),
            Value::Null,
            Value::Null,
        ];
        assert!(!m("paid", &r2));
        assert!(!m("not paid", &r2), "NOT NULL is unknown");
        assert!(m("note = 'x' or id = 1", &r));
        assert!(
            !m("id not in (2, null)", &r),
            "x NOT IN (..., NULL) is never true"
        );
        assert!(m("id in (1, null)", &r));
    }

    #[test]
    fn big_integers_compare_exactly() {
        let r = row(
            9_007_199_254_740_993,
            1,
            "1",
            "2026-01-01T00:00:00",
            None,
            false,
        );
        assert!(m("id = 9007199254740993", &r));
        assert!(!m("id = 9007199254740992", &r));
    }

    #[test]
    fn unknown_columns_are_named_with_the_columns_there_are() {
        let e = Predicate::parse("custmer_id = 1")
            .expect("parse")
            .bind(&table())
            .expect_err("unknown");
        assert!(e.to_string().contains("no column custmer_id"), "{e}");
        assert!(e.hint().is_some_and(|h| h.contains("customer_id")));
        // case folds when unique
        assert!(m(
            "ID = 1",
            &row(1, 1, "1", "2026-01-01T00:00:00", None, false)
        ));
    }

    #[test]
    fn like_patterns() {
        let like = |p: &str, t: &str| Like::new(p, Some('\\'), false).matches(t);
        assert!(like("%", ""));
        assert!(like("a%b%c", "aXXbYYc"));
        assert!(!like("a%b%c", "aXXbYY"));
        assert!(like("100\\%", "100%"));
        assert!(!like("100\\%", "1000"));
        assert!(like("%%%a", "bbba"));
        assert!(like("_", "é"));
        assert!(!like("a_", "a"));
        // no exponential blow-up
        assert!(!like(&"%a".repeat(30), &"a".repeat(29)));
    }

    #[test]
    fn sqlite_text_dates_and_numbers() {
        let t = tbl("t", &[("at", TEXT), ("n", TEXT)]);
        let p = |s: &str| Predicate::parse(s).expect("parse").bind(&t).expect("bind");
        let r = vec![
            Value::Text("2026-11-02 10:00:00".into()),
            Value::Text("0042".into()),
        ];
        assert!(p("at >= date '2026-11-01'").matches(&r));
        assert!(p("at >= '2026-11-01'").matches(&r), "byte-wise text order");
        assert!(p("n = 42").matches(&r), "numeric text compares as a number");
        assert!(
            !p("n = '42'").matches(&r),
            "text with text compares as text"
        );
    }

    #[test]
    fn document_fields() {
        let t = tbl(
            "users",
            &[
                (
                    "_id",
                    PortableType::Bytes {
                        max_len: None,
                        fixed: false,
                    },
                ),
                ("document", PortableType::Document),
            ],
        );
        let doc = bson::doc! {
            "_id": bson::oid::ObjectId::parse_str("65ab00000000000000000001").expect("oid"),
            "name": "ada",
            "age": 36,
            "address": { "city": "Oslo" },
            "since": bson::DateTime::from_millis(1_700_000_000_000),
        };
        let bytes = doc.to_vec().expect("bson");
        let r = vec![
            Value::Bytes(hex_bytes("65ab00000000000000000001").expect("hex")),
            Value::Document(bytes),
        ];
        let p = |s: &str| Predicate::parse(s).expect("parse").bind(&t).expect("bind");
        assert!(p("_id = '65ab00000000000000000001'").matches(&r));
        assert!(p("name = 'ada' and age >= 30").matches(&r));
        assert!(p("address.city = 'Oslo'").matches(&r));
        assert!(p("missing is null").matches(&r));
        assert!(p("since > timestamptz '2023-11-01T00:00:00Z'").matches(&r));
        assert!(!p("age < 30").matches(&r));
    }
}
