//! Connection URLs, session setup, and error translation.
//!
//! Accepted URLs: `mysql://user:pass@host:port/db` and `mariadb://...`
//! with the query options `socket=/path/to/mysqld.sock` (connect through a
//! Unix socket instead of TCP) and, for TLS, `ssl-mode=disabled|required|
//! verify-ca|verify-identity` plus `ssl-ca=/path/ca.pem`. Anything else in
//! the query is refused, so a typo never silently weakens a connection.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use tresor_core::{ErrorKind, SourceError, percent_decode, redact_url};
use url::Url;

/// Where and how to connect, parsed from a URL.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    /// Options for the server, without a default database.
    opts: OptsBuilder,
    /// The database named in the URL.
    pub(crate) database: String,
    /// The URL without its password, for messages.
    pub(crate) display: String,
}

/// How a session is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Reading a snapshot.
    Source,
    /// Restoring into the database.
    Target,
}

/// The `sql_mode` of every tresor session: strict, so a value that does
/// not fit (a NULL for a NOT NULL column, a too long string) fails the
/// restore instead of being silently changed, but without
/// `NO_ZERO_DATE`/`NO_ZERO_IN_DATE` and with `ALLOW_INVALID_DATES`, so zero
/// and partial dates load as they were stored; `NO_AUTO_VALUE_ON_ZERO`
/// keeps an explicit 0 in an `AUTO_INCREMENT` column.
pub(crate) const SQL_MODE: &str =
    "STRICT_ALL_TABLES,ALLOW_INVALID_DATES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION";

/// Statements run on every new connection. `time_zone` is UTC on both
/// sides so `TIMESTAMP` values travel as instants; see [`SQL_MODE`].
fn session_setup(role: Role) -> Vec<String> {
    let mut init = vec![
        "SET NAMES utf8mb4".to_string(),
        "SET SESSION time_zone = '+00:00'".to_string(),
        format!("SET SESSION sql_mode = '{SQL_MODE}'"),
        // a slow consumer (backpressure) must not make the server give up
        "SET SESSION net_write_timeout = 3600, net_read_timeout = 3600".to_string(),
    ];
    if role == Role::Target {
        init.push("SET SESSION lock_wait_timeout = 120".to_string());
    }
    init
}

impl Endpoint {
    /// Parses a `mysql://` or `mariadb://` URL.
    pub(crate) fn parse(url: &str) -> Result<Endpoint, SourceError> {
        let display = redact_url(url);
        let invalid = |why: &str| {
            SourceError::new(
                ErrorKind::InvalidUrl,
                format!("invalid mysql url {display}: {why}"),
            )
            .with_hint("use mysql://user:password@host:3306/database")
        };
        let parsed = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(parsed.scheme(), "mysql" | "mariadb") {
            return Err(invalid("the scheme must be mysql or mariadb"));
        }
        let database = percent_decode(parsed.path().trim_start_matches('/'))
            .ok_or_else(|| invalid("bad percent escape in the database name"))?;
        if database.is_empty() || database.contains('/') {
            return Err(invalid("the path must name one database"));
        }
        let user = percent_decode(parsed.username())
            .ok_or_else(|| invalid("bad percent escape in the user name"))?;
        let password = parsed
            .password()
            .map(|p| percent_decode(p).ok_or_else(|| invalid("bad percent escape in the password")))
            .transpose()?;
        let mut builder = OptsBuilder::default()
            .ip_or_hostname(parsed.host_str().unwrap_or("127.0.0.1").to_string())
            .tcp_port(parsed.port().unwrap_or(3306))
            .user(if user.is_empty() { None } else { Some(user) })
            .pass(password)
            .prefer_socket(false)
            .stmt_cache_size(64);
        let mut ssl_mode: Option<String> = None;
        let mut ssl_ca: Option<String> = None;
        let mut unknown = Vec::new();
        for (k, v) in parsed.query_pairs() {
            match k.as_ref() {
                "socket" => builder = builder.socket(Some(v.to_string())),
                "ssl-mode" | "sslmode" => ssl_mode = Some(v.to_ascii_lowercase()),
                "ssl-ca" | "sslrootcert" => ssl_ca = Some(v.to_string()),
                other => unknown.push(other.to_string()),
            }
        }
        if !unknown.is_empty() {
            return Err(invalid(&format!(
                "unknown option(s) {} (known: socket, ssl-mode, ssl-ca)",
                unknown.join(", ")
            )));
        }
        builder = tls::apply(builder, ssl_mode.as_deref(), ssl_ca.as_deref())
            .map_err(|why| invalid(&why))?;
        Ok(Endpoint {
            opts: builder,
            database,
            display,
        })
    }

    /// Opens a session set up for `role`, without selecting a database.
    pub(crate) async fn connect(&self, role: Role) -> Result<Conn, SourceError> {
        let opts: Opts = self.opts.clone().init(session_setup(role)).into();
        Conn::new(opts).await.map_err(|e| {
            let kind = error_kind(&e);
            let err = SourceError::new(kind, format!("cannot connect to {}", self.display))
                .with_source(e);
            match kind {
                ErrorKind::Permission => {
                    err.with_hint("check the user name and password in the url")
                }
                _ => err.with_hint("check that the server runs and the host, port or socket"),
            }
        })
    }

    /// Opens a session and makes the URL's database the default one.
    pub(crate) async fn connect_db(&self, role: Role) -> Result<Conn, SourceError> {
        let mut conn = self.connect(role).await?;
        let sql = format!("USE {}", quote(&self.database));
        conn.query_drop(sql).await.map_err(|e| {
            let kind = error_kind(&e);
            let err = engine_error(e, &format!("cannot open database {}", self.database));
            if kind == ErrorKind::NotFound {
                err.with_hint("check the database name in the url")
            } else {
                err
            }
        })?;
        Ok(conn)
    }
}

#[cfg(not(feature = "tls"))]
mod tls {
    use mysql_async::OptsBuilder;

    /// Without the `tls` feature only `ssl-mode=disabled` is possible.
    pub(super) fn apply(
        builder: OptsBuilder,
        mode: Option<&str>,
        ca: Option<&str>,
    ) -> Result<OptsBuilder, String> {
        match (mode, ca) {
            (None | Some("disabled" | "disable" | "preferred" | "prefer"), None) => Ok(builder),
            _ => Err("this build of tresor has no tls support for mysql".to_string()),
        }
    }
}

#[cfg(feature = "tls")]
mod tls {
    use mysql_async::{OptsBuilder, SslOpts};

    /// Turns `ssl-mode` and `ssl-ca` into rustls options.
    pub(super) fn apply(
        builder: OptsBuilder,
        mode: Option<&str>,
        ca: Option<&str>,
    ) -> Result<OptsBuilder, String> {
        let mode = mode.unwrap_or(if ca.is_some() {
            "verify-ca"
        } else {
            "disabled"
        });
        let roots = |ssl: SslOpts| match &ca {
            Some(path) => ssl.with_root_certs(vec![std::path::PathBuf::from(path).into()]),
            None => ssl,
        };
        let ssl = match mode {
            "disabled" | "disable" | "preferred" | "prefer" => return Ok(builder),
            "required" | "require" => SslOpts::default()
                .with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
            "verify-ca" | "verify_ca" => {
                roots(SslOpts::default()).with_danger_skip_domain_validation(true)
            }
            "verify-identity" | "verify_identity" | "verify-full" => roots(SslOpts::default()),
            other => return Err(format!("unknown ssl-mode {other:?}")),
        };
        Ok(builder.ssl_opts(Some(ssl)))
    }
}

/// Quotes an identifier with backticks (doubling any backtick inside).
pub(crate) fn quote(ident: &str) -> String {
    let mut s = String::with_capacity(ident.len() + 2);
    s.push('`');
    for c in ident.chars() {
        if c == '`' {
            s.push('`');
        }
        s.push(c);
    }
    s.push('`');
    s
}

/// Sorts a driver error into an [`ErrorKind`].
pub(crate) fn error_kind(e: &mysql_async::Error) -> ErrorKind {
    match e {
        mysql_async::Error::Server(s) => match s.code {
            1044 | 1045 | 1142 | 1143 | 1227 | 1370 | 1698 => ErrorKind::Permission,
            1049 | 1146 | 1054 | 1051 => ErrorKind::NotFound,
            1205 | 1213 | 1412 => ErrorKind::Conflict,
            1040 | 1053 | 2006 | 2013 => ErrorKind::Connection,
            1062 | 1264 | 1366 | 1406 | 1452 | 1451 | 1292 | 3140 | 4025 => ErrorKind::Data,
            _ => ErrorKind::Engine,
        },
        mysql_async::Error::Io(_) => ErrorKind::Connection,
        mysql_async::Error::Url(_) => ErrorKind::InvalidUrl,
        mysql_async::Error::Driver(_) | mysql_async::Error::Other(_) => ErrorKind::Engine,
    }
}

/// Wraps a driver error with what we were doing.
pub(crate) fn engine_error(e: mysql_async::Error, doing: &str) -> SourceError {
    // 1823, 1826: a foreign key name another table already holds
    let taken_name =
        matches!(&e, mysql_async::Error::Server(s) if s.code == 1823 || s.code == 1826);
    let err = SourceError::new(error_kind(&e), doing.to_string()).with_source(e);
    if taken_name {
        err.with_hint(
            "try: foreign key names are database-wide, and a table renamed since the backup keeps \
             its keys' names; drop it or rename it back (the dry run lists it under \"left alone\"), \
             then restore",
        )
    } else {
        err
    }
}

/// Extension to attach context to driver results.
pub(crate) trait Context<T> {
    /// Maps the error with `doing` as the message.
    fn ctx(self, doing: impl FnOnce() -> String) -> Result<T, SourceError>;
}

impl<T> Context<T> for Result<T, mysql_async::Error> {
    fn ctx(self, doing: impl FnOnce() -> String) -> Result<T, SourceError> {
        self.map_err(|e| engine_error(e, &doing()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let e = Endpoint::parse("mysql://root:p%40ss@db.example:3307/shop").expect("parse");
        assert_eq!(e.database, "shop");
        assert_eq!(e.display, "mysql://root:***@db.example:3307/shop");
        let e = Endpoint::parse("mariadb://root@localhost/x?socket=/run/mysqld/mysqld.sock")
            .expect("socket");
        assert_eq!(e.database, "x");
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "postgres://h/db",
            "mysql://h/",
            "mysql://h/a/b",
            "mysql://h/db?sockt=/x",
            "mysql://h/db?ssl-mode=bogus",
        ] {
            let err = Endpoint::parse(bad).expect_err(bad);
            assert_eq!(err.kind(), ErrorKind::InvalidUrl, "{bad}");
        }
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote("a`b"), "`a``b`");
    }
}
