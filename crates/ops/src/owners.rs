//! Which configured source a snapshot belongs to: the one it names, or
//! else the one whose URL names the same database (a backup taken by URL
//! or path is one of the source's). Each source's database identity
//! ([`Engines::identity`]) is worked out once, when this is built.

use std::fmt;

use crate::config::Config;
use crate::engines::Engines;
use crate::snapshot::Snapshot;

/// The configured sources and their databases' identities.
#[derive(Clone, Default)]
pub struct SourceOwners {
    engines: Engines,
    /// Source name -> identity of its database.
    owners: Vec<(String, String)>,
}

impl fmt::Debug for SourceOwners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceOwners")
            .field("owners", &self.owners)
            .finish_non_exhaustive()
    }
}

impl SourceOwners {
    /// The sources of `config`.
    pub fn new(config: &Config, engines: &Engines) -> Self {
        SourceOwners {
            engines: engines.clone(),
            owners: config
                .sources
                .iter()
                .map(|(n, s)| (n.clone(), engines.identity(&s.url)))
                .collect(),
        }
    }

    /// The configured source a snapshot of `name` / `url` belongs to.
    pub fn owner_of(&self, name: Option<&str>, url: &str) -> Option<&str> {
        if let Some((n, _)) = name.and_then(|n| self.owners.iter().find(|(o, _)| o == n)) {
            return Some(n);
        }
        if self.owners.is_empty() {
            return None;
        }
        let identity = self.engines.identity(url);
        self.owners
            .iter()
            .find(|(_, i)| *i == identity)
            .map(|(n, _)| n.as_str())
    }

    /// The configured source `snapshot` belongs to, else its own key (its
    /// name or URL).
    pub fn owner<'a>(&'a self, snapshot: &'a Snapshot) -> &'a str {
        self.owner_of(snapshot.source.name.as_deref(), &snapshot.source.url)
            .unwrap_or_else(|| snapshot.source.key())
    }
}
