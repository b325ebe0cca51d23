//! Small SQL text helpers: identifiers are always quoted, values never
//! appear in SQL text.

/// Quotes an identifier for SQLite: `"a""b"`.
pub(crate) fn ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Quotes and joins identifiers with `, `.
pub(crate) fn ident_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().map(ident).collect::<Vec<_>>().join(", ")
}

/// Whether `name` is one of SQLite's reserved internal names
/// (`sqlite_sequence`, `sqlite_stat1`, `sqlite_autoindex_...`).
pub(crate) fn is_internal(name: &str) -> bool {
    name.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("sqlite_"))
}

/// Whether `sql` creates a virtual table.
pub(crate) fn is_virtual_table_sql(sql: &str) -> bool {
    let words: Vec<&str> = sql.split_whitespace().take(3).collect();
    words.len() == 3
        && words[0].eq_ignore_ascii_case("create")
        && words[1].eq_ignore_ascii_case("virtual")
        && words[2].eq_ignore_ascii_case("table")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(ident("plain"), "\"plain\"");
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(ident_list(["a b", "c"]), "\"a b\", \"c\"");
    }

    #[test]
    fn internal_names() {
        assert!(is_internal("sqlite_sequence"));
        assert!(is_internal("SQLITE_stat1"));
        assert!(!is_internal("sqlit"));
        assert!(!is_internal("users"));
        assert!(!is_internal("é"));
    }

    #[test]
    fn virtual_tables() {
        assert!(is_virtual_table_sql("CREATE VIRTUAL TABLE t USING fts5(a)"));
        assert!(is_virtual_table_sql(
            "create  virtual\ntable t using rtree(id,a,b)"
        ));
        assert!(!is_virtual_table_sql("CREATE TABLE t(a)"));
    }
}
