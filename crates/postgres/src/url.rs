//! Connection settings: `postgres://` URLs completed from the usual `PG*`
//! environment variables, and opening sessions with tresor's settings.

use std::time::Duration;

use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;
use tresor_core::{ErrorKind, SourceError, redact_url};

use crate::error::pg_error;
use crate::tls::{TlsMode, client_config};

/// A parsed connection target.
#[derive(Clone, Debug)]
pub(crate) struct ConnInfo {
    pub(crate) config: Config,
    /// The URL with its password hidden, for messages.
    pub(crate) display: String,
    /// The database name.
    pub(crate) dbname: String,
    /// Restore roles, owners and grants (`?restore_roles=true`).
    pub(crate) restore_roles: bool,
    /// `sslmode`.
    pub(crate) tls: TlsMode,
    /// `sslrootcert`: trusted roots for `verify-ca` and `verify-full`
    /// (the Mozilla roots otherwise).
    pub(crate) root_cert: Option<std::path::PathBuf>,
}

/// Whether `url` is a PostgreSQL URL.
pub(crate) fn is_postgres_url(url: &str) -> bool {
    let lower = url.get(..13).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

fn bad_url(url: &str, why: impl std::fmt::Display) -> SourceError {
    SourceError::new(
        ErrorKind::InvalidUrl,
        format!("invalid postgresql url {}: {why}", redact_url(url)),
    )
    .with_hint("try: postgres://user:password@host:5432/database?sslmode=prefer")
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl ConnInfo {
    /// Parses `url`, filling what it leaves out from the process environment.
    pub(crate) fn parse(url: &str) -> Result<ConnInfo, SourceError> {
        Self::parse_with_env(url, &|k| std::env::var(k).ok())
    }

    /// Parses `url`, filling gaps from `env` (`PGHOST`, `PGPORT`, `PGUSER`,
    /// `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, `PGAPPNAME`,
    /// `PGCONNECT_TIMEOUT`, `PGOPTIONS`).
    pub(crate) fn parse_with_env(
        url: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConnInfo, SourceError> {
        if !is_postgres_url(url) {
            return Err(bad_url(url, "expected postgres:// or postgresql://"));
        }
        let parsed = url::Url::parse(url).map_err(|e| bad_url(url, e))?;
        let mut host: Option<String> = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .map(|h| decode(h.trim_start_matches('[').trim_end_matches(']')));
        let mut port = parsed.port();
        let mut user = Some(decode(parsed.username())).filter(|u| !u.is_empty());
        let mut password = parsed.password().map(decode);
        let mut dbname =
            Some(decode(parsed.path().trim_start_matches('/'))).filter(|d| !d.is_empty());
        let mut sslmode = None;
        let mut app = None;
        let mut timeout = None;
        let mut options = None;
        let mut restore_roles = false;
        let mut root_cert = None;
        for (k, v) in parsed.query_pairs() {
            let v = v.into_owned();
            match k.as_ref() {
                "host" => host = Some(v),
                "port" => {
                    port = Some(
                        v.parse()
                            .map_err(|_| bad_url(url, "port is not a number"))?,
                    );
                }
                "user" => user = Some(v),
                "password" => password = Some(v),
                "dbname" => dbname = Some(v),
                "sslmode" => sslmode = Some(v),
                "sslrootcert" => root_cert = Some(v),
                "application_name" => app = Some(v),
                "connect_timeout" => timeout = Some(v),
                "options" => options = Some(v),
                "restore_roles" => {
                    restore_roles = matches!(v.as_str(), "true" | "1" | "yes" | "on");
                }
                other => {
                    return Err(bad_url(url, format!("unknown parameter {other:?}")));
                }
            }
        }
        let host = host
            .or_else(|| env("PGHOST"))
            .unwrap_or_else(|| "localhost".to_string());
        let port = match port {
            Some(p) => p,
            None => match env("PGPORT") {
                Some(p) => p
                    .parse()
                    .map_err(|_| bad_url(url, "PGPORT is not a number"))?,
                None => 5432,
            },
        };
        let user = user
            .or_else(|| env("PGUSER"))
            .or_else(|| env("USER"))
            .unwrap_or_else(|| "postgres".to_string());
        let password = password.or_else(|| env("PGPASSWORD"));
        // no default: libpq would take the user's name, and a backup of
        // an empty `postgres` database by mistake looks like a success
        let dbname = dbname.or_else(|| env("PGDATABASE")).ok_or_else(|| {
            bad_url(
                url,
                "the URL names no database (put it after the host, or set PGDATABASE)",
            )
        })?;
        let sslmode = sslmode
            .or_else(|| env("PGSSLMODE"))
            .unwrap_or_else(|| "prefer".to_string());
        let mut config = Config::new();
        for h in host.split(',') {
            if h.starts_with('/') {
                #[cfg(unix)]
                config.host_path(h);
                #[cfg(not(unix))]
                return Err(bad_url(url, "unix sockets are not supported here"));
            } else {
                config.host(h);
            }
        }
        config.port(port).user(&user).dbname(&dbname);
        if let Some(p) = &password {
            config.password(p);
        }
        let tls = TlsMode::parse(&sslmode)
            .ok_or_else(|| bad_url(url, format!("unknown sslmode {sslmode:?}")))?;
        config.ssl_mode(match tls {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        let root_cert = root_cert
            .or_else(|| env("PGSSLROOTCERT"))
            .map(std::path::PathBuf::from);
        config.application_name(
            app.or_else(|| env("PGAPPNAME"))
                .unwrap_or_else(|| "tresor".into()),
        );
        if let Some(t) = timeout.or_else(|| env("PGCONNECT_TIMEOUT")) {
            let secs: u64 = t
                .parse()
                .map_err(|_| bad_url(url, "connect_timeout is not a number"))?;
            config.connect_timeout(Duration::from_secs(secs));
        }
        if let Some(o) = options.or_else(|| env("PGOPTIONS")) {
            config.options(&o);
        }
        Ok(ConnInfo {
            config,
            display: redact_url(url),
            dbname,
            restore_roles,
            tls,
            root_cert,
        })
    }

    /// The same server, another database.
    pub(crate) fn with_dbname(&self, dbname: &str) -> ConnInfo {
        let mut c = self.clone();
        c.config.dbname(dbname);
        c.dbname = dbname.to_string();
        c
    }

    /// Opens a session with the settings every tresor session uses: UTC,
    /// ISO dates, exact float output and an empty `search_path`, so that
    /// catalog functions print schema-qualified names (as `pg_dump` does).
    pub(crate) async fn connect(&self) -> Result<Client, SourceError> {
        let map_err = |e: tokio_postgres::Error| {
            let not_found =
                e.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME);
            let err = pg_error(format!("cannot connect to {}", self.display), e);
            if not_found {
                // a restore makes a database it does not find: this is
                // a backup's, or the server's admin database's
                err.with_hint(format!(
                    "try: check the database name ({} is not on this server; psql -l lists the \
                     ones that are)",
                    self.dbname
                ))
            } else {
                err
            }
        };
        let client = match client_config(self.tls, self.root_cert.as_ref())? {
            None => {
                let (client, connection) = self.config.connect(NoTls).await.map_err(map_err)?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("postgresql connection ended: {e}");
                    }
                });
                client
            }
            Some(tls) => {
                let (client, connection) = self
                    .config
                    .connect(MakeRustlsConnect::new(tls))
                    .await
                    .map_err(map_err)?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("postgresql connection ended: {e}");
                    }
                });
                client
            }
        };
        client
            .batch_execute(
                "SET client_encoding = 'UTF8'; SET DateStyle = 'ISO, YMD'; \
                 SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; \
                 SET extra_float_digits = 3; SET synchronize_seqscans = off; \
                 SET statement_timeout = 0; SET lock_timeout = 0; \
                 SET idle_in_transaction_session_timeout = 0; \
                 SELECT pg_catalog.set_config('search_path', '', false)",
            )
            .await
            .map_err(|e| pg_error(format!("cannot set up a session on {}", self.display), e))?;
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "PGHOST" => Some("envhost".into()),
            "PGUSER" => Some("envuser".into()),
            "PGPASSWORD" => Some("envpw".into()),
            "PGDATABASE" => Some("envdb".into()),
            _ => None,
        }
    }

    #[test]
    fn url_parts_win_over_environment() {
        let c = ConnInfo::parse_with_env("postgres://ada:p%40ss@db.example:6543/shop", &env)
            .expect("parse");
        assert_eq!(c.dbname, "shop");
        assert_eq!(c.config.get_user(), Some("ada"));
        assert_eq!(c.config.get_password(), Some(&b"p@ss"[..]));
        assert_eq!(c.config.get_ports(), &[6543]);
        assert!(!c.display.contains("p%40ss"));
    }

    #[test]
    fn environment_fills_gaps() {
        let c = ConnInfo::parse_with_env("postgresql://", &env).expect("parse");
        assert_eq!(c.dbname, "envdb");
        assert_eq!(c.config.get_user(), Some("envuser"));
        assert_eq!(c.config.get_password(), Some(&b"envpw"[..]));
        assert_eq!(c.config.get_ports(), &[5432]);
    }

    #[test]
    fn query_parameters_and_errors() {
        let c = ConnInfo::parse_with_env(
            "postgres:///db?host=/var/run/postgresql&restore_roles=true&sslmode=disable",
            &|_| None,
        )
        .expect("parse");
        assert!(c.restore_roles);
        assert!(ConnInfo::parse_with_env("postgres://h/db?bogus=1", &|_| None).is_err());
        assert!(ConnInfo::parse_with_env("mysql://h/db", &|_| None).is_err());
        let err = ConnInfo::parse_with_env("postgres://postgres@h:5432/", &|_| None)
            .expect_err("no database");
        assert!(err.to_string().contains("names no database"), "{err}");
        assert!(is_postgres_url("PostgreSQL://x"));
    }
}
