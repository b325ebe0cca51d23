//! SQL text -> [`Node`], through `sqlparser`'s expression parser, keeping
//! only the forms the language allows.

use sqlparser::ast::{
    BinaryOperator, DataType, Expr, Ident, InTarget, TimezoneInfo, UnaryOperator, Value as SqlValue,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use super::{Cmp, ColumnRef, Literal, Node, PredicateError};
use crate::value::{Date, Time, Timestamp};

/// Predicates nest no deeper than this (a hostile `((((...))))` stops
/// here, not in a stack overflow).
const MAX_DEPTH: usize = 64;

/// The allowed forms, for error messages.
const LANGUAGE: &str = "comparisons of a column with a literal (=, <>, <, <=, >, >=), AND, OR, \
     NOT, IN (...), BETWEEN, LIKE, ILIKE, IS [NOT] NULL, IS [NOT] TRUE/FALSE";

pub(super) fn parse(text: &str) -> Result<Node, PredicateError> {
    if text.trim().is_empty() {
        return Err(PredicateError::new("the predicate is empty"));
    }
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect)
        .with_recursion_limit(MAX_DEPTH)
        .try_with_sql(text)
        .map_err(|e| syntax(text, &e.to_string()))?;
    let expr = parser
        .parse_expr()
        .map_err(|e| syntax(text, &e.to_string()))?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(syntax(
            text,
            &format!("unexpected {} after the predicate", next.token),
        ));
    }
    node(&expr, 0)
}

fn syntax(text: &str, why: &str) -> PredicateError {
    PredicateError::new(format!("cannot read the predicate {text:?}: {why}"))
        .with_hint(format!("the predicate language allows {LANGUAGE}"))
}

fn unsupported(expr: &Expr) -> PredicateError {
    PredicateError::new(format!("`{expr}` is not part of the predicate language"))
        .with_hint(format!("use {LANGUAGE}"))
}

fn node(expr: &Expr, depth: usize) -> Result<Node, PredicateError> {
    if depth > MAX_DEPTH {
        return Err(PredicateError::new("the predicate nests too deeply"));
    }
    let d = depth + 1;
    Ok(match expr {
        Expr::Nested(inner) => node(inner, d)?,
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::And => Node::And(Box::new(node(left, d)?), Box::new(node(right, d)?)),
            BinaryOperator::Or => Node::Or(Box::new(node(left, d)?), Box::new(node(right, d)?)),
            _ => {
                let op = comparison(op).ok_or_else(|| unsupported(expr))?;
                match (column(left), column(right)) {
                    (Some(c), None) => Node::Compare {
                        column: c,
                        op,
                        value: literal(right)?,
                    },
                    (None, Some(c)) => Node::Compare {
                        column: c,
                        op: op.flipped(),
                        value: literal(left)?,
                    },
                    (Some(_), Some(_)) => {
                        return Err(PredicateError::new(format!(
                            "`{expr}` compares two columns; a predicate compares a column with \
                             a literal"
                        )));
                    }
                    (None, None) => {
                        // a side that is neither column nor literal says why
                        literal(left)?;
                        literal(right)?;
                        return Err(PredicateError::new(format!("`{expr}` names no column"))
                            .with_hint("compare a column with a literal, for example id = 42"));
                    }
                }
            }
        },
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr: inner,
        } => Node::Not(Box::new(node(inner, d)?)),
        Expr::IsNull(inner) => Node::IsNull {
            column: need_column(inner)?,
            negated: false,
        },
        Expr::IsNotNull(inner) => Node::IsNull {
            column: need_column(inner)?,
            negated: true,
        },
        Expr::IsTrue(inner) => is_bool(inner, true, false)?,
        Expr::IsNotTrue(inner) => is_bool(inner, true, true)?,
        Expr::IsFalse(inner) => is_bool(inner, false, false)?,
        Expr::IsNotFalse(inner) => is_bool(inner, false, true)?,
        Expr::In {
            expr: inner,
            target: InTarget::List(list),
            negated,
            ..
        } => Node::In {
            column: need_column(inner)?,
            values: list.iter().map(literal).collect::<Result<_, _>>()?,
            negated: *negated,
        },
        Expr::Between {
            expr: inner,
            negated,
            low,
            high,
        } => Node::Between {
            column: need_column(inner)?,
            low: literal(low)?,
            high: literal(high)?,
            negated: *negated,
        },
        Expr::Like {
            negated,
            any: false,
            expr: inner,
            pattern,
            escape_char,
        } => like(inner, pattern, escape_char.as_deref(), false, *negated)?,
        Expr::ILike {
            negated,
            any: false,
            expr: inner,
            pattern,
            escape_char,
        } => like(inner, pattern, escape_char.as_deref(), true, *negated)?,
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
            Node::Truth(column(expr).ok_or_else(|| unsupported(expr))?)
        }
        Expr::Value(v) => match &v.value {
            SqlValue::Boolean(b) => Node::Const(*b),
            _ => {
                return Err(
                    PredicateError::new(format!("`{expr}` is a value, not a condition"))
                        .with_hint("compare a column with it, for example id = 42"),
                );
            }
        },
        _ => return Err(unsupported(expr)),
    })
}

fn comparison(op: &BinaryOperator) -> Option<Cmp> {
    Some(match op {
        BinaryOperator::Eq => Cmp::Eq,
        BinaryOperator::NotEq => Cmp::Ne,
        BinaryOperator::Lt => Cmp::Lt,
        BinaryOperator::LtEq => Cmp::Le,
        BinaryOperator::Gt => Cmp::Gt,
        BinaryOperator::GtEq => Cmp::Ge,
        _ => return None,
    })
}

fn is_bool(inner: &Expr, value: bool, negated: bool) -> Result<Node, PredicateError> {
    Ok(Node::IsBool {
        column: need_column(inner)?,
        value,
        negated,
    })
}

fn like(
    inner: &Expr,
    pattern: &Expr,
    escape: Option<&Expr>,
    case_insensitive: bool,
    negated: bool,
) -> Result<Node, PredicateError> {
    let Literal::Text(pattern) = literal(pattern)? else {
        return Err(PredicateError::new(format!(
            "the pattern of LIKE must be text, not `{pattern}`"
        )));
    };
    let escape = match escape.map(literal).transpose()? {
        None => None,
        Some(Literal::Text(e)) if e.chars().count() == 1 => e.chars().next(),
        Some(_) => {
            return Err(PredicateError::new(
                "the ESCAPE of LIKE must be a single character",
            ));
        }
    };
    Ok(Node::Like {
        column: need_column(inner)?,
        pattern,
        escape,
        case_insensitive,
        negated,
    })
}

fn ident_path(idents: &[Ident]) -> ColumnRef {
    ColumnRef {
        path: idents.iter().map(|i| i.value.clone()).collect(),
        quoted: idents.iter().any(|i| i.quote_style.is_some()),
    }
}

/// The column an expression names, if it is one.
fn column(expr: &Expr) -> Option<ColumnRef> {
    match expr {
        Expr::Identifier(i) => Some(ident_path(std::slice::from_ref(i))),
        Expr::CompoundIdentifier(parts) => Some(ident_path(parts)),
        Expr::Nested(inner) => column(inner),
        _ => None,
    }
}

fn need_column(expr: &Expr) -> Result<ColumnRef, PredicateError> {
    column(expr).ok_or_else(|| {
        PredicateError::new(format!("`{expr}` is not a column"))
            .with_hint("name a column of the table, quoted with \"...\" if it needs it")
    })
}

fn literal(expr: &Expr) -> Result<Literal, PredicateError> {
    let bad = |why: String| PredicateError::new(format!("`{expr}`: {why}"));
    match expr {
        Expr::Nested(inner) => literal(inner),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr: inner,
        } => match literal(inner)? {
            Literal::Number(n) => Ok(Literal::Number(match n.strip_prefix('-') {
                Some(pos) => pos.to_string(),
                None => format!("-{n}"),
            })),
            _ => Err(bad("only a number can be negated".into())),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr: inner,
        } => literal(inner),
        Expr::Value(v) => match &v.value {
            SqlValue::Null => Ok(Literal::Null),
            SqlValue::Boolean(b) => Ok(Literal::Bool(*b)),
            SqlValue::Number(n, _) => Ok(Literal::Number(n.to_string())),
            SqlValue::HexStringLiteral(h) => hex_bytes(h)
                .map(Literal::Bytes)
                .ok_or_else(|| bad("not a hexadecimal byte string".into())),
            other => other
                .clone()
                .into_string()
                .map(Literal::Text)
                .ok_or_else(|| unsupported(expr)),
        },
        Expr::TypedString(t) => {
            let text = t
                .value
                .clone()
                .into_string()
                .ok_or_else(|| unsupported(expr))?;
            typed(&t.data_type, &text).map_err(bad)
        }
        _ if column(expr).is_some() => Err(PredicateError::new(format!(
            "`{expr}` is a column where a literal belongs"
        ))
        .with_hint("quote text with single quotes: name = 'ada'")),
        _ => Err(unsupported(expr)),
    }
}

fn typed(data_type: &DataType, text: &str) -> Result<Literal, String> {
    let text = text.trim();
    match data_type {
        DataType::Date => text.parse::<Date>().map(Literal::Date),
        DataType::Time(_, _) => text.parse::<Time>().map(Literal::Time),
        DataType::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => {
            parse_instant(text).map(Literal::TimestampTz)
        }
        DataType::Timestamp(_, _) | DataType::Datetime(_) | DataType::TimestampNtz(_) => {
            parse_wall_clock(text).map(Literal::Timestamp)
        }
        DataType::Uuid => parse_uuid(text)
            .map(Literal::Uuid)
            .ok_or_else(|| format!("{text:?} is not a uuid")),
        DataType::Custom(name, _) if name.to_string().eq_ignore_ascii_case("timestamptz") => {
            parse_instant(text).map(Literal::TimestampTz)
        }
        other => Err(format!(
            "typed literals of type {other} are not supported; use DATE, TIME, TIMESTAMP, \
             TIMESTAMPTZ or UUID, or a plain '...' text literal"
        )),
    }
}

/// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.ffffff]]` (or with `T`), ignoring
/// a trailing zone: a wall clock.
pub(super) fn parse_wall_clock(text: &str) -> Result<Timestamp, String> {
    let (clock, _offset) = split_offset(text);
    if let Ok(d) = clock.parse::<Date>() {
        return Ok(Timestamp { date: d, micros: 0 });
    }
    let normalised = with_seconds(clock);
    normalised.parse::<Timestamp>()
}

/// Like [`parse_wall_clock`], but an instant: a zone or offset
/// (`Z`, `+02:00`, `-0530`, `+02`) moves it to UTC; none means UTC.
pub(super) fn parse_instant(text: &str) -> Result<Timestamp, String> {
    let (clock, offset) = split_offset(text);
    let wall = parse_wall_clock(clock)?;
    let Some(offset_secs) = offset else {
        return Ok(wall);
    };
    let micros = wall
        .to_unix_micros()
        .ok_or_else(|| format!("{text:?} is not a valid instant"))?;
    Ok(Timestamp::from_unix_micros(
        micros - i64::from(offset_secs) * 1_000_000,
    ))
}

/// Adds `:00` seconds to `HH:MM` so the value model's parser takes it.
fn with_seconds(clock: &str) -> String {
    match clock.split_once(['T', ' ']) {
        Some((d, t)) if t.matches(':').count() == 1 => format!("{d} {t}:00"),
        _ => clock.to_string(),
    }
}

/// Splits a trailing zone off a timestamp: (clock, offset east of UTC in
/// seconds).
fn split_offset(text: &str) -> (&str, Option<i32>) {
    let text = text.trim();
    if let Some(clock) = text.strip_suffix('Z').or_else(|| text.strip_suffix(" UTC")) {
        return (clock, Some(0));
    }
    // an offset follows the time part only (dates have '-' too)
    let Some(time_start) = text.find(['T', ' ']) else {
        return (text, None);
    };
    let time = &text[time_start..];
    let Some(sign_at) = time.rfind(['+', '-']) else {
        return (text, None);
    };
    let (clock, zone) = text.split_at(time_start + sign_at);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits: String = zone[1..].chars().filter(char::is_ascii_digit).collect();
    let (h, m) = match digits.len() {
        2 => (digits.parse::<i32>().ok(), Some(0)),
        4 => (digits[..2].parse().ok(), digits[2..].parse().ok()),
        _ => (None, None),
    };
    match (h, m) {
        (Some(h), Some(m)) if h <= 15 && m < 60 => {
            (clock.trim_end(), Some(sign * (h * 3600 + m * 60)))
        }
        _ => (text, None),
    }
}

pub(super) fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let hex: String = text
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .chars()
        .filter(|c| *c != '-')
        .collect();
    let bytes = hex_bytes(&hex)?;
    bytes.try_into().ok()
}

pub(super) fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str) -> ColumnRef {
        ColumnRef {
            path: vec![name.into()],
            quoted: false,
        }
    }

    #[test]
    fn the_language_parses() {
        assert_eq!(
            parse("id = 4711").expect("parse"),
            Node::Compare {
                column: col("id"),
                op: Cmp::Eq,
                value: Literal::Number("4711".into())
            }
        );
        // literal on the left: the operator turns around
        assert_eq!(
            parse("10 < qty").expect("parse"),
            Node::Compare {
                column: col("qty"),
                op: Cmp::Gt,
                value: Literal::Number("10".into())
            }
        );
        assert!(matches!(
            parse("customer_id = 42 and created_at >= '2026-11-01'").expect("parse"),
            Node::And(..)
        ));
        assert!(matches!(
            parse("not (a is null or b in (1, 2, -3))").expect("parse"),
            Node::Not(_)
        ));
        assert!(matches!(
            parse("name not like 'a\\_%' escape '\\'").expect("parse"),
            Node::Like {
                negated: true,
                escape: Some('\\'),
                ..
            }
        ));
        assert!(matches!(
            parse("placed_at between date '2026-01-01' and timestamp '2026-12-31 23:59'")
                .expect("parse"),
            Node::Between {
                low: Literal::Date(_),
                high: Literal::Timestamp(_),
                ..
            }
        ));
        assert!(matches!(
            parse("\"Weird Column\" = x'00ff'").expect("parse"),
            Node::Compare {
                value: Literal::Bytes(_),
                column: ColumnRef { quoted: true, .. },
                ..
            }
        ));
        assert!(matches!(
            parse("address.city = 'Oslo'").expect("parse"),
            Node::Compare { column: ColumnRef { ref path, .. }, .. } if path.len() == 2
        ));
    }

    #[test]
    fn what_is_not_in_the_language_is_named() {
        for (text, said) in [
            ("lower(name) = 'x'", "not part of the predicate language"),
            ("a + 1 = 2", "not part of the predicate language"),
            ("a = b", "compares two columns"),
            ("1 = 1", "names no column"),
            ("id in (select 1)", "not part of the predicate language"),
            ("id = 1 garbage", "cannot read the predicate"),
            ("", "empty"),
            ("id =", "cannot read the predicate"),
            (
                "id = interval '1 day'",
                "not part of the predicate language",
            ),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.to_string().contains(said), "{text}: {e}");
        }
        let deep = format!("{}id = 1{}", "(".repeat(500), ")".repeat(500));
        assert!(
            parse(&deep).is_err(),
            "deep nesting is refused, not a crash"
        );
    }

    #[test]
    fn instants_and_wall_clocks() {
        let t = parse_instant("2026-11-01 10:00:00+02:00").expect("instant");
        assert_eq!(t, parse_wall_clock("2026-11-01 08:00:00").expect("wall"));
        assert_eq!(
            parse_instant("2026-11-01T08:00Z").expect("instant"),
            parse_wall_clock("2026-11-01 08:00").expect("wall")
        );
        assert_eq!(
            parse_instant("2026-11-01 03:00-0500").expect("instant"),
            parse_wall_clock("2026-11-01 08:00").expect("wall")
        );
        assert_eq!(
            parse_wall_clock("2026-11-01").expect("date"),
            parse_wall_clock("2026-11-01 00:00:00").expect("midnight")
        );
        assert!(parse_wall_clock("yesterday").is_err());
        assert_eq!(
            parse_uuid("{123e4567-e89b-12d3-a456-426614174000}").map(|u| u[0]),
            Some(0x12)
        );
        assert!(parse_uuid("123").is_none());
    }
}
