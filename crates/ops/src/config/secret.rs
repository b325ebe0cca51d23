//! Secrets: the [`Secret`] type that keeps passwords out of logs, secret
//! files, and passwords put into database URLs.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{OpsError, Result};

/// A secret string (a password) that never shows in `Debug` output or logs.
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Reads the first line of a secret file.
///
/// # Errors
/// The file cannot be read or is empty.
pub fn read_secret_file(path: &Path) -> Result<Secret> {
    let text = std::fs::read_to_string(path).map_err(|e| OpsError::InvalidInput {
        what: format!("cannot read password file {}: {e}", path.display()),
        hint: None,
    })?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if line.is_empty() {
        return Err(OpsError::InvalidInput {
            what: format!("password file {} is empty", path.display()),
            hint: None,
        });
    }
    Ok(Secret::new(line))
}

/// Puts `password` into the user-info part of a URL (percent-encoded).
pub(super) fn insert_password(url: &str, password: &str) -> String {
    let encoded: String = password
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(host_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:{encoded}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }

    #[test]
    fn password_goes_into_the_url() {
        assert_eq!(
            insert_password("postgres://app@db:5432/shop", "p@ss:w/rd"),
            "postgres://app:p%40ss%3Aw%2Frd@db:5432/shop"
        );
        assert_eq!(insert_password("sqlite:///a.db", "x"), "sqlite:///a.db");
    }
}
