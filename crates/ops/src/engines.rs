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
