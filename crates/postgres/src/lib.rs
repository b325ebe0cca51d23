//! tresor-postgres: PostgreSQL as a tresor [`Source`] and [`Target`].
//!
//! - [`PostgresConnector`] opens both from `postgres://` and
//!   `postgresql://` URLs; the usual `PG*` environment variables fill in
//!   what a URL leaves out.
//! - [`PostgresSource`] reads one consistent snapshot: a `REPEATABLE READ,
//!   READ ONLY` transaction whose snapshot (`pg_export_snapshot()`) is
//!   shared by up to `jobs` worker connections. Rows stream with
//!   `COPY (SELECT ... ORDER BY key) TO STDOUT (FORMAT binary)`, decoded
//!   incrementally into [`tresor_core::Value`]s, or, for a backup, straight
//!   into the row codec (text, bytea, JSON, numeric and the fixed-size
//!   types without building a value); types without a native decoder
//!   travel as their text form ([`tresor_core::Value::Other`]).
//! - [`PostgresTarget`] restores in one transaction: like `pg_restore` into
//!   tables that do not exist yet (bare tables, binary `COPY`, then
//!   constraints, indexes, foreign keys, sequences, views, triggers,
//!   comments), or into existing tables after checking every column
//!   (`replace`: one `TRUNCATE`, then `COPY`; `merge`: `COPY` into a
//!   temporary table, then `INSERT ... ON CONFLICT DO UPDATE`).
//!
//! See `crates/postgres/README.md` for the decisions and the known
//! differences from `pg_dump`.
//!
//! ```no_run
//! use tresor_core::{Connector, ReadOptions};
//! use tresor_postgres::PostgresConnector;
//! # async fn demo() -> Result<(), tresor_core::SourceError> {
//! let source = PostgresConnector.source("postgres://app@localhost/shop")?;
//! let snapshot = source.open(&ReadOptions { jobs: 4, ..Default::default() }).await?;
//! println!("{} tables", snapshot.schema().tables.len());
//! snapshot.close().await
//! # }
//! ```
//!
//! [`Source`]: tresor_core::Source
//! [`Target`]: tresor_core::Target
#![forbid(unsafe_code)]

mod catalog;
mod decode;
mod encode;
mod error;
mod locks;
mod source;
mod target;
mod tls;
mod types;
mod url;
mod versions;

use tresor_core::{Connector, Engine, Source, SourceError, Target};

pub use source::PostgresSource;
pub use target::PostgresTarget;

/// Opens PostgreSQL sources and targets from `postgres://` and
/// `postgresql://` URLs.
///
/// URL query parameters: `sslmode` (`disable`, `allow`, `prefer`,
/// `require`, `verify-ca`, `verify-full`, as in libpq; TLS is rustls),
/// `sslrootcert` (PEM roots for the `verify-*` modes),
/// `host` (a directory for Unix sockets), `port`, `user`, `password`,
/// `dbname`, `application_name`, `connect_timeout`, `options`, and
/// tresor's own `restore_roles=true` (targets only: also restore roles,
/// owners and grants recorded in the snapshot).
#[derive(Clone, Copy, Debug, Default)]
pub struct PostgresConnector;

impl Connector for PostgresConnector {
    fn engine(&self) -> Engine {
        Engine::POSTGRES
    }

    fn accepts(&self, url: &str) -> bool {
        url::is_postgres_url(url)
    }

    fn example_url(&self) -> &'static str {
        "postgres://user@host/db"
    }

    /// Connections share one exported snapshot without locking, so two tables move at once.
    fn default_jobs(&self) -> usize {
        2
    }

    fn source(&self, url: &str) -> Result<Box<dyn Source>, SourceError> {
        Ok(Box::new(PostgresSource::new(url)?))
    }

    fn target(&self, url: &str) -> Result<Box<dyn Target>, SourceError> {
        Ok(Box::new(PostgresTarget::new(url)?))
    }

    /// The same server with another database; a `dbname` in the query
    /// would name the source again, so it is left out.
    fn scratch_url(
        &self,
        url: &str,
        name: &str,
        _dir: &std::path::Path,
    ) -> Result<String, SourceError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let kept: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("dbname="))
            .collect();
        let url = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        tresor_core::scratch_beside(&url, name)
    }

    /// The host and port (5432 when none is given), the user and the
    /// database, and the query parameters that change them (`host`,
    /// `port`, `user`, `dbname`); `postgres://` and `postgresql://` alike,
    /// and `sslmode` and the other settings of the connection left out.
    fn identity(&self, url: &str) -> String {
        tresor_core::server_identity(
            url,
            "postgres",
            Some(5432),
            &["host", "port", "user", "dbname"],
        )
        .unwrap_or_else(|| tresor_core::database_identity(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_database_whatever_the_port_and_options_say() {
        let id = |u: &str| PostgresConnector.identity(u);
        let shop = id("postgres://app@db/shop");
        assert_eq!(
            shop,
            id("postgresql://app:s3cret@db:5432/shop?sslmode=require")
        );
        assert_ne!(shop, id("postgres://app@db:5433/shop"));
        assert_ne!(shop, id("postgres://app@db/shop?dbname=other"));
        let scratch = |u: &str| {
            PostgresConnector
                .scratch_url(u, "drill", std::path::Path::new("/tmp"))
                .expect("a scratch URL")
        };
        assert_eq!(
            scratch("postgres://app@db/shop?dbname=shop&sslmode=require"),
            "postgres://app@db/drill?sslmode=require"
        );
        assert_eq!(
            scratch("postgres://app@db?dbname=shop"),
            "postgres://app@db/drill"
        );
    }
}
