//! MongoDB URLs: which database they name, and connecting to them.

use mongodb::bson::{Document, doc};
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use tresor_core::{ErrorKind, SourceError, percent_decode, redact_url};

use crate::error::mongo_error;

/// A parsed `mongodb://` or `mongodb+srv://` URL.
#[derive(Clone, Debug)]
pub(crate) struct MongoUrl {
    /// The URL as given (with its password: never print it).
    pub url: String,
    /// The database named in the URL's path.
    pub database: String,
}

/// Whether `url` has a MongoDB scheme.
pub(crate) fn is_mongo_url(url: &str) -> bool {
    let lower = url.get(..14).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("mongodb://") || lower.starts_with("mongodb+srv://")
}

impl MongoUrl {
    /// Checks the scheme and takes the database name from the path.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidUrl`] for another scheme, a missing or invalid
    /// database name.
    pub fn parse(url: &str) -> Result<Self, SourceError> {
        let shown = redact_url(url);
        if !is_mongo_url(url) {
            return Err(SourceError::new(
                ErrorKind::InvalidUrl,
                format!("{shown} is not a mongodb:// or mongodb+srv:// url"),
            ));
        }
        let rest = url.split_once("://").map_or("", |(_, r)| r);
        let without_query = rest.split_once('?').map_or(rest, |(p, _)| p);
        // the host list ends at the first slash (socket paths are
        // percent-encoded, so they hold none)
        let path = without_query.split_once('/').map_or("", |(_, p)| p);
        let database = percent_decode(path).ok_or_else(|| {
            SourceError::new(
                ErrorKind::InvalidUrl,
                format!("{shown}: the database name is not valid percent-encoded utf-8"),
            )
        })?;
        if database.is_empty() {
            return Err(SourceError::new(
                ErrorKind::InvalidUrl,
                format!("{shown} names no database"),
            )
            .with_hint("try: put the database in the path, as in mongodb://host:27017/shop"));
        }
        if let Some(bad) = database
            .chars()
            .find(|c| matches!(c, '/' | '\\' | '.' | ' ' | '"' | '$' | '\0'))
        {
            return Err(SourceError::new(
                ErrorKind::InvalidUrl,
                format!("{shown}: database name {database:?} contains {bad:?}"),
            ));
        }
        Ok(MongoUrl {
            url: url.to_string(),
            database,
        })
    }

    /// The URL with its password replaced, for messages.
    pub fn shown(&self) -> String {
        redact_url(&self.url)
    }

    /// Connects (the driver connects lazily; a `ping` makes connection
    /// problems show here, with a clear message).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidUrl`] for options the driver rejects,
    /// [`ErrorKind::Connection`] when no server answers.
    pub async fn connect(&self) -> Result<Connection, SourceError> {
        let mut options = ClientOptions::parse(&self.url)
            .await
            .map_err(|e| mongo_error(format!("cannot use {}", self.shown()), e))?;
        if options.app_name.is_none() {
            options.app_name = Some("tresor".to_string());
        }
        let client = Client::with_options(options)
            .map_err(|e| mongo_error(format!("cannot use {}", self.shown()), e))?;
        let db = client.database(&self.database);
        let hello = db
            .run_command(doc! { "hello": 1 })
            .await
            .map_err(|e| mongo_error(format!("cannot connect to {}", self.shown()), e))?;
        let version = client
            .database("admin")
            .run_command(doc! { "buildInfo": 1 })
            .await
            .ok()
            .and_then(|b| b.get_str("version").ok().map(str::to_string))
            .unwrap_or_default();
        Ok(Connection {
            topology: Topology::from_hello(&hello),
            wire_version: hello.get_i32("maxWireVersion").unwrap_or(0),
            version,
            client,
            db,
        })
    }
}

/// What kind of deployment the URL reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Topology {
    /// A single server that is not a replica set member: no sessions with
    /// snapshot reads, no transactions.
    Standalone,
    /// A replica set member.
    ReplicaSet,
    /// A `mongos` router.
    Sharded,
}

impl Topology {
    fn from_hello(hello: &Document) -> Topology {
        if hello.get_str("msg").ok() == Some("isdbgrid") {
            Topology::Sharded
        } else if hello.get_str("setName").is_ok() {
            Topology::ReplicaSet
        } else {
            Topology::Standalone
        }
    }

    /// Whether multi-document transactions and snapshot reads exist.
    pub fn has_transactions(self) -> bool {
        !matches!(self, Topology::Standalone)
    }
}

/// An open client, the database, and what the server is.
pub(crate) struct Connection {
    pub client: Client,
    pub db: Database,
    pub topology: Topology,
    pub wire_version: i32,
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_from_path() {
        let u = MongoUrl::parse("mongodb://u:p@h1:27017,h2/shop?replicaSet=rs0").expect("url");
        assert_eq!(u.database, "shop");
        assert_eq!(u.shown(), "mongodb://u:***@h1:27017,h2/shop?replicaSet=rs0");
        let u = MongoUrl::parse("mongodb+srv://cluster0.example.net/wine%2Dcellar").expect("srv");
        assert_eq!(u.database, "wine-cellar");
        let u = MongoUrl::parse("mongodb://%2Ftmp%2Fm.sock/app").expect("socket");
        assert_eq!(u.database, "app");
    }

    #[test]
    fn bad_urls() {
        for url in [
            "mongodb://h/",
            "mongodb://h",
            "mongodb://h?x=1",
            "postgres://h/db",
            "mongodb://h/a.b",
            "mongodb://h/%zz",
        ] {
            let e = MongoUrl::parse(url).expect_err(url);
            assert_eq!(e.kind(), ErrorKind::InvalidUrl, "{url}");
        }
        assert!(
            MongoUrl::parse("mongodb://u:secret@h/")
                .expect_err("no db")
                .to_string()
                .contains("***")
        );
    }
}
