//! tresor-mysql: backup and atomic restore for MySQL and MariaDB.
//!
//! [`MysqlConnector`] opens [`Source`]s and [`Target`]s for
//! `mysql://user:pass@host:3306/db` and `mariadb://...` URLs (options:
//! `socket=/path`, `ssl-mode=disabled|required|verify-ca|verify-identity`,
//! `ssl-ca=/path/ca.pem`).
//!
//! - **Source**: `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY` at
//!   `REPEATABLE READ`; several connections share the instant only under a
//!   brief global read lock the user allows (`allow-global-lock=true`).
//!   Rows come through prepared statements (the binary protocol, so floats
//!   and temporal values arrive exactly), in row-key order with text keys
//!   ordered by their UTF-8 bytes, and go out in batches through a bounded
//!   channel. The schema is `SHOW CREATE TABLE` plus a portable model from
//!   `information_schema`, with views, triggers, routines and events.
//! - **Target**: new tables are created under work names, loaded with
//!   multi-row `INSERT`s of bound parameters, given their secondary indexes
//!   and foreign keys, and swapped in with one `RENAME TABLE`; existing
//!   tables are checked for compatibility and loaded in one transaction.
//!   Both sessions run with `time_zone = '+00:00'`, so `TIMESTAMP` values
//!   keep their instant.
//!
//! Data flow: server -> binary protocol row -> [`tresor_core::Value`] per
//! column kind -> `RowBatch` channel -> (repository) -> `RowBatch` channel
//! -> statement parameters -> server.
//!
//! ```no_run
//! use tresor_core::{Connector, ReadOptions};
//! use tresor_mysql::MysqlConnector;
//! # async fn demo() -> Result<(), tresor_core::SourceError> {
//! let source = MysqlConnector.source("mysql://root@127.0.0.1/shop")?;
//! let snapshot = source.open(&ReadOptions::default()).await?;
//! println!("{} tables", snapshot.schema().tables.len());
//! snapshot.close().await
//! # }
//! ```
//!
//! [`Source`]: tresor_core::Source
//! [`Target`]: tresor_core::Target
#![forbid(unsafe_code)]

mod catalog;
mod convert;
mod error;
mod portable;
mod source;
mod sql;
mod target;
mod url;

use tresor_core::{Connector, Engine, Source, SourceError, Target};

/// Opens MySQL and MariaDB sources and targets from `mysql://` and
/// `mariadb://` URLs.
#[derive(Clone, Copy, Debug, Default)]
pub struct MysqlConnector;

impl Connector for MysqlConnector {
    fn engine(&self) -> Engine {
        Engine::MYSQL
    }

    fn accepts(&self, url: &str) -> bool {
        url.starts_with("mysql://") || url.starts_with("mariadb://")
    }

    fn example_url(&self) -> &'static str {
        "mysql://user@host/db"
    }

    /// Parallel reads need a global read lock (`allow-global-lock`), so one by default.
    fn default_jobs(&self) -> usize {
        1
    }

    fn read_options(&self) -> &'static [(&'static str, &'static [&'static str])] {
        &[("allow-global-lock", &["true", "false"])]
    }

    fn source(&self, url: &str) -> Result<Box<dyn Source>, SourceError> {
        Ok(Box::new(source::MysqlSource {
            endpoint: url::Endpoint::parse(url)?,
        }))
    }

    fn target(&self, url: &str) -> Result<Box<dyn Target>, SourceError> {
        Ok(Box::new(target::MysqlTarget {
            endpoint: url::Endpoint::parse(url)?,
        }))
    }

    /// The host and port (3306 when none is given), the user, the
    /// database and the `socket`; `mysql://` and `mariadb://` alike, and
    /// the TLS settings left out.
    fn identity(&self, url: &str) -> String {
        tresor_core::server_identity(url, "mysql", Some(3306), &["socket"])
            .unwrap_or_else(|| tresor_core::database_identity(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_database_whatever_the_port_and_options_say() {
        let id = |u: &str| MysqlConnector.identity(u);
        let shop = id("mysql://root@db/shop");
        assert_eq!(shop, id("mariadb://root:pw@db:3306/shop?ssl-mode=required"));
        assert_ne!(shop, id("mysql://root@db:3307/shop"));
        assert_ne!(
            shop,
            id("mysql://root@db/shop?socket=/run/mysqld/other.sock")
        );
    }
}
