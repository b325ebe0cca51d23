//! [`Connector`]: how an engine crate opens its sources and targets from
//! URLs, names its databases, and the URL helpers every engine shares
//! (decoding, redacting passwords, identities, scratch databases).

use std::path::Path;

use crate::schema::Engine;
use crate::source::{ErrorKind, Source, SourceError, Target};

/// Decodes the `%xx` escapes of a URL part (user, password, path). `None`
/// when an escape is not `%` and two hex digits or the result is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let well_formed = b
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == b'%')
        .all(|(i, _)| {
            b.get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        });
    if !well_formed {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// Replaces the password in a URL with `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let redacted_tail = redact_query(tail);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{redacted_tail}"),
            None => format!("{scheme}://{userinfo}@{host}{redacted_tail}"),
        },
        None => format!("{scheme}://{authority}{redacted_tail}"),
    }
}

fn redact_query(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _))
                if k.to_ascii_lowercase().contains("password")
                    || k.eq_ignore_ascii_case("secret") =>
            {
                format!("{k}=***")
            }
            _ => kv.to_string(),
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

/// Opens sources and targets of one engine from URLs.
pub trait Connector: Send + Sync {
    /// The engine.
    fn engine(&self) -> Engine;

    /// Whether this connector handles `url` (by scheme, or by file
    /// extension for SQLite paths).
    fn accepts(&self, url: &str) -> bool;

    /// A URL of this engine's shape (`postgres://user@host/db`), shown to
    /// a user who gave a URL no engine understands.
    fn example_url(&self) -> &'static str;

    /// How many tables a backup reads at once unless the source or the
    /// request says otherwise. More than one pays off only where the
    /// engine shares one consistent snapshot between connections without
    /// locking the database.
    fn default_jobs(&self) -> usize;

    /// A source for `url`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidUrl`] for malformed URLs.
    fn source(&self, url: &str) -> Result<Box<dyn Source>, SourceError>;

    /// A target for `url`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidUrl`] for malformed URLs.
    fn target(&self, url: &str) -> Result<Box<dyn Target>, SourceError>;

    /// What makes two URLs of this engine name the same database: by
    /// default the URL without its password and without a trailing `/`,
    /// so a snapshot (stored with a redacted URL) is matched with the
    /// configured source it came from. Engines reached over the network
    /// use [`server_identity`], so that a default port written out or
    /// left out, and options of the connection (TLS, timeouts, the
    /// authentication database), do not make another database of it.
    fn identity(&self, url: &str) -> String {
        database_identity(url)
    }

    /// A database named `name` beside `url`, for a restore drill that
    /// must not touch the database itself: by default the same server
    /// and credentials with another database name (the URL's path
    /// replaced, its query kept). Engines whose databases are files answer
    /// a file in `dir`, which the caller removes afterwards.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidUrl`] for a URL whose database name cannot be
    /// replaced.
    fn scratch_url(&self, url: &str, name: &str, dir: &Path) -> Result<String, SourceError> {
        let _ = dir;
        scratch_beside(url, name)
    }

    /// The engine switches a backup accepts (`ReadOptions::options`), each
    /// with the values it takes; any other one is refused, so a typo is
    /// never ignored silently.
    fn read_options(&self) -> &'static [(&'static str, &'static [&'static str])] {
        &[]
    }
}

/// `url` naming the database `name` instead of its own, as
/// [`Connector::scratch_url`] answers by default: the path replaced, the
/// authority (user, password, hosts) and the query kept.
///
/// # Errors
/// [`ErrorKind::InvalidUrl`] for a URL without `scheme://`.
pub fn scratch_beside(url: &str, name: &str) -> Result<String, SourceError> {
    let Some((scheme, authority, _, query)) = url_parts(url) else {
        return Err(SourceError::new(
            ErrorKind::InvalidUrl,
            "cannot derive a scratch database from the source URL",
        )
        .with_hint("give one with --target"));
    };
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    Ok(format!("{scheme}://{authority}/{name}{query}"))
}

/// `scheme://authority/path?query` in its four parts (path with its
/// leading `/`, each part empty when absent); `None` without `://`.
fn url_parts(url: &str) -> Option<(&str, &str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    Some((scheme, authority, path, query))
}

/// `url` without its password (given or redacted) and trailing `/`.
pub fn database_identity(url: &str) -> String {
    let redacted = redact_url(url).replacen(":***@", "@", 1);
    redacted.trim_end_matches('/').to_string()
}

/// The identity of a database on a server reached over the network, as
/// [`Connector::identity`] wants it: `scheme://user@host:port/database`,
/// with the hosts lower-cased, `default_port` added to a host that names
/// none, and sorted (a replica set's seed list in any order); without the
/// password, and of the query only the options in `keep` (those that say
/// which database is meant, such as PostgreSQL's `dbname`), sorted: the
/// others set up the connection (`sslmode`, `authSource`,
/// `directConnection`, ...) and name no other database. `None` when `url`
/// has no host.
pub fn server_identity(
    url: &str,
    scheme: &str,
    default_port: Option<u16>,
    keep: &[&str],
) -> Option<String> {
    let (_, authority, path, query) = url_parts(url)?;
    let (user, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (userinfo.split_once(':').map_or(userinfo, |(u, _)| u), hosts),
        None => ("", authority),
    };
    let mut list: Vec<String> = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| {
            let h = h.to_ascii_lowercase();
            let has_port = match h.strip_prefix('[') {
                Some(v6) => v6.contains("]:"),
                None => h.contains(':'),
            };
            match default_port {
                Some(p) if !has_port => format!("{h}:{p}"),
                _ => h,
            }
        })
        .collect();
    if list.is_empty() {
        return None;
    }
    list.sort();
    list.dedup();
    let mut kept: Vec<&str> = query
        .split('&')
        .filter(|kv| keep.contains(&kv.split_once('=').map_or(*kv, |(k, _)| k)))
        .collect();
    kept.sort_unstable();
    let user = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    let mut out = format!(
        "{scheme}://{user}{}/{}",
        list.join(","),
        path.trim_matches('/')
    );
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_database_is_beside_the_source() {
        let s = |u: &str| scratch_beside(u, "tresor_drill_1").expect("a scratch URL");
        assert_eq!(
            s("postgres://app:pw@db:5433/shop?sslmode=require"),
            "postgres://app:pw@db:5433/tresor_drill_1?sslmode=require"
        );
        assert_eq!(s("mysql://root@db"), "mysql://root@db/tresor_drill_1");
        assert_eq!(
            s("mongodb://a:1,b:2/app?replicaSet=rs"),
            "mongodb://a:1,b:2/tresor_drill_1?replicaSet=rs"
        );
        assert!(scratch_beside("app.db", "x").is_err());
    }

    #[test]
    fn identity_ignores_the_password() {
        assert_eq!(
            database_identity("postgres://app:s3cret@db:5432/shop/"),
            database_identity("postgres://app:***@db:5432/shop")
        );
        assert_eq!(
            database_identity("postgres://app:s3cret@db/shop"),
            "postgres://app@db/shop"
        );
        assert_ne!(
            database_identity("postgres://app@db/shop"),
            database_identity("postgres://app@db/shop2")
        );
    }

    #[test]
    fn server_identity_ignores_default_ports_and_connection_options() {
        let mongo = |u: &str| server_identity(u, "mongodb", Some(27017), &[]);
        let one = mongo("mongodb://h/scandy");
        assert_eq!(one.as_deref(), Some("mongodb://h:27017/scandy"));
        for same in [
            "mongodb://h:27017/scandy",
            "mongodb://H:27017/scandy/",
            "mongodb://h/scandy?authSource=admin&directConnection=true",
        ] {
            assert_eq!(mongo(same), one, "{same}");
        }
        // the user counts, the password does not; another port, host or
        // database is another database
        assert_eq!(
            mongo("mongodb://app:s3cret@b,a:27018/shop?replicaSet=rs0"),
            mongo("mongodb://app:***@a:27018,b:27017/shop")
        );
        for other in [
            "mongodb://h:27018/scandy",
            "mongodb://g/scandy",
            "mongodb://h/scandy2",
            "mongodb://app@h/scandy",
        ] {
            assert_ne!(mongo(other), one, "{other}");
        }
        // the options that name the database are kept
        let pg = |u: &str| server_identity(u, "postgres", Some(5432), &["dbname", "host"]);
        assert_eq!(
            pg("postgres://u@db/x?sslmode=require&dbname=shop"),
            pg("postgres://u@db:5432/x?dbname=shop")
        );
        assert_ne!(
            pg("postgres://u@db/x?dbname=a"),
            pg("postgres://u@db/x?dbname=b")
        );
        assert_eq!(
            server_identity("mysql://[::1]/db", "mysql", Some(3306), &[]).as_deref(),
            Some("mysql://[::1]:3306/db")
        );
        assert_eq!(mongo("mongodb:///scandy"), None);
    }

    #[test]
    fn percent_escapes_decode_strictly() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("caf%C3%A9").as_deref(), Some("café"));
        assert!(percent_decode("%zz").is_none());
        assert!(percent_decode("%+1").is_none());
        assert!(percent_decode("tail%2").is_none());
        assert!(percent_decode("%ff").is_none(), "not UTF-8");
    }

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/shop?sslmode=require"),
            "postgres://app:***@db:5432/shop?sslmode=require"
        );
        assert_eq!(
            redact_url("mysql://root@localhost/x"),
            "mysql://root@localhost/x"
        );
        assert_eq!(
            redact_url("mongodb://h/db?authSource=admin&password=hunter2"),
            "mongodb://h/db?authSource=admin&password=***"
        );
        assert_eq!(redact_url("/var/lib/app.db"), "/var/lib/app.db");
        assert_eq!(redact_url("mysql://u:p@w@host/db"), "mysql://u:***@host/db");
    }
}
