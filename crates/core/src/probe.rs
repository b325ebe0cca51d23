//! [`Probe`]: one read-only question asked of a database, such as a
//! restore drill's assertions ("at least one admin").

use std::fmt;

use serde::{Deserialize, Serialize};

/// One read-only query whose answer is a single value, run by
/// [`crate::Source::probe`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// SQL whose first row's first column is the answer (SQL engines).
    Sql(String),
    /// How many documents of `collection` match `filter`, a JSON query
    /// document (`{}` for all; MongoDB).
    Count {
        /// The collection.
        collection: String,
        /// The query document, as JSON text.
        filter: String,
    },
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Sql(sql) => f.write_str(sql),
            Probe::Count { collection, filter } => {
                write!(f, "{collection}.countDocuments({filter})")
            }
        }
    }
}

impl Probe {
    /// The error of an engine asked a probe of a kind it cannot run.
    pub fn unsupported(&self, engine: crate::Engine) -> crate::SourceError {
        let (what, instead) = match self {
            Probe::Sql(_) => ("SQL", "a collection and filter"),
            Probe::Count { .. } => ("a document count", "sql"),
        };
        crate::SourceError::new(
            crate::ErrorKind::Unsupported,
            format!("{} databases cannot run {what}", engine.name()),
        )
        .with_hint(format!("give this engine's assertions {instead}"))
    }
}
