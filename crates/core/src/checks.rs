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
//! translated: the restore lists the check as not created. A check that
//! only says what the target's type holds anyway (a boolean is 0 or 1, a
//! JSON column holds JSON) is the type's own there. A generated column's
//! expression is written again by the same rules.

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
    if let Some(column) = boolean_domain(table, &expr) {
        // the check SQLite and MySQL need on a boolean kept as an integer
        // (`col IN (0, 1)`, SQLAlchemy's); PostgreSQL's boolean is its own
        // check ([`check_implied_by_type`])
        return (to != Engine::POSTGRES).then(|| format!("{} IN (0, 1)", quoted(&column, to)));
    }
    Writer {
        table,
        from,
        to,
        generated: false,
    }
    .expr(&expr, 0)
}

/// Whether the check `definition` of `table` (in `from`'s SQL) is what
/// the type `to` gives the column holds anyway: that a JSON column holds
/// JSON (MariaDB's `JSON` alias, Django's `JSONField` in SQLite), that a
/// boolean kept as an integer is 0 or 1 (SQLAlchemy's `Boolean` in SQLite
/// and MySQL) in PostgreSQL's `boolean`. Such a check is not made there,
/// and nothing is lost.
pub fn check_implied_by_type(
    table: &TableSchema,
    definition: &str,
    from: Engine,
    to: Engine,
) -> bool {
    let json = json_valid_column(definition, from)
        .and_then(|c| table.column_folded(&c))
        .is_some_and(|col| crate::convert::portable_of(col) == PortableType::Json);
    json || (to == Engine::POSTGRES
        && bare(definition)
            .and_then(|d| parse(d, from))
            .is_some_and(|e| boolean_domain(table, &e).is_some()))
}

/// The expression of the generated column `column` of `table` (written
/// in `from`'s SQL) in `to`'s SQL, when it uses only what checks do and
/// computes the same value in every engine (columns that are not
/// generated themselves, arithmetic, `trim`, `abs`, lengths; not `lower`
/// or `upper`, which SQLite does only for ASCII); `None` otherwise.
pub fn generated_for(
    table: &TableSchema,
    column: &crate::schema::Column,
    from: Engine,
    to: Engine,
) -> Option<String> {
    let expression = &column.generated.as_ref()?.expression;
    let expr = parse(expression.trim(), from)?;
    // SQLite computes what the others refuse (a comparison into a
    // number, arithmetic on text): the expression must be of the
    // column's kind throughout
    (kind_of(table, &expr, 0)? == Kind::of(column)?).then_some(())?;
    Writer {
        table,
        from,
        to,
        generated: true,
    }
    .expr(&expr, 0)
}

/// What a generated column's expression computes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Number,
    Text,
}

impl Kind {
    /// What `column` holds, when it is a number or text.
    fn of(column: &crate::schema::Column) -> Option<Kind> {
        match crate::convert::portable_of(column) {
            PortableType::Int { .. }
            | PortableType::Float { .. }
            | PortableType::Decimal { .. } => Some(Kind::Number),
            PortableType::Text { .. } => Some(Kind::Text),
            _ => None,
        }
    }
}

/// The kind of value `e` computes over `table`'s columns, when every part
/// of it has a kind and each operator gets what every engine takes (`+`,
/// `-`, `*` numbers; `abs` a number; `trim` and the lengths text); `None`
/// for anything else.
fn kind_of(table: &TableSchema, e: &Expr, depth: usize) -> Option<Kind> {
    if depth > MAX_DEPTH {
        return None;
    }
    let d = depth + 1;
    let number = |e: &Expr| (kind_of(table, e, d)? == Kind::Number).then_some(Kind::Number);
    match e {
        Expr::Nested(inner) => kind_of(table, inner, d),
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
            Kind::of(table.column_folded(&column_name(e)?)?)
        }
        Expr::Value(v) => match &v.value {
            SqlValue::Number(..) => Some(Kind::Number),
            SqlValue::SingleQuotedString(_) => Some(Kind::Text),
            _ => None,
        },
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Plus | BinaryOperator::Minus | BinaryOperator::Multiply,
            right,
        } => {
            number(left)?;
            number(right)
        }
        Expr::UnaryOp {
            op: UnaryOperator::Minus | UnaryOperator::Plus,
            expr,
        } => number(expr),
        Expr::Trim {
            expr,
            trim_where: None,
            trim_what: None,
            trim_characters: None,
        } => (kind_of(table, expr, d)? == Kind::Text).then_some(Kind::Text),
        Expr::Function(f) => {
            let name = f.name.0.last()?.as_ident()?.value.to_ascii_lowercase();
            let FunctionArguments::List(list) = &f.args else {
                return None;
            };
            let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] = list.args.as_slice() else {
                return None;
            };
            let text = (kind_of(table, arg, d)? == Kind::Text).then_some(());
            match name.as_str() {
                "abs" => number(arg),
                "length" | "char_length" | "character_length" => text.map(|()| Kind::Number),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The columns a table made in `to` from `table` (of `from`) has, in
/// order, each generated one with its expression in `to`'s SQL: the
/// visible columns the rows carry, and the generated ones
/// [`generated_for`] writes.
pub fn made_columns(
    table: &TableSchema,
    from: Engine,
    to: Engine,
) -> Vec<(&crate::schema::Column, Option<String>)> {
    table
        .columns
        .iter()
        .filter(|c| !c.hidden)
        .filter_map(|c| match c.generated {
            None => Some((c, None)),
            Some(_) => generated_for(table, c, from, to).map(|e| (c, Some(e))),
        })
        .collect()
}

/// Whether a table made in `to` from `table` (of `from`) has `column`:
/// every column the rows carry, and a generated one whose expression
/// [`generated_for`] writes in `to`'s SQL.
pub fn column_made(
    table: &TableSchema,
    column: &crate::schema::Column,
    from: Engine,
    to: Engine,
) -> bool {
    column.generated.is_none() || generated_for(table, column, from, to).is_some()
}

/// The boolean column `e` says is 0 or 1: `col IN (0, 1)` (either order)
/// on a column that is a boolean kept as an integer.
fn boolean_domain(table: &TableSchema, e: &Expr) -> Option<String> {
    let Expr::In {
        expr,
        target: InTarget::List(list),
        negated: false,
        ..
    } = unnested(e)
    else {
        return None;
    };
    let column = table.column_folded(&column_name(expr)?)?;
    if crate::convert::portable_of(column) != PortableType::Bool {
        return None;
    }
    let mut numbers: Vec<String> = list
        .iter()
        .map(|x| match unnested(x) {
            Expr::Value(v) => match &v.value {
                SqlValue::Number(n, _) => Some(n.to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect::<Option<_>>()?;
    numbers.sort();
    (numbers == ["0", "1"]).then(|| column.name.clone())
}

/// `name` quoted for `to`.
fn quoted(name: &str, to: Engine) -> String {
    if to == Engine::MYSQL {
        format!("`{}`", name.replace('`', "``"))
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
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

/// The generated columns of a SQLite `CREATE TABLE` statement, as
/// (column, expression); `None` when the statement does not parse. SQLite
/// keeps a generated column's expression only in the statement's text.
pub fn generated_in_create_table(sql: &str) -> Option<Vec<(String, String)>> {
    let statements = Parser::parse_sql(&SQLiteDialect {}, sql).ok()?;
    let [Statement::CreateTable(table)] = statements.as_slice() else {
        return None;
    };
    Some(
        table
            .columns
            .iter()
            .filter_map(|column| {
                column.options.iter().find_map(|o| match &o.option {
                    ColumnOption::Generated {
                        generation_expr: Some(e),
                        ..
                    } => Some((column.name.value.clone(), e.to_string())),
                    _ => None,
                })
            })
            .collect(),
    )
}

/// The expression of a definition: without `CHECK` around it and
/// PostgreSQL's `NOT VALID` after it.
fn bare(definition: &str) -> Option<&str> {
    let mut t = definition.trim();
    if let Some(rest) = t.strip_suffix("NOT VALID") {
        t = rest.trim_end();
    }
    // the keyword, not a column whose name begins with it (`checked_at`)
    let keyword = t.get(..5).is_some_and(|k| k.eq_ignore_ascii_case("check"))
        && t[5..].starts_with(|c: char| c.is_whitespace() || c == '(');
    if keyword {
        t = t[5..].trim_start();
    }
    (!t.is_empty()).then_some(t)
}

struct Writer<'a> {
    table: &'a TableSchema,
    from: Engine,
    to: Engine,
    /// Writing a generated column's expression: the engines refuse one
    /// that reads another generated column.
    generated: bool,
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
            // `trim(x)`, which the parser reads as its own expression
            Expr::Trim {
                expr,
                trim_where: None,
                trim_what: None,
                trim_characters: None,
            } => format!("trim({})", self.expr(expr, d)?),
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
                    // SQLite folds only ASCII letters' case: a generated
                    // column would hold other values there
                    "lower" | "upper" if self.generated => return None,
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
        if self.generated && c.generated.is_some() {
            return None;
        }
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
        Some(quoted(&c.name, self.to))
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
            into(lite, "trim(status) <> ''", pg).as_deref(),
            Some(r#"trim("status") <> ''"#)
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
    fn sqlite_keeps_generated_columns_in_the_statement() {
        let sql = r#"CREATE TABLE "spans" (start BIGINT NOT NULL, "end" BIGINT,
            duration BIGINT GENERATED ALWAYS AS ("end" - start) STORED,
            label TEXT AS (upper(name)), name TEXT)"#;
        assert_eq!(
            generated_in_create_table(sql),
            Some(vec![
                ("duration".to_string(), r#""end" - start"#.to_string()),
                ("label".to_string(), "upper(name)".to_string()),
            ])
        );
        assert_eq!(generated_in_create_table("not sql at all"), None);
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
    fn a_boolean_kept_as_an_integer_is_checked_where_it_is_one() {
        let (pg, lite, my) = (Engine::POSTGRES, Engine::SQLITE, Engine::MYSQL);
        // SQLAlchemy's Boolean in SQLite and MySQL
        assert_eq!(
            into(lite, "live IN (0, 1)", my).as_deref(),
            Some("`live` IN (0, 1)")
        );
        assert_eq!(
            into(my, "CHECK ((`live` in (1,0)))", lite).as_deref(),
            Some(r#""live" IN (0, 1)"#)
        );
        // PostgreSQL's boolean holds nothing else: the type's own check
        assert!(check_implied_by_type(&table(), "live IN (0, 1)", lite, pg));
        assert!(!check_implied_by_type(&table(), "live IN (0, 1)", lite, my));
        for other in ["live IN (0, 2)", "depth IN (0, 1)", "live NOT IN (0, 1)"] {
            assert!(!check_implied_by_type(&table(), other, lite, pg), "{other}");
        }
        assert_eq!(into(lite, "live IN (0, 2)", my), None);
    }

    #[test]
    fn a_column_named_like_the_keyword_is_a_column() {
        let mut t = table();
        t.columns.push(Column::new(
            "checked",
            "integer",
            PortableType::Int {
                bits: 32,
                unsigned: false,
            },
        ));
        assert_eq!(
            check_for(&t, "checked >= 0", Engine::SQLITE, Engine::MYSQL).as_deref(),
            Some("`checked` >= 0")
        );
        assert_eq!(
            check_for(&t, "CHECK(checked >= 0)", Engine::SQLITE, Engine::MYSQL).as_deref(),
            Some("(`checked` >= 0)")
        );
    }

    #[test]
    fn a_generated_column_is_written_again_in_the_shared_sql() {
        let mut t = table();
        let int = PortableType::Int {
            bits: 32,
            unsigned: false,
        };
        for (name, expression) in [
            // MLflow's spans.duration_ns, as SQLite, PostgreSQL and MariaDB keep it
            ("span", "end - start"),
            ("pg_span", "(depth - numchild)"),
            ("twice", "span * 2"),
            ("concat", "status || 'x'"),
            ("shout", "upper(`Title`)"),
            ("bigger", "depth > numchild"),
            ("sum_text", "status + 1"),
            ("title_len", "length(trim(Title)) + 1"),
        ] {
            t.columns
                .push(Column::computed(name, "integer", int.clone(), expression));
        }
        let text = PortableType::Text {
            max_len: None,
            fixed: false,
        };
        t.columns.push(Column::computed(
            "status_len_text",
            "text",
            text,
            "length(status)",
        ));
        let t = t;
        let col = |n: &str| t.column(n).expect("column");
        let (pg, lite, my) = (Engine::POSTGRES, Engine::SQLITE, Engine::MYSQL);
        // columns that are not in the table are not written
        assert_eq!(generated_for(&t, col("span"), lite, pg), None);
        assert_eq!(
            generated_for(&t, col("pg_span"), pg, my).as_deref(),
            Some("(`depth` - `numchild`)")
        );
        // the engines fold case differently beyond ASCII: a check is the
        // same, a generated value would not be
        assert_eq!(generated_for(&t, col("shout"), my, pg), None);
        // another generated column, or what the engines do not share
        assert_eq!(generated_for(&t, col("twice"), lite, pg), None);
        // a comparison or text into a number, arithmetic on text: SQLite
        // computes them, the others refuse
        assert_eq!(generated_for(&t, col("bigger"), lite, pg), None);
        assert_eq!(generated_for(&t, col("sum_text"), lite, pg), None);
        assert_eq!(generated_for(&t, col("status_len_text"), lite, pg), None);
        assert_eq!(
            generated_for(&t, col("title_len"), lite, pg).as_deref(),
            Some(r#"char_length(trim("Title")) + 1"#)
        );
        assert_eq!(generated_for(&t, col("concat"), lite, pg), None);
        assert_eq!(generated_for(&t, col("depth"), lite, pg), None);
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
