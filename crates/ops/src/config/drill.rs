//! `[sources.NAME.drill]`: when the server drills a source's newest
//! backup, how old its last passing drill may grow, and the user's own
//! assertions about the restored data.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};
use tresor_core::Probe;

use super::server::{Schedule, parse_duration};

/// `[sources.NAME.drill]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DrillConfig {
    /// When the server drills the source's newest backup (cron
    /// expressions in the source's time zone); `drill-schedule` on the
    /// source says the same.
    #[serde(default)]
    pub schedule: Schedule,
    /// How old the last passing drill may be (`8d`) before the server
    /// reports the drill overdue; `drill-max-age` on the source says the
    /// same.
    #[serde(default)]
    pub max_age: Option<String>,
    /// Checks run against the restored scratch database.
    #[serde(default, rename = "assert")]
    pub assertions: Vec<DrillAssertion>,
}

/// `[[sources.NAME.drill.assert]]`: one question about the restored data
/// and the answer it must get.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DrillAssertion {
    /// What it checks, in the user's words (`at least one admin`).
    pub name: String,
    /// A query whose first row's first column is the value (SQL engines).
    #[serde(default)]
    pub sql: Option<String>,
    /// A collection whose matching documents are counted (MongoDB).
    #[serde(default)]
    pub collection: Option<String>,
    /// The query document the counted documents match, as JSON (`{}`, all
    /// of them, when unset).
    #[serde(default)]
    pub filter: Option<String>,
    /// The value it must have: `>= 1`, `= 0`, `> 100`, `!= 0`, or an exact
    /// value.
    pub expect: String,
}

impl DrillAssertion {
    /// The query to run.
    ///
    /// # Errors
    /// Neither or both of `sql` and `collection`, or a filter without a
    /// collection or that is no JSON object.
    pub fn probe(&self) -> Result<Probe, String> {
        match (&self.sql, &self.collection) {
            (Some(sql), None) if self.filter.is_none() => Ok(Probe::Sql(sql.clone())),
            (Some(_), None) => Err("filter goes with collection, not with sql".into()),
            (None, Some(collection)) => {
                let filter = self.filter.clone().unwrap_or_else(|| "{}".into());
                match serde_json::from_str::<serde_json::Value>(&filter) {
                    Ok(serde_json::Value::Object(_)) => Ok(Probe::Count {
                        collection: collection.clone(),
                        filter,
                    }),
                    Ok(_) => Err(format!("filter {filter:?} is not a JSON object")),
                    Err(e) => Err(format!("filter {filter:?} is not JSON: {e}")),
                }
            }
            (Some(_), Some(_)) => Err("give sql or collection, not both".into()),
            (None, None) => Err("give sql (or, for MongoDB, collection and filter)".into()),
        }
    }

    /// The expected value.
    ///
    /// # Errors
    /// An empty expectation, or a comparison without a value.
    pub fn expectation(&self) -> Result<Expectation, String> {
        self.expect.parse()
    }

    /// Every problem with it, for `Config::validate`.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push("an assertion has no name".to_string());
        }
        for result in [self.probe().map(drop), self.expectation().map(drop)] {
            if let Err(e) = result {
                problems.push(format!("assertion {:?}: {e}", self.name));
            }
        }
        problems
    }
}

/// How a seen value is compared with the expected one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Comparison {
    /// `=` (also a bare value).
    Equal,
    /// `!=`.
    NotEqual,
    /// `<`.
    Less,
    /// `<=`.
    AtMost,
    /// `>`.
    Greater,
    /// `>=`.
    AtLeast,
}

/// What an assertion's value must be: `>= 1`, `= 0`, or a bare value.
/// Both sides compare as numbers when both are numbers, otherwise as
/// text; `<`, `<=`, `>`, `>=` need numbers. No row, or NULL, is seen as
/// `NULL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The comparison.
    pub comparison: Comparison,
    /// The value compared with.
    pub value: String,
}

impl std::str::FromStr for Expectation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let ops = [
            (">=", Comparison::AtLeast),
            ("<=", Comparison::AtMost),
            ("!=", Comparison::NotEqual),
            ("<>", Comparison::NotEqual),
            ("==", Comparison::Equal),
            (">", Comparison::Greater),
            ("<", Comparison::Less),
            ("=", Comparison::Equal),
        ];
        let (comparison, value) = ops
            .iter()
            .find_map(|(p, c)| t.strip_prefix(p).map(|rest| (*c, rest.trim())))
            .unwrap_or((Comparison::Equal, t));
        if value.is_empty() {
            return Err(format!(
                "expect {text:?} names no value (write e.g. \">= 1\", \"= 0\" or \"ok\")"
            ));
        }
        let value = value.trim_matches('\'').to_string();
        let ordered = !matches!(comparison, Comparison::Equal | Comparison::NotEqual);
        if ordered && value.parse::<f64>().is_err() {
            return Err(format!("expect {text:?}: {value:?} is not a number"));
        }
        Ok(Expectation { comparison, value })
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.comparison {
            Comparison::Equal => "=",
            Comparison::NotEqual => "!=",
            Comparison::Less => "<",
            Comparison::AtMost => "<=",
            Comparison::Greater => ">",
            Comparison::AtLeast => ">=",
        };
        write!(f, "{op} {}", self.value)
    }
}

impl Expectation {
    /// Whether `seen` (`None`: no row, or NULL) meets it.
    pub fn holds(&self, seen: Option<&str>) -> bool {
        let seen = seen.unwrap_or("NULL");
        let order = match (seen.trim().parse::<f64>(), self.value.parse::<f64>()) {
            (Ok(a), Ok(b)) => a.partial_cmp(&b),
            _ if self.comparison == Comparison::Equal => return seen == self.value,
            _ if self.comparison == Comparison::NotEqual => return seen != self.value,
            _ => None,
        };
        let Some(order) = order else { return false };
        match self.comparison {
            Comparison::Equal => order == Ordering::Equal,
            Comparison::NotEqual => order != Ordering::Equal,
            Comparison::Less => order == Ordering::Less,
            Comparison::AtMost => order != Ordering::Greater,
            Comparison::Greater => order == Ordering::Greater,
            Comparison::AtLeast => order != Ordering::Less,
        }
    }
}

impl DrillConfig {
    /// Every problem with the table and the source's own `drill-schedule`
    /// and `drill-max-age` (which may not say it twice), for
    /// `Config::validate`.
    pub(crate) fn problems(
        &self,
        what: &str,
        drill_schedule: &Schedule,
        drill_max_age: Option<&str>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.schedule.is_empty() && !drill_schedule.is_empty() {
            problems.push(format!(
                "{what}: drill-schedule and drill.schedule both set; keep one"
            ));
        }
        if self.max_age.is_some() && drill_max_age.is_some() {
            problems.push(format!(
                "{what}: drill-max-age and drill.max-age both set; keep one"
            ));
        }
        if let Some(age) = self.max_age.as_deref().or(drill_max_age)
            && let Err(e) = parse_duration(age)
        {
            problems.push(format!("{what}: drill-max-age: {e}"));
        }
        for a in &self.assertions {
            problems.extend(a.problems().into_iter().map(|p| format!("{what}: {p}")));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn drill_settings_are_said_once() {
        let text = |extra: &str| {
            format!(
                "[sources.a]\nurl = \"sqlite:///a.db\"\ndrill-schedule = \"0 6 * * *\"\n\
                 drill-max-age = \"2d\"\n{extra}"
            )
        };
        let c = Config::parse(&text(""), "t").expect("the old keys still work");
        assert_eq!(c.sources["a"].drill_times().expressions(), ["0 6 * * *"]);
        assert_eq!(
            c.sources["a"].drill_age_limit(),
            Some(std::time::Duration::from_secs(2 * 86400))
        );
        let e = Config::parse(
            &text("[sources.a.drill]\nschedule = \"0 7 * * *\"\nmax-age = \"soon\"\n"),
            "t",
        )
        .expect_err("said twice");
        let e = e.to_string();
        assert!(
            e.contains("drill-schedule and drill.schedule both set"),
            "{e}"
        );
        assert!(
            e.contains("drill-max-age and drill.max-age both set"),
            "{e}"
        );
        assert!(
            e.contains("drill-max-age: \"soon\" is not a duration"),
            "{e}"
        );
    }

    fn holds(expect: &str, seen: Option<&str>) -> bool {
        expect
            .parse::<Expectation>()
            .expect("expectation")
            .holds(seen)
    }

    #[test]
    fn expectations_compare_numbers_as_numbers_and_text_as_text() {
        assert!(holds(">= 1", Some("1")));
        assert!(holds(">=1", Some("12")));
        assert!(!holds(">= 1", Some("0")));
        assert!(holds("= 0", Some("0")));
        assert!(holds("0", Some("0.0")));
        assert!(holds("> 100", Some("101")));
        assert!(!holds("> 100", Some("100")));
        assert!(holds("< 5", Some("4.5")));
        assert!(holds("<= 5", Some("5")));
        assert!(holds("!= 0", Some("3")));
        assert!(holds("ok", Some("ok")));
        assert!(holds("= 'ok'", Some("ok")));
        assert!(!holds("ok", Some("OK")));
        assert!(holds("NULL", None));
        assert!(!holds(">= 1", None));
        assert!(!holds("> 1", Some("many")));
    }

    #[test]
    fn expectations_without_a_value_or_number_are_refused() {
        assert!("".parse::<Expectation>().is_err());
        assert!(">=".parse::<Expectation>().is_err());
        assert!("> many".parse::<Expectation>().is_err());
        assert_eq!(
            ">= 1".parse::<Expectation>().expect("ok").to_string(),
            ">= 1"
        );
    }

    #[test]
    fn an_assertion_is_sql_or_a_count() {
        let mut a = DrillAssertion {
            name: "admins".into(),
            sql: Some("SELECT 1".into()),
            expect: "1".into(),
            ..DrillAssertion::default()
        };
        assert_eq!(a.probe(), Ok(Probe::Sql("SELECT 1".into())));
        a.collection = Some("users".into());
        assert!(a.probe().is_err());
        a.sql = None;
        assert_eq!(
            a.probe(),
            Ok(Probe::Count {
                collection: "users".into(),
                filter: "{}".into()
            })
        );
        a.filter = Some("[1]".into());
        assert_eq!(a.problems().len(), 1, "{:?}", a.problems());
        a.collection = None;
        assert_eq!(a.problems().len(), 1, "{:?}", a.problems());
    }
}
