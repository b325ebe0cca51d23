//! tresor-mongo: MongoDB as a tresor [`Source`] and [`Target`].
//!
//! - [`MongoConnector`] opens both from `mongodb://` and `mongodb+srv://`
//!   URLs with every option of the official driver (auth, TLS, replica
//!   sets, `directConnection`); the URL's path names the database.
//! - A collection is a table with two stored columns: `_id` (the row key)
//!   and `document` (the whole document as raw BSON,
//!   [`tresor_core::Value::Document`], `_id` included, byte for byte).
//!   Options, indexes and views are kept whole as canonical Extended JSON
//!   in [`tresor_core::TableSchema::extra`], [`tresor_core::Index::extra`]
//!   and [`tresor_core::SchemaObject`]s.
//! - [`MongoSource`] reads every collection at one cluster time (a
//!   snapshot session) on replica sets and sharded clusters, and streams
//!   documents in `_id` order as raw batches, bucket by `_id` type so that
//!   rows arrive in [`tresor_core::compare_keys`] order.
//! - [`MongoTarget`] restores in one multi-document transaction when the
//!   server has them and the data is small, and otherwise through
//!   temporary collections swapped in with `renameCollection`.
//!
//! See `docs/mongodb.md` for the model, the choices and what only a real
//! `mongod` can confirm.
//!
//! ```no_run
//! use tresor_core::{Connector, ReadOptions};
//! use tresor_mongo::MongoConnector;
//! # async fn demo() -> Result<(), tresor_core::SourceError> {
//! let source = MongoConnector.source("mongodb://localhost:27017/cellar?replicaSet=rs0")?;
//! let snapshot = source.open(&ReadOptions::default()).await?;
//! println!("{} collections, {}", snapshot.schema().tables.len(), snapshot.info().consistency);
//! snapshot.close().await
//! # }
//! ```
//!
//! [`Source`]: tresor_core::Source
//! [`Target`]: tresor_core::Target
#![forbid(unsafe_code)]

mod catalog;
mod error;
mod key;
mod source;
mod target;
mod url;

use tresor_core::{Connector, Engine, Source, SourceError, Target};

pub use source::MongoSource;
pub use target::MongoTarget;

/// Opens MongoDB sources and targets from `mongodb://` and
/// `mongodb+srv://` URLs.
///
/// Every connection-string option of the official Rust driver applies
/// (`replicaSet`, `directConnection=true` for one server, `tls`,
/// `authSource`, `readPreference`, ...). The path names the database:
/// `mongodb://user@host:27017/cellar?authSource=admin`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MongoConnector;

impl Connector for MongoConnector {
    fn engine(&self) -> Engine {
        Engine::MONGODB
    }

    fn accepts(&self, url: &str) -> bool {
        url::is_mongo_url(url)
    }

    fn example_url(&self) -> &'static str {
        "mongodb://host/db"
    }

    /// One reader: collections are read one at a time from one session.
    fn default_jobs(&self) -> usize {
        1
    }

    fn source(&self, url: &str) -> Result<Box<dyn Source>, SourceError> {
        Ok(Box::new(MongoSource::new(url)?))
    }

    fn target(&self, url: &str) -> Result<Box<dyn Target>, SourceError> {
        Ok(Box::new(MongoTarget::new(url)?))
    }

    /// The hosts (27017 when none is given, in any order), the user and
    /// the database: `mongodb://h/scandy`, `mongodb://h:27017/scandy` and
    /// `mongodb://h/scandy?authSource=admin` are one database, since
    /// every query option is one of the connection.
    fn identity(&self, url: &str) -> String {
        let srv = url
            .get(..14)
            .is_some_and(|s| s.eq_ignore_ascii_case("mongodb+srv://"));
        let (scheme, port) = if srv {
            ("mongodb+srv", None)
        } else {
            ("mongodb", Some(27017))
        };
        tresor_core::server_identity(url, scheme, port, &[])
            .unwrap_or_else(|| tresor_core::database_identity(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_database_whatever_the_port_and_options_say() {
        let id = |u: &str| MongoConnector.identity(u);
        let scandy = id("mongodb://db.example/scandy");
        assert_eq!(scandy, id("mongodb://db.example:27017/scandy"));
        assert_eq!(
            scandy,
            id("mongodb://db.example/scandy?authSource=admin&tls=false")
        );
        assert_ne!(scandy, id("mongodb://db.example:27018/scandy"));
        assert_ne!(scandy, id("mongodb+srv://db.example/scandy"));
        assert_eq!(
            id("mongodb+srv://cluster0.example.net/scandy?retryWrites=true"),
            id("MONGODB+SRV://cluster0.example.net/scandy")
        );
    }
}
