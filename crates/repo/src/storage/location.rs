//! Repository locations given as text: which backend, which bucket or
//! host, which prefix, and the non-secret settings of the query string.
//!
//! Secrets never travel in a location (it is printed in messages and
//! logs): they come from the environment, a profile file or
//! [`StorageOptions::credentials`](super::StorageOptions).

use std::collections::BTreeMap;

use super::StorageError;

/// A parsed repository location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// A local directory.
    Local(String),
    /// Process memory (tests, dry runs).
    Memory,
    /// An object store or a server: `scheme://authority/path?query`.
    Remote(Remote),
}

/// The backends reached over the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    S3,
    Azure,
    Gcs,
    WebDav { tls: bool },
    Sftp,
}

impl Scheme {
    /// The query parameters each backend understands.
    fn parameters(self) -> &'static [&'static str] {
        match self {
            Scheme::S3 => &[
                "endpoint",
                "region",
                "virtual_host_style",
                "profile",
                "ec2_metadata",
                "storage_class",
            ],
            Scheme::Azure => &["account", "endpoint"],
            Scheme::Gcs => &["endpoint", "anonymous", "vm_metadata"],
            Scheme::WebDav { .. } => &[],
            Scheme::Sftp => &["key", "known_hosts", "accept_new_host"],
        }
    }
}

/// `scheme://[user@]authority/path?query`, split up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Remote {
    pub scheme: Scheme,
    /// The user named before `@` (SFTP, WebDAV).
    pub user: Option<String>,
    /// Bucket, container or `host[:port]`.
    pub authority: String,
    /// Path inside the bucket or on the server, without surrounding `/`.
    pub path: String,
    /// Query parameters (each one known to the scheme).
    pub params: BTreeMap<String, String>,
}

impl Remote {
    /// A query parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    /// A yes/no query parameter (`true`/`false`, `yes`/`no`, `1`/`0`).
    pub fn flag(&self, key: &str, location: &str) -> Result<bool, StorageError> {
        match self.param(key) {
            None => Ok(false),
            Some("true" | "yes" | "1") => Ok(true),
            Some("false" | "no" | "0") => Ok(false),
            Some(other) => Err(invalid(
                location,
                format!("{key}={other} is not a yes/no value (try: {key}=true)"),
            )),
        }
    }

    /// The location for messages: without query parameters.
    pub fn display(&self) -> String {
        let scheme = match self.scheme {
            Scheme::S3 => "s3",
            Scheme::Azure => "azure",
            Scheme::Gcs => "gs",
            Scheme::WebDav { tls: false } => "webdav",
            Scheme::WebDav { tls: true } => "webdavs",
            Scheme::Sftp => "sftp",
        };
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        format!("{scheme}://{user}{}/{}", self.authority, self.path)
    }
}

pub(crate) fn invalid(location: &str, reason: impl Into<String>) -> StorageError {
    StorageError::InvalidUrl {
        location: location.to_owned(),
        reason: reason.into(),
    }
}

/// Parses a location.
///
/// # Errors
/// [`StorageError::InvalidUrl`] saying what is wrong.
pub(crate) fn parse(location: &str) -> Result<Location, StorageError> {
    if location.is_empty() {
        return Err(invalid(location, "the location is empty"));
    }
    if location == "memory:" || location == "memory://" {
        return Ok(Location::Memory);
    }
    if let Some(rest) = location.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err(invalid(
                location,
                "a file URL needs an absolute path (file:///path)",
            ));
        }
        return Ok(Location::Local(rest.to_owned()));
    }
    let Some((scheme, rest)) = location.split_once("://") else {
        return Ok(Location::Local(location.to_owned()));
    };
    let scheme = match scheme {
        "s3" => Scheme::S3,
        "azure" | "azblob" => Scheme::Azure,
        "gs" | "gcs" => Scheme::Gcs,
        "webdav" | "dav" => Scheme::WebDav { tls: false },
        "webdavs" | "davs" => Scheme::WebDav { tls: true },
        "sftp" => Scheme::Sftp,
        other => {
            return Err(invalid(
                location,
                format!(
                    "unsupported scheme {other:?} (known: s3, azure, gs, webdav, webdavs, sftp)"
                ),
            ));
        }
    };
    parse_remote(location, scheme, rest).map(Location::Remote)
}

fn parse_remote(location: &str, scheme: Scheme, rest: &str) -> Result<Remote, StorageError> {
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    };
    let (authority, path) = match path.split_once('/') {
        Some((a, p)) => (a, p.trim_matches('/')),
        None => (path, ""),
    };
    let (user, authority) = match authority.rsplit_once('@') {
        Some((u, a)) => (Some(u), a),
        None => (None, authority),
    };
    if let Some(user) = user {
        if user.contains(':') {
            return Err(invalid(
                location,
                "a password does not belong in the location (try: the password setting in tresor.toml or its environment variable, see docs/storage.md)",
            ));
        }
        if !matches!(scheme, Scheme::Sftp | Scheme::WebDav { .. }) || user.is_empty() {
            return Err(invalid(
                location,
                "a user name is only taken by sftp:// and webdav://",
            ));
        }
    }
    if authority.is_empty() {
        let what = match scheme {
            Scheme::S3 | Scheme::Gcs => "the bucket name is missing",
            Scheme::Azure => "the container name is missing",
            Scheme::WebDav { .. } | Scheme::Sftp => "the host name is missing",
        };
        return Err(invalid(location, what));
    }
    let mut params = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(invalid(
                location,
                format!("query parameter {pair:?} has no value"),
            ));
        };
        if value.is_empty() {
            return Err(invalid(
                location,
                format!("query parameter {key:?} is empty"),
            ));
        }
        if !scheme.parameters().contains(&key) {
            let known = scheme.parameters().join(", ");
            return Err(invalid(
                location,
                format!("unknown query parameter {key:?} (known here: {known})"),
            ));
        }
        let value = percent_decode(value).ok_or_else(|| {
            invalid(
                location,
                format!("query parameter {key:?} is not valid percent-encoding"),
            )
        })?;
        params.insert(key.to_owned(), value);
    }
    Ok(Remote {
        scheme,
        user: user.map(str::to_owned),
        authority: authority.to_owned(),
        path: path.to_owned(),
        params,
    })
}

/// `%2F` and friends back into text.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(s: &str) -> Remote {
        match parse(s).expect("valid") {
            Location::Remote(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_scheme_parses() {
        let r = remote(
            "s3://bucket/some/prefix/?endpoint=http%3A%2F%2F127.0.0.1:9000&region=eu-west-1",
        );
        assert_eq!(r.scheme, Scheme::S3);
        assert_eq!(r.authority, "bucket");
        assert_eq!(r.path, "some/prefix");
        assert_eq!(r.param("endpoint"), Some("http://127.0.0.1:9000"));
        assert_eq!(r.display(), "s3://bucket/some/prefix");
        let r = remote("sftp://backup@host.example:2222/srv/repo?known_hosts=/etc/k");
        assert_eq!(
            (r.user.as_deref(), r.authority.as_str()),
            (Some("backup"), "host.example:2222")
        );
        assert_eq!(r.path, "srv/repo");
        assert_eq!(remote("gs://b").path, "");
        assert_eq!(
            remote("azure://c/p?account=devstoreaccount1").param("account"),
            Some("devstoreaccount1")
        );
        assert_eq!(
            remote("webdavs://h/dav").scheme,
            Scheme::WebDav { tls: true }
        );
        assert_eq!(parse("memory:").expect("ok"), Location::Memory);
        assert_eq!(
            parse("/srv/r").expect("ok"),
            Location::Local("/srv/r".into())
        );
        assert_eq!(
            parse("file:///srv/r").expect("ok"),
            Location::Local("/srv/r".into())
        );
    }

    #[test]
    fn mistakes_are_explained() {
        for (bad, says) in [
            ("", "empty"),
            ("ftp://x/y", "unsupported scheme"),
            ("file://relative", "absolute"),
            ("s3://", "bucket name is missing"),
            ("s3://b/p?region", "has no value"),
            ("s3://b?x=1", "unknown query parameter"),
            ("s3://b?region=", "empty"),
            ("sftp://u:pw@h/p", "password does not belong"),
            ("s3://u@b/p", "only taken by"),
            ("azure:///p", "container name"),
            ("s3://b?endpoint=%zz", "percent-encoding"),
        ] {
            let err = parse(bad).expect_err(bad).to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let r = remote("s3://b?virtual_host_style=maybe");
        assert!(r.flag("virtual_host_style", "x").is_err());
    }
}
