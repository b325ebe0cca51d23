//! Choosing tables: include and exclude patterns with globs.
//!
//! A pattern matches a table when it matches its plain name (`users`,
//! `user_*`) or, for engines with schemas, its qualified name
//! (`public.users`, `audit.*`). Excludes win over includes; no include
//! means every table.

use globset::{Glob, GlobMatcher};
use thiserror::Error;

use crate::schema::TableName;

/// A pattern that is not a valid glob.
#[derive(Debug, Error)]
#[error("invalid table pattern {pattern:?}: {reason}")]
#[non_exhaustive]
pub struct FilterError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

#[derive(Clone, Debug)]
struct Pattern {
    text: String,
    matcher: GlobMatcher,
}

impl Pattern {
    fn new(text: &str) -> Result<Self, FilterError> {
        let glob = Glob::new(text).map_err(|e| FilterError {
            pattern: text.to_string(),
            reason: e.kind().to_string(),
        })?;
        Ok(Pattern {
            text: text.to_string(),
            matcher: glob.compile_matcher(),
        })
    }

    fn matches(&self, name: &TableName) -> bool {
        self.matcher.is_match(&name.name)
            || (name.schema.is_some() && self.matcher.is_match(name.to_string()))
    }

    fn is_literal(&self) -> bool {
        !self.text.contains(['*', '?', '[', '{'])
    }
}

/// Which tables an operation covers.
#[derive(Clone, Debug, Default)]
pub struct TableFilter {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
    exact: Option<Vec<TableName>>,
}

impl TableFilter {
    /// Every table.
    pub fn all() -> Self {
        TableFilter::default()
    }

    /// Tables matching any of `include` and none of `exclude`.
    ///
    /// # Errors
    /// A pattern that is not a valid glob.
    pub fn new<S: AsRef<str>>(include: &[S], exclude: &[S]) -> Result<Self, FilterError> {
        Ok(TableFilter {
            include: include
                .iter()
                .map(|p| Pattern::new(p.as_ref()))
                .collect::<Result<_, _>>()?,
            exclude: exclude
                .iter()
                .map(|p| Pattern::new(p.as_ref()))
                .collect::<Result<_, _>>()?,
            exact: None,
        })
    }

    /// Exactly the tables named, whatever characters their names hold.
    pub fn exact(names: impl IntoIterator<Item = TableName>) -> Self {
        TableFilter {
            exact: Some(names.into_iter().collect()),
            ..TableFilter::default()
        }
    }

    /// Whether the filter selects every table.
    pub fn is_all(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty() && self.exact.is_none()
    }

    /// Whether `name` is selected.
    pub fn matches(&self, name: &TableName) -> bool {
        if let Some(exact) = &self.exact {
            return exact.contains(name);
        }
        (self.include.is_empty() || self.include.iter().any(|p| p.matches(name)))
            && !self.exclude.iter().any(|p| p.matches(name))
    }

    /// Include patterns without wildcards that match none of `names`: the
    /// user asked for a table that does not exist, which deserves an error
    /// rather than a silently smaller backup.
    pub fn unmatched_literals<'a>(
        &self,
        names: impl IntoIterator<Item = &'a TableName>,
    ) -> Vec<String> {
        let names: Vec<&TableName> = names.into_iter().collect();
        if let Some(exact) = &self.exact {
            return exact
                .iter()
                .filter(|e| !names.contains(e))
                .map(ToString::to_string)
                .collect();
        }
        self.include
            .iter()
            .filter(|p| p.is_literal() && !names.iter().any(|n| p.matches(n)))
            .map(|p| p.text.clone())
            .collect()
    }
}

/// The error for table names a selection gives that the database does
/// not have (`missing`), listing the tables it has (`all`), the ones most
/// like a missing name first, so that a typo shows its correction.
pub fn no_such_tables<T: std::fmt::Display>(
    missing: &[String],
    all: impl IntoIterator<Item = T>,
    place: &str,
) -> crate::SourceError {
    const SHOWN: usize = 40;
    let mut names: Vec<String> = all.into_iter().map(|t| t.to_string()).collect();
    names.sort();
    names.dedup();
    // most alike first: sharing the longest start with a missing name
    let alike = |n: &str| {
        missing
            .iter()
            .map(|m| {
                let m = m.rsplit('.').next().unwrap_or(m).to_ascii_lowercase();
                let n = n.rsplit('.').next().unwrap_or(n).to_ascii_lowercase();
                m.chars().zip(n.chars()).take_while(|(a, b)| a == b).count()
            })
            .max()
            .unwrap_or(0)
    };
    names.sort_by_key(|n| std::cmp::Reverse(alike(n)));
    let mut listed = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        listed.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    let error = crate::SourceError::new(
        crate::ErrorKind::NotFound,
        format!("no table named {} in {place}", missing.join(", ")),
    );
    if names.is_empty() {
        error.with_hint("the database has no tables")
    } else {
        error.with_hint(format!("the tables there are: {listed}"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_table_lists_the_alike_first() {
        let e = no_such_tables(
            &["ordres".into()],
            ["users", "orders", "order_lines", "audit.log"],
            "shop",
        );
        assert_eq!(
            e.to_string().lines().next(),
            Some("no table named ordres in shop")
        );
        let hint = e.hint().expect("a hint");
        assert!(
            hint.starts_with("the tables there are: order_lines, orders, "),
            "{hint}"
        );
        let many: Vec<String> = (0..45).map(|i| format!("t{i:02}")).collect();
        let hint = no_such_tables(&["x".into()], &many, "db")
            .hint()
            .expect("a hint")
            .to_string();
        assert!(hint.ends_with("and 5 more"), "{hint}");
    }

    use super::*;

    #[test]
    fn globs_and_excludes() {
        let f = TableFilter::new(&["user*", "public.orders"], &["user_sessions"]).expect("filter");
        assert!(f.matches(&TableName::new("users")));
        assert!(!f.matches(&TableName::new("user_sessions")));
        assert!(f.matches(&TableName::qualified("public", "orders")));
        assert!(!f.matches(&TableName::qualified("audit", "log")));
        assert!(f.matches(&TableName::qualified("shop", "users")));
    }

    #[test]
    fn unknown_literal_tables_are_reported() {
        let f = TableFilter::new(&["users", "nope", "x*"], &[]).expect("filter");
        let names = [TableName::new("users")];
        assert_eq!(f.unmatched_literals(names.iter()), vec!["nope".to_string()]);
    }

    #[test]
    fn exact_names_ignore_glob_characters() {
        let f = TableFilter::exact([TableName::new("we[ir]d*")]);
        assert!(f.matches(&TableName::new("we[ir]d*")));
        assert!(!f.matches(&TableName::new("weid")));
        assert!(!f.is_all());
    }

    #[test]
    fn bad_glob_is_an_error() {
        assert!(TableFilter::new(&["[abc"], &[]).is_err());
    }
}
