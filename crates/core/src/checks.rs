//! Check constraints moved between engines. A check is SQL of its engine
//! (`CHECK ((depth >= 0))` from PostgreSQL, `` `depth` >= 0 `` from MariaDB,
//! `"depth" >= 0` from SQLite); the common part of the engines' SQL is
//! written again for another one: columns compared with literals or with
//! each other, arithmetic, `AND`/`OR`/`NOT`, `IN`, `BETWEEN`, `IS [NOT]
//! NULL`, and the text functions every engine has. PostgreSQL's own
//! spelling of an `IN` list (`= ANY (ARRAY[...])`) and the casts it prints
//! around columns and literals read as what they were written as. Anything
//! else (other functions, `LIKE`, whose case rules differ, a boolean,
//! array or JSON column, which the engines hold as different types) is not
//! translated: the restore lists the check as not created.

use sqlparser::ast::{BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments};
use sqlparser::ast::{
    ColumnOption, InTarget, Statement, TableConstraint, UnaryOperator, Value as SqlValue,
};
use sqlparser::dialect::{Dialect, GenericDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use crate::schema::{Engine, PortableType, TableSchema};

/// Checks nest no deeper than this.
const MAX_DEPTH: usize = 64;

/// The check `definition` of `table` (written in `from`'s SQL) as an
/// expression in `to`'s SQL, without `CHECK`; `None` when it uses
/// something that is not translated.
pub fn check_for(
    table: &TableSchema,
    definition: &str,
    from: Engine,
    to: Engine,
) -> Option<String> {
    let expr = parse(bare(definition)?, from)?;
    Writer { table, from, to }.expr(&expr, 0)
}

/// The column a check proves to hold JSON: `json_valid(col)`, alone or
/// with `OR col IS NULL` (how Django writes a `JSONField` in SQLite and
/// MariaDB writes its `JSON` alias), written in `from`'s SQL.
pub fn json_valid_column(definition: &str, from: Engine) -> Option<String> {
    let expr = parse(bare(definition)?, from)?;
    let json_valid = |e: &Expr| -> Option<String> {
        let Expr::Function(f) = unnested(e) else {
            return None;
        };
        let name = f.name.0.last()?.as_ident()?.value.to_ascii_lowercase();
        let FunctionArguments::List(list) = &f.args else {
            return None;
        };
        match (name.as_str(), list.args.as_slice()) {
            ("json_valid", [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))]) => column_name(arg),
            _ => None,
        }
    };
    match unnested(&expr) {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            right,
        } => {
            let is_null = |e: &Expr| match unnested(e) {
                Expr::IsNull(c) => column_name(c),
                _ => None,
            };
            let (valid, null) = match json_valid(left) {
                Some(c) => (c, is_null(right)?),
                None => (json_valid(right)?, is_null(left)?),
            };
            valid.eq_ignore_ascii_case(&null).then_some(valid)
        }
        e => json_valid(e),
    }
}

/// `text` as one expression of `from`'s SQL.
fn parse(text: &str, from: Engine) -> Option<Expr> {
    let dialect: Box<dyn Dialect> = match from {
        Engine::POSTGRES => Box::new(PostgreSqlDialect {}),
        Engine::MYSQL => Box::new(MySqlDialect {}),
        Engine::SQLITE => Box::new(SQLiteDialect {}),
        _ => Box::new(GenericDialect {}),
    };
    let mut parser = Parser::new(dialect.as_ref())
        .with_recursion_limit(MAX_DEPTH)
        .try_with_sql(text)
        .ok()?;
    let expr = parser.parse_expr().ok()?;
    (parser.peek_token().token == Token::EOF).then_some(expr)
}

/// `e` without the parentheses around it.
fn unnested(e: &Expr) -> &Expr {
    match e {
        Expr::Nested(inner) => unnested(inner),
        e => e,
    }
}

/// The name of the column `e` is, if it is one.
fn column_name(e: &Expr) -> Option<String> {
    match unnested(e) {
        Expr::Identifier(id) => Some(id.value.clone()),
        Expr::CompoundIdentifier(parts) => Some(parts.last()?.value.clone()),
        _ => None,
    }
}

/// The check constraints of a SQLite `CREATE TABLE` statement, as (name,
/// expression) (an unnamed one has an empty name), in the order written;
/// `None` when the statement does not parse. SQLite keeps them only in the
/// statement's text.
pub fn checks_in_create_table(sql: &str) -> Option<Vec<(String, String)>> {
    let statements = Parser::parse_sql(&SQLiteDialect {}, sql).ok()?;
    let [Statement::CreateTable(table)] = statements.as_slice() else {
        return None;
    };
    let name = |n: &Option<sqlparser::ast::Ident>| n.as_ref().map(|i| i.value.clone());
    let mut out = Vec::new();
    for column in &table.columns {
        for o in &column.options {
            if let ColumnOption::Check(k) = &o.option {
                let named = name(&o.name).or_else(|| name(&k.name));
                out.push((named.unwrap_or_default(), k.expr.to_string()));
            }
        }
    }
    for c in &table.constraints {
        if let TableConstraint::Check(k) = c {
            out.push((name(&k.name).unwrap_or_default(), k.expr.to_string()));
        }
    }
    Some(out)
}

/// The expression of a definition: without `CHECK` around it and
/// PostgreSQL's `NOT VALID` after it.
fn bare(definition: &str) -> Option<&str> {
    let mut t = definition.trim();
    if let Some(rest) = t.strip_suffix("NOT VALID") {
        t = rest.trim_end();
    }
    if t.len() > 5 && t[..5].eq_ignore_ascii_case("check") {
        t = t[5..].trim_start();
    }
    (!t.is_empty()).then_some(t)
}

struct Writer<'a> {
    table: &'a TableSchema,
    from: Engine,
    to: Engine,
}

impl Writer<'_> {
    fn expr(&self, e: &Expr, depth: usize) -> Option<String> {
        if depth > MAX_DEPTH {
            return None;
        }
        let d = depth + 1;
        Some(match e {
            Expr::Nested(inner) => format!("({})", self.expr(inner, d)?),
            Expr::Identifier(id) => self.column(&id.value)?,
            Expr::CompoundIdentifier(parts) => self.column(&parts.last()?.value)?,
            Expr::Value(v) => self.literal(&v.value)?,
            Expr::BinaryOp { left, op, right } => {
                let op = match op {
                    BinaryOperator::Eq => "=",
                    BinaryOperator::NotEq => "<>",
                    BinaryOperator::Lt => "<",
                    BinaryOperator::LtEq => "<=",
                    BinaryOperator::Gt => ">",
                    BinaryOperator::GtEq => ">=",
                    BinaryOperator::And => "AND",
                    BinaryOperator::Or => "OR",
                    BinaryOperator::Plus => "+",
                    BinaryOperator::Minus => "-",
                    BinaryOperator::Multiply => "*",
                    _ => return None,
                };
                format!("{} {op} {}", self.expr(left, d)?, self.expr(right, d)?)
            }
            Expr::UnaryOp { op, expr } => match op {
                UnaryOperator::Not => format!("NOT {}", self.expr(expr, d)?),
                UnaryOperator::Minus => format!("-{}", self.expr(expr, d)?),
                UnaryOperator::Plus => self.expr(expr, d)?,
                _ => return None,
            },
            Expr::IsNull(inner) => format!("{} IS NULL", self.expr(inner, d)?),
            Expr::IsNotNull(inner) => format!("{} IS NOT NULL", self.expr(inner, d)?),
            Expr::In {
                expr,
                target: InTarget::List(list),
                negated,
                ..
            } => self.in_list(expr, list, *negated, d)?,
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => format!(
                "{} {}BETWEEN {} AND {}",
                self.expr(expr, d)?,
                if *negated { "NOT " } else { "" },
                self.expr(low, d)?,
                self.expr(high, d)?
            ),
            // the casts PostgreSQL prints around what was written
            Expr::Cast { expr, .. } if self.from == Engine::POSTGRES && plain(expr) => {
                self.expr(expr, d)?
            }
            // PostgreSQL's `IN (...)`: `= ANY (ARRAY[...])`, `<> ALL (...)`
            Expr::AnyOp {
                left,
                compare_op: BinaryOperator::Eq,
                right,
                ..
            } => self.in_list(left, array(right)?, false, d)?,
            Expr::AllOp {
                left,
                compare_op: BinaryOperator::NotEq,
                right,
            } => self.in_list(left, array(right)?, true, d)?,
            Expr::Function(f) => {
                let name = f.name.0.last()?.as_ident()?.value.to_ascii_lowercase();
                let FunctionArguments::List(list) = &f.args else {
                    return None;
                };
                let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] = list.args.as_slice()
                else {
                    return None;
                };
                let name = match name.as_str() {
                    // MySQL's length() counts bytes
                    "length" if self.from == Engine::MYSQL => return None,
                    "length" | "char_length" | "character_length" => {
                        if self.to == Engine::SQLITE {
                            "length"
                        } else {
                            "char_length"
                        }
                    }
                    "lower" | "upper" | "trim" | "abs" => name.as_str(),
                    _ => return None,
                };
                format!("{name}({})", self.expr(arg, d)?)
            }
            _ => return None,
        })
    }

    fn in_list(&self, e: &Expr, list: &[Expr], negated: bool, d: usize) -> Option<String> {
        let items: Option<Vec<String>> = list.iter().map(|x| self.expr(x, d)).collect();
        Some(format!(
            "{} {}IN ({})",
            self.expr(e, d)?,
            if negated { "NOT " } else { "" },
            items?.join(", ")
        ))
    }

    /// A column of the table, quoted for the target; `None` for a name
    /// that is not one, and for a column of a type the engines do not
    /// share as the same scalar (SQLite and MySQL keep booleans as
    /// integers and their checks compare them with numbers; arrays, JSON,
    /// bits and intervals compare by other rules in each).
    fn column(&self, name: &str) -> Option<String> {
        let c = self.table.column_folded(name)?;
        let scalar = matches!(
            crate::convert::portable_of(c),
            PortableType::Int { .. }
                | PortableType::Float { .. }
                | PortableType::Decimal { .. }
                | PortableType::Text { .. }
                | PortableType::Enum { .. }
                | PortableType::Date
                | PortableType::Time
                | PortableType::Timestamp
                | PortableType::TimestampTz
        );
        if !scalar {
            return None;
        }
        Some(if self.to == Engine::MYSQL {
            format!("`{}`", c.name.replace('`', "``"))
        } else {
            format!("\"{}\"", c.name.replace('"', "\"\""))
        })
    }

    fn literal(&self, v: &SqlValue) -> Option<String> {
        Some(match v {
            SqlValue::Number(n, _) => n.to_string(),
            SqlValue::SingleQuotedString(s) => {
                let s = s.replace('\'', "''");
                // MySQL reads a backslash in a string as an escape
                let s = if self.to == Engine::MYSQL {
                    s.replace('\\', "\\\\")
                } else {
                    s
                };
                format!("'{s}'")
            }
            SqlValue::Null => "NULL".into(),
            _ => return None,
        })
    }
}

/// Whether `e` is a column or a literal (what PostgreSQL casts in a check
/// it prints back).
fn plain(e: &Expr) -> bool {
    match e {
        Expr::Nested(inner) => plain(inner),
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_) => true,
        _ => false,
    }
}

/// The elements of `ARRAY[...]`, through PostgreSQL's casts.
fn array(e: &Expr) -> Option<&[Expr]> {
    match e {
        Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => array(inner),
        Expr::Array(a) => Some(&a.elem),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, TableName};

    fn table() -> TableSchema {
        let int = PortableType::Int {
            bits: 32,
            unsigned: false,
        };
        let text = PortableType::Text {
            max_len: Some(10),
            fixed: false,
        };
        TableSchema::with_columns(
            TableName::new("page"),
            vec![
                Column::new("depth", "integer", int.clone()),
                Column::new("numchild", "integer", int),
                Column::new("status", "varchar(10)", text.clone()),
                Column::new("Title", "text", text),
                Column::new("live", "boolean", PortableType::Bool),
            ],
        )
    }

    fn into(from: Engine, def: &str, to: Engine) -> Option<String> {
        check_for(&table(), def, from, to)
    }

    #[test]
    fn the_engines_checks_are_written_again_for_another() {
        let pg = Engine::POSTGRES;
        let my = Engine::MYSQL;
        let lite = Engine::SQLITE;
        assert_eq!(
            into(pg, "CHECK ((depth >= 0))", my).as_deref(),
            Some("((`depth` >= 0))")
        );
        assert_eq!(
            into(lite, r#""depth" >= 0 AND numchild BETWEEN 0 AND 10"#, pg).as_deref(),
            Some(r#""depth" >= 0 AND "numchild" BETWEEN 0 AND 10"#)
        );
        assert_eq!(
            into(my, "`status` in ('draft','it''s')", lite).as_deref(),
            Some(r#""status" IN ('draft', 'it''s')"#)
        );
        // PostgreSQL's spelling of an IN list
        assert_eq!(
            into(
                pg,
                "CHECK (((status)::text = ANY ((ARRAY['draft'::character varying, \
                 'live'::character varying])::text[])))",
                my
            )
            .as_deref(),
            Some("(((`status`) IN ('draft', 'live')))")
        );
        assert_eq!(
            into(pg, "CHECK ((char_length(\"Title\") <= 5)) NOT VALID", lite).as_deref(),
            Some(r#"((length("Title") <= 5))"#)
        );
        assert_eq!(
            into(lite, "length(title) < 50 OR title IS NULL", pg).as_deref(),
            Some(r#"char_length("Title") < 50 OR "Title" IS NULL"#)
        );
        assert_eq!(
            into(lite, r"status <> 'a\b'", my).as_deref(),
            Some(r"`status` <> 'a\\b'")
        );
    }

    #[test]
    fn sqlite_keeps_its_checks_in_the_statement() {
        let sql = r#"CREATE TABLE "page" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
            "depth" integer unsigned NOT NULL CHECK ("depth" >= 0),
            "status" varchar(10) CONSTRAINT status_known CHECK (status IN ('draft', 'live')),
            "Title" text, CONSTRAINT title_len CHECK (length("Title") < 50))"#;
        let checks = checks_in_create_table(sql).expect("parsed");
        let names: Vec<&str> = checks.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["", "status_known", "title_len"]);
        // each reads back as a check another engine takes
        let made: Vec<Option<String>> = checks
            .iter()
            .map(|(_, e)| check_for(&table(), e, Engine::SQLITE, Engine::POSTGRES))
            .collect();
        assert_eq!(
            made,
            [
                Some(r#""depth" >= 0"#.to_string()),
                Some(r#""status" IN ('draft', 'live')"#.to_string()),
                Some(r#"char_length("Title") < 50"#.to_string()),
            ]
        );
        assert_eq!(
            checks_in_create_table("CREATE TABLE t (a, b)"),
            Some(vec![])
        );
        assert_eq!(checks_in_create_table("not sql at all"), None);
    }

    #[test]
    fn a_json_valid_check_names_the_column_holding_json() {
        let (lite, my) = (Engine::SQLITE, Engine::MYSQL);
        // Django's JSONField in SQLite, MariaDB's JSON alias
        let django = r#"(JSON_VALID("content") OR "content" IS NULL)"#;
        assert_eq!(json_valid_column(django, lite).as_deref(), Some("content"));
        assert_eq!(
            json_valid_column("CHECK (json_valid(`doc`))", my).as_deref(),
            Some("doc")
        );
        assert_eq!(
            json_valid_column(r#"("data" IS NULL OR json_valid("data"))"#, lite).as_deref(),
            Some("data")
        );
        // anything more, or two columns, is no proof
        for other in [
            r#"JSON_VALID("a") OR "b" IS NULL"#,
            r#"JSON_VALID("a") AND "a" IS NOT NULL"#,
            r#"JSON_VALID("a", 1)"#,
            r#"JSON_VALID(lower("a"))"#,
            r#""a" IS NULL"#,
            "json_valid(",
        ] {
            assert_eq!(json_valid_column(other, lite), None, "{other}");
        }
    }

    #[test]
    fn what_the_engines_do_not_share_is_not_translated() {
        let (pg, lite, my) = (Engine::POSTGRES, Engine::SQLITE, Engine::MYSQL);
        // a boolean column: 0/1 in SQLite and MySQL, a type of its own here
        assert_eq!(into(lite, "live IN (0, 1)", pg), None);
        assert_eq!(into(lite, "status LIKE 'a%'", pg), None);
        assert_eq!(into(lite, "nosuch > 0", pg), None);
        assert_eq!(into(my, "length(status) < 5", pg), None);
        assert_eq!(into(pg, "CHECK ((depth > f(numchild)))", lite), None);
        assert_eq!(into(lite, "depth >= 0) OR (1", pg), None);
        assert_eq!(into(lite, "", pg), None);
        assert_eq!(into(lite, &"(".repeat(200), pg), None);
    }
}
