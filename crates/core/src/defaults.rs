//! Column defaults that mean the same in every engine: a number, a quoted
//! string, true or false, or the current timestamp. A table made from
//! another engine's snapshot keeps these (an application's `DEFAULT 0 NOT
//! NULL` still lets it insert without the column); any other default is
//! an expression in the source engine's SQL, not translated, and the dry
//! run lists it.

use crate::convert::portable_of;
use crate::schema::{Column, PortableType};

/// A default every engine writes the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortableDefault {
    /// A number: `-?digits(.digits)?`.
    Number(String),
    /// A string (unquoted).
    Text(String),
    /// True or false.
    Bool(bool),
    /// The time of the insert.
    CurrentTimestamp,
}

impl PortableDefault {
    /// The default as SQL: numbers as they are, strings quoted, booleans
    /// as `true`/`false` when `booleans` (PostgreSQL) or else `1`/`0`.
    pub fn sql(&self, booleans: bool) -> String {
        match self {
            PortableDefault::Number(n) => n.clone(),
            PortableDefault::Text(s) => format!("'{}'", s.replace('\'', "''")),
            PortableDefault::Bool(b) if booleans => b.to_string(),
            PortableDefault::Bool(b) => u8::from(*b).to_string(),
            PortableDefault::CurrentTimestamp => "CURRENT_TIMESTAMP".into(),
        }
    }
}

/// Whether the engine numbers `c` itself when a row leaves it out: an
/// identity (MySQL's `AUTO_INCREMENT`, PostgreSQL's identity, SQLite's
/// `AUTOINCREMENT`) or PostgreSQL's `serial`, a default drawn from a
/// sequence (`nextval('t_id_seq'::regclass)`, what TypeORM, Prisma and
/// Rails make). A table made in another engine numbers it too.
pub fn auto_numbered(c: &Column) -> bool {
    c.identity
        || (c.generated.is_none()
            && c.default.as_deref().is_some_and(|d| {
                d.trim_start()
                    .get(..8)
                    .is_some_and(|p| p.eq_ignore_ascii_case("nextval("))
            })
            && matches!(portable_of(c), PortableType::Int { .. }))
}

/// The default of `c`, when it means the same in every engine and suits
/// the column's type (a number for a number, a string for text, 0/1 or
/// true/false for a boolean, the current timestamp for a timestamp).
pub fn portable_default(c: &Column) -> Option<PortableDefault> {
    if c.generated.is_some() || c.identity {
        return None;
    }
    let parsed = parse(c.default.as_deref()?)?;
    let p = portable_of(c);
    match (&p, parsed) {
        (PortableType::Bool, PortableDefault::Number(n)) if n == "0" || n == "1" => {
            Some(PortableDefault::Bool(n == "1"))
        }
        (PortableType::Bool, d @ PortableDefault::Bool(_)) => Some(d),
        // a number quoted (SQLAlchemy's `server_default='0'`) is that
        // number in every engine: SQLite's numeric affinity, the others'
        // casts of a string literal
        (PortableType::Bool, PortableDefault::Text(s)) if s == "0" || s == "1" => {
            Some(PortableDefault::Bool(s == "1"))
        }
        (PortableType::Int { .. }, PortableDefault::Text(s)) if matches!(parse(&s), Some(PortableDefault::Number(ref n)) if !n.contains('.')) => {
            Some(PortableDefault::Number(s))
        }
        (PortableType::Float { .. } | PortableType::Decimal { .. }, PortableDefault::Text(s))
            if matches!(parse(&s), Some(PortableDefault::Number(_))) =>
        {
            Some(PortableDefault::Number(s))
        }
        (
            PortableType::Int { .. } | PortableType::Float { .. } | PortableType::Decimal { .. },
            d @ PortableDefault::Number(_),
        ) => Some(d),
        (PortableType::Int { .. }, PortableDefault::Bool(b)) => {
            Some(PortableDefault::Number(u8::from(b).to_string()))
        }
        (PortableType::Text { max_len, .. }, PortableDefault::Text(s))
            if max_len.is_none_or(|n| s.chars().count() as u64 <= n) =>
        {
            Some(PortableDefault::Text(s))
        }
        (
            PortableType::Timestamp | PortableType::TimestampTz,
            PortableDefault::CurrentTimestamp,
        ) => Some(PortableDefault::CurrentTimestamp),
        _ => None,
    }
}

/// Whether `c` has a default that a table made in another engine goes
/// without: one written in the source engine's SQL ([`portable_default`]
/// has none for it). A `NULL` default (MySQL's for a nullable column), an
/// identity and a generated column's expression are no default.
pub(crate) fn default_lost(c: &Column) -> bool {
    let set = c.default.as_deref().is_some_and(|d| !is_null(d));
    set && c.generated.is_none() && !auto_numbered(c) && portable_default(c).is_none()
}

/// Whether a default expression is `NULL`, however written: PostgreSQL
/// keeps `DEFAULT NULL` on a `varchar` as `NULL::character varying`,
/// SQLite keeps the parentheses the DDL had.
fn is_null(expr: &str) -> bool {
    let e = unwrapped(expr).to_ascii_lowercase();
    e == "null" || e.starts_with("null::")
}

/// A default expression of any engine, read as a [`PortableDefault`].
/// `expr` without the parentheses around it that SQLite keeps as the DDL
/// had them.
fn unwrapped(expr: &str) -> &str {
    let mut e = expr.trim();
    while e.len() >= 2 && e.starts_with('(') && e.ends_with(')') {
        e = e[1..e.len() - 1].trim();
    }
    e
}

fn parse(expr: &str) -> Option<PortableDefault> {
    let e = unwrapped(expr);
    match e.to_ascii_lowercase().as_str() {
        "true" => return Some(PortableDefault::Bool(true)),
        "false" => return Some(PortableDefault::Bool(false)),
        "current_timestamp" | "current_timestamp()" | "now()" | "localtimestamp" => {
            return Some(PortableDefault::CurrentTimestamp);
        }
        _ => {}
    }
    if let Some(rest) = e.strip_prefix('\'') {
        // a quoted string, then perhaps a PostgreSQL cast to a text type
        let mut text = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            let (i, ch) = chars.next()?;
            if ch == '\'' {
                if rest[i + 1..].starts_with('\'') {
                    text.push('\'');
                    chars.next();
                    continue;
                }
                break i + 1;
            }
            text.push(ch);
        };
        let cast = rest[end..].trim();
        let text_cast = cast.is_empty()
            || [
                "::text",
                "::character varying",
                "::bpchar",
                "::character",
                "::varchar",
            ]
            .iter()
            .any(|c| cast.eq_ignore_ascii_case(c));
        // a number quoted and cast to a number (PostgreSQL prints
        // SQLAlchemy's `server_default='0'` as `'0'::bigint`): the string,
        // which [`portable_default`] reads as a number for a number column
        let number_cast = [
            "::bigint",
            "::integer",
            "::smallint",
            "::numeric",
            "::double precision",
            "::real",
        ]
        .iter()
        .any(|c| cast.eq_ignore_ascii_case(c))
            && matches!(parse(&text), Some(PortableDefault::Number(_)));
        return (text_cast || number_cast).then_some(PortableDefault::Text(text));
    }
    // a number, perhaps cast by PostgreSQL (`0::bigint`, `'0'` is text)
    let number = e.split("::").next().unwrap_or(e).trim();
    let number = number
        .strip_prefix('(')
        .and_then(|n| n.strip_suffix(')'))
        .unwrap_or(number);
    let digits = number.strip_prefix('-').unwrap_or(number);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (is_digits(whole) && fraction.is_none_or(is_digits))
        .then(|| PortableDefault::Number(number.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_of_every_engine_are_read() {
        for (expr, want) in [
            ("0", Some(PortableDefault::Number("0".into()))),
            ("(-1.50)", Some(PortableDefault::Number("-1.50".into()))),
            ("0::bigint", Some(PortableDefault::Number("0".into()))),
            ("(-5)::integer", Some(PortableDefault::Number("-5".into()))),
            ("''", Some(PortableDefault::Text(String::new()))),
            ("'it''s'", Some(PortableDefault::Text("it's".into()))),
            (
                "'draft'::character varying",
                Some(PortableDefault::Text("draft".into())),
            ),
            ("('x')", Some(PortableDefault::Text("x".into()))),
            ("false", Some(PortableDefault::Bool(false))),
            ("TRUE", Some(PortableDefault::Bool(true))),
            (
                "current_timestamp()",
                Some(PortableDefault::CurrentTimestamp),
            ),
            ("CURRENT_TIMESTAMP", Some(PortableDefault::CurrentTimestamp)),
            ("now()", Some(PortableDefault::CurrentTimestamp)),
            ("NULL", None),
            ("'{}'::jsonb", None),
            ("'0'::bigint", Some(PortableDefault::Text("0".into()))),
            ("'1.5'::numeric", Some(PortableDefault::Text("1.5".into()))),
            ("'x'::bigint", None),
            ("'0'::interval", None),
            ("nextval('s'::regclass)", None),
            ("gen_random_uuid()", None),
            ("1e5", None),
            ("'unterminated", None),
            ("'a' || 'b'", None),
        ] {
            assert_eq!(parse(expr), want, "{expr}");
        }
    }

    #[test]
    fn a_null_default_is_no_default_however_written() {
        for d in [
            "NULL",
            "null",
            "NULL::character varying",
            "(NULL)",
            " NULL::text ",
        ] {
            assert!(is_null(d), "{d}");
        }
        for d in ["'NULL'", "nullif(a, b)", "0"] {
            assert!(!is_null(d), "{d}");
        }
    }

    #[test]
    fn a_default_is_kept_only_where_it_suits_the_column() {
        let column = |ty: &str, p: PortableType, d: &str| {
            let mut c = Column::new("c", ty, p);
            c.default = Some(d.into());
            c
        };
        let int = PortableType::Int {
            bits: 32,
            unsigned: false,
        };
        let text = |n| PortableType::Text {
            max_len: n,
            fixed: false,
        };
        assert_eq!(
            portable_default(&column("boolean", PortableType::Bool, "0")),
            Some(PortableDefault::Bool(false))
        );
        assert_eq!(
            portable_default(&column("boolean", PortableType::Bool, "2")),
            None
        );
        assert_eq!(
            portable_default(&column("int", int.clone(), "false")),
            Some(PortableDefault::Number("0".into()))
        );
        // a quoted number is the number, where it fits the type
        assert_eq!(
            portable_default(&column("bigint", int.clone(), "'0'")),
            Some(PortableDefault::Number("0".into()))
        );
        assert_eq!(
            portable_default(&column("boolean", PortableType::Bool, "'1'")),
            Some(PortableDefault::Bool(true))
        );
        assert_eq!(
            portable_default(&column("bigint", int.clone(), "'0'::bigint")),
            Some(PortableDefault::Number("0".into()))
        );
        assert_eq!(portable_default(&column("int", int.clone(), "'1.5'")), None);
        assert_eq!(portable_default(&column("int", int.clone(), "'a'")), None);
        assert_eq!(
            portable_default(&column("boolean", PortableType::Bool, "'yes'")),
            None
        );
        assert_eq!(
            portable_default(&column("real", PortableType::Float { bits: 64 }, "'-1.5'")),
            Some(PortableDefault::Number("-1.5".into()))
        );
        assert_eq!(portable_default(&column("int", int, "'0x10'")), None);
        assert_eq!(
            portable_default(&column("varchar(5)", text(Some(5)), "'draft'")),
            Some(PortableDefault::Text("draft".into()))
        );
        assert_eq!(
            portable_default(&column("varchar(3)", text(Some(3)), "'draft'")),
            None
        );
        assert_eq!(
            portable_default(&column("date", PortableType::Date, "now()")),
            None
        );
        let mut g = column("text", text(None), "'x'");
        g.identity = true;
        assert_eq!(portable_default(&g), None);
        assert_eq!(PortableDefault::Text("it's".into()).sql(true), "'it''s'");
        assert_eq!(PortableDefault::Bool(true).sql(true), "true");
        assert_eq!(PortableDefault::Bool(true).sql(false), "1");
    }
}
