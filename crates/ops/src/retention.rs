//! The retention rules of `tresor.toml`, per source and per table group.
//!
//! Snapshots are counted per *series*: the full snapshots of a source, and
//! apart from them the snapshots of each of its table groups (tagged
//! `group:NAME` by the backup), and those of each other selection of
//! tables (`--tables a,b`, which is no group: counted by the tables it
//! holds). A group follows its own rules
//! (`[sources.S.retention.groups.G]`) or else the source's, and another
//! selection the source's, so keeping 5 user-data backups, or a few
//! backups of one table, can never remove the only full one. Snapshots
//! taken by URL belong to the configured source that names the same
//! database.

use std::collections::BTreeMap;

use tresor_repo::RetentionPolicy;

use crate::config::{Config, RetentionConfig};
use crate::engines::Engines;
use crate::error::{OpsError, Result};
use crate::owners::SourceOwners;
use crate::snapshot::{Snapshot, Trigger};

/// The tag a backup of a table group carries, `group:NAME`.
pub const GROUP_TAG: &str = "group:";

/// The table group a snapshot was taken of, if any.
pub fn group_of(snapshot: &Snapshot) -> Option<&str> {
    snapshot.tags.iter().find_map(|t| t.strip_prefix(GROUP_TAG))
}

/// Configured retention rules, and which source each snapshot belongs to.
#[derive(Clone, Debug, Default)]
pub struct RetentionRules {
    owners: SourceOwners,
    by_source: BTreeMap<String, SourceRules>,
}

#[derive(Clone, Debug, Default)]
struct SourceRules {
    whole: RetentionPolicy,
    groups: BTreeMap<String, RetentionPolicy>,
}

impl RetentionRules {
    /// The rules every source of `config` sets.
    ///
    /// # Errors
    /// A rule that does not parse (the config's validation reports it too).
    pub fn from_config(config: &Config, engines: &Engines) -> Result<Self> {
        let mut rules = RetentionRules {
            owners: SourceOwners::new(config, engines),
            by_source: BTreeMap::new(),
        };
        for (name, s) in &config.sources {
            rules.set(name, s.retention.as_ref())?;
        }
        Ok(rules)
    }

    /// Replaces the rules of `source` (the server's run-time override);
    /// `None` removes them.
    ///
    /// # Errors
    /// `keep-within` is not a duration.
    pub fn set(&mut self, source: &str, rules: Option<&RetentionConfig>) -> Result<()> {
        let Some(r) = rules else {
            self.by_source.remove(source);
            return Ok(());
        };
        let invalid = |what: String| OpsError::InvalidInput {
            what: format!("source {source:?}: retention: {what}"),
            hint: Some("durations look like 7d, 12h or 2weeks".into()),
        };
        let mut groups = BTreeMap::new();
        for (g, gr) in &r.groups {
            groups.insert(g.clone(), gr.policy().map_err(invalid)?);
        }
        self.by_source.insert(
            source.to_string(),
            SourceRules {
                whole: r.policy().map_err(invalid)?,
                groups,
            },
        );
        Ok(())
    }

    /// The configured source `snapshot` belongs to: the one it names, or
    /// the one whose URL names the same database.
    pub fn owner<'a>(&'a self, snapshot: &'a Snapshot) -> &'a str {
        self.owners.owner(snapshot)
    }

    /// The series `snapshot` is counted in: its source, and its group or
    /// else, when a backup holds some tables only, those tables. Safety
    /// snapshots and guards stay in their source's series, where the
    /// rules count them apart from its backups.
    pub fn series(&self, snapshot: &Snapshot) -> String {
        let owner = self.owner(snapshot);
        let safety = matches!(snapshot.trigger, Trigger::PreRestore | Trigger::Guard);
        match group_of(snapshot) {
            Some(g) => format!("{owner} (group {g})"),
            None if snapshot.partial && !safety => {
                let mut tables: Vec<String> =
                    snapshot.tables.iter().map(|t| t.name.to_string()).collect();
                tables.sort();
                format!("{owner} (tables {})", tables.join(", "))
            }
            None => owner.to_string(),
        }
    }

    /// The rules for `snapshot`'s series, if any are set.
    pub fn policy_for(&self, snapshot: &Snapshot) -> Option<&RetentionPolicy> {
        let rules = self.by_source.get(self.owner(snapshot))?;
        let policy = group_of(snapshot)
            .and_then(|g| rules.groups.get(g))
            .unwrap_or(&rules.whole);
        (!policy.is_empty()).then_some(policy)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use chrono::{TimeZone, Utc};
    use tresor_core::{Connector, Engine, Source, SourceError, TableName, Target};

    use super::*;
    use crate::snapshot::{SourceRef, Totals};

    struct Plain;

    impl Connector for Plain {
        fn engine(&self) -> Engine {
            Engine::POSTGRES
        }
        fn accepts(&self, url: &str) -> bool {
            url.starts_with("postgres://")
        }
        fn example_url(&self) -> &'static str {
            "postgres://"
        }
        fn default_jobs(&self) -> usize {
            1
        }
        fn source(&self, _: &str) -> std::result::Result<Box<dyn Source>, SourceError> {
            unreachable!("not opened")
        }
        fn target(&self, _: &str) -> std::result::Result<Box<dyn Target>, SourceError> {
            unreachable!("not opened")
        }
    }

    fn snapshot(name: Option<&str>, url: &str, tags: &[&str]) -> Snapshot {
        Snapshot {
            version: 1,
            id: "x".into(),
            time: Utc.timestamp_opt(0, 0).single().expect("time"),
            end_time: Utc.timestamp_opt(0, 0).single().expect("time"),
            tresor_version: String::new(),
            source: SourceRef {
                name: name.map(str::to_string),
                url: url.into(),
                engine: Engine::POSTGRES,
                server_version: String::new(),
                database: String::new(),
            },
            trigger: Trigger::Manual,
            reason: None,
            tags: tags.iter().map(|t| (*t).to_string()).collect(),
            hostname: String::new(),
            username: String::new(),
            app_version: None,
            parent: None,
            consistency: String::new(),
            warnings: vec![],
            partial: false,
            schema: tresor_repo::BlobId([0; 32]),
            tables: vec![],
            totals: Totals::default(),
            labels: BTreeMap::new(),
            copied_from: None,
        }
    }

    #[test]
    fn groups_are_series_of_their_own_with_their_own_rules() {
        let config = Config::parse(
            r#"
[sources.wine]
url = "postgres://app:secret@db/wine"
[sources.wine.groups]
user-data = ["users", "ratings"]
[sources.wine.retention]
keep-last = 2
[sources.wine.retention.groups.user-data]
keep-last = 5
"#,
            "t",
        )
        .expect("valid");
        let engines = Engines::new().with(Arc::new(Plain));
        let rules = RetentionRules::from_config(&config, &engines).expect("rules");
        let full = snapshot(Some("wine"), "postgres://app:***@db/wine", &[]);
        let users = snapshot(
            Some("wine"),
            "postgres://app:***@db/wine",
            &["group:user-data"],
        );
        // taken by URL: still the wine source's
        let by_url = snapshot(None, "postgres://app@db/wine/", &[]);
        let other = snapshot(None, "postgres://app@db/other", &[]);
        assert_eq!(rules.series(&full), "wine");
        assert_eq!(rules.series(&users), "wine (group user-data)");
        assert_eq!(rules.series(&by_url), "wine");
        assert_eq!(rules.series(&other), "postgres://app@db/other");
        assert_eq!(rules.policy_for(&full).and_then(|p| p.keep_last), Some(2));
        assert_eq!(rules.policy_for(&users).and_then(|p| p.keep_last), Some(5));
        assert_eq!(rules.policy_for(&by_url).and_then(|p| p.keep_last), Some(2));
        assert!(rules.policy_for(&other).is_none());

        let mut rules = rules;
        rules.set("wine", None).expect("cleared");
        assert!(rules.policy_for(&full).is_none());
    }

    #[test]
    fn a_selection_of_tables_that_is_no_group_counts_apart() {
        let config = Config::parse(
            "[sources.s]\nurl = \"postgres://db/s\"\n[sources.s.retention]\nkeep-last = 2\n",
            "t",
        )
        .expect("valid");
        let rules = RetentionRules::from_config(&config, &Engines::new().with(Arc::new(Plain)))
            .expect("ok");
        let entry = |name: &str| crate::snapshot::TableEntry {
            name: TableName::new(name),
            rows: 0,
            bytes: 0,
            digest: String::new(),
            data: tresor_repo::BlobId([0; 32]),
            added_bytes: 0,
            changes: None,
        };
        let mut some = snapshot(Some("s"), "postgres://db/s", &[]);
        some.partial = true;
        some.tables = vec![entry("orders"), entry("customers")];
        let full = snapshot(Some("s"), "postgres://db/s", &[]);
        assert_eq!(rules.series(&full), "s");
        assert_eq!(rules.series(&some), "s (tables customers, orders)");
        // a safety snapshot of those tables stays with the source's
        some.trigger = Trigger::PreRestore;
        assert_eq!(rules.series(&some), "s");
        assert_eq!(rules.policy_for(&some).and_then(|p| p.keep_last), Some(2));
    }

    #[test]
    fn a_group_without_rules_follows_the_source() {
        let config = Config::parse(
            "[sources.s]\nurl = \"postgres://db/s\"\n[sources.s.groups]\ng = [\"t\"]\n[sources.s.retention]\nkeep-daily = 3\n",
            "t",
        )
        .expect("valid");
        let rules = RetentionRules::from_config(&config, &Engines::new().with(Arc::new(Plain)))
            .expect("ok");
        let g = snapshot(Some("s"), "postgres://db/s", &["group:g"]);
        assert_eq!(rules.policy_for(&g).and_then(|p| p.keep_daily), Some(3));
    }

    #[test]
    fn rules_for_an_unknown_group_are_refused() {
        let err = Config::parse(
            "[sources.s]\nurl = \"postgres://db/s\"\n[sources.s.retention.groups.nope]\nkeep-last = 1\n",
            "t",
        )
        .expect_err("invalid")
        .to_string();
        assert!(err.contains("no table group named \"nope\""), "{err}");
    }
}
