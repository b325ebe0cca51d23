//! The engines this build knows: URL -> [`Source`] / [`Target`].
//!
//! The binary registers one [`Connector`] per engine crate; everything
//! above (CLI, server) resolves URLs through [`Engines`], so a new engine
//! plugs in without touching them.

use std::sync::Arc;

use tresor_core::{Connector, Engine, ErrorKind, Source, SourceError, Target, redact_url};

/// The registered connectors.
#[derive(Clone, Default)]
pub struct Engines {
    connectors: Vec<Arc<dyn Connector>>,
}

impl Engines {
    /// No engines yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a connector; earlier ones win when two accept a URL.
    pub fn with(mut self, connector: Arc<dyn Connector>) -> Self {
        self.connectors.push(connector);
        self
    }

    /// The engines registered.
    pub fn engines(&self) -> Vec<Engine> {
        self.connectors.iter().map(|c| c.engine()).collect()
    }

    fn find(&self, url: &str) -> Result<&Arc<dyn Connector>, SourceError> {
        self.connectors
            .iter()
            .find(|c| c.accepts(url))
            .ok_or_else(|| {
                SourceError::new(
                    ErrorKind::InvalidUrl,
                    format!("no database engine understands {:?}", redact_url(url)),
                )
                .with_hint(format!(
                    "use a URL such as {}",
                    self.example_urls().join(", ")
                ))
            })
    }

    /// One example URL per registered engine, in registration order.
    pub fn example_urls(&self) -> Vec<&'static str> {
        self.connectors.iter().map(|c| c.example_url()).collect()
    }

    /// How many tables a backup of `url` reads at once by default (the
    /// engine's answer).
    ///
    /// # Errors
    /// No registered engine accepts the URL.
    pub fn default_jobs(&self, url: &str) -> Result<usize, SourceError> {
        Ok(self.find(url)?.default_jobs().max(1))
    }

    /// The engine of `url`.
    ///
    /// # Errors
    /// No registered engine accepts the URL.
    pub fn engine_of(&self, url: &str) -> Result<Engine, SourceError> {
        Ok(self.find(url)?.engine())
    }

    /// A source for `url`.
    ///
    /// # Errors
    /// Unknown or malformed URL.
    pub fn source(&self, url: &str) -> Result<Box<dyn Source>, SourceError> {
        self.find(url)?.source(url)
    }

    /// A target for `url`.
    ///
    /// # Errors
    /// Unknown or malformed URL.
    pub fn target(&self, url: &str) -> Result<Box<dyn Target>, SourceError> {
        self.find(url)?.target(url)
    }

    /// A scratch database for a drill beside `url`, named
    /// `tresor_drill_<random>` (see [`Connector::scratch_url`]).
    ///
    /// # Errors
    /// Unknown URL, or one whose database name cannot be replaced.
    pub fn scratch_url(&self, url: &str, dir: &std::path::Path) -> Result<String, SourceError> {
        let mut tag = [0u8; 4];
        rand::fill(&mut tag[..]);
        let name = format!("tresor_drill_{}", hex::encode(tag));
        self.find(url)?.scratch_url(url, &name, dir)
    }

    /// Checks engine switches for a backup of `url` against the ones its
    /// engine accepts.
    ///
    /// # Errors
    /// An unknown switch or value, naming the ones there are.
    pub fn check_read_options<'a>(
        &self,
        url: &str,
        options: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<(), SourceError> {
        let c = self.find(url)?;
        let known = c.read_options();
        for (k, v) in options {
            let Some((_, values)) = known.iter().find(|(name, _)| name == k) else {
                return Err(SourceError::new(
                    ErrorKind::InvalidUrl,
                    format!("{} backups take no option {k:?}", c.engine().name()),
                )
                .with_hint(if known.is_empty() {
                    "this engine takes no -o options; leave them out".to_string()
                } else {
                    format!(
                        "options of this engine: {}",
                        known
                            .iter()
                            .map(|(n, vs)| format!("{n}={}", vs.join("|")))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }));
            };
            if !values.contains(&v.as_str()) {
                return Err(SourceError::new(
                    ErrorKind::InvalidUrl,
                    format!("option {k}={v:?}: use {}", values.join(" or ")),
                ));
            }
        }
        Ok(())
    }

    /// What two URLs naming the same database have in common (see
    /// [`Connector::identity`]); the URL without its password when no
    /// engine accepts it.
    pub fn identity(&self, url: &str) -> String {
        match self.find(url) {
            Ok(c) => c.identity(url),
            Err(_) => tresor_core::database_identity(url),
        }
    }
}
